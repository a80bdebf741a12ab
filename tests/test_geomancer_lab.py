"""Notebook 09's helpers: parallel transport and holonomy, the random embedding, the vector VAE, figures."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from course_lib.analysis.geomancer import geomancer, subspace_angle_error
from course_lib.data.manifolds import sphere_product  # noqa: E402
from course_lib.lab.geomancer_lab import (SmoothRandomEmbedding, chance_subspaces, flat_torus_diffusion,
                                          latitude_loop, loop_holonomy, plot_dimension_cost, plot_factor_recovery,
                                          plot_graph_on_factor, plot_spectrum, plot_sphere_transport,
                                          plot_subspaces_on_sphere, plot_torus_diffusion, plot_torus_transport,
                                          power_law_fit, product_loop, pushforward_subspaces, rotation_angle,
                                          sphere_product_sweep, torus_loop, train_vector_vae, transport)


@pytest.mark.parametrize("colatitude", [0.3, 1.0, np.pi / 2, 2.4])
def test_holonomy_around_a_latitude_is_the_enclosed_area(colatitude):
    points, bases = latitude_loop(colatitude, num_steps=2000)
    vectors = transport(bases, bases[0][:, 0])
    np.testing.assert_allclose(np.einsum("tD,tD->t", vectors, points), 0, atol=1e-12)  # stays tangent
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-12)  # and of unit length
    expected = (2 * np.pi * (1 - np.cos(colatitude)) + np.pi) % (2 * np.pi) - np.pi  # Gauss–Bonnet
    angle = rotation_angle(vectors[0], vectors[-1], points[0])
    assert abs((angle - expected + np.pi) % (2 * np.pi) - np.pi) < 1e-3


def test_flat_torus_has_no_holonomy():
    _, _, bases = torus_loop(radius=1.2)
    np.testing.assert_allclose(loop_holonomy(bases), np.eye(2), atol=1e-12)


def test_holonomy_of_a_product_is_block_diagonal():
    _, bases = product_loop(num_steps=600, random_state=0)
    h = loop_holonomy(bases)
    np.testing.assert_allclose(h @ h.T, np.eye(4), atol=1e-10)
    np.testing.assert_allclose(h[:2, 2:], 0, atol=1e-12)
    np.testing.assert_allclose(h[2:, :2], 0, atol=1e-12)
    assert abs(h[0, 0] - 1) > 1e-3 and abs(h[2, 2] - 1) > 1e-3  # both factors rotate vectors


def test_embedding_pushforward_is_its_derivative_and_c0_is_an_isometry():
    rs = np.random.RandomState(0)
    embedding = SmoothRandomEmbedding(6, 20, random_state=1)
    x, v = rs.standard_normal((30, 6)), rs.standard_normal((30, 6, 2))
    eps = 1e-6
    numeric = np.stack([(embedding(x + eps * v[:, :, i]) - embedding(x - eps * v[:, :, i])) / (2 * eps)
                        for i in range(2)], axis=2)
    np.testing.assert_allclose(embedding.pushforward(x, v), numeric, atol=1e-7)
    flat = SmoothRandomEmbedding(6, 20, strength=0.0, random_state=1)
    y = flat(x)
    np.testing.assert_allclose(np.linalg.norm(y[:, None] - y[None], axis=2),
                               np.linalg.norm(x[:, None] - x[None], axis=2), atol=1e-12)
    np.testing.assert_array_equal(embedding(x), SmoothRandomEmbedding(6, 20, random_state=1)(x))  # seeded
    with pytest.raises(ValueError, match="out_dim=6"):
        SmoothRandomEmbedding(6, 6)
    with pytest.raises(ValueError, match="strength=-1"):
        SmoothRandomEmbedding(6, 10, strength=-1)


def test_pushforward_subspaces_are_orthonormal_and_chance_is_bad():
    sample = sphere_product(200, (2, 2), random_state=0)
    embedding = SmoothRandomEmbedding(6, 16, random_state=0)
    bases = pushforward_subspaces(embedding.pushforward, sample.points, sample.tangents)
    assert [b.shape for b in bases] == [(200, 16, 2), (200, 16, 2)]
    np.testing.assert_allclose(np.einsum("nDi,nDj->nij", bases[0], bases[0]), np.broadcast_to(np.eye(2), (200, 2, 2)),
                               atol=1e-12)
    chance = subspace_angle_error(chance_subspaces(sample, random_state=0), sample)
    assert 0.8 < chance.mean() < 1.3


def test_vector_vae_learns_and_is_seeded():
    rs = np.random.RandomState(0)
    x = rs.standard_normal((500, 3)) @ rs.standard_normal((3, 8))
    vae = train_vector_vae(x, num_latent=3, steps=300, batch_size=64, seed=0, progress=False)
    assert vae.losses[-30:].mean() < 0.5 * vae.losses[:30].mean()
    again = train_vector_vae(x, num_latent=3, steps=300, batch_size=64, seed=0, progress=False)
    np.testing.assert_array_equal(vae.encode(x), again.encode(x))
    codes = vae.encode(x)
    assert codes.shape == (500, 3)
    v = rs.standard_normal((5, 8, 2))
    import torch

    inputs = torch.as_tensor((x[:5] - vae.mean) / vae.std, dtype=torch.float32)
    jacobians = [torch.autograd.functional.jacobian(lambda u: vae.model.encoder(u[None])[0][0], row).numpy()
                 for row in inputs]
    exact = np.einsum("nzD,nDk->nzk", np.array(jacobians), v / vae.std[None, :, None])
    np.testing.assert_allclose(vae.pushforward(x[:5], v), exact, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="num_latent=0"):
        train_vector_vae(x, num_latent=0, steps=1, progress=False)
    with pytest.raises(ValueError, match="NaN"):
        train_vector_vae(np.full((10, 2), np.nan), num_latent=1, steps=1, progress=False)


def test_figures_draw():
    sample = sphere_product(400, (2, 2), random_state=0)
    result = geomancer(sample.points, 4, random_state=0, progress=False)
    fig = plt.figure()
    plot_graph_on_factor(fig.add_subplot(131, projection="3d"), sample.coordinates[0], result.graph, num_points=50)
    errors = plot_subspaces_on_sphere(fig.add_subplot(132, projection="3d"), sample, result.subspaces, num_points=30)
    assert errors.shape == (30,) and np.all((errors >= 0) & (errors <= np.pi / 2))
    plot_spectrum(fig.add_subplot(133), result.eigenvalues, result.num_small, label="S² x S²")
    plt.close(fig)
    fig = plt.figure()
    points, bases = latitude_loop(1.0, 100)
    plot_sphere_transport(fig.add_subplot(121, projection="3d"), points, transport(bases, bases[0][:, 0]), every=10)
    angles, _, bases = torus_loop(num_steps=100)
    plot_torus_transport(fig.add_subplot(122), angles, bases, transport(bases, bases[0][:, 0]), every=10)
    plt.close(fig)


# ------------------------------------------------------------------------------ limits
@pytest.fixture(scope="module")
def sweep():
    return sphere_product_sweep((1, 2, 3), num_points=300, seed=0)


def test_sphere_product_sweep_counts_and_measures(sweep):
    from course_lib.analysis.geomancer import laplacian_storage_bytes, knn_graph

    assert list(sweep.index) == [1, 2, 3]
    np.testing.assert_array_equal(sweep["k"], [2, 4, 6])
    np.testing.assert_array_equal(sweep["p"], [2, 9, 20])  # k(k+1)/2 - 1
    sample = sphere_product(300, (2, 2), random_state=0)
    graph = knn_graph(sample.points, 8)
    assert sweep.loc[2, "laplacian_mb"] == laplacian_storage_bytes(graph, 4) / 1e6
    assert sweep.loc[2, "degree"] == graph.nnz / 300
    assert np.all(sweep["peak_mb"] > 0) and np.all(sweep["seconds"] > 0) and np.all(sweep["cpu_seconds"] > 0)
    assert sweep.loc[[2, 3], ["gap", "right_count", "error", "chance"]].notna().all().all()
    assert sweep.loc[1, ["gap", "error"]].isna().all()  # S² alone: nothing to split
    assert np.all(np.diff(sweep["edge_length"]) > 0)  # fewer neighbours per dimension: wider neighbourhoods


def test_sphere_product_sweep_repeats_with_its_seed(sweep):
    again = sphere_product_sweep((2, 3), num_points=300, seed=0)
    columns = ["laplacian_mb", "edge_length", "small", "gap", "right_count", "error", "chance"]
    np.testing.assert_array_equal(again[columns].to_numpy(), sweep.loc[[2, 3], columns].to_numpy())
    with pytest.raises(ValueError, match="num_factors=0"):
        sphere_product_sweep((0, 2), num_points=300)
    with pytest.raises(ValueError, match="num_points=10"):
        sphere_product_sweep((2,), num_points=10)
    with pytest.raises(ValueError, match="seed=-1"):
        sphere_product_sweep((2,), seed=-1)


def test_power_law_fit_recovers_exponent_and_prefactor():
    k = np.array([2.0, 4, 6, 8])
    a, c = power_law_fit(k, 3.5 * k ** 4.5)
    assert abs(a - 4.5) < 1e-12 and abs(c - 3.5) < 1e-10
    assert 1.5 < power_law_fit(k, k * (k + 1) / 2)[0] < 2  # over k = 2..8, k(k+1)/2 grows slower than k²
    with pytest.raises(ValueError, match="positive"):
        power_law_fit([1, 2], [0, 1])


def test_flat_torus_diffusion_compares_with_the_closed_forms():
    result = flat_torus_diffusion(800, 0.02, num=13, time=0.5, seed=0)
    np.testing.assert_array_equal(result.exact, [0, 1, 1, 1, 1, 2, 2, 2, 2, 4, 4, 4, 4])
    np.testing.assert_array_equal(result.groups, [0, 1, 2, 4])
    assert result.vectors.shape == result.products.shape == (800, 13)
    assert np.max(np.abs(result.values - result.exact)) < 0.6
    assert np.max(np.abs(result.sums - result.exact)) < 0.3  # the circles, one dimension each, are easier
    assert result.group_angles[0] < 1e-6 and result.group_angles[1] < np.radians(15)
    np.testing.assert_allclose(result.heat.mean() * 4 * np.pi ** 2, 1.0)  # a density on the torus (area 4π²)
    assert np.corrcoef(result.heat, result.heat_exact)[0, 1] > 0.9
    with pytest.raises(ValueError, match="num=12"):
        flat_torus_diffusion(800, 0.02, num=12)


def test_limit_figures_draw(sweep):
    fig, axes = plt.subplots(1, 3)
    exponents = plot_dimension_cost(axes, sweep)
    assert set(exponents) == {"cpu_seconds", "seconds", "eigensolver_s", "laplacian_mb", "peak_mb"}
    assert 3 < exponents["laplacian_mb"] < 7  # p² times a degree that grows with k
    plt.close(fig)
    fig, axes = plt.subplots(1, 3)
    plot_factor_recovery(axes, sweep)
    plt.close(fig)
    fig, axes = plt.subplots(1, 3)
    plot_torus_diffusion(axes, flat_torus_diffusion(400, 0.03, num=5, seed=1))
    plt.close(fig)
