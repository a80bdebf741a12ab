"""GeoManCER, the Geometric Manifold Component Estimator (Pfau, Higgins, Botev & Racanière,
"Disentangling by Subspace Diffusion", NeurIPS 2020, Algorithm 1).

A Riemannian manifold that is a product M = M_1 x ... x M_m splits every tangent space into
orthogonal subspaces T_xM = T_xM_1 ⊕ ... ⊕ T_xM_m that parallel transport preserves (the de Rham
decomposition). The orthogonal projections P_f onto them are *parallel* fields of symmetric
matrices, ∇P_f = 0; so is the identity. GeoManCER finds the parallel symmetric fields from samples:

  1. graph      symmetrised k-nearest-neighbour graph (default k = 2d, d = manifold_dim)
  2. tangents   local PCA: U_i (D x d) = top-d right singular vectors of [x_j - x_i]_{j ~ i}
  3. connection Q_ij = polar(U_iᵀ U_j), the orthogonal d x d map that carries coordinates at j to i
  4. Laplacian  second-order graph connection Laplacian on fields Ω_i of symmetric matrices,
                  (L Ω)_i = deg_i Ω_i - Σ_{j ~ i} Q_ij Ω_j Q_ijᵀ ,
                  Ωᵀ L Ω = Σ_{edges} ‖Ω_i - Q_ij Ω_j Q_ijᵀ‖²_F  ≥ 0,
                written in an *orthonormal* basis of the symmetric zero-trace d x d matrices
                (p = d(d+1)/2 - 1 coordinates per point; A ↦ Q A Qᵀ keeps the trace, so dropping the
                identity direction loses nothing), which makes the sparse matrix symmetric PSD
  5. spectrum   bottom eigenvectors (ARPACK, seeded start vector); m factors give m - 1 parallel
                zero-trace fields Σ_f c_f P_f, Σ_f c_f d_f = 0, hence m - 1 small eigenvalues
                before a gap
  6. factors    at every point, simultaneously diagonalise the m - 1 matrices Ω_i^(k) (orthogonal
                FFDiag, Ziehe et al. 2004); directions whose diagonal vectors have cosine similarity
                > 0.5 belong to the same factor (connected components).

Its limits (the last part of this module): the cost in the dimension d (`second_order_block_size`,
`laplacian_storage_bytes`: p² ≈ d⁴/4 numbers per edge), and the Laplace–Beltrami view of diffusion that
the method rests on (`diffusion_kernel`, `laplace_beltrami_eigenpairs`, `heat_diffusion`: a graph Laplacian
approximates -Δ_M; on a product its eigenfunctions are products, `product_eigenpairs`, with the closed forms
of the circle, `circle_eigenvalues` and `circle_heat_kernel`, to compare against).

Every step is batched over points or edges (NumPy einsum / matmul / batched SVD); nothing loops in
Python over points or edges except the assembly of the per-point output lists.
The public reference code hands a non-symmetric matrix to a symmetric eigensolver (its triangular
coordinates are not orthonormal), starts the eigensolver from an unseeded vector, divides 0 by 0 in
FFDiag when diagonal entries tie, and finds components through a dense eigen-decomposition; this
module does none of these.
"""
from __future__ import annotations

import dataclasses
import itertools
import time

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components
from scipy.sparse.linalg import ArpackNoConvergence, LinearOperator, eigsh
from tqdm.auto import tqdm

from course_lib.checks import check_bool, check_int, check_number
from course_lib.seeding import as_random_state

COSINE_THRESHOLD = 0.5
_CHUNK_ELEMENTS = 4_000_000  # floats per batched temporary (about 32 MB)


# --------------------------------------------------------------------------------------- checks
def check_data(data, name: str = "data") -> np.ndarray:
    """`data` as a float64 (N, D) array, or a ValueError that says what is wrong."""
    if hasattr(data, "detach"):
        data = data.detach().cpu().numpy()
    array = np.asarray(data)
    if array.ndim != 2:
        raise ValueError(f"{name} has shape {array.shape}; expected a 2-D array (points, coordinates)")
    if array.dtype.kind not in "biuf":
        raise ValueError(f"{name} has dtype {array.dtype}; expected real numbers")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} contains NaN or infinite values ({int((~np.isfinite(array)).sum())} entries); "
                         "allowed: finite numbers only")
    return np.ascontiguousarray(array, dtype=np.float64)


# ---------------------------------------------------------------------------- 1. the kNN graph
def knn_graph(data, n_neighbors: int) -> sp.csr_matrix:
    """Symmetrised k-nearest-neighbour graph: i ~ j when j is among the k nearest of i or i of j.

    Returns the (N, N) adjacency as a CSR matrix of ones with sorted indices and no diagonal.
    """
    from sklearn.neighbors import NearestNeighbors

    data = check_data(data)
    n_neighbors = check_int("n_neighbors", n_neighbors, 1)
    if n_neighbors >= len(data):
        raise ValueError(f"n_neighbors={n_neighbors} is not allowed for {len(data)} points; use at most "
                         f"{len(data) - 1}")
    directed = NearestNeighbors(n_neighbors=n_neighbors).fit(data).kneighbors_graph(mode="connectivity")
    graph = directed.maximum(directed.T).tocsr()
    graph.setdiag(0)
    graph.eliminate_zeros()
    graph.sort_indices()
    graph.data[:] = 1.0
    return graph


def graph_edges(graph) -> tuple[np.ndarray, np.ndarray]:
    """(rows, cols) of every stored entry of a CSR matrix, in storage order."""
    return np.repeat(np.arange(graph.shape[0]), np.diff(graph.indptr)), graph.indices


