"""Latent Riemannian geometry: known answers for Jacobians, metrics, geodesics, curvature and distances."""
import math

import numpy as np
import pytest
import torch
from torch import nn

from course_lib.analysis import geometry as g
from course_lib.models import DeconvDecoder, conv_vae


# ------------------------------------------------------------------------------ toy decoders
class Linear(nn.Module):
    """z -> A z, float64."""

    def __init__(self, A):
        super().__init__()
        self.A = nn.Parameter(torch.as_tensor(A, dtype=torch.float64), requires_grad=False)

    def forward(self, z):
        return z @ self.A.T


class Circle(nn.Module):
    """theta -> R (cos theta, sin theta): a 1-D latent angle onto a circle of radius R."""

    def __init__(self, radius=2.0):
        super().__init__()
        self.radius = radius

    def forward(self, z):
        return self.radius * torch.cat([z.cos(), z.sin()], dim=1)


class Sphere(nn.Module):
    """(colatitude theta, longitude phi) -> the unit sphere in R^3."""

    def forward(self, z):
        theta, phi = z[:, 0], z[:, 1]
        return torch.stack([theta.sin() * phi.cos(), theta.sin() * phi.sin(), theta.cos()], dim=1)


def on_sphere(theta, phi):
    return np.array([np.sin(theta) * np.cos(phi), np.sin(theta) * np.sin(phi), np.cos(theta)])


def discrete_arc(angle, radius, n_points):
    """The polygon length of n_points evenly spaced on an arc: what a converged discrete geodesic measures."""
    return (n_points - 1) * 2 * radius * math.sin(angle / (2 * (n_points - 1)))


@pytest.fixture(scope="module")
def matrix():
    return np.random.RandomState(0).randn(5, 3)


