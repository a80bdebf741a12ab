"""A ground-truth dataset whose observation is its factor vector: the metrics' known-answer lab.

`FactorGrid((3, 6, 40, 32, 32))` has dSprites' factor sizes; an observation is the vector of factor
classes scaled to [0, 1] (class i of a factor with n values -> i / (n - 1)). Any function of the
factors is then a "representation" one can construct exactly (identity, rotated, entangled, ...),
so a metric can be checked against what it should say about it.
"""
from __future__ import annotations

import numpy as np

from course_lib.data.ground_truth import GroundTruthData


class FactorGrid(GroundTruthData):
    deterministic = True

    def __init__(self, factors_num_values=(3, 6, 40, 32, 32), factor_names=None):
        sizes = tuple(int(n) for n in factors_num_values)
        if not sizes or any(n < 2 for n in sizes):
            raise ValueError(f"factors_num_values={factors_num_values!r} is not allowed; use one or more sizes >= 2")
        names = tuple(factor_names) if factor_names is not None else tuple(f"factor_{k}" for k in range(len(sizes)))
        if len(names) != len(sizes):
            raise ValueError(f"factor_names={factor_names!r} is not allowed; give one name per factor ({len(sizes)})")
        self._sizes, self._names = sizes, names

    factor_names = property(lambda self: self._names)
    factors_num_values = property(lambda self: self._sizes)
    observation_shape = property(lambda self: (len(self._sizes),))

    def index_of(self, factors) -> np.ndarray:
        return np.ravel_multi_index(tuple(self.check_factors(factors).T), self._sizes)

    def factors_at(self, index) -> np.ndarray:
        return np.stack(np.unravel_index(np.asarray(index), self._sizes), axis=1).astype(np.int64)

    def sample_observations_from_factors(self, factors, random_state=None) -> np.ndarray:
        return (self.check_factors(factors) / (np.array(self._sizes) - 1)).astype(np.float32)
