"""GeoManCER (Pfau et al. 2020): each step against a known answer, then the whole algorithm on
product manifolds whose factors we know."""
import itertools

import numpy as np
import pytest
import scipy.sparse as sp

from course_lib.analysis.geomancer import (GeomancerResult, circle_eigenvalues, circle_heat_kernel,
                                           cluster_directions, conjugation_blocks, connection_laplacian, connections,
                                           count_small_eigenvalues, diffusion_kernel, eigenspace_angles, ffdiag,
                                           geomancer, graph_edges, heat_diffusion, knn_graph,
                                           laplace_beltrami_eigenpairs, laplacian_storage_bytes,
                                           largest_principal_angle, local_tangents, off_diagonal_norm,
                                           product_eigenpairs, second_order_block_size, subspace_angle_error,
                                           sym_traceless_basis, to_coefficients, to_matrices)
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


# ------------------------------------------------------------------------------ limits: the cost in d
@pytest.mark.parametrize("d", range(1, 9))
def test_second_order_block_size_counts_symmetric_two_tensors(d):
    assert second_order_block_size(d, traceless=False) == d * (d + 1) // 2  # dim Sym²(R^d)
    assert second_order_block_size(d) == d * (d + 1) // 2 - 1
    if d >= 2:
        assert second_order_block_size(d) == len(sym_traceless_basis(d))


def test_block_size_and_storage_are_those_of_the_laplacian(small_laplacian):
    graph, _, laplacian = small_laplacian
    assert laplacian.blocksize == (second_order_block_size(4),) * 2 == (9, 9)
    used = laplacian.data.nbytes + laplacian.indices.nbytes + laplacian.indptr.nbytes
    assert laplacian_storage_bytes(graph, 4) == used
    assert laplacian_storage_bytes(graph, 4) >= (150 + graph.nnz) * 81 * 8


