"""The experiments and figures of notebook 09 (GeoManCER, Pfau et al. 2020) that do not fit in a cell.

  parallel transport   `transport` carries a tangent vector along a path of points with the same
                       discrete connection GeoManCER uses, Q = polar(U_{t+1}ᵀ U_t); `latitude_loop`
                       and `torus_loop` give the paths whose holonomy the notebook shows
  learned latents      `SmoothRandomEmbedding` pushes a product of spheres into a higher-dimensional
                       observation space; `train_vector_vae` fits a small Gaussian VAE to those
                       observations; `pushforward_subspaces` carries the true factor subspaces
                       through any differentiable map, so errors can be measured in every space
  figures              the kNN graph, recovered vs true subspaces, the spectrum
"""
from __future__ import annotations

import dataclasses

import matplotlib
import matplotlib.pyplot as plt
import numpy as np

from course_lib.checks import check_int, check_number
from course_lib.analysis.geomancer import check_data, largest_principal_angle, polar_factor
from course_lib.data.manifolds import haar_orthogonal
from course_lib.seeding import as_random_state


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
