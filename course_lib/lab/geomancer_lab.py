"""The experiments and figures of notebook 09 (GeoManCER, Pfau et al. 2020) that do not fit in a cell.

  parallel transport   `transport` carries a tangent vector along a path of points with the same
                       discrete connection GeoManCER uses, Q = polar(U_{t+1}ᵀ U_t); `latitude_loop`
                       and `torus_loop` give the paths whose holonomy the notebook shows
  learned latents      `SmoothRandomEmbedding` pushes a product of spheres into a higher-dimensional
                       observation space; `train_vector_vae` fits a small Gaussian VAE to those
                       observations; `pushforward_subspaces` carries the true factor subspaces
                       through any differentiable map, so errors can be measured in every space
  figures              the kNN graph, recovered vs true subspaces, the spectrum
  limits               `sphere_product_sweep` runs GeoManCER on S² x ... x S² (m factors, dimension
                       k = 2m) at a fixed number of points and tables cost and recovery;
                       `power_law_fit` gives the growth; `flat_torus_diffusion` compares the graph
                       Laplacian of S¹ x S¹ with the Laplace–Beltrami operator's closed forms
"""
from __future__ import annotations

import dataclasses
import time
import tracemalloc

import matplotlib
import matplotlib.pyplot as plt
import numpy as np

from course_lib.checks import check_int, check_number
from course_lib.analysis.geomancer import (check_data, circle_eigenvalues, circle_heat_kernel, diffusion_kernel,
                                           eigenspace_angles, geomancer, graph_edges, heat_diffusion,
                                           laplace_beltrami_eigenpairs, laplacian_storage_bytes,
                                           largest_principal_angle, polar_factor, product_eigenpairs,
                                           second_order_block_size, subspace_angle_error)
from course_lib.data.manifolds import flat_torus, haar_orthogonal, sphere_product
from course_lib.seeding import as_random_state, check_seed


# ---------------------------------------------------------------------------- parallel transport
def transport(tangent_bases: np.ndarray, vector: np.ndarray) -> np.ndarray:
    """Carry `vector` (ambient, tangent at the first point) along a path with tangent bases (T, D, d).

    Discrete Levi-Civita transport: coordinates c_{t+1} = polar(U_{t+1}ᵀ U_t) c_t — rotate as little
    as possible while staying tangent. Returns the ambient vectors (T, D) at every point.
    """
    bases = np.asarray(tangent_bases, dtype=np.float64)
    steps = polar_factor(np.matmul(bases[1:].transpose(0, 2, 1), bases[:-1]))
    coordinates = [bases[0].T @ np.asarray(vector, dtype=np.float64)]
    for q in steps:  # a path of a few hundred points, one small matrix each
        coordinates.append(q @ coordinates[-1])
    return np.einsum("tDi,ti->tD", bases, np.array(coordinates))


def sphere_tangent_basis(points: np.ndarray) -> np.ndarray:
    """(T, 3, 2): the orthonormal basis (e_θ, e_φ) of the tangent planes of S² at points off the poles."""
    x, y, z = np.asarray(points, dtype=np.float64).T
    theta, phi = np.arccos(np.clip(z, -1, 1)), np.arctan2(y, x)
    e_theta = np.stack([np.cos(theta) * np.cos(phi), np.cos(theta) * np.sin(phi), -np.sin(theta)], axis=1)
    e_phi = np.stack([-np.sin(phi), np.cos(phi), np.zeros_like(phi)], axis=1)
    return np.stack([e_theta, e_phi], axis=2)


def latitude_loop(colatitude: float, num_steps: int = 400) -> tuple[np.ndarray, np.ndarray]:
    """(points (T, 3), tangent bases (T, 3, 2)) once around the circle of `colatitude` (radians) on S²."""
    check_number("colatitude", colatitude, 0, np.pi, low_open=True, high_open=True, note=" radians")
    phi = np.linspace(0, 2 * np.pi, num_steps + 1)
    points = np.stack([np.sin(colatitude) * np.cos(phi), np.sin(colatitude) * np.sin(phi),
                       np.full_like(phi, np.cos(colatitude))], axis=1)
    return points, sphere_tangent_basis(points)


