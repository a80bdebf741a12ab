"""RTD (Barannikov et al. 2022): cross-barcodes against a brute-force Z/2 reduction, the invariances RTD
must have, what it must detect, and the differentiable RTD's gradient against finite differences."""
import itertools

import numpy as np
import pytest
import torch

from course_lib.topology.rtd import (critical_entries, cross_barcode, cross_matrix, normalised_distances, rtd, rtd_loss,
                                     torch_cross_barcode)


# ------------------------------------------------------------------------------ brute force
def brute_force_h1(simplices):
    """Finite H1 bars of positive length of a filtered complex [(vertex tuple, value)], by the standard
    Z/2 column reduction (columns as Python-int bit sets). Faces must be listed with values <= cofaces'."""
    ordered = sorted(simplices, key=lambda s: (s[1], len(s[0]), s[0]))
    position = {vertices: i for i, (vertices, _) in enumerate(ordered)}
    columns, owner, bars = {}, {}, []
    for j, (vertices, value) in enumerate(ordered):
        if len(vertices) == 1:
            continue
        column = 0
        for face in itertools.combinations(vertices, len(vertices) - 1):
            column ^= 1 << position[face]
        while column and (column.bit_length() - 1) in owner:
            column ^= columns[owner[column.bit_length() - 1]]
        if column:
            low = column.bit_length() - 1
            owner[low], columns[j] = j, column
            birth = ordered[low][1]
            if len(vertices) == 3 and value > birth:
                bars.append((birth, value))
    return np.array(sorted(bars)).reshape(-1, 2)


def rips_simplices(matrix):
    """The Vietoris-Rips filtration of a distance matrix up to triangles."""
    n = len(matrix)
    simplices = [((v,), 0.0) for v in range(n)]
    simplices += [((i, j), matrix[i, j]) for i, j in itertools.combinations(range(n), 2)]
    simplices += [((i, j, k), max(matrix[i, j], matrix[i, k], matrix[j, k]))
                  for i, j, k in itertools.combinations(range(n), 3)]
    return simplices


def relative_simplices(w, b):
    """VR(b) on n vertices with a cone (apex n) over VR(w): H1 of it is H1(VR(b), VR(w)) for w >= b."""
    n = len(w)
    simplices = rips_simplices(b) + [((n,), 0.0)] + [((v, n), 0.0) for v in range(n)]
    return simplices + [((i, j, n), w[i, j]) for i, j in itertools.combinations(range(n), 2)]


def sorted_bars(bars):
    return np.array(sorted(map(tuple, np.asarray(bars)))).reshape(-1, 2)


def clouds(seed, n=10, noise=0.4):
    rs = np.random.RandomState(seed)
    a = rs.randn(n, 3)
    return a, a + noise * rs.randn(n, 3)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("mode", ["min", "max"])
def test_cross_barcode_equals_a_brute_force_reduction_of_the_rips_filtration(seed, mode):
    a, b = clouds(seed)  # 2 x 10 = 20 vertices, 1,140 triangles
    r_a, r_b = normalised_distances(a), normalised_distances(b)
    expected = brute_force_h1(rips_simplices(cross_matrix(r_a, r_b, mode)))
    bars = cross_barcode(a, b, mode=mode)
    assert len(expected) > 0
    np.testing.assert_allclose(sorted_bars(bars), expected, atol=1e-12)
    # ... and the relative homology H1(VR(min(r_a, r_b)), VR(r_a)) (max mode: of (r_b, max(r_a, r_b)))
    w, lower = (r_a, np.minimum(r_a, r_b)) if mode == "min" else (np.maximum(r_a, r_b), r_b)
    np.testing.assert_allclose(brute_force_h1(relative_simplices(w, lower)), expected, atol=1e-12)


def test_bars_come_longest_first_and_are_finite_and_positive():
    a, b = clouds(3, n=30)
    bars = cross_barcode(a, b)
    lengths = bars[:, 1] - bars[:, 0]
    assert np.all(np.isfinite(bars)) and np.all(lengths > 0)
    assert np.all(np.diff(lengths) <= 0)


# ------------------------------------------------------------------------------ invariances
def circle(n, rs, radius=1.0, centre=(0.0, 0.0), noise=0.02):
    angles = np.sort(rs.uniform(0, 2 * np.pi, n))
    return radius * np.c_[np.cos(angles), np.sin(angles)] + centre + noise * rs.randn(n, 2)


def test_rtd_is_zero_for_identical_rescaled_and_rigidly_moved_clouds():
    rs = np.random.RandomState(0)
    a = np.c_[circle(60, rs), 0.1 * rs.randn(60)]
    rotation, _ = np.linalg.qr(rs.randn(3, 3))  # orthogonal, possibly a reflection
    assert rtd(a, a) == 0.0
    for moved in (7.5 * a, a @ rotation.T + [3.0, -1.0, 2.0], 0.01 * a @ rotation.T - 5.0):
        assert rtd(a, moved) < 1e-9 and rtd(moved, a) < 1e-9


