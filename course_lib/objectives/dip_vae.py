"""DIP-VAE-I and -II (Kumar, Sattigeri, Balakrishnan 2018): match the aggregate posterior's moments to N(0, I).

  I :  Cov_p(x)[mu(x)]                      should be the identity
  II:  E_p(x)[diag Sigma(x)] + Cov_p(x)[mu(x)]  (the covariance of q(z)) should be the identity

penalty(C) = lambda_od sum_{i != j} C_ij^2 + lambda_d sum_i (C_ii - 1)^2, added to the negative ELBO.
The study's defaults: lambda_d = 10 lambda_od for I and lambda_d = lambda_od for II.
"""
import torch

from course_lib.checks import check_choice, check_number
from course_lib.distributions import covariance
from course_lib.objectives.base import Objective

DIP_TYPES = ("i", "ii")


def dip_penalty(cov, lambda_od: float, lambda_d: float):
    """(off-diagonal penalty, diagonal penalty) of a covariance matrix."""
    diagonal = torch.diagonal(cov)
    off_diagonal = cov - torch.diag(diagonal)
    return lambda_od * off_diagonal.pow(2).sum(), lambda_d * (diagonal - 1.0).pow(2).sum()


class DIPVAE(Objective):
    name = "dip_vae"

    def __init__(self, lambda_od: float = 10.0, lambda_d: float | None = None, dip_type: str = "i"):
        super().__init__()
        self.dip_type = check_choice("dip_type", dip_type, DIP_TYPES)
        self.lambda_od = check_number("lambda_od", lambda_od, 0)
        default_factor = 10.0 if dip_type == "i" else 1.0
        self.lambda_d = check_number("lambda_d", lambda_d if lambda_d is not None else default_factor * lambda_od, 0)

    def hyperparameters(self):
        return {"lambda_od": self.lambda_od, "lambda_d": self.lambda_d, "dip_type": self.dip_type}

    def regulariser(self, x, out, step, terms):
        cov = covariance(out["mean"])
        if self.dip_type == "ii":
            cov = cov + torch.diag(out["log_var"].exp().mean(0))
        off_diagonal, diagonal = dip_penalty(cov, self.lambda_od, self.lambda_d)
        return {"dip_off_diagonal": off_diagonal, "dip_diagonal": diagonal,
                "total": terms["reconstruction"] + terms["kl"] + off_diagonal + diagonal}