def torus_loop(center=(np.pi, np.pi), radius: float = 1.0, num_steps: int = 400):
    """(angles (T, 2), points (T, 4), tangent bases (T, 4, 2)): a circle in the flat torus S¹ x S¹ ⊂ R⁴."""
    t = np.linspace(0, 2 * np.pi, num_steps + 1)
    a, b = center[0] + radius * np.cos(t), center[1] + radius * np.sin(t)
    points = np.stack([np.cos(a), np.sin(a), np.cos(b), np.sin(b)], axis=1)
    bases = np.zeros((len(t), 4, 2))
    bases[:, 0, 0], bases[:, 1, 0] = -np.sin(a), np.cos(a)
    bases[:, 2, 1], bases[:, 3, 1] = -np.sin(b), np.cos(b)
    return np.stack([a, b], axis=1), points, bases


def rotation_angle(start: np.ndarray, end: np.ndarray, normal: np.ndarray) -> float:
    """Signed angle (radians, in (-π, π]) from `start` to `end` about the axis `normal` (3-vectors)."""
    return float(np.arctan2(np.dot(np.cross(start, end), normal), np.dot(start, end)))


def loop_holonomy(tangent_bases: np.ndarray) -> np.ndarray:
    """(d, d): the transport around a closed path in the coordinates of its first tangent basis."""
    bases = np.asarray(tangent_bases, dtype=np.float64)
    columns = [bases[0].T @ transport(bases, bases[0][:, i])[-1] for i in range(bases.shape[2])]
    return np.stack(columns, axis=1)


def product_loop(num_steps: int = 400, random_state=0) -> tuple[np.ndarray, np.ndarray]:
    """A closed path on S² x S² ⊂ R⁶ that winds around both factors at once, with the true tangent
    bases in the frame (factor 1, factor 2): (points (T, 6), bases (T, 6, 4))."""
    random_state = as_random_state(random_state)
    t = np.linspace(0, 2 * np.pi, num_steps + 1)
    parts, bases = [], np.zeros((len(t), 6, 4))
    for f, colatitude in enumerate(random_state.uniform(0.4, 1.2, size=2)):
        rotation = haar_orthogonal(3, random_state, special=True)
        wiggle = colatitude + 0.3 * np.sin((f + 2) * t)  # not a circle: a loop of some area
        points = np.stack([np.sin(wiggle) * np.cos(t), np.sin(wiggle) * np.sin(t), np.cos(wiggle)], axis=1)
        parts.append(points @ rotation.T)
        bases[:, 3 * f:3 * f + 3, 2 * f:2 * f + 2] = np.einsum("ij,tjk->tik", rotation, sphere_tangent_basis(points))
    return np.concatenate(parts, axis=1), bases


# ---------------------------------------------------------------------------- an observation space
@dataclasses.dataclass
class SmoothRandomEmbedding:
    """A fixed smooth random map R^n -> R^D: y = M [x ; c·tanh(s W x + b)] (M orthogonal, W Gaussian).

    The linear part keeps it injective; the tanh features bend the metric: the induced metric
    g = Jᵀ J = I + c² (s W)ᵀ diag(1 - tanh²) (s W) is no longer a product metric unless c = 0
    (then the map is a rotation of a zero-padded copy: an isometry).
    """

    in_dim: int
    out_dim: int
    strength: float = 3.0  # c
    frequency: float = 3.0  # s
    random_state: object = 0

    def __post_init__(self):
        self.in_dim = check_int("in_dim", self.in_dim, 1)
        self.out_dim = check_int("out_dim", self.out_dim, self.in_dim + 1, note=f" (more than in_dim={self.in_dim})")
        check_number("strength", self.strength, 0)
        rs = as_random_state(self.random_state)
        hidden = self.out_dim - self.in_dim
        self.weights = rs.standard_normal((hidden, self.in_dim)) * self.frequency / np.sqrt(self.in_dim)
        self.bias = rs.uniform(-np.pi / 2, np.pi / 2, hidden)
        self.mixing = haar_orthogonal(self.out_dim, rs)

    def __call__(self, x) -> np.ndarray:
        x = check_data(x, "x")
        features = self.strength * np.tanh(x @ self.weights.T + self.bias)
        return np.concatenate([x, features], axis=1) @ self.mixing.T

    def pushforward(self, x, vectors) -> np.ndarray:
        """J(x) v for vectors (N, n, k) at points x (N, n): (N, D, k)."""
        x = check_data(x, "x")
        slope = self.strength * (1 - np.tanh(x @ self.weights.T + self.bias) ** 2)  # (N, hidden)
        feature_part = slope[:, :, None] * np.einsum("hi,nik->nhk", self.weights, vectors)
        return np.einsum("Dj,njk->nDk", self.mixing, np.concatenate([vectors, feature_part], axis=1))


