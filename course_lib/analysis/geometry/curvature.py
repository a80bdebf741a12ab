"""How curved the decoded latent traversals are: finite-range proxies (Shukla, Uppal, Bhagat, Anand & Turaga
2019) and curvature itself at a point (the second fundamental form, do Carmo 1976).

`traversal_geometry`: along each latent traversal, the image speed ||J e_k||, the turn of the traversal's
direction and of the whole tangent space; `traversal_curvature` adds the linear-to-geodesic length ratio
(1 = flat along that segment). These measure turning over a finite range.

`second_derivative`, `second_fundamental_form` and `normal_curvature` measure the bending *at* a code. For the
decoded straight line gamma(t) = f(z + t v),

    gamma'(0) = J v,        gamma''(0) = d^2/dt^2 f(z + t v) |_{t=0}  (the second directional derivative),

both exact, by forward mode nested twice (`torch.func.jvp` of a `jvp`). Split gamma'' into its parts inside
and normal to the tangent space T = span(J) of the decoded manifold, with P the orthogonal projector onto T:

    II(v, v) = (I - P) gamma''                    the second fundamental form (do Carmo, Section 3-2),
    kappa_n(v) = ||II(v, v)|| / ||J v||^2         the normal curvature of the manifold in the direction J v,
    kappa(v) = ||gamma'' - (gamma'' . t) t|| / ||gamma'||^2,   t = gamma' / ||gamma'||   (the curve's curvature),
    kappa_g(v) = ||P gamma'' - (gamma'' . t) t|| / ||gamma'||^2          (its geodesic curvature),

and since t lies in T the two pieces are orthogonal: kappa^2 = kappa_n^2 + kappa_g^2. kappa_n is a property of
the decoded manifold and the direction J v alone (any curve through f(z) with that velocity has the same normal
acceleration, Meusnier's theorem: a latent curve's own acceleration J z'' is tangential); kappa_g says how far
the straight latent line is from a geodesic (0 for a geodesic). 1 / kappa_n is the radius of the circle that best
fits the manifold in that direction, in the units of the data space (pixel distance for the kit's images).
"""
from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import torch

from course_lib.checks import check_int, check_number
from course_lib.analysis.geometry.decoders import as_codes, check_decoder, flat_outputs
from course_lib.analysis.geometry.curves import geodesic
from course_lib.analysis.geometry.local import jacobian, principal_angles, tangent_basis


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


# ------------------------------------------------------------------- curvature at a point (second fundamental form)
def _codes_and_directions(decoder, z, directions):
    """z as (N, d) and the directions as (K, d) on the decoder's device and dtype (default: the d latent axes)."""
    z = as_codes(decoder, z, ndim=(1, 2))
    z = z[None] if z.ndim == 1 else z
    if directions is None:
        return z, torch.eye(z.shape[1], device=z.device, dtype=z.dtype)
    V = as_codes(decoder, directions, "directions", ndim=(1, 2))
    V = V[None] if V.ndim == 1 else V
    if V.shape[1] != z.shape[1]:
        raise ValueError(f"directions has shape {tuple(V.shape)}; expected (d,) or (K, d) with d = {z.shape[1]}, as z")
    if not (V.norm(dim=1) > 0).all():
        raise ValueError("directions holds a zero vector; a curve needs a direction to move in")
    return z, V


def _velocity_and_acceleration(flat, z: torch.Tensor, V: torch.Tensor):
    """gamma' = J v and gamma'' for every code in z (n, d) and every direction in V (K, d): (n, K, D) each, by one
    forward-mode pass nested in another over the n * K lines at once."""
    n, K = len(z), len(V)
    points, lines = z.repeat_interleave(K, 0), V.repeat(n, 1)  # point i * K + k moves along V[k]
    first, second = torch.func.jvp(lambda x: torch.func.jvp(flat, (x,), (lines,))[1], (points,), (lines,))
    return first.reshape(n, K, -1), second.reshape(n, K, -1)


