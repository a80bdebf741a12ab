"""Samples of product manifolds with their true tangent subspaces (the test beds of GeoManCER).

Pfau, Higgins, Botev & Racanière, "Disentangling by Subspace Diffusion", NeurIPS 2020, test their
algorithm on products of spheres and of rotation groups. Each factor is embedded on its own, the
product in the concatenation of the factors' coordinates, so the metric induced by the ambient space
is the product metric:

  S^d    the unit sphere in R^(d+1), uniform (a normalised Gaussian); tangent space x^⊥.
  SO(n)  rotation matrices, Haar-distributed, flattened to R^(n²); tangent space {R A : A = -Aᵀ},
         orthonormal basis R (e_a e_bᵀ - e_b e_aᵀ)/√2 for a < b (Frobenius inner product).
  S^1 x S^1  the flat (Clifford) torus in R⁴: zero curvature, trivial holonomy — the negative case.

Every sample comes with, per factor, an orthonormal basis of that factor's tangent space at every
point in ambient coordinates, shape (N, D, d_f). With `rotate=True` the whole ambient space is
turned by one Haar-random rotation (points and tangents alike), which changes no geometry.
"""
from __future__ import annotations

import dataclasses
import re

import numpy as np

from course_lib.checks import check_bool, check_int
from course_lib.seeding import as_random_state

_FACTOR = re.compile(r"^(S|SO)(\d+)$")


@dataclasses.dataclass(frozen=True)
class ManifoldSample:
    """Points on a product manifold and the true tangent basis of each factor.

    points       (N, D) ambient coordinates
    tangents     one (N, D, d_f) array per factor; the columns are orthonormal
    factors      the factors' names, e.g. ("S2", "S2")
    coordinates  one (N, D_f) array per factor: the point on that factor in its own embedding
    rotation     the (D, D) rotation applied to the ambient space, or None
    """

    points: np.ndarray
    tangents: tuple
    factors: tuple
    coordinates: tuple
    rotation: np.ndarray | None = None

    @property
    def factor_dims(self) -> tuple[int, ...]:
        return tuple(t.shape[2] for t in self.tangents)

    @property
    def manifold_dim(self) -> int:
        return sum(self.factor_dims)

    @property
    def ambient_dim(self) -> int:
        return self.points.shape[1]

    def __len__(self) -> int:
        return len(self.points)

    def tangent_basis(self) -> np.ndarray:
        """(N, D, d): the factors' bases side by side, an orthonormal basis of the whole tangent space."""
        return np.concatenate(self.tangents, axis=2)

    def true_subspaces(self) -> list[list[np.ndarray]]:
        """Per point, the list of the factors' (D, d_f) bases (the format `geomancer` returns)."""
        return [[t[i] for t in self.tangents] for i in range(len(self))]


def haar_orthogonal(size: int, random_state, num: int | None = None, special: bool = False) -> np.ndarray:
    """Haar-random orthogonal (or, with `special`, rotation) matrices: (size, size) or (num, size, size).

    QR of a Gaussian matrix with the signs of R's diagonal moved into Q (Mezzadri 2007); for SO(n)
    the first column of a reflection is negated, a measure-preserving bijection O⁻(n) → SO(n).
    """
    random_state = as_random_state(random_state)
    shape = (1 if num is None else num, size, size)
    q, r = np.linalg.qr(random_state.standard_normal(shape))
    q = q * np.sign(np.sign(np.diagonal(r, axis1=1, axis2=2)) + 0.5)[:, None, :]
    if special:
        q[np.linalg.det(q) < 0, :, 0] *= -1
    return q[0] if num is None else q


def sample_sphere(num: int, dim: int, random_state) -> tuple[np.ndarray, np.ndarray]:
    """(points (num, dim+1), tangents (num, dim+1, dim)): uniform on S^dim and an orthonormal basis of x^⊥.

    The basis is the last `dim` columns of the complete QR of [x, e_1, ..., e_dim]: Householder QR gives
    an orthogonal Q whose first column is ±x whatever the rank, so the rest spans x^⊥.
    """
    num, dim = check_int("num", num, 1), check_int("dim", dim, 1)
    random_state = as_random_state(random_state)
    x = random_state.standard_normal((num, dim + 1))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    frame = np.concatenate([x[:, :, None], np.broadcast_to(np.eye(dim + 1)[:, :dim], (num, dim + 1, dim))], axis=2)
    q, _ = np.linalg.qr(frame, mode="complete")
    return x, np.ascontiguousarray(q[:, :, 1:])