def test_rtd_sees_a_circle_become_two_circles():
    rs = np.random.RandomState(1)
    one = circle(60, rs)
    noisy = one + 0.01 * rs.randn(60, 2)
    two = np.r_[circle(30, rs, 0.5, (-1.5, 0.0)), circle(30, rs, 0.5, (1.5, 0.0))]
    assert rtd(one, two) > 0.5
    assert rtd(one, noisy) < 0.15 * rtd(one, two)  # noise leaves many short bars, the split one long one
    longest = lambda bars: np.max(bars[:, 1] - bars[:, 0])
    assert longest(cross_barcode(two, one)) > 10 * longest(cross_barcode(noisy, one))
    assert rtd(one, two) == pytest.approx(rtd(two, one))  # symmetric by definition


def test_rtd_on_subsets_is_seeded():
    a, b = clouds(4, n=80)
    first = rtd(a, b, num_points=40, num_trials=3, random_state=0)
    assert first == rtd(a, b, num_points=40, num_trials=3, random_state=0)
    assert first != rtd(a, b, num_points=40, num_trials=3, random_state=1)
    assert rtd(a, b, num_points=80) == rtd(a, b)


# ------------------------------------------------------------------------------ differentiable
def test_the_torch_barcode_and_loss_give_the_same_values():
    a, b = clouds(5, n=25)
    ta, tb = torch.tensor(a), torch.tensor(b)
    for mode in ("min", "max"):
        np.testing.assert_allclose(torch_cross_barcode(ta, tb, mode=mode).numpy(), cross_barcode(a, b, mode=mode),
                                   atol=1e-12)
    assert rtd_loss(ta, tb).item() == pytest.approx(rtd(a, b), abs=1e-12)
    top = cross_barcode(a, b)[:5]
    assert torch_cross_barcode(ta, tb, num_bars=5).numpy() == pytest.approx(top, abs=1e-12)


def test_critical_entries_find_each_endpoint_among_the_distances():
    a, b = clouds(6, n=12)
    r_a, r_b = normalised_distances(a), normalised_distances(b)
    bars = cross_barcode(a, b, mode="max")
    index = critical_entries(bars, r_a, r_b)
    np.testing.assert_array_equal(np.concatenate([r_a.ravel(), r_b.ravel()])[index], bars)
    with pytest.raises(RuntimeError, match="not a distance"):
        critical_entries(np.array([[0.123456789, 1.0]]), r_a, r_b)


def finite_difference(f, x, h=1e-6):
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        step = np.zeros_like(x)
        step[index] = h
        grad[index] = (f(x + step) - f(x - step)) / (2 * h)
    return grad


@pytest.mark.parametrize("modes, num_bars", [(("min",), None), (("min", "max"), 5)])
def test_gradient_of_the_differentiable_rtd_matches_finite_differences(modes, num_bars):
    a, b = clouds(7, n=12)
    ta, tb = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    loss = rtd_loss(ta, tb, modes=modes, num_bars=num_bars)
    loss.backward()
    value = lambda x, y: rtd_loss(torch.tensor(x), torch.tensor(y), modes=modes, num_bars=num_bars).item()
    assert np.abs(ta.grad.numpy()).max() > 1e-3  # not trivially zero
    np.testing.assert_allclose(ta.grad.numpy(), finite_difference(lambda x: value(x, b), a), atol=1e-6)
    np.testing.assert_allclose(tb.grad.numpy(), finite_difference(lambda y: value(a, y), b), atol=1e-6)


def test_gradient_is_finite_where_points_coincide_and_zero_for_a_rescaling():
    a, b = clouds(8, n=15)
    a[3] = a[4]  # a repeated point: a zero distance off the diagonal
    ta, tb = torch.tensor(a, requires_grad=True), torch.tensor(b)
    rtd_loss(ta, tb, modes=("min", "max")).backward()
    assert torch.isfinite(ta.grad).all()
    # RTD does not change when a is scaled, so the gradient has no component along a itself
    assert abs((ta.grad * ta.detach()).sum().item()) < 1e-9


# ------------------------------------------------------------------------------ errors
@pytest.mark.parametrize("call, match", [
    (lambda a: cross_barcode(a, a[:-1]), "same number of rows"),
    (lambda a: cross_barcode(a[:, 0], a[:, 0]), "2-D array"),
    (lambda a: cross_barcode(a, a, dim=3), "dim=3"),
    (lambda a: cross_barcode(a, a, mode="mean"), "mode='mean'"),
    (lambda a: rtd(a, a, num_trials=0), "num_trials=0"),
    (lambda a: rtd(a, a, num_points=1, random_state=0), "num_points=1"),
    (lambda a: rtd_loss(torch.tensor(a), torch.tensor(a), num_bars=0), "num_bars=0"),
    (lambda a: rtd_loss(torch.tensor(a), torch.tensor(a), modes=()), "modes=()"),
    (lambda a: rtd_loss(torch.tensor(a), torch.tensor(a), p=-1), "p=-1"),
])
def test_bad_arguments_raise_value_errors_that_name_them(call, match):
    with pytest.raises(ValueError, match=match.replace("(", r"\(").replace(")", r"\)")):
        call(np.random.RandomState(0).randn(10, 2))
