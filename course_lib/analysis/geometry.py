"""Latent Riemannian geometry of a decoder: pullback metric, geodesics, curvature, class distances.

A decoder f : R^d -> R^D (latent code -> image) turns the latent space into a Riemannian manifold:
the length of a latent curve z(t) is the length of the image curve f(z(t)). Locally,

    ||f(z + dz) - f(z)||^2 ~ dz^T G(z) dz,     G(z) = J(z)^T J(z),     J(z) = df/dz  (D x d),

so G, the **pullback metric**, measures how far the image moves per latent step in each direction
(Arvanitidis, Hansen & Hauberg 2018; Shao, Kumar & Fletcher 2018). What this module computes:

  local      `jacobian` (torch.func forward mode, batched over points *and* latent directions:
             no Python loop over either), `pullback_metric` (G = J^T J, float64, symmetric PSD),
             `magnification_factor` (1/2 log det G, the log volume change), `rank_statistics`
             (singular values and numerical rank of J), `tangent_basis` and `principal_angles`
             (how the decoder's tangent space turns: tangent alignment, Shukla et al. 2019)
  curves     `curve_length` sum_i ||f(z_{i+1}) - f(z_i)||, `curve_energy`
             (n - 1)/2 sum_i ||f(z_{i+1}) - f(z_i)||^2, `straight_line`, and `geodesic`: minimise the
             energy over the interior points with fixed ends, from the straight line, by L-BFGS or
             Adam, until the scale-free gradient ||grad E|| ||z1 - z0|| / E falls below `gtol`
             (Shao et al. 2018, Algorithm 1, is the same discrete energy minimised by gradient steps).
             A minimiser of the energy is a constant-speed geodesic, and L^2 <= 2 E with equality
             exactly for constant speed (Cauchy-Schwarz), so minimising E also minimises L.
  curvature  `traversal_geometry`: along each latent traversal, the image speed ||J e_k||, the turn
             of the traversal direction and of the whole tangent space; the linear-to-geodesic
             length ratio `GeodesicResult.ratio` (1 = flat along that segment; Shao et al. 2018 found
             it close to 1 for their models, Shukla et al. 2019 larger for disentangled models)
  classes    `graph_distances` (Riemannian distances between many codes by shortest paths on a
             neighbour graph whose edges are decoded straight segments; Chen et al. 2018 use such
             graphs to initialise geodesics) and `separability` (nearest-neighbour margin, 1-NN
             accuracy and silhouette of any distance matrix: scale-free, so Euclidean and
             Riemannian distances can be compared)
  stochastic `stacked_decoder`, `expected_metric` and `RBFStd`: for x = mu(z) + sigma(z) * eps the
             expected metric is E[G] = J_mu^T J_mu + J_sigma^T J_sigma (Arvanitidis et al. 2018,
             Theorem 1), the pullback metric of z -> (mu(z), sigma(z)); `RBFStd` is their
             inverse-RBF variance head, small near the data and large away from it
  toys       `mlp_decoder` builds one small MLP with ReLU or ELU (same weights for a given seed), for
             the ReLU-vs-ELU demonstration: a ReLU net is piecewise linear, so its Jacobian is
             piecewise constant (zero curvature almost everywhere, a metric that jumps) and loses
             rank wherever a layer's active units are fewer than d; ELU is smooth with a positive
             derivative, so a generic ELU net has a smooth, full-rank Jacobian.

**Which data-space point.** The kit's models decode to Bernoulli *logits*; geometry here is that of
the **Bernoulli mean** sigmoid(logits), the image `representation.decode` returns (`mean_decoder`
wraps a model so). The mean lives in [0, 1]^D, where Euclidean distance is the pixel distance one
sees; logits are unbounded, and a pixel the decoder is certain about can move its logit a lot without
any visible change, so a logit metric is dominated by invisible saturation. (The information-geometric
alternative, the Fisher metric of the Bernoulli, J_p^T diag(1 / (p (1 - p))) J_p, is not used here.)

Decoders are callables from codes (N, d) to outputs (N, ...) in torch (flattened to (N, D) inside);
an nn.Module's first parameter sets the device and dtype, a plain function runs in float64 on the
CPU unless given a tensor. Results are NumPy arrays (or torch tensors where the name says so).

References: G. Arvanitidis, L. K. Hansen, S. Hauberg, *Latent Space Oddity: on the Curvature of Deep
Generative Models*, ICLR 2018. H. Shao, A. Kumar, P. T. Fletcher, *The Riemannian Geometry of Deep
Generative Models*, CVPR Workshops 2018. A. Shukla, S. Uppal, S. Bhagat, S. Anand, P. Turaga,
*Geometry of Deep Generative Models for Disentangled Representations*, ICVGIP 2018 (arXiv 1902.06964).
N. Chen, F. Ferroni, A. Klushyn, A. Paraschos, J. Bayer, P. van der Smagt, *Fast Approximate Geodesics
for Deep Generative Models*, ICANN 2019. D.-A. Clevert, T. Unterthiner, S. Hochreiter, *Fast and Accurate Deep
Network Learning by Exponential Linear Units (ELUs)*, ICLR 2016.
"""
from __future__ import annotations

import dataclasses
import math
import time
import warnings

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from course_lib.checks import check_choice, check_int, check_number

METHODS = ("lbfgs", "adam")
ACTIVATIONS = ("relu", "elu")


# ----------------------------------------------------------------------------------- checks
def _placement(decoder, like=None) -> tuple[torch.device, torch.dtype]:
    """(device, dtype) of the decoder's first parameter, else of a floating tensor `like`, else CPU float64."""
    if isinstance(decoder, nn.Module):
        parameter = next(decoder.parameters(), None)
        if parameter is not None:
            return parameter.device, parameter.dtype
    if isinstance(like, torch.Tensor) and like.is_floating_point():
        return like.device, like.dtype
    return torch.device("cpu"), torch.float64


def _check_decoder(decoder):
    if not callable(decoder):
        raise ValueError(f"decoder={decoder!r} is not allowed; pass a callable from codes (N, d) to outputs (N, ...)")
    return decoder


