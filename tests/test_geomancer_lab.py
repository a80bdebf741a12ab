"""Notebook 09's helpers: parallel transport and holonomy, the random embedding, the vector VAE, figures."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from course_lib.analysis.geomancer import geomancer, subspace_angle_error
from course_lib.data.manifolds import sphere_product  # noqa: E402
from course_lib.lab.geomancer_lab import (SmoothRandomEmbedding, chance_subspaces, latitude_loop, loop_holonomy,
                                          plot_graph_on_factor, plot_spectrum, plot_sphere_transport,
                                          plot_subspaces_on_sphere, plot_torus_transport, product_loop,
                                          pushforward_subspaces, rotation_angle, torus_loop, train_vector_vae,
                                          transport)


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
