"""Figures of notebook 12 (latent geometry): metric heat maps on a latent plane, paths, spectra, bars.

Every function draws on the axes it is given (or returns its Figure) and validates only what it
needs; the numbers come from `course_lib.analysis.geometry`.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

PATH_STYLES = {"straight line": dict(color="white", linestyle="--"), "geodesic": dict(color="tab:red"),
               "geodesic, expected metric": dict(color="tab:orange")}


def plot_metric_plane(ax, xs, ys, values, codes=None, colors=None, paths=None, title=None,
                      label="½ log det G", cmap="viridis", vmin=None, vmax=None, codes_cmap="cool"):
    """A heat map of `values` (len(ys) * len(xs), grid rows over xs fastest) on a 2-D latent plane (cells
    where the value is -inf, a singular metric, in grey), the codes on top (coloured by `colors`), and
    paths {label: (n, 2)} drawn as lines with their points."""
    xs, ys = np.asarray(xs), np.asarray(ys)
    values = np.asarray(values, np.float64)
    if values.size != len(xs) * len(ys):
        raise ValueError(f"values has {values.size} entries; expected len(ys) * len(xs) = {len(ys) * len(xs)}")
    values = np.ma.masked_invalid(values.reshape(len(ys), len(xs)))
    colormap = plt.get_cmap(cmap).copy()
    colormap.set_bad("0.6")
    image = ax.pcolormesh(xs, ys, values, cmap=colormap, shading="auto", vmin=vmin, vmax=vmax)
    plt.colorbar(image, ax=ax, label=label)
    if codes is not None:
        codes = np.asarray(codes)
        ax.scatter(codes[:, 0], codes[:, 1], s=3, c="k" if colors is None else colors, cmap=codes_cmap, alpha=0.5,
                   linewidths=0)
    for name, path in (paths or {}).items():
        path = np.asarray(path)
        ax.plot(path[:, 0], path[:, 1], marker="o", markersize=3, linewidth=2,
                label=name, **PATH_STYLES.get(name, {}))
    if paths:
        ax.legend(loc="lower left", fontsize=8, framealpha=0.8)
    ax.set(xlabel="z₁", ylabel="z₂", title=title, xlim=(xs[0], xs[-1]), ylim=(ys[0], ys[-1]))
    return ax


def plot_step_lengths(ax, paths: dict, title=None):
    """The pixel distance between consecutive decoded points of each path {label: (n - 1,) steps}:
    a constant-speed geodesic is flat, a straight latent line is not."""
    for name, steps in paths.items():
        steps = np.asarray(steps)
        ax.plot(np.arange(1, len(steps) + 1), steps, marker="o", markersize=3, label=f"{name} (L = {steps.sum():.1f})")
    ax.set(xlabel="segment i", ylabel="‖f(zᵢ₊₁) − f(zᵢ)‖", title=title)
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=8)
    return ax


def plot_singular_spectra(ax, spectra: dict, title="Singular values of J at encoded images"):
    """Mean singular values (log scale) of each model's Jacobians {label: (N, d)}, with their spread."""
    for name, values in spectra.items():
        values = np.asarray(values)
        index = np.arange(1, values.shape[1] + 1)
        line, = ax.semilogy(index, np.median(values, 0), marker="o", label=name)
        ax.fill_between(index, np.percentile(values, 10, 0), np.percentile(values, 90, 0), color=line.get_color(),
                        alpha=0.15)
    ax.set(xlabel="index (largest first)", ylabel="singular value of J (pixels per latent unit)", title=title)
    ax.legend(fontsize=8)
    return ax


def plot_grouped_bars(ax, table, value: str, group: str = "model", label: str = "label", title=None, ylabel=None):
    """Bars of `value` for each row of a long table, one cluster per `group`, bars labelled by `label`."""
    groups = list(dict.fromkeys(table[group]))
    x, ticks, names = 0.0, [], []
    for g_name in groups:
        part = table[table[group] == g_name]
        positions = x + np.arange(len(part))
        ax.bar(positions, part[value], color=[plt.cm.tab10(i % 10) for i in range(len(part))], width=0.8)
        for position, text in zip(positions, part[label]):
            ax.text(position, 0, f" {text}", rotation=90, ha="center", va="bottom", fontsize=7, color="white")
        ticks.append(positions.mean())
        names.append(g_name)
        x = positions[-1] + 2 if len(positions) else x + 2
    ax.set_xticks(ticks, names)
    ax.set(title=title, ylabel=ylabel or value)
    return ax


def plot_latent_curvature(ax, table, value: str = "kappa_normal", title=None,
                          ylabel="normal curvature κₙ (1 / pixel distance)"):
    """One column per latent of a long table (columns latent, factor, kl, active and `value`, one row per code):
    the value at every code as dots, the median as a bar; latents ordered by KL, inactive ones in grey."""
    missing = {"latent", "factor", "kl", "active", value} - set(table.columns)
    if missing:
        raise ValueError(f"table lacks the columns {sorted(missing)}")
    latents = table.groupby("latent")[["kl", "factor", "active"]].first().sort_values("kl", ascending=False)
    for x, (latent, row) in enumerate(latents.iterrows()):
        values = table.loc[table.latent == latent, value].to_numpy(float)
        color = plt.cm.tab10(x % 10) if row.active else "0.6"
        ax.bar(x, np.nanmedian(values), width=0.7, color=color, alpha=0.35)
        ax.scatter(np.full(len(values), x) + np.linspace(-0.2, 0.2, len(values)), values, s=8, color=color)
    ax.set_xticks(range(len(latents)), [f"z{latent} {row.factor}" for latent, row in latents.iterrows()],
                  rotation=90, fontsize=7)
    ax.set(title=title, ylabel=ylabel, xlabel="latent (matched factor), by KL; grey: inactive")
    ax.set_ylim(bottom=0)
    return ax
