"""Distances between many codes and how well they separate classes.

`graph_distances`: Riemannian distances by shortest paths on a neighbour graph whose edges are decoded
straight segments (Chen et al. 2019 use such graphs to initialise geodesics); `separability`: scale-free
class-separation scores of any distance matrix; `latent_plane`: a grid over 2-D codes.
"""
from __future__ import annotations


import numpy as np
import torch
from tqdm.auto import tqdm

from course_lib.checks import check_int
from course_lib.analysis.geometry.decoders import as_codes, check_decoder, decode_flat


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

    decoder = check_decoder(decoder)
    codes_t = as_codes(decoder, codes, "codes")
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
    ends = decode_flat(decoder, codes_t, chunk_size)
    t = torch.linspace(0, 1, segment_points, dtype=codes_t.dtype, device=codes_t.device)[1:-1, None]
    per_chunk = max(1, chunk_size // max(1, segment_points - 2))
    weights = []
    for s in tqdm(range(0, len(pairs), per_chunk), desc="graph edges", disable=not progress):
        i, j = torch.as_tensor(pairs[s:s + per_chunk, 0]), torch.as_tensor(pairs[s:s + per_chunk, 1])
        zi, zj = codes_t[i][:, None], codes_t[j][:, None]
        inner = (zi * (1 - t) + zj * t).reshape(-1, codes_t.shape[1])
        images = decode_flat(decoder, inner, chunk_size) if len(inner) else ends[:0]
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
