"""Locatello et al. (2019), Theorem 1: an entangling bijection that leaves the distribution unchanged.

The theorem. Let d > 1 and let z have a factorised density p(z) = prod_i p_i(z_i). There are
(infinitely many) bijections f of the support with

  * every partial derivative non-zero almost everywhere, d f_i(u) / d u_j != 0 for all i, j
    (f(z) is "completely entangled" with z: every new coordinate depends on every old one), and
  * f(z) ~ z: P(f(z) <= u) = P(z <= u) for all u.

The proof builds f = g^-1 o h^-1 o A o h o g from four maps (all coordinate-wise except A):

  g_i(u_i) = F_i(u_i)              the marginal CDF: z -> uniform on the cube [0, 1]^d
  h_i(s_i) = Phi^-1(s_i)           the standard normal quantile: uniform -> N(0, I)
  A                                an orthogonal matrix with no zero entry: N(0, I) -> N(0, I)
  h^-1, g^-1                       back: N(0, I) -> uniform -> p

Each step maps the distribution to a known one, so f(z) ~ z; A mixes all coordinates and the
coordinate-wise maps are strictly monotone, so every partial derivative is non-zero. The paper's A
is the Householder reflection A = I - 2 v v^T with v_1 = sqrt(alpha), v_i = sqrt((1 - alpha) / (d - 1))
(`householder`). Any orthogonal matrix without zero entries works (`random_orthogonal` draws one).

For the VAE prior p(z) = N(0, I) the maps h o g are the identity (g = Phi, h = Phi^-1), so f is
the linear map u -> A u. That is all the trained-model part needs: `EntangledVAE` wraps a trained
`GaussianVAE` with encoder' = A o encoder and decoder' = decoder o A^T as a torch module.

Numerics. Codes are rows: `EntanglingMap(u)` takes (N, d) or (d,). CDF values of exactly 0 or 1 would
give infinite Gaussian coordinates, so g and h are never evaluated separately: the Gaussian
coordinate is computed in log space, n = Phi^-1(exp(log F(u))) = ndtri_exp(logcdf) in the lower half
and n = -ndtri_exp(logsf) in the upper half (accurate in both tails), then clipped to
[-CLIP, CLIP] (CLIP = 37, Phi(-37) ~ 5.7e-300 is still a normal double). On the way back the lower
half uses ppf(Phi(m)) and the upper half isf(Phi(-m)), so no quantile function sees a probability
that rounds to 0 or 1. Only points with tail probability below 1e-300 are affected by the clip.
What a double cannot hold stays lost: near the upper edge of a bounded support (a uniform
coordinate at 1 - 1e-12) only ~1e-16 of the distance to the edge is resolved, so f and f^-1 agree to
1e-8 in the bulk and to fewer digits for points mapped within ~1e-8 of such an edge.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import scipy.stats
import torch
from scipy.special import ndtr, ndtri_exp
from torch import nn

from course_lib.checks import check_choice, check_int, check_number

CLIP = 37.0  # Gaussian coordinates are clipped to [-CLIP, CLIP]: Phi(-37) ~ 5.7e-300 > 0
ORTHOGONALITY_TOLERANCE = 1e-8
_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)


# ----------------------------------------------------------------------------- the orthogonal matrix
def _check_dimension(d) -> int:
    return check_int("d", d, 2, note=" (in one dimension there is nothing to entangle: the only orthogonal "
                                     "1 x 1 matrices are +1 and -1)")


def householder(d: int, alpha: float = 0.25) -> np.ndarray:
    """The proof's orthogonal matrix A = I - 2 v v^T, v_1 = sqrt(alpha), v_i = sqrt((1 - alpha) / (d - 1)).

    |v| = 1, so A is a reflection (A^T = A, A^2 = I, det A = -1). Its entries are
    A_11 = 1 - 2 alpha, A_ii = 1 - 2 (1 - alpha) / (d - 1) for i > 1, A_ij = -2 v_i v_j off the diagonal:
    all non-zero for alpha in the open interval (0, 0.5) and any d >= 2.
    """
    d = _check_dimension(d)
    check_number("alpha", alpha, 0, 0.5, low_open=True, high_open=True)
    v = np.full(d, math.sqrt((1 - alpha) / (d - 1)))
    v[0] = math.sqrt(alpha)
    return np.eye(d) - 2 * np.outer(v, v)


def random_orthogonal(d: int, random_state) -> np.ndarray:
    """A Haar-random orthogonal d x d matrix (QR of a Gaussian matrix with R's signs absorbed).

    Its entries are non-zero with probability 1, so it entangles as well as `householder`.
    """
    from course_lib.seeding import as_random_state

    d = _check_dimension(d)
    q, r = np.linalg.qr(as_random_state(random_state).randn(d, d))
    return q * np.sign(np.diag(r))


def check_orthogonal(matrix, name: str = "matrix") -> np.ndarray:
    """`matrix` as a float64 (d, d) array with d >= 2, or a ValueError if it is not orthogonal."""
    matrix = np.asarray(matrix, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1] or matrix.shape[0] < 2:
        raise ValueError(f"{name} has shape {matrix.shape}; use a square (d, d) matrix with d >= 2")
    error = np.abs(matrix.T @ matrix - np.eye(len(matrix))).max()
    if not error <= ORTHOGONALITY_TOLERANCE:
        raise ValueError(f"{name} is not orthogonal: max |A^T A - I| = {error:.2e} > {ORTHOGONALITY_TOLERANCE:g}")
    return matrix


# ----------------------------------------------------------------------------- the bijection f
def _check_marginals(marginals) -> tuple:
    if not isinstance(marginals, Sequence) or isinstance(marginals, str):
        raise ValueError(f"marginals={marginals!r} is not allowed; use a list of frozen scipy.stats continuous "
                         "distributions, one per dimension (e.g. [scipy.stats.norm(), scipy.stats.expon()])")
    for i, marginal in enumerate(marginals):
        if not isinstance(getattr(marginal, "dist", None), scipy.stats.rv_continuous):
            raise ValueError(f"marginals[{i}]={marginal!r} is not allowed; use a frozen scipy.stats continuous "
                             "distribution such as scipy.stats.norm() (the theorem needs densities)")
    _check_dimension(len(marginals))
    return tuple(marginals)


class EntanglingMap:
    """f = g^-1 o h^-1 o A o h o g of Theorem 1 for a factorised distribution given by its marginals.

    marginals  one frozen `scipy.stats` continuous distribution per dimension (d >= 2)
    alpha      the Householder parameter in (0, 0.5), used when `matrix` is None
    matrix     any orthogonal (d, d) matrix instead of the Householder reflection

    `f(u)` maps (N, d) or (d,) points of the support; `f.inverse` is g^-1 o h^-1 o A^T o h o g;
    `f.jacobian(u)` is analytic; `f.stages(u)` returns every intermediate point (for figures).
    If z has the marginals as independent coordinates, f(z) has the same distribution as z.
    """

    def __init__(self, marginals, alpha: float = 0.25, matrix=None):
        self.marginals = _check_marginals(marginals)
        self.d = len(self.marginals)
        if matrix is None:
            self.matrix = householder(self.d, alpha)
        else:
            self.matrix = check_orthogonal(matrix)
            if len(self.matrix) != self.d:
                raise ValueError(f"matrix is {self.matrix.shape} but there are {self.d} marginals; "
                                 f"use a ({self.d}, {self.d}) matrix, one row and column per marginal")

    @classmethod
    def standard_normal(cls, d: int, alpha: float = 0.25, matrix=None) -> "EntanglingMap":
        """The map for the VAE prior N(0, I): here h o g is the identity and f(u) = A u."""
        return cls([scipy.stats.norm() for _ in range(_check_dimension(d))], alpha=alpha, matrix=matrix)

    # -- input checks
    def _points(self, u, name: str = "u") -> tuple[np.ndarray, bool]:
        u = np.asarray(u, dtype=np.float64)
        single = u.ndim == 1
        if u.ndim not in (1, 2) or u.shape[-1] != self.d:
            raise ValueError(f"{name} has shape {u.shape}; use ({self.d},) or (N, {self.d}): one column per marginal")
        u = np.atleast_2d(u)
        if not np.all(np.isfinite(u)):
            raise ValueError(f"{name} has non-finite entries; use finite points of the support")
        for i, marginal in enumerate(self.marginals):
            low, high = marginal.support()
            outside = (u[:, i] < low) | (u[:, i] > high)
            if outside.any():
                raise ValueError(f"{name}[:, {i}] has {outside.sum()} value(s) outside the support [{low}, {high}] "
                                 f"of marginals[{i}] (e.g. {u[outside, i][0]!r})")
        return u, single

    # -- the coordinate-wise halves
    def to_uniform(self, u) -> np.ndarray:
        """g(u): each coordinate through its marginal CDF, onto the cube [0, 1]^d (for figures; may round to 0/1)."""
        u, single = self._points(u)
        s = np.column_stack([m.cdf(u[:, i]) for i, m in enumerate(self.marginals)])
        return s[0] if single else s

    def to_gaussian(self, u) -> np.ndarray:
        """h(g(u)) = Phi^-1(F_i(u_i)), computed in log space in both tails and clipped to [-CLIP, CLIP]."""
        u, single = self._points(u)
        return self._to_gaussian(u)[0] if single else self._to_gaussian(u)

    def _to_gaussian(self, u: np.ndarray) -> np.ndarray:
        columns = []
        for i, marginal in enumerate(self.marginals):
            log_cdf, log_sf = marginal.logcdf(u[:, i]), marginal.logsf(u[:, i])
            with np.errstate(divide="ignore", invalid="ignore"):
                lower = ndtri_exp(np.minimum(log_cdf, 0.0))
                upper = -ndtri_exp(np.minimum(log_sf, 0.0))
            columns.append(np.where(log_cdf < log_sf, lower, upper))
        return np.clip(np.column_stack(columns), -CLIP, CLIP)

    def from_gaussian(self, n) -> np.ndarray:
        """g^-1(h^-1(n)) = F_i^-1(Phi(n_i)): ppf of Phi(n) below 0, isf of Phi(-n) above (accurate tails)."""
        n = np.asarray(n, dtype=np.float64)
        single = n.ndim == 1
        if n.ndim not in (1, 2) or n.shape[-1] != self.d:
            raise ValueError(f"n has shape {n.shape}; use ({self.d},) or (N, {self.d})")
        out = self._from_gaussian(np.atleast_2d(n))
        return out[0] if single else out

    def _from_gaussian(self, n: np.ndarray) -> np.ndarray:
        n = np.clip(n, -CLIP, CLIP)
        columns = []
        for i, marginal in enumerate(self.marginals):
            column = np.empty(len(n))
            low = n[:, i] <= 0
            column[low] = marginal.ppf(ndtr(n[low, i]))
            column[~low] = marginal.isf(ndtr(-n[~low, i]))
            columns.append(column)
        return np.column_stack(columns)

    # -- f, its inverse and its Jacobian
    def __call__(self, u) -> np.ndarray:
        """f(u) = g^-1(h^-1(A h(g(u)))) for points u of shape (N, d) or (d,)."""
        u, single = self._points(u)
        out = self._from_gaussian(self._to_gaussian(u) @ self.matrix.T)
        return out[0] if single else out

    def inverse(self, u) -> np.ndarray:
        """f^-1(u) = g^-1(h^-1(A^T h(g(u)))). (For the Householder reflection A^T = A^-1 = A, so f^-1 = f.)"""
        u, single = self._points(u)
        out = self._from_gaussian(self._to_gaussian(u) @ self.matrix)
        return out[0] if single else out

    def stages(self, u) -> dict[str, np.ndarray]:
        """Every intermediate point of the proof: z, g(z), h(g(z)), A h(g(z)), h^-1(...), f(z)."""
        u, _ = self._points(u)
        n = self._to_gaussian(u)
        m = n @ self.matrix.T
        return {"z": u, "uniform": ndtr(n), "gaussian": n, "mixed": m, "mixed_uniform": ndtr(m),
                "f(z)": self._from_gaussian(m)}

    def jacobian(self, u) -> np.ndarray:
        r"""The analytic Jacobian J_ij = d f_i / d u_j, shape (N, d, d) (or (d, d) for one point).

        Chain rule through f = g^-1 o h^-1 o A o h o g, naming the intermediate points
        s = g(u), n = h(s), m = A n, t = h^-1(m), f = g^-1(t):

          ds_j/du_j = p_j(u_j)          (derivative of the CDF F_j is the density)
          dn_j/ds_j = 1 / phi(n_j)      (inverse-function rule for Phi^-1; phi the N(0, 1) density)
          dm/dn     = A
          dt_i/dm_i = phi(m_i)
          df_i/dt_i = 1 / p_i(f_i)      (inverse-function rule for F_i^-1)

        so J = diag(phi(m) / p(f)) . A . diag(p(u) / phi(n)),

          J_ij = [phi(m_i) / p_i(f_i)] * A_ij * [p_j(u_j) / phi(n_j)].

        The outer factors are positive wherever the densities are, so J_ij != 0 exactly where A_ij != 0.
        Computed in log space (log phi, logpdf) so that tiny densities in the tails do not overflow.
        For N(0, I) marginals phi = p, n = u, m = f and J = A.
        """
        u, single = self._points(u)
        n = self._to_gaussian(u)
        m = n @ self.matrix.T
        f = self._from_gaussian(m)
        log_pdf_u = np.column_stack([mg.logpdf(u[:, i]) for i, mg in enumerate(self.marginals)])
        log_pdf_f = np.column_stack([mg.logpdf(f[:, i]) for i, mg in enumerate(self.marginals)])
        left = (-0.5 * m ** 2 - _LOG_SQRT_2PI) - log_pdf_f  # log phi(m_i) - log p_i(f_i)
        right = log_pdf_u - (-0.5 * n ** 2 - _LOG_SQRT_2PI)  # log p_j(u_j) - log phi(n_j)
        with np.errstate(divide="ignore"):
            log_abs_a = np.log(np.abs(self.matrix))
        jac = np.sign(self.matrix)[None] * np.exp(left[:, :, None] + log_abs_a[None] + right[:, None, :])
        return jac[0] if single else jac

    def sample(self, num: int, random_state) -> np.ndarray:
        """(num, d) independent draws from the factorised distribution prod_i p_i."""
        from course_lib.seeding import as_random_state

        num = check_int("num", num, 1)
        random_state = as_random_state(random_state)
        return np.column_stack([m.rvs(size=num, random_state=random_state) for m in self.marginals])


def finite_difference_jacobian(function, u, step: float = 1e-5) -> np.ndarray:
    """Central differences (d, d) of a map R^d -> R^d at one point u, for checks.

    Richardson-extrapolated, (4 D(h/2) - D(h)) / 3 with D the central difference, so the error is
    O(h^4): the Jacobian of f varies fast near the edge of a bounded support (a uniform marginal).
    """
    u = np.asarray(u, dtype=np.float64)

    def central(h):
        columns = []
        for j in range(len(u)):
            e = np.zeros_like(u)
            e[j] = h[j]
            columns.append((function(u + e) - function(u - e)) / (2 * h[j]))
        return np.column_stack(columns)

    h = step * np.maximum(1.0, np.abs(u))
    return (4 * central(h / 2) - central(h)) / 3


# ----------------------------------------------------------------------------- two-sample checks
def _two_samples(x, y) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.atleast_2d(np.asarray(x, np.float64)), np.atleast_2d(np.asarray(y, np.float64))
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise ValueError(f"x {x.shape} and y {y.shape} must be (N, d) and (M, d) with the same d")
    return x, y


def ks_tests(x, y, num_projections: int = 0, random_state=None) -> dict[str, np.ndarray]:
    """Kolmogorov-Smirnov two-sample p-values (scipy.stats.ks_2samp) of x (N, d) against y (M, d).

    'dimensions': one p-value per coordinate (the marginals). Equal marginals do not make equal joints
    (independence could be lost), so 'projections' adds one test per random unit direction w of x w
    against y w: by the Cramer-Wold theorem all 1-D projections together determine the joint.
    """
    x, y = _two_samples(x, y)
    result = {"dimensions": np.array([scipy.stats.ks_2samp(x[:, i], y[:, i]).pvalue for i in range(x.shape[1])])}
    if num_projections:
        from course_lib.seeding import as_random_state

        directions = as_random_state(random_state).randn(x.shape[1], num_projections)
        directions /= np.linalg.norm(directions, axis=0)
        px, py = x @ directions, y @ directions
        result["projections"] = np.array([scipy.stats.ks_2samp(px[:, k], py[:, k]).pvalue
                                          for k in range(num_projections)])
    return result


def energy_distance_test(x, y, random_state, num_permutations: int = 200, max_points: int = 1000) -> dict:
    """Permutation test of equal joint distributions with the energy distance (Szekely & Rizzo 2004).

    E = 2 E|X - Y| - E|X - X'| - E|Y - Y'| >= 0, with equality iff X ~ Y. Up to `max_points` of each
    sample are used (the distance matrix is quadratic); the p-value is the fraction of random
    relabellings of the pooled sample whose statistic is at least the observed one (+1 smoothing).
    """
    from course_lib.seeding import as_random_state

    x, y = _two_samples(x, y)
    random_state = as_random_state(random_state)
    x = x[random_state.permutation(len(x))[:max_points]]
    y = y[random_state.permutation(len(y))[:max_points]]
    pooled = np.concatenate([x, y])
    squared = (pooled ** 2).sum(1)
    distances = np.sqrt(np.maximum(squared[:, None] + squared[None] - 2 * pooled @ pooled.T, 0.0))
    labels = np.zeros((len(pooled), num_permutations + 1))
    labels[:len(x), 0] = 1.0
    for k in range(1, num_permutations + 1):
        labels[random_state.permutation(len(pooled))[:len(x)], k] = 1.0
    nx, ny = len(x), len(y)
    d_labels = distances @ labels  # column k: sum over the other points of the distance, per point
    s_xx = (labels * d_labels).sum(0)
    s_all = distances.sum()
    s_xy = ((1 - labels) * d_labels).sum(0)  # sum over y-points of distances to x-points
    s_yy = s_all - s_xx - 2 * s_xy
    statistics = 2 * s_xy / (nx * ny) - s_xx / nx ** 2 - s_yy / ny ** 2
    p_value = (1 + np.sum(statistics[1:] >= statistics[0])) / (num_permutations + 1)
    return {"statistic": float(statistics[0]), "p_value": float(p_value)}


# ----------------------------------------------------------------------------- the trained VAE
class _LinearLatent(nn.Module):
    def __init__(self, matrix: torch.Tensor):
        super().__init__()
        self.register_buffer("matrix", matrix)


class EntangledEncoder(_LinearLatent):
    """x -> (A mu(x), log diag(A Sigma(x) A^T)): the rotated posterior's mean and *marginal* log-variances.

    The rotated posterior N(A mu, A Sigma A^T) is no longer diagonal; `EntangledVAE.posterior` gives the
    full covariance. The marginal variances are what per-coordinate tools (KL per latent,
    traversal ranges) need.
    """

    def __init__(self, encoder: nn.Module, matrix: torch.Tensor):
        super().__init__(matrix)
        self.base = encoder
        self.num_latent = encoder.num_latent

    def forward(self, x):
        mean, log_var = self.base(x)
        a = self.matrix.to(mean.dtype)
        return mean @ a.T, torch.log((a ** 2) @ torch.exp(log_var).T).T  # Var(z'_i) = sum_j A_ij^2 sigma_j^2


class EntangledDecoder(_LinearLatent):
    """z' -> decoder(A^T z'): the decoder composed with f^-1."""

    def __init__(self, decoder: nn.Module, matrix: torch.Tensor):
        super().__init__(matrix)
        self.base = decoder

    def forward(self, z):
        return self.base(z @ self.matrix.to(z.dtype))  # rows: (A^T z'^T)^T = z' A


class EntangledVAE(nn.Module):
    """A trained `GaussianVAE` seen through f(u) = A u: encoder' = f o encoder, decoder' = decoder o f^-1.

    Valid because the VAE's prior is N(0, I), for which Theorem 1's f is the linear map u -> A u (the
    coordinate-wise maps g = Phi and h = Phi^-1 cancel). The posterior becomes
    q'(z' | x) = N(A mu(x), A diag(sigma^2(x)) A^T), a full-covariance Gaussian; `forward` samples it
    exactly (z' = A mu + L eps with L L^T the covariance).

    `posterior` chooses what the encoder may output:
      "full"        N(A mu, A Sigma A^T): the exact image of q under f (the theorem's model).
      "mean_field"  the diagonal Gaussian closest to it in KL(q || .), variances 1 / diag(A Sigma^-1 A^T)
                    (the mean-field solution for a Gaussian target; Bishop 2006, Section 10.1.2): the best
                    a diagonal-Gaussian encoder, the family VAEs actually use, can do for this decoder.
      "marginal"    N(A mu, diag(A Sigma A^T)): the marginal variances (too wide in every direction).
    """

    POSTERIORS = ("full", "mean_field", "marginal")

    def __init__(self, vae: nn.Module, matrix, posterior: str = "full"):
        super().__init__()
        check_choice("posterior", posterior, self.POSTERIORS)
        matrix = check_orthogonal(matrix)
        if len(matrix) != vae.num_latent:
            raise ValueError(f"matrix is {matrix.shape} but the model has {vae.num_latent} latents; "
                             f"use a ({vae.num_latent}, {vae.num_latent}) orthogonal matrix")
        device = next(vae.parameters()).device
        a = torch.as_tensor(matrix, dtype=torch.float32, device=device)
        self.encoder = EntangledEncoder(vae.encoder, a)
        self.decoder = EntangledDecoder(vae.decoder, a)
        self.num_latent = vae.num_latent
        self.posterior_kind = posterior

    @property
    def matrix(self) -> torch.Tensor:
        return self.encoder.matrix

    def posterior(self, x) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean (N, D), covariance (N, D, D)) of q'(z' | x): N(A mu, A diag(sigma^2) A^T) or a diagonal version."""
        mean, log_var = self.encoder.base(x)
        a = self.matrix.to(mean.dtype)
        if self.posterior_kind == "mean_field":  # precision A Sigma^-1 A^T, keep its diagonal, invert
            return mean @ a.T, torch.diag_embed(1 / ((a ** 2) @ torch.exp(-log_var).T).T)
        covariance = a[None] * torch.exp(log_var)[:, None, :] @ a.T[None]
        if self.posterior_kind == "marginal":
            covariance = torch.diag_embed(torch.diagonal(covariance, dim1=1, dim2=2))
        return mean @ a.T, covariance

    def forward(self, x) -> dict[str, torch.Tensor]:
        mean, covariance = self.posterior(x)
        scale = torch.linalg.cholesky(covariance)
        z = mean + (scale @ torch.randn_like(mean)[:, :, None])[:, :, 0]
        return {"mean": mean, "covariance": covariance, "z": z, "logits": self.decoder(z)}


def gaussian_posterior(model, x) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean, full covariance) of q(z | x) for a GaussianVAE (diagonal) or an EntangledVAE (full)."""
    if hasattr(model, "posterior"):
        return model.posterior(x)
    mean, log_var = model.encoder(x)
    return mean, torch.diag_embed(torch.exp(log_var))


def kl_full_covariance(mean: torch.Tensor, covariance: torch.Tensor) -> torch.Tensor:
    r"""KL(N(mean, covariance) || N(0, I)) = 1/2 (tr C + |m|^2 - D - log det C), per sample (N,).

    Invariant under m -> A m, C -> A C A^T for orthogonal A: tr(A C A^T) = tr C, |A m| = |m|,
    det(A C A^T) = det(A)^2 det C = det C.
    """
    d = mean.shape[-1]
    trace = torch.diagonal(covariance, dim1=-2, dim2=-1).sum(-1)
    return 0.5 * (trace + (mean ** 2).sum(-1) - d - torch.linalg.slogdet(covariance)[1])


@torch.no_grad()
def elbo_terms(model, observations, num_samples: int = 1, seed: int = 0,
               batch_size: int = 256) -> dict[str, np.ndarray]:
    """Per-image ELBO = E_q[log p(x | z)] - KL(q(z | x) || N(0, I)) for a GaussianVAE or an EntangledVAE.

    The KL is analytic (full-covariance formula, float64); the reconstruction term is a Monte Carlo
    average over `num_samples` draws z = mean + L eps, L the Cholesky factor of the posterior
    covariance, eps from a torch generator seeded with `seed`. Returns arrays (N,) 'reconstruction',
    'kl', 'elbo' in nats.
    """
    from course_lib.distributions import bernoulli_reconstruction
    from course_lib.representation import device_of

    num_samples = check_int("num_samples", num_samples, 1)
    device = device_of(model)
    generator = torch.Generator(device=device).manual_seed(seed)
    reconstruction, kl = [], []
    for start in range(0, len(observations), batch_size):
        x = torch.as_tensor(np.asarray(observations[start:start + batch_size]), dtype=torch.float32, device=device)
        mean, covariance = (t.double() for t in gaussian_posterior(model, x))
        kl.append(kl_full_covariance(mean, covariance).cpu())
        scale = torch.linalg.cholesky(covariance)
        log_lik = torch.zeros(len(x), dtype=torch.float64, device=device)
        for _ in range(num_samples):
            eps = torch.randn(mean.shape, generator=generator, device=device, dtype=torch.float64)
            z = mean + (scale @ eps[:, :, None])[:, :, 0]
            log_lik -= bernoulli_reconstruction(model.decoder(z.float()), x).double()
        reconstruction.append((log_lik / num_samples).cpu())
    reconstruction, kl = torch.cat(reconstruction).numpy(), torch.cat(kl).numpy()
    return {"reconstruction": reconstruction, "kl": kl, "elbo": reconstruction - kl}
