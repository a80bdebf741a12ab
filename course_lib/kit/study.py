"""Analyses of a sweep's results table (`course_lib.kit.sweep`), after Locatello et al. 2019's key results.

The table has a row per trained model: method, hyperparameter value, seed, every metric
("<metric>.<score>" columns) and the unsupervised scores (elbo, tc_mean, tc_sampled, ...).

  tc_by_regularisation   key result 1: TC of the mean vs the sampled representation per method and value
  rank_correlation       key result 2: Spearman correlation between metrics over all models
  variance_explained     key result 3: the share of a metric's variance explained by the objective
                         alone and by objective x hyperparameter (the remainder: random seeds)
  score_agreement        key result 4a: do unsupervised scores rank models as the metrics do?
  hyperparameter_transfer key result 4b: is the value that is best for one seed good for another?
(key result 5, downstream sample efficiency, is the `downstream` metric; `score_agreement` relates
it to the others.)

Notebook 13 runs the study itself:
  study_plan / run_study  what each profile trains (the main sweep + beta-VAE's scale sweeps), on one Dask cluster
  add_udr, udr_by_group    UDR (Duan et al. 2020) of each model among the seeds of its (method, value)
  scale_results            the scale study's rows: beta-VAE against training steps and network width
  plot_*                   the notebook's figures, labelled
"""
from __future__ import annotations

import dataclasses
import itertools
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from course_lib.checks import check_choice, check_int
from course_lib.kit.sweep import Sweep
from course_lib.metrics import ALL_METRICS
from course_lib.objectives import STUDY_SWEEPS
from course_lib.seeding import as_random_state, check_seed

DISENTANGLEMENT_COLUMNS = {"beta_vae.eval_accuracy": "BetaVAE", "factor_vae.eval_accuracy": "FactorVAE",
                           "mig.score": "MIG", "sap.score": "SAP", "dci.disentanglement": "DCI",
                           "modularity.modularity": "Modularity"}


def ok_models(results: pd.DataFrame) -> pd.DataFrame:
    """The finished rows (status ok), with `value` filled for the plain VAE (no hyperparameter: 0)."""
    if "status" in results:
        results = results[results["status"] == "ok"]
    if results.empty:
        raise ValueError("results has no finished model (status ok)")
    return results.assign(value=results["value"].fillna(0))


def _columns(results: pd.DataFrame, columns) -> list[str]:
    columns = list(columns) if columns is not None else [c for c in DISENTANGLEMENT_COLUMNS if c in results]
    missing = [c for c in columns if c not in results]
    if missing or not columns:
        raise ValueError(f"columns={columns!r} is not allowed: {missing or 'none'} not in the results table")
    return columns


def tc_by_regularisation(results: pd.DataFrame) -> pd.DataFrame:
    """Median over seeds of the Gaussian TC of the mean and of the sampled code, per (method, value)."""
    table = ok_models(results)
    return table.groupby(["method", "value"])[["tc_mean", "tc_sampled"]].median().reset_index()


def rank_correlation(results: pd.DataFrame, columns=None) -> pd.DataFrame:
    """Spearman rank correlation between score columns over all finished models."""
    table = ok_models(results)
    columns = _columns(table, columns)
    return table[columns].rename(columns=DISENTANGLEMENT_COLUMNS).corr("spearman")


def variance_explained(results: pd.DataFrame, columns=None) -> pd.DataFrame:
    """Per score: eta^2 of the objective (SS between methods / SS total) and of objective x value.

    eta^2 = sum_g n_g (mean_g - mean)^2 / sum_i (x_i - mean)^2 for the groups g; what objective x
    value leaves unexplained is the spread over random seeds (Locatello et al.'s Table 1 in spirit).
    """
    table = ok_models(results)
    rows = {}
    for column in _columns(table, columns):
        values = table[column].astype(float)
        total = ((values - values.mean()) ** 2).sum()
        shares = {}
        for name, keys in (("objective", ["method"]), ("objective x hyperparameter", ["method", "value"])):
            means = table.groupby(keys)[column].transform("mean")
            shares[name] = float(((means - values.mean()) ** 2).sum() / total) if total > 0 else float("nan")
        rows[DISENTANGLEMENT_COLUMNS.get(column, column)] = shares
    return pd.DataFrame(rows).T


