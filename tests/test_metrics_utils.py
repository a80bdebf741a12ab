import numpy as np
import pytest

from course_lib.metrics import (discrete_entropy, discrete_mutual_information, gaussian_total_correlation,
                                histogram_discretize)


def test_histogram_discretize_equal_width_bins():
    codes = np.column_stack([np.linspace(0, 1, 11), np.full(11, 3.0)])
    bins = histogram_discretize(codes, num_bins=5)
    np.testing.assert_array_equal(bins[:, 0], [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 4])
    assert np.all(bins[:, 1] == 0)  # a constant dimension
    reference = np.digitize(codes[:, 0], np.histogram(codes[:, 0], 5)[1][:-1]) - 1  # disentanglement_lib's way
    np.testing.assert_array_equal(bins[:, 0], reference)
    with pytest.raises(ValueError, match="num_bins=1"):
        histogram_discretize(codes, 1)


@pytest.mark.parametrize("num_values", [6, 21, 41, 61, 33, 100])
@pytest.mark.parametrize("scale, offset", [(1.0, 0.0), (0.3, -1.7), (7.0, 2.5)])
def test_values_on_bin_edges_fall_where_disentanglement_lib_puts_them(num_values, scale, offset):
    """Evenly spaced values hit the edges, where floor((x - min) / width * bins) and numpy.histogram's linspace edges
    can round differently (before, 3/5 of 0, 1/5, ..., 1 went to bin 12, disentanglement_lib's bin 11)."""
    values = offset + scale * np.linspace(0, 1, num_values)
    codes = np.column_stack([values, values[::-1] ** 3])
    reference = np.column_stack([np.digitize(column, np.histogram(column, 20)[1][:-1]) - 1 for column in codes.T])
    np.testing.assert_array_equal(histogram_discretize(codes), reference)


def test_entropy_and_mutual_information_known_answers():
    rng = np.random.RandomState(0)
    factors = rng.randint(4, size=(200_000, 2))
    assert discrete_entropy(factors) == pytest.approx([np.log(4)] * 2, abs=1e-3)
    codes = np.column_stack([factors[:, 0], rng.randint(3, size=200_000), factors[:, 1] // 2])
    mi = discrete_mutual_information(codes, factors)
    np.testing.assert_allclose(mi, [[np.log(4), 0], [0, 0], [0, np.log(2)]], atol=1e-3)


def test_gaussian_total_correlation_closed_forms():
    rng = np.random.RandomState(0)
    independent = rng.randn(200_000, 3) * [1.0, 5.0, 0.1]
    assert gaussian_total_correlation(independent) == pytest.approx(0.0, abs=1e-4)
    rho = 0.8
    a = rng.randn(200_000)
    correlated = np.column_stack([a, rho * a + np.sqrt(1 - rho**2) * rng.randn(200_000)])
    assert gaussian_total_correlation(correlated) == pytest.approx(-0.5 * np.log(1 - rho**2), rel=0.01)
    rotated = independent[:, :2] @ np.array([[np.cos(0.3), -np.sin(0.3)], [np.sin(0.3), np.cos(0.3)]])
    assert gaussian_total_correlation(rotated) > 0.1  # rotating unequal variances entangles them
    with pytest.raises(ValueError, match="singular"):
        gaussian_total_correlation(np.column_stack([a, a]))
