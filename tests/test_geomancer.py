"""GeoManCER (Pfau et al. 2020): each step against a known answer, then the whole algorithm on
product manifolds whose factors we know."""
import itertools

import numpy as np
import pytest
import scipy.sparse as sp

from course_lib.analysis.geomancer import (GeomancerResult, cluster_directions, conjugation_blocks,
                                           connection_laplacian, connections, count_small_eigenvalues, ffdiag,
                                           geomancer, graph_edges, knn_graph, largest_principal_angle, local_tangents,
                                           off_diagonal_norm, subspace_angle_error, sym_traceless_basis,
                                           to_coefficients, to_matrices)
from course_lib.data.manifolds import flat_torus, haar_orthogonal, sample_product, sphere_product


def random_sym_traceless(rs, n, d):
    a = rs.standard_normal((n, d, d))
    a = a + a.transpose(0, 2, 1)
    return a - np.trace(a, axis1=1, axis2=2)[:, None, None] / d * np.eye(d)


# ------------------------------------------------------------------------------ the pieces
@pytest.mark.parametrize("d", [2, 3, 4, 6])
def test_sym_traceless_basis_is_orthonormal_symmetric_and_traceless(d):
    basis = sym_traceless_basis(d)
    p = d * (d + 1) // 2 - 1
    assert basis.shape == (p, d, d)
    flat = basis.reshape(p, -1)
    np.testing.assert_allclose(flat @ flat.T, np.eye(p), atol=1e-14)
    np.testing.assert_array_equal(basis, basis.transpose(0, 2, 1))
    np.testing.assert_allclose(np.trace(basis, axis1=1, axis2=2), 0, atol=1e-14)
    a = random_sym_traceless(np.random.RandomState(0), 5, d)  # the basis spans them all
    np.testing.assert_allclose(to_matrices(to_coefficients(a), d), a, atol=1e-12)


@pytest.mark.parametrize("d", [2, 4, 6])
def test_block_operator_is_conjugation(d):
    """R(Q) c(A) = c(Q A Qᵀ) for random symmetric traceless A and orthogonal Q (reflections too)."""
    rs = np.random.RandomState(d)
    q = haar_orthogonal(d, rs, num=20)  # half of them have det -1
    a = random_sym_traceless(rs, 20, d)
    blocks = conjugation_blocks(q)
    expected = to_coefficients(q @ a @ q.transpose(0, 2, 1))
    np.testing.assert_allclose(np.einsum("eab,eb->ea", blocks, to_coefficients(a)), expected, atol=1e-12)
    np.testing.assert_allclose(conjugation_blocks(q.transpose(0, 2, 1)), blocks.transpose(0, 2, 1), atol=1e-13)
    eye = np.broadcast_to(np.eye(len(blocks[0])), blocks.shape)
    np.testing.assert_allclose(blocks @ blocks.transpose(0, 2, 1), eye, atol=1e-12)  # an isometry


def test_knn_graph_is_symmetric_without_loops():
    data = np.random.RandomState(0).standard_normal((300, 5))
    graph = knn_graph(data, 6)
    assert (graph != graph.T).nnz == 0 and graph.diagonal().sum() == 0
    assert np.diff(graph.indptr).min() >= 6
    # j among the 6 nearest of i implies an edge
    dist = np.linalg.norm(data[:, None] - data[None], axis=2)
    np.fill_diagonal(dist, np.inf)
    nearest = np.argsort(dist, axis=1)[:, :6]
    assert all(graph[i, j] == 1 for i in range(0, 300, 37) for j in nearest[i])


def test_local_tangents_estimate_the_true_tangent_spaces():
    s = sphere_product(3000, (2, 2), random_state=0)
    tangents = local_tangents(s.points, knn_graph(s.points, 8), 4)
    np.testing.assert_allclose(np.einsum("nDi,nDj->nij", tangents, tangents), np.broadcast_to(np.eye(4), (3000, 4, 4)),
                               atol=1e-10)
    angles = largest_principal_angle(tangents, s.tangent_basis())
    assert np.median(angles) < 0.4  # a random 4-plane of R⁶ is typically ~ π/2 away