def chance_subspaces(true, random_state=0) -> list[np.ndarray]:
    """The chance level: at every point, the true tangent space split at random into subspaces of the
    factors' dimensions (a Haar-random rotation of the true basis, cut into blocks)."""
    bases = [np.asarray(t, dtype=np.float64) for t in (true.tangents if hasattr(true, "tangents") else true)]
    whole = np.concatenate(bases, axis=2)
    n, d = len(whole), whole.shape[2]
    mixed = whole @ haar_orthogonal(d, random_state, num=n)
    bounds = np.cumsum([0] + [b.shape[2] for b in bases])
    return [mixed[:, :, a:b] for a, b in zip(bounds[:-1], bounds[1:])]


def orthonormal_columns(vectors: np.ndarray) -> np.ndarray:
    """(..., D, k) -> an orthonormal basis of the same column span (batched QR)."""
    return np.linalg.qr(vectors)[0]


def pushforward_subspaces(jvp, points, tangents) -> list[np.ndarray]:
    """The true factor subspaces carried by a map: orthonormal bases of J(x) T_f(x), one (N, D', d_f) per factor.

    jvp(points, vectors (N, D, k)) -> (N, D', k) is the map's Jacobian-vector product.
    """
    return [orthonormal_columns(jvp(points, t)) for t in tangents]


# ---------------------------------------------------------------------------- a VAE on vectors
@dataclasses.dataclass
class VectorVAE:
    """A Gaussian VAE trained on standardised vectors; `encode` gives the mean code μ(x)."""

    model: object
    mean: np.ndarray
    std: np.ndarray
    losses: np.ndarray
    device: object = "cpu"

    def _input(self, x):
        import torch

        return torch.as_tensor((check_data(x, "x") - self.mean) / self.std, dtype=torch.float32, device=self.device)

    def encode(self, x) -> np.ndarray:
        """(N, num_latent) posterior means."""
        import torch

        with torch.no_grad():
            return self.model.encoder(self._input(x))[0].double().cpu().numpy()

    def jacobian(self, x) -> np.ndarray:
        """(N, num_latent, D): ∂μ(x)/∂x, one backward pass per latent (rows of a batch are independent)."""
        import torch

        inputs = self._input(x).requires_grad_(True)
        means = self.model.encoder(inputs)[0]
        rows = [torch.autograd.grad(means[:, j].sum(), inputs, retain_graph=True)[0] for j in range(means.shape[1])]
        return (torch.stack(rows, dim=1) / torch.as_tensor(self.std, dtype=torch.float32, device=self.device)
                ).double().cpu().numpy()

    def pushforward(self, x, vectors) -> np.ndarray:
        """J_μ(x) v for vectors (N, D, k) at observations x (N, D): (N, num_latent, k)."""
        return np.einsum("nzD,nDk->nzk", self.jacobian(x), np.asarray(vectors, dtype=np.float64))


def train_vector_vae(observations, num_latent: int, steps: int, batch_size: int = 256, lr: float = 1e-3,
                     hidden: int = 128, noise_std: float = 0.1, seed: int = 0, device="cpu",
                     progress: bool = True) -> VectorVAE:
    """Fit course_lib.models.mlp_vae to (N, D) vectors: minimise ‖x - x̂(z)‖² / (2 σ²) + KL(q(z|x) ‖ N(0, I)).

    σ = `noise_std` is the decoder's fixed standard deviation on standardised data (smaller: the
    reconstruction matters more than the prior). Batches are drawn on `device` from a seeded
    torch.Generator; same seed, same model (on the same device).
    """
    import torch
    from tqdm.auto import tqdm

    from course_lib.device import get_device
    from course_lib.distributions import kl_to_standard_normal
    from course_lib.models import mlp_vae
    from course_lib.seeding import check_seed

    data = check_data(observations, "observations")
    for name, value in (("num_latent", num_latent), ("steps", steps), ("batch_size", batch_size), ("hidden", hidden)):
        check_int(name, value, 1)
    check_number("noise_std", noise_std, 0, low_open=True)
    seed, device = check_seed(seed), get_device(device)
    mean, std = data.mean(0), data.std(0) + 1e-8
    torch.manual_seed(seed)
    generator = torch.Generator(device=device).manual_seed(seed)
    model = mlp_vae(num_latent, (data.shape[1],), hidden).to(device)
    x_all = torch.as_tensor((data - mean) / std, dtype=torch.float32, device=device)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    losses = torch.zeros(steps, device=device)
    for step in tqdm(range(steps), desc="VAE", disable=not progress):
        x = x_all[torch.randint(len(x_all), (min(batch_size, len(x_all)),), device=device, generator=generator)]
        mu, log_var = model.encoder(x)
        z = mu + torch.exp(0.5 * log_var) * torch.randn(mu.shape, device=device, generator=generator)
        loss = (0.5 * (model.decoder(z) - x).pow(2).sum(1) / noise_std ** 2
                + kl_to_standard_normal(mu, log_var).sum(1)).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses[step] = loss.detach()
    model.eval()
    return VectorVAE(model, mean, std, losses.cpu().numpy(), device)


