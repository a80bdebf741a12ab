"""The figures of the topology modules (`course_lib.topology`, notebook 10): barcodes, persistence diagrams
and Rips complexes (persistence), mean relative living times (rlt), Zhou et al.'s co-clustering and
submanifold barycenters (zhou). Each is titled and labelled."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from course_lib.topology.persistence import check_bars, check_points, distance_matrix
from course_lib.topology.zhou import CoclusterScore, SubmanifoldRLTs, similarity_from_distances


def plot_barcode(barcodes: dict, ax=None, t_max: float | None = None, colors=("C0", "C1", "C2", "C3")):
    """Horizontal bars, one per interval, grouped by dimension; infinite bars end in an arrow at t_max."""
    ax = ax or plt.gca()
    finite = [b[np.isfinite(b)] for b in barcodes.values() if len(b)]
    finite = np.concatenate(finite) if finite else np.zeros(1)
    t_max = float(t_max if t_max is not None else max(finite.max(), 1e-12) * 1.1)
    row = 0
    for k, bars in sorted(barcodes.items()):
        bars = check_bars(bars, f"barcodes[{k}]")
        color = colors[k % len(colors)]
        for n, (birth, death) in enumerate(bars):
            ax.plot([birth, min(death, t_max)], [row, row], color=color, linewidth=2, solid_capstyle="butt",
                    label=f"H{k} ({len(bars)} bars)" if n == 0 else None)
            if not np.isfinite(death):
                ax.annotate("", xy=(t_max, row), xytext=(t_max * 0.97, row),
                            arrowprops=dict(arrowstyle="->", color=color))
            row += 1
        row += 1
    if row:
        ax.legend(loc="lower right")
    ax.set(xlim=(0, t_max * 1.02), yticks=[], xlabel="scale t", title="barcode")
    return ax


def plot_persistence_diagram(barcodes: dict, ax=None, colors=("C0", "C1", "C2", "C3")):
    """Points (birth, death) per dimension above the diagonal; infinite deaths drawn on a top line."""
    ax = ax or plt.gca()
    finite = [b[np.isfinite(b)] for b in barcodes.values() if len(b)]
    top = float(np.concatenate(finite).max()) * 1.1 if finite and np.concatenate(finite).size else 1.0
    for k, bars in sorted(barcodes.items()):
        bars = check_bars(bars, f"barcodes[{k}]")
        deaths = np.where(np.isfinite(bars[:, 1]), bars[:, 1], top)
        ax.scatter(bars[:, 0], deaths, s=14, color=colors[k % len(colors)], label=f"H{k}")
    ax.plot([0, top], [0, top], color="0.5", linewidth=1)
    ax.axhline(top, color="0.7", linestyle=":", linewidth=1)
    ax.set(xlabel="birth", ylabel="death (dotted line: never dies)", xlim=(-0.02 * top, top * 1.02),
           ylim=(-0.02 * top, top * 1.05), title="persistence diagram")
    ax.legend(loc="lower right")
    return ax


def plot_rips_complex(points, t: float, ax=None, color: str = "C0"):
    """The Vietoris–Rips complex of 2-D `points` at scale t: triangles, edges and vertices."""
    from matplotlib.collections import LineCollection, PolyCollection

    points = check_points(points)
    if points.shape[1] != 2:
        raise ValueError(f"points has {points.shape[1]} coordinates; plot_rips_complex draws 2-D points only")
    ax = ax or plt.gca()
    dist = distance_matrix(points)
    close = dist <= t
    i, j = np.nonzero(np.triu(close, 1))
    triangles = [(a, b, c) for a, b in zip(i, j) for c in np.nonzero(close[a] & close[b])[0] if c > b]
    if triangles:
        ax.add_collection(PolyCollection(points[np.array(triangles)], facecolor=color, alpha=0.15, edgecolor="none"))
    ax.add_collection(LineCollection(np.stack([points[i], points[j]], 1), color=color, linewidth=0.7, alpha=0.7))
    ax.scatter(points[:, 0], points[:, 1], s=8, color="k", zorder=3)
    ax.set_aspect("equal")
    ax.set_title(f"Rips complex at t = {t:.2g}")
    return ax


def plot_mrlt(mrlt, ax=None, label: str | None = None, color: str | None = None, max_holes: int | None = None):
    """The MRLT as a step histogram over hole counts (as in the paper's figures)."""
    ax = ax or plt.gca()
    mrlt = np.asarray(mrlt, dtype=np.float64)
    if max_holes is None:
        nonzero = np.flatnonzero(mrlt > 1e-3)
        max_holes = int(max(nonzero.max() + 2 if nonzero.size else 2, 5))
    shown = mrlt[:max_holes]
    x = np.arange(len(shown))
    bars = ax.bar(x, shown, width=1.0, alpha=0.3, color=color, edgecolor=color)
    ax.step(np.r_[x - 0.5, x[-1] + 0.5], np.r_[shown, shown[-1]], where="post",
            color=bars.patches[0].get_facecolor()[:3], linewidth=2, label=label)
    ax.set(xlabel="number of holes i (β1)", ylabel="mean relative living time", xlim=(-0.5, max_holes - 0.5))
    if label:
        ax.legend()
    return ax


def plot_coclusters(distances, result: CoclusterScore, row_names=None, column_names=None, ax=None,
                    title: str | None = None):
    """The similarity 1 − d / max d with rows and columns sorted by co-cluster, blocks outlined."""
    from matplotlib.patches import Rectangle

    ax = ax or plt.gca()
    distances = np.asarray(distances, dtype=np.float64)
    row_order = np.argsort(result.row_labels, kind="stable")
    col_order = np.argsort(result.column_labels, kind="stable")
    similarity = similarity_from_distances(distances)[np.ix_(row_order, col_order)]
    image = ax.imshow(similarity, cmap="Blues", vmin=0, vmax=1)
    for c in range(result.n_clusters):
        rows = np.flatnonzero(result.row_labels[row_order] == c)
        cols = np.flatnonzero(result.column_labels[col_order] == c)
        if rows.size and cols.size:
            ax.add_patch(Rectangle((cols[0] - 0.5, rows[0] - 0.5), len(cols), len(rows), fill=False,
                                   edgecolor="C3", linewidth=2))
    row_names = row_names if row_names is not None else [str(i) for i in range(distances.shape[0])]
    column_names = column_names if column_names is not None else [str(i) for i in range(distances.shape[1])]
    ax.set_xticks(range(len(col_order)), [column_names[i] for i in col_order], rotation=90)
    ax.set_yticks(range(len(row_order)), [row_names[i] for i in row_order])
    ax.set_title(title or f"{result.n_clusters} co-clusters, score {result.score:.1f}")
    return image


def plot_submanifold_barycenters(submanifolds: SubmanifoldRLTs, groups=None, ax=None, max_holes: int = 10):
    """Barycenters (mean over the fixed values) of some groups, as lines over hole counts."""
    ax = ax or plt.gca()
    groups = range(len(submanifolds.names)) if groups is None else groups
    for g in groups:
        bary = submanifolds.barycenters[g]
        ax.plot(np.arange(max_holes), bary.mean(axis=0)[:max_holes], marker="o", label=submanifolds.names[g])
    ax.set(xlabel="number of holes", ylabel="barycenter mass (mean over values)")
    ax.legend(fontsize=8, ncol=2)
    return ax