def skew_basis(size: int) -> np.ndarray:
    """(size(size-1)/2, size, size): the orthonormal basis (e_a e_bᵀ - e_b e_aᵀ)/√2, a < b, of so(size)."""
    a, b = np.triu_indices(size, 1)
    basis = np.zeros((len(a), size, size))
    basis[np.arange(len(a)), a, b] = 1 / np.sqrt(2)
    basis[np.arange(len(a)), b, a] = -1 / np.sqrt(2)
    return basis


def sample_special_orthogonal(num: int, size: int, random_state) -> tuple[np.ndarray, np.ndarray]:
    """(points (num, size²), tangents (num, size², size(size-1)/2)): Haar on SO(size), flattened row-major."""
    num, size = check_int("num", num, 1), check_int("size", size, 2)
    rotations = haar_orthogonal(size, random_state, num=num, special=True)
    tangents = np.einsum("nij,bjk->nikb", rotations, skew_basis(size)).reshape(num, size * size, -1)
    return rotations.reshape(num, size * size), tangents


def parse_factor(name: str) -> tuple[str, int]:
    """'S2' -> ('S', 2), 'SO3' -> ('SO', 3); ValueError for anything else."""
    match = _FACTOR.match(name) if isinstance(name, str) else None
    if match is None or (match.group(1) == "S" and int(match.group(2)) < 1) or (
            match.group(1) == "SO" and int(match.group(2)) < 2):
        raise ValueError(f"factor={name!r} is not allowed; use 'S<d>' (a sphere, d >= 1) or 'SO<n>' "
                         "(a rotation group, n >= 2), e.g. 'S2' or 'SO3'")
    return match.group(1), int(match.group(2))


def sample_product(num: int, factors=("S2", "S2"), rotate: bool = False, random_state=0) -> ManifoldSample:
    """`num` points of the product of `factors` (each 'S<d>' or 'SO<n>'), with true tangent bases.

    Factors are sampled independently, in order, from `random_state`; `rotate` then applies one
    Haar-random rotation of the ambient space. Same seed, same sample.
    """
    num = check_int("num", num, 1)
    if isinstance(factors, str) or len(factors) < 1:
        raise ValueError(f"factors={factors!r} is not allowed; use a non-empty sequence such as ('S2', 'S2')")
    parsed = [parse_factor(f) for f in factors]
    check_bool("rotate", rotate)
    random_state = as_random_state(random_state)
    coordinates, local = [], []
    for kind, n in parsed:
        sampler = sample_sphere if kind == "S" else sample_special_orthogonal
        x, t = sampler(num, n, random_state)
        coordinates.append(x)
        local.append(t)
    ambient = sum(x.shape[1] for x in coordinates)
    points = np.concatenate(coordinates, axis=1)
    tangents, start = [], 0
    for x, t in zip(coordinates, local):
        padded = np.zeros((num, ambient, t.shape[2]))
        padded[:, start:start + x.shape[1]] = t
        tangents.append(padded)
        start += x.shape[1]
    rotation = None
    if rotate:
        rotation = haar_orthogonal(ambient, random_state)
        points = points @ rotation.T
        tangents = [np.einsum("ij,njk->nik", rotation, t) for t in tangents]
    return ManifoldSample(points, tuple(tangents), tuple(factors), tuple(coordinates), rotation)


def sphere_product(num: int, dims=(2, 2), rotate: bool = False, random_state=0) -> ManifoldSample:
    """S^d1 x S^d2 x ...: e.g. dims=(2, 2) is S² x S² in R⁶, dims=(2, 2, 2) is S² x S² x S² in R⁹."""
    if isinstance(dims, (int, np.integer)) or len(dims) < 1:
        raise ValueError(f"dims={dims!r} is not allowed; use a non-empty sequence of integers >= 1")
    return sample_product(num, tuple(f"S{check_int('dims', d, 1)}" for d in dims), rotate, random_state)


def rotation_product(num: int, sizes=(3,), rotate: bool = False, random_state=0) -> ManifoldSample:
    """SO(n1) x SO(n2) x ..., each flattened: e.g. sizes=(3, 3) is SO(3) x SO(3) in R¹⁸."""
    if isinstance(sizes, (int, np.integer)) or len(sizes) < 1:
        raise ValueError(f"sizes={sizes!r} is not allowed; use a non-empty sequence of integers >= 2")
    return sample_product(num, tuple(f"SO{check_int('sizes', n, 2)}" for n in sizes), rotate, random_state)


def flat_torus(num: int, rotate: bool = False, random_state=0) -> ManifoldSample:
    """S¹ x S¹ in R⁴ (the Clifford torus): flat, so parallel transport around any loop is the identity."""
    return sample_product(num, ("S1", "S1"), rotate, random_state)