def _as_codes(decoder, z, name: str = "z", ndim: tuple = (2,)) -> torch.Tensor:
    """z as a finite tensor on the decoder's device and dtype, with one of the allowed numbers of axes."""
    device, dtype = _placement(decoder, z)
    tensor = torch.as_tensor(z.detach() if isinstance(z, torch.Tensor) else np.asarray(z, dtype=np.float64))
    tensor = tensor.to(device=device, dtype=dtype)
    if tensor.ndim not in ndim or tensor.shape[-1] < 1 or tensor.numel() == 0:
        raise ValueError(f"{name} has shape {tuple(tensor.shape)}; expected {' or '.join(_SHAPES[n] for n in ndim)}")
    if not torch.isfinite(tensor).all():
        raise ValueError(f"{name} holds non-finite values; codes must be finite")
    return tensor


_SHAPES = {1: "(d,)", 2: "(N, d)", 3: "(B, n, d)"}


def _flat(decoder):
    """The decoder with outputs flattened to (N, D)."""
    return lambda z: decoder(z).reshape(z.shape[0], -1)


def _decode(decoder, z: torch.Tensor, chunk_size: int = 1024) -> torch.Tensor:
    """f(z) flattened, (N, D), without gradients, in chunks of `chunk_size` codes."""
    flat = _flat(decoder)
    with torch.no_grad():
        return torch.cat([flat(z[s:s + chunk_size]) for s in range(0, len(z), chunk_size)])


# --------------------------------------------------------------------------------- decoders
class BernoulliMean(nn.Module):
    """z -> sigmoid(decoder(z)): the Bernoulli mean image of a decoder that outputs logits."""

    def __init__(self, decoder: nn.Module):
        super().__init__()
        self.decoder = decoder

    def forward(self, z):
        return torch.sigmoid(self.decoder(z))


def mean_decoder(model) -> BernoulliMean:
    """The data-space map the geometry uses for a kit model (a GaussianVAE or its decoder): the
    Bernoulli mean sigmoid(logits), in eval mode. See the module docstring for why not the logits."""
    decoder = getattr(model, "decoder", model)
    if not isinstance(decoder, nn.Module):
        raise ValueError(f"model={model!r} is not allowed; pass a GaussianVAE or a decoder nn.Module that outputs logits")
    return BernoulliMean(decoder).eval()


def mlp_decoder(num_latent: int = 2, hidden=(32, 32), out_dim: int = 64, activation: str = "elu", seed: int = 0,
                dtype=torch.float64) -> nn.Sequential:
    """A small MLP decoder z (N, d) -> (N, out_dim), Linear -> act -> ... -> Linear, weights drawn from
    `seed` only: the same seed gives the same weights for `activation` "relu" and "elu", so the two nets
    differ in nothing but the non-linearity. Weights ~ N(0, 2 / fan_in) (He), biases ~ N(0, 0.5^2)."""
    num_latent = check_int("num_latent", num_latent, 1)
    out_dim = check_int("out_dim", out_dim, 1)
    check_choice("activation", activation, ACTIVATIONS)
    hidden = tuple(hidden)
    for width in hidden:
        check_int("hidden width", width, 1)
    generator = torch.Generator().manual_seed(int(seed))
    sizes = (num_latent, *hidden, out_dim)
    layers = []
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        linear = nn.Linear(fan_in, fan_out, dtype=dtype)
        with torch.no_grad():
            linear.weight.copy_(torch.randn(fan_out, fan_in, generator=generator, dtype=dtype) * math.sqrt(2 / fan_in))
            linear.bias.copy_(0.5 * torch.randn(fan_out, generator=generator, dtype=dtype))
        layers.append(linear)
        if i < len(sizes) - 2:
            layers.append(nn.ReLU() if activation == "relu" else nn.ELU())
    return nn.Sequential(*layers).eval()


class _Stacked(nn.Module):
    def __init__(self, mean, std):
        super().__init__()
        self.mean, self.std = mean, std

    def forward(self, z):
        return torch.cat([self.mean(z).reshape(len(z), -1), self.std(z).reshape(len(z), -1)], dim=1)


def stacked_decoder(mean, std) -> nn.Module:
    """z -> (mu(z), sigma(z)) concatenated: its pullback metric is the expected metric
    J_mu^T J_mu + J_sigma^T J_sigma of x = mu(z) + sigma(z) * eps (Arvanitidis et al. 2018), so
    `geodesic(stacked_decoder(mu, sigma), ...)` gives geodesics under the expected metric."""
    _check_decoder(mean)
    _check_decoder(std)
    if not isinstance(mean, nn.Module) or not isinstance(std, nn.Module):
        raise ValueError("mean and std must be nn.Modules (wrap a function in a module) so that their "
                         "device and dtype can be read")
    return _Stacked(mean, std)


def expected_metric(mean, std, z, chunk_size: int = 64) -> np.ndarray:
    """(N, d, d) expected pullback metric E[J^T J] = J_mu^T J_mu + J_sigma^T J_sigma of a stochastic
    decoder x = mu(z) + sigma(z) * eps, eps ~ N(0, I) (Arvanitidis et al. 2018, Theorem 1)."""
    return pullback_metric(stacked_decoder(mean, std), z, chunk_size=chunk_size)


