"""Representations built by hand from the factors, with a known verdict, for testing metrics.

Each is an `encode` for `course_lib.data.FactorGrid`, whose observation x is the factor vector
scaled to [0, 1]: the codes are an exact function of the factors (plus, where named, noise drawn
once per call from the representation's own seeded stream).
"""
from __future__ import annotations

import numpy as np
from scipy.stats import special_ortho_group

from course_lib.seeding import as_random_state


def constructed_representations(factors_num_values, random_state=0, num_noise_dims: int = 2,
                                entanglement: float = 0.3) -> dict[str, callable]:
    """name -> encode, for the family the metrics notebook compares (K = len(factors_num_values) >= 2).

    perfect           c = x: one dimension per factor
    rotated           c = R x, R a random rotation: every dimension mixes every factor
    partially mixed   c = (I + e M) x, M with zero diagonal and entries ~ N(0, 1)/sqrt(K)
    noise dimensions  c = [x, noise]: extra dimensions that carry nothing
    split factor      the factor s with the most values on a circle, its n classes at the n distinct
                      angles phi = 2 pi i / n, in place of x_s: c = [..., cos phi, sin phi, ...]; neither alone
                      determines it (for dSprites, s = orientation, an angle anyway)
    duplicated        c = [x, x]: each factor in two identical dimensions
    missing factor    c = x without factor 0
    noise only        K dimensions of noise
    """
    sizes = np.asarray(factors_num_values)
    if sizes.ndim != 1 or len(sizes) < 2 or not np.issubdtype(sizes.dtype, np.integer) or (sizes < 2).any():
        raise ValueError(f"factors_num_values={factors_num_values!r} is not allowed; use >= 2 integer sizes >= 2")
    num_factors, split_factor = len(sizes), int(np.argmax(sizes))
    random_state = as_random_state(random_state)
    rotation = special_ortho_group.rvs(num_factors, random_state=random_state)
    mixing = random_state.randn(num_factors, num_factors) / np.sqrt(num_factors)
    np.fill_diagonal(mixing, 0.0)
    mixing = np.eye(num_factors) + entanglement * mixing
    noise = np.random.RandomState(random_state.randint(2**31))

    def with_noise(x, dims):
        return np.concatenate([x, noise.randn(len(x), dims)], axis=1)

    def split(x):
        n = sizes[split_factor]
        angle = 2 * np.pi * np.rint(x[:, split_factor] * (n - 1)) / n  # x = i / (n - 1) -> 2 pi i / n
        return np.column_stack([x[:, :split_factor], np.cos(angle), np.sin(angle), x[:, split_factor + 1:]])

    return {
        "perfect": lambda x: np.asarray(x, dtype=np.float64),
        "rotated": lambda x: x @ rotation.T,
        "partially mixed": lambda x: x @ mixing.T,
        "noise dimensions": lambda x: with_noise(x, num_noise_dims),
        "split factor": split,
        "duplicated": lambda x: np.concatenate([x, x], axis=1),
        "missing factor": lambda x: np.asarray(x[:, 1:], dtype=np.float64),
        "noise only": lambda x: noise.randn(len(x), num_factors),
    }