# ---------------------------------------------------------------------------- figures
def best_match(found_bases: list[np.ndarray], truth: np.ndarray) -> tuple[int | None, float]:
    """Index of the found basis closest to the true (D, d_f) basis and its largest principal angle;
    (None, π/2) when no found basis has the same dimension."""
    angles = [largest_principal_angle(b, truth) if b.shape == truth.shape else np.pi / 2 for b in found_bases]
    if not angles or min(angles) >= np.pi / 2:
        return None, np.pi / 2
    return int(np.argmin(angles)), float(np.min(angles))


def plot_sphere_transport(ax, points: np.ndarray, vectors: np.ndarray, every: int = 25, length: float = 0.25):
    """A path on S² (3-D axis) with the transported vector drawn every `every` steps; start black, end red."""
    u, v = np.meshgrid(np.linspace(0, 2 * np.pi, 40), np.linspace(0, np.pi, 20))
    ax.plot_wireframe(np.cos(u) * np.sin(v), np.sin(u) * np.sin(v), np.cos(v), color="0.85", lw=0.4)
    ax.plot(*points.T, color="tab:blue", lw=2)
    shown = np.arange(0, len(points) - 1, every)
    ax.quiver(*points[shown].T, *vectors[shown].T, length=length, color="tab:orange", normalize=True)
    for index, color in ((0, "k"), (-1, "tab:red")):
        ax.quiver(*points[index], *vectors[index], length=1.6 * length, color=color, normalize=True, lw=2.5)
    ax.set_box_aspect((1, 1, 1), zoom=1.3)
    ax.view_init(elev=20, azim=10)  # the start of the loop (on the +x axis) faces the viewer
    ax.set_axis_off()
    return ax


def plot_torus_transport(ax, angles: np.ndarray, bases: np.ndarray, vectors: np.ndarray, every: int = 25):
    """A path on the flat torus drawn in its angle coordinates (a, b) ∈ [0, 2π)², with the transported
    vector (in the coordinates of ∂/∂a, ∂/∂b) every `every` steps; start black, end red (dashed)."""
    coordinates = np.einsum("tDi,tD->ti", bases, vectors)
    ax.plot(*angles.T, color="tab:blue", lw=2)
    shown = np.arange(0, len(angles) - 1, every)
    ax.quiver(*angles[shown].T, *coordinates[shown].T, color="tab:orange", angles="xy", scale_units="xy", scale=2.5)
    ax.quiver(*angles[0], *coordinates[0], color="k", angles="xy", scale_units="xy", scale=1.6, width=0.012)
    ax.quiver(*angles[-1], *coordinates[-1], color="tab:red", angles="xy", scale_units="xy", scale=1.6, width=0.005,
              linestyle="--")
    ax.set(xlim=(0, 2 * np.pi), ylim=(0, 2 * np.pi), xlabel="angle a (first circle)", ylabel="angle b (second circle)",
           aspect="equal")
    return ax


def plot_graph_on_factor(ax, coordinates: np.ndarray, graph, num_points: int = 40, random_state=0):
    """The kNN graph seen on one S² factor (a 3-D axis): all points in grey, and the edges of
    `num_points` random points as coloured stars (one colour per star)."""
    rs = as_random_state(random_state)
    shown = rs.choice(len(coordinates), size=min(2000, len(coordinates)), replace=False)
    ax.scatter(*coordinates[shown].T, s=1, color="0.75", alpha=0.5)
    chosen = rs.choice(len(coordinates), size=min(num_points, len(coordinates)), replace=False)
    for number, i in enumerate(chosen):  # a few dozen stars, for drawing only
        color = plt.cm.tab10(number % 10)
        for j in graph.indices[graph.indptr[i]:graph.indptr[i + 1]]:
            ax.plot(*np.stack([coordinates[i], coordinates[j]]).T, color=color, lw=1.2)
        ax.scatter(*coordinates[i], s=12, color=color)
    ax.set_box_aspect((1, 1, 1), zoom=1.25)
    ax.set_axis_off()
    return ax


