"""Persistent homology of point clouds: Vietoris–Rips filtrations, barcodes, Betti numbers and curves.

A *filtration* is a nested sequence of simplicial complexes K_t ⊆ K_s (t ≤ s). For a point cloud
X = {x_1, ..., x_n} the Vietoris–Rips complex at scale t holds every simplex whose vertices are
pairwise at distance ≤ t, so a simplex enters at the largest of its edge lengths. Homology over
Z/2 of K_t gives Betti numbers β_k(t) (β_0 = connected components, β_1 = independent loops);
persistent homology pairs the scale at which each class is *born* with the scale at which it
*dies*, and the multiset of intervals [birth, death) is the *barcode* (Edelsbrunner, Letscher &
Zomorodian 2002; Zomorodian & Carlsson 2005; Carlsson 2009). β_k(t) is the number of bars of
dimension k that contain t.

Two engines compute the same bars:

  * `persistence_by_reduction` — the textbook algorithm, written for teaching and as a brute-force
    check: columns of the Z/2 boundary matrix in filtration order, each reduced by adding earlier
    columns until its lowest one is unique; a reduced column of a (k+1)-simplex pairs the k-simplex
    of its lowest one (a death) with the simplex that created the class (a birth). Cubic time; use
    it up to a few dozen points.
  * `rips_barcodes` — gudhi's Rips complex and persistent cohomology (fast; thousands of points in
    low dimensions).

Barcodes are returned as a dict {dimension: (n_bars, 2) float array of [birth, death)} with
`np.inf` for bars that never die, sorted by birth then death. Bars of zero length are dropped (they
depend on how ties in the filtration are broken; the others do not).

Also used by `course_lib.topology.rlt` (living times of H1 bars) and by the RTD module.
"""
from __future__ import annotations

import itertools

import numpy as np

from course_lib.checks import check_int, check_number

__all__ = ["betti_curve", "betti_numbers", "check_points", "clip_bars", "distance_matrix", "persistence_by_reduction",
           "rips_barcodes", "rips_filtration"]


# --------------------------------------------------------------------------------------- checks
def check_points(points, name: str = "points", min_points: int = 1) -> np.ndarray:
    """`points` as a finite float64 (N, D) array, or a ValueError naming `name` and what is wrong."""
    if hasattr(points, "detach"):
        points = points.detach().cpu().numpy()
    try:
        array = np.asarray(points, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be an array of numbers of shape (N, D); got {type(points).__name__}") from None
    if array.ndim != 2 or array.shape[1] < 1:
        raise ValueError(f"{name} has shape {array.shape}; expected (N, D): one point per row")
    if len(array) < min_points:
        raise ValueError(f"{name} has {len(array)} points; at least {min_points} are needed")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} holds NaN or infinite coordinates; allowed: finite numbers")
    return array


def _check_distances(matrix, name: str = "distance_matrix") -> np.ndarray:
    array = np.asarray(matrix, dtype=np.float64)
    if array.ndim != 2 or array.shape[0] != array.shape[1] or len(array) < 1:
        raise ValueError(f"{name} has shape {array.shape}; expected a square (N, N) matrix")
    if not np.isfinite(array).all() or (array < 0).any():
        raise ValueError(f"{name} must hold finite non-negative distances")
    if not np.allclose(array, array.T) or np.any(np.diag(array) != 0):
        raise ValueError(f"{name} must be symmetric with a zero diagonal")
    return array


def distance_matrix(points) -> np.ndarray:
    """(N, N) Euclidean distances between the rows of `points`."""
    from scipy.spatial.distance import cdist

    points = check_points(points)
    return cdist(points, points)


def _sorted_bars(bars) -> np.ndarray:
    bars = np.asarray(bars, dtype=np.float64).reshape(-1, 2)
    bars = bars[bars[:, 1] > bars[:, 0]]
    return bars[np.lexsort((bars[:, 1], bars[:, 0]))]


# ------------------------------------------------------------------------------ the textbook way
def rips_filtration(points=None, *, distances=None, max_dimension: int = 2,
                    max_edge_length: float = np.inf) -> list[tuple[tuple[int, ...], float]]:
    """Every simplex of the Vietoris–Rips filtration up to `max_dimension`, in filtration order.

    Give either `points` (N, D) or a precomputed symmetric `distances` (N, N) matrix. A simplex
    enters at the largest distance between two of its vertices (vertices at 0); simplices with an
    edge longer than `max_edge_length` are left out. Order: by value, then dimension (a face comes
    before its cofaces), then vertex indices. The number of simplices grows as N^(max_dimension+1):
    this is for small clouds (the teaching engine); use `rips_barcodes` for large ones.
    """
    if (points is None) == (distances is None):
        raise ValueError("give exactly one of points=(N, D) array or distances=(N, N) matrix")
    dist = distance_matrix(points) if distances is None else _check_distances(distances, "distances")
    max_dimension = check_int("max_dimension", max_dimension, 0)
    n = len(dist)
    simplices = [((i,), 0.0) for i in range(n)]
    for size in range(2, max_dimension + 2):
        for simplex in itertools.combinations(range(n), size):
            value = max(dist[i, j] for i, j in itertools.combinations(simplex, 2))
            if value <= max_edge_length:
                simplices.append((simplex, float(value)))
    simplices.sort(key=lambda item: (item[1], len(item[0]), item[0]))
    return simplices


