"""AnnealedVAE (Burgess et al. 2018): E_q[-log p(x|z)] + gamma |KL - C(t)|.

The capacity C(t) = min(C_max, C_max t / annealing_steps) rises linearly, so the encoder may
transmit more information as training goes on; the study used gamma = 1000 and 100,000 steps. t is the
update's own number, 1 at the first (disentanglement_lib reads its step counter before the update, one
less: C differs by C_max / annealing_steps, 2.5e-4 nats in the study).
"""
import torch

from course_lib.checks import check_int, check_number
from course_lib.objectives.base import Objective


def capacity(step, c_max: float, annealing_steps: int):
    """C(t) = min(C_max, C_max t / annealing_steps); a float for an int step, a tensor for a tensor step (the
    step count of a captured CUDA graph, course_lib.training.graphed), computed without leaving the device."""
    if isinstance(step, torch.Tensor):
        return (step * (c_max / annealing_steps)).clamp(max=c_max)
    return min(c_max, c_max * step / annealing_steps)


class AnnealedVAE(Objective):
    name = "annealed_vae"

    def __init__(self, c_max: float = 25.0, gamma: float = 1000.0, annealing_steps: int = 100_000):
        super().__init__()
        self.c_max = check_number("c_max", c_max, 0)
        self.gamma = check_number("gamma", gamma, 0)
        self.annealing_steps = check_int("annealing_steps", annealing_steps, 1)

    def hyperparameters(self):
        return {"c_max": self.c_max, "gamma": self.gamma, "annealing_steps": self.annealing_steps}

    def regulariser(self, x, out, step, terms):
        kl = terms["kl"]
        c = capacity(step, self.c_max, self.annealing_steps)  # a fill, not a copy from the host: no sync on a GPU
        c = c.to(kl.dtype) if isinstance(c, torch.Tensor) else torch.full((), c, dtype=kl.dtype, device=kl.device)
        penalty = self.gamma * (kl - c).abs()
        return {"capacity": c, "capacity_penalty": penalty,
                "total": terms["reconstruction"] + penalty}
