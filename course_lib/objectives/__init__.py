"""The six disentanglement objectives of Locatello et al. 2019, and TopDis (Balabin et al. 2024) on top of
three of them, behind one interface (`base.Objective`)."""
from __future__ import annotations

import inspect

from course_lib.checks import check_choice
from course_lib.objectives.annealed_vae import AnnealedVAE
from course_lib.objectives.base import Objective
from course_lib.objectives.beta_tcvae import BetaTCVAE
from course_lib.objectives.beta_vae import BetaVAE
from course_lib.objectives.dip_vae import DIPVAE
from course_lib.objectives.factor_vae import FactorVAE
from course_lib.objectives.topdis import TopDis
from course_lib.objectives.vae import VAE


class DIPVAEI(DIPVAE):
    name = "dip_vae_i"

    def __init__(self, lambda_od: float = 10.0, lambda_d: float | None = None):
        super().__init__(lambda_od, lambda_d, dip_type="i")


class DIPVAEII(DIPVAE):
    name = "dip_vae_ii"

    def __init__(self, lambda_od: float = 10.0, lambda_d: float | None = None):
        super().__init__(lambda_od, lambda_d, dip_type="ii")


OBJECTIVES = {cls.name: cls for cls in (VAE, BetaVAE, AnnealedVAE, FactorVAE, BetaTCVAE, DIPVAEI, DIPVAEII)}
# Every trainable method: the study's objectives above (each with a STUDY_SWEEPS entry but the VAE) and
# the later ones, which are not part of the study's sweep.
METHODS = {**OBJECTIVES, TopDis.name: TopDis}

# The study's sweep (Locatello et al. 2019, Table 2 of the appendix): the hyperparameter and its values.
STUDY_SWEEPS = {
    "beta_vae": ("beta", (1, 2, 4, 6, 8, 16)),
    "annealed_vae": ("c_max", (5, 10, 25, 50, 75, 100)),
    "factor_vae": ("gamma", (10, 20, 30, 40, 50, 100)),
    "dip_vae_i": ("lambda_od", (1, 2, 5, 10, 20, 50)),
    "dip_vae_ii": ("lambda_od", (1, 2, 5, 10, 20, 50)),
    "beta_tcvae": ("beta", (1, 2, 4, 6, 8, 10)),
}


def make_objective(method: str, num_latent: int = 10, **hyperparameters) -> Objective:
    """The objective called `method` with the given hyperparameters (the rest at the study's defaults)."""
    check_choice("method", method, METHODS)
    cls = METHODS[method]
    accepted = set(inspect.signature(cls.__init__).parameters) - {"self"}
    unknown = sorted(set(hyperparameters) - accepted)
    if unknown:
        raise ValueError(f"{method} does not take {unknown}; "
                         f"its hyperparameters are {sorted(accepted - {'num_latent'})}")
    if "num_latent" in accepted:
        hyperparameters["num_latent"] = num_latent
    return cls(**hyperparameters)


__all__ = ["METHODS", "OBJECTIVES", "STUDY_SWEEPS", "Objective", "make_objective",
           *(c.__name__ for c in METHODS.values())]
