"""The training step as one CUDA graph: forward, backward and Adam captured once, replayed every step.

The study's conv VAE at batch 64 is launch-bound on a GPU: an eager step is some 300 small kernels,
each launched from Python, and the GPU waits for the CPU (about 200 steps/s on an H200). A CUDA graph
records the kernels of one step once and replays them with one launch, so the step runs at the
GPU's speed (940-1,010 steps/s measured on an H200 for this model; PyTorch, "CUDA Graphs", whole-network
capture).

What capture needs, and how the training loop provides it:

  static memory   every tensor a replay reads or writes keeps its address: the batch is drawn *inside*
                  the graph by the run's sampler, the gradients are set to None before capture so that
                  backward allocates them in the graph's private pool, and the terms come out in one
                  static vector that the loop copies after each replay.
  randomness      the sampler's generator (the run's one source of randomness) is registered with the
                  graph: each replay reads its seed and Philox offset and advances the offset by the
                  whole graph's draws, as the same kernels run eagerly would.
  the step count  a device tensor incremented inside the graph, so step-dependent terms (AnnealedVAE's
                  capacity C(t)) change from replay to replay.
  Adam            `capturable=True`: its step counts and bias corrections stay on the device.
  no host work    nothing in the step may synchronise with the host or copy host memory to the device
                  (no `.item()`, no tensors built from Python lists). Objectives that cannot avoid it say
                  so with `capturable = False` (TopDis: its persistent homology runs on the CPU) and train
                  eagerly.

The first `WARMUP_STEPS` steps run eagerly on a side stream (they allocate Adam's state and the
libraries' workspaces, which must not happen during capture); they are ordinary training steps.
A replayed step computes what the eager step computes with the same kernels and the same random
numbers. Capturable Adam keeps its bias corrections in float32 tensors rather than Python floats, so a
graphed run agrees with an eager one to float32 rounding, not bit for bit; the warm-up steps use
capturable Adam too, so a graphed run resumed from its checkpoint repeats the uninterrupted graphed run.
"""
from __future__ import annotations

from collections.abc import Callable

import torch

WARMUP_STEPS = 3
StepFunction = Callable[[int | torch.Tensor], object]


def graph_available(device, objective) -> bool:
    """Whether the step can be captured: a CUDA device and an objective whose step does no host work."""
    return torch.device(device).type == "cuda" and getattr(objective, "capturable", True)


def set_capturable(optimizers, capturable: bool) -> None:
    """Set Adam's (fused or not) `capturable` flag, also after loading a state dict saved with the other one;
    when capturable, its step counts move to the parameters' device (capture reads them there)."""
    for optimizer in optimizers:
        for group in optimizer.param_groups:
            group["capturable"] = capturable
            for parameter in group["params"] if capturable else ():
                state = optimizer.state.get(parameter, {})
                if isinstance(state.get("step"), torch.Tensor):
                    state["step"] = state["step"].to(device=parameter.device, dtype=torch.float32)


def fresh_copy(result):
    """`result` (tensors in lists and tuples) with every tensor cloned: a replay overwrites the graph's outputs."""
    if isinstance(result, torch.Tensor):
        return result.clone()
    if isinstance(result, (list, tuple)):
        return type(result)(fresh_copy(item) for item in result)
    return result


class GraphedStep:
    """Calls `step_function(step)` eagerly for `WARMUP_STEPS` steps, then captures it once with `step` a
    device tensor and replays the graph for every later step. Returns what the eager function returns
    (e.g. term names and a vector of the step's terms), its tensors fresh copies of the graph's outputs."""

    def __init__(self, step_function: StepFunction, optimizers, generators, device):
        self.step_function = step_function
        self.optimizers = list(optimizers)
        set_capturable(self.optimizers, True)  # the warm-up steps too: every step of the run does the same arithmetic
        self.generators = list(generators)
        self.device = torch.device(device)
        self.side_stream = torch.cuda.Stream(self.device)
        self.graph: torch.cuda.CUDAGraph | None = None
        self.eager_steps = 0

    def __call__(self, step: int):
        with torch.cuda.device(self.device):  # capture and replay on the run's GPU, also when it is not the current one
            return self._step(step)

    def _step(self, step: int):
        if self.graph is None and self.eager_steps < WARMUP_STEPS:  # warm-up: eager, on a side stream
            self.eager_steps += 1
            current = torch.cuda.current_stream(self.device)
            self.side_stream.wait_stream(current)
            with torch.cuda.stream(self.side_stream):
                result = self.step_function(step)
            current.wait_stream(self.side_stream)
            return result
        if self.graph is None:
            self._capture(step)
        self.graph.replay()
        return fresh_copy(self.result)

    def _capture(self, step: int) -> None:
        for optimizer in self.optimizers:
            optimizer.zero_grad(set_to_none=True)  # backward allocates the gradients in the graph's pool
        self.step_tensor = torch.full((), step - 1, dtype=torch.int64, device=self.device)
        self.graph = torch.cuda.CUDAGraph()
        for generator in self.generators:
            self.graph.register_generator_state(generator)
        with torch.cuda.graph(self.graph):
            self.step_tensor += 1  # each replay is the next step
            self.result = self.step_function(self.step_tensor)
