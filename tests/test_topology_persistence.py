"""Persistent homology helpers: the textbook reduction agrees with gudhi; Betti numbers and curves."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from course_lib.lab.topology_plots import plot_barcode, plot_persistence_diagram, plot_rips_complex  # noqa: E402
from course_lib.topology.persistence import (betti_curve, betti_numbers, check_points, clip_bars,  # noqa: E402
                                             persistence_by_reduction, rips_barcodes, rips_filtration)


def circle(n, rng, radius=1.0, noise=0.0):
    angle = rng.uniform(0, 2 * np.pi, n)
    return radius * np.c_[np.cos(angle), np.sin(angle)] + noise * rng.randn(n, 2)


@pytest.mark.parametrize("seed", range(4))
def test_reduction_matches_gudhi_on_small_clouds(seed):
    rng = np.random.RandomState(seed)
    points = circle(18, rng, noise=0.15) if seed % 2 else rng.randn(18, 3)
    by_hand = persistence_by_reduction(rips_filtration(points, max_dimension=2))
    by_gudhi = rips_barcodes(points, max_homology_dimension=1)
    for k in (0, 1):
        np.testing.assert_allclose(by_hand[k], by_gudhi[k], rtol=0, atol=1e-12)


def test_reduction_from_a_distance_matrix_matches_points():
    rng = np.random.RandomState(1)
    points = rng.randn(12, 2)
    distances = np.linalg.norm(points[:, None] - points[None], axis=-1)
    from_points = persistence_by_reduction(rips_filtration(points))
    from_matrix = persistence_by_reduction(rips_filtration(distances=distances))
    for k in (0, 1):
        np.testing.assert_allclose(from_points[k], from_matrix[k])


def test_circle_has_one_long_loop_and_one_component():
    rng = np.random.RandomState(0)
    bars = rips_barcodes(circle(60, rng, noise=0.02))
    assert np.isinf(bars[0][:, 1]).sum() == 1  # one component never dies
    lengths = np.sort(bars[1][:, 1] - bars[1][:, 0])
    assert lengths[-1] > 1.0 and (len(lengths) == 1 or lengths[-2] < 0.2)  # one loop much longer than any other


def test_square_by_hand():
    """Four corners of a unit square: components merge at 1, the loop lives from 1 to sqrt(2)."""
    square = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], float)
    bars = persistence_by_reduction(rips_filtration(square))
    np.testing.assert_allclose(bars[0], [[0, 1], [0, 1], [0, 1], [0, np.inf]])
    np.testing.assert_allclose(bars[1], [[1, np.sqrt(2)]])


def test_betti_numbers_and_curves():
    bars = np.array([[0.0, 1.0], [0.5, np.inf], [2.0, 3.0]])
    assert betti_numbers(bars, 0.25) == 1
    np.testing.assert_array_equal(betti_numbers(bars, [0.0, 0.75, 1.0, 2.5, 10.0]), [1, 2, 1, 2, 1])
    scales, curve = betti_curve(bars, num=7, t_max=3.0)
    np.testing.assert_array_equal(scales, np.linspace(0, 3, 7))
    np.testing.assert_array_equal(curve, betti_numbers(bars, scales))
    np.testing.assert_array_equal(clip_bars(bars, 2.5), [[0.0, 1.0], [0.5, 2.5], [2.0, 2.5]])
    assert betti_numbers(np.zeros((0, 2)), 1.0) == 0


def test_bad_inputs_raise_naming_the_parameter():
    with pytest.raises(ValueError, match="points has shape"):
        check_points(np.zeros(5))
    with pytest.raises(ValueError, match="NaN"):
        rips_barcodes(np.array([[0.0, np.nan], [1.0, 1.0]]))
    with pytest.raises(ValueError, match="exactly one"):
        rips_barcodes()
    with pytest.raises(ValueError, match="max_homology_dimension"):
        rips_barcodes(np.zeros((3, 2)), max_homology_dimension=-1)
    with pytest.raises(ValueError, match="symmetric"):
        rips_filtration(distances=np.array([[0.0, 1.0], [2.0, 0.0]]))
    with pytest.raises(ValueError, match="before one of its faces"):
        persistence_by_reduction([((0,), 0.0), ((0, 1), 1.0), ((1,), 0.0)])
    with pytest.raises(ValueError, match="birth <= death"):
        betti_numbers(np.array([[1.0, 0.5]]), 0.7)


def test_plots_draw():
    rng = np.random.RandomState(0)
    points = circle(15, rng)
    fig, axes = plt.subplots(1, 3)
    bars = rips_barcodes(points)
    plot_barcode(bars, axes[0])
    plot_persistence_diagram(bars, axes[1])
    plot_rips_complex(points, 0.6, axes[2])
    assert axes[0].get_legend() is not None and len(axes[2].collections) >= 2
    plt.close(fig)
