"""How curved the decoded latent traversals are (Shukla, Uppal, Bhagat, Anand & Turaga 2019).

`traversal_geometry`: along each latent traversal, the image speed ||J e_k||, the turn of the traversal's
direction and of the whole tangent space; `traversal_curvature` adds the linear-to-geodesic length ratio
(1 = flat along that segment).
"""
from __future__ import annotations

import dataclasses

import numpy as np
import torch

from course_lib.checks import check_int
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