def persistence_by_reduction(filtration, max_homology_dimension: int | None = None) -> dict[int, np.ndarray]:
    """Barcodes over Z/2 of a filtered simplicial complex by the standard column reduction.

    `filtration` is a list of (simplex, value) in filtration order (faces before cofaces), e.g. from
    `rips_filtration`. Each column (the boundary of a simplex, a set of row indices over Z/2) is
    reduced left to right: while its lowest row is the lowest row of an earlier reduced column,
    add that column (symmetric difference). A non-zero reduced column j with lowest row i pairs
    simplex i (birth of a class) with simplex j (its death); an unpaired simplex whose column is
    zero creates a class that never dies. Returns {k: (n_k, 2) bars} for k = 0 .. the largest
    dimension below that of the complex (or `max_homology_dimension`), zero-length bars dropped.
    """
    index = {}
    dims, values, columns = [], [], []
    for position, (simplex, value) in enumerate(filtration):
        simplex = tuple(sorted(int(v) for v in simplex))
        index[simplex] = position
        dims.append(len(simplex) - 1)
        values.append(float(value))
        if len(simplex) == 1:
            columns.append(set())
            continue
        try:
            faces = {index[simplex[:i] + simplex[i + 1:]] for i in range(len(simplex))}
        except KeyError:
            raise ValueError(f"filtration lists simplex {simplex} before one of its faces; "
                             "allowed: faces first (filtration order)") from None
        if any(values[f] > value for f in faces):
            raise ValueError(f"simplex {simplex} enters at {value} before one of its faces; values must not decrease")
        columns.append(faces)
    top = max(dims, default=0)
    max_homology_dimension = top - 1 if max_homology_dimension is None else check_int(
        "max_homology_dimension", max_homology_dimension, 0)
    lowest_owner = {}  # lowest row -> column that owns it
    paired = set()
    bars = {k: [] for k in range(max(max_homology_dimension, 0) + 1)}
    for j, column in enumerate(columns):
        while column:
            low = max(column)
            owner = lowest_owner.get(low)
            if owner is None:
                break
            column ^= columns[owner]
        if column:
            low = max(column)
            lowest_owner[low] = j
            paired.update((low, j))
            if dims[low] in bars:
                bars[dims[low]].append((values[low], values[j]))
    for i, dim in enumerate(dims):
        if i not in paired and not columns[i] and dim in bars:
            bars[dim].append((values[i], np.inf))
    return {k: _sorted_bars(v) for k, v in bars.items()}


# ------------------------------------------------------------------------------------ with gudhi
def rips_barcodes(points=None, *, distances=None, max_homology_dimension: int = 1,
                  max_edge_length: float = np.inf) -> dict[int, np.ndarray]:
    """Barcodes {k: (n_k, 2)} of the Vietoris–Rips filtration for k = 0 .. `max_homology_dimension`.

    gudhi's RipsComplex (simplices up to dimension max_homology_dimension + 1) and persistent
    cohomology over Z/2. Give `points` (N, D) or a symmetric `distances` (N, N) matrix. Bars that
    are still alive at `max_edge_length` (by default: never cut) get death = inf.
    """
    import gudhi

    if (points is None) == (distances is None):
        raise ValueError("give exactly one of points=(N, D) array or distances=(N, N) matrix")
    k_max = check_int("max_homology_dimension", max_homology_dimension, 0, 3)
    check_number("max_edge_length", max_edge_length, 0, low_open=True, finite=False)
    if distances is None:
        complex_ = gudhi.RipsComplex(points=check_points(points), max_edge_length=float(max_edge_length))
    else:
        complex_ = gudhi.RipsComplex(distance_matrix=_check_distances(distances, "distances"),
                                     max_edge_length=float(max_edge_length))
    tree = complex_.create_simplex_tree(max_dimension=k_max + 1)
    tree.compute_persistence(homology_coeff_field=2, persistence_dim_max=False)
    return {k: _sorted_bars(tree.persistence_intervals_in_dimension(k)) for k in range(k_max + 1)}


# ------------------------------------------------------------------------------- reading barcodes
def check_bars(bars, name: str = "bars") -> np.ndarray:
    array = np.asarray(bars, dtype=np.float64)
    if array.size == 0:
        return array.reshape(0, 2)
    if array.ndim != 2 or array.shape[1] != 2:
        raise ValueError(f"{name} has shape {array.shape}; expected (n_bars, 2) rows of [birth, death)")
    if np.isnan(array).any() or (array[:, 1] < array[:, 0]).any():
        raise ValueError(f"{name} must hold rows [birth, death) with birth <= death (death may be inf)")
    return array


def clip_bars(bars, cut: float) -> np.ndarray:
    """Bars restricted to [0, cut]: deaths (inf included) above `cut` become `cut`; bars born after it go."""
    bars = check_bars(bars)
    bars = bars[bars[:, 0] < cut].copy()
    bars[:, 1] = np.minimum(bars[:, 1], cut)
    return bars


def betti_numbers(bars, t) -> np.ndarray:
    """β(t): how many bars [birth, death) contain each scale t (a scalar or an array of scales)."""
    bars = check_bars(bars)
    t = np.asarray(t, dtype=np.float64)
    births, deaths = np.sort(bars[:, 0]), np.sort(bars[:, 1])
    counts = np.searchsorted(births, t, side="right") - np.searchsorted(deaths, t, side="right")
    return counts if counts.ndim else int(counts)


def betti_curve(bars, num: int = 200, t_max: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(scales, β(scales)) on `num` evenly spaced scales in [0, t_max] (default: the last finite end point)."""
    bars = check_bars(bars)
    num = check_int("num", num, 2)
    if t_max is None:
        finite = bars[np.isfinite(bars)]
        t_max = float(finite.max()) * 1.05 if finite.size and finite.max() > 0 else 1.0
    scales = np.linspace(0.0, t_max, num)
    return scales, betti_numbers(bars, scales)
