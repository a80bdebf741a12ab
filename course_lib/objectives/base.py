"""The one interface every objective implements, so the training loop never branches on the method.

An objective is called as `objective(x, out, step)` with the batch x, the model's output
`out = model(x)` (mean, log_var, z, logits) and the global step; it returns a dict of named terms,
scalars (averaged over the batch) or vectors (e.g. KL per latent), with "total" the loss to minimise.
Objectives that train networks of their own (FactorVAE's discriminator) own them and their
optimisers, and update them in `auxiliary_step(out)`, which the loop calls after the model's step.

Before training the loop calls `attach(model, sampler)`: the model being trained and the run's batch
sampler, whose generator is the run's one source of randomness; an objective that draws random numbers
(FactorVAE's permutation, TopDis's latent and sign) draws them from `self.generator`, so a run's
numbers depend on its seed only, whatever else runs in the process (course_lib.training.packed trains several).
"""
from __future__ import annotations

import torch
from torch import nn

from course_lib.distributions import bernoulli_reconstruction, kl_to_standard_normal


class Objective(nn.Module):
    """Base: the ELBO's terms; subclasses add their regulariser in `regulariser`."""

    name = "vae"
    capturable = True  # its step does no host work, so a CUDA graph can capture it (course_lib.training.graphed)

    def __init__(self):
        super().__init__()
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        self._attached = (None, None)  # (model, sampler): a tuple, so neither joins this module's state dict

    def attach(self, model: nn.Module, sampler=None) -> None:
        """Give the objective the model it trains and, optionally, the run's batch sampler (with
        `sample(batch_size)` and `generator`). The training loop calls this once before training."""
        self._attached = (model, sampler)

    @property
    def generator(self) -> torch.Generator | None:
        """The run's generator (the attached sampler's); None, torch's global one, when none is attached."""
        sampler = self._attached[1]
        return None if sampler is None else sampler.generator

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
