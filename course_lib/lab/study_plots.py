"""The figures of notebook 13's study (Locatello et al. 2019's key results in miniature), each labelled with
the score vocabulary of `course_lib.metrics.scores`; the numbers come from `course_lib.analysis.sweep_results`."""
from __future__ import annotations

import numpy as np
import pandas as pd

from course_lib.analysis.sweep_results import age_change, check_columns, ok_models, tc_by_regularisation
from course_lib.checks import check_choice
from course_lib.metrics.scores import column_label


def hyperparameter_names(table: pd.DataFrame) -> dict:
    return {m: (h if isinstance(h, str) else "")
            for m, h in table.groupby("method")["hyperparameter"].first().items()} \
        if "hyperparameter" in table else {}


def plot_tc_by_regularisation(results: pd.DataFrame):
    """Gaussian TC of the mean and the sampled code against the hyperparameter, a panel per regularised method
    (dots: seeds; lines: medians); where the table has the plain VAE, its medians are dashed lines on every panel
    (each objective's weight switched off). Returns the Figure."""
    import matplotlib.pyplot as plt

    table = ok_models(results)
    medians = tc_by_regularisation(table)
    names = hyperparameter_names(table)
    vae = medians[medians["method"] == "vae"]
    methods = [m for m in dict.fromkeys(table["method"]) if m != "vae"] or ["vae"]
    fig, axes = plt.subplots(1, len(methods), figsize=(4.2 * len(methods), 3.6), squeeze=False, layout="constrained")
    for ax, method in zip(axes[0], methods):
        rows, median = table[table["method"] == method], medians[medians["method"] == method]
        for column, colour, label in (("tc_mean", "C3", "mean code (the representation)"),
                                      ("tc_sampled", "C0", "sampled code")):
            ax.scatter(rows["value"], rows[column], color=colour, s=14, alpha=0.6)
            ax.plot(median["value"], median[column], color=colour, marker="o", label=label)
            if method != "vae" and len(vae):
                ax.axhline(vae[column].iloc[0], color=colour, linestyle="--", linewidth=1,
                           label=f"plain VAE, {label.split(' (')[0]}")
        if (rows["value"] > 0).all() and rows["value"].nunique() > 1:
            ax.set_xscale("log")
        ax.set_xticks(sorted(rows["value"].unique()), [f"{v:g}" for v in sorted(rows["value"].unique())])
        ax.set(title=method, xlabel=names.get(method) or "hyperparameter", ylabel="Gaussian TC (nats)")
    axes[0, 0].legend(fontsize=8)
    fig.suptitle("Key result 1: total correlation against regularisation strength (dots: seeds, lines: medians)")
    return fig


def plot_variance_explained(shares: pd.DataFrame, chance: dict | None = None, ax=None):
    """Stacked bars per score: objective, + hyperparameter, remainder (seeds); optional chance levels."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(7.5, 0.45 * len(shares) + 1.8), layout="constrained")
    objective = shares["objective"].to_numpy(float)
    both = shares["objective x hyperparameter"].to_numpy(float)
    labels = list(shares.index)
    ax.barh(labels, objective, color="C0", label="objective")
    ax.barh(labels, both - objective, left=objective, color="C1", label="+ hyperparameter")
    ax.barh(labels, 1 - both, left=both, color="0.85", label="seeds (the rest)")
    if chance:
        for key, style in (("objective", ":"), ("objective x hyperparameter", "--")):
            ax.axvline(chance[key], color="k", linestyle=style, linewidth=1, label=f"chance: {key}")
    ax.invert_yaxis()
    ax.set(xlim=(0, 1), xlabel="share of the score's variance over models (η²)",
           title="Key result 3: what explains a score? objective, hyperparameter, seed")
    ax.legend(fontsize=7, loc="lower right")
    return ax


def plot_scores_against(results: pd.DataFrame, x_columns, y_column: str, hue: str = "method"):
    """Scatter of `y_column` against each of `x_columns` over the finished models, coloured by `hue`;
    each panel's title gives the Spearman rank correlation. Returns the Figure."""
    import matplotlib.pyplot as plt

    table = ok_models(results)
    x_columns = check_columns(table, x_columns)
    (y_column,) = check_columns(table, [y_column])
    fig, axes = plt.subplots(1, len(x_columns), figsize=(3.6 * len(x_columns), 3.4), squeeze=False,
                             layout="constrained")
    for ax, column in zip(axes[0], x_columns):
        for index, (name, rows) in enumerate(table.groupby(hue, sort=True)):
            ax.scatter(rows[column], rows[y_column], s=18, color=f"C{index}", label=str(name), alpha=0.8)
        rho = table[[column, y_column]].corr("spearman").iloc[0, 1]
        ax.set(xlabel=column_label(column), ylabel=column_label(y_column), title=f"Spearman ρ = {rho:.2f}")
    axes[0, 0].legend(fontsize=7)
    return fig


