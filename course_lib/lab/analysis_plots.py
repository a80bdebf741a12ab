"""The figures of the analyses behind notebooks 02-07 (`course_lib.analysis`): the rate-distortion plane (02),
the order in which latents switch on (03), the TC estimators against the truth and covariance heatmaps
(05, 06), and the stages of Locatello et al.'s Theorem 1 (07). Each is titled and labelled."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from course_lib.analysis.factor_matching import kl_onset_steps, smoothed_kl_per_latent
from course_lib.analysis.impossibility import EntanglingMap
from course_lib.analysis.tc_analysis import TERMS


def factor_colors(factor_names) -> dict[str, tuple]:
    """A fixed colour per factor (matplotlib's tab10 in factor order)."""
    cmap = plt.get_cmap("tab10")
    return {name: cmap(k % 10) for k, name in enumerate(factor_names)}


def plot_rate_distortion(table: pd.DataFrame, label: str = "", reference_distortion: float | None = None, ax=None):
    """The rate-distortion plane (Alemi et al. 2018): distortion D across, rate R up, one labelled
    point per row of `table`; the dashed line through each point is its ELBO isoline R + D = -ELBO.
    `reference_distortion` (e.g. `constant_decoder_distortion`) adds the rate-0 point (D_0, 0)."""
    missing = [c for c in ("rate", "distortion") if c not in table.columns]
    if missing or len(table) == 0:
        raise ValueError(f"table needs rows and the columns rate and distortion; it has {list(table.columns)}")
    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=(6.5, 4.5), layout="constrained")
    distortion, rate = table["distortion"].to_numpy(float), table["rate"].to_numpy(float)
    all_d = np.append(distortion, [] if reference_distortion is None else [reference_distortion])
    all_r = np.append(rate, [] if reference_distortion is None else [0.0])
    span = max(np.ptp(all_d), np.ptp(all_r), 1.0)
    low_d, high_d = all_d.min() - 0.15 * span, all_d.max() + 0.15 * span
    for d, r in zip(distortion, rate):
        ax.plot([low_d, high_d], [r + d - low_d, r + d - high_d], "--", color="0.75", linewidth=1, zorder=1)
    ax.scatter(distortion, rate, s=50, zorder=3)
    for key, d, r in zip(table.index, distortion, rate):
        ax.annotate(f"{label}{key}", (d, r), textcoords="offset points", xytext=(6, 6))
    if reference_distortion is not None:
        ax.scatter([reference_distortion], [0.0], marker="x", s=60, color="tab:red", zorder=3,
                   label=f"$D_0$ = {reference_distortion:.0f}: rate 0, decoder ignoring z")
        ax.legend(loc="upper right", fontsize=9)
    ax.set(xlim=(low_d, high_d), ylim=(-0.05 * span, all_r.max() + 0.15 * span),
           xlabel="distortion D = E[-log p(x|z)] (nats)", ylabel="rate R = KL(q(z|x) || p(z)) (nats)",
           title="Rate-distortion plane (dashed: constant ELBO)")
    return fig


def plot_encoding_order(log, matches: pd.DataFrame, threshold: float, smooth: int = 1, capacity=None,
                        factor_names=None):
    """Left: smoothed KL per active latent over training, coloured by matched factor, onsets marked.
    Right: the onset step of each active latent, earliest first, labelled with its factor.

    `matches` is `match_latents_to_factors`'s table; `capacity`, a function step -> C(step), adds
    the capacity at each onset to the labels.
    """
    kl = smoothed_kl_per_latent(log, smooth)
    onsets = kl_onset_steps(log, threshold, smooth)
    if len(matches) != kl.shape[1]:
        raise ValueError(f"matches has {len(matches)} rows; the log has {kl.shape[1]} latents")
    colors = factor_colors(factor_names if factor_names is not None else sorted(set(matches["factor"])))
    active = [d for d in kl.columns if matches.loc[d, "active"]]
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 4.2), layout="constrained",
                                      gridspec_kw={"width_ratios": [3, 2]})
    for d in kl.columns:
        if d not in active:
            left.plot(kl.index, kl[d], color="0.8", linewidth=0.8)
    for d in active:
        color = colors[matches.loc[d, "factor"]]
        left.plot(kl.index, kl[d], color=color, linewidth=1.6, label=f"z{d}: {matches.loc[d, 'factor']}")
        if np.isfinite(onsets[d]):
            left.plot(onsets[d], kl.loc[int(onsets[d]), d], "o", color=color, markersize=7, markeredgecolor="k")
    left.axhline(threshold, color="0.4", linestyle=":", linewidth=1)
    left.set(xlabel="training step", ylabel="KL per latent (nats)",
             title=f"KL per latent (grey: inactive; dots: first ≥ {threshold:g} nats)")
    if active:
        left.legend(fontsize=8, ncol=2, loc="upper left")
    timed = onsets[active].dropna().sort_values()
    for row, (d, step) in enumerate(timed.items()):
        factor = matches.loc[d, "factor"]
        right.barh(row, kl.index.max() - step, left=step, color=colors[factor], alpha=0.35)
        right.plot(step, row, "o", color=colors[factor], markeredgecolor="k")
        at = f", C = {capacity(int(step)):.1f} nats" if capacity is not None else ""
        right.annotate(f" z{d} → {factor} (NMI {matches.loc[d, 'nmi']:.2f}{at})", (step, row), va="center",
                       fontsize=9)
    right.set(xlim=(kl.index.min(), kl.index.max()), ylim=(max(len(timed), 1) - 0.5, -0.5), yticks=[],
              xlabel="training step at which the latent switches on",
              title="Order of encoding" if len(timed) else "Order of encoding (no latent reached the threshold)")
    return fig


