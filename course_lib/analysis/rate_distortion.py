"""Rate, distortion, ELBO and active latents of a trained VAE on a fixed sample (Alemi et al. 2018).

For observations x_1, ..., x_N, an encoder q(z|x) = N(mean(x), diag exp(log_var(x))), a Bernoulli
decoder p(x|z) and the prior p(z) = N(0, I):

    rate        R = 1/N sum_n KL(q(z|x_n) || p(z))             nats, analytic (Gaussian KL)
    distortion  D = 1/N sum_n E_q(z|x_n)[-log p(x_n|z)]         nats, Monte Carlo: z = mean + sigma * eps
    ELBO          = -(D + R),  and on average  ELBO <= log p(x)

At rate 0 the best a Bernoulli decoder can do is D_0 = sum_i H(p_i), p_i the frequency of pixel i
(`constant_decoder_distortion`).

A latent d is *active* (Burda et al. 2016) when its posterior mean moves with the input:
A_d = Var_x(E_q(z_d|x)[z_d]) > 0.01. An inactive latent has q(z_d|x) ~ p(z_d) for every x: KL_d ~ 0.

The same function evaluates any trained model (notebooks 02, 06, 13), so that points of a sweep are
comparable: same observations, same noise.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from course_lib.checks import check_int, check_number
from course_lib.distributions import bernoulli_reconstruction, kl_to_standard_normal
from course_lib.representation import device_of

ACTIVITY_THRESHOLD = 0.01  # Burda, Grosse & Salakhutdinov (2016)
COLUMNS = ("rate", "distortion", "elbo", "num_active")


def constant_decoder_distortion(observations) -> float:
    """The distortion at rate 0: the best decoder that ignores z, independent Bernoulli pixels with
    p_i = the frequency of pixel i in `observations`. D_0 = sum_i H(p_i), in nats per image.

    Any model whose distortion is not below D_0 has learnt nothing that a table of pixel
    frequencies could not store (the point (D_0, 0) of the rate-distortion plane).
    """
    x = np.asarray(observations, dtype=np.float64)
    if x.ndim < 2 or len(x) < 1:
        raise ValueError(f"observations has shape {x.shape}; expected (N, C, H, W) with N >= 1")
    p = np.clip(x.reshape(len(x), -1).mean(0), 1e-12, 1 - 1e-12)
    return float(-(p * np.log(p) + (1 - p) * np.log1p(-p)).sum())


def latent_activity(means) -> np.ndarray:
    """A_d = Var_n(means[n, d]): how much the posterior mean of latent d moves across inputs. Shape (D,)."""
    means = np.asarray(means, dtype=np.float64)
    if means.ndim != 2 or len(means) < 2:
        raise ValueError(f"means has shape {means.shape}; expected (N, D) with N >= 2")
    return means.var(axis=0)


def active_latents(means, threshold: float = ACTIVITY_THRESHOLD) -> np.ndarray:
    """Boolean (D,): latent d is active when Var_n(means[n, d]) > threshold (Burda et al. 2016)."""
    check_number("threshold", threshold, 0, finite=False)
    return latent_activity(means) > threshold


@torch.no_grad()
def rate_distortion(model, observations, num_z_samples: int = 1, seed: int = 0, batch_size: int = 256,
                    threshold: float = ACTIVITY_THRESHOLD) -> dict:
    """Rate, distortion, ELBO (nats per image, averaged over `observations`) and the active latents.

    The distortion averages `num_z_samples` reparameterised draws z = mean + exp(log_var / 2) * eps
    per image, eps from a generator seeded with `seed`, so that two models see the same noise.
    Returns a dict: rate, distortion, elbo, num_active (floats / int) and the (D,) arrays
    kl_per_latent, activity, active.
    """
    num_z_samples, batch_size = check_int("num_z_samples", num_z_samples, 1), check_int("batch_size", batch_size, 1)
    observations = np.asarray(observations)
    if observations.ndim < 2 or len(observations) < 2:
        raise ValueError(f"observations has shape {observations.shape}; expected (N, C, H, W) with N >= 2")
    device = device_of(model)
    generator = torch.Generator(device=device).manual_seed(int(seed))
    was_training = model.training
    model.eval()
    kls, distortions, means = [], [], []
    for start in range(0, len(observations), batch_size):
        x = torch.as_tensor(observations[start:start + batch_size], dtype=torch.float32, device=device)
        mean, log_var = model.encoder(x)
        distortion = torch.zeros(len(x), dtype=torch.float64, device=device)
        for _ in range(num_z_samples):
            eps = torch.randn(mean.shape, generator=generator, device=device, dtype=mean.dtype)
            logits = model.decoder(mean + torch.exp(0.5 * log_var) * eps)
            distortion += bernoulli_reconstruction(logits, x).double()
        distortions.append((distortion / num_z_samples).cpu())
        kls.append(kl_to_standard_normal(mean, log_var).double().cpu())
        means.append(mean.cpu())
    model.train(was_training)
    kl = torch.cat(kls).numpy()
    means = torch.cat(means).numpy()
    rate, distortion = float(kl.sum(1).mean()), float(torch.cat(distortions).mean())
    activity = latent_activity(means)
    active = active_latents(means, threshold)
    return {"rate": rate, "distortion": distortion, "elbo": -(rate + distortion), "num_active": int(active.sum()),
            "kl_per_latent": kl.mean(0), "activity": activity, "active": active}


def rate_distortion_table(models: dict, observations, per_latent: bool = False, **kwargs) -> pd.DataFrame:
    """One row per entry of `models` (key -> trained model): rate, distortion, elbo, num_active.

    Every model is evaluated on the same observations with the same noise (`rate_distortion`'s
    `seed`); `kwargs` go to `rate_distortion`. The index holds the keys (e.g. the values of beta).
    With `per_latent`, columns kl_<d> and activity_<d> follow for every latent d.
    """
    if not models:
        raise ValueError("models is empty; expected a dict of key -> trained model")
    rows = {}
    for key, model in models.items():
        result = rate_distortion(model, observations, **kwargs)
        rows[key] = {c: result[c] for c in COLUMNS}
        if per_latent:
            rows[key].update({f"kl_{d}": v for d, v in enumerate(result["kl_per_latent"])})
            rows[key].update({f"activity_{d}": v for d, v in enumerate(result["activity"])})
    return pd.DataFrame.from_dict(rows, orient="index")
