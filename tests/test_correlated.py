"""Correlated factors (Träuble et al. 2021): the sampled pair has the closed-form joint, the rest stays uniform."""
import math

import numpy as np
import pytest
import torch
from scipy import stats

from course_lib.data import CorrelatedFactors, FactorGrid
from course_lib.data.torch_sampler import GridBatchSampler
from course_lib.metrics import EncodedDataset
from course_lib.training import TrainConfig, train

NAMES = ("shape", "scale", "orientation")
GRID = FactorGrid((3, 8, 10), NAMES)  # small enough for every cell of the pair to be counted often


def chi_square_p(counts, probabilities) -> float:
    """p-value of Pearson's chi-square test of `counts` against `probabilities`, cells expected below 5 pooled."""
    counts, expected = np.ravel(counts), np.ravel(probabilities) * np.sum(counts)
    small = expected < 5
    observed = np.r_[counts[~small], counts[small].sum()] if small.any() else counts
    expected = np.r_[expected[~small], expected[small].sum()] if small.any() else expected
    return stats.chisquare(observed, expected).pvalue


def pair_counts(factors, columns, shape) -> np.ndarray:
    return np.bincount(np.ravel_multi_index(tuple(factors[:, list(columns)].T), shape),
                       minlength=int(np.prod(shape))).reshape(shape)


def test_the_pair_has_the_closed_form_joint():
    data = CorrelatedFactors(GRID, ("scale", "orientation"), sigma=0.3)
    c1, c2 = np.linspace(0, 1, 8)[:, None], np.linspace(0, 1, 10)[None, :]
    weights = np.exp(-(c1 - c2) ** 2 / (2 * 0.3**2))
    np.testing.assert_allclose(data.pair_probabilities, weights / weights.sum(), rtol=1e-12)
    factors = data.sample_factors(100_000, 0)
    counts = pair_counts(factors, (1, 2), (8, 10))
    assert chi_square_p(counts, data.pair_probabilities) > 1e-3
    assert 0.5 * np.abs(counts / 100_000 - data.pair_probabilities).sum() < 0.01  # total variation


def test_the_other_factors_stay_uniform_and_independent_of_the_pair():
    data = CorrelatedFactors(GRID, ("scale", "orientation"), sigma=0.2)
    factors = data.sample_factors(60_000, 1)
    assert chi_square_p(np.bincount(factors[:, 0], minlength=3), np.full(3, 1 / 3)) > 1e-3
    cells = np.ravel_multi_index((factors[:, 1], factors[:, 2]), (8, 10))
    table = np.array([np.bincount(cells[factors[:, 0] == s], minlength=80) for s in range(3)])
    assert stats.chi2_contingency(table[:, table.sum(axis=0) > 0]).pvalue > 1e-3


def test_the_order_of_the_pair_and_the_grid_probabilities_agree():
    data = CorrelatedFactors(GRID, ("orientation", "shape"), sigma=0.25, alpha=0.5)
    grid = data.grid_probabilities
    assert grid.shape == (240,) and grid.sum() == pytest.approx(1.0)
    factors = GRID.factors_at(np.arange(240))
    np.testing.assert_allclose(grid, data.pair_probabilities[factors[:, 2], factors[:, 0]] / 8)


def test_infinite_sigma_is_the_plain_dataset():
    data = CorrelatedFactors(GRID, ("scale", "orientation"), sigma=math.inf)
    np.testing.assert_array_equal(data.sample_factors(1000, 7), GRID.sample_factors(1000, 7))
    np.testing.assert_allclose(data.pair_probabilities, np.full((8, 10), 1 / 80))
    assert data.grid_probabilities is None and data.pair_correlation() == 0.0


def test_the_correlation_rises_as_sigma_falls():
    sigmas = (math.inf, 2.0, 1.0, 0.5, 0.3, 0.2, 0.1, 0.05)
    closed = [CorrelatedFactors(GRID, ("scale", "orientation"), sigma=s).pair_correlation() for s in sigmas]
    assert closed[0] == 0.0 and np.all(np.diff(closed) > 0) and closed[-1] > 0.95
    for sigma, rho in zip(sigmas[1:], closed[1:]):
        factors = CorrelatedFactors(GRID, ("scale", "orientation"), sigma=sigma).sample_factors(50_000, 2)
        assert np.corrcoef(factors[:, 1] / 7, factors[:, 2] / 9)[0, 1] == pytest.approx(rho, abs=0.015)
    assert CorrelatedFactors(GRID, ("scale", "orientation"), sigma=0.3, alpha=-1).pair_correlation() < 0


