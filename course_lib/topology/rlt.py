"""Relative living times (RLT) and the Geometry Score (Khrulkov & Oseledets, "Geometry Score: A
Method For Comparing Generative Adversarial Networks", ICML 2018, Algorithms 1 and 2).

A Vietoris–Rips complex on thousands of points is too big; a *witness complex* (de Silva &
Carlsson 2004) builds a small complex on L landmarks and lets all the points vote. Witness w
*witnesses* a simplex σ of landmarks at relaxation α when every vertex of σ is at most α further
from w than the closest landmark outside σ:

    max_{l ∈ σ} d(w, l)  ≤  min_{l' ∉ σ} d(w, l') + α                      (weak, relaxed witness)

and σ enters the filtration at the smallest α at which some witness sees it and all its faces are
in. Algorithm 1 of the paper, for one draw:

  1. draw L landmarks from the N points uniformly *with replacement* (`random_state.choice(N, L)`,
     as the reference code draws them, so both compare draw for draw); witnesses = all N points;
  2. build the relaxed weak witness complex up to triangles from the witness-to-landmark distance
     table, up to α_max = γ · max_{w, l} d(w, l) (γ default 1/128 · N / 5000, the paper's);
  3. H1 barcode over Z/2 (gudhi); bars still alive at α_max are cut there;
  4. RLT(i) = (1/α_max) · |{α ∈ [0, α_max] : β1(α) = i}|, for i = 0 .. i_max − 1 — the fraction of
     the scale range during which the complex has exactly i independent loops.

`rlts` repeats this for `n_draws` landmark sets; the mean RLT (MRLT) is a distribution over hole
counts that describes the topology of the cloud at the scales it is robust over, and the Geometry
Score of two clouds is the squared L2 distance of their MRLTs (Algorithm 2; 0 for the same
topology). The table holds Euclidean distances, as in the reference code, although gudhi documents
the entries as squared distances: its relaxation is then measured in distance units, consistently
with α_max.

Two engines build the same complex. `engine="gudhi"` hands the sorted table to
gudhi.WitnessComplex, as the reference does. `engine="numpy"` (default) builds it vectorised
(`_witnessed`): it sorts only the few nearest landmarks a witness can use, evaluates gudhi's
relaxation arithmetic for every candidate edge and triangle at once, and inserts the result into a
gudhi SimplexTree — the same simplices with the same filtration values, bit for bit (the tests
check it), so the same bars. With the RLT counted from sorted end points (`np.searchsorted`, one
`np.bincount`) instead of the reference's Python loop over midpoints, the distances from each
landmark to all points computed once per batch of draws, and persistence skipping the unused top
dimension, 100 draws on 2,000 points take a fraction of the reference's time
(`benchmarks/bench_topology.py`). All landmark sets are drawn from `random_state` first, in
the order a sequential run would draw them, so every `n_jobs` (worker processes) gives identical
values for the same seed.
"""
from __future__ import annotations

import itertools

import numpy as np
from scipy.spatial.distance import cdist
from tqdm.auto import tqdm

from course_lib.checks import check_choice, check_int, check_number, is_integer
from course_lib.seeding import as_random_state
from course_lib.topology.persistence import check_points

__all__ = ["default_gamma", "draw_landmarks", "geometry_score", "mean_rlt", "relative_living_times",
           "rlt", "rlts", "witness_complex_at", "witness_h1_bars", "witness_table"]

LIMIT_DIMENSION = 2  # simplices up to triangles: enough for H1


# --------------------------------------------------------------------------------------- checks
def _check_gamma(gamma, n_points: int) -> float:
    if gamma is None:
        return default_gamma(n_points)
    return check_number("gamma", gamma, 0, low_open=True, note=" (None: 1/128 · N/5000)")


def check_n_jobs(n_jobs) -> int:
    if n_jobs != -1 or not is_integer(n_jobs):
        return check_int("n_jobs", n_jobs, 1, note=" (processes), or -1 (all cores)")
    return -1


def default_gamma(n_points: int) -> float:
    """The paper's γ = 1/128 · N / 5000: α_max grows with the number of witnesses."""
    return 1.0 / 128 * n_points / 5000


