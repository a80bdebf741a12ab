"""Total correlation of an aggregate posterior: exact values, minibatch estimates, mean vs sampled codes.

A "dataset" here is what an encoder makes of N observations: N Gaussian posteriors
q(z|x_n) = N(means[n], diag exp(log_vars[n])). Their aggregate posterior is the mixture
q(z) = 1/N sum_n q(z|x_n), and (Chen et al. 2018)

    E_n E_q(z|x_n)[log q(z|x_n) - log p(z)] = I(n; z)                                   index-code MI
                                           + E_q(z)[log q(z) - sum_j log q(z_j)]          total correlation
                                           + E_q(z)[sum_j log q(z_j) - log p(z_j)]        dimension-wise KL

with p(z) = N(0, I). With all N components the densities are exact; only the outer expectation is a
Monte Carlo average (`exact_kl_decomposition`). Training sees a minibatch of B << N posteriors and
estimates q(z) from them (MWS or MSS, `course_lib.objectives.beta_tcvae`); `estimator_study`
measures those estimates against batch size. Locatello et al. (2019) compare the TC of the mean
representation (the codes means[n]) with that of the sampled one (z_n ~ q(z|x_n)) by fitting a
Gaussian to each (`mean_and_sampled_tc`).
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import torch

from course_lib.checks import check_int, check_number
from course_lib.device import get_device
from course_lib.distributions import gaussian_log_density
from course_lib.metrics import gaussian_total_correlation
from course_lib.objectives.beta_tcvae import ESTIMATORS, kl_decomposition
from course_lib.seeding import as_random_state

TERMS = ("mutual_information", "total_correlation", "dimensionwise_kl")


def _check_posteriors(means, log_vars) -> tuple[np.ndarray, np.ndarray]:
    means, log_vars = np.asarray(means, np.float64), np.asarray(log_vars, np.float64)
    if means.ndim != 2 or means.shape != log_vars.shape or len(means) < 2:
        raise ValueError(f"means {means.shape} and log_vars {log_vars.shape} must both be (N, D) with N >= 2")
    if not (np.isfinite(means).all() and np.isfinite(log_vars).all()):
        raise ValueError("means and log_vars must be finite")
    return means, log_vars


def correlated_gaussian_posteriors(num_points: int, num_latent: int = 3, correlation: float = 0.8,
                                   posterior_std: float = 0.3, random_state=0) -> tuple[np.ndarray, np.ndarray]:
    """A constructed dataset: means ~ N(0, R) with R_ii = 1, R_ij = `correlation`; every posterior std equal.

    Returns (means, log_vars), each (num_points, num_latent). The aggregate posterior is a mixture of
    num_points Gaussians whose coordinates are dependent when correlation != 0.
    """
    num_points, num_latent = check_int("num_points", num_points, 2), check_int("num_latent", num_latent, 1)
    check_number("correlation", correlation, -1 / max(num_latent - 1, 1), 1, low_open=True, high_open=True,
                 note=" (-1/(num_latent - 1) < correlation < 1, so that R is positive definite)")
    check_number("posterior_std", posterior_std, 0, low_open=True)
    rs = as_random_state(random_state)
    cov = np.full((num_latent, num_latent), float(correlation))
    np.fill_diagonal(cov, 1.0)
    means = rs.randn(num_points, num_latent) @ np.linalg.cholesky(cov).T
    return means, np.full_like(means, 2 * math.log(posterior_std))


def sample_codes(means, log_vars, random_state) -> np.ndarray:
    """One z_n ~ q(z|x_n) = N(means[n], diag exp(log_vars[n])) per row: the sampled representation."""
    means, log_vars = _check_posteriors(means, log_vars)
    return means + np.exp(0.5 * log_vars) * as_random_state(random_state).randn(*means.shape)


def exact_kl_decomposition(means, log_vars, num_samples: int = 20_000, random_state=0,
                           chunk_size: int = 64, device="cpu") -> dict[str, float]:
    """MI, TC and dimension-wise KL with the exact mixture q(z) over all N posteriors.

    The densities q(z) = 1/N sum_m q(z|x_m) and q(z_j) = 1/N sum_m q(z_j|x_m) are exact; the outer
    expectation averages `num_samples` draws z ~ q(z|x_n), spread evenly over the N points (every
    point gets floor or ceil of num_samples / N draws). Each term comes with `<term>_se`, its Monte
    Carlo standard error. The three terms sum to the average analytic KL(q(z|x_n) || p(z)) up to that error.
    Densities are computed in float32 (as in training), chunk by chunk on `device` (its cost is
    num_samples x N x D: a GPU's work at N = 100,000), and averaged in float64.
    """
    means, log_vars = _check_posteriors(means, log_vars)
    num_samples = check_int("num_samples", num_samples, 2)
    device = get_device(device)
    rs = as_random_state(random_state)
    n = len(means)
    index = np.concatenate([rs.permutation(n) for _ in range(-(-num_samples // n))])[:num_samples]
    z = torch.from_numpy(sample_codes(means[index], log_vars[index], rs)).float().to(device)
    mean_t, log_var_t = (torch.from_numpy(a).float().to(device) for a in (means, log_vars))
    index_t = torch.from_numpy(index).to(device)
    values = []
    for start in range(0, num_samples, chunk_size):
        zc, own = z[start:start + chunk_size], index_t[start:start + chunk_size]
        pairwise = gaussian_log_density(zc[:, None, :], mean_t[None], log_var_t[None])  # (b, N, D): log q(z_j|x_m)
        log_q_z = torch.logsumexp(pairwise.sum(2), dim=1) - math.log(n)
        log_prod_q_zj = (torch.logsumexp(pairwise, dim=1) - math.log(n)).sum(1)
        log_q_z_given_x = gaussian_log_density(zc, mean_t[own], log_var_t[own]).sum(1)
        log_p_z = gaussian_log_density(zc, torch.zeros_like(zc), torch.zeros_like(zc)).sum(1)
        values.append(torch.stack([log_q_z_given_x - log_q_z, log_q_z - log_prod_q_zj, log_prod_q_zj - log_p_z], 1))
    values = torch.cat(values).double().cpu().numpy()
    result = dict(zip(TERMS, values.mean(0).tolist()))
    result.update({f"{t}_se": s for t, s in zip(TERMS, (values.std(0) / math.sqrt(num_samples)).tolist())})
    return result


def estimator_study(means, log_vars, batch_sizes, num_batches: int = 100, estimators=ESTIMATORS,
                    dataset_size: int | None = None, random_state=0, device="cpu") -> pd.DataFrame:
    """Minibatch estimates of MI, TC and dimension-wise KL (`kl_decomposition`) against batch size.

    For each batch size B: `num_batches` batches of B distinct points drawn uniformly from the N
    posteriors, one z_i ~ q(z|x_i) each; every estimator sees the same batches. `dataset_size`
    (default N) is the N the estimators are told. Computed in float32, as in training, on `device` (the same
    draws on every device). Returns a long
    table with columns estimator, batch_size, term, mean, std (spread over batches), sem
    (std / sqrt(num_batches)), num_batches.
    """
    means, log_vars = _check_posteriors(means, log_vars)
    n = len(means)
    dataset_size = n if dataset_size is None else dataset_size
    batch_sizes = [int(b) for b in batch_sizes]
    if not batch_sizes or min(batch_sizes) < 2 or max(batch_sizes) > min(n, dataset_size):
        raise ValueError(f"batch_sizes={batch_sizes!r} is not allowed; use sizes in [2, {min(n, dataset_size)}] "
                         "(at most the number of posteriors and the dataset size)")
    num_batches = check_int("num_batches", num_batches, 2)
    unknown = [e for e in estimators if e not in ESTIMATORS]
    if unknown or not estimators:
        raise ValueError(f"estimators={estimators!r} is not allowed; use some of {ESTIMATORS}")
    device = get_device(device)
    rs = as_random_state(random_state)
    mean_t, log_var_t = (torch.from_numpy(a).float().to(device) for a in (means, log_vars))
    estimates = {(e, b): [] for e in estimators for b in batch_sizes}
    with torch.no_grad():
        for b in batch_sizes:
            for _ in range(num_batches):
                batch = rs.choice(n, size=b, replace=False)
                z = torch.from_numpy(sample_codes(means[batch], log_vars[batch], rs)).float().to(device)
                members = torch.from_numpy(batch).to(device)
                for e in estimators:
                    terms = kl_decomposition(z, mean_t[members], log_var_t[members], dataset_size, e)
                    estimates[e, b].append(torch.stack([terms[t] for t in TERMS]))
    estimates = {key: torch.stack(values).double().cpu().numpy() for key, values in estimates.items()}  # one sync
    rows = []
    for (e, b), values in estimates.items():
        values = np.asarray(values)
        for t, column in zip(TERMS, values.T):
            rows.append({"estimator": e, "batch_size": b, "term": t, "mean": column.mean(),
                         "std": column.std(ddof=1), "sem": column.std(ddof=1) / math.sqrt(num_batches),
                         "num_batches": num_batches})
    return pd.DataFrame(rows)


def aggregate_posterior_covariance(means, log_vars) -> tuple[np.ndarray, np.ndarray]:
    """(Cov[mu], Cov_q(z)): the covariance of the means and, by the law of total covariance,
    of the aggregate posterior, Cov_q(z) = Cov[mu(x)] + E[diag exp(log_var(x))] (biased, 1/N, as DIP-VAE)."""
    means, log_vars = _check_posteriors(means, log_vars)
    cov_mean = np.cov(means, rowvar=False, bias=True)
    return cov_mean, cov_mean + np.diag(np.exp(log_vars).mean(0))


def gaussian_tc_or_nan(codes) -> float:
    """`gaussian_total_correlation` of the codes, or nan for a degenerate representation (a constant or
    duplicated coordinate: a singular covariance, an infinite Gaussian TC) instead of raising."""
    try:
        return gaussian_total_correlation(codes)
    except ValueError:
        return float("nan")


def mean_and_sampled_tc(means, log_vars, random_state=0) -> dict[str, float]:
    """Gaussian TC of the mean codes and of one sampled code per point (`gaussian_tc_or_nan`: nan when degenerate)."""
    means, log_vars = _check_posteriors(means, log_vars)
    return {name: gaussian_tc_or_nan(codes)
            for name, codes in (("mean", means), ("sampled", sample_codes(means, log_vars, random_state)))}