class RBFStd(nn.Module):
    """Arvanitidis et al.'s variance head: sigma(z) = (sum_k w exp(-lambda_k ||z - c_k||^2) + zeta)^(-1/2).

    The precision is an RBF network on centres c_k of the training codes: near the data it is about
    w + zeta (a small std), far from every centre it falls to zeta (std 1 / sqrt(zeta), large). The
    expected metric then grows steeply where the data end, and geodesics stay on the data. Here the
    weights are one constant `weight` (the paper fits them by maximum likelihood; the shape of the
    metric away from the data, which is what matters for geodesics, is the same). `fit` places the
    centres by k-means and sets lambda_k = 1 / (2 (bandwidth * spread_k)^2) from each cluster's spread.
    The output is (N, out_dim): the same std for every output dimension."""

    def __init__(self, centers, bandwidths, weight: float = 100.0, zeta: float = 1e-2, out_dim: int = 1,
                 dtype=torch.float32):
        super().__init__()
        centers = torch.as_tensor(np.asarray(centers, np.float64), dtype=dtype)
        bandwidths = torch.as_tensor(np.asarray(bandwidths, np.float64), dtype=dtype)
        if centers.ndim != 2 or bandwidths.shape != (len(centers),) or not (bandwidths > 0).all():
            raise ValueError(f"centers {tuple(centers.shape)} and bandwidths {tuple(bandwidths.shape)} must be "
                             "(K, d) and (K,) with positive bandwidths")
        self.register_buffer("centers", centers)
        self.register_buffer("gamma", bandwidths)
        self.register_buffer("weight", torch.tensor(check_number("weight", weight, 0, low_open=True), dtype=dtype))
        self.register_buffer("zeta", torch.tensor(check_number("zeta", zeta, 0, low_open=True), dtype=dtype))
        self.out_dim = check_int("out_dim", out_dim, 1)
        self._dtype_anchor = nn.Parameter(torch.zeros((), dtype=dtype), requires_grad=False)  # device/dtype probe

    @classmethod
    def fit(cls, codes, num_centers: int = 32, bandwidth: float = 1.0, weight: float = 100.0, zeta: float = 1e-2,
            out_dim: int = 1, random_state=0, dtype=torch.float32) -> "RBFStd":
        from sklearn.cluster import KMeans

        from course_lib.seeding import as_random_state

        codes = np.asarray(codes, np.float64)
        if codes.ndim != 2 or len(codes) < 2:
            raise ValueError(f"codes has shape {codes.shape}; expected (N, d) with N >= 2")
        num_centers = min(check_int("num_centers", num_centers, 1), len(codes))
        bandwidth = check_number("bandwidth", bandwidth, 0, low_open=True)
        km = KMeans(num_centers, n_init=4, random_state=as_random_state(random_state)).fit(codes)
        spread = np.array([np.sqrt(((codes[km.labels_ == k] - c) ** 2).sum(1).mean()) if (km.labels_ == k).sum() > 1
                           else np.nan for k, c in enumerate(km.cluster_centers_)])
        spread = np.where(np.isfinite(spread) & (spread > 0), spread, np.nanmedian(spread) if np.isfinite(spread).any() else 1.0)
        return cls(km.cluster_centers_, 1.0 / (2 * (bandwidth * spread) ** 2), weight, zeta, out_dim, dtype)

    def forward(self, z):
        squared = (z.to(self.centers.dtype)[:, None] - self.centers[None]).pow(2).sum(-1)  # cdist has no forward AD
        precision = self.weight * torch.exp(-self.gamma * squared).sum(1, keepdim=True) + self.zeta
        return precision.rsqrt().expand(-1, self.out_dim)


# ------------------------------------------------------------------------- local geometry
def jacobian(decoder, z, chunk_size: int = 64, return_outputs: bool = False, progress: bool = False):
    """The decoder's Jacobians J(z) = df/dz, a tensor (N, D, d) for codes z (N, d).

    Forward mode (torch.func.jvp) pushes all d basis directions at once (torch.func.vmap over the
    directions) through the batched decoder for a chunk of `chunk_size` codes: d JVPs of a batch, no
    Python loop over directions or points (only over chunks, to bound memory). Forward mode suits a
    decoder, whose outputs (D = 4,096 pixels) far outnumber its inputs (d = 10). With
    `return_outputs`, also f(z) (N, D), which forward mode computes on the way."""
    decoder = _check_decoder(decoder)
    chunk_size = check_int("chunk_size", chunk_size, 1)
    z = _as_codes(decoder, z)
    flat = _flat(decoder)
    basis = torch.eye(z.shape[1], device=z.device, dtype=z.dtype)
    jacobians, outputs = [], []
    chunks = range(0, len(z), chunk_size)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*torch.jit.script.* is deprecated")  # raised inside torch.func
        for start in tqdm(chunks, desc="Jacobians", disable=not progress or len(chunks) < 2):
            chunk = z[start:start + chunk_size]
            value, columns = torch.func.vmap(lambda v: torch.func.jvp(flat, (chunk,), (v.expand_as(chunk),)),
                                             out_dims=(None, 0))(basis)  # value (n, D), columns (d, n, D)
            jacobians.append(columns.permute(1, 2, 0))
            outputs.append(value)
    J = torch.cat(jacobians)
    return (J, torch.cat(outputs)) if return_outputs else J


def _as_jacobians(J) -> torch.Tensor:
    J = torch.as_tensor(J.detach() if isinstance(J, torch.Tensor) else np.asarray(J))
    if J.ndim != 3 or 0 in J.shape:
        raise ValueError(f"J has shape {tuple(J.shape)}; expected (N, D, d), one Jacobian per code")
    return J.to(torch.float64)


def metric_from_jacobian(J) -> np.ndarray:
    """G = J^T J (N, d, d) in float64, symmetrised exactly."""
    J = _as_jacobians(J)
    G = J.mT @ J
    return (0.5 * (G + G.mT)).cpu().numpy()


def pullback_metric(decoder, z, chunk_size: int = 64, progress: bool = False) -> np.ndarray:
    """The pullback metric G(z) = J(z)^T J(z), (N, d, d) float64, symmetric positive semi-definite."""
    return metric_from_jacobian(jacobian(decoder, z, chunk_size=chunk_size, progress=progress))


def magnification_factor(G) -> np.ndarray:
    """(N,) half the log-determinant of the metric, 1/2 log det G = log sqrt(det J^T J): the log of the
    factor by which the decoder scales d-dimensional volume at z. -inf where G is singular."""
    G = np.asarray(G, np.float64)
    if G.ndim != 3 or G.shape[1] != G.shape[2]:
        raise ValueError(f"G has shape {G.shape}; expected (N, d, d)")
    sign, logdet = np.linalg.slogdet(G)
    return np.where(sign > 0, 0.5 * logdet, -np.inf)


