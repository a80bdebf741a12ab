"""Scores that need no ground-truth factors."""
from __future__ import annotations

import numpy as np

from course_lib.metrics.utils import check_codes, standardise


def gaussian_total_correlation(codes) -> float:
    """TC of the Gaussian fitted to the codes (Locatello et al. 2019, the unsupervised score).

    For z ~ N(mu, S): TC = KL(N(mu, S) || prod_d N(mu_d, S_dd)) = 1/2 (sum_d log S_dd - log det S).
    It is 0 exactly when S is diagonal, and -1/2 log(1 - rho^2) for two dimensions with correlation rho.
    TC does not change when a dimension is rescaled, so the codes are standardised first (finite for
    any finite codes).
    """
    codes = check_codes(codes)
    codes = standardise(codes, codes)[0]
    covariance = np.atleast_2d(np.cov(codes, rowvar=False))
    eigenvalues = np.linalg.eigvalsh(covariance)
    if eigenvalues.min() <= 1e-10 * eigenvalues.max():
        raise ValueError("the codes' covariance is singular (a constant or duplicated dimension); TC is infinite")
    return float(0.5 * (np.log(np.diag(covariance)).sum() - np.log(eigenvalues).sum()))