def plot_estimator_study(table: pd.DataFrame, exact: dict | None = None, terms=TERMS, title: str | None = None):
    """One panel per term: each estimator's mean ± std over batches against batch size (log axis);
    the exact value (from `exact_kl_decomposition`) as a dashed line. Returns the Figure."""
    fig, axes = plt.subplots(1, len(terms), figsize=(4.4 * len(terms), 3.6), squeeze=False, layout="constrained")
    for ax, term in zip(axes[0], terms):
        for k, (estimator, part) in enumerate(table[table["term"] == term].groupby("estimator", sort=False)):
            shift = 1.0 + 0.04 * (k - 0.5)  # side by side, so that the error bars do not hide each other
            ax.errorbar(part["batch_size"] * shift, part["mean"], yerr=part["std"], marker="o", capsize=3,
                        label=f"{estimator.upper()} (mean ± std)")
        if exact is not None:
            ax.axhline(exact[term], color="k", linestyle="--", label="exact")
        ax.set_xscale("log", base=2)
        ax.set(xlabel="batch size B", ylabel="nats", title=term.replace("_", " "))
    axes[0, 0].legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return fig


def plot_covariance_heatmaps(panels: dict, ncols: int = 2):
    """Covariance matrices as heatmaps on one symmetric colour scale (red > 0 > blue), one panel per
    {title: (D, D) matrix}. Returns the Figure."""
    if not panels:
        raise ValueError("panels is empty; pass {title: covariance matrix}")
    matrices = [np.asarray(m, np.float64) for m in panels.values()]
    if any(m.ndim != 2 or m.shape[0] != m.shape[1] for m in matrices):
        raise ValueError(f"every panel must be a square matrix; got shapes {[m.shape for m in matrices]}")
    limit = max(float(np.abs(m).max()) for m in matrices) or 1.0
    nrows = -(-len(matrices) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.4 * ncols, 4.1 * nrows), squeeze=False, layout="constrained")
    for ax in axes.flat[len(matrices):]:
        ax.axis("off")
    for ax, title, matrix in zip(axes.flat, panels, matrices):
        image = ax.imshow(matrix, cmap="RdBu_r", vmin=-limit, vmax=limit)
        ax.set(xlabel="latent j", ylabel="latent i", xticks=range(len(matrix)), yticks=range(len(matrix)))
        ax.set_title(title, fontsize=10)
    fig.colorbar(image, ax=axes, shrink=0.6, label="covariance")
    return fig


def plot_proof_stages(entangler: EntanglingMap, random_state, num_points: int = 2000, num_lines: int = 5):
    """Six panels for d = 2: z, g(z) (uniform square), h(g(z)) (Gaussian), A h g(z), back to the square, f(z).

    Points are coloured by their original first coordinate; the lines are images of the coordinate
    lines z_1 = const (solid) and z_2 = const (dashed) through the quantiles of each marginal, so one
    sees where the axes go: straight and axis-parallel until A, mixed after it.
    """
    if entangler.d != 2:
        raise ValueError(f"entangler has d={entangler.d}; the figure needs d = 2")
    z = entangler.sample(num_points, random_state)
    stages = entangler.stages(z)
    colour = np.argsort(np.argsort(z[:, 0])) / len(z)
    quantiles = np.linspace(0.1, 0.9, num_lines)
    grid = np.linspace(1e-3, 1 - 1e-3, 200)
    lines = []
    for k in (0, 1):  # coordinate k fixed at a quantile, the other sweeping its range
        for q in quantiles:
            points = np.empty((len(grid), 2))
            points[:, k] = entangler.marginals[k].ppf(q)
            points[:, 1 - k] = entangler.marginals[1 - k].ppf(grid)
            lines.append((k, entangler.stages(points)))
    titles = {"z": "z ~ p (factorised)", "uniform": "g(z): CDFs, uniform square", "gaussian": "h(g(z)): N(0, I)",
              "mixed": "A h(g(z)): still N(0, I)", "mixed_uniform": "h⁻¹(A h g(z)): uniform again",
              "f(z)": "f(z) = g⁻¹(...) ~ p"}
    fig, axes = plt.subplots(2, 3, figsize=(12, 7.5), layout="constrained")
    axes = axes.ravel()
    for ax, (key, title) in zip(axes, titles.items()):
        ax.scatter(*stages[key].T, c=colour, s=2, cmap="viridis", alpha=0.5, rasterized=True)
        for k, line in lines:
            ax.plot(*line[key].T, color="crimson" if k == 0 else "black", lw=0.9, ls="-" if k == 0 else "--")
        ax.set_title(title, fontsize=10)
        ax.set(xlabel="coordinate 1", ylabel="coordinate 2")
        ax.set_aspect("equal" if key in ("uniform", "gaussian", "mixed", "mixed_uniform") else "auto")
    for ax, key in zip(axes, titles):
        if key in ("gaussian", "mixed"):
            ax.set(xlim=(-3.5, 3.5), ylim=(-3.5, 3.5))
        elif key in ("uniform", "mixed_uniform"):
            ax.set(xlim=(0, 1), ylim=(0, 1))
    for ax, key in ((axes[0], "z"), (axes[-1], "f(z)")):
        low, high = np.quantile(stages["z"], [0.005, 0.995], axis=0)
        pad = 0.05 * (high - low)
        ax.set(xlim=(low[0] - pad[0], high[0] + pad[0]), ylim=(low[1] - pad[1], high[1] + pad[1]))
    return fig