def singular_values(J) -> np.ndarray:
    """(N, min(D, d)) singular values of each Jacobian, largest first (float64)."""
    return torch.linalg.svdvals(_as_jacobians(J)).cpu().numpy()


def rank_statistics(J, rtol: float | None = None) -> dict:
    """Numerical rank of each Jacobian and summaries.

    rank = number of singular values > rtol * s_max, with NumPy's `matrix_rank` default
    rtol = max(D, d) * eps of J's dtype unless given. Returns a dict with `singular_values` (N, r),
    `rank` (N,), `fraction_full_rank`, `mean_rank`, `rank_counts` {rank: count}, `condition` (N,)
    (s_max / s_min, inf where rank-deficient) and the `rtol` used."""
    dtype = J.dtype if isinstance(J, torch.Tensor) else np.asarray(J).dtype
    eps = torch.finfo(dtype).eps if isinstance(dtype, torch.dtype) else np.finfo(dtype).eps
    J = _as_jacobians(J)
    if rtol is None:
        rtol = max(J.shape[1], J.shape[2]) * eps
    rtol = check_number("rtol", rtol, 0, 1, high_open=True)
    s = singular_values(J)
    full = s.shape[1]
    rank = (s > rtol * s[:, :1]).sum(1)
    with np.errstate(divide="ignore", invalid="ignore"):
        condition = np.where(rank == full, s[:, 0] / s[:, -1], np.inf)
    values, counts = np.unique(rank, return_counts=True)
    return {"singular_values": s, "rank": rank, "fraction_full_rank": float((rank == full).mean()),
            "mean_rank": float(rank.mean()), "rank_counts": dict(zip(values.tolist(), counts.tolist())),
            "condition": condition, "rtol": rtol}


def tangent_basis(J, rank: int | None = None) -> np.ndarray:
    """Orthonormal bases (N, D, r) of the decoder's tangent spaces: the top-`rank` left singular vectors
    of each Jacobian (all min(D, d) when `rank` is None)."""
    J = _as_jacobians(J)
    full = min(J.shape[1], J.shape[2])
    rank = full if rank is None else check_int("rank", rank, 1)
    if rank > full:
        raise ValueError(f"rank={rank} is not allowed; the Jacobians {tuple(J.shape)} have at most {full} directions")
    U = torch.linalg.svd(J, full_matrices=False).U
    return U[..., :rank].cpu().numpy()


def principal_angles(A, B) -> np.ndarray:
    """Principal angles (radians, ascending) between the column spaces of orthonormal bases A (..., D, p)
    and B (..., D, q): arccos of the singular values of A^T B; min(p, q) angles per pair."""
    A, B = np.asarray(A, np.float64), np.asarray(B, np.float64)
    if A.ndim < 2 or B.ndim < 2 or A.shape[-2] != B.shape[-2]:
        raise ValueError(f"A {A.shape} and B {B.shape} must be bases (..., D, p) and (..., D, q) of the same D")
    cosines = np.linalg.svd(np.swapaxes(A, -1, -2) @ B, compute_uv=False)
    return np.arccos(np.clip(cosines, -1.0, 1.0))  # svd sorts descending, so angles come ascending


# ------------------------------------------------------------------------------------ curves
def straight_line(z0, z1, n_points: int) -> np.ndarray:
    """(n_points, d) evenly spaced points from z0 to z1 (or (B, n_points, d) for batches (B, d))."""
    n_points = check_int("n_points", n_points, 2)
    z0, z1 = np.asarray(z0, np.float64), np.asarray(z1, np.float64)
    if z0.shape != z1.shape or z0.ndim not in (1, 2):
        raise ValueError(f"z0 {z0.shape} and z1 {z1.shape} must both be (d,) or both (B, d)")
    t = np.linspace(0.0, 1.0, n_points)[:, None]
    line = z0[..., None, :] * (1 - t) + z1[..., None, :] * t
    line[..., 0, :], line[..., -1, :] = z0, z1  # exact ends
    return line


def _path_images(decoder, path: torch.Tensor, chunk_size: int) -> torch.Tensor:
    batch, n, d = path.shape
    return _decode(decoder, path.reshape(-1, d), chunk_size).reshape(batch, n, -1)


def _as_path(decoder, path) -> tuple[torch.Tensor, bool]:
    tensor = _as_codes(decoder, path, "path", ndim=(2, 3))
    single = tensor.ndim == 2
    if tensor.shape[-2] < 2:
        raise ValueError(f"path has shape {tuple(tensor.shape)}; a curve needs at least 2 points")
    return (tensor[None] if single else tensor), single


def step_lengths(decoder, path, chunk_size: int = 1024) -> np.ndarray:
    """The image distances ||f(z_{i+1}) - f(z_i)|| of each step of a path (n, d) -> (n - 1,), or of
    paths (B, n, d) -> (B, n - 1): flat for a constant-speed curve such as a converged geodesic."""
    tensor, single = _as_path(_check_decoder(decoder), path)
    steps = _path_images(decoder, tensor, chunk_size).diff(dim=1).to(torch.float64).norm(dim=-1).cpu().numpy()
    return steps[0] if single else steps


def curve_length(decoder, path, chunk_size: int = 1024) -> np.ndarray | float:
    """Length of the decoded polygon sum_i ||f(z_{i+1}) - f(z_i)|| of a path (n, d), or (B,) lengths of
    paths (B, n, d)."""
    length = step_lengths(decoder, path, chunk_size).sum(-1)
    return float(length) if length.ndim == 0 else length


def curve_energy(decoder, path, chunk_size: int = 1024) -> np.ndarray | float:
    """Discrete energy (n - 1)/2 sum_i ||f(z_{i+1}) - f(z_i)||^2 of a path with n points (time step
    1 / (n - 1)); (B,) energies for paths (B, n, d). L^2 <= 2 E, with equality at constant speed."""
    tensor, single = _as_path(_check_decoder(decoder), path)
    n = tensor.shape[1]
    squared = _path_images(decoder, tensor, chunk_size).diff(dim=1).to(torch.float64).pow(2).sum(-1)
    energy = (0.5 * (n - 1) * squared.sum(1)).cpu().numpy()
    return float(energy[0]) if single else energy


