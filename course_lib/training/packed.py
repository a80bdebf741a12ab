"""Packed multi-model training: K independent VAEs of one architecture trained as one network.

The study's conv VAE at batch 64 cannot keep a GPU busy: a step is a few dozen kernel launches of
little work each, so the loop waits on launches, not on arithmetic. Packing K models runs each
layer of all K in one launch:

  convolution     one convolution with groups=K on channel-stacked activations (N, K*C, H, W):
                  group k sees only model k's channels and holds only model k's filters (the K
                  weights concatenated along their first axis, the biases likewise);
  linear layer    one batched matmul over activations (K, N, features), y_k = x_k W_k^T + b_k,
                  with the weights stacked (K, out, in) (torch.baddbmm);
  flatten         (N, K*C, H, W) -> (K, N, C*H*W), and unflatten back, each model's block in order.

Each model keeps its own parameters (the packed weights are stacked from them in every forward, one
copy of the weights per step, so the gradient that reaches model k is exactly that of its own loss),
its own objective, its own data stream and generator (one generator per run, course_lib.training),
its own learning rate and its own Adam state. The loss is sum_k L_k(theta_k): the parameters are
disjoint, so the gradient of the sum with respect to theta_k is that of L_k. Adam is elementwise, so
one Adam over every model's parameters (a parameter group per learning rate) takes the K separate
Adams' steps; it updates the state tensors of each run's own torch.optim.Adam in place, so each run's
checkpoint holds the optimiser state that `training.train` would have written. Packed training is
therefore K separate runs up to floating-point rounding (a grouped convolution sums in another order
than a single one), and `train_packed` writes each run's folder exactly as `training.train` does:
`load_run`, `train(resume=True)`, evaluation, the zoo and the reports read it unchanged.

Objectives are called per model on the model's slice (FactorVAE keeps one discriminator and optimiser
per model, TopDis decodes with its own model): any method packs with any other. So are the batch
draws and the logging; on a GPU these per-model calls, not the network, bound what packing gains.
"""
from __future__ import annotations

import contextlib
import dataclasses
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from course_lib.checks import check_choice, check_int, check_number, check_writable_directory
from course_lib.data.torch_sampler import GridBatchSampler
from course_lib.device import CUDA_GRAPH_CHOICES, forward_precision, get_device
from course_lib.io import directory_lock
from course_lib.models import full_precision
from course_lib.objectives import METHODS
from course_lib.seeding import seed_everything
from course_lib.training.graphed import GraphedStep, set_capturable
from course_lib.training.loop import (CHECKPOINT, LOG, NonFiniteLossError, Run, TrainConfig, check_memory,
                                      check_overwritable, continue_generator, default_dataset, flatten_terms, flush_log,
                                      global_rng_states, load_checkpoint, prepare_run_directory, record_device,
                                      restore_global_rng_states, run_optimizers, save_checkpoint, truncate_log,
                                      use_cuda_graph, write_run_config, write_summary)
from course_lib.training.stopping import CheckpointClock, StopRequests

# What the models of one pack must share; seeds, methods, hyperparameters and learning rates may differ.
SHARED_FIELDS = ("architecture", "width", "num_latent", "variant", "batch_size", "steps", "checkpoint_every",
                 "precision")
CONVOLUTIONS = (nn.Conv2d, nn.ConvTranspose2d)
PACKABLE = (nn.Linear, *CONVOLUTIONS, nn.Flatten, nn.Unflatten, nn.ReLU, nn.LeakyReLU)


# ---------------------------------------------------------------------------- the packed layout
def stack_parameters(layer: nn.Module, tensors: list[torch.Tensor]) -> torch.Tensor:
    """One tensor of K models' `layer` in the packed layout: stacked (K, ...) for a linear layer,
    concatenated along the first axis for a convolution (its weight then suits groups=K)."""
    if isinstance(layer, nn.Linear):
        return torch.stack(tensors)
    if isinstance(layer, CONVOLUTIONS):
        return torch.cat(tensors)
    raise ValueError(f"layer {type(layer).__name__} has no packed layout; packable layers: "
                     f"{[cls.__name__ for cls in PACKABLE]}")


