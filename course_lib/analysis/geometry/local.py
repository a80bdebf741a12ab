"""Local geometry at a code: the Jacobian J = df/dz, the pullback metric G = J^T J, volume and rank.

    ||f(z + dz) - f(z)||^2 ~ dz^T G(z) dz,     G(z) = J(z)^T J(z)

`jacobian` (forward mode, batched over points and directions), `pullback_metric`, `magnification_factor`
(1/2 log det G), `rank_statistics`, `tangent_basis` and `principal_angles` (tangent alignment, Shukla et
al. 2019), and `expected_metric` of a stochastic decoder (Arvanitidis et al. 2018, Theorem 1).
"""
from __future__ import annotations

import warnings

import numpy as np
import torch
from tqdm.auto import tqdm

from course_lib.checks import check_int, check_number
from course_lib.analysis.geometry.decoders import as_codes, check_decoder, flat_outputs, stacked_decoder


def jacobian(decoder, z, chunk_size: int = 64, return_outputs: bool = False, progress: bool = False):
    """The decoder's Jacobians J(z) = df/dz, a tensor (N, D, d) for codes z (N, d).

    Forward mode (torch.func.jvp) pushes all d basis directions at once (torch.func.vmap over the
    directions) through the batched decoder for a chunk of `chunk_size` codes: d JVPs of a batch, no
    Python loop over directions or points (only over chunks, to bound memory). Forward mode suits a
    decoder, whose outputs (D = 4,096 pixels) far outnumber its inputs (d = 10). With
    `return_outputs`, also f(z) (N, D), which forward mode computes on the way."""
    decoder = check_decoder(decoder)
    chunk_size = check_int("chunk_size", chunk_size, 1)
    z = as_codes(decoder, z)
    flat = flat_outputs(decoder)
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




def expected_metric(mean, std, z, chunk_size: int = 64) -> np.ndarray:
    """(N, d, d) expected pullback metric E[J^T J] = J_mu^T J_mu + J_sigma^T J_sigma of a stochastic
    decoder x = mu(z) + sigma(z) * eps, eps ~ N(0, I) (Arvanitidis et al. 2018, Theorem 1)."""
    return pullback_metric(stacked_decoder(mean, std), z, chunk_size=chunk_size)