def test_connection_is_the_polar_factor():
    rs = np.random.RandomState(1)
    u = np.linalg.qr(rs.standard_normal((10, 7, 3)))[0]
    rows, cols = np.arange(9), np.arange(1, 10)
    q = connections(u, rows, cols)
    for e in range(9):
        m = u[rows[e]].T @ u[cols[e]]
        np.testing.assert_allclose(q[e] @ q[e].T, np.eye(3), atol=1e-12)
        s = q[e].T @ m  # M = Q S with S symmetric positive semi-definite
        np.testing.assert_allclose(s, s.T, atol=1e-12)
        assert np.linalg.eigvalsh((s + s.T) / 2).min() > -1e-12


@pytest.fixture(scope="module")
def small_laplacian():
    s = sphere_product(150, (2, 2), random_state=2)
    graph = knn_graph(s.points, 8)
    tangents = local_tangents(s.points, graph, 4)
    return graph, tangents, connection_laplacian(graph, tangents)


def test_laplacian_is_symmetric_positive_semidefinite(small_laplacian):
    _, _, laplacian = small_laplacian
    assert laplacian.shape == (150 * 9, 150 * 9)
    assert abs(laplacian - laplacian.T).max() == 0  # exactly symmetric
    dense = laplacian.toarray()
    values = np.linalg.eigvalsh(dense)
    assert values.min() > -1e-10 * values.max()


def test_laplacian_quadratic_form_is_the_transport_mismatch(small_laplacian):
    """Ωᵀ L Ω = Σ over edges of ‖Ω_i - Q_ij Ω_j Q_ijᵀ‖²."""
    graph, tangents, laplacian = small_laplacian
    rs = np.random.RandomState(3)
    omega = random_sym_traceless(rs, 150, 4)
    x = to_coefficients(omega).ravel()
    rows, cols = graph_edges(sp.triu(graph, 1).tocsr())
    q = connections(tangents, rows, cols)
    mismatch = omega[rows] - q @ omega[cols] @ q.transpose(0, 2, 1)
    np.testing.assert_allclose(x @ (laplacian @ x), (mismatch ** 2).sum(), rtol=1e-10)


def test_count_small_eigenvalues():
    assert count_small_eigenvalues([1e-3, 0.3, 0.31, 0.32, 0.5, 0.9]) == 1  # not drawn to 0.5 -> 0.9
    assert count_small_eigenvalues([0.2, 0.21, 1.0, 1.05]) == 2
    assert count_small_eigenvalues([-1e-17, 1e-16, 0.4, 0.5]) == 2
    assert count_small_eigenvalues([0.01, 0.3, 0.4], gap=0.005) == 0
    assert count_small_eigenvalues([0.01, 0.3, 0.4], gap=0.35) == 2


@pytest.mark.parametrize("groups", [(0, 0, 1, 1), (0, 0, 0, 1, 1, 2)])
def test_ffdiag_recovers_a_common_basis_with_tied_diagonals(groups):
    """Exactly tied diagonal entries (one factor's directions) must not produce 0/0."""
    rs = np.random.RandomState(0)
    groups = np.array(groups)
    d = len(groups)
    v = haar_orthogonal(d, rs, num=50)
    diagonals = rs.standard_normal((2, groups.max() + 1))[:, groups]  # (K, d), ties inside each group
    matrices = np.einsum("nba,kb,nbc->nkac", v, diagonals, v)  # C_k = Vᵀ diag(D_k) V
    with np.errstate(all="raise"):
        w = ffdiag(matrices)
    np.testing.assert_allclose(w @ w.transpose(0, 2, 1), np.broadcast_to(np.eye(d), (50, d, d)), atol=1e-12)
    rotated = np.einsum("nab,nkbc,ndc->nkad", w, matrices, w)
    assert off_diagonal_norm(rotated).max() < 1e-8
    found = np.sort(np.einsum("nkaa->nka", rotated), axis=2)
    np.testing.assert_allclose(found, np.broadcast_to(np.sort(diagonals, axis=1), found.shape), atol=1e-8)


def test_ffdiag_single_matrix_is_an_eigendecomposition():
    rs = np.random.RandomState(1)
    c = random_sym_traceless(rs, 30, 5)[:, None]
    w = ffdiag(c)
    diagonal = np.einsum("nab,nbc,nac->na", w, c[:, 0], w)
    np.testing.assert_allclose(np.sort(diagonal, 1), np.linalg.eigvalsh(c[:, 0]), atol=1e-10)


