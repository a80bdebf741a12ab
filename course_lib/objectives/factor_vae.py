"""FactorVAE (Kim & Mnih 2018): -ELBO + gamma TC, the TC estimated by a density-ratio discriminator.

A discriminator D is trained to tell codes z ~ q(z) from codes with every dimension shuffled
across the batch (`permute_dims`, samples of prod_j q(z_j)). At its optimum
D(z) / (1 - D(z)) = q(z) / prod_j q(z_j), so TC = E_q(z)[log q(z) / prod_j q(z_j)] ~ E[logit_0(z) - logit_1(z)].
D: 6 hidden layers of 1000 leaky-ReLU units, 2 logits; its own Adam(1e-4, betas 0.5, 0.9). As in
disentanglement_lib, D is trained on the same batch's codes (Kim & Mnih draw a second batch). Two differences
from disentanglement_lib's code: its D loss clips the probabilities to [1e-6, 1 - 1e-6] (no gradient from codes
classified with |logit_0 - logit_1| > 13.8; here the cross-entropy is not clipped), and both of its optimisers
advance the global step, so its "300,000-step" FactorVAEs trained about 150,000 iterations; here a step is
one iteration for every method.
"""
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import trange

from course_lib.checks import check_number
from course_lib.distributions import permute_dims
from course_lib.objectives.base import Objective


def discriminator(num_latent: int, hidden: int = 1000, depth: int = 6) -> nn.Sequential:
    """`depth` hidden layers of `hidden` leaky-ReLU(0.2) units, then 2 logits (q(z) vs prod_j q(z_j))."""
    layers, width = [], num_latent
    for _ in range(depth):
        layers += [nn.Linear(width, hidden), nn.LeakyReLU(0.2)]
        width = hidden
    return nn.Sequential(*layers, nn.Linear(width, 2))


def density_ratio_tc(critic: nn.Module, z: torch.Tensor) -> torch.Tensor:
    """TC(z) ~ mean over z ~ q(z) of logit_0(z) - logit_1(z) = log D(z) / (1 - D(z))."""
    logits = critic(z)
    return (logits[:, 0] - logits[:, 1]).mean()


def discriminator_step(critic: nn.Module, optimizer: torch.optim.Optimizer, z: torch.Tensor,
                       generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
    """One cross-entropy step: codes z ~ q(z) have label 0, `permute_dims(z)` ~ prod_j q(z_j) label 1.

    Returns the loss, the accuracy and the TC estimate on the q(z) half (all detached)."""
    z = z.detach()
    logits = critic(torch.cat([z, permute_dims(z, generator=generator)]))
    labels = (torch.arange(2 * len(z), device=z.device) >= len(z)).long()  # made on the device: no host copy
    loss = F.cross_entropy(logits, labels)  # the mean of the two halves' losses
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return {"discriminator_loss": loss.detach(),
            "discriminator_accuracy": (logits.argmax(1) == labels).float().mean(),
            "total_correlation": (logits[:len(z), 0] - logits[:len(z), 1]).mean().detach()}


def fit_density_ratio(draw: Callable[[int], torch.Tensor], num_latent: int, steps: int = 1000,
                      batch_size: int = 256, hidden: int = 64, depth: int = 2, lr: float = 1e-3,
                      seed: int = 0) -> tuple[nn.Module, np.ndarray]:
    """Train a fresh discriminator on batches `draw(batch_size)` ~ q(z) against their permutations.

    The density-ratio estimator of TC outside a VAE, for codes one can sample. Returns the trained
    discriminator and the TC estimate on each step's batch (before that step's update). Runs on one
    CPU thread: a network this small only loses time to threading."""
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    critic = discriminator(num_latent, hidden=hidden, depth=depth)
    optimizer = torch.optim.Adam(critic.parameters(), lr=lr)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        estimates = [discriminator_step(critic, optimizer, draw(batch_size), generator)["total_correlation"].item()
                     for _ in trange(steps, desc="density ratio", leave=False)]
    finally:
        torch.set_num_threads(threads)
    return critic, np.array(estimates)


class FactorVAE(Objective):
    name = "factor_vae"

    def __init__(self, num_latent: int = 10, gamma: float = 10.0, lr: float = 1e-4, betas=(0.5, 0.9)):
        super().__init__()
        self.gamma = check_number("gamma", gamma, 0)
        self.discriminator = discriminator(num_latent)
        self.optimizers["discriminator"] = torch.optim.Adam(self.discriminator.parameters(), lr=lr, betas=betas)

    def hyperparameters(self):
        return {"gamma": self.gamma}

    def regulariser(self, x, out, step, terms):
        tc = density_ratio_tc(self.discriminator, out["z"])
        return {"total_correlation": tc, "total": terms["reconstruction"] + terms["kl"] + self.gamma * tc}

    def auxiliary_step(self, out):
        logged = discriminator_step(self.discriminator, self.optimizers["discriminator"], out["z"], self.generator)
        return {name: logged[name] for name in ("discriminator_loss", "discriminator_accuracy")}
