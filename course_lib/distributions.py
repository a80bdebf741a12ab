"""The probabilistic pieces every objective is built from (Kingma & Welling 2014)."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

LOG_2PI = math.log(2 * math.pi)


def bernoulli_reconstruction(logits, x):
    """-log p(x|z) per image for a Bernoulli decoder on logits: the sum over pixels of BCE. Shape (N,)."""
    return F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)


def kl_to_standard_normal(mean, log_var):
    """KL(N(mean, diag e^log_var) || N(0, I)) per latent: 1/2 (mean^2 + e^log_var - log_var - 1). Shape (N, D)."""
    return 0.5 * (mean.pow(2) + log_var.exp() - log_var - 1.0)


def gaussian_log_density(z, mean, log_var):
    """log N(z; mean, e^log_var) per coordinate: -1/2 (log 2 pi + log_var + (z - mean)^2 e^-log_var)."""
    return -0.5 * (LOG_2PI + log_var + (z - mean).pow(2) * torch.exp(-log_var))


def covariance(x):
    """Biased sample covariance of the rows of x (N, D): E[x x^T] - E[x] E[x]^T. Shape (D, D)."""
    centred = x - x.mean(dim=0, keepdim=True)
    return centred.T @ centred / x.shape[0]


def permute_dims(z, generator=None):
    """Shuffle each column of z independently across the batch (Kim & Mnih 2018, Algorithm 1).

    The result is a sample of prod_j q(z_j): every marginal is kept, every dependence is broken.
    """
    order = torch.rand(z.shape, device=z.device, generator=generator).argsort(dim=0)
    return z.gather(0, order)
