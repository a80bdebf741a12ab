"""Representation Topology Divergence (Barannikov et al., ICML 2022): cross-barcodes, RTD, and a
differentiable RTD for training (Trofimov et al., ICLR 2023; used by TopDis, Balabin et al., ICML 2024).

**The R-Cross-Barcode.** Two clouds a and b of the same n objects (rows paired; the spaces may
differ) give two distance matrices, each divided by its own 0.9-quantile (over the full n x n
matrix, as the reference code does) so that a global rescaling changes nothing: r_a, r_b. On 2n
vertices (a first copy A of the objects and a second copy A') put the matrix

    m = [[0,   r_aᵀ           ],       A  x A : 0 (the first copy is one point from the start)
         [r_a, min(r_a, r_b)  ]]       A' x A': an edge appears as soon as it is short in a OR in b

and take the Vietoris-Rips barcode of m in dimension `dim` (1 by default). R-Cross-Barcode_1(a, b)
is its set of finite H1 bars. Equivalently it is the barcode of the relative homology
H_1(VR_α(min(r_a, r_b)), VR_α(r_a)) on n vertices (the zero block makes the first copy a cone over
VR_α(r_a); the long exact sequence of the pair does the rest; tests/test_topology_rtd.py checks it
against a brute-force reduction): a bar is a loop, or a merge of clusters, that exists at scale α
when the edges short in either cloud count, but not yet with a's edges alone. Identical clouds (and
clouds equal up to scale, rotation, translation) give no bars at all.

    RTD(a, b) = ½ (Σ bar lengths of R-Cross-Barcode_1(a, b) + Σ of R-Cross-Barcode_1(b, a)).

The **max mode** (TopDis) uses [[0, max(r_a, r_b)], [max(r_a, r_b), r_b]]: there an edge of the
first copy waits until it is short in both clouds.

**Engine.** gudhi's Ripser (`gudhi.sklearn.RipsPersistence`, Z/2 coefficients) computes the barcode
of the 2n x 2n matrix: 0.03 s at 100 points and 12 s at 1,000 on a 2-core machine shared with other
jobs (benchmarks/bench_topology.py); its cost grows about as n³.

**Differentiable RTD.** Every bar endpoint is the length of one edge: a bar is born when its
positive edge enters and dies when the longest edge of its killing triangle enters. Away from ties
the pairing is locally constant, so d(endpoint)/d(distances) is 1 on that one entry of r_a or r_b
(the min / max picks which) and 0 elsewhere; autograd carries it on to the points, through the
quantile normalisation too (the reference code treats the quantile as a constant). Ripser returns
the endpoints bit for bit as entries of the matrix, so each endpoint's critical edge is found by an
exact look-up of its value among the entries of r_a and r_b; at exact ties one of the tied entries
is taken (a one-sided derivative). The reference code's "immovable" variant, which reads deaths
from the second cloud's distances (for autoencoders whose data cloud is fixed), is not used: in
TopDis both clouds move.

The public RTD/TopDis code needs ripser++ (CUDA only); this module runs on the CPU, and torch
tensors on any device are brought to the CPU for the barcode only.
"""
from __future__ import annotations

import numpy as np
import torch
from scipy.spatial.distance import cdist

from course_lib.checks import check_choice, check_int, check_number
from course_lib.seeding import as_random_state

DIMS = (0, 1, 2)
MODES = ("min", "max")
QUANTILE = 0.9  # each cloud's distances are divided by their 0.9-quantile (Barannikov et al.)


# ------------------------------------------------------------------------------ checks
def _check_clouds(a, b):
    for name, cloud in (("a", a), ("b", b)):
        if cloud.ndim != 2 or cloud.shape[0] < 2:
            raise ValueError(f"{name} has shape {tuple(cloud.shape)}; use a 2-D array (n points, features) with n >= 2")
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"a and b have {a.shape[0]} and {b.shape[0]} points; RTD compares the same n objects "
                         "in two representations, so they need the same number of rows")


# ------------------------------------------------------------------------------ the barcode
def _normalise(distances: np.ndarray) -> np.ndarray:
    scale = np.quantile(distances, QUANTILE)
    return distances / scale if scale > 0 else distances  # a cloud of one repeated point stays all zeros


