"""The one interface every objective implements, so the training loop never branches on the method.

An objective is called as `objective(x, out, step)` with the batch x, the model's output
`out = model(x)` (mean, log_var, z, logits) and the global step; it returns a dict of named terms,
scalars (averaged over the batch) or vectors (e.g. KL per latent), with "total" the loss to minimise.
Objectives that train networks of their own (FactorVAE's discriminator) own them and their
optimisers, and update them in `auxiliary_step(out)`, which the loop calls after the model's step.
"""
from __future__ import annotations

import torch
from torch import nn

from course_lib.objectives.terms import bernoulli_reconstruction, kl_to_standard_normal


def check_non_negative(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0 or value == float("inf"):
        raise ValueError(f"{name}={value!r} is not allowed; use a finite number >= 0")
    return float(value)


class Objective(nn.Module):
    """Base: the ELBO's terms; subclasses add their regulariser in `regulariser`."""

    name = "vae"

    def __init__(self):
        super().__init__()
        self.optimizers: dict[str, torch.optim.Optimizer] = {}

    def hyperparameters(self) -> dict:
        return {}

    def forward(self, x, out, step: int) -> dict[str, torch.Tensor]:
        reconstruction = bernoulli_reconstruction(out["logits"], x).mean()
        kl_per_latent = kl_to_standard_normal(out["mean"], out["log_var"]).mean(0)
        kl = kl_per_latent.sum()
        terms = {"reconstruction": reconstruction, "kl": kl, "elbo": -(reconstruction + kl),
                 "kl_per_latent": kl_per_latent}
        terms.update(self.regulariser(x, out, step, terms))
        return terms

    def regulariser(self, x, out, step, terms) -> dict[str, torch.Tensor]:
        """The terms this objective adds, including "total". The VAE's total is the negative ELBO."""
        return {"total": terms["reconstruction"] + terms["kl"]}

    def auxiliary_step(self, out) -> dict[str, torch.Tensor]:
        """Train the objective's own networks on the step's (detached) output; return their terms."""
        return {}
