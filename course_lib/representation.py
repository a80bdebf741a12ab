"""From a trained VAE to its representation: codes, KL per latent, latent traversals.

The representation is the mean of q(z|x), as in Locatello et al. 2019. Everything here runs in
batches on the model's device without gradients and returns NumPy arrays (samples on axis 0).
"""
from __future__ import annotations

import copy

import numpy as np
import torch

from course_lib.checks import check_int
from course_lib.distributions import kl_to_standard_normal


def device_of(model) -> torch.device:
    """The device of the model's parameters (the CPU for a model without any)."""
    parameter = next(model.parameters(), None)
    return parameter.device if parameter is not None else torch.device("cpu")


@torch.no_grad()
def encode(model, observations, batch_size: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """(means, log-variances) of q(z|x), each (N, D), for observations (N, C, H, W) in [0, 1]."""
    device = device_of(model)
    means, log_vars = [], []
    for start in range(0, len(observations), batch_size):
        x = torch.as_tensor(np.asarray(observations[start:start + batch_size]), dtype=torch.float32, device=device)
        mean, log_var = model.encoder(x)
        means.append(mean.cpu())
        log_vars.append(log_var.cpu())
    return torch.cat(means).numpy(), torch.cat(log_vars).numpy()


def mean_code_function(model, batch_size: int = 2048):
    """The representation the metrics use: observations (N, C, H, W) -> means of q(z|x), (N, D).

    It runs a channels-last copy of the encoder (the same numbers up to float rounding; on a CPU
    about twice as fast for the study's conv encoder), so that encoding all 737,280 dSprites images
    for the BetaVAE and FactorVAE scores takes minutes, not ten."""
    device = device_of(model)
    encoder = copy.deepcopy(model.encoder).eval().to(memory_format=torch.channels_last)

    @torch.no_grad()
    def mean_codes(observations) -> np.ndarray:
        means = []
        for start in range(0, len(observations), batch_size):
            x = torch.as_tensor(np.asarray(observations[start:start + batch_size]), dtype=torch.float32, device=device)
            means.append(encoder(x.contiguous(memory_format=torch.channels_last) if x.ndim == 4 else x)[0].cpu())
        return torch.cat(means).numpy()

    return mean_codes


@torch.no_grad()
def decode(model, codes, batch_size: int = 256) -> np.ndarray:
    """Bernoulli means sigmoid(decoder(z)), (N, C, H, W) in [0, 1], for codes (N, D)."""
    device = device_of(model)
    images = [torch.sigmoid(model.decoder(torch.as_tensor(codes[s:s + batch_size], dtype=torch.float32,
                                                          device=device))).cpu()
              for s in range(0, len(codes), batch_size)]
    return torch.cat(images).numpy()


def kl_per_latent(means: np.ndarray, log_vars: np.ndarray) -> np.ndarray:
    """Mean over samples of KL(q(z_d|x) || N(0, 1)) for each latent d: how much d is used. Shape (D,)."""
    return kl_to_standard_normal(torch.from_numpy(means), torch.from_numpy(log_vars)).mean(0).cpu().numpy()


def traversal_codes(base_code: np.ndarray, ranges: np.ndarray, num_steps: int) -> np.ndarray:
    """(D, S, D) codes: row d is `base_code` with coordinate d stepping evenly across ranges[d] = (low, high)."""
    base_code, ranges = np.asarray(base_code, np.float64), np.asarray(ranges, np.float64)
    if base_code.ndim != 1 or ranges.shape != (len(base_code), 2):
        raise ValueError(f"base_code {base_code.shape} and ranges {ranges.shape} must be (D,) and (D, 2)")
    num_steps = check_int("num_steps", num_steps, 2)
    steps = np.linspace(ranges[:, 0], ranges[:, 1], num_steps)  # (S, D)
    codes = np.tile(base_code, (len(base_code), num_steps, 1))
    diagonal = np.arange(len(base_code))
    codes[diagonal, :, diagonal] = steps.T
    return codes


def quantile_ranges(codes: np.ndarray, low: float = 0.05, high: float = 0.95) -> np.ndarray:
    """(D, 2) per-dimension quantiles of the codes: traversal ranges that stay where the data are."""
    if not 0 <= low < high <= 1:
        raise ValueError(f"quantiles low={low!r}, high={high!r}: need 0 <= low < high <= 1")
    return np.quantile(codes, [low, high], axis=0).T


def latent_traversals(model, base_observation, codes_for_ranges, num_steps: int = 10,
                      quantiles=(0.05, 0.95)) -> tuple[np.ndarray, np.ndarray]:
    """Decoded traversals (D, S, C, H, W) of every latent around one observation, and the latent order.

    Latents come sorted by decreasing KL over `codes_for_ranges` = (means, log_vars) of a sample, so
    the informative ones are first; each coordinate moves across its [low, high] quantile range.
    """
    means, log_vars = codes_for_ranges
    order = np.argsort(-kl_per_latent(means, log_vars))
    base_code = encode(model, np.asarray(base_observation)[None])[0][0]
    codes = traversal_codes(base_code, quantile_ranges(means, *quantiles), num_steps)[order]
    images = decode(model, codes.reshape(-1, codes.shape[-1]))
    return images.reshape(*codes.shape[:2], *images.shape[1:]), order