def cross_matrix(r_a: np.ndarray, r_b: np.ndarray, mode: str = "min") -> np.ndarray:
    """The 2n x 2n matrix whose Vietoris-Rips barcode is the cross-barcode (see the module docstring)."""
    check_choice("mode", mode, MODES)
    off, lower = (r_a, np.minimum(r_a, r_b)) if mode == "min" else (np.maximum(r_a, r_b), r_b)
    return np.block([[np.zeros_like(r_a), off.T], [off, lower]])


def _rips_bars(matrix: np.ndarray, dim: int) -> np.ndarray:
    """Finite bars of positive length (k, 2) of the Vietoris-Rips filtration of a distance matrix, Z/2."""
    from gudhi.sklearn.rips_persistence import RipsPersistence

    if len(matrix) < 3 and dim > 0:
        return np.zeros((0, 2))
    rips = RipsPersistence(homology_dimensions=dim, input_type="full distance matrix", homology_coeff_field=2)
    bars = np.asarray(rips.fit_transform([matrix])[0], dtype=float).reshape(-1, 2)
    return bars[np.isfinite(bars[:, 1]) & (bars[:, 1] > bars[:, 0])]


def _by_length(bars: np.ndarray) -> np.ndarray:
    order = np.lexsort((bars[:, 0], -(bars[:, 1] - bars[:, 0])))  # longest first, then by birth
    return bars[order]


def barcode_of_distances(r_a: np.ndarray, r_b: np.ndarray, dim: int = 1, mode: str = "min") -> np.ndarray:
    """The cross-barcode of two (already normalised) distance matrices: (k, 2) bars, longest first."""
    check_choice("dim", dim, DIMS)
    for name, r in (("r_a", r_a), ("r_b", r_b)):
        if r.ndim != 2 or r.shape != r_a.shape or not np.array_equal(r, r.T):
            raise ValueError(f"{name} (shape {r.shape}) is not allowed; use symmetric distance matrices of one shape")
    return _by_length(_rips_bars(cross_matrix(r_a, r_b, mode), dim))


def normalised_distances(points) -> np.ndarray:
    """Euclidean distances of a cloud (n, d), divided by their 0.9-quantile."""
    points = np.asarray(points, dtype=float)
    return _normalise(cdist(points, points))


def cross_barcode(a, b, dim: int = 1, mode: str = "min") -> np.ndarray:
    """R-Cross-Barcode_dim(a, b) of two paired clouds (n, d_a) and (n, d_b): (k, 2) array of (birth,
    death), finite bars of positive length only, longest first (Barannikov et al. 2022)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    _check_clouds(a, b)
    check_choice("dim", dim, DIMS)
    check_choice("mode", mode, MODES)
    return barcode_of_distances(normalised_distances(a), normalised_distances(b), dim, mode)


def rtd(a, b, dim: int = 1, num_points: int | None = None, num_trials: int = 1, random_state=None) -> float:
    """Symmetric RTD: the mean of the total bar lengths of R-Cross-Barcode_dim(a, b) and (b, a).

    With `num_points` < n, the average over `num_trials` random subsets of that many paired rows
    (Barannikov et al. compute RTD on batches, e.g. 10 trials of 500 points), drawn from
    `random_state` (a seed or RandomState; required then)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    _check_clouds(a, b)
    check_choice("dim", dim, DIMS)
    num_trials = check_int("num_trials", num_trials, 1)
    n = len(a)
    if num_points is None or num_points >= n:
        subsets = [np.arange(n)]
    else:
        num_points = check_int("num_points", num_points, 2, none_ok=True)
        rs = as_random_state(random_state)
        subsets = [rs.choice(n, num_points, replace=False) for _ in range(num_trials)]
    values = []
    for rows in subsets:
        r_a, r_b = normalised_distances(a[rows]), normalised_distances(b[rows])
        lengths = [np.sum(np.diff(barcode_of_distances(x, y, dim), axis=1)) for x, y in ((r_a, r_b), (r_b, r_a))]
        values.append(0.5 * sum(lengths))
    return float(np.mean(values))


# ------------------------------------------------------------------------------ differentiable
def torch_normalised_distances(points: torch.Tensor) -> torch.Tensor:
    """Euclidean distances (n, n) of a cloud tensor divided by their 0.9-quantile, differentiably.

    From the Gram matrix (one matrix product, fast for images), with an exactly zero diagonal and a
    gradient that stays finite where points coincide."""
    squared_norms = points.pow(2).sum(1)
    squared = (squared_norms[:, None] + squared_norms[None, :] - 2 * points @ points.T).clamp_min(0)
    squared = 0.5 * (squared + squared.T)  # a matrix product need not be exactly symmetric; the barcode needs it
    squared = squared.masked_fill(torch.eye(len(points), dtype=torch.bool, device=points.device), 0)
    distances = torch.where(squared > 0, squared.clamp_min(torch.finfo(squared.dtype).tiny).sqrt(), 0.0)
    scale = torch.quantile(distances.flatten(), QUANTILE)
    return distances / scale if scale > 0 else distances


