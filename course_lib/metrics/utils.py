"""Shared pieces of the metrics: discretising codes, entropies and mutual information (nats).

Arrays follow the kit's convention: codes (N, D) float, factors (N, K) int class indices.
"""
from __future__ import annotations

import numpy as np
from sklearn.metrics import mutual_info_score

from course_lib.checks import check_int


def check_codes(codes, name: str = "codes", min_dims: int = 1) -> np.ndarray:
    """`codes` as a finite float64 (N, D) array with N >= 2, or a ValueError naming what is wrong."""
    array = np.asarray(codes, dtype=np.float64)
    if array.ndim != 2 or array.shape[0] < 2 or array.shape[1] < min_dims:
        raise ValueError(f"{name} has shape {array.shape}; expected (N, D) with N >= 2 and D >= {min_dims}")
    if not np.isfinite(array).all():
        row, col = np.argwhere(~np.isfinite(array))[0]
        raise ValueError(f"{name}[{row}, {col}] = {array[row, col]}; codes must be finite")
    return array


def check_factor_labels(factors, num_rows: int, name: str = "factors") -> np.ndarray:
    """`factors` as an int64 (N, K) array of class indices with N = num_rows and >= 2 values per factor."""
    array = np.asarray(factors)
    if array.ndim != 2 or array.shape[0] != num_rows or array.shape[1] < 1:
        raise ValueError(f"{name} has shape {array.shape}; expected ({num_rows}, K), one row per code")
    if not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"{name} has dtype {array.dtype}; factors are integer class indices")
    single = [k for k in range(array.shape[1]) if np.unique(array[:, k]).size < 2]
    if single:
        raise ValueError(f"{name} column {single[0]} takes a single value; every factor needs >= 2 values")
    return array.astype(np.int64)


def check_continuous_factors(factors, num_rows: int, name: str = "factors") -> np.ndarray:
    """`factors` as a finite float64 (N, K) array with N = num_rows, no column constant (continuous factor values)."""
    array = np.asarray(factors, dtype=np.float64)
    if array.ndim != 2 or array.shape[0] != num_rows or array.shape[1] < 1:
        raise ValueError(f"{name} has shape {array.shape}; expected ({num_rows}, K), one row per code")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} holds non-finite values; factor values must be finite")
    constant = np.flatnonzero(array.max(axis=0) == array.min(axis=0))
    if constant.size:
        raise ValueError(f"{name} column {constant[0]} takes a single value; every factor needs >= 2 values")
    return array


def check_codes_and_factors(codes, factors, split: str = "", min_dims: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Validate a (codes, factors) pair of arrays; `split` ("_train", "_test") names them in errors."""
    codes = check_codes(codes, f"codes{split}", min_dims)
    return codes, check_factor_labels(factors, len(codes), f"factors{split}")


def check_train_test(codes_train, factors_train, codes_test, factors_test, min_dims: int = 1):
    """Validate the four arrays of a train/test metric; train and test must have the same D and K."""
    codes_train, factors_train = check_codes_and_factors(codes_train, factors_train, "_train", min_dims)
    codes_test, factors_test = check_codes_and_factors(codes_test, factors_test, "_test", min_dims)
    if codes_test.shape[1] != codes_train.shape[1] or factors_test.shape[1] != factors_train.shape[1]:
        raise ValueError(f"train and test disagree: codes {codes_train.shape[1]} vs {codes_test.shape[1]} "
                         f"dimensions, factors {factors_train.shape[1]} vs {factors_test.shape[1]} columns")
    return codes_train, factors_train, codes_test, factors_test


def standardise(codes_train, codes_test) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) codes minus the training mean, over the training standard deviation, per dimension.

    Each dimension is first divided by its largest training magnitude: the result is the same, and
    the arithmetic stays finite for any finite codes (squares of 1e300 overflow). A constant
    dimension is divided by 1."""
    magnitude = np.abs(codes_train).max(axis=0)
    magnitude[magnitude == 0] = 1.0
    codes_train, codes_test = codes_train / magnitude, codes_test / magnitude
    mean, scale = codes_train.mean(axis=0), codes_train.std(axis=0)
    scale[scale == 0] = 1.0
    return (codes_train - mean) / scale, (codes_test - mean) / scale


def mean_top_two_gap(scores, normaliser=None) -> float:
    """Mean over factors (columns) of the gap between the two largest scores across codes (rows).

    MIG and SAP both end this way: sum_k (s_(1)k - s_(2)k) / normaliser_k / K."""
    top_two = np.sort(np.asarray(scores), axis=0)[-2:]
    gaps = top_two[1] - top_two[0]
    return float(np.mean(gaps if normaliser is None else gaps / normaliser))


def histogram_discretize(codes, num_bins: int = 20) -> np.ndarray:
    """Each code dimension cut into `num_bins` equal-width bins over its sample range: int (N, D) in [0, num_bins).

    The edges are numpy.histogram's (`linspace(min, max, num_bins + 1)`), so a value on an edge falls where
    disentanglement_lib's `_histogram_discretize` puts it (it numbers bins from 1); the last bin holds the
    maximum. A constant dimension falls entirely into bin 0.
    """
    codes = np.asarray(codes, dtype=np.float64)
    if codes.ndim != 2:
        raise ValueError(f"codes has shape {codes.shape}; expected (N, D)")
    num_bins = check_int("num_bins", num_bins, 2)
    low, high = codes.min(axis=0), codes.max(axis=0)
    inner_edges = np.linspace(low, high, num_bins + 1)[1:-1]  # (num_bins - 1, D)
    bins = np.zeros(codes.shape, dtype=np.int64)
    for d in np.flatnonzero(high > low):
        bins[:, d] = np.searchsorted(inner_edges[:, d], codes[:, d], side="right")
    return bins


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
