"""A ground-truth dataset with two of its factors correlated (Träuble et al. 2021), sampled exactly on the grid.

Träuble et al. (On Disentangled Representations Learned from Correlated Data, ICML 2021) correlate a pair of
factors c1, c2, with values normalised to [0, 1], by drawing them from

    p(c1, c2) ∝ exp(-(c1 - α c2)² / (2 σ²)),

every other factor staying uniform and independent; σ sets the strength (σ → ∞: independent), α the slope.
On a discrete grid, with class i of a factor of n classes at value i / (n - 1), the pair is a categorical
over its n1 · n2 cells with these weights normalised: the joint the equation gives, so near the ends of
the diagonal the marginals are not uniform. Balabin et al. (Disentanglement Learning via Topology, ICML
2024) train TopDis on data correlated this way.

`CorrelatedFactors(dataset, factors, sigma, alpha)` wraps any GroundTruthData: same factors, same
observations, only `sample_factors` differs. For training, `grid_probabilities` gives the probability of
every flat grid index (row-major, as `DSprites.index_of`), which the torch batch sampler
(`course_lib.data.torch_sampler.GridBatchSampler`) draws from; it is None at σ = ∞, where batches and
factors are exactly those of the wrapped dataset.
"""
from __future__ import annotations

import math

import numpy as np

from course_lib.checks import check_choice, check_int, check_number
from course_lib.data.ground_truth import GroundTruthData
from course_lib.seeding import as_random_state


class CorrelatedFactors(GroundTruthData):
    """`dataset` with factors[0] = c1 and factors[1] = c2 drawn from p(c1, c2) ∝ exp(-(c1 - α c2)² / (2σ²)).

    Parameters
    ----------
    dataset : the GroundTruthData to wrap (e.g. DSprites("binary")); its observations are used as they are.
    factors : the names of the two factors to correlate, e.g. ("position_x", "position_y").
    sigma : the width σ > 0 of the band around c1 = α c2, in normalised units; math.inf: independent.
    alpha : the slope α (finite); 1 ties the two factors together along the diagonal.
    """

    def __init__(self, dataset, factors=("position_x", "position_y"), sigma: float = 0.2, alpha: float = 1.0):
        if not isinstance(dataset, GroundTruthData):
            raise ValueError(f"dataset={dataset!r} is not allowed; use a GroundTruthData (e.g. DSprites('binary'))")
        names = tuple(dataset.factor_names)
        if isinstance(factors, str) or not hasattr(factors, "__len__") or len(factors) != 2:
            raise ValueError(f"factors={factors!r} is not allowed; use a pair of factor names from {names}")
        first, second = (check_choice(f"factors[{i}]", name, names) for i, name in enumerate(factors))
        if first == second:
            raise ValueError(f"factors={tuple(factors)!r} is not allowed; use two different factors of {names}")
        self.sigma = check_number("sigma", sigma, 0, low_open=True, finite=False,
                                  note=" (math.inf: the pair independent)")
        self.alpha = check_number("alpha", alpha)
        self.dataset, self.factors = dataset, (first, second)
        self.columns = (names.index(first), names.index(second))

    factor_names = property(lambda self: self.dataset.factor_names)
    factors_num_values = property(lambda self: self.dataset.factors_num_values)
    observation_shape = property(lambda self: self.dataset.observation_shape)
    deterministic = property(lambda self: self.dataset.deterministic)
    factor_values = property(lambda self: self.dataset.factor_values)

    @property
    def independent(self) -> bool:
        """σ = ∞: the pair is uniform and independent, as in the wrapped dataset."""
        return math.isinf(self.sigma)

    @property
    def pair_probabilities(self) -> np.ndarray:
        """(n1, n2) float64: p(c1 = class i, c2 = class j), summing to 1 (uniform at σ = ∞).

        Computed from log-weights less their maximum, so a σ too small for any cell to lie near the
        line c1 = α c2 keeps the nearest cells instead of dividing 0 by 0."""
        n1, n2 = (self.factors_num_values[k] for k in self.columns)
        if self.independent:
            return np.full((n1, n2), 1.0 / (n1 * n2))
        c1, c2 = np.linspace(0, 1, n1)[:, None], np.linspace(0, 1, n2)[None, :]
        log_weights = -((c1 - self.alpha * c2) ** 2) / (2 * self.sigma**2)
        weights = np.exp(log_weights - log_weights.max())
        return weights / weights.sum()

    def pair_correlation(self) -> float:
        """Pearson's ρ of the normalised pair (c1, c2) under `pair_probabilities` (0 at σ = ∞)."""
        if self.independent:
            return 0.0
        joint = self.pair_probabilities
        c1, c2 = np.linspace(0, 1, joint.shape[0]), np.linspace(0, 1, joint.shape[1])
        p1, p2 = joint.sum(axis=1), joint.sum(axis=0)
        mean1, mean2 = p1 @ c1, p2 @ c2
        covariance = (c1 - mean1) @ joint @ (c2 - mean2)
        spread = math.sqrt((p1 @ (c1 - mean1) ** 2) * (p2 @ (c2 - mean2) ** 2))
        return float(covariance / spread) if spread > 0 else 0.0

    @property
    def grid_probabilities(self) -> np.ndarray | None:
        """The probability of each flat grid index (row-major, the last factor fastest), or None at σ = ∞.

        p(index) = p(c1, c2) / (number of combinations of the other factors): what the torch batch
        sampler draws from when it trains on this dataset."""
        if self.independent:
            return None
        sizes = self.factors_num_values
        shape = [1] * len(sizes)
        shape[self.columns[0]], shape[self.columns[1]] = sizes[self.columns[0]], sizes[self.columns[1]]
        joint = self.pair_probabilities
        table = joint if self.columns[0] < self.columns[1] else joint.T
        others = np.prod(sizes) // (sizes[self.columns[0]] * sizes[self.columns[1]])
        return np.broadcast_to(table.reshape(shape) / others, sizes).ravel()

    def sample_factors(self, num: int, random_state) -> np.ndarray:
        """(num, K) factors: the wrapped dataset's uniform draw, then the pair redrawn from `pair_probabilities`.

        At σ = ∞ nothing is redrawn: the same seed gives exactly the wrapped dataset's factors."""
        num = check_int("num", num, 0)
        random_state = as_random_state(random_state)
        factors = self.dataset.sample_factors(num, random_state)
        if self.independent:
            return factors
        joint = self.pair_probabilities
        cells = random_state.choice(joint.size, size=num, p=joint.ravel())
        factors[:, self.columns[0]], factors[:, self.columns[1]] = np.unravel_index(cells, joint.shape)
        return factors

    def sample_observations_from_factors(self, factors, random_state) -> np.ndarray:
        return self.dataset.sample_observations_from_factors(factors, random_state)

    def index_of(self, factors) -> np.ndarray:
        """Flat grid index of each row of factors, as the wrapped dataset numbers them."""
        return self.dataset.index_of(factors)

    def factors_at(self, index) -> np.ndarray:
        return self.dataset.factors_at(index)

    @property
    def packed_grid(self) -> np.ndarray:
        """The wrapped dataset's bit-packed grid (for the torch batch sampler)."""
        return self.dataset.packed_grid

    @property
    def variant(self) -> str:
        return self.dataset.variant

    def __repr__(self) -> str:
        return (f"CorrelatedFactors({type(self.dataset).__name__}, factors={self.factors}, sigma={self.sigma:g}, "
                f"alpha={self.alpha:g})")