def plot_subspaces_on_sphere(ax, sample, subspaces, factor: int = 0, num_points: int = 80, size: float = 0.12,
                             random_state=0, max_degrees: float = 45.0, colorbar: bool = True):
    """On sphere `factor` of a sphere product, the true tangent plane (grey) and the found subspace that
    matches it best (coloured by its angle error) at `num_points` points, both as small squares.

    The found 2-D subspace lives in the whole ambient space; it is drawn by its projection onto the
    factor's R³ (orthonormalised). A perfect answer puts each coloured square on its grey one.
    Returns the angle errors (radians) at the drawn points.
    """
    from mpl_toolkits.mplot3d.art3d import Poly3DCollection

    rs = as_random_state(random_state)
    coordinates, truth = sample.coordinates[factor], sample.tangents[factor]
    start = sum(c.shape[1] for c in sample.coordinates[:factor])
    block = slice(start, start + coordinates.shape[1])
    chosen = rs.choice(len(coordinates), size=min(num_points, len(coordinates)), replace=False)
    corners = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]]) * size
    true_quads, found_quads, errors, drawn = [], [], [], []
    for i in chosen:  # drawing only
        g, angle = best_match(subspaces[i], truth[i])
        x = coordinates[i]
        true_quads.append(x + corners @ truth[i][block].T)
        errors.append(angle)
        if g is not None:  # no found subspace of the right dimension: nothing to draw
            plane = orthonormal_columns(subspaces[i][g][block])
            found_quads.append(x + corners @ plane.T)
            drawn.append(angle)
    ax.add_collection3d(Poly3DCollection(true_quads, facecolor="0.55", alpha=0.5, edgecolor="0.3", lw=0.5))
    norm = matplotlib.colors.Normalize(0, max_degrees)
    colors = plt.cm.plasma(norm(np.degrees(drawn)))
    ax.add_collection3d(Poly3DCollection(found_quads, facecolor=colors, alpha=0.75, edgecolor="k", lw=0.3))
    ax.set(xlim=(-1, 1), ylim=(-1, 1), zlim=(-1, 1))
    ax.set_box_aspect((1, 1, 1), zoom=1.25)
    ax.set_axis_off()
    if colorbar:
        plt.colorbar(matplotlib.cm.ScalarMappable(norm, "plasma"), ax=ax, shrink=0.6, pad=0.0,
                     label="error of the found plane (°)")
    return np.array(errors)


def plot_spectrum(ax, eigenvalues, num_small: int, label: str | None = None, color=None):
    """The bottom eigenvalues (log scale) with the eigengap marked after the first `num_small`."""
    values = np.maximum(np.asarray(eigenvalues), 1e-12)
    ax.semilogy(np.arange(len(values)), values, "o-", color=color, label=label)
    if num_small:
        ax.axvline(num_small - 0.5, color=ax.lines[-1].get_color(), ls=":", lw=1.2)
    ax.set(xlabel="eigenvalue index k", ylabel="λ_k of the 2nd-order connection Laplacian")
    return ax


# ---------------------------------------------------------------------------- limits: dimension and factors
STEPS = ("graph", "tangents", "laplacian", "eigensolver", "ffdiag", "clusters")


