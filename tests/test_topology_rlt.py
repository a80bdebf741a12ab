"""Relative living times and the Geometry Score (Khrulkov & Oseledets 2018): known answers,
agreement with gudhi's witness complex and with the reference's RLT arithmetic, seeds and workers."""
import itertools

import numpy as np
import pytest

from course_lib.topology.rlt import (default_gamma, draw_landmarks, geometry_score, mean_rlt, relative_living_times,
                                     rlt, rlts, witness_complex_at, witness_h1_bars)
from course_lib.lab.topology_plots import plot_mrlt


def circle(n, rng, center=(0.0, 0.0), radius=1.0, noise=0.0):
    angle = rng.uniform(0, 2 * np.pi, n)
    return np.c_[center[0] + radius * np.cos(angle), center[1] + radius * np.sin(angle)] + noise * rng.randn(n, 2)


@pytest.fixture(scope="module")
def clouds():
    rng = np.random.RandomState(0)
    n = 400
    return {
        "circle": circle(n, rng),
        "two circles": np.r_[circle(n // 2, rng, (-1.5, 0)), circle(n // 2, rng, (1.5, 0))],
        "figure eight": np.r_[circle(n // 2, rng, (-1, 0)), circle(n // 2, rng, (1, 0))],
    }


def midpoint_rlt(bars, alpha_max, i_max):
    """The reference's arithmetic: for each segment between end points, count the bars around its midpoint."""
    bars = [[b, alpha_max if np.isinf(d) else d] for b, d in bars]
    out = np.zeros(i_max)
    if not bars:
        out[0] = 1.0
        return out
    ends = np.unique(np.array(bars + [[0.0, alpha_max]]).ravel())
    for left, right in zip(ends[:-1], ends[1:]):
        count = sum(1 for b, d in bars if b <= (left + right) / 2 < d)
        if count < i_max:
            out[count] += right - left
    return out / alpha_max


def test_rlt_of_constructed_bars():
    # beta_1 = 1 on [0, .25), 2 on [.25, .5), 1 on [.5, 1] (the infinite bar is cut at alpha_max = 1)
    np.testing.assert_allclose(relative_living_times([[0, 0.5], [0.25, np.inf]], 1.0, 4), [0, 0.75, 0.25, 0])
    np.testing.assert_array_equal(relative_living_times(np.zeros((0, 2)), 1.0, 5), [1, 0, 0, 0, 0])  # no H1 -> e0
    np.testing.assert_allclose(relative_living_times([[0.5, 2.0], [1.5, 3.0]], 1.0, 3), [0.5, 0.5, 0])  # cut at 1
    # three bars alive together at [0.2, 0.3): with i_max = 3 that time is not recorded
    bars = [[0.0, 0.3], [0.1, 0.4], [0.2, 0.5]]
    row = relative_living_times(bars, 1.0, 3)
    np.testing.assert_allclose(row, [0.5, 0.2, 0.2])
    assert row.sum() < 1


@pytest.mark.parametrize("seed", range(5))
def test_vectorised_rlt_equals_the_midpoint_count(seed):
    rng = np.random.RandomState(seed)
    births = rng.uniform(0, 1, 12)
    deaths = np.minimum(births + rng.exponential(0.2, 12), 1.2)  # a witness complex cut at alpha_max = 1.2
    deaths[rng.rand(12) < 0.2] = np.inf
    bars = np.c_[births, deaths]
    for i_max in (2, 5, 100):
        np.testing.assert_allclose(relative_living_times(bars, 1.2, i_max), midpoint_rlt(bars, 1.2, i_max),
                                   rtol=0, atol=1e-12)


@pytest.mark.parametrize("name, holes", [("circle", 1), ("two circles", 2), ("figure eight", 2)])
def test_mean_rlt_peaks_at_the_number_of_holes(clouds, name, holes):
    draws = rlts(clouds[name], n_landmarks=32, gamma=1 / 8, n_draws=12, random_state=0, progress=False)
    assert np.argmax(mean_rlt(draws)) == holes
    np.testing.assert_allclose(draws.sum(axis=1), 1.0)  # beta_1 stays below i_max: rows sum to 1


def test_no_loop_gives_e0():
    segment = np.c_[np.linspace(0, 1, 200), np.zeros(200)]
    np.testing.assert_array_equal(rlt(segment, n_landmarks=16, gamma=1 / 8, i_max=10, random_state=0),
                                  np.eye(10)[0])


def test_geometry_score_is_symmetric_and_zero_on_itself(clouds):
    settings = dict(n_landmarks=32, gamma=1 / 8, n_draws=8, progress=False)
    one = rlts(clouds["circle"], random_state=0, **settings)
    two = rlts(clouds["two circles"], random_state=1, **settings)
    assert geometry_score(one, one) == 0.0
    assert geometry_score(one, two) == geometry_score(two, one) > 0.5
    with pytest.raises(ValueError, match="i_max"):
        geometry_score(one, two[:, :10])


def test_numpy_engine_builds_gudhis_complex():
    """Same simplices, same filtration values, so identical RLTs (duplicated landmarks included)."""
    rng = np.random.RandomState(3)
    points = {"plane": rng.rand(300, 2), "64-d": rng.randn(300, 64),
              "grid": np.array(list(itertools.product(range(10), range(10))), float)}
    for name, cloud in points.items():
        for gamma, n_landmarks in ((None, 40), (0.02, 3), (1 / 8, 24)):
            a = rlts(cloud, n_landmarks, gamma, n_draws=3, random_state=5, progress=False)
            b = rlts(cloud, n_landmarks, gamma, n_draws=3, random_state=5, engine="gudhi", progress=False)
            np.testing.assert_array_equal(a, b, err_msg=f"{name}, gamma={gamma}, L={n_landmarks}")
    bars, alpha = witness_h1_bars(points["plane"], np.arange(0, 300, 10), 0.05)
    gudhi_bars, gudhi_alpha = witness_h1_bars(points["plane"], np.arange(0, 300, 10), 0.05, engine="gudhi")
    assert alpha == gudhi_alpha and np.array_equal(bars, gudhi_bars)


def test_same_seed_same_values_and_landmarks_as_drawn_by_the_reference(clouds):
    points = clouds["figure eight"]
    first = rlts(points, n_landmarks=16, n_draws=4, random_state=7, progress=False)
    np.testing.assert_array_equal(first, rlts(points, n_landmarks=16, n_draws=4,
                                              random_state=np.random.RandomState(7), progress=False))
    state = np.random.RandomState(7)
    singles = [rlt(points, n_landmarks=16, random_state=state) for _ in range(4)]
    np.testing.assert_array_equal(first, np.stack(singles))
    # the reference draws np.random.choice(N, L) draw after draw
    np.random.seed(7)
    expected = np.stack([np.random.choice(len(points), 16) for _ in range(4)])
    np.testing.assert_array_equal(draw_landmarks(len(points), 16, 4, 7), expected)
    assert default_gamma(5000) == 1 / 128


def test_parallel_draws_give_identical_values(clouds):
    points = clouds["two circles"]
    sequential = rlts(points, n_landmarks=24, gamma=1 / 16, n_draws=6, random_state=3, progress=False)
    parallel = rlts(points, n_landmarks=24, gamma=1 / 16, n_draws=6, random_state=3, n_jobs=2, progress=False)
    np.testing.assert_array_equal(sequential, parallel)


def test_witness_complex_at_grows_with_alpha(clouds):
    landmarks, edges, triangles = witness_complex_at(clouds["circle"], np.arange(0, 400, 20), 0.0)
    _, more_edges, more_triangles = witness_complex_at(clouds["circle"], np.arange(0, 400, 20), 0.5)
    assert landmarks.shape == (20, 2) and 0 < len(edges) <= len(more_edges) and len(triangles) <= len(more_triangles)


@pytest.mark.parametrize("kwargs, match", [
    (dict(n_landmarks=1), "n_landmarks=1"), (dict(gamma=0.0), "gamma=0.0"), (dict(gamma=-1), "gamma=-1"),
    (dict(i_max=0), "i_max=0"), (dict(n_draws=0), "n_draws=0"), (dict(n_jobs=0), "n_jobs=0"),
    (dict(engine="ripser"), "engine='ripser'"), (dict(random_state=None), "random_state=None"),
])
def test_bad_arguments_raise_before_work(kwargs, match):
    with pytest.raises(ValueError, match=match):
        rlts(np.random.RandomState(0).rand(20, 2), **{"n_draws": 1, "progress": False, **kwargs})


def test_bad_points_raise():
    with pytest.raises(ValueError, match="points has shape"):
        rlt(np.zeros(10))
    with pytest.raises(ValueError, match="at least 2"):
        rlt(np.zeros((1, 2)))
    with pytest.raises(ValueError, match="NaN"):
        rlt(np.array([[0.0, 1.0], [np.inf, 0.0]]))


def test_plot_mrlt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ax = plot_mrlt(np.r_[0.2, 0.7, 0.1, np.zeros(7)], label="circle")
    assert ax.get_legend() is not None
    plt.close("all")