def plot_scale(table: pd.DataFrame, x: str, columns, fixed: dict | None = None):
    """Scores against `x` ("steps" or "width") over the rows matching `fixed` (e.g. {"width": 1}); a panel
    per column, dots per seed, the median as a line. Returns the Figure."""
    import matplotlib.pyplot as plt

    check_choice("x", x, ("steps", "width"))
    rows = ok_models(table)
    for key, value in (fixed or {}).items():
        rows = rows[rows[key] == value]
    columns = check_columns(rows, columns)
    if rows.empty:
        raise ValueError(f"no finished model matches {fixed!r}")
    fig, axes = plt.subplots(1, len(columns), figsize=(3.2 * len(columns), 3.2), squeeze=False, layout="constrained")
    median = rows.groupby(x)[columns].median()
    for ax, column in zip(axes[0], columns):
        ax.scatter(rows[x], rows[column], s=16, color="0.5", label="a seed")
        ax.plot(median.index, median[column], marker="o", color="C0", label="median")
        ax.set_xscale("log", base=2 if x == "width" else 10)
        ax.set_xticks(median.index, [f"{v:,g}" for v in median.index])
        ax.minorticks_off()
        ax.set(xlabel="training steps" if x == "steps" else "width multiplier", title=column_label(column))
    axes[0, 0].legend(fontsize=7)
    return fig


def _age_labels(ages: list, same_ages_everywhere: bool) -> list[str]:
    """The legend's name of each age of a setting: its step count where every setting has the same ages, else its
    rank (younger / older; youngest, age 2, ..., oldest)."""
    if same_ages_everywhere:
        return [f"{age:,} steps" for age in ages]
    if len(ages) == 2:
        return ["younger", "older"]
    return ["youngest", *(f"age {rank}" for rank in range(2, len(ages))), "oldest"]


def plot_ages(results: pd.DataFrame, column: str = "mig.score"):
    """`column` of every setting (method, value) found at two or more ages (`age_change`), its ages from left to
    right: a dot per seed, a grey line through one seed's ages (one model trained on), a bar per median. Returns
    the Figure."""
    import matplotlib.pyplot as plt

    changes = age_change(results, column)
    if changes.empty:
        raise ValueError("results holds no setting at two ages (its `steps` column): nothing to compare")
    table = ok_models(results)
    settings = [table[(table["method"] == row.method) & (table["value"] == row.value)] for row in changes.itertuples()]
    ages_of = [sorted(setting["steps"].unique()) for setting in settings]
    same_ages_everywhere = len({tuple(ages) for ages in ages_of}) == 1
    fig, ax = plt.subplots(figsize=(max(6.0, 0.9 * len(changes) + 2), 4.2), layout="constrained")
    for position, (setting, ages) in enumerate(zip(settings, ages_of)):
        offsets = position + np.linspace(-1, 1, len(ages)) * min(0.1 * len(ages), 0.35)
        by_seed = setting.pivot(index="seed", columns="steps", values=column)[ages]
        for _, scores in by_seed.iterrows():
            known = scores.notna().to_numpy()
            if known.sum() > 1:
                ax.plot(offsets[known], scores[known], color="0.7", linewidth=1, zorder=1)
        for rank, (offset, age, name) in enumerate(zip(offsets, ages, _age_labels(ages, same_ages_everywhere))):
            ax.scatter(np.full(len(by_seed), offset), by_seed[age], s=18, color=f"C{rank}",
                       label=None if position else name)
            ax.plot([offset - 0.12, offset + 0.12], [by_seed[age].median()] * 2, color=f"C{rank}", linewidth=3)
    ax.set_xticks(range(len(changes)), [f"{m}\n{v:g}" for m, v in zip(changes["method"], changes["value"])],
                  fontsize=9)
    ax.set(ylabel=column_label(column),
           title=f"{column_label(column)} at each training age\n"
                 f"(dots: seeds; lines: one seed trained on; bars: medians)")
    ax.legend(fontsize=8)
    return fig


def plot_by_method(results: pd.DataFrame, columns):
    """Each score per (method, value): a dot per seed, so the spread over seeds sits beside the
    differences between hyperparameters and objectives (Locatello et al.'s Figures 3 and 4 in miniature)."""
    import matplotlib.pyplot as plt

    table = ok_models(results).sort_values(["method", "value", "seed"])
    columns = check_columns(table, columns)
    groups = list(table.groupby(["method", "value"], sort=False))
    fig, axes = plt.subplots(len(columns), 1, figsize=(max(6.0, 0.55 * len(groups) + 2), 2.2 * len(columns)),
                             squeeze=False, sharex=True, layout="constrained")
    methods = list(dict.fromkeys(table["method"]))
    for ax, column in zip(axes[:, 0], columns):
        for position, ((method, value), rows) in enumerate(groups):
            colour = f"C{methods.index(method)}"
            ax.scatter(np.full(len(rows), position), rows[column], s=18, color=colour, alpha=0.8)
            ax.plot([position - 0.3, position + 0.3], [rows[column].median()] * 2, color=colour)
        ax.set_ylabel(column_label(column))
    axes[-1, 0].set_xticks(range(len(groups)), [f"{m}\n{v:g}" for (m, v), _ in groups], rotation=90, fontsize=8)
    axes[0, 0].set_title("Each model's score by objective and hyperparameter value (dots: seeds; bars: medians)")
    return fig