def pack_state_dicts(model: nn.Module, state_dicts: list[dict]) -> dict:
    """The packed tensors (same keys) of K state dicts of models built like `model`."""
    modules, keys = dict(model.named_modules()), list(model.state_dict())
    for k, state in enumerate(state_dicts):
        if list(state) != keys:
            raise ValueError(f"state_dicts[{k}] has keys {list(state)[:4]}...; a model like `model` has {keys[:4]}...")
    return {key: stack_parameters(modules[key.rpartition(".")[0]], [state[key] for state in state_dicts])
            for key in keys}


def unpack_state_dict(model: nn.Module, packed: dict, count: int) -> list[dict]:
    """The K state dicts that `pack_state_dicts` packed; each loads into a model built like `model`.

    Every tensor is copied into its own storage: a view would save the whole packed tensor."""
    modules = dict(model.named_modules())
    states = [{} for _ in range(count)]
    for key, tensor in packed.items():
        linear = isinstance(modules[key.rpartition(".")[0]], nn.Linear)
        for state, part in zip(states, tensor.unbind(0) if linear else tensor.chunk(count)):
            state[key] = part.clone()
    return states


def packed_layer(layers: tuple[nn.Module, ...], hidden: torch.Tensor) -> torch.Tensor:
    """Apply K models' corresponding layers at once: images (N, K*C, H, W), vectors (K, N, features)."""
    first, count = layers[0], len(layers)
    if isinstance(first, (nn.Linear, *CONVOLUTIONS)):
        weight = stack_parameters(first, [layer.weight for layer in layers])
        bias = stack_parameters(first, [layer.bias for layer in layers])
        if isinstance(first, nn.Linear):
            return torch.baddbmm(bias.unsqueeze(1), hidden, weight.transpose(1, 2))
        if isinstance(first, nn.Conv2d):
            return F.conv2d(hidden, weight, bias, first.stride, first.padding, first.dilation, count)
        return F.conv_transpose2d(hidden, weight, bias, first.stride, first.padding, first.output_padding, count,
                                  first.dilation)
    if isinstance(first, nn.Flatten):  # (N, K*C, H, W) -> (K, N, C*H*W)
        return hidden.reshape(len(hidden), count, -1).transpose(0, 1)
    if isinstance(first, nn.Unflatten):  # (K, N, C*h*w) -> (N, K*C, h, w)
        channels, *size = first.unflattened_size
        return hidden.transpose(0, 1).reshape(hidden.shape[1], count * channels, *size)
    return first(hidden)  # an elementwise activation


def _stages(model: nn.Module) -> tuple[list[nn.Module], list[nn.Module]]:
    """(encoder layers, decoder layers) of a GaussianVAE of course_lib.models, in the order they run."""
    encoder, decoder = getattr(model, "encoder", None), getattr(model, "decoder", None)
    if not all(isinstance(part, nn.Sequential) for part in (getattr(encoder, "features", None),
                                                             getattr(decoder, "net", None))):
        raise ValueError(f"models holds a {type(model).__name__} that is not a course_lib.models VAE "
                         "(encoder.features, encoder.head, decoder.net); only those pack")
    return [*encoder.features, encoder.head], list(decoder.net)


def _check_packable(layer: nn.Module) -> None:
    flat = isinstance(layer, nn.Flatten) and (layer.start_dim, layer.end_dim) == (1, -1)
    unflat = isinstance(layer, nn.Unflatten) and layer.dim == 1
    plain_conv = isinstance(layer, CONVOLUTIONS) and layer.groups == 1 and layer.padding_mode == "zeros"
    if not (flat or unflat or plain_conv or isinstance(layer, (nn.Linear, nn.ReLU, nn.LeakyReLU))):
        raise ValueError(f"layer {layer} does not pack; packable layers: {[cls.__name__ for cls in PACKABLE]} "
                         "(convolutions without groups, Flatten from dim 1, Unflatten of dim 1)")
    if isinstance(layer, (nn.Linear, *CONVOLUTIONS)) and layer.bias is None:
        raise ValueError(f"layer {layer} has no bias; packed layers need one")