def score_agreement(results: pd.DataFrame, unsupervised=("elbo", "tc_sampled"), supervised=None) -> pd.DataFrame:
    """Spearman correlation of each unsupervised score (rows) with each metric (columns) over the models."""
    table = ok_models(results)
    unsupervised, supervised = _columns(table, unsupervised), _columns(table, supervised)
    correlation = table[unsupervised + supervised].corr("spearman")
    return correlation.loc[unsupervised, supervised].rename(columns=DISENTANGLEMENT_COLUMNS)


def hyperparameter_transfer(results: pd.DataFrame, column: str) -> pd.DataFrame:
    """Per method: pick the best value on one seed, score it on another (all ordered seed pairs).

    Columns: `agreement` (how often the two seeds' best values coincide), `regret` (mean of
    best-on-target - chosen-on-target) and `random_regret` (the same for a value picked at random).
    """
    table = ok_models(results)
    _columns(table, [column])
    rows = {}
    for method, group in table.groupby("method"):
        scores = group.pivot_table(index="value", columns="seed", values=column, aggfunc="mean")
        if scores.shape[0] < 2 or scores.shape[1] < 2:
            continue  # one value or one seed: nothing to transfer
        pairs = list(itertools.permutations(scores.columns, 2))
        chosen = [scores[source].idxmax() for source, _ in pairs]
        regret = [scores[target].max() - scores.loc[value, target] for value, (_, target) in zip(chosen, pairs)]
        random_regret = [scores[target].max() - scores[target].mean() for _, target in pairs]
        agreement = [value == scores[target].idxmax() for value, (_, target) in zip(chosen, pairs)]
        rows[method] = {"agreement": float(np.mean(agreement)), "regret": float(np.mean(regret)),
                        "random_regret": float(np.mean(random_regret)), "num_seed_pairs": len(pairs)}
    return pd.DataFrame(rows).T


# ---------------------------------------------------------------------------------------------------------------
# The study of notebook 13: what to train at each profile, running it on Dask, UDR over seeds, scale, figures.

# Column labels for tables and figures (metrics keep DISENTANGLEMENT_COLUMNS' names).
UNSUPERVISED_LABELS = {"elbo": "ELBO", "rate": "rate", "distortion": "distortion", "num_active": "active latents",
                       "tc_mean": "TC (mean)", "tc_sampled": "TC (sampled)", "udr": "UDR"}
PREDICTOR_LABELS = {"logistic_regression": "LR", "boosted_trees": "GBT"}
GROUP = ("method", "value", "steps", "width")  # models that differ only by their seed


def column_label(column: str) -> str:
    """A short label: 'mig.score' -> 'MIG', 'downstream.boosted_trees_100' -> 'GBT acc. (100)', 'elbo' -> 'ELBO'."""
    if column in DISENTANGLEMENT_COLUMNS:
        return DISENTANGLEMENT_COLUMNS[column]
    if column in UNSUPERVISED_LABELS:
        return UNSUPERVISED_LABELS[column]
    if column.startswith("downstream."):
        predictor, _, size = column.removeprefix("downstream.").rpartition("_")
        name = PREDICTOR_LABELS.get(predictor, predictor)
        return f"{name} efficiency" if size == "efficiency" else f"{name} acc. ({int(size):,})"
    return column