def test_same_seed_same_samples_and_observations_pass_through():
    data = CorrelatedFactors(GRID, ("scale", "orientation"), sigma=0.2)
    first, observations = data.sample(500, np.random.RandomState(3))
    again, _ = data.sample(500, np.random.RandomState(3))
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, data.sample_factors(500, 4))
    np.testing.assert_array_equal(observations, GRID.sample_observations_from_factors(first))
    assert (data.factor_names, data.factors_num_values, data.deterministic) == (NAMES, (3, 8, 10), True)


@pytest.mark.parametrize("arguments, message", [
    (dict(sigma=0), "sigma=0 is not allowed; use a positive number"),
    (dict(sigma=-0.5), "sigma=-0.5 is not allowed"),
    (dict(sigma=float("nan")), "sigma=nan is not allowed"),
    (dict(sigma="0.2"), "sigma='0.2' is not allowed"),
    (dict(sigma=True), "sigma=True is not allowed"),
    (dict(alpha=math.inf), "alpha=inf is not allowed; use a finite number"),
    (dict(factors=("scale", "scale")), "use two different factors of ('shape', 'scale', 'orientation')"),
    (dict(factors=("scale", "colour")), "factors[1]='colour' is not allowed; use one of ('shape', 'scale'"),
    (dict(factors="scale"), "factors='scale' is not allowed; use a pair of factor names"),
    (dict(factors=("shape", "scale", "orientation")), "use a pair of factor names"),
])
def test_bad_arguments_name_the_parameter_and_what_is_allowed(arguments, message):
    with pytest.raises(ValueError) as error:
        CorrelatedFactors(GRID, **{"factors": ("scale", "orientation"), **arguments})
    assert message in str(error.value)


def test_a_dataset_that_is_not_ground_truth_data_is_refused():
    with pytest.raises(ValueError, match=r"dataset=\[1, 2\] is not allowed; use a GroundTruthData"):
        CorrelatedFactors([1, 2])


def test_the_torch_sampler_draws_the_correlated_joint(dsprites):
    data = CorrelatedFactors(dsprites, ("position_x", "scale"), sigma=0.2)
    factors = dsprites.factors_at(GridBatchSampler(data, "cpu", seed=0).sample_index(100_000).numpy())
    assert chi_square_p(pair_counts(factors, (3, 1), (32, 6)), data.pair_probabilities) > 1e-3
    for column, size in ((0, 3), (2, 40), (4, 32)):
        assert chi_square_p(np.bincount(factors[:, column], minlength=size), np.full(size, 1 / size)) > 1e-3
    assert np.corrcoef(factors[:, 3] / 31, factors[:, 1] / 5)[0, 1] == pytest.approx(data.pair_correlation(), abs=0.01)


def test_the_torch_sampler_at_infinite_sigma_gives_the_plain_batches(dsprites):
    plain = GridBatchSampler(dsprites, "cpu", seed=3).sample(16)
    assert torch.equal(GridBatchSampler(CorrelatedFactors(dsprites, sigma=math.inf), "cpu", seed=3).sample(16), plain)


def test_training_and_cached_metrics_accept_the_correlated_dataset(dsprites, tmp_path):
    data = CorrelatedFactors(dsprites, sigma=0.2)
    run = train(TrainConfig(steps=3, batch_size=8, checkpoint_every=3), tmp_path, device="cpu", dataset=data,
                progress=False)
    assert run.step == 3 and len(run.log) == 3
    codes = EncodedDataset(data, lambda x: x.reshape(len(x), -1)[:, :4], progress=False)
    factors, observed = codes.sample(64, 0)
    images = dsprites.sample_observations_from_factors(factors, None)
    np.testing.assert_array_equal(observed, images.reshape(64, -1)[:, :4])