class PackedVAE(nn.Module):
    """K GaussianVAEs of one architecture (course_lib.models) evaluated as one network.

    `forward(x, generators)` takes the K batches channel-stacked, x (N, K*C, H, W) with model k's
    images in channels k*C:(k+1)*C, draws model k's eps from generators[k] and returns mean,
    log_var and z (K, N, D) and logits (N, K*C, H, W); `member_output(out, k)` is model k's part, as
    `models[k](x_k, generators[k])` returns it. The parameters are the K models' own."""

    def __init__(self, models: list[nn.Module]):
        super().__init__()
        if not isinstance(models, (list, tuple)) or not models:
            raise ValueError(f"models={models!r} is not allowed; give a non-empty list of VAEs")
        encoders, decoders = zip(*(_stages(model) for model in models))
        shapes = [[(name, tuple(p.shape)) for name, p in model.named_parameters()] for model in models]
        for k in range(1, len(models)):
            if [type(layer) for layer in encoders[k] + decoders[k]] != [type(layer) for layer in
                                                                        encoders[0] + decoders[0]] \
                    or shapes[k] != shapes[0]:
                raise ValueError(f"models[{k}] differs from models[0] in its layers or parameter shapes; "
                                 "a pack holds models of one architecture")
        for layer in encoders[0] + decoders[0]:
            _check_packable(layer)
        self.models = nn.ModuleList(models)
        self.encoder_layers = list(zip(*encoders))  # per position, the K models' layers (a plain list:
        self.decoder_layers = list(zip(*decoders))  # the parameters are registered once, in self.models)

    def forward(self, x: torch.Tensor, generators: list[torch.Generator | None] | None = None) -> dict:
        """Encode, draw z_k = mean_k + exp(log_var_k / 2) * eps_k with eps_k from generators[k], decode."""
        count = len(self.models)
        generators = [None] * count if generators is None else generators
        if len(generators) != count:
            raise ValueError(f"generators has {len(generators)} entries; this pack holds {count} models")
        hidden = x
        for layers in self.encoder_layers:
            hidden = packed_layer(layers, hidden)
        mean, log_var = full_precision(hidden).chunk(2, dim=-1)  # float32 also under bfloat16 autocast
        eps = torch.stack([torch.randn(mean.shape[1:], generator=generator, device=mean.device, dtype=mean.dtype)
                           for generator in generators])
        z = mean + torch.exp(0.5 * log_var) * eps
        hidden = z
        for layers in self.decoder_layers:
            hidden = packed_layer(layers, hidden)
        return {"mean": mean, "log_var": log_var, "z": z, "logits": full_precision(hidden)}

    def member_output(self, out: dict, k: int) -> dict:
        """Model k's part of a packed output: mean, log_var, z (N, D) and logits (N, C, H, W)."""
        channels = out["logits"].shape[1] // len(self.models)
        return {"mean": out["mean"][k], "log_var": out["log_var"][k], "z": out["z"][k],
                "logits": out["logits"][:, k * channels:(k + 1) * channels]}


# ---------------------------------------------------------------------------- packed training
@dataclasses.dataclass
class Member:
    """One run of a pack: what `training.train` keeps for a run, plus its place in the pack."""

    config: TrainConfig
    directory: Path
    model: nn.Module
    objective: nn.Module
    optimizer: torch.optim.Adam  # the run's own Adam; the packed Adam updates its state tensors
    sampler: GridBatchSampler
    global_states: dict  # torch's global generators as this run alone would have left them
    step: int = 0
    start_step: int = 0
    columns: list | None = None
    rows: list = dataclasses.field(default_factory=list)
    row_steps: list = dataclasses.field(default_factory=list)
    last_terms: dict = dataclasses.field(default_factory=dict)
    error: Exception | None = None


