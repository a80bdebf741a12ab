"""Shared pieces of the metrics: discretising codes, entropies and mutual information (nats).

Arrays follow the kit's convention: codes (N, D) float, factors (N, K) int class indices.
"""
from __future__ import annotations

import numpy as np
from sklearn.metrics import mutual_info_score


def histogram_discretize(codes, num_bins: int = 20) -> np.ndarray:
    """Each code dimension cut into `num_bins` equal-width bins over its sample range: int (N, D) in [0, num_bins).

    disentanglement_lib's `_histogram_discretize` makes the same partition (it numbers bins from 1).
    A constant dimension falls entirely into bin 0.
    """
    codes = np.asarray(codes, dtype=np.float64)
    if codes.ndim != 2:
        raise ValueError(f"codes has shape {codes.shape}; expected (N, D)")
    if isinstance(num_bins, bool) or not isinstance(num_bins, (int, np.integer)) or num_bins < 2:
        raise ValueError(f"num_bins={num_bins!r} is not allowed; use an integer >= 2")
    low, high = codes.min(axis=0), codes.max(axis=0)
    width = np.where(high > low, high - low, 1.0)
    return np.clip(np.floor((codes - low) / width * num_bins), 0, num_bins - 1).astype(np.int64)


def discrete_entropy(labels) -> np.ndarray:
    """Empirical entropy H(y_k) in nats of each column of an int (N, K) array. Shape (K,)."""
    labels = np.asarray(labels)
    return np.array([mutual_info_score(column, column) for column in labels.T])


def discrete_mutual_information(codes_discrete, factors) -> np.ndarray:
    """I(c_d; y_k) in nats for every code dimension d and factor k: shape (D, K)."""
    codes_discrete, factors = np.asarray(codes_discrete), np.asarray(factors)
    if len(codes_discrete) != len(factors):
        raise ValueError(f"codes ({len(codes_discrete)} rows) and factors ({len(factors)} rows) must pair up")
    return np.array([[mutual_info_score(factor, code) for factor in factors.T] for code in codes_discrete.T])