def test_cluster_directions_known_answer():
    # three factors (2 + 2 + 2 directions) whose diagonal vectors point 120° apart, in a shuffled order
    angles = np.array([0, 0, 2, 1, 2, 1]) * 2 * np.pi / 3
    psi = np.stack([np.cos(angles), np.sin(angles)])[None]
    labels, counts = cluster_directions(np.concatenate([psi, psi * 3.0]))
    np.testing.assert_array_equal(labels, [[0, 0, 1, 2, 1, 2]] * 2)
    np.testing.assert_array_equal(counts, [3, 3])
    labels, counts = cluster_directions(np.zeros((1, 1, 4)))  # zero vectors: every direction alone
    assert counts[0] == 4


def test_subspace_angle_error_known_answers():
    rs = np.random.RandomState(0)
    n = 40
    basis = np.linalg.qr(rs.standard_normal((n, 6, 6)))[0]
    true = [basis[:, :, :2], basis[:, :, 2:4], basis[:, :, 4:]]
    assert np.abs(subspace_angle_error([true[2], true[0], true[1]], true)).max() < 1e-7  # any order
    # turn the first subspace by θ towards an orthogonal direction of the third
    theta = 0.3
    turned = true[0].copy()
    turned[:, :, 1] = np.cos(theta) * true[0][:, :, 1] + np.sin(theta) * true[2][:, :, 0]
    third = true[2].copy()
    third[:, :, 0] = -np.sin(theta) * true[0][:, :, 1] + np.cos(theta) * true[2][:, :, 0]
    np.testing.assert_allclose(subspace_angle_error([turned, true[1], third], true), 2 * theta / 3, atol=1e-10)
    # the wrong number of subspaces is the largest error; so is a pair of different dimensions
    np.testing.assert_allclose(subspace_angle_error([basis[:, :, :3], basis[:, :, 3:]], true), np.pi / 2)
    uneven = [basis[:, :, :3], basis[:, :, 3:4], basis[:, :, 4:]]
    assert np.all(subspace_angle_error(uneven, true) >= np.pi / 6 - 1e-12)
    per_point = [[true[1][i], true[0][i], true[2][i]] for i in range(n)]
    assert subspace_angle_error(per_point, true).max() < 1e-7


# ------------------------------------------------------------------------------ the algorithm
@pytest.fixture(scope="module")
def s2s2():
    sample = sphere_product(5000, (2, 2), random_state=0)
    return sample, geomancer(sample.points, 4, random_state=0, progress=False)


def test_s2xs2_one_small_eigenvalue_and_two_planes(s2s2):
    sample, result = s2s2
    assert isinstance(result, GeomancerResult)
    values = result.eigenvalues
    assert len(values) == 10 and np.all(np.diff(values) >= -1e-12) and values[0] > -1e-9
    assert result.num_small == 1
    assert values[1] / values[0] > 5  # exactly one eigenvalue stands apart ...
    assert values[9] / values[1] < 1.5  # ... from a cluster
    assert result.num_factors == 2
    assert result.fraction_with((2, 2)) >= 0.95
    bases = result.subspaces[0]
    assert [b.shape for b in bases] == [(6, 2), (6, 2)]
    both = np.concatenate(bases, axis=1)
    np.testing.assert_allclose(both.T @ both, np.eye(4), atol=1e-10)
    error = subspace_angle_error(result, sample)
    assert error.shape == (5000,) and error.mean() < 0.3
    np.testing.assert_allclose(subspace_angle_error(result.subspaces, sample), error, atol=1e-12)


def test_error_falls_as_the_number_of_points_grows(s2s2):
    errors = []
    for n in (1000, 20_000):
        sample = sphere_product(n, (2, 2), random_state=0)
        errors.append(subspace_angle_error(geomancer(sample.points, 4, random_state=0, progress=False), sample).mean())
    sample, result = s2s2
    errors.insert(1, subspace_angle_error(result, sample).mean())
    assert errors[0] > errors[1] > errors[2], errors
    assert errors[2] < 0.17


def test_rotating_the_ambient_space_leaves_the_error_unchanged(s2s2):
    sample, result = s2s2
    turned = sphere_product(5000, (2, 2), rotate=True, random_state=0)  # the same points, rotated
    turned_result = geomancer(turned.points, 4, random_state=0, progress=False)
    np.testing.assert_allclose(turned_result.eigenvalues[:2], result.eigenvalues[:2], rtol=1e-6)
    np.testing.assert_allclose(turned_result.eigenvalues, result.eigenvalues, rtol=1e-2)  # the cluster: to ARPACK's tol
    error, turned_error = subspace_angle_error(result, sample), subspace_angle_error(turned_result, turned)
    assert abs(error.mean() - turned_error.mean()) < 1e-4
    assert np.median(np.abs(error - turned_error)) < 1e-4