def critical_entries(values: np.ndarray, r_a: np.ndarray, r_b: np.ndarray) -> np.ndarray:
    """For bar endpoints `values` (any shape), the flat index into stack([r_a, r_b]) of the entry each
    equals (the critical edge). Exact float equality: the endpoints are entries of the matrix."""
    n = len(r_a)
    rows, cols = np.triu_indices(n, 1)
    pool = np.concatenate([r_a[rows, cols], r_b[rows, cols]])
    flat = np.concatenate([rows * n + cols, n * n + rows * n + cols])
    order = np.argsort(pool, kind="stable")
    position = np.searchsorted(pool[order], np.ravel(values))
    position = np.minimum(position, len(pool) - 1)
    found = pool[order][position]
    if not np.array_equal(found, np.ravel(values)):
        raise RuntimeError("a bar endpoint is not a distance of either cloud; the barcode engine changed its values")
    return flat[order][position].reshape(np.shape(values))


class _DistancePair:
    """Two clouds' normalised distances, as tensors (for the gradient) and float64 arrays (for the barcode)."""

    def __init__(self, a: torch.Tensor, b: torch.Tensor):
        _check_clouds(a, b)
        r_a, r_b = torch_normalised_distances(a), torch_normalised_distances(b)
        self.stacked = torch.cat([r_a.flatten(), r_b.flatten().to(r_a.dtype)])
        self.fixed = tuple(r.detach().cpu().double().numpy() for r in (r_a, r_b))

    def bars(self, dim: int, mode: str, num_bars: int | None, swap: bool = False) -> torch.Tensor:
        """The cross-barcode (k, 2) of (a, b), or of (b, a) with `swap`, as differentiable endpoints."""
        first, second = self.fixed[::-1] if swap else self.fixed
        bars = barcode_of_distances(first, second, dim, mode)[:num_bars]
        index = critical_entries(bars, *self.fixed)
        return self.stacked[torch.as_tensor(index.reshape(-1), device=self.stacked.device)].reshape(-1, 2)


def torch_cross_barcode(a: torch.Tensor, b: torch.Tensor, dim: int = 1, mode: str = "min",
                        num_bars: int | None = None) -> torch.Tensor:
    """The cross-barcode as a (k, 2) tensor of (birth, death) that autograd differentiates with respect
    to the points: each endpoint is the normalised distance of its critical edge. `num_bars` keeps the
    longest ones (TopDis: 50)."""
    check_choice("dim", dim, DIMS)
    check_choice("mode", mode, MODES)
    num_bars = check_int("num_bars", num_bars, 1, none_ok=True, note=" (None: all bars)")
    return _DistancePair(a, b).bars(dim, mode, num_bars)


def rtd_loss(a: torch.Tensor, b: torch.Tensor, modes=("min",), dim: int = 1, num_bars: int | None = None,
             p: float = 1.0) -> torch.Tensor:
    """Differentiable symmetric RTD: ½ Σ over both directions (a, b), (b, a) and over `modes` of
    Σ (death - birth)^p over the `num_bars` longest bars. With modes=("min",), num_bars=None, p=1 its
    value is `rtd(a, b)`; TopDis uses modes=("min", "max"), num_bars=50, p=1 (Balabin et al. 2024)."""
    modes = (modes,) if isinstance(modes, str) else tuple(modes)
    if not modes:
        raise ValueError(f"modes={modes!r} is not allowed; use a non-empty subset of {MODES}")
    for mode in modes:
        check_choice("mode", mode, MODES)
    check_choice("dim", dim, DIMS)
    check_int("num_bars", num_bars, 1, none_ok=True, note=" (None: all bars)")
    check_number("p", p, 0, low_open=True, finite=False)
    pair = _DistancePair(a, b)
    lengths = [pair.bars(dim, mode, num_bars, swap).diff(dim=1).pow(p).sum()
               for swap in (False, True) for mode in modes]
    return 0.5 * torch.stack(lengths).sum()