def sphere_product_sweep(num_factors=(1, 2, 3, 4), num_points: int = 2000, n_eigvecs: int = 10, seed: int = 0,
                         progress: bool = False):
    """GeoManCER (Pfau et al. 2020, Algorithm 1) on S² x ... x S² with m factors, dimension k = 2m, at a
    fixed number of points: one row per m with the cost and the recovery.

    cost      block p = k(k+1)/2 - 1 rows per point; laplacian_mb, the Laplacian's exact storage
              (N + E) p² · 8 bytes (`laplacian_storage_bytes`); peak_mb, the most memory allocated during
              the run and held at once (tracemalloc: NumPy's arrays included); seconds (wall clock) per
              step and in total; cpu_seconds, the process's CPU time (all threads: the work, which other
              jobs on the machine do not inflate); degree (mean of the kNN graph)
    geometry  edge_length: median ambient length ‖Δx‖ of the graph's edges; factor_edge = edge_length/√m,
              the root-mean-square chord per sphere (‖Δx‖² = Σ_f ‖Δx_f‖²): the neighbourhood scale h on
              each unit sphere, which at fixed N shrinks only like N^(-1/k)
    recovery  small: eigenvalues before the largest-ratio gap (m - 1 expected); gap: λ_{m-1}/λ_{m-2},
              the ratio where the gap should be (1: no gap); right_count: fraction of points split into m
              planes; error: mean `subspace_angle_error` (rad); chance: the same for a random split.
              NaN for m = 1 (S² is irreducible: nothing to split).
    Every m uses the same `seed` for its sample and for the eigensolver (same seed, same table).
    """
    import pandas as pd
    import sklearn.neighbors  # noqa: F401  (imported before any clock starts: the first call would pay for it)

    counts = [check_int("num_factors", m, 1) for m in np.atleast_1d(num_factors).tolist()]
    num_points = check_int("num_points", num_points, 50)
    n_eigvecs = check_int("n_eigvecs", n_eigvecs, 2)
    seed = check_seed(seed)
    rows = []
    for m in counts:  # a handful of products, one GeoManCER run each
        sample = sphere_product(num_points, (2,) * m, random_state=seed)
        k = sample.manifold_dim
        tracing = tracemalloc.is_tracing()
        if not tracing:
            tracemalloc.start()
        tracemalloc.reset_peak()
        clock, cpu_clock = time.perf_counter(), time.process_time()
        result = geomancer(sample.points, k, n_eigvecs=n_eigvecs, random_state=seed, progress=progress)
        seconds, cpu_seconds = time.perf_counter() - clock, time.process_time() - cpu_clock
        peak = tracemalloc.get_traced_memory()[1]
        if not tracing:
            tracemalloc.stop()
        starts, ends = graph_edges(result.graph)
        edge = float(np.median(np.linalg.norm(sample.points[starts] - sample.points[ends], axis=1)))
        row = dict(factors=m, k=k, p=second_order_block_size(k), degree=result.graph.nnz / num_points,
                   laplacian_mb=laplacian_storage_bytes(result.graph, k) / 1e6, peak_mb=peak / 1e6, seconds=seconds,
                   cpu_seconds=cpu_seconds,
                   **{f"{step}_s": result.timings[step] for step in STEPS},
                   edge_length=edge, factor_edge=edge / np.sqrt(m),
                   small=result.num_small, gap=np.nan, right_count=np.nan, error=np.nan, chance=np.nan)
        if m >= 2:
            values = result.eigenvalues
            row.update(gap=values[m - 1] / values[m - 2], right_count=result.fraction_with((2,) * m),
                       error=subspace_angle_error(result, sample).mean(),
                       chance=subspace_angle_error(chance_subspaces(sample, random_state=seed), sample).mean())
        rows.append(row)
    return pd.DataFrame(rows).set_index("factors")


def power_law_fit(x, y) -> tuple[float, float]:
    """(a, c) of the least-squares line log y = log c + a log x: the growth y ≈ c xᵃ (positive x and y)."""
    x, y = np.asarray(x, dtype=np.float64).ravel(), np.asarray(y, dtype=np.float64).ravel()
    if len(x) != len(y) or len(x) < 2 or np.any(x <= 0) or np.any(y <= 0) or not np.all(np.isfinite(x * y)):
        raise ValueError(f"x ({len(x)} values) and y ({len(y)} values) are not allowed; use at least two pairs of "
                         "positive finite numbers")
    a, log_c = np.polyfit(np.log(x), np.log(y), 1)
    return float(a), float(np.exp(log_c))


def plot_dimension_cost(axes, table, fit_from: int = 4):
    """Three panels from a `sphere_product_sweep` table, all against the manifold dimension k (log-log):
    the rows per point (first order k, second order p = k(k+1)/2 - 1) and the block entries p²; the
    seconds (CPU time, wall clock, the eigensolver's wall clock); the memory (the Laplacian's storage and
    the traced peak). Fitted
    lines (`power_law_fit`, over k >= `fit_from`) carry their exponents. Returns {quantity: exponent}."""
    k = table["k"].to_numpy()
    grid = np.arange(2, max(k.max(), 12) + 1)
    axes[0].plot(grid, grid, "--", color="0.5", label="first order: k (Singer & Wu)")
    axes[0].plot(grid, [second_order_block_size(int(g)) for g in grid], "-", label="second order: p = k(k+1)/2 − 1")
    axes[0].plot(grid, [second_order_block_size(int(g)) ** 2 for g in grid], "-", label="numbers per edge block: p²")
    axes[0].plot(k, table["p"], "o", color="tab:blue")
    axes[0].set(xscale="log", yscale="log", xlabel="manifold dimension k", ylabel="count (numbers)",
                title="Size of the Laplacian's blocks")
    exponents = {}
    fit = k >= fit_from
    panels = ((axes[1], (("cpu_seconds", "CPU time, all steps"), ("seconds", "wall clock, all steps"),
                         ("eigensolver_s", "wall clock, eigensolver")), "time (s)", "Run time of GeoManCER"),
              (axes[2], (("laplacian_mb", "Laplacian (exact storage)"), ("peak_mb", "peak allocated (tracemalloc)")),
               "memory (MB)", "Memory"))
    for ax, columns, ylabel, title in panels:
        for column, label in columns:
            values = table[column].to_numpy()
            a, c = power_law_fit(k[fit], values[fit]) if fit.sum() >= 2 else (np.nan, np.nan)
            exponents[column] = a
            line, = ax.plot(k, values, "o-", label=f"{label}: ∝ $k^{{{a:.1f}}}$")
            if np.isfinite(a):
                ax.plot(k[fit], c * k[fit] ** a, ":", color=line.get_color())
        ax.set(xscale="log", yscale="log", xlabel="manifold dimension k", ylabel=ylabel, title=title)
    for ax, ticks in zip(axes, (grid[::2], k, k)):
        ax.set_xticks(ticks, [str(v) for v in ticks])
        ax.minorticks_off()
        ax.legend(fontsize=9)
    return exponents