def _chunks(z: torch.Tensor, num_directions: int, chunk_size: int):
    """Slices of codes such that each chunk decodes about `chunk_size` lines (codes x directions)."""
    step = max(1, check_int("chunk_size", chunk_size, 1) // num_directions)
    return [slice(start, start + step) for start in range(0, len(z), step)]


def second_derivative(decoder, z, directions=None, chunk_size: int = 64):
    """(gamma', gamma''): the first and second derivatives of the decoded straight lines gamma(t) = f(z + t v) at
    t = 0, for every code in z (N, d) (or (d,)) and every direction v in `directions` (K, d) (or (d,); default:
    the d latent axes e_k): tensors (N, K, D) in the decoder's dtype, on its device.

    gamma' = J v and gamma'' = sum_ij v_i v_j d^2 f / dz_i dz_j are exact (no finite differences): the inner
    `torch.func.jvp` is J v as a function of the code, the outer one differentiates it along v again. All
    lines of a chunk (about `chunk_size` of them) go through the batched decoder together; no Python loop over
    codes or directions."""
    decoder = check_decoder(decoder)
    z, V = _codes_and_directions(decoder, z, directions)
    flat = flat_outputs(decoder)
    parts = []
    with torch.no_grad(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*torch.jit.script.* is deprecated")  # raised inside torch.func
        for chunk in _chunks(z, len(V), chunk_size):
            parts.append(_velocity_and_acceleration(flat, z[chunk], V))
    return torch.cat([first for first, _ in parts]), torch.cat([second for _, second in parts])


def _tangent_projector_basis(J: torch.Tensor, rtol: float | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Orthonormal bases (n, D, d) of span(J) in float64, columns beyond the numerical rank (singular values
    <= rtol * s_max) zeroed, and the ranks (n,). A QR factorisation would do for full-rank J; the SVD also
    drops the directions a rank-deficient J does not reach."""
    if rtol is None:
        rtol = max(J.shape[1], J.shape[2]) * torch.finfo(J.dtype).eps
    U, S, _ = torch.linalg.svd(J.to(torch.float64), full_matrices=False)
    keep = S > rtol * S[:, :1]
    return U * keep[:, None, :], keep.sum(1)


def _split(basis: torch.Tensor, first: torch.Tensor, second: torch.Tensor) -> dict:
    """The tangential and normal parts of gamma'' and the three curvatures, float64; nan where gamma' = 0."""
    velocity, acceleration = first.to(torch.float64), second.to(torch.float64)
    tangential = torch.einsum("nDr,nkr->nkD", basis, torch.einsum("nDr,nkD->nkr", basis, acceleration))
    normal = acceleration - tangential
    speed = velocity.norm(dim=-1)
    unit = velocity / speed.clamp_min(1e-300)[..., None]
    along = (acceleration * unit).sum(-1, keepdim=True) * unit  # the part of gamma'' that only changes the speed
    squared = torch.where(speed > 0, speed ** 2, torch.nan)
    return {"normal": normal, "speed": speed, "acceleration": acceleration.norm(dim=-1),
            "kappa": (acceleration - along).norm(dim=-1) / squared,
            "kappa_normal": normal.norm(dim=-1) / squared,
            "kappa_geodesic": (tangential - along).norm(dim=-1) / squared}


def _bending(decoder, z, directions, rtol, chunk_size, keep_normal: bool):
    """Per chunk of codes: J, the tangent basis, gamma' and gamma'', split; the scalars (and II when asked)."""
    decoder = check_decoder(decoder)
    rtol = check_number("rtol", rtol, 0, 1, low_open=True, high_open=True, none_ok=True)
    z, V = _codes_and_directions(decoder, z, directions)
    axes = directions is None  # then gamma' along e_k is column k of J: no separate Jacobian pass
    parts = []
    for chunk in _chunks(z, len(V), chunk_size):
        first, second = second_derivative(decoder, z[chunk], V, chunk_size=chunk_size)
        J = first.mT if axes else jacobian(decoder, z[chunk], chunk_size=chunk_size)
        basis, rank = _tangent_projector_basis(J, rtol)
        split = _split(basis, first, second)
        if not keep_normal:
            del split["normal"]
        parts.append({**split, "rank": rank})
    return {key: torch.cat([part[key] for part in parts]) for key in parts[0]}, V


def second_fundamental_form(decoder, z, directions=None, rtol: float | None = None,
                            chunk_size: int = 64) -> torch.Tensor:
    """II(v, v) = (I - P) gamma'': the part of the second derivative of the decoded line f(z + t v) normal to the
    decoder's tangent space span(J(z)) (do Carmo 1976, Section 3-2), for every code in z (N, d) and direction in
    `directions` (K, d) (default: the latent axes): a float64 tensor (N, K, D) on the decoder's device.

    P projects onto the columns of J's SVD whose singular values exceed rtol * s_max (default rtol:
    max(D, d) * eps of J's dtype, NumPy's `matrix_rank` rule): the numerical tangent space."""
    return _bending(decoder, z, directions, rtol, chunk_size, keep_normal=True)[0]["normal"]


@dataclasses.dataclass
class CurvatureResult:
    """Curvature of the decoded straight lines t -> f(z_n + t v_k) at t = 0, arrays (N, K), float64.

    speed = ||J v|| and acceleration = ||gamma''|| (data units per latent unit, and per latent unit squared);
    kappa_normal = ||II(v, v)|| / ||J v||^2, the normal curvature of the decoded manifold in the direction J v;
    kappa = the curvature of the decoded line itself; kappa_geodesic = its part inside the tangent space
    (kappa^2 = kappa_normal^2 + kappa_geodesic^2). Curvatures are in 1 / data units (1 / pixel distance for
    the kit's images) and nan where J v = 0. rank (N,): the dimension of the tangent space used at each code;
    directions (K, d) and codes (N, d): the inputs."""

    speed: np.ndarray
    acceleration: np.ndarray
    kappa: np.ndarray
    kappa_normal: np.ndarray
    kappa_geodesic: np.ndarray
    rank: np.ndarray
    directions: np.ndarray
    codes: np.ndarray

    def to_frame(self):
        """A long pandas DataFrame: one row per (code, direction) with the five measures."""
        import pandas as pd

        N, K = self.speed.shape
        return pd.DataFrame({"code": np.repeat(np.arange(N), K), "direction": np.tile(np.arange(K), N),
                             **{name: getattr(self, name).ravel() for name in
                                ("speed", "acceleration", "kappa", "kappa_normal", "kappa_geodesic")}})


def normal_curvature(decoder, z, directions=None, rtol: float | None = None, chunk_size: int = 64) -> CurvatureResult:
    """Normal, geodesic and total curvature of the decoded straight lines f(z + t v) at every code in z (N, d) and
    every direction in `directions` (K, d) (default: the d latent axes, so column k is the traversal of z_k).

    kappa_n(v) = ||II(v, v)|| / ||J v||^2 does not change when v is scaled and is divided by c when the decoder
    is multiplied by c: it is a property of the decoded manifold, in 1 / data units. See the module docstring
    for the equations and `second_fundamental_form` for `rtol`. Exact derivatives (nested forward mode), float64
    projections; one chunk of about `chunk_size` lines at a time."""
    values, V = _bending(decoder, z, directions, rtol, chunk_size, keep_normal=False)
    arrays = {key: value.cpu().numpy() for key, value in values.items()}
    codes = as_codes(decoder, z, ndim=(1, 2)).to(torch.float64)
    return CurvatureResult(**arrays, directions=V.to(torch.float64).cpu().numpy(),
                           codes=codes.reshape(-1, V.shape[1]).cpu().numpy())