def downstream_columns(results: pd.DataFrame) -> list[str]:
    """The downstream columns of a table: per predictor, accuracy at each training size (ascending), then efficiency."""
    found = [c for c in results.columns if c.startswith("downstream.")]

    def key(column):
        predictor, _, size = column.removeprefix("downstream.").rpartition("_")
        return (predictor not in PREDICTOR_LABELS, predictor, size == "efficiency", int(size) if size.isdigit() else 0)

    return sorted(found, key=key)


def spread_values(method: str, num: int) -> tuple:
    """`num` of the study's six values of `method`'s hyperparameter, evenly spread, both ends included."""
    check_choice("method", method, STUDY_SWEEPS)
    values = STUDY_SWEEPS[method][1]
    num = check_int("num", num, 1, len(values))
    if num == 1:
        return (values[len(values) // 2],)
    return tuple(values[int(i)] for i in np.round(np.linspace(0, len(values) - 1, num)))


@dataclasses.dataclass(frozen=True)
class StudyDesign:
    """What a profile's study covers; the sizes that scale with the profile come from `Profile`."""

    methods: tuple  # the objectives of the main sweep
    num_seeds: int  # seeds per (method, value): Duan et al.'s UDR compares these models
    steps_divisor: int  # main sweep steps = profile.train_steps // steps_divisor
    metrics: tuple
    num_train: int  # draws per metric (and the larger downstream training size)
    num_test: int
    widths: tuple  # conv VAE widths of the scale study (1 = the study's network)
    udr_points: int  # shared observations on which UDR compares models (the study: 1,000)
    scale_seeds: int  # seeds per point of the scale study (its longest width-1 point has the main sweep's)


CHEAP_METRICS = ("mig", "sap", "dci", "modularity", "downstream")  # none encodes the whole 737,280-image grid
DESIGNS = {
    # CI: proves every cell runs (11 jobs of <= 20 steps); the numbers mean nothing. DCI is left out: its
    # boosted trees (one multi-class ensemble per factor) are the slowest part of a tiny job.
    "smoke": StudyDesign(("beta_vae", "dip_vae_i"), 2, 1, ("mig", "sap", "modularity", "downstream"), 200, 100,
                         (1, 2), 200, 1),
    # 2-core CPU: 18 + 6 models of 1,000 steps or fewer; the BetaVAE and FactorVAE scores (which encode all
    # 737,280 images, ~2.5 min per model) are left out, and the metrics use half the study's draws.
    "lecture": StudyDesign(("beta_vae", "beta_tcvae", "dip_vae_i"), 2, 2, CHEAP_METRICS, 5_000, 2_500, (1, 2),
                           1_000, 2),
    # The paper's design on dSprites (six objectives x six values, 300,000 steps, every metric at its sizes),
    # with 5 seeds where the paper had 50: for GPUs or a cluster (`scheduler`).
    "full": StudyDesign(tuple(STUDY_SWEEPS), 5, 1, ALL_METRICS, 10_000, 5_000, (1, 2, 4), 1_000, 5),
}
SCALE_METHOD = "beta_vae"


@dataclasses.dataclass(frozen=True)
class StudyPlan:
    """The main sweep (analyses 1-5) and the extra beta-VAE sweeps of the scale study (analysis 6).

    The scale study trains beta-VAE at `scale_value` (one of the main sweep's betas) for steps/4 and
    steps/2 at width 1 and, at steps/2, at the other widths; its longest width-1 run is the main
    sweep's. Every sweep writes under `out`, so a rerun skips finished jobs.
    """

    sweep: Sweep
    scale_sweeps: tuple
    scale_value: float
    udr_points: int


def study_plan(profile, out, device: str = "auto", first_seed: int = 0) -> StudyPlan:
    """The plan for a `course_lib.profiles.Profile`: values from `num_sweep_values`, steps from `train_steps`."""
    if getattr(profile, "name", None) not in DESIGNS:
        raise ValueError(f"profile={profile!r} is not allowed; pass a Profile named one of {tuple(DESIGNS)}")
    design = DESIGNS[profile.name]
    first_seed = check_seed(first_seed)
    seeds = tuple(check_seed(first_seed + i) for i in range(design.num_seeds))
    steps = max(4, profile.train_steps // design.steps_divisor)
    values = {method: list(spread_values(method, profile.num_sweep_values)) for method in design.methods
              if method in STUDY_SWEEPS}
    out = Path(out)
    common = dict(metrics=design.metrics, num_train=design.num_train, num_test=design.num_test, device=str(device))
    sweep = Sweep(methods=design.methods, values=values, seeds=seeds, steps=steps, out=str(out), **common)
    scale_value = values[SCALE_METHOD][len(values[SCALE_METHOD]) // 2]
    points = [(steps // 4, 1), (steps // 2, 1)] + [(steps // 2, width) for width in design.widths if width != 1]
    scale_sweeps = tuple(Sweep(methods=(SCALE_METHOD,), values=[scale_value], seeds=seeds[:design.scale_seeds],
                               steps=s, width=w,
                               out=str(out / f"scale-steps{s}-x{w}"), **common) for s, w in points)
    return StudyPlan(sweep, scale_sweeps, scale_value, design.udr_points)


def run_study(plan: StudyPlan, scheduler: str | None = None, workers: int | None = None, processes: bool = True,
              progress: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(main results, scale results): every sweep of `plan` through `run_sweep` on one Dask cluster.

    `scheduler`: a running scheduler's address; None starts one LocalCluster of `workers` single-threaded
    workers (default: one per core, or per GPU) for all sweeps, so workers start (and import torch) once.
    The sweeps are submitted together (one thread each), so no worker idles while another sweep finishes;
    only the main sweep shows a progress bar.
    """
    from concurrent.futures import ThreadPoolExecutor

    from distributed import LocalCluster

    from course_lib.kit.sweep import default_workers, run_sweep

    sweeps = (plan.sweep, *plan.scale_sweeps)
    for sweep in sweeps:
        sweep.configs()  # every sweep is valid before anything starts
    cluster = None
    if scheduler is None:
        workers = workers or default_workers(plan.sweep.device)
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=processes,
                               dashboard_address=":0")  # any free port: no clash with a running cluster
        scheduler = cluster.scheduler_address
    try:
        with ThreadPoolExecutor(max_workers=len(sweeps)) as pool:
            tables = list(pool.map(lambda item: run_sweep(item[1], scheduler=scheduler, progress=progress and item[0] == 0),
                                   enumerate(sweeps)))
    finally:
        if cluster is not None:
            nanny = logging.getLogger("distributed.nanny")
            level = nanny.level
            nanny.setLevel(logging.ERROR)  # "worker process still alive after 4 s, killing": a slow exit, not an error
            try:
                cluster.close()
            finally:
                nanny.setLevel(level)
    return tables[0], scale_results(tables[0], tables[1:], plan.scale_value)


def scale_results(main: pd.DataFrame, scale_tables, value, method: str = SCALE_METHOD) -> pd.DataFrame:
    """The scale study's rows: the main sweep's `method` runs at `value`, and the scale sweeps' rows."""
    rows = main[(main["method"] == method) & (main["value"] == value)]
    table = pd.concat([rows, *scale_tables], ignore_index=True)
    return table.sort_values(["width", "steps", "seed"]).reset_index(drop=True)


def udr_by_group(results: pd.DataFrame, posteriors: dict, group=GROUP, **udr_kwargs) -> pd.Series:
    """UDR of every finished model among the models of its group (same objective, hyperparameter, steps
    and width; only the seed differs), as Duan et al. 2020 compare them. NaN for a group of one.

    `posteriors` maps a row's `run_dir` to (means, log_vars) on observations shared by all models;
    `udr_kwargs` go to `course_lib.metrics.udr.udr` (correlation, kl_threshold, random_state).
    """
    from course_lib.metrics.udr import udr

    scores = pd.Series(np.nan, index=results.index, name="udr")
    table = ok_models(results)
    keys = [key for key in group if key in table]
    for _, members in table.groupby(keys, dropna=False):
        if len(members) < 2:
            continue
        missing = [d for d in members["run_dir"] if d not in posteriors]
        if missing:
            raise ValueError(f"posteriors has no entry for run_dir {missing[0]!r}")
        pairs = [posteriors[d] for d in members["run_dir"]]
        model_scores = udr([m for m, _ in pairs], [v for _, v in pairs], **udr_kwargs)["model_scores"]
        scores.loc[members.index] = model_scores
    return scores


def add_udr(results: pd.DataFrame, num_points: int = 1_000, random_state=0, device="auto", dataset=None,
            group=GROUP, **udr_kwargs) -> pd.DataFrame:
    """`results` with a `udr` column: every finished run loaded (weights only) and encoded on the same
    `num_points` draws of `dataset` (default: binary dSprites), then `udr_by_group`."""
    from course_lib.data import DSprites
    from course_lib.representation import encode
    from course_lib.training import load_run

    num_points = check_int("num_points", num_points, 2)
    dataset = dataset if dataset is not None else DSprites("binary", progress=False)
    _, observations = dataset.sample(num_points, as_random_state(random_state))
    posteriors = {run_dir: encode(load_run(run_dir, device).model, observations)
                  for run_dir in ok_models(results)["run_dir"]}
    udr_kwargs.setdefault("random_state", random_state)
    return results.assign(udr=udr_by_group(results, posteriors, group, **udr_kwargs))


def variance_chance(results: pd.DataFrame) -> dict[str, float]:
    """The eta^2 that `variance_explained` expects with no effect at all: (G - 1) / (N - 1) for G groups of N models.

    With few seeds per group it is large (18 models in 9 groups: 0.47): compare shares with it.
    """
    table = ok_models(results)
    n = len(table)
    return {name: (table.groupby(keys).ngroups - 1) / (n - 1) if n > 1 else float("nan")
            for name, keys in (("objective", ["method"]), ("objective x hyperparameter", ["method", "value"]))}


def _hyperparameter_names(table: pd.DataFrame) -> dict:
    return {m: (h if isinstance(h, str) else "") for m, h in table.groupby("method")["hyperparameter"].first().items()} \
        if "hyperparameter" in table else {}


def plot_tc_by_regularisation(results: pd.DataFrame):
    """Gaussian TC of the mean and the sampled code against the hyperparameter, a panel per method
    (dots: seeds; lines: medians). Returns the Figure."""
    import matplotlib.pyplot as plt

    table = ok_models(results)
    medians = tc_by_regularisation(table)
    names = _hyperparameter_names(table)
    methods = list(dict.fromkeys(table["method"]))
    fig, axes = plt.subplots(1, len(methods), figsize=(4.2 * len(methods), 3.6), squeeze=False, layout="constrained")
    for ax, method in zip(axes[0], methods):
        rows, median = table[table["method"] == method], medians[medians["method"] == method]
        for column, colour, label in (("tc_mean", "C3", "mean code (the representation)"),
                                      ("tc_sampled", "C0", "sampled code")):
            ax.scatter(rows["value"], rows[column], color=colour, s=14, alpha=0.6)
            ax.plot(median["value"], median[column], color=colour, marker="o", label=label)
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
    x_columns = _columns(table, x_columns)
    (y_column,) = _columns(table, [y_column])
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
    columns = _columns(rows, columns)
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


def plot_by_method(results: pd.DataFrame, columns):
    """Each score per (method, value): a dot per seed, so the spread over seeds sits beside the
    differences between hyperparameters and objectives (Locatello et al.'s Figures 3 and 4 in miniature)."""
    import matplotlib.pyplot as plt

    table = ok_models(results).sort_values(["method", "value", "seed"])
    columns = _columns(table, columns)
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