def plot_factor_recovery(axes, table):
    """Three panels from a `sphere_product_sweep` table against the number of factors m: the mean error
    (and chance) and the eigengap λ_{m-1}/λ_{m-2} where m - 1 small eigenvalues should end (1: none), for
    m >= 2, and the neighbourhood scale on each sphere (median edge length / √m) for every m."""
    rows = table[table.index >= 2]
    m = rows.index.to_numpy()
    axes[0].plot(m, rows["error"], "o-", color="tab:green", label="GeoManCER")
    axes[0].plot(m, rows["chance"], "s--", color="k", label="random split (chance)")
    for x, y, share in zip(m, rows["error"], rows["right_count"]):
        axes[0].annotate(f"{share:.0%} split right", (x, y), textcoords="offset points", xytext=(4, -14), fontsize=9)
    axes[0].axhline(np.pi / 2, color="tab:red", lw=0.8, ls=":", label="π/2: wrong count everywhere")
    axes[0].set(xlabel="number of factors m (S² each)", ylabel="mean error (rad)", ylim=(0, 1.7),
                title="Recovery at a fixed number of points")
    axes[1].plot(m, rows["gap"], "o-", color="tab:purple")
    axes[1].axhline(1.0, color="k", ls="--", lw=0.8)
    axes[1].set(xlabel="number of factors m", ylabel=r"$\lambda_{m-1} / \lambda_{m-2}$",
                title="The eigengap where it should be (1: none)")
    axes[2].plot(table.index, table["factor_edge"], "o-", color="tab:orange")
    axes[2].set(xlabel="number of factors m", ylabel="median edge length per sphere (unit radius)",
                title=r"Neighbourhood size on each sphere, $h \propto N^{-1/k}$")
    axes[0].legend()
    for ax in axes:
        ax.set_xticks(table.index if ax is axes[2] else m)
    return axes


# ---------------------------------------------------------------------------- limits: Laplace–Beltrami
@dataclasses.dataclass
class TorusDiffusion:
    """What `flat_torus_diffusion` measured on S¹ x S¹ (angles a, b of each point).

    exact          n₁² + n₂², the true bottom of the spectrum of -Δ on the flat torus
    values         the graph Laplacian's eigenvalues (diffusion maps);  vectors  (N, num) its eigenfunctions
    circle_values  the graph eigenvalues of each circle factor (on the same points' angles)
    sums, products the product spectrum built from the two circles (`product_eigenpairs`)
    groups, angles each eigenspace's largest principal angle to the span of the factors' products (rad)
    heat, heat_exact  the density of a unit mass diffused for `time` from `source`: the random walk vs
                   the product of the circles' heat kernels p_t(a - a₀) p_t(b - b₀)
    """

    angles: np.ndarray
    exact: np.ndarray
    values: np.ndarray
    vectors: np.ndarray
    circle_values: list
    sums: np.ndarray
    products: np.ndarray
    groups: np.ndarray
    group_angles: np.ndarray
    source: int
    time: float
    heat: np.ndarray
    heat_exact: np.ndarray


