"""AnnealedVAE (Burgess et al. 2018): E_q[-log p(x|z)] + gamma |KL - C(t)|.

The capacity C(t) = min(C_max, C_max t / annealing_steps) rises linearly, so the encoder may
transmit more information as training goes on; the study used gamma = 1000 and 100,000 steps.
"""
from course_lib.objectives.base import Objective, check_non_negative


def capacity(step: int, c_max: float, annealing_steps: int) -> float:
    return min(c_max, c_max * step / annealing_steps)


class AnnealedVAE(Objective):
    name = "annealed_vae"

    def __init__(self, c_max: float = 25.0, gamma: float = 1000.0, annealing_steps: int = 100_000):
        super().__init__()
        self.c_max = check_non_negative("c_max", c_max)
        self.gamma = check_non_negative("gamma", gamma)
        if isinstance(annealing_steps, bool) or not isinstance(annealing_steps, int) or annealing_steps < 1:
            raise ValueError(f"annealing_steps={annealing_steps!r} is not allowed; use an integer >= 1")
        self.annealing_steps = annealing_steps

    def hyperparameters(self):
        return {"c_max": self.c_max, "gamma": self.gamma, "annealing_steps": self.annealing_steps}

    def regulariser(self, x, out, step, terms):
        c = capacity(step, self.c_max, self.annealing_steps)
        penalty = self.gamma * (terms["kl"] - c).abs()
        return {"capacity": terms["kl"].new_tensor(c), "capacity_penalty": penalty,
                "total": terms["reconstruction"] + penalty}
