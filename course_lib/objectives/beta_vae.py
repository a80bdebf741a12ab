"""beta-VAE (Higgins et al. 2017): E_q[-log p(x|z)] + beta KL(q(z|x) || p(z)); beta > 1 narrows the bottleneck."""
from course_lib.checks import check_number
from course_lib.objectives.base import Objective


class BetaVAE(Objective):
    name = "beta_vae"

    def __init__(self, beta: float = 4.0):
        super().__init__()
        self.beta = check_number("beta", beta, 0)

    def hyperparameters(self):
        return {"beta": self.beta}

    def regulariser(self, x, out, step, terms):
        return {"total": terms["reconstruction"] + self.beta * terms["kl"]}