# ------------------------------------------------------------------------------------- one draw
def witness_table(points: np.ndarray, landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(order, distances), each (N, L): for every witness, landmark indices by increasing distance."""
    d = cdist(points, landmarks)
    order = np.argsort(d, axis=1)
    return order, np.take_along_axis(d, order, axis=1)


def _near_lists(dT: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The part of every witness's sorted landmark list that a witness complex up to triangles reads.

    dT (L, N): landmark-to-witness distances. A witness w can only see simplices made of landmarks l
    with d(w, l) − α ≤ d₃(w), its third-smallest distance (see `_witnessed`). Returns order (N, K)
    landmark ids by increasing distance, dist (N, K) (padded with inf) and width (N,), the length
    of each list. Landmarks at equal distances may come in another order than a full argsort gives;
    the complex does not depend on it (every filtration value is a function of the distances).
    """
    num_landmarks, n = dT.shape
    kth = min(3, num_landmarks) - 1
    third = np.partition(dT, kth, axis=0)[kth]  # the third-smallest distance of every witness
    landmark, witness = np.nonzero(dT - alpha <= third)
    values = dT[landmark, witness]
    sort = np.lexsort((values, witness))  # by witness, then distance
    landmark, witness, values = landmark[sort], witness[sort], values[sort]
    width = np.bincount(witness, minlength=n)
    position = np.arange(len(witness)) - np.repeat(np.cumsum(width) - width, width)
    order = np.zeros((n, width.max()), dtype=np.intp)
    dist = np.full((n, width.max()), np.inf)
    order[witness, position], dist[witness, position] = landmark, values
    return order, dist, width


_PATTERNS: dict = {}


def _patterns(width: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """All `size`-subsets of the ranks 0 .. width−1 of a witness's sorted list, and for each the
    first rank *not* in it that comes before its last one (−1 when there is none)."""
    key = (width, size)
    if key not in _PATTERNS:
        subsets = np.array(list(itertools.combinations(range(width), size)), dtype=np.intp).reshape(-1, size)
        first_omitted = np.full(len(subsets), -1, dtype=np.intp)
        for c, subset in enumerate(subsets):
            omitted = sorted(set(range(subset[-1])) - set(subset))
            if omitted:
                first_omitted[c] = omitted[0]
        _PATTERNS[key] = (subsets, first_omitted)
    return _PATTERNS[key]


def _witnessed(order: np.ndarray, dist: np.ndarray, width: np.ndarray, alpha: float, size: int,
               num_landmarks: int) -> tuple[np.ndarray, np.ndarray]:
    """(vertex keys (n,), relaxations (n,)) of every `size`-simplex that some witness sees within α.

    For witness w with sorted distances d_1 ≤ d_2 ≤ ... and a simplex σ whose farthest vertex has
    rank r: m = d_j at the first rank j < r not in σ (∞ if none). w sees σ within α when
    d_r − α ≤ m, at relaxation max(0, d_r − m) — the same arithmetic as gudhi's Witness_complex, so
    the complex and its filtration values are identical to gudhi's, bit for bit. Witnesses are
    grouped by the length of their list, so each sees only the subsets of its own list. A simplex
    is keyed by its sorted vertices (a, b[, c]) as a·L + b (or (a·L + b)·L + c).
    """
    keys, values = [], []
    for w in np.unique(width):
        subsets, first_omitted = _patterns(int(w), size)
        if len(subsets) == 0:
            continue
        for rows in _row_chunks(np.flatnonzero(width == w), len(subsets)):
            k, v = _witnessed_by(order[rows, :w], dist[rows, :w], alpha, subsets, first_omitted, num_landmarks)
            keys.append(k)
            values.append(v)
    if not keys:
        return np.zeros(0, np.intp), np.zeros(0)
    return np.concatenate(keys), np.concatenate(values)


def _row_chunks(rows: np.ndarray, num_subsets: int, max_entries: int = 2**21):
    """Split witness rows so that rows x subsets stays below max_entries (bounded temporary memory)."""
    step = max(1, max_entries // max(num_subsets, 1))
    return [rows[i:i + step] for i in range(0, len(rows), step)]


def _witnessed_by(o, d, alpha, subsets, first_omitted, num_landmarks):
    """Keys and relaxations of the subsets seen by witnesses whose sorted lists are o, d (n, w)."""
    size = subsets.shape[1]
    last = d[:, subsets[:, -1]]
    has = first_omitted >= 0
    m = np.where(has, d[:, np.maximum(first_omitted, 0)], np.inf)
    seen = ~has | (last - alpha <= m)
    relax = np.where(has & (last > m), last - m, 0.0)
    r, c = np.nonzero(seen)
    v = [o[r, subsets[c, i]] for i in range(size)]
    if size == 2:
        key = np.minimum(*v) * num_landmarks + np.maximum(*v)
    else:  # a sorting network for three vertices
        lo, hi = np.minimum(v[0], v[1]), np.maximum(v[0], v[1])
        mid, top = np.minimum(hi, v[2]), np.maximum(hi, v[2])
        lo, mid = np.minimum(lo, mid), np.maximum(lo, mid)
        key = (lo * num_landmarks + mid) * num_landmarks + top
    return key, relax[r, c]


def _witness_tree(dT: np.ndarray, alpha: float):
    """gudhi SimplexTree of the relaxed weak witness complex (up to triangles) of the table dT (L, N)."""
    import gudhi

    num_landmarks = dT.shape[0]
    edges = np.full((num_landmarks, num_landmarks), np.inf)
    np.fill_diagonal(edges, 0.0)  # every landmark is a vertex at 0 (it witnesses itself)
    if num_landmarks < 2:
        return gudhi.SimplexTree.create_from_array(edges, max_filtration=0.0)
    order, dist, width = _near_lists(dT, alpha)
    keys, relax = _witnessed(order, dist, width, alpha, 2, num_landmarks)
    np.minimum.at(edges.reshape(-1), keys, relax)
    edges = np.minimum(edges, edges.T)
    tree = gudhi.SimplexTree.create_from_array(edges, max_filtration=float(edges[np.isfinite(edges)].max()))
    if num_landmarks >= 3:
        keys, relax = _witnessed(order, dist, width, alpha, 3, num_landmarks)
        unique, inverse = np.unique(keys, return_inverse=True)
        best = np.full(len(unique), np.inf)
        np.minimum.at(best, inverse, relax)
        a, rest = np.divmod(unique, num_landmarks * num_landmarks)
        b, c = np.divmod(rest, num_landmarks)
        faces = np.maximum(np.maximum(edges[a, b], edges[a, c]), edges[b, c])  # a triangle enters after its edges
        ok = np.isfinite(faces)
        if ok.any():
            tree.insert_batch(np.stack([a[ok], b[ok], c[ok]]), np.maximum(best[ok], faces[ok]))
    return tree


def _gudhi_witness_tree(dT: np.ndarray, alpha: float):
    """The same complex from gudhi.WitnessComplex and the full sorted table (the reference's way)."""
    import gudhi

    d = dT.T
    order = np.argsort(d, axis=1)
    table = np.dstack([order, np.take_along_axis(d, order, axis=1)])
    return gudhi.WitnessComplex(nearest_landmark_table=table).create_simplex_tree(
        max_alpha_square=alpha, limit_dimension=LIMIT_DIMENSION)


ENGINES = {"numpy": _witness_tree, "gudhi": _gudhi_witness_tree}


def _bars_from_table(dT: np.ndarray, gamma: float, engine: str) -> tuple[np.ndarray, float]:
    """H1 bars and α_max from the landmark-to-witness distances dT (L, N)."""
    alpha_max = float(gamma * dT.max())
    tree = ENGINES[engine](dT, alpha_max)
    tree.compute_persistence(homology_coeff_field=2, persistence_dim_max=False)  # H0 and H1 only
    bars = np.asarray(tree.persistence_intervals_in_dimension(1), dtype=np.float64).reshape(-1, 2)
    return bars, alpha_max


def witness_h1_bars(points, landmark_index, gamma: float, engine: str = "numpy") -> tuple[np.ndarray, float]:
    """(H1 bars (n, 2) with infinite deaths, α_max) of the relaxed weak witness complex of one draw.

    `landmark_index` (L,) indexes the landmarks among `points`; every point is a witness. Simplices
    up to triangles, relaxation up to α_max = γ · the largest witness-to-landmark distance.
    engine "numpy" builds the complex vectorised (`_witnessed`) into a gudhi SimplexTree; "gudhi"
    calls gudhi.WitnessComplex on the sorted table. Both give identical simplices and values.
    """
    points = check_points(points, min_points=2)
    landmark_index = np.asarray(landmark_index, dtype=np.intp)
    return _bars_from_table(cdist(points[landmark_index], points), gamma, check_choice("engine", engine, ENGINES))


def relative_living_times(bars, alpha_max: float, i_max: int = 100) -> np.ndarray:
    """RLT (i_max,) from H1 bars: the fraction of [0, α_max] during which exactly i bars are alive.

    Deaths after α_max (infinite ones included) count as α_max. Between consecutive end points the count of live bars is
    constant: #(births ≤ s) − #(deaths ≤ s) at the segment's left end s. Counts ≥ i_max are not
    recorded, so a row sums to 1 exactly when β1 stays below i_max. No bars → e₀ = (1, 0, ...).
    """
    i_max = check_int("i_max", i_max, 1)
    bars = np.asarray(bars, dtype=np.float64).reshape(-1, 2)
    result = np.zeros(i_max)
    if len(bars) == 0 or not alpha_max > 0:
        result[0] = 1.0
        return result
    bars = bars[bars[:, 0] < alpha_max]
    births = bars[:, 0]
    deaths = np.minimum(bars[:, 1], alpha_max)  # infinite (and later) deaths end at alpha_max
    switch = np.unique(np.concatenate([births, deaths, [0.0, alpha_max]]))
    left, lengths = switch[:-1], np.diff(switch)
    alive = (np.searchsorted(np.sort(births), left, side="right")
             - np.searchsorted(np.sort(deaths), left, side="right"))
    keep = alive < i_max
    result += np.bincount(alive[keep], weights=lengths[keep], minlength=i_max)[:i_max]
    return result / alpha_max


SHARED_DISTANCES_MAX = 2**24  # entries (128 MB) of the witness-to-landmark matrix shared by the draws of a chunk


def _rlts_of_draws(points, landmark_sets, gamma, i_max, engine, progress=False) -> np.ndarray:
    """RLTs of several draws. The distances from every landmark of these draws to every point are
    computed once (when they fit in SHARED_DISTANCES_MAX entries); cdist computes each pair on its
    own, so the rows are bit-identical to a per-draw cdist."""
    unique = np.unique(landmark_sets)
    shared = len(unique) * len(points) <= SHARED_DISTANCES_MAX and len(landmark_sets) > 1
    distances = cdist(points[unique], points) if shared else None
    rows = []
    for index in tqdm(landmark_sets, desc=f"RLTs ({len(landmark_sets)} draws)", disable=not progress, leave=False):
        dT = distances[np.searchsorted(unique, index)] if shared else cdist(points[index], points)
        rows.append(relative_living_times(*_bars_from_table(dT, gamma, engine), i_max))
    return np.stack(rows)


# ----------------------------------------------------------------------------------- entry points
def draw_landmarks(n_points: int, n_landmarks: int, n_draws: int, random_state) -> np.ndarray:
    """(n_draws, n_landmarks) landmark indices: row k is the k-th `random_state.choice(N, L)`."""
    random_state = as_random_state(random_state)
    return np.stack([random_state.choice(n_points, n_landmarks) for _ in range(n_draws)])


def _check_common(points, n_landmarks, gamma, i_max, engine):
    points = check_points(points, min_points=2)
    return (points, check_int("n_landmarks", n_landmarks, 2), _check_gamma(gamma, len(points)),
            check_int("i_max", i_max, 1), check_choice("engine", engine, ENGINES))


def rlt(points, n_landmarks: int = 64, gamma: float | None = None, i_max: int = 100, random_state=0,
        engine: str = "numpy") -> np.ndarray:
    """One RLT vector (i_max,) of `points` (N, D) for one draw of `n_landmarks` landmarks."""
    points, n_landmarks, gamma, i_max, engine = _check_common(points, n_landmarks, gamma, i_max, engine)
    landmark_sets = draw_landmarks(len(points), n_landmarks, 1, random_state)
    return _rlts_of_draws(points, landmark_sets, gamma, i_max, engine)[0]


def rlts(points, n_landmarks: int = 64, gamma: float | None = None, i_max: int = 100, n_draws: int = 1000,
         random_state=0, n_jobs: int = 1, engine: str = "numpy", progress: bool = True) -> np.ndarray:
    """(n_draws, i_max) RLTs of `points` (N, D), one row per landmark draw (Algorithm 1).

    n_landmarks   L, landmarks per draw (drawn with replacement, as the reference does)
    gamma         α_max = γ · max witness-landmark distance; None: 1/128 · N/5000 (the paper's)
    i_max         hole counts 0 .. i_max − 1 are recorded
    random_state  int or RandomState; every landmark set is drawn from it before any work, so the
                  result is the same for every n_jobs (and the same as n_draws calls of `rlt` on the
                  same RandomState)
    n_jobs        worker processes (joblib); 1 runs in this process, -1 uses every core
    engine        "numpy" (vectorised construction) or "gudhi" (gudhi.WitnessComplex): same values
    """
    points, n_landmarks, gamma, i_max, engine = _check_common(points, n_landmarks, gamma, i_max, engine)
    n_draws = check_int("n_draws", n_draws, 1)
    n_jobs = check_n_jobs(n_jobs)
    landmark_sets = draw_landmarks(len(points), n_landmarks, n_draws, random_state)
    if n_jobs == 1 or n_draws == 1:
        return _rlts_of_draws(points, landmark_sets, gamma, i_max, engine, progress)
    from joblib import Parallel, delayed, effective_n_jobs

    workers = effective_n_jobs(n_jobs)
    chunks = np.array_split(landmark_sets, min(n_draws, 2 * workers))
    jobs = (delayed(_rlts_of_draws)(points, chunk, gamma, i_max, engine) for chunk in chunks)
    parts = Parallel(n_jobs=workers, return_as="generator")(jobs)
    parts = tqdm(parts, total=len(chunks), desc=f"RLTs ({n_draws} draws, {workers} processes)",
                 disable=not progress, leave=False)
    return np.concatenate(list(parts))


def mean_rlt(rlts_) -> np.ndarray:
    """The mean RLT (MRLT) over draws: (i_max,)."""
    array = np.asarray(rlts_, dtype=np.float64)
    if array.ndim != 2 or len(array) == 0:
        raise ValueError(f"rlts has shape {array.shape}; expected (n_draws, i_max) as returned by rlts()")
    return array.mean(0)


def geometry_score(rlts_a, rlts_b) -> float:
    """Geometry Score (Algorithm 2): Σ_i (MRLT_a(i) − MRLT_b(i))², for RLTs of the same i_max."""
    a, b = mean_rlt(rlts_a), mean_rlt(rlts_b)
    if a.shape != b.shape:
        raise ValueError(f"rlts_a has i_max = {len(a)} and rlts_b has i_max = {len(b)}; they must match")
    return float(np.sum((a - b) ** 2))


# ---------------------------------------------------------------------------------------- plots


def witness_complex_at(points, landmark_index, alpha: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(landmarks (L, D), edges (E, 2), triangles (T, 3)) of the witness complex at relaxation α.

    For drawing the complex; edge and triangle entries index the rows of the returned landmarks.
    """
    points = check_points(points, min_points=2)
    landmark_index = np.asarray(landmark_index, dtype=np.intp)
    check_number("alpha", alpha, 0, finite=False)
    tree = _witness_tree(cdist(points[landmark_index], points), float(alpha))
    simplices = [s for s, value in tree.get_simplices() if value <= alpha]
    edges = np.array([s for s in simplices if len(s) == 2], dtype=np.intp).reshape(-1, 2)
    triangles = np.array([s for s in simplices if len(s) == 3], dtype=np.intp).reshape(-1, 3)
    return points[landmark_index], edges, triangles
