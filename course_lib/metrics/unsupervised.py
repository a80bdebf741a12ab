"""Scores that need no ground-truth factors."""
from __future__ import annotations

import numpy as np


def gaussian_total_correlation(codes) -> float:
    """TC of the Gaussian fitted to the codes (Locatello et al. 2019, the unsupervised score).

    For z ~ N(mu, S): TC = KL(N(mu, S) || prod_d N(mu_d, S_dd)) = 1/2 (sum_d log S_dd - log det S).
    It is 0 exactly when S is diagonal, and -1/2 log(1 - rho^2) for two dimensions with correlation rho.
    """
    codes = np.asarray(codes, dtype=np.float64)
    if codes.ndim != 2 or codes.shape[0] < 2:
        raise ValueError(f"codes has shape {codes.shape}; expected (N, D) with N >= 2")
    covariance = np.atleast_2d(np.cov(codes, rowvar=False))
    eigenvalues = np.linalg.eigvalsh(covariance)
    if eigenvalues.min() <= 1e-10 * eigenvalues.max():
        raise ValueError("the codes' covariance is singular (a constant or duplicated dimension); TC is infinite")
    return float(0.5 * (np.log(np.diag(covariance)).sum() - np.log(eigenvalues).sum()))