def pack_groups(configs: list[TrainConfig], size: int | None = None) -> list[list[TrainConfig]]:
    """`configs` in groups of at most `size` (None: no limit) that can train as one network: the same
    SHARED_FIELDS, and objectives that a CUDA graph can all capture or all not (one TopDis run, which trains
    eagerly, would make its whole pack eager). Groups keep the order of `configs`."""
    size = check_int("size", size, 1, none_ok=True)
    groups: dict[tuple, list] = {}
    for config in configs:
        key = (*(getattr(config, name) for name in SHARED_FIELDS), METHODS[config.method].capturable)
        groups.setdefault(key, []).append(config)
    size = size or max(map(len, groups.values()), default=1)
    return [group[i:i + size] for group in groups.values() for i in range(0, len(group), size)]


def check_pack(configs, out_dirs) -> tuple[list[TrainConfig], list[Path]]:
    """Validated configurations that may train as one pack, and their folders; ValueError before any work."""
    if not isinstance(configs, (list, tuple)) or not configs or not all(isinstance(c, TrainConfig) for c in configs):
        raise ValueError(f"configs={configs!r:.200} is not allowed; give a non-empty list of TrainConfig")
    configs = [config.validate() for config in configs]
    for name in SHARED_FIELDS:
        for k, config in enumerate(configs):
            if getattr(config, name) != getattr(configs[0], name):
                raise ValueError(f"configs[{k}].{name}={getattr(config, name)!r} differs from configs[0].{name}="
                                 f"{getattr(configs[0], name)!r}; the models of a pack share {SHARED_FIELDS} "
                                 "(seeds, methods, hyperparameters and lr may differ)")
    if not isinstance(out_dirs, (list, tuple)) or len(out_dirs) != len(configs):
        raise ValueError(f"out_dirs={out_dirs!r:.200} is not allowed; give one folder per configuration "
                         f"({len(configs)})")
    for k, out_dir in enumerate(out_dirs):
        if not str(out_dir).strip():
            raise ValueError(f"out_dirs[{k}]={str(out_dir)!r} is not allowed; name the run's folder")
    folders = [check_writable_directory(f"out_dirs[{k}]", out_dir) for k, out_dir in enumerate(out_dirs)]
    resolved = [folder.resolve() for folder in folders]
    for k, folder in enumerate(resolved):
        if folder in resolved[:k]:
            raise ValueError(f"out_dirs[{k}]={str(out_dirs[k])!r} is also out_dirs[{resolved.index(folder)}]; "
                             "each model of a pack needs its own run folder")
    return configs, folders


def train_packed(configs: list[TrainConfig], out_dirs: list, device="auto", resume: bool = False,
                 overwrite: bool = False, dataset=None, progress: bool = True, cuda_graph: str = "auto",
                 until: int | None = None, deadline: float | None = None) -> list[Run]:
    """Train K configurations of one architecture as one packed network into their K run folders.

    The same as `training.train(configs[k], out_dirs[k], ...)` for every k, up to floating-point
    rounding, with each layer launched once for all K models. `resume` and `overwrite` apply to every folder,
    and every folder is locked while the pack trains. A resumed pack whose runs stopped at different
    checkpoints (killed while it wrote them) trains the runs that are behind until they catch up.
    A run whose terms become NaN or infinite stops (its last good checkpoint is kept) and the others
    go on; NonFiniteLossError names it at the end. `cuda_graph`, `until` and `deadline` as in `training.train`
    (captured when every member's objective can be). Returns the K runs."""
    configs, folders = check_pack(configs, out_dirs)
    check_choice("cuda_graph", cuda_graph, CUDA_GRAPH_CHOICES)
    until = check_int("until", configs[0].steps if until is None else until, 1, configs[0].steps)
    deadline = check_number("deadline", deadline, 0, none_ok=True)
    if overwrite:
        for folder in folders:
            check_overwritable(folder)  # before any lock file is made
    device = get_device(device)
    graphed = all([use_cuda_graph(cuda_graph, device, config) for config in configs])
    dataset = dataset if dataset is not None else default_dataset(configs[0], progress)
    check_memory(configs[0], dataset, device, copies=len(configs))
    with contextlib.ExitStack() as locks:
        for folder in folders:
            locks.enter_context(directory_lock(folder, "run folder"))
        return _train_locked(configs, folders, device, resume, overwrite, dataset, progress, graphed, until,
                             deadline)