# ------------------------------------------------------------------------------------- Jacobian
def test_batched_jacobian_matches_autograd_per_point_and_returns_outputs():
    net = g.mlp_decoder(3, (8, 8), 6, "elu", seed=1)
    z = torch.randn(7, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    J, out = g.jacobian(net, z, chunk_size=3, return_outputs=True)
    assert J.shape == (7, 6, 3)
    expected = torch.stack([torch.autograd.functional.jacobian(lambda v: net(v[None])[0], zi) for zi in z])
    torch.testing.assert_close(J, expected)
    torch.testing.assert_close(out, net(z))


def test_jacobian_of_the_study_decoder_matches_reverse_mode():
    torch.manual_seed(0)
    decoder = g.mean_decoder(conv_vae(10))
    z = torch.randn(2, 10)
    J = g.jacobian(decoder, z)
    assert J.shape == (2, 4096, 10) and J.dtype == torch.float32
    u = torch.randn(2, 1, 64, 64)  # reverse mode: one backward pass gives u^T J for every code
    z_ = z.clone().requires_grad_(True)
    (vjp,) = torch.autograd.grad((decoder(z_) * u).sum(), z_)
    torch.testing.assert_close(torch.einsum("nD,nDd->nd", u.reshape(2, -1), J), vjp, rtol=1e-4, atol=1e-5)


def test_mean_decoder_is_the_bernoulli_mean_of_the_logits():
    torch.manual_seed(0)
    model = conv_vae(4)
    z = torch.randn(3, 4)
    with torch.no_grad():
        expected = torch.sigmoid(model.decoder(z))
        torch.testing.assert_close(g.mean_decoder(model)(z), expected)
        torch.testing.assert_close(g.mean_decoder(model.decoder)(z), expected)
    with pytest.raises(ValueError, match="model="):
        g.mean_decoder("not a model")


# --------------------------------------------------------------------------------------- metric
@pytest.mark.parametrize("name", ["elu", "relu", "conv"])
def test_pullback_metric_is_symmetric_positive_semidefinite(name):
    torch.manual_seed(0)
    decoder = DeconvDecoder(6).eval() if name == "conv" else g.mlp_decoder(4, (16, 16), 12, name, seed=2)
    z = np.random.RandomState(1).randn(5 if name == "conv" else 50, 6 if name == "conv" else 4)
    G = g.pullback_metric(decoder, z)
    assert G.dtype == np.float64
    np.testing.assert_array_equal(G, np.swapaxes(G, 1, 2))
    eigenvalues = np.linalg.eigvalsh(G)
    assert (eigenvalues >= -1e-9 * eigenvalues.max(1, keepdims=True)).all()


def test_metric_and_magnification_of_a_linear_map(matrix):
    z = np.random.RandomState(2).randn(4, 3)
    G = g.pullback_metric(Linear(matrix), z)
    np.testing.assert_allclose(G, np.broadcast_to(matrix.T @ matrix, G.shape), atol=1e-12)
    np.testing.assert_allclose(g.magnification_factor(G), 0.5 * np.linalg.slogdet(matrix.T @ matrix)[1])
    singular = Linear(np.c_[matrix[:, :2], matrix[:, :1]])  # a repeated column: rank 2
    assert np.isneginf(g.magnification_factor(g.pullback_metric(singular, z))).all()


def test_expected_metric_adds_the_pullback_of_the_std():
    mean = g.mlp_decoder(2, (8,), 5, "elu", seed=3)
    B = np.array([[1.0, 2.0], [0.0, 3.0], [-1.0, 1.0]])
    z = np.random.RandomState(3).randn(6, 2)
    np.testing.assert_allclose(g.expected_metric(mean, Linear(B), z),
                               g.pullback_metric(mean, z) + B.T @ B, atol=1e-10)
    constant = Linear(np.zeros((3, 2)))
    np.testing.assert_allclose(g.expected_metric(mean, constant, z), g.pullback_metric(mean, z), atol=1e-12)


def test_rbf_std_is_small_on_the_data_and_large_away_from_it():
    codes = np.random.RandomState(4).randn(300, 2) * 0.5
    std = g.RBFStd.fit(codes, num_centers=8, out_dim=3, random_state=0, dtype=torch.float64)
    near = std(torch.zeros(1, 2, dtype=torch.float64))
    far = std(torch.full((1, 2), 10.0, dtype=torch.float64))
    assert near.shape == (1, 3)
    assert far[0, 0] > 5 * near[0, 0]
    assert far[0, 0] == pytest.approx(1 / math.sqrt(1e-2), rel=1e-6)


# ------------------------------------------------------------------------------ ReLU vs ELU
def test_narrow_relu_decoder_loses_rank_and_the_same_elu_decoder_does_not():
    z = torch.randn(400, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    relu = g.rank_statistics(g.jacobian(g.mlp_decoder(4, (4, 4), 16, "relu", seed=0), z))
    elu = g.rank_statistics(g.jacobian(g.mlp_decoder(4, (4, 4), 16, "elu", seed=0), z))
    assert relu["fraction_full_rank"] < 0.5  # often rank-deficient
    assert elu["fraction_full_rank"] == 1.0 and elu["rank_counts"] == {4: 400}
    assert np.isinf(relu["condition"]).any() and np.isfinite(elu["condition"]).all()


def test_relu_jacobian_is_piecewise_constant_and_elu_jacobian_is_not():
    z = torch.randn(200, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(6))
    nudge = 1e-6 * torch.randn(200, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(7))
    same = {}
    for activation in ("relu", "elu"):
        net = g.mlp_decoder(2, (32, 32), 10, activation, seed=1)
        difference = (g.jacobian(net, z) - g.jacobian(net, z + nudge)).abs().amax(dim=(1, 2))
        same[activation] = (difference < 1e-12).float().mean().item()
    assert same["relu"] > 0.9  # a tiny step almost never crosses a region boundary
    assert same["elu"] == 0.0  # the Jacobian of a smooth net changes everywhere


# ----------------------------------------------------------------------------------- curves
def test_length_and_energy_of_a_straight_line_under_a_linear_map(matrix):
    z0, z1 = np.array([0.5, -1.0, 2.0]), np.array([-1.0, 0.0, 1.0])
    line = g.straight_line(z0, z1, 9)
    assert line.shape == (9, 3) and (line[0] == z0).all() and (line[-1] == z1).all()
    chord = np.linalg.norm(matrix @ (z1 - z0))
    assert g.curve_length(Linear(matrix), line) == pytest.approx(chord)
    assert g.curve_energy(Linear(matrix), line) == pytest.approx(0.5 * chord ** 2)  # constant speed: L^2 = 2E


def test_length_squared_never_exceeds_twice_the_energy():
    paths = np.random.RandomState(8).randn(20, 7, 2)
    net = g.mlp_decoder(2, (16,), 5, "elu", seed=4)
    assert (g.curve_length(net, paths) ** 2 <= 2 * g.curve_energy(net, paths) * (1 + 1e-12)).all()


@pytest.mark.parametrize("method", g.METHODS)
def test_geodesic_of_a_linear_decoder_is_the_straight_line(matrix, method):
    rng = np.random.RandomState(9)
    z0, z1 = rng.randn(2, 3), rng.randn(2, 3)
    line = g.straight_line(z0, z1, 8)
    bent = line.copy()
    bent[:, 1:-1] += 0.3 * rng.randn(2, 6, 3)  # start away from the answer, so the optimiser must work
    result = g.geodesic(Linear(matrix), z0, z1, n_points=8, method=method, init=bent, gtol=1e-7, max_steps=5000)
    assert result.converged
    np.testing.assert_allclose(result.path, line, atol=1e-5)
    np.testing.assert_allclose(result.length, np.linalg.norm((z1 - z0) @ matrix.T, axis=1), rtol=1e-9)
    np.testing.assert_allclose(result.ratio, 1.0, rtol=1e-9)
    # started on the straight line, the gradient rule holds at once
    assert g.geodesic(Linear(matrix), z0[0], z1[0], n_points=8).steps == 0


def test_lbfgs_runs_numpys_blas_on_one_thread_and_gives_the_threads_back():
    from threadpoolctl import threadpool_info, threadpool_limits

    def blas_threads():
        return {pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"}

    class Recording(Sphere):
        seen = []

        def forward(self, z):
            self.seen.append(blas_threads())
            return super().forward(z)

    sphere = Recording()
    with threadpool_limits(limits=2, user_api="blas"):
        result = g.geodesic(sphere, [math.pi / 4, 0.0], [math.pi / 3, math.pi / 2], n_points=12, max_steps=50)
        after = blas_threads()
    assert result.steps > 1 and after == {2}
    during = sphere.seen[2:-4]  # between the start's energy and the final lengths: L-BFGS's evaluations
    assert len(during) >= result.steps and all(threads == {1} for threads in during)


def test_geodesic_on_a_circle_is_the_arc():
    result = g.geodesic(Circle(2.0), [0.3], [2.5], n_points=12)
    assert result.length == pytest.approx(discrete_arc(2.2, 2.0, 12), rel=1e-10)
    assert result.length == pytest.approx(2.0 * 2.2, rel=2e-3)


@pytest.mark.parametrize("method", g.METHODS)
def test_geodesic_on_the_sphere_is_the_great_circle_and_energy_never_increases(method):
    (theta0, phi0), (theta1, phi1) = (math.pi / 4, 0.0), (math.pi / 3, math.pi / 2)
    x0, x1 = on_sphere(theta0, phi0), on_sphere(theta1, phi1)
    great_circle = math.acos(x0 @ x1)
    result = g.geodesic(Sphere(), [theta0, phi0], [theta1, phi1], n_points=24, method=method, gtol=1e-5,
                        max_steps=5000)
    assert result.converged, result.message
    assert result.length == pytest.approx(discrete_arc(great_circle, 1.0, 24), rel=1e-6)
    assert result.linear_length > result.length * 1.02  # the straight line in (theta, phi) is not a great circle
    points = Sphere()(torch.as_tensor(result.path)).numpy()
    normal = np.cross(x0, x1)
    np.testing.assert_allclose(points @ normal, 0.0, atol=1e-4)  # on the plane of the great circle
    history = np.asarray(result.energy_history)
    assert len(history) == result.steps + 1 if method == "lbfgs" else len(history) > 1
    assert (np.diff(history) <= 1e-12 * history[0]).all()


def test_batched_geodesics_equal_single_ones():
    net = g.mlp_decoder(2, (16, 16), 8, "elu", seed=5)
    rng = np.random.RandomState(10)
    z0, z1 = rng.randn(3, 2), rng.randn(3, 2)
    batch = g.geodesic(net, z0, z1, n_points=10, gtol=1e-6, max_steps=3000)
    assert batch.path.shape == (3, 10, 2) and batch.length.shape == (3,)
    single = [g.geodesic(net, a, b, n_points=10, gtol=1e-6, max_steps=3000).length for a, b in zip(z0, z1)]
    np.testing.assert_allclose(batch.length, single, rtol=1e-5)
    assert (batch.ratio >= 1 - 1e-9).all()


def test_geodesic_converges_on_the_study_decoder():
    torch.manual_seed(0)
    decoder = g.mean_decoder(conv_vae(10))
    z0, z1 = torch.randn(2, 10, generator=torch.Generator().manual_seed(1))
    result = g.geodesic(decoder, z0, z1, n_points=8, gtol=0.1, max_steps=200)
    assert result.length <= result.linear_length * (1 + 1e-6)
    assert (np.diff(result.energy_history) <= 0).all()


# ------------------------------------------------------------------------------- curvature
def test_principal_angles_known_answers():
    e = np.eye(4)
    theta = 0.4
    rotated = np.c_[e[:, 0], math.cos(theta) * e[:, 1] + math.sin(theta) * e[:, 2]]
    np.testing.assert_allclose(g.principal_angles(e[:, :2], rotated), [0.0, theta], atol=1e-7)
    np.testing.assert_allclose(g.principal_angles(e[:, :2], e[:, 2:]), [math.pi / 2] * 2)
    np.testing.assert_allclose(g.principal_angles(e[:, :2], e[:, [1, 0]]), [0.0, 0.0], atol=1e-7)


def test_traversal_geometry_of_a_linear_map_is_flat(matrix):
    result = g.traversal_geometry(Linear(matrix), np.zeros((2, 3)), np.tile([-1.0, 1.0], (3, 1)), num_steps=5)
    assert result.speed.shape == (2, 3, 5) and result.tangent_angles.shape == (2, 3, 5, 3)
    np.testing.assert_allclose(result.speed, np.broadcast_to(np.linalg.norm(matrix, axis=0)[None, :, None], (2, 3, 5)))
    np.testing.assert_allclose(result.direction_angle, 0.0, atol=1e-7)
    np.testing.assert_allclose(result.tangent_angles, 0.0, atol=1e-7)
    np.testing.assert_allclose(result.length, 2 * np.linalg.norm(matrix, axis=0)[None].repeat(2, 0))


def test_traversal_along_a_parallel_of_the_sphere_turns_by_the_longitude():
    theta = math.pi / 3
    result = g.traversal_geometry(Sphere(), [theta, 0.0], [[0.5, 1.5], [0.0, 1.2]], latents=[1], num_steps=7)
    phis = np.linspace(0.0, 1.2, 7)
    np.testing.assert_allclose(result.speed[0, 0], math.sin(theta))
    np.testing.assert_allclose(result.direction_angle[0, 0], phis, atol=1e-7)  # velocity (-sin phi, cos phi, 0)
    # the tangent plane turns about the z-axis; its largest principal angle is the tilt of the normal
    normals = np.stack([on_sphere(theta, p) for p in phis])
    tilt = np.arccos(np.clip(normals @ normals[0], -1, 1))
    np.testing.assert_allclose(result.tangent_angles[0, 0, :, -1], tilt, atol=1e-6)


# ------------------------------------------------------------------------ distances, classes
def test_graph_distances_of_a_linear_map_with_a_complete_graph_are_exact(matrix):
    codes = np.random.RandomState(11).randn(12, 3)
    D = g.graph_distances(Linear(matrix), codes, num_neighbors=11, segment_points=3)
    expected = np.linalg.norm((codes[:, None] - codes[None]) @ matrix.T, axis=-1)
    np.testing.assert_allclose(D, expected, rtol=1e-9, atol=1e-12)


def test_graph_distances_on_the_sphere_bound_the_great_circle_from_above():
    rng = np.random.RandomState(12)
    codes = np.c_[rng.uniform(0.4, 2.7, 300), rng.uniform(-1.5, 1.5, 300)]
    D, predecessors = g.graph_distances(Sphere(), codes, num_neighbors=8, return_predecessors=True)
    points = np.stack([on_sphere(*c) for c in codes])
    great = np.arccos(np.clip(points @ points.T, -1, 1))
    chord = np.linalg.norm(points[:, None] - points[None], axis=-1)
    assert np.isfinite(D).all()
    assert (D >= chord - 1e-9).all()  # a polygon is never shorter than the straight chord
    far = great > 1.0
    assert 0.98 < np.median(D[far] / great[far]) < 1.1  # and close to the great circle when the graph is dense
    path = g.graph_path(predecessors, 0, 1)
    assert path[0] == 0 and path[-1] == 1


def test_separability_known_answers():
    rng = np.random.RandomState(13)
    points = np.r_[rng.randn(20, 2), rng.randn(20, 2) + 20]
    labels = np.r_[np.zeros(20), np.ones(20)]
    D = np.linalg.norm(points[:, None] - points[None], axis=-1)
    clear = g.separability(D, labels)
    assert clear["nn_accuracy"] == 1.0 and clear["margin"] > 0.8 and clear["silhouette"] > 0.8
    assert g.separability(7 * D, labels) == pytest.approx(clear)  # scale-free
    mixed = g.separability(D, rng.permutation(labels))
    assert abs(mixed["margin"]) < 0.4 and abs(mixed["silhouette"]) < 0.2


# ------------------------------------------------------------------------------------ errors
@pytest.mark.parametrize("call, match", [
    (lambda: g.geodesic(Sphere(), [0.1, 0.2], [0.3, 0.4], n_points=2), r"n_points=2 .*>= 3"),
    (lambda: g.geodesic(Sphere(), [0.1, 0.2], [0.3, 0.4], method="sgd"), r"method='sgd' .*lbfgs"),
    (lambda: g.geodesic(Sphere(), [0.1, 0.2], [[0.3, 0.4]]), r"z0 .* and z1 .* same shape"),
    (lambda: g.geodesic(Sphere(), [0.1, 0.2], [0.3, 0.4], gtol=0), r"gtol=0 .*positive"),
    (lambda: g.geodesic(Sphere(), [0.1, np.nan], [0.3, 0.4]), r"z0 holds non-finite"),
    (lambda: g.geodesic(Sphere(), [0.1, 0.2], [0.3, 0.4], init=np.zeros((5, 2))), r"init has shape \(5, 2\)"),
    (lambda: g.geodesic("decoder", [0.1], [0.3]), r"decoder='decoder' .*callable"),
    (lambda: g.mlp_decoder(activation="tanh"), r"activation='tanh' .*relu"),
    (lambda: g.jacobian(Sphere(), np.zeros((2, 2)), chunk_size=0), r"chunk_size=0 .*>= 1"),
    (lambda: g.jacobian(Sphere(), np.zeros((2, 2, 2))), r"z has shape \(2, 2, 2\); expected \(N, d\)"),
    (lambda: g.tangent_basis(np.zeros((2, 5, 3)), rank=4), r"rank=4 .*at most 3"),
    (lambda: g.separability(np.zeros((4, 4)), [0, 0, 0, 1]), r"need at least 2 classes with at least 2"),
    (lambda: g.traversal_geometry(Sphere(), [0.1, 0.2], np.zeros((3, 2))), r"ranges has shape \(3, 2\)"),
    (lambda: g.straight_line([0, 0], [1, 1], 1), r"n_points=1 .*>= 2"),
])
def test_bad_arguments_raise_value_errors_that_name_them(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_step_lengths_sum_to_the_curve_length():
    net = g.mlp_decoder(2, (8,), 4, "elu", seed=6)
    paths = np.random.RandomState(14).randn(3, 6, 2)
    steps = g.step_lengths(net, paths)
    assert steps.shape == (3, 5)
    np.testing.assert_allclose(steps.sum(1), g.curve_length(net, paths))
    assert g.step_lengths(net, paths[0]).shape == (5,)


# ------------------------------------------------- curvature itself: second derivative, second fundamental form
class Embedded(nn.Module):
    """A surface patch (N, 2) -> R^3, scaled by `scale` and carried into R^D by an orthonormal Q (D x 3)."""

    def __init__(self, surface, scale=1.0, dim=3, seed=0):
        super().__init__()
        self.surface, self.scale = surface, scale
        Q = np.linalg.qr(np.random.RandomState(seed).randn(dim, 3))[0] if dim > 3 else np.eye(3)
        self.Q = nn.Parameter(torch.as_tensor(Q, dtype=torch.float64), requires_grad=False)

    def forward(self, z):
        return self.scale * self.surface(z) @ self.Q.T


def sphere_patch(z):  # (colatitude, longitude) -> the unit sphere
    return Sphere()(z)


def cylinder(z):  # (angle, height) -> the unit cylinder around the third axis
    return torch.stack([z[:, 0].cos(), z[:, 0].sin(), z[:, 1]], dim=1)


def paraboloid(z):  # the graph of (x^2 + 3 y^2) / 2: principal curvatures 1 and 3 at the origin
    return torch.stack([z[:, 0], z[:, 1], (z[:, 0] ** 2 + 3 * z[:, 1] ** 2) / 2], dim=1)


DIRECTIONS = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.3, -2.0]])


@pytest.mark.parametrize("dim", [3, 20])
def test_normal_curvature_of_a_sphere_of_radius_r_is_one_over_r_in_every_direction(dim):
    radius, theta = 2.5, np.array([0.6, 1.1, 2.0])
    codes = np.c_[theta, [0.0, 0.4, -1.0]]
    result = g.normal_curvature(Embedded(sphere_patch, radius, dim), codes, DIRECTIONS)
    assert result.kappa_normal.shape == (3, 4) and (result.rank == 2).all()
    np.testing.assert_allclose(result.kappa_normal, 1 / radius, rtol=1e-10)
    # a meridian is a great circle (a geodesic); a parallel is a circle of radius r sin(theta)
    np.testing.assert_allclose(result.kappa[:, 0], 1 / radius, rtol=1e-10)
    np.testing.assert_allclose(result.kappa_geodesic[:, 0], 0.0, atol=1e-10)
    np.testing.assert_allclose(result.kappa[:, 1], 1 / (radius * np.sin(theta)), rtol=1e-10)
    np.testing.assert_allclose(result.kappa_geodesic[:, 1], np.abs(np.cos(theta) / np.sin(theta)) / radius, rtol=1e-9)
    np.testing.assert_allclose(result.speed[:, 1], radius * np.sin(theta), rtol=1e-12)


@pytest.mark.parametrize("dim", [3, 12])
def test_normal_curvature_of_a_cylinder_follows_euler_formula(dim):
    radius = 3.0
    angles = np.linspace(0, np.pi / 2, 5)
    directions = np.c_[np.cos(angles), np.sin(angles)] / radius  # J v = cos(a) circle + sin(a) axis, a unit vector
    result = g.normal_curvature(Embedded(cylinder, radius, dim), [[0.3, 0.5], [2.0, -1.0]], directions)
    expected = np.cos(angles) ** 2 / radius  # 1/r along the circle, 0 along the axis
    np.testing.assert_allclose(result.kappa_normal, np.broadcast_to(expected, (2, 5)), atol=1e-12)
    np.testing.assert_allclose(result.speed, 1.0, rtol=1e-12)
    # straight lines of (angle, height) are geodesics
    np.testing.assert_allclose(result.kappa_geodesic, 0.0, atol=1e-12)


def test_normal_curvature_of_a_paraboloid_at_its_vertex_follows_its_principal_curvatures():
    angles = np.linspace(0, np.pi, 7)
    result = g.normal_curvature(Embedded(paraboloid, 1.0, 9, seed=3), [0.0, 0.0], np.c_[np.cos(angles), np.sin(angles)])
    np.testing.assert_allclose(result.kappa_normal[0], np.cos(angles) ** 2 + 3 * np.sin(angles) ** 2, rtol=1e-10)
    np.testing.assert_allclose(result.kappa[0], result.kappa_normal[0], rtol=1e-10)


def test_a_linear_decoder_has_no_curvature(matrix):
    result = g.normal_curvature(Linear(matrix), np.random.RandomState(15).randn(4, 3))
    assert result.kappa.shape == (4, 3) and result.directions.shape == (3, 3)
    for values in (result.kappa, result.kappa_normal, result.kappa_geodesic, result.acceleration):
        np.testing.assert_allclose(values, 0.0, atol=1e-12)
    np.testing.assert_allclose(result.speed, np.broadcast_to(np.linalg.norm(matrix, axis=0), (4, 3)))


def test_second_derivative_matches_finite_differences():
    net = g.mlp_decoder(3, (16, 16), 10, "elu", seed=2)
    rng = np.random.RandomState(16)
    z, V = rng.randn(5, 3), rng.randn(4, 3)
    first, second = g.second_derivative(net, z, V, chunk_size=7)
    assert first.shape == second.shape == (5, 4, 10)
    h = 1e-4
    zt, Vt = torch.as_tensor(z)[:, None], torch.as_tensor(V)[None]
    f = lambda x: net(x.reshape(-1, 3)).reshape(5, 4, 10)  # noqa: E731
    with torch.no_grad():
        torch.testing.assert_close(first, (f(zt + h * Vt) - f(zt - h * Vt)) / (2 * h), rtol=1e-6, atol=1e-7)
        torch.testing.assert_close(second, (f(zt + h * Vt) - 2 * f(zt + 0 * Vt) + f(zt - h * Vt)) / h ** 2,
                                   rtol=1e-4, atol=1e-5)
    J = g.jacobian(net, z)
    torch.testing.assert_close(first, torch.einsum("nDd,kd->nkD", J, torch.as_tensor(V)))


def test_curvature_splits_into_normal_and_geodesic_parts_and_the_normal_part_is_normal():
    net = g.mlp_decoder(3, (16, 16), 40, "elu", seed=4)
    z, V = np.random.RandomState(17).randn(6, 3), np.random.RandomState(18).randn(5, 3)
    result = g.normal_curvature(net, z, V, chunk_size=4)
    assert (result.kappa_normal > 0).all() and (result.kappa_geodesic > 0).all()
    np.testing.assert_allclose(result.kappa ** 2, result.kappa_normal ** 2 + result.kappa_geodesic ** 2, rtol=1e-10)
    II = g.second_fundamental_form(net, z, V)
    assert II.shape == (6, 5, 40) and II.dtype == torch.float64
    J = g.jacobian(net, z)
    torch.testing.assert_close(torch.einsum("nDd,nkD->nkd", J, II), torch.zeros(6, 5, 3, dtype=torch.float64),
                               atol=1e-10, rtol=0)
    speed = np.linalg.norm(np.einsum("nDd,kd->nkD", J.numpy(), V), axis=-1)
    np.testing.assert_allclose(II.norm(dim=-1).numpy() / speed ** 2, result.kappa_normal, rtol=1e-10)
    again = g.normal_curvature(net, z, V, chunk_size=1000)  # chunking changes nothing
    np.testing.assert_allclose(again.kappa_normal, result.kappa_normal, rtol=1e-12)


def test_normal_curvature_ignores_the_length_of_v_and_scales_as_one_over_the_output_scale():
    net = g.mlp_decoder(2, (16,), 30, "elu", seed=5)
    z, V = np.random.RandomState(19).randn(4, 2), np.random.RandomState(20).randn(3, 2)
    base = g.normal_curvature(net, z, V)
    for factor in (3.0, -0.25):
        scaled = g.normal_curvature(net, z, factor * V)
        np.testing.assert_allclose(scaled.kappa_normal, base.kappa_normal, rtol=1e-10)
        np.testing.assert_allclose(scaled.kappa, base.kappa, rtol=1e-10)
        np.testing.assert_allclose(scaled.speed, abs(factor) * base.speed, rtol=1e-12)
    c = 7.0
    bigger = g.normal_curvature(lambda x: c * net(x), z, V)
    for name in ("kappa", "kappa_normal", "kappa_geodesic"):
        np.testing.assert_allclose(getattr(bigger, name), getattr(base, name) / c, rtol=1e-10)


def test_a_direction_the_decoder_ignores_has_no_curvature_and_the_rank_drops():
    flat_in_z1 = lambda z: torch.stack([z[:, 0], z[:, 0] ** 2 / 2, torch.zeros_like(z[:, 0])], dim=1)  # noqa: E731
    result = g.normal_curvature(flat_in_z1, [[0.0, 1.0], [1.0, 2.0]])
    assert (result.rank == 1).all()
    assert np.isnan(result.kappa_normal[:, 1]).all() and (result.speed[:, 1] == 0).all()
    np.testing.assert_allclose(result.kappa[:, 0], [1.0, 1 / 2 ** 1.5], rtol=1e-12)  # the parabola y = x^2 / 2
    # all of it normal to the line
    np.testing.assert_allclose(result.kappa_normal[:, 0], result.kappa[:, 0], rtol=1e-12)


def test_normal_curvature_of_the_study_decoder_in_float32():
    torch.manual_seed(0)
    decoder = g.mean_decoder(conv_vae(10))
    z = torch.randn(2, 10)
    first, second = g.second_derivative(decoder, z, torch.eye(10)[:3])
    assert first.shape == (2, 3, 4096) and first.dtype == torch.float32
    result = g.normal_curvature(decoder, z, chunk_size=8)
    assert result.kappa_normal.shape == (2, 10) and result.kappa_normal.dtype == np.float64
    assert np.isfinite(result.kappa).all() and (result.kappa_normal <= result.kappa * (1 + 1e-6)).all()
    frame = result.to_frame()
    assert list(frame.columns) == ["code", "direction", "speed", "acceleration", "kappa", "kappa_normal",
                                   "kappa_geodesic"] and len(frame) == 20


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_normal_curvature_on_cuda_matches_the_cpu():
    net = g.mlp_decoder(3, (16,), 20, "elu", seed=8)
    z = np.random.RandomState(21).randn(5, 3)
    cpu = g.normal_curvature(net, z)
    gpu = g.normal_curvature(net.cuda(), z)
    np.testing.assert_allclose(gpu.kappa_normal, cpu.kappa_normal, rtol=1e-8)
    assert g.second_fundamental_form(net, z).device.type == "cuda"


@pytest.mark.parametrize("call, match", [
    (lambda: g.normal_curvature(Sphere(), [[0.5, 0.1]], [1.0, 0.0, 0.0]), r"directions has shape \(1, 3\)"),
    (lambda: g.normal_curvature(Sphere(), [[0.5, 0.1]], [[1.0, 0.0], [0.0, 0.0]]), r"directions holds a zero vector"),
    (lambda: g.normal_curvature(Sphere(), [[0.5, np.inf]]), r"z holds non-finite"),
    (lambda: g.normal_curvature(Sphere(), [[0.5, 0.1]], rtol=1.5), r"rtol=1.5 .*\(0, 1\)"),
    (lambda: g.second_derivative(Sphere(), [[0.5, 0.1]], chunk_size=0), r"chunk_size=0 .*>= 1"),
    (lambda: g.second_fundamental_form(3, [[0.5, 0.1]]), r"decoder=3 .*callable"),
])
def test_curvature_arguments_raise_value_errors_that_name_them(call, match):
    with pytest.raises(ValueError, match=match):
        call()