def flat_torus_diffusion(num_points: int, bandwidth: float, num: int = 21, time: float = 0.5,
                         seed: int = 0) -> TorusDiffusion:
    """The Laplace–Beltrami view of diffusion, on `num_points` uniform points of the flat torus S¹ x S¹ ⊂ R⁴.

    The diffusion-maps graph Laplacian (Coifman & Lafon 2006; Belkin & Niyogi 2008) of the torus, and of
    each circle factor on the same points' angles, with kernel time ε = `bandwidth`; the circles'
    eigenpairs combined by `product_eigenpairs` (eigenvalues add, eigenfunctions multiply); the torus's
    eigenspaces compared with the products; and heat diffusion for `time` from one point compared with
    e^{tΔ₁} ⊗ e^{tΔ₂} δ, the product of the circles' heat kernels (density: mass · N / vol, vol = 4π²).
    `num` must end an eigenvalue of the torus (21: up to n₁² + n₂² = 5). Same seed, same numbers.
    """
    num_points = check_int("num_points", num_points, 50)
    num = check_int("num", num, 1)
    seed = check_seed(seed)
    per_circle = int(np.ceil(np.sqrt(num))) + 2  # enough of each circle's eigenpairs to build `num` products
    exact = product_eigenpairs(circle_eigenvalues(per_circle), circle_eigenvalues(per_circle), num + 1)[0]
    if exact[-1] == exact[-2]:
        raise ValueError(f"num={num} cuts an eigenspace of the flat torus in two; use 1, 5, 9, 13, 21, 25, ...")
    exact = exact[:num]
    sample = flat_torus(num_points, random_state=seed)
    angles = np.stack([np.arctan2(c[:, 1], c[:, 0]) for c in sample.coordinates], axis=1)
    values, vectors = laplace_beltrami_eigenpairs(sample.points, num, bandwidth, random_state=seed)
    circles = [laplace_beltrami_eigenpairs(c, per_circle, bandwidth, random_state=seed) for c in sample.coordinates]
    sums, _, products = product_eigenpairs(circles[0][0], circles[1][0], num, circles[0][1], circles[1][1])
    groups, group_angles = eigenspace_angles(vectors, products, exact)
    source = int(as_random_state(seed).randint(num_points))
    mass = heat_diffusion(diffusion_kernel(sample.points, bandwidth), source, time, bandwidth)
    heat_exact = np.prod([circle_heat_kernel(angles[:, f] - angles[source, f], time) for f in range(2)], axis=0)
    return TorusDiffusion(angles, exact, values, vectors, [c[0] for c in circles], sums, products, groups,
                          group_angles, source, time, mass * num_points / (4 * np.pi ** 2), heat_exact)


def plot_torus_diffusion(axes, result: TorusDiffusion):
    """Three panels: the spectrum (graph eigenvalues of the torus, sums of the circles' graph eigenvalues,
    the exact n₁² + n₂²), each eigenspace's angle to the products of the circles' eigenfunctions, and
    the diffused heat against the product of the circles' heat kernels."""
    index = np.arange(len(result.values))
    axes[0].step(index, result.exact, where="mid", color="k", lw=1.2, label="exact n₁² + n₂²")
    axes[0].plot(index, result.values, "o", color="tab:blue", label="graph Laplacian of S¹ x S¹")
    axes[0].plot(index, result.sums, "x", color="tab:orange", ms=8, label="λ_i(circle 1) + λ_j(circle 2), graph")
    axes[0].set(xlabel="eigenvalue index", ylabel="eigenvalue of −Δ (1/rad²)", title="Spectrum: eigenvalues add")
    axes[1].bar(np.arange(len(result.groups)), np.degrees(result.group_angles), color="tab:green")
    axes[1].set_xticks(np.arange(len(result.groups)), [f"{g:g}" for g in result.groups])
    axes[1].set(xlabel="eigenvalue n₁² + n₂² (its eigenspace)", ylabel="largest principal angle (°)",
                title="Eigenfunctions vs products φ_i(a) ψ_j(b)")
    top = max(result.heat.max(), result.heat_exact.max()) * 1.05
    axes[2].plot(result.heat_exact, result.heat, ".", ms=3, alpha=0.5, color="tab:purple")
    axes[2].plot([0, top], [0, top], "k--", lw=1, label="equal")
    axes[2].set(xlim=(0, top), ylim=(0, top), xlabel="p_t(a − a₀) · p_t(b − b₀)  (1/rad²)",
                ylabel="random walk, density (1/rad²)",
                title=rf"Heat after $t = {result.time:g}$: $e^{{t\Delta}}\delta$ vs "
                      rf"$e^{{t\Delta_1}} \otimes e^{{t\Delta_2}}\delta$")
    for ax in (axes[0], axes[2]):
        ax.legend(fontsize=9)
    return axes