def _train_locked(configs, folders, device, resume, overwrite, dataset, progress, graphed: bool,
                  until: int, deadline: float | None) -> list[Run]:
    resuming = [prepare_run_directory(folder, config, resume, overwrite) for config, folder in zip(configs, folders)]
    members, grid = [], None
    for config, folder, resumes in zip(configs, folders, resuming):
        members.append(_build_member(config, folder, resumes, device, dataset, grid))
        grid = members[0].sampler
    for member, resumes in zip(members, resuming):  # every checkpoint loaded: now the folders are written
        if not resumes:
            write_run_config(member.directory, member.config, device)
        elif member.step < until:
            record_device(member.directory, device)
        truncate_log(member.directory / LOG, member.step)

    clock = time.perf_counter()
    bar = tqdm(total=configs[0].steps, initial=min(m.step for m in members), disable=not progress,
               desc=f"{len(members)} packed models ({device})")
    active = [m for m in members if m.step < until]
    with StopRequests(deadline) as stop:  # the deadline, Ctrl-C or SIGTERM: checkpoints at the end of the step
        while active:  # normally one pass; runs left behind by a kill between checkpoints catch up first
            start = min(m.step for m in active)
            end = min([m.step for m in active if m.step > start], default=until)
            _train_steps([m for m in active if m.step == start], start, end, device, bar, graphed, until, stop)
            active = [m for m in active if m.step < until and m.error is None and not stop.requested()]
        bar.close()
        elapsed = time.perf_counter() - clock
        for member in members:
            if member.error is None and member.step > member.start_step:
                write_summary(member.directory, member.config, member.step - member.start_step, elapsed, device,
                              member.last_terms, pack_size=len(members))
    restore_global_rng_states(members[-1].global_states)  # as `train` of the last run leaves them
    failed = [m for m in members if m.error is not None]
    if failed:
        raise NonFiniteLossError(f"{len(failed)} of {len(members)} packed runs stopped, the others finished: "
                                 + "; ".join(f"{m.directory}: {m.error}" for m in failed))
    return [Run(m.directory, m.config, m.model.eval(), m.objective, m.step) for m in members]


def _build_member(config, folder, resumes, device, dataset, grid) -> Member:
    """A run as `training.train` starts it: seeded weights, its sampler and Adam, its checkpoint loaded."""
    seed_everything(config.seed)
    model, objective = config.build(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, fused=device.type == "cuda")
    sampler = GridBatchSampler(dataset, device, config.seed) if grid is None else grid.with_seed(config.seed)
    objective.attach(model, sampler)
    member = Member(config, folder, model, objective, optimizer, sampler, global_rng_states())
    if resumes:
        state = load_checkpoint(folder / CHECKPOINT, config)
        model.load_state_dict(state["model"])
        objective.load_state_dict(state["objective"])
        member.global_states |= {name: value for name, value in state["rng"].items() if name != "sampler"}
        if state["step"] >= config.steps:  # finished (or from the zoo): no optimiser or generator to continue
            sampler.load_state_dict(state["rng"]["sampler"])  # where this device's generator can take it
        else:
            continue_generator(sampler, state["rng"]["sampler"], config, state["step"], folder)
            for name, run_optimizer in run_optimizers(optimizer, objective).items():
                run_optimizer.load_state_dict(state["optimizers"][name])
            set_capturable(run_optimizers(optimizer, objective).values(), False)  # whatever the checkpoint's run used
        member.step = member.start_step = state["step"]
    return member