@dataclasses.dataclass
class GeodesicResult:
    """Geodesics between B pairs of codes (or one pair, then without the batch axis).

    path (B, n, d); length, energy, linear_length, linear_energy (B,); energy_history: the total energy
    after every accepted step, starting with the straight line's; gradient_history: the largest
    scale-free gradient ||grad E_b|| ||z1_b - z0_b|| / E_b after every step; converged: it fell below
    gtol; ratio = linear_length / length (>= 1; 1 when the straight line is already a geodesic)."""

    path: np.ndarray
    length: np.ndarray
    energy: np.ndarray
    linear_length: np.ndarray
    linear_energy: np.ndarray
    energy_history: list
    gradient_history: list
    converged: bool
    steps: int
    evaluations: int
    seconds: float
    method: str
    message: str

    @property
    def ratio(self):
        return self.linear_length / self.length


class _PathEnergy:
    """Energy and gradient of B discrete curves with fixed ends, for the optimisers of `geodesic`."""

    def __init__(self, decoder, z0: torch.Tensor, z1: torch.Tensor, n_points: int, pair_chunk: int):
        self.flat, self.n, self.pair_chunk = _flat(decoder), n_points, pair_chunk
        self.z0, self.z1 = z0, z1
        ends = _decode(decoder, torch.cat([z0, z1]))
        self.start, self.end = ends[:len(z0), None], ends[len(z0):, None]  # (B, 1, D)
        self.scale = (z1 - z0).to(torch.float64).norm(dim=1)  # (B,)
        self.evaluations = 0

    def __call__(self, interior: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-curve energies (B,) float64 and the gradient (B, n - 2, d) in the codes' dtype."""
        batch, m, d = interior.shape
        energies, gradients = [], []
        with torch.enable_grad():
            for s in range(0, batch, self.pair_chunk):
                x = interior[s:s + self.pair_chunk].detach().requires_grad_(True)
                images = self.flat(x.reshape(-1, d)).reshape(len(x), m, -1)
                full = torch.cat([self.start[s:s + len(x)], images, self.end[s:s + len(x)]], dim=1)
                energy = 0.5 * (self.n - 1) * full.diff(dim=1).pow(2).sum((1, 2))
                (gradient,) = torch.autograd.grad(energy.sum(), x)
                energies.append(energy.detach().to(torch.float64))
                gradients.append(gradient)
        self.evaluations += 1
        return torch.cat(energies), torch.cat(gradients)

    def relative_gradient(self, energies: torch.Tensor, gradient: torch.Tensor) -> float:
        """max over curves of ||grad E_b|| ||z1_b - z0_b|| / E_b (0 for a curve of zero energy)."""
        norms = gradient.to(torch.float64).flatten(1).norm(dim=1) * self.scale
        ratio = torch.where(energies > 0, norms / energies.clamp_min(torch.finfo(torch.float64).tiny),
                            torch.zeros_like(norms))
        return float(ratio.max()) if len(ratio) else 0.0


def geodesic(decoder, z0, z1, n_points: int = 16, method: str = "lbfgs", max_steps: int = 500,
             gtol: float = 0.05, lr: float | None = None, init=None, pair_chunk: int = 64,
             progress: bool = False) -> GeodesicResult:
    """Discrete geodesics from z0 to z1 (each (d,) or (B, d)) by minimising the curve energy.

    The n_points - 2 interior points move, the ends stay; the start is the straight line (or `init`,
    paths (n, d) / (B, n, d) whose ends are replaced by z0 and z1). B curves are optimised together
    (their energies add and do not interact). Stopping rule: the scale-free gradient
    ||grad E_b|| ||z1_b - z0_b|| / E_b of every curve <= `gtol` (converged), or `max_steps`.

    method "lbfgs": SciPy's L-BFGS-B on the interior written in sine modes (`_sine_basis`: a
    preconditioner that makes the flat-space problem well conditioned); its line search only accepts steps
    that decrease the energy (sufficient decrease), so the energy never increases. method "adam":
    torch Adam with step size `lr` (default: 1/20 of the longest latent segment length
    ||z1 - z0|| / (n - 1)); a step that would raise the energy is rejected and `lr` halved, so the
    energy never increases either. Energies are float64; the decoder runs in its own dtype.

    Choosing gtol: on smooth float64 decoders any small value is reached (the tests use 1e-5 to
    1e-7). The kit's decoders are ReLU nets in float32, whose energy has kinks; measured on lecture
    models with 16 points, gtol = 0.1 is reached after about 150 L-BFGS steps with the energy within
    about 0.5 % of where it ends, 0.05 (the default) after about 250 steps within about 0.2 %, and
    below about 0.01 float32 rounding stops the line search first (`converged` False, `message` says
    why; the path is still the best one found)."""
    decoder = _check_decoder(decoder)
    n_points = check_int("n_points", n_points, 3)
    max_steps = check_int("max_steps", max_steps, 0)
    gtol = check_number("gtol", gtol, 0, low_open=True)
    pair_chunk = check_int("pair_chunk", pair_chunk, 1)
    check_choice("method", method, METHODS)
    a, b = _as_codes(decoder, z0, "z0", (1, 2)), _as_codes(decoder, z1, "z1", (1, 2))
    if a.shape != b.shape:
        raise ValueError(f"z0 {tuple(a.shape)} and z1 {tuple(b.shape)} must have the same shape, (d,) or (B, d)")
    single = a.ndim == 1
    a, b = (a[None], b[None]) if single else (a, b)
    line = torch.as_tensor(straight_line(a.cpu().double().numpy(), b.cpu().double().numpy(), n_points))
    line = line.to(device=a.device, dtype=a.dtype)
    if init is None:
        start = line
    else:
        start = _as_codes(decoder, init, "init", (2, 3))
        given = tuple(start.shape)
        start = start[None] if start.ndim == 2 else start
        if start.shape != line.shape:
            raise ValueError(f"init has shape {given}; expected {tuple(line.shape[1:] if single else line.shape)}"
                             " (n_points codes per pair)")
        start = start.clone()
        start[:, 0], start[:, -1] = a, b
    if lr is not None:
        lr = check_number("lr", lr, 0, low_open=True)

    clock = time.perf_counter()
    problem = _PathEnergy(decoder, a, b, n_points, pair_chunk)
    interior = start[:, 1:-1].clone()
    energies, gradient = problem(interior)
    history, gradients = [float(energies.sum())], [problem.relative_gradient(energies, gradient)]
    bar = tqdm(total=max_steps, desc=f"geodesic ({method})", disable=not progress)
    if gradients[0] <= gtol or max_steps == 0:
        steps, message = 0, "the start already satisfies the gradient rule" if gradients[0] <= gtol else "max_steps = 0"
    elif method == "lbfgs":
        interior, steps, message = _run_lbfgs(problem, interior, max_steps, gtol, history, gradients, bar)
    else:
        if lr is None:
            lr = float((b - a).to(torch.float64).norm(dim=1).max()) / (n_points - 1) / 20 or 1e-3
        interior, steps, message = _run_adam(problem, interior, energies, gradient, max_steps, gtol, lr,
                                             history, gradients, bar)
    bar.close()
    path = torch.cat([a[:, None], interior.detach(), b[:, None]], dim=1)
    length, energy = curve_length(decoder, path), curve_energy(decoder, path)
    linear_length, linear_energy = curve_length(decoder, line), curve_energy(decoder, line)
    path = path.cpu().double().numpy()
    if single:
        path, length, energy = path[0], length[0], energy[0]
        linear_length, linear_energy = linear_length[0], linear_energy[0]
    return GeodesicResult(path, length, energy, linear_length, linear_energy, history, gradients,
                          gradients[-1] <= gtol, steps, problem.evaluations, time.perf_counter() - clock, method, message)


def _run_lbfgs(problem: _PathEnergy, interior: torch.Tensor, max_steps, gtol, history, gradients, bar):
    from scipy.optimize import minimize

    shape, device, dtype = interior.shape, interior.device, interior.dtype
    basis = _sine_basis(shape[1])  # x = start + W c: the curve's deviation in sine modes, mode k scaled 1/k
    start = interior.to(torch.float64).cpu().numpy()
    cache = {}

    def to_path(c):
        return start + np.einsum("ik,bkd->bid", basis, c.reshape(shape))

    def fun(c):
        energies, gradient = problem(torch.as_tensor(to_path(c), device=device, dtype=dtype))
        cache.clear()
        cache[c.tobytes()] = (energies, gradient)
        gradient_c = np.einsum("ik,bid->bkd", basis, gradient.to(torch.float64).cpu().numpy())
        return float(energies.sum()), gradient_c.ravel()

    def callback(intermediate_result):
        x = intermediate_result.x
        if x.tobytes() not in cache:
            fun(x)
        energies, gradient = cache[x.tobytes()]
        history.append(float(energies.sum()))
        gradients.append(problem.relative_gradient(energies, gradient))
        bar.update()
        if gradients[-1] <= gtol:
            raise StopIteration

    result = minimize(fun, np.zeros(start.size), jac=True, method="L-BFGS-B", callback=callback,
                      options={"maxiter": max_steps, "maxcor": 20, "ftol": 0.0, "gtol": 0.0, "maxls": 40})
    return torch.as_tensor(to_path(result.x), device=device, dtype=dtype), int(result.nit), str(result.message)


def _sine_basis(m: int) -> np.ndarray:
    """(m, m) W = S diag(1 / k): S the orthonormal DST-I basis of the m interior points (sin(pi i k / (m + 1))).

    For a flat metric the energy's Hessian in the interior points is a multiple of the second-difference
    matrix, whose eigenvectors are these sine modes with eigenvalues growing like k^2; in the variables
    c of x = start + W c it is close to a multiple of the identity, which L-BFGS needs far fewer steps for."""
    i = np.arange(1, m + 1)
    return np.sin(np.pi * np.outer(i, i) / (m + 1)) * np.sqrt(2 / (m + 1)) / i[None, :]


def _run_adam(problem: _PathEnergy, interior, energies, gradient, max_steps, gtol, lr, history, gradients, bar):
    x = interior.clone().requires_grad_(True)
    optimizer = torch.optim.Adam([x], lr=lr)
    message, steps, rejected = "max_steps reached", 0, 0
    for steps in range(1, max_steps + 1):
        previous = x.detach().clone()
        x.grad = gradient.clone()
        optimizer.step()
        new_energies, new_gradient = problem(x.detach())
        if float(new_energies.sum()) > history[-1]:  # reject: go back, smaller steps
            rejected += 1
            with torch.no_grad():
                x.copy_(previous)
            for group in optimizer.param_groups:
                group["lr"] *= 0.5
            if optimizer.param_groups[0]["lr"] < lr * 1e-6:
                message = "step size underflow after rejected steps"
                break
            continue
        energies, gradient = new_energies, new_gradient
        history.append(float(energies.sum()))
        gradients.append(problem.relative_gradient(energies, gradient))
        bar.update()
        if gradients[-1] <= gtol:
            message = "gradient rule satisfied"
            break
    return x.detach(), steps, f"{message} ({rejected} rejected steps)"


# ---------------------------------------------------------------------------------- curvature
@dataclasses.dataclass
class TraversalGeometry:
    """Local geometry along latent traversals: B base codes x K latents x S steps.

    codes (B, K, S, d); speed (B, K, S) = ||J e_k|| (image change per unit of latent k);
    direction_angle (B, K, S): angle between J e_k at each step and at the first step (how much the
    traversal's own direction in image space turns); tangent_angles (B, K, S, r): principal angles
    between the r-dimensional tangent space at each step and at the first (tangent alignment);
    turning (B, K): the sum of the angles between the directions J e_k at consecutive steps, the
    discrete total curvature of the decoded traversal (0 for a straight line in image space);
    length (B, K): the decoded polygon length of each traversal; latents: the K latent indices."""

    codes: np.ndarray
    speed: np.ndarray
    direction_angle: np.ndarray
    turning: np.ndarray
    tangent_angles: np.ndarray
    length: np.ndarray
    latents: np.ndarray


def traversal_geometry(decoder, base_codes, ranges, latents=None, num_steps: int = 9, rank: int | None = None,
                       chunk_size: int = 64, progress: bool = False) -> TraversalGeometry:
    """Speed, turning and tangent alignment along the traversal of each latent in `latents` (default:
    all) across ranges[k] = (low, high) around each of the base codes (B, d); one batched Jacobian
    call for all B * K * S points. `rank`: dimension of the tangent spaces compared (default: d)."""
    base = np.asarray(base_codes, np.float64)
    base = base[None] if base.ndim == 1 else base
    if base.ndim != 2:
        raise ValueError(f"base_codes has shape {np.shape(base_codes)}; expected (d,) or (B, d)")
    d = base.shape[1]
    ranges = np.asarray(ranges, np.float64)
    if ranges.shape != (d, 2):
        raise ValueError(f"ranges has shape {ranges.shape}; expected ({d}, 2), (low, high) per latent")
    latents = np.arange(d) if latents is None else np.asarray(latents, dtype=int)
    if latents.ndim != 1 or len(latents) == 0 or latents.min() < 0 or latents.max() >= d:
        raise ValueError(f"latents={latents.tolist()} is not allowed; use indices in [0, {d})")
    num_steps = check_int("num_steps", num_steps, 2)
    steps = np.linspace(ranges[latents, 0], ranges[latents, 1], num_steps).T  # (K, S)
    codes = np.repeat(np.repeat(base[:, None, None], len(latents), 1), num_steps, 2)  # (B, K, S, d)
    codes[:, np.arange(len(latents)), :, latents] = steps[None].transpose(1, 0, 2)
    J, images = jacobian(decoder, codes.reshape(-1, d), chunk_size=chunk_size, return_outputs=True, progress=progress)
    B, K, S = codes.shape[:3]
    J = J.to(torch.float64).reshape(B, K, S, -1, d)
    velocity = J[:, np.arange(K), :, :, latents].permute(1, 0, 2, 3)  # column k of each J: (B, K, S, D)
    speed = velocity.norm(dim=-1)
    unit = velocity / speed.clamp_min(1e-300)[..., None]
    cosine = (unit * unit[:, :, :1]).sum(-1).clamp(-1.0, 1.0)
    direction_angle = torch.arccos(cosine).cpu().numpy()
    consecutive = (unit[:, :, 1:] * unit[:, :, :-1]).sum(-1).clamp(-1.0, 1.0)
    turning = torch.arccos(consecutive).sum(-1).cpu().numpy()
    bases = tangent_basis(J.reshape(-1, J.shape[-2], d), rank).reshape(B, K, S, J.shape[-2], -1)
    tangent_angles = principal_angles(bases[:, :, :1], bases)
    length = images.to(torch.float64).reshape(B, K, S, -1).diff(dim=2).norm(dim=-1).sum(-1).cpu().numpy()
    return TraversalGeometry(codes, speed.cpu().numpy(), direction_angle, turning, tangent_angles, length, latents)


def traversal_curvature(decoder, base_codes, ranges, latents, num_steps: int = 9, rank: int | None = None,
                        n_points: int = 16, max_steps: int = 500, gtol: float = 0.05, progress: bool = False):
    """One row per latent of how curved the decoded traversals are, averaged over the base codes.

    Columns: `speed` (mean ||J e_k||, pixels per latent unit), `turning` (degrees, the total turn of
    the traversal's direction in image space), `tangent_angle` (degrees, the mean principal angle
    between the rank-r tangent spaces at the traversal's two ends: how much the whole manifold
    turns along it), `linear_length` and `geodesic_length` (the traversal's ends joined by the
    straight latent segment and by a geodesic, n_points each) and `ratio` = linear / geodesic.
    Returns (pandas DataFrame indexed by latent, TraversalGeometry, GeodesicResult)."""
    import pandas as pd

    geometry = traversal_geometry(decoder, base_codes, ranges, latents, num_steps, rank, progress=progress)
    B, K, S, d = geometry.codes.shape
    starts, ends = geometry.codes[:, :, 0].reshape(-1, d), geometry.codes[:, :, -1].reshape(-1, d)
    result = geodesic(decoder, starts, ends, n_points=n_points, max_steps=max_steps, gtol=gtol, progress=progress)
    table = pd.DataFrame({
        "speed": geometry.speed.mean((0, 2)),
        "turning": np.degrees(geometry.turning.mean(0)),
        "tangent_angle": np.degrees(geometry.tangent_angles[:, :, -1].mean((0, -1))),
        "linear_length": result.linear_length.reshape(B, K).mean(0),
        "geodesic_length": result.length.reshape(B, K).mean(0),
        "ratio": result.ratio.reshape(B, K).mean(0),
    }, index=pd.Index(geometry.latents, name="latent"))
    return table, geometry, result


# ------------------------------------------------------------------------- distances, classes
def graph_distances(decoder, codes, num_neighbors: int = 10, segment_points: int = 5, chunk_size: int = 1024,
                    return_predecessors: bool = False, progress: bool = False):
    """Approximate Riemannian distances (N, N) between codes (N, d) by shortest paths on a graph.

    Edges join each code to its `num_neighbors` nearest codes (Euclidean, in latent space) plus the
    edges of the Euclidean minimum spanning tree (so the graph is connected); an edge's weight is the
    decoded length of the straight segment between its ends with `segment_points` points. Shortest
    paths (Dijkstra) then approximate the geodesic distance by paths that hop between data codes:
    an upper bound on the discrete geodesic length, and close to it when codes are dense. With
    `return_predecessors`, also the predecessor matrix of `scipy.sparse.csgraph.shortest_path`."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import minimum_spanning_tree, shortest_path
    from scipy.spatial.distance import cdist

    decoder = _check_decoder(decoder)
    codes_t = _as_codes(decoder, codes, "codes")
    n = len(codes_t)
    if n < 2:
        raise ValueError(f"codes has shape {tuple(codes_t.shape)}; need at least 2 codes")
    num_neighbors = min(check_int("num_neighbors", num_neighbors, 1), n - 1)
    segment_points = check_int("segment_points", segment_points, 2)
    points = codes_t.to(torch.float64).cpu().numpy()
    euclidean = cdist(points, points)
    np.fill_diagonal(euclidean, np.inf)
    neighbors = np.argsort(euclidean, axis=1)[:, :num_neighbors]
    np.fill_diagonal(euclidean, 0.0)
    tree = minimum_spanning_tree(euclidean).tocoo()
    pairs = np.concatenate([np.stack([np.repeat(np.arange(n), num_neighbors), neighbors.ravel()], 1),
                            np.stack([tree.row, tree.col], 1)])
    pairs = np.unique(np.sort(pairs, axis=1), axis=0)  # undirected edges, each once
    # decode every segment's interior once, in chunks of whole segments
    ends = _decode(decoder, codes_t, chunk_size)
    t = torch.linspace(0, 1, segment_points, dtype=codes_t.dtype, device=codes_t.device)[1:-1, None]
    per_chunk = max(1, chunk_size // max(1, segment_points - 2))
    weights = []
    for s in tqdm(range(0, len(pairs), per_chunk), desc="graph edges", disable=not progress):
        i, j = torch.as_tensor(pairs[s:s + per_chunk, 0]), torch.as_tensor(pairs[s:s + per_chunk, 1])
        zi, zj = codes_t[i][:, None], codes_t[j][:, None]
        inner = (zi * (1 - t) + zj * t).reshape(-1, codes_t.shape[1])
        images = _decode(decoder, inner, chunk_size) if len(inner) else ends[:0]
        polygon = torch.cat([ends[i][:, None], images.reshape(len(i), segment_points - 2, -1), ends[j][:, None]], 1)
        weights.append(polygon.diff(dim=1).to(torch.float64).norm(dim=-1).sum(1).cpu().numpy())
    weights = np.concatenate(weights)
    weights = np.maximum(weights, np.finfo(np.float64).tiny)  # an explicit zero would drop the edge
    graph = coo_matrix((weights, (pairs[:, 0], pairs[:, 1])), shape=(n, n)).tocsr()
    result = shortest_path(graph, method="D", directed=False, return_predecessors=return_predecessors)
    return result


def graph_path(predecessors: np.ndarray, i: int, j: int) -> list[int]:
    """The node indices of the shortest path from i to j recorded in `predecessors` (from
    `graph_distances(..., return_predecessors=True)`)."""
    path = [j]
    while path[-1] != i:
        previous = predecessors[i, path[-1]]
        if previous < 0:
            raise ValueError(f"no path from {i} to {j} in the graph")
        path.append(int(previous))
    return path[::-1]


def separability(distances, labels) -> dict:
    """How well a distance matrix separates classes; every score is scale-free.

    margin: the mean over points of (b - a) / (b + a), with a the distance to the nearest point of the
    same class and b to the nearest point of another class (in [-1, 1]; > 0 when the nearest
    neighbour shares the class); nn_accuracy: the fraction of points whose nearest neighbour shares
    their class (leave-one-out 1-NN); silhouette: scikit-learn's silhouette score on the distances."""
    from sklearn.metrics import silhouette_score

    D = np.asarray(distances, np.float64)
    labels = np.asarray(labels)
    if D.ndim != 2 or D.shape[0] != D.shape[1] or D.shape[0] < 3:
        raise ValueError(f"distances has shape {D.shape}; expected a square (N, N) matrix with N >= 3")
    if labels.shape != (len(D),):
        raise ValueError(f"labels has shape {labels.shape}; expected ({len(D)},), one class per row of distances")
    if not np.isfinite(D).all() or (D < 0).any():
        raise ValueError("distances must be finite and non-negative")
    classes, counts = np.unique(labels, return_counts=True)
    if len(classes) < 2 or counts.min() < 2:
        raise ValueError(f"labels has classes {dict(zip(classes.tolist(), counts.tolist()))}; "
                         "need at least 2 classes with at least 2 points each")
    D = 0.5 * (D + D.T)
    same = labels[:, None] == labels[None, :]
    off = ~np.eye(len(D), dtype=bool)
    a = np.where(same & off, D, np.inf).min(1)
    b = np.where(~same, D, np.inf).min(1)
    with np.errstate(invalid="ignore"):
        margin = np.where(a + b > 0, (b - a) / (a + b), 0.0)
    nearest = np.argmin(np.where(off, D, np.inf), axis=1)
    np.fill_diagonal(D, 0.0)
    return {"margin": float(margin.mean()), "nn_accuracy": float((labels[nearest] == labels).mean()),
            "silhouette": float(silhouette_score(D, labels, metric="precomputed"))}


def latent_plane(codes, num: int = 60, margin: float = 0.1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A num x num grid over the bounding box of 2-D codes (widened by `margin` of its size):
    (xs (num,), ys (num,), points (num * num, 2)), rows of points running over xs fastest."""
    codes = np.asarray(codes, np.float64)
    if codes.ndim != 2 or codes.shape[1] != 2:
        raise ValueError(f"codes has shape {codes.shape}; expected (N, 2), a 2-D latent space")
    num = check_int("num", num, 2)
    low, high = codes.min(0), codes.max(0)
    pad = margin * (high - low)
    xs, ys = (np.linspace(low[k] - pad[k], high[k] + pad[k], num) for k in range(2))
    grid_x, grid_y = np.meshgrid(xs, ys)
    return xs, ys, np.stack([grid_x.ravel(), grid_y.ravel()], 1)