def test_three_spheres_give_two_small_eigenvalues():
    sample = sphere_product(5000, (2, 2, 2), random_state=0)
    result = geomancer(sample.points, 6, random_state=0, progress=False)
    values = result.eigenvalues
    assert result.num_small == 2
    assert values[2] / values[1] > 1.2 > values[1] / values[0]
    assert result.num_factors == 3 and result.fraction_with((2, 2, 2)) > 0.9
    assert subspace_angle_error(result, sample).mean() < 0.65


def test_flat_torus_shows_no_gap():
    """Flat: every zero-trace field is parallel, so all p = 2 eigenvalues are ~0 and none stands apart."""
    sample = flat_torus(3000, random_state=0)
    values = geomancer(sample.points, 2, random_state=0, progress=False).eigenvalues
    assert values[1] / values[0] < 1.5  # no single eigenvalue apart (S² x S²: > 5)
    assert values[2] / values[1] > 20  # both are "small": the whole space of fields is parallel
    assert count_small_eigenvalues(values) == 2


def test_same_seed_same_result():
    sample = sample_product(600, ("S2", "S2"), random_state=4)
    a, b = (geomancer(sample.points, 4, random_state=3, progress=False) for _ in range(2))
    c = geomancer(sample.points, 4, random_state=np.random.RandomState(3), progress=False)
    for other in (b, c):
        np.testing.assert_array_equal(a.eigenvalues, other.eigenvalues)
        np.testing.assert_array_equal(a.directions, other.directions)
        np.testing.assert_array_equal(a.labels, other.labels)
    d = geomancer(sample.points, 4, random_state=4, progress=False)
    np.testing.assert_allclose(d.eigenvalues[:2], a.eigenvalues[:2], rtol=1e-4)  # another start, same answer


def test_one_factor_when_no_eigenvalue_is_below_the_gap():
    sample = sphere_product(300, (4,), random_state=0)  # S⁴: irreducible
    result = geomancer(sample.points, 4, gap=1e-9, random_state=0, progress=False)
    assert result.num_small == 0 and result.num_factors == 1
    assert result.subspaces[0][0].shape == (5, 4)


@pytest.mark.parametrize("kwargs, match", [
    (dict(manifold_dim=1), "manifold_dim=1"),
    (dict(manifold_dim=2.0), "manifold_dim=2.0"),
    (dict(manifold_dim=7), "manifold_dim=7"),
    (dict(n_neighbors=3), "n_neighbors=3"),
    (dict(n_neighbors=200), "n_neighbors=200"),
    (dict(n_eigvecs=1), "n_eigvecs=1"),
    (dict(gap=-1.0), "gap=-1.0"),
    (dict(gap=float("nan")), "gap=nan"),
    (dict(random_state=None), "random_state=None"),
    (dict(random_state=-1), "seed=-1"),
])
def test_bad_parameters_are_named(kwargs, match):
    data = sphere_product(100, (2, 2), random_state=0).points
    arguments = dict(manifold_dim=4, progress=False) | kwargs
    with pytest.raises(ValueError, match=match):
        geomancer(data, **arguments)


@pytest.mark.parametrize("data, match", [
    (np.zeros(10), "shape \\(10,\\)"),
    (np.zeros((3, 4, 2)), "2-D"),
    (np.array([[0.0, np.nan, 1, 2, 3, 4]] * 30), "NaN"),
    (np.array([["a"] * 6] * 30), "dtype"),
])
def test_bad_data_is_named(data, match):
    with pytest.raises(ValueError, match=match):
        geomancer(data, 4, progress=False)


def test_result_lists_match_directions_and_labels(s2s2):
    _, result = s2s2
    for i in (0, 17, 4999):
        bases = result.subspaces[i]
        for f, basis in enumerate(bases):
            np.testing.assert_array_equal(basis, result.directions[i][:, result.labels[i] == f])
    counts = [len(b) for b in result.subspaces]
    np.testing.assert_array_equal(counts, result.counts)
    assert list(itertools.islice(result.timings, 6)) == ["graph", "tangents", "laplacian", "eigensolver", "ffdiag",
                                                          "clusters"]