def packed_adam(members: list[Member], fused: bool) -> torch.optim.Adam:
    """One Adam over every member's model parameters (a parameter group per learning rate) whose state
    is the members' own Adams' state: each step updates those tensors in place."""
    groups: dict[float, list] = {}
    for member in members:
        groups.setdefault(member.config.lr, []).extend(member.model.parameters())
    adam = torch.optim.Adam([{"params": params, "lr": lr} for lr, params in groups.items()], fused=fused)
    for member in members:
        for parameter in member.model.parameters():
            adam.state[parameter] = member.optimizer.state[parameter]  # one dict, shared
    return adam


def pack_step_function(members: list[Member], device, graphed: bool):
    """One step of every member as one packed network: `step_function(step)` returns each member's
    (term names, terms). With `graphed`, the step is captured as one CUDA graph (course_lib.training.graphed)."""
    batch_size, precision = members[0].config.batch_size, members[0].config.precision
    packed, adam = PackedVAE([m.model for m in members]), packed_adam(members, device.type == "cuda")

    def step_function(step):
        batches = [m.sampler.sample(batch_size) for m in members]
        with forward_precision(device, precision):
            out = packed(torch.cat(batches, dim=1), [m.sampler.generator for m in members])
        outputs = [packed.member_output(out, k) for k in range(len(members))]
        terms = [m.objective(x, member_out, step) for m, x, member_out in zip(members, batches, outputs)]
        adam.zero_grad(set_to_none=True)
        torch.stack([t["total"] for t in terms]).sum().backward()
        adam.step()
        for m, member_terms, member_out in zip(members, terms, outputs):
            member_terms.update(m.objective.auxiliary_step(member_out))
        return [flatten_terms(member_terms) for member_terms in terms]

    if not graphed:
        return step_function
    optimizers = [adam] + [o for m in members for o in m.objective.optimizers.values()]
    return GraphedStep(step_function, optimizers, [m.sampler.generator for m in members], device)


def _train_steps(members: list[Member], start: int, end: int, device, bar, graphed: bool, until: int,
                 stop: StopRequests) -> None:
    """Train `members` (all at step `start`) as one packed network up to step `end`, or the first step at which
    `stop` is requested, logging and checkpointing each run as `training.train` does (and at `until` or the
    stop); a run whose terms are not finite leaves the pack."""
    checkpoints = CheckpointClock(members[0].config.checkpoint_every, until)
    for m in members:
        m.model.train()
    step_function = pack_step_function(members, device, graphed)
    for step in range(start + 1, end + 1):
        for m, (names, values) in zip(members, step_function(step)):
            m.columns = m.columns or names
            m.rows.append(values)
            m.row_steps.append(step)
            m.step = step
        stopping = stop.requested()
        if checkpoints.due(step, stopping):
            checkpoints.saved()
            if not all([_checkpoint(m, step) for m in members]):
                members = [m for m in members if m.error is None]
                if not members:
                    return
                step_function = pack_step_function(members, device, graphed)
            bar.set_postfix(loss=f"{sum(m.last_terms['total'] for m in members) / len(members):.1f}")
        bar.update(1)
        if stopping:
            return


def _checkpoint(member: Member, step: int) -> bool:
    """Log the member's buffered rows and write its checkpoint; False (and its error kept) when not finite."""
    try:
        member.last_terms = flush_log(member.rows, member.row_steps, member.columns, member.directory / LOG)
    except NonFiniteLossError as error:
        member.error = error
        return False
    save_checkpoint(member.directory / CHECKPOINT, step, member.config, member.model, member.objective,
                    member.optimizer, member.sampler, member.global_states)
    member.rows, member.row_steps = [], []
    return True