# ---------------------------------------------------------------------------- 2. tangent spaces
def local_tangents(data, graph, manifold_dim: int) -> np.ndarray:
    """(N, D, d) orthonormal bases: local PCA of the differences x_j - x_i over the neighbours j of i.

    Points are processed in chunks of similar degree, each padded with zero differences (which
    change no singular vector), so each chunk is one batched SVD.
    """
    data = check_data(data)
    n, ambient = data.shape
    d = check_int("manifold_dim", manifold_dim, 1)
    degree = np.diff(graph.indptr)
    if degree.min() < d:
        raise ValueError(f"a point has only {degree.min()} neighbours; local PCA of a {d}-dimensional tangent "
                         f"space needs at least {d} (raise n_neighbors)")
    order = np.argsort(degree, kind="stable")
    tangents = np.empty((n, ambient, d))
    start = 0
    while start < n:
        width = degree[order[min(n, start + 256) - 1]]
        size = max(256, _CHUNK_ELEMENTS // (width * ambient))
        rows = order[start:start + size]
        width = degree[rows[-1]]
        slot = np.arange(width)
        valid = slot[None, :] < degree[rows, None]
        neighbours = graph.indices[np.minimum(graph.indptr[rows, None] + slot, len(graph.indices) - 1)]
        neighbours = np.where(valid, neighbours, rows[:, None])
        diffs = data[neighbours] - data[rows, None, :]
        vt = np.linalg.svd(diffs, full_matrices=False)[2]
        tangents[rows] = vt[:, :d].transpose(0, 2, 1)
        start += size
    return tangents


# ---------------------------------------------------------------------------- 3. the connection
def polar_factor(matrices: np.ndarray) -> np.ndarray:
    """The orthogonal factor O of M = O S (S symmetric PSD), batched: O = U Vᵀ for M = U Σ Vᵀ."""
    u, _, vt = np.linalg.svd(matrices)
    return u @ vt


def connections(tangents: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """(E, d, d): Q_e = polar(U_rowᵀ U_col) for each edge, carrying tangent coordinates at col to row."""
    e, (ambient, d) = len(rows), tangents.shape[1:]
    out = np.empty((e, d, d))
    step = max(1, _CHUNK_ELEMENTS // (2 * ambient * d))
    for s in range(0, e, step):
        r, c = rows[s:s + step], cols[s:s + step]
        out[s:s + step] = polar_factor(np.matmul(tangents[r].transpose(0, 2, 1), tangents[c]))
    return out


# ---------------------------------------------------------------------------- 4. the Laplacian
def sym_traceless_basis(d: int) -> np.ndarray:
    """(p, d, d), p = d(d+1)/2 - 1: an orthonormal basis (Frobenius) of the symmetric zero-trace matrices.

    Off-diagonal elements (E_ab + E_ba)/√2 for a < b, then diagonal ones diag(1, ..., 1, -k, 0, ...)/√(k(k+1))
    with k ones (the Helmert basis of the vectors orthogonal to (1, ..., 1)).
    """
    d = check_int("d", d, 2)
    a, b = np.triu_indices(d, 1)
    off = np.zeros((len(a), d, d))
    off[np.arange(len(a)), a, b] = off[np.arange(len(a)), b, a] = 1 / np.sqrt(2)
    diagonal = np.zeros((d - 1, d, d))
    for k in range(1, d):  # d - 1 matrices: a loop over the basis, not over data
        diagonal[k - 1, np.arange(k), np.arange(k)] = 1.0
        diagonal[k - 1, k, k] = -k
        diagonal[k - 1] /= np.sqrt(k * (k + 1))
    return np.concatenate([off, diagonal])


def to_matrices(coefficients: np.ndarray, d: int) -> np.ndarray:
    """(..., p) coordinates in `sym_traceless_basis(d)` -> (..., d, d) symmetric zero-trace matrices."""
    return np.tensordot(coefficients, sym_traceless_basis(d), axes=([-1], [0]))


def to_coefficients(matrices: np.ndarray) -> np.ndarray:
    """(..., d, d) matrices -> (..., p): their orthogonal projection on the symmetric zero-trace ones."""
    basis = sym_traceless_basis(matrices.shape[-1])
    return np.tensordot(matrices, basis, axes=([-2, -1], [1, 2]))


def conjugation_blocks(q: np.ndarray, basis: np.ndarray | None = None) -> np.ndarray:
    """(E, p, p): the matrix of A ↦ Q A Qᵀ in an orthonormal basis B, R_ab = ⟨B_a, Q B_b Qᵀ⟩_F.

    R(Qᵀ) = R(Q)ᵀ (the map's adjoint), and R(Q) is orthogonal: the blocks of a symmetric Laplacian.
    Computed as Q B_b for all b (one matrix product), then (Q B_b) Qᵀ per edge, then the inner
    products with every B_a (one matrix product).
    """
    e, d = q.shape[0], q.shape[-1]
    basis = sym_traceless_basis(d) if basis is None else basis
    p = len(basis)
    flat = basis.reshape(p, d * d)
    side_by_side = basis.transpose(1, 0, 2).reshape(d, p * d)  # [k, (b, l)] = B_b[k, l]
    out = np.empty((e, p, p))
    step = max(1, _CHUNK_ELEMENTS // (p * d * d))
    for s in range(0, e, step):
        qs = q[s:s + step]
        c = len(qs)
        qb = (qs.reshape(c * d, d) @ side_by_side).reshape(c, d, p, d).transpose(0, 2, 1, 3)  # Q B_b
        moved = np.matmul(qb.reshape(c, p * d, d), qs.transpose(0, 2, 1))  # Q B_b Qᵀ, rows (b, i)
        out[s:s + step] = (moved.reshape(c * p, d * d) @ flat.T).reshape(c, p, p).transpose(0, 2, 1)
    return out


def connection_laplacian(graph, tangents: np.ndarray) -> sp.bsr_matrix:
    """The second-order graph connection Laplacian on symmetric zero-trace fields, (N p, N p) BSR.

    Block (i, i) = deg_i I_p; block (i, j) = -R(Q_ij) for each edge. Only the edges i < j are
    computed; block (j, i) is the exact transpose, so the matrix is symmetric to the last bit.
    """
    graph = sp.csr_matrix(graph)
    graph.sort_indices()
    n, d = tangents.shape[0], tangents.shape[2]
    basis = sym_traceless_basis(d)
    p = len(basis)
    rows, cols = graph_edges(graph)
    upper, lower = np.flatnonzero(rows < cols), np.flatnonzero(rows > cols)
    # the storage index of (j, i) for each entry (i, j): transpose a matrix that stores entry numbers
    numbered = sp.csr_matrix((np.arange(1, len(rows) + 1, dtype=np.float64), graph.indices, graph.indptr),
                             shape=graph.shape)
    mirrored = numbered.T.tocsr()
    mirrored.sort_indices()
    if not (np.array_equal(mirrored.indices, graph.indices) and np.array_equal(mirrored.indptr, graph.indptr)):
        raise ValueError("graph is not symmetric; build it with knn_graph")
    partner = mirrored.data.astype(np.int64) - 1
    rank_in_upper = np.full(len(rows), -1)
    rank_in_upper[upper] = np.arange(len(upper))
    # BSR layout, row by row in column order: the entries left of the diagonal, the diagonal, the rest
    degree = np.diff(graph.indptr)
    diagonal_at = graph.indptr[:-1] + np.arange(n) + np.bincount(rows[lower], minlength=n)
    entry_at = np.arange(len(rows)) + rows + (cols > rows)
    blocks = np.empty((n + len(rows), p, p))
    blocks[diagonal_at] = np.eye(p)
    blocks[diagonal_at] *= degree[:, None, None]
    upper_blocks = conjugation_blocks(connections(tangents, rows[upper], cols[upper]), basis)
    np.negative(upper_blocks, out=upper_blocks)
    blocks[entry_at[upper]] = upper_blocks
    blocks[entry_at[lower]] = upper_blocks[rank_in_upper[partner[lower]]].transpose(0, 2, 1)
    indices = np.empty(n + len(rows), dtype=graph.indices.dtype)
    indices[diagonal_at] = np.arange(n)
    indices[entry_at] = cols
    indptr = np.concatenate([[0], np.cumsum(degree + 1)]).astype(graph.indptr.dtype)
    laplacian = sp.bsr_matrix((blocks, indices, indptr), shape=(n * p, n * p))
    laplacian.has_sorted_indices = True
    return laplacian


# ---------------------------------------------------------------------------- 5. the spectrum
def bottom_eigenpairs(laplacian, n_eigvecs: int, random_state=0, tol: float = 1e-3, shift: float = 1.0):
    """The `n_eigvecs` smallest eigenvalues (ascending) and eigenvectors of a symmetric PSD matrix.

    Lanczos (ARPACK) in single precision on L + σI from a start vector drawn from `random_state`
    (same seed, same result), then Rayleigh–Ritz in double precision: V ← orth(V), eigh(Vᵀ L V).
    The shift σ keeps ARPACK's relative stopping rule ‖r‖ ≤ tol·|θ| attainable when eigenvalues are
    ≈ 0 (the graph is unweighted, so the spectrum lies in [0, 2 max deg]); it changes no eigenvector.
    Single precision halves the memory traffic that dominates. `tol` bounds the residual
    ‖L v - λ v‖ ≤ tol (1 + λ); the bottom eigenvalues separated by a gap converge far beyond it,
    while inside a tight cluster above the gap the (Rayleigh–Ritz, hence upper-bound) values may be
    off by about `tol` — enough to place the gap, and much faster than resolving the cluster.
    Falls back to double precision if ARPACK does not converge. ARPACK's dense steps are level-2
    BLAS on N p x ncv arrays, too small to gain from threads; on a CPU that other jobs share, spinning
    BLAS threads made this step 3-8x slower (measured on 2 shared cores), so it runs on one.
    """
    from threadpoolctl import threadpool_limits

    size = laplacian.shape[0]
    n_eigvecs = check_int("n_eigvecs", n_eigvecs, 1)
    if n_eigvecs >= size - 1:
        raise ValueError(f"n_eigvecs={n_eigvecs} is not allowed for a matrix of size {size}; use at most {size - 2}")
    v0 = as_random_state(random_state).uniform(-1.0, 1.0, size)
    ncv = min(size - 1, max(2 * n_eigvecs + 1, 4 * n_eigvecs))
    single = laplacian.astype(np.float32)
    sigma = np.float32(shift)
    operator = LinearOperator(laplacian.shape, matvec=lambda x: single @ x + sigma * x, dtype=np.float32)
    with threadpool_limits(limits=1, user_api="blas"):
        try:
            vectors = eigsh(operator, k=n_eigvecs, which="SA", v0=v0.astype(np.float32), ncv=ncv, tol=tol)[1]
        except ArpackNoConvergence:
            vectors = eigsh(laplacian, k=n_eigvecs, which="SA", v0=v0, ncv=ncv, tol=1e-9)[1]
    basis = np.linalg.qr(vectors.astype(np.float64))[0]
    projected = basis.T @ (laplacian @ basis)
    values, rotation = np.linalg.eigh((projected + projected.T) / 2)
    return values, basis @ rotation


def count_small_eigenvalues(eigenvalues, gap: float | None = None) -> int:
    """How many eigenvalues lie before the spectral gap.

    With `gap`: the number below it. Without: the position of the largest *ratio* λ_{k+1}/λ_k (values
    floored at 1e-10 λ_max), which, unlike the largest difference, is not drawn to the large gaps
    between clusters of big eigenvalues. Always >= 1 without `gap`.
    """
    values = np.sort(np.asarray(eigenvalues, dtype=np.float64))
    if gap is not None:
        return int((values < gap).sum())
    if len(values) < 2:
        raise ValueError(f"eigenvalues has {len(values)} entries; the eigengap rule needs at least 2")
    floor = max(values.max(), np.finfo(float).tiny) * 1e-10
    return int(np.argmax(np.diff(np.log(np.maximum(values, floor))))) + 1


# ---------------------------------------------------------------------------- 6. the factors
def _cayley(skew: np.ndarray) -> np.ndarray:
    eye = np.eye(skew.shape[-1])
    return np.linalg.solve(eye - skew / 2, eye + skew / 2)


def off_diagonal_norm(matrices: np.ndarray) -> np.ndarray:
    """√(Σ_k Σ_{a≠b} C_k,ab²) over the last three axes (K, d, d)."""
    off = 1.0 - np.eye(matrices.shape[-1])
    return np.sqrt(((matrices * off) ** 2).sum((-3, -2, -1)))


def ffdiag(matrices, max_iter: int = 100, tol: float = 1e-10) -> np.ndarray:
    """Orthogonal simultaneous diagonalisation (FFDiag, Ziehe et al. 2004), batched.

    matrices (..., K, d, d) symmetric -> V (..., d, d) orthogonal with V C_k Vᵀ as diagonal as possible.
    Start: eigenvectors of a fixed generic combination Σ_k w_k C_k. Step: with δ_k,ab = C_k,aa - C_k,bb,

        W_ab = Σ_k C_k,ab δ_k,ab / Σ_k δ_k,ab²   (skew-symmetric),   V ← cay(W) V,

    the least-squares first-order update (cay(W) = (I - W/2)⁻¹(I + W/2), exactly orthogonal, step
    capped at ‖W‖_F ≤ 1). Pairs whose diagonals tie (Σ_k δ² ≈ 0: two directions of one factor) get
    W_ab = 0 — any rotation inside a tied pair is as good — instead of 0/0. Each point stops when
    its off-diagonal norm (relative to the matrices' norm) decreases by less than `tol`.
    """
    c = np.asarray(matrices, dtype=np.float64)
    if c.ndim < 3 or c.shape[-1] != c.shape[-2]:
        raise ValueError(f"matrices has shape {c.shape}; expected (..., K, d, d)")
    batch, (k, d) = c.shape[:-3], c.shape[-3:-1]
    c = c.reshape(-1, k, d, d)
    c = (c + c.transpose(0, 1, 3, 2)) / 2
    scale = np.sqrt((c ** 2).sum((1, 2, 3)))
    c = c / np.where(scale > 0, scale, 1.0)[:, None, None, None]
    weights = np.cos(np.arange(k)) / np.sqrt(np.arange(1, k + 1))  # fixed and generic
    v = np.linalg.eigh(np.einsum("k,nkab->nab", weights, c))[1].transpose(0, 2, 1)  # rows: directions
    c = np.einsum("nab,nkbc,ndc->nkad", v, c, v, optimize=True)
    previous = off_diagonal_norm(c)
    active = np.arange(len(c))
    for _ in range(max_iter):
        ca = c[active]
        diagonal = np.einsum("nkaa->nka", ca)
        delta = diagonal[:, :, :, None] - diagonal[:, :, None, :]
        numerator = (ca * delta).sum(1)
        denominator = (delta ** 2).sum(1)
        w = np.zeros_like(numerator)
        np.divide(numerator, denominator, out=w, where=denominator > 1e-24)
        norm = np.sqrt((w ** 2).sum((1, 2)))[:, None, None]
        w = w / np.maximum(norm, 1.0)
        rotation = _cayley(w)
        v[active] = np.einsum("nab,nbc->nac", rotation, v[active])
        c[active] = ca = np.einsum("nab,nkbc,ndc->nkad", rotation, ca, rotation, optimize=True)
        current = off_diagonal_norm(ca)
        keep = (previous[active] - current >= tol) & (current >= tol)
        previous[active] = current
        active = active[keep]
        if len(active) == 0:
            break
    return v.reshape(*batch, d, d)


def cluster_directions(diagonals: np.ndarray, threshold: float = COSINE_THRESHOLD) -> tuple[np.ndarray, np.ndarray]:
    """Group the d directions at each point by the cosine similarity of their diagonal vectors.

    diagonals (N, K, d): ψ_a = (C_1,aa, ..., C_K,aa) for direction a. Directions a, b are linked when
    cos(ψ_a, ψ_b) > threshold; the factors are the connected components, found for all points at
    once in one block-diagonal graph. Returns labels (N, d) (factor 0, 1, ... numbered by their first
    direction) and the number of factors at each point (N,).
    """
    n, _, d = diagonals.shape
    norms = np.linalg.norm(diagonals, axis=1)
    gram = np.einsum("nka,nkb->nab", diagonals, diagonals)
    cosine = gram / np.maximum(norms[:, :, None] * norms[:, None, :], 1e-300)
    point, a, b = np.nonzero(np.triu(cosine > threshold, 1))
    adjacency = sp.coo_matrix((np.ones(len(point)), (point * d + a, point * d + b)), shape=(n * d, n * d))
    _, component = connected_components(adjacency, directed=False)
    first = np.full(component.max() + 1, n * d)
    np.minimum.at(first, component, np.arange(n * d))
    representative = (first[component] - np.repeat(np.arange(n), d) * d).reshape(n, d)
    is_first = representative == np.arange(d)
    rank = np.cumsum(is_first, axis=1) - 1
    labels = np.take_along_axis(rank, representative, axis=1)
    return labels, is_first.sum(1)


# ---------------------------------------------------------------------------- the whole algorithm
@dataclasses.dataclass
class GeomancerResult:
    """What `geomancer` found.

    eigenvalues  (n_eigvecs,) the bottom of the Laplacian's spectrum, ascending
    num_small    eigenvectors used (before the gap): m - 1 for m factors
    counts       (N,) number of subspaces found at each point; num_factors is the most common
    directions   (N, D, d) the simultaneously diagonalising directions, in ambient coordinates
    labels       (N, d) the factor of each direction
    tangents     (N, D, d) local-PCA tangent bases;  graph  the (N, N) kNN adjacency
    timings      seconds per step
    """

    eigenvalues: np.ndarray
    num_small: int
    counts: np.ndarray
    directions: np.ndarray
    labels: np.ndarray
    tangents: np.ndarray
    graph: sp.csr_matrix
    timings: dict
    _subspaces: list | None = dataclasses.field(default=None, repr=False)

    @property
    def num_factors(self) -> int:
        return int(np.bincount(self.counts).argmax())

    @property
    def subspaces(self) -> list[list[np.ndarray]]:
        """Per point, the list of orthonormal (D, d_f) bases of the subspaces found there."""
        if self._subspaces is None:
            self._subspaces = [None] * len(self.labels)
            for idx, arrays in group_by_labels(self.directions, self.labels):
                for position, point in enumerate(idx.tolist()):
                    self._subspaces[point] = [array[position] for array in arrays]
        return self._subspaces

    def fraction_with(self, factor_dims) -> float:
        """Fraction of points whose subspaces have exactly these dimensions (in any order)."""
        want = sorted(factor_dims)
        sizes = np.stack([(self.labels == f).sum(1) for f in range(self.labels.shape[1])], axis=1)
        match = (self.counts == len(want)) & np.all(np.sort(sizes, axis=1)[:, -len(want):] == want, axis=1)
        return float(match.mean())


def group_by_labels(directions: np.ndarray, labels: np.ndarray):
    """Yield (point indices, [(n_g, D, d_f) per factor]) for each distinct labelling of the directions."""
    patterns, inverse = np.unique(labels, axis=0, return_inverse=True)
    for g, pattern in enumerate(patterns):
        idx = np.flatnonzero(inverse.ravel() == g)
        yield idx, [directions[idx][:, :, pattern == f] for f in range(pattern.max() + 1)]


def geomancer(data, manifold_dim: int, n_neighbors: int | None = None, n_eigvecs: int = 10,
              gap: float | None = None, random_state=0, progress: bool = True) -> GeomancerResult:
    """Algorithm 1 of Pfau et al. (2020): the factors of a product manifold sampled by `data` (N, D).

    manifold_dim  d, the dimension of the manifold (>= 2)
    n_neighbors   k of the kNN graph; default 2d (the paper's)
    n_eigvecs     how many bottom eigenvalues to compute (>= 2)
    gap           threshold: eigenvalues below it count as "small"; default the largest-ratio gap
    random_state  int or RandomState: seeds the eigensolver's start vector (same seed, same result)
    """
    data = check_data(data)
    n, ambient = data.shape
    d = check_int("manifold_dim", manifold_dim, 2, note=" (a 1-dimensional manifold has no zero-trace symmetric "
                   "fields; products need d >= 2)")
    if d > ambient:
        raise ValueError(f"manifold_dim={d} is not allowed for data with {ambient} coordinates; use at most {ambient}")
    k = 2 * d if n_neighbors is None else check_int("n_neighbors", n_neighbors, d, note=" (manifold_dim) for local PCA")
    if k >= n:
        raise ValueError(f"n_neighbors={k} is not allowed for {n} points; use at most {n - 1} (or more points)")
    p = second_order_block_size(d)
    n_eigvecs = check_int("n_eigvecs", n_eigvecs, 2)
    if n_eigvecs >= n * p - 1:
        raise ValueError(f"n_eigvecs={n_eigvecs} is not allowed for {n} points; use at most {n * p - 2} "
                         f"(the Laplacian has {p} rows per point)")
    check_number("gap", gap, 0, low_open=True, none_ok=True, note=" (None: the largest eigengap)")
    random_state = as_random_state(random_state)

    timings = {}
    bar = tqdm(total=6, desc="GeoManCER", disable=not progress)

    def step(name, clock):
        timings[name] = time.perf_counter() - clock
        bar.set_postfix_str(name)
        bar.update()
        return time.perf_counter()

    clock = time.perf_counter()
    graph = knn_graph(data, k)
    clock = step("graph", clock)
    tangents = local_tangents(data, graph, d)
    clock = step("tangents", clock)
    laplacian = connection_laplacian(graph, tangents)
    clock = step("laplacian", clock)
    eigenvalues, eigenvectors = bottom_eigenpairs(laplacian, n_eigvecs, random_state)
    del laplacian
    clock = step("eigensolver", clock)
    num_small = count_small_eigenvalues(eigenvalues, gap)
    if num_small == 0:  # no parallel zero-trace field: one irreducible factor
        v = np.broadcast_to(np.eye(d), (n, d, d))
        labels = np.zeros((n, d), dtype=np.int64)
        counts = np.ones(n, dtype=np.int64)
        clock = step("ffdiag", clock)
    else:
        fields = to_matrices(eigenvectors[:, :num_small].reshape(n, p, num_small).transpose(0, 2, 1), d)
        v = ffdiag(fields)
        clock = step("ffdiag", clock)
        diagonals = np.einsum("nab,nkbc,nac->nka", v, fields, v)
        labels, counts = cluster_directions(diagonals)
    directions = np.matmul(tangents, v.transpose(0, 2, 1))
    step("clusters", clock)
    bar.close()
    return GeomancerResult(eigenvalues, num_small, counts, directions, labels, tangents, graph, timings)


# ---------------------------------------------------------------------------- evaluation
def largest_principal_angle(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Largest principal angle between the column spans of orthonormal a, b (..., D, r), batched.

    sin θ_max = ‖(I - b bᵀ) a‖₂, accurate for small angles (arccos of σ_min is not).
    """
    residual = a - b @ (b.swapaxes(-1, -2) @ a)
    return np.arcsin(np.clip(np.linalg.norm(residual, ord=2, axis=(-2, -1)), 0.0, 1.0))


def _as_factor_arrays(true, n: int) -> list[np.ndarray]:
    """Truth as a list of (N, D, d_f) arrays: from such a list, a ManifoldSample, or per-point lists."""
    if hasattr(true, "tangents"):
        true = true.tangents
    if len(true) == n and isinstance(true[0], (list, tuple)):
        return [np.stack([point[f] for point in true]) for f in range(len(true[0]))]
    arrays = [np.asarray(t, dtype=np.float64) for t in true]
    for t in arrays:
        if t.ndim != 3 or len(t) != n:
            raise ValueError(f"true has a factor of shape {t.shape}; expected ({n}, D, d_f) per factor")
    return arrays


def subspace_angle_error(found, true) -> np.ndarray:
    """Per point, the paper's error: the largest principal angle between paired subspaces, averaged over
    factors and minimised over pairings; π/2 where the number of subspaces differs from the truth.

    found  a GeomancerResult, per point a list of orthonormal (D, d_f) bases, or one (N, D, d_f) array
           per subspace
    true   a ManifoldSample, a list of (N, D, d_f) arrays (one per factor), or per-point lists
    Returns (N,) angles in radians (a pair of subspaces of different dimensions counts π/2).
    """
    if isinstance(found, GeomancerResult):
        n = len(found.labels)
        groups = list(group_by_labels(found.directions, found.labels))
    elif len(found) and isinstance(found[0], np.ndarray) and found[0].ndim == 3:  # one array per factor
        n = len(found[0])
        groups = [(np.arange(n), [np.asarray(f, dtype=np.float64) for f in found])]
    else:
        n = len(found)
        signature = {}
        for i, bases in enumerate(found):
            signature.setdefault(tuple(b.shape[1] for b in bases), []).append(i)
        groups = [(np.array(idx), [np.stack([found[i][f] for i in idx]) for f in range(len(sig))])
                  for sig, idx in signature.items()]
    truth = _as_factor_arrays(true, n)
    m = len(truth)
    errors = np.full(n, np.pi / 2)
    for idx, arrays in groups:
        if len(arrays) != m:
            continue
        cost = np.full((len(idx), m, m), np.pi / 2)  # cost[:, g, f]: found g against true f
        for g, f in itertools.product(range(m), range(m)):
            if arrays[g].shape[1:] == truth[f].shape[1:]:
                cost[:, g, f] = largest_principal_angle(arrays[g], truth[f][idx])
        best = np.full(len(idx), np.inf)
        for perm in itertools.permutations(range(m)):
            best = np.minimum(best, cost[:, list(perm), np.arange(m)].mean(1))
        errors[idx] = best
    return errors


# ---------------------------------------------------------------------------- limits: the cost in d
def second_order_block_size(d: int, traceless: bool = True) -> int:
    """Rows per point of the second-order connection Laplacian: dim Sym²(T_xM) = d(d+1)/2, less 1 for the trace.

    Pfau et al. (2020) diffuse fields of symmetric 2-tensors on the d-dimensional tangent
    spaces: d(d+1)/2 numbers per point (the first-order connection Laplacian of Singer & Wu 2012 has d).
    The identity is parallel on every manifold, so `traceless` drops it: p = d(d+1)/2 - 1 (what
    `connection_laplacian` uses). Each edge then stores a p x p block, p² ≈ d⁴/4 numbers.
    """
    d = check_int("d", d, 1)
    return d * (d + 1) // 2 - int(check_bool("traceless", traceless))


def laplacian_storage_bytes(graph, d: int) -> int:
    """Exact bytes of `connection_laplacian(graph, tangents)` for a d-dimensional manifold (Pfau et al. 2020).

    BSR storage: one p x p float64 block per point and per stored edge, (N + E) p² · 8 bytes with
    p = d(d+1)/2 - 1 and E = graph.nnz (each edge twice), plus N + E column indices and N + 1 row
    pointers of the graph's index type. With E ≈ N·deg and deg ≈ 2d: about 8 N (2d + 1) d⁴/4 bytes.
    """
    graph = sp.csr_matrix(graph)
    n, blocks = graph.shape[0], graph.shape[0] + graph.nnz
    p = second_order_block_size(d)
    return int(blocks * p * p * 8 + (blocks + n + 1) * graph.indices.dtype.itemsize)


# ---------------------------------------------------------------------------- limits: Laplace–Beltrami
def diffusion_kernel(data, bandwidth: float, alpha: float = 1.0, cutoff: float = 6.0) -> sp.csr_matrix:
    """The α-normalised Gaussian kernel of diffusion maps (Coifman & Lafon 2006), sparse and symmetric.

    K_ij = exp(-‖x_i - x_j‖² / 4ε) for i ≠ j (ε = `bandwidth`), kept where ‖x_i - x_j‖ < cutoff·√ε
    (scikit-learn's radius neighbours; the weights dropped are below exp(-cutoff²/4)); then
    K⁽ᵅ⁾_ij = K_ij / (q_i q_j)^α with q = K 1, which for α = 1 removes the sampling density. With
    D = diag(K⁽ᵅ⁾ 1), P = D⁻¹K⁽ᵅ⁾ is a Markov matrix and, as ε → 0 with enough points,

        (I - P)/ε → -Δ_M,  more precisely P ≈ e^{εΔ_M}  (Belkin & Niyogi 2008; Coifman & Lafon 2006),

    the heat semigroup of the Laplace–Beltrami operator at time ε. The diagonal is left out: a
    self-loop of weight 1 would shrink every eigenvalue by about 1/deg.
    """
    from sklearn.neighbors import radius_neighbors_graph

    data = check_data(data)
    eps = check_number("bandwidth", bandwidth, 0, low_open=True, note=" (the kernel's time ε)")
    alpha = check_number("alpha", alpha, 0, 1)
    cutoff = check_number("cutoff", cutoff, 0, low_open=True, note=" (in units of √bandwidth)")
    kernel = radius_neighbors_graph(data, cutoff * np.sqrt(eps), mode="distance", include_self=False).tocsr()
    kernel.data = np.exp(-kernel.data ** 2 / (4 * eps))
    q = np.asarray(kernel.sum(axis=1)).ravel()
    if q.min() <= 0:
        raise ValueError(f"bandwidth={bandwidth!r} is not allowed for these points: {int((q <= 0).sum())} have no "
                         f"neighbour within cutoff·√bandwidth = {cutoff * np.sqrt(eps):.3g}; use a larger bandwidth")
    scale = sp.diags(q ** -alpha)
    kernel = (scale @ kernel @ scale).tocsr()
    return ((kernel + kernel.T) / 2).tocsr()  # symmetric to the last bit


def laplace_beltrami_eigenpairs(data, num: int, bandwidth: float, alpha: float = 1.0, random_state=0,
                                cutoff: float = 6.0) -> tuple[np.ndarray, np.ndarray]:
    """The `num` smallest eigenvalues λ of -Δ_M (ascending) and the eigenfunctions at the points, (N, num).

    Diffusion maps (Coifman & Lafon 2006): P = D⁻¹K⁽ᵅ⁾ (`diffusion_kernel`) is similar to the symmetric
    S = D^(-1/2) K⁽ᵅ⁾ D^(-1/2); its largest eigenvalues μ_k ≈ e^{-ελ_k} (P ≈ e^{εΔ}) give
    λ_k = -log(μ_k)/ε, and φ_k = D^(-1/2) ψ_k, scaled to mean φ_k² = 1 (the empirical L² norm). Lanczos
    (ARPACK, the largest μ, to machine precision) from a start vector drawn from `random_state` (same
    seed, same result). Known answers: the unit circle 0, 1, 1, 4, 4, 9, ... (n²: cos nθ, sin nθ); the unit
    sphere S² l(l+1) with multiplicity 2l + 1 (Belkin & Niyogi 2008 prove the convergence).
    """
    kernel = diffusion_kernel(data, bandwidth, alpha, cutoff)
    n = kernel.shape[0]
    num = check_int("num", num, 1)
    if num >= n - 1:
        raise ValueError(f"num={num} is not allowed for {n} points; use at most {n - 2}")
    degree = np.asarray(kernel.sum(axis=1)).ravel()
    half = sp.diags(degree ** -0.5)
    symmetric = (half @ kernel @ half).tocsr()
    v0 = as_random_state(random_state).uniform(-1.0, 1.0, n)
    mu, psi = eigsh(symmetric, k=num, which="LA", v0=v0)
    order = np.argsort(-mu, kind="stable")
    mu, psi = mu[order], psi[:, order]
    if mu.min() <= 0:
        raise ValueError(f"bandwidth={bandwidth!r} is too large for num={num}: an eigenvalue of P is <= 0, so "
                         "-log(μ)/ε is undefined; use a smaller bandwidth or fewer eigenpairs")
    phi = psi * (degree ** -0.5)[:, None]
    phi /= np.sqrt((phi ** 2).mean(axis=0))
    return np.maximum(-np.log(np.minimum(mu, 1.0)) / bandwidth, 0.0), phi


def heat_diffusion(kernel, source: int, time: float, bandwidth: float) -> np.ndarray:
    """Diffuse a unit mass from point `source` for time t: m = (Pᵀ)^s e_source, s = round(t/ε) steps.

    P = D⁻¹K⁽ᵅ⁾ ≈ e^{εΔ} (`diffusion_kernel`; Coifman & Lafon 2006), so s steps of the random walk are the
    heat flow e^{tΔ}: m_j ≈ p_t(x_source, x_j) vol(M)/N on a uniform sample, with p_t the heat kernel.
    Returns m (N,), non-negative, summing to 1.
    """
    kernel = sp.csr_matrix(kernel)
    n = kernel.shape[0]
    source = check_int("source", source, 0, n - 1, note=" (a point index)")
    eps = check_number("bandwidth", bandwidth, 0, low_open=True)
    time = check_number("time", time, 0, low_open=True)
    steps = int(round(time / eps))
    if steps < 1:
        raise ValueError(f"time={time!r} is not allowed for bandwidth={bandwidth!r}; use time >= bandwidth/2 "
                         "(at least one step of the walk)")
    transition_t = (sp.diags(1.0 / np.asarray(kernel.sum(axis=1)).ravel()) @ kernel).T.tocsr()
    mass = np.zeros(n)
    mass[source] = 1.0
    for _ in range(steps):  # s sparse products: the walk itself
        mass = transition_t @ mass
    return mass


def circle_eigenvalues(num: int) -> np.ndarray:
    """The `num` smallest eigenvalues of -Δ on the unit circle (length 2π): 0, 1, 1, 4, 4, 9, 9, ...

    -d²/dθ² has eigenfunctions 1, cos nθ, sin nθ with eigenvalue n² (a closed form to test graph
    Laplacians against; Belkin & Niyogi 2008).
    """
    num = check_int("num", num, 1)
    return ((np.arange(num) + 1) // 2).astype(np.float64) ** 2


def circle_heat_kernel(angle, time: float) -> np.ndarray:
    """The heat kernel of the unit circle, p_t(θ) = (1/2π) Σ_{n ∈ Z} e^{-n²t} cos nθ (θ = angle, radians).

    The fundamental solution of ∂_t u = ∂²_θ u: it integrates to 1 over the circle, tends to 1/2π as
    t → ∞ and equals the wrapped Gaussian Σ_k (4πt)^(-1/2) exp(-(θ + 2πk)²/4t) (Poisson summation).
    The series stops where e^{-n²t} < 1e-17.
    """
    time = check_number("time", time, 0, low_open=True)
    theta = np.asarray(angle, dtype=np.float64)
    terms = np.arange(1, int(np.ceil(np.sqrt(40.0 / time))) + 2)
    series = np.tensordot(np.cos(theta[..., None] * terms), np.exp(-terms ** 2 * time), axes=([-1], [0]))
    return (1.0 + 2.0 * series) / (2 * np.pi)


def product_eigenpairs(values_a, values_b, num: int, vectors_a=None, vectors_b=None):
    """The bottom of the spectrum of M_a x M_b from its factors': λ = λ_i + μ_j, φ = φ_i ⊗ ψ_j.

    On a product the Laplace–Beltrami operator is the Kronecker sum Δ = Δ_a ⊗ I + I ⊗ Δ_b, so
    eigenvalues add, eigenfunctions multiply, φ(x, y) = φ_i(x) ψ_j(y), and the heat flow factorises:
    e^{tΔ} = e^{tΔ_a} ⊗ e^{tΔ_b} (the diffusion GeoManCER's Laplacian performs on 2-tensors; Pfau et al.
    2020). On sampled points (x_n, y_n) of the product the eigenfunctions are the pointwise
    products of the factors' values at the same points: vectors_a (N, I), vectors_b (N, J).
    Returns (values (num,) ascending, pairs (num, 2) of factor indices (i, j), vectors (N, num) or None).
    """
    a, b = (np.asarray(v, dtype=np.float64).ravel() for v in (values_a, values_b))
    num = check_int("num", num, 1, len(a) * len(b), note=" (the number of pairs of factor eigenvalues)")
    sums = (a[:, None] + b[None, :]).ravel()
    order = np.argsort(sums, kind="stable")[:num]
    pairs = np.stack(np.unravel_index(order, (len(a), len(b))), axis=1)
    if vectors_a is None and vectors_b is None:
        return sums[order], pairs, None
    va, vb = np.asarray(vectors_a, dtype=np.float64), np.asarray(vectors_b, dtype=np.float64)
    if va.ndim != 2 or vb.ndim != 2 or va.shape[0] != vb.shape[0] or (va.shape[1], vb.shape[1]) != (len(a), len(b)):
        raise ValueError(f"vectors_a {va.shape} and vectors_b {vb.shape} do not fit: expected (N, {len(a)}) and "
                         f"(N, {len(b)}), the same points N")
    return sums[order], pairs, va[:, pairs[:, 0]] * vb[:, pairs[:, 1]]


def eigenspace_angles(vectors, reference, values, rtol: float = 1e-6) -> tuple[np.ndarray, np.ndarray]:
    """Per eigenspace, the largest principal angle between span(vectors[:, g]) and span(reference[:, g]).

    The groups g are runs of equal `values` (within `rtol`: a degenerate eigenvalue is one eigenspace,
    whose basis any rotation may mix, so only spans can be compared); both sets of columns are
    orthonormalised first (QR). Returns (the value of each group, its angle in radians).
    """
    vectors, reference = np.asarray(vectors, dtype=np.float64), np.asarray(reference, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64).ravel()
    if vectors.shape != reference.shape or vectors.ndim != 2 or vectors.shape[1] != len(values):
        raise ValueError(f"vectors {vectors.shape}, reference {reference.shape} and values ({len(values)},) do not "
                         "fit; expected two (N, K) arrays and K values")
    rtol = check_number("rtol", rtol, 0)
    new = np.concatenate([[True], ~np.isclose(values[1:], values[:-1], rtol=rtol, atol=rtol)])
    bounds = np.append(np.flatnonzero(new), len(values))
    angles = [largest_principal_angle(np.linalg.qr(vectors[:, lo:hi])[0], np.linalg.qr(reference[:, lo:hi])[0])
              for lo, hi in zip(bounds[:-1], bounds[1:])]  # one QR per eigenspace, a handful
    return values[bounds[:-1]], np.array(angles)