@pytest.mark.parametrize("call, match", [
    (lambda: second_order_block_size(0), "d=0"),
    (lambda: second_order_block_size(3, traceless=1), "traceless=1"),
    (lambda: circle_eigenvalues(0), "num=0"),
    (lambda: circle_heat_kernel(0.0, 0.0), "time=0.0"),
    (lambda: product_eigenpairs([0, 1], [0, 1], 5), "num=5"),
    (lambda: product_eigenpairs([0, 1], [0, 1], 2, np.ones((3, 2)), np.ones((4, 2))), "vectors_a"),
    (lambda: eigenspace_angles(np.ones((5, 2)), np.ones((5, 3)), [0, 1]), "vectors"),
    (lambda: diffusion_kernel(np.zeros((10, 2)), 0.0), "bandwidth=0.0"),
    (lambda: diffusion_kernel(np.zeros((10, 2)), 0.1, alpha=2), "alpha=2"),
    (lambda: diffusion_kernel(np.arange(20.0).reshape(10, 2), 1e-4), "no neighbour"),
    (lambda: laplace_beltrami_eigenpairs(np.random.RandomState(0).standard_normal((30, 2)), 29, 1.0), "num=29"),
    (lambda: heat_diffusion(sp.identity(5, format="csr"), 5, 1.0, 0.1), "source=5"),
    (lambda: heat_diffusion(sp.identity(5, format="csr"), 0, 0.01, 0.1), "time=0.01"),
])
def test_bad_arguments_of_the_limits_are_named(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# ------------------------------------------------------------------------------ limits: Laplace–Beltrami
def test_circle_closed_forms():
    np.testing.assert_array_equal(circle_eigenvalues(7), [0, 1, 1, 4, 4, 9, 9])
    theta = np.linspace(-np.pi, np.pi, 2001)[:-1]
    for t in (0.05, 0.5, 3.0):
        p = circle_heat_kernel(theta, t)
        assert p.min() > -1e-15  # positive, up to rounding where it is e^-49 small
        np.testing.assert_allclose(p.mean() * 2 * np.pi, 1.0, rtol=1e-12)  # a probability density
        wrapped = sum(np.exp(-(theta + 2 * np.pi * k) ** 2 / (4 * t)) for k in range(-6, 7)) / np.sqrt(4 * np.pi * t)
        np.testing.assert_allclose(p, wrapped, rtol=1e-10, atol=1e-14)  # Poisson summation
    # the semigroup: p_s * p_t = p_{s+t} (circular convolution, exact on a uniform grid)
    step = 2 * np.pi / len(theta)
    convolved = np.real(np.fft.ifft(np.fft.fft(circle_heat_kernel(theta, 0.2)) *
                                    np.fft.fft(np.fft.ifftshift(circle_heat_kernel(theta, 0.3))))) * step
    np.testing.assert_allclose(convolved, circle_heat_kernel(theta, 0.5), atol=1e-12)
    np.testing.assert_allclose(circle_heat_kernel(theta, 40.0), 1 / (2 * np.pi), rtol=1e-12)


def test_product_eigenpairs_are_those_of_the_kronecker_sum():
    """Δ = Δ_a ⊗ I + I ⊗ Δ_b: eigenvalues add, eigenvectors are products, the heat flow factorises."""
    from scipy.linalg import expm

    rs = np.random.RandomState(0)
    laplacians = []
    for n in (4, 3):
        w = np.triu(rs.uniform(0.1, 1.0, (n, n)), 1)
        w = w + w.T
        laplacians.append(np.diag(w.sum(1)) - w)
    (la, va), (lb, vb) = (np.linalg.eigh(lap) for lap in laplacians)
    whole = np.kron(laplacians[0], np.eye(3)) + np.kron(np.eye(4), laplacians[1])
    # a point of the 4 x 3 grid is (p, q), row 3p + q: factor a's value at it is va[p], factor b's vb[q]
    values, pairs, vectors = product_eigenpairs(la, lb, 12, np.repeat(va, 3, axis=0), np.tile(vb, (4, 1)))
    np.testing.assert_allclose(values, np.linalg.eigvalsh(whole), atol=1e-12)
    np.testing.assert_allclose(values, la[pairs[:, 0]] + lb[pairs[:, 1]], atol=0)
    np.testing.assert_allclose(whole @ vectors, vectors * values, atol=1e-12)
    t = 0.7
    heat = (vectors * np.exp(-t * values)) @ vectors.T
    np.testing.assert_allclose(heat, expm(-t * whole), atol=1e-12)
    np.testing.assert_allclose(heat, np.kron(expm(-t * laplacians[0]), expm(-t * laplacians[1])), atol=1e-12)
    assert product_eigenpairs(la, lb, 3)[2] is None


def test_diffusion_kernel_is_symmetric_without_loops_and_alpha_zero_is_gaussian():
    x = sample_product(300, ("S1", "S1"), random_state=0).points
    plain = diffusion_kernel(x, 0.05, alpha=0.0)
    assert abs(plain - plain.T).max() == 0 and plain.diagonal().max() == 0
    i, j = plain.nonzero()
    np.testing.assert_allclose(plain[i, j].A1, np.exp(-np.sum((x[i] - x[j]) ** 2, 1) / 0.2), rtol=1e-12)
    normalised = diffusion_kernel(x, 0.05)
    q = np.asarray(plain.sum(1)).ravel()
    np.testing.assert_allclose(normalised[i, j].A1, plain[i, j].A1 / (q[i] * q[j]), rtol=1e-12)


def test_circle_graph_laplacian_has_eigenvalues_n_squared():
    circle = sample_product(1000, ("S1",), random_state=0).points
    values, vectors = laplace_beltrami_eigenpairs(circle, 5, 0.01, random_state=0)
    np.testing.assert_allclose(values, [0, 1, 1, 4, 4], atol=0.12)
    np.testing.assert_allclose((vectors ** 2).mean(0), 1.0)
    a = np.arctan2(circle[:, 1], circle[:, 0])
    exact = np.stack([np.ones_like(a), np.cos(a), np.sin(a), np.cos(2 * a), np.sin(2 * a)], axis=1)
    _, angles = eigenspace_angles(vectors, exact, circle_eigenvalues(5))
    assert np.all(angles < np.radians(5)), np.degrees(angles)


@pytest.fixture(scope="module")
def torus_spectrum():
    sample = flat_torus(1500, random_state=0)
    return sample, laplace_beltrami_eigenpairs(sample.points, 13, 0.015, random_state=0)


def test_flat_torus_spectrum_is_the_sum_of_the_circles_and_eigenfunctions_are_products(torus_spectrum):
    sample, (values, vectors) = torus_spectrum
    angles = [np.arctan2(c[:, 1], c[:, 0]) for c in sample.coordinates]
    circles = [np.stack([np.ones_like(a), np.cos(a), np.sin(a), np.cos(2 * a), np.sin(2 * a)], axis=1) for a in angles]
    exact, _, products = product_eigenpairs(circle_eigenvalues(5), circle_eigenvalues(5), 13, *circles)
    np.testing.assert_array_equal(exact, [0, 1, 1, 1, 1, 2, 2, 2, 2, 4, 4, 4, 4])  # n₁² + n₂²
    assert abs(values[0]) < 1e-9
    assert np.max(np.abs(values[1:] - exact[1:]) / exact[1:]) < 0.1
    groups, between = eigenspace_angles(vectors, products, exact)
    np.testing.assert_array_equal(groups, [0, 1, 2, 4])
    assert np.all(np.degrees(between) < [1e-6, 8, 12, 30]), np.degrees(between)


def test_laplace_beltrami_spectrum_ignores_rotations_and_repeats_with_its_seed(torus_spectrum):
    sample, (values, vectors) = torus_spectrum
    rotation = haar_orthogonal(4, np.random.RandomState(5))
    turned, _ = laplace_beltrami_eigenpairs(sample.points @ rotation.T, 13, 0.015, random_state=0)
    np.testing.assert_allclose(turned, values, atol=1e-9)
    again = laplace_beltrami_eigenpairs(sample.points, 13, 0.015, random_state=0)
    np.testing.assert_array_equal(again[0], values)
    np.testing.assert_array_equal(again[1], vectors)


def test_heat_diffusion_is_the_product_of_the_circles_heat_kernels(torus_spectrum):
    sample, _ = torus_spectrum
    mass = heat_diffusion(diffusion_kernel(sample.points, 0.015), 0, 0.5, 0.015)
    assert mass.min() >= 0 and abs(mass.sum() - 1) < 1e-12  # a Markov chain keeps the mass
    angles = [np.arctan2(c[:, 1], c[:, 0]) for c in sample.coordinates]
    exact = circle_heat_kernel(angles[0] - angles[0][0], 0.5) * circle_heat_kernel(angles[1] - angles[1][0], 0.5)
    density = mass * len(mass) / (4 * np.pi ** 2)
    assert np.corrcoef(density, exact)[0, 1] > 0.95
    assert np.linalg.norm(density - exact) / np.linalg.norm(exact) < 0.35
