"""Product manifolds with known tangent subspaces: geometry, distributions, seeds, errors."""
import numpy as np
import pytest

from course_lib.data.manifolds import (flat_torus, haar_orthogonal, parse_factor, rotation_product, sample_product,
                                       sample_special_orthogonal, sample_sphere, skew_basis, sphere_product)


def gram(t):
    return np.einsum("nDi,nDj->nij", t, t)


@pytest.mark.parametrize("dim", [1, 2, 3, 5])
def test_sphere_points_and_tangents(dim):
    x, t = sample_sphere(500, dim, random_state=0)
    assert x.shape == (500, dim + 1) and t.shape == (500, dim + 1, dim)
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1, atol=1e-12)
    np.testing.assert_allclose(gram(t), np.broadcast_to(np.eye(dim), (500, dim, dim)), atol=1e-12)
    np.testing.assert_allclose(np.einsum("nD,nDi->ni", x, t), 0, atol=1e-12)  # tangent = x^⊥


def test_sphere_is_uniform():
    x, _ = sample_sphere(20_000, 2, random_state=1)
    assert np.abs(x.mean(0)).max() < 4 / np.sqrt(20_000)
    np.testing.assert_allclose(np.cov(x.T, bias=True), np.eye(3) / 3, atol=0.02)
    # Archimedes: z is uniform on [-1, 1] for the 2-sphere
    assert np.abs(np.histogram(x[:, 2], bins=10, range=(-1, 1))[0] / 2000 - 1).max() < 0.1


@pytest.mark.parametrize("size", [2, 3, 4])
def test_special_orthogonal_points_and_tangents(size):
    points, t = sample_special_orthogonal(400, size, random_state=0)
    r = points.reshape(-1, size, size)
    np.testing.assert_allclose(r.transpose(0, 2, 1) @ r, np.broadcast_to(np.eye(size), r.shape), atol=1e-12)
    np.testing.assert_allclose(np.linalg.det(r), 1, atol=1e-12)
    k = size * (size - 1) // 2
    assert t.shape == (400, size * size, k)
    np.testing.assert_allclose(gram(t), np.broadcast_to(np.eye(k), (400, k, k)), atol=1e-12)
    # each tangent vector is R A with A skew-symmetric: Rᵀ V + (Rᵀ V)ᵀ = 0
    a = np.einsum("nji,njkb->nikb", r, t.reshape(400, size, size, k))
    np.testing.assert_allclose(a + a.transpose(0, 2, 1, 3), 0, atol=1e-12)


def test_haar_rotations_have_zero_mean():
    r = haar_orthogonal(3, random_state=0, num=20_000, special=True)
    assert np.abs(r.mean(0)).max() < 4 / np.sqrt(20_000)
    assert np.all(np.linalg.det(r) > 0)
    # the trace 1 + 2 cos θ of a Haar rotation of SO(3) has mean 0
    assert abs(np.trace(r, axis1=1, axis2=2).mean()) < 0.03


def test_skew_basis_is_orthonormal():
    basis = skew_basis(4).reshape(6, 16)
    np.testing.assert_allclose(basis @ basis.T, np.eye(6), atol=1e-15)


def test_product_blocks_and_dimensions():
    s = sample_product(300, ("S2", "SO3", "S1"), random_state=0)
    assert s.points.shape == (300, 3 + 9 + 2) and s.factor_dims == (2, 3, 1)
    assert s.manifold_dim == 6 and s.ambient_dim == 14 and len(s) == 300
    whole = s.tangent_basis()
    np.testing.assert_allclose(gram(whole), np.broadcast_to(np.eye(6), (300, 6, 6)), atol=1e-12)
    # each factor's tangent vectors live in that factor's coordinates only
    assert (np.all(s.tangents[0][:, 3:] == 0) and np.all(s.tangents[1][:, :3] == 0)
            and np.all(s.tangents[1][:, 12:] == 0))
    np.testing.assert_array_equal(s.points[:, :3], s.coordinates[0])
    per_point = s.true_subspaces()
    assert len(per_point) == 300 and [b.shape for b in per_point[7]] == [(14, 2), (14, 3), (14, 1)]


def test_rotation_moves_points_and_tangents_together():
    plain = sphere_product(200, (2, 2), random_state=5)
    turned = sphere_product(200, (2, 2), rotate=True, random_state=5)
    r = turned.rotation
    np.testing.assert_allclose(r @ r.T, np.eye(6), atol=1e-12)
    np.testing.assert_allclose(turned.points, plain.points @ r.T, atol=1e-12)  # same draw, then rotated
    for a, b in zip(turned.tangents, plain.tangents):
        np.testing.assert_allclose(a, np.einsum("ij,njk->nik", r, b), atol=1e-12)
    # rotated tangents are still tangent: orthogonal to each factor's (rotated) normal direction
    normals = [np.concatenate([plain.coordinates[0], np.zeros((200, 3))], 1) @ r.T,
               np.concatenate([np.zeros((200, 3)), plain.coordinates[1]], 1) @ r.T]
    for normal in normals:
        np.testing.assert_allclose(np.einsum("nD,nDi->ni", normal, turned.tangent_basis()), 0, atol=1e-12)
    assert plain.rotation is None


def test_flat_torus_is_two_unit_circles():
    s = flat_torus(100, random_state=0)
    assert s.factors == ("S1", "S1") and s.points.shape == (100, 4) and s.factor_dims == (1, 1)
    np.testing.assert_allclose(np.linalg.norm(s.points[:, :2], axis=1), 1, atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(s.points[:, 2:], axis=1), 1, atol=1e-12)


def test_rotation_product_shape():
    s = rotation_product(50, (3, 3), random_state=0)
    assert s.points.shape == (50, 18) and s.factor_dims == (3, 3)


def test_same_seed_same_sample_and_random_state_objects():
    a = sample_product(100, ("S2", "SO3"), rotate=True, random_state=7)
    b = sample_product(100, ("S2", "SO3"), rotate=True, random_state=np.random.RandomState(7))
    c = sample_product(100, ("S2", "SO3"), rotate=True, random_state=8)
    np.testing.assert_array_equal(a.points, b.points)
    np.testing.assert_array_equal(a.tangents[1], b.tangents[1])
    assert not np.allclose(a.points, c.points)


@pytest.mark.parametrize("call, match", [
    (lambda: sample_product(0), "num=0"),
    (lambda: sample_product(10, ("S2", "X3")), "factor='X3'"),
    (lambda: sample_product(10, ("S0",)), "factor='S0'"),
    (lambda: sample_product(10, ("SO1",)), "factor='SO1'"),
    (lambda: sample_product(10, "S2"), "factors='S2'"),
    (lambda: sample_product(10, ()), "factors=()"),
    (lambda: sample_product(10, ("S2",), rotate="yes"), "rotate='yes'"),
    (lambda: sample_product(10, ("S2",), random_state=None), "random_state=None"),
    (lambda: sphere_product(10, dims=(2, 0)), "dims=0"),
    (lambda: sphere_product(10, dims=3), "dims=3"),
    (lambda: rotation_product(10, sizes=(1,)), "sizes=1"),
    (lambda: sample_sphere(10, 0, 0), "dim=0"),
])
def test_bad_arguments_are_named(call, match):
    with pytest.raises(ValueError, match=match.replace("(", r"\(").replace(")", r"\)")):
        call()


def test_parse_factor():
    assert parse_factor("S3") == ("S", 3) and parse_factor("SO4") == ("SO", 4)
