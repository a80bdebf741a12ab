"""Locatello et al. 2019's key results, computed from a sweep's results table (`course_lib.kit.sweep`).

The table has a row per trained model: method, hyperparameter value, seed, every metric
("<metric>.<score>" columns, `course_lib.metrics.scores`) and the unsupervised scores (elbo, tc_mean,
tc_sampled, ...). Every function reads only the table (and, for UDR, the models' posteriors).

  tc_by_regularisation    key result 1: TC of the mean vs the sampled representation per method and value
  tc_trend                key result 1 per method: from its weakest regularisation (the plain VAE where the
                          table has it) to its strongest value
  metric_correlation      key result 2: Spearman correlation between metrics over all models
  seed_spread             key result 3 per setting: how far a score moves over the seeds of one (method, value)
  setting_overlaps        key result 3 per pair of settings: does a seed of the worse one beat a seed of the better?
  age_change              scale: each setting's seeds at two training ages, paired by seed
  variance_explained      key result 3: the share of a metric's variance explained by the objective
                          alone and by objective x hyperparameter (the remainder: random seeds);
                          `variance_chance`, the share expected with no effect at all
  score_agreement         key result 4a: do unsupervised scores rank models as the metrics do?
  hyperparameter_transfer key result 4b: is the value that is best for one seed good for another?
  udr_by_group            UDR (Duan et al. 2020) of each model among the seeds of its (method, value)
  scale_results           the scale study's rows: beta-VAE against training steps and network width
(key result 5, downstream sample efficiency, is the `downstream` metric; `score_agreement` relates
it to the others.) Running the study is `course_lib.kit.study`; its figures, `course_lib.lab.study_plots`.
"""
from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from course_lib.metrics.scores import COLUMN_LABELS, DISENTANGLEMENT_COLUMNS, column_label, rank_correlation

GROUP = ("method", "value", "steps", "width")  # models that differ only by their seed
SCALE_METHOD = "beta_vae"


def ok_models(results: pd.DataFrame) -> pd.DataFrame:
    """The finished rows (status ok), with `value` filled for the plain VAE (no hyperparameter: 0)."""
    if "status" in results:
        results = results[results["status"] == "ok"]
    if results.empty:
        raise ValueError("results has no finished model (status ok)")
    return results.assign(value=results["value"].fillna(0))


def check_columns(results: pd.DataFrame, columns) -> list[str]:
    """`columns` (default: the six metrics present), each a column of `results`, or a ValueError naming the missing."""
    columns = list(columns) if columns is not None else [c for c in DISENTANGLEMENT_COLUMNS if c in results]
    missing = [c for c in columns if c not in results]
    if missing or not columns:
        raise ValueError(f"columns={columns!r} is not allowed: {missing or 'none'} not in the results table")
    return columns


def tc_by_regularisation(results: pd.DataFrame) -> pd.DataFrame:
    """Median over seeds of the Gaussian TC of the mean and of the sampled code, per (method, value)."""
    table = ok_models(results)
    return table.groupby(["method", "value"])[["tc_mean", "tc_sampled"]].median().reset_index()


def tc_trend(results: pd.DataFrame) -> pd.DataFrame:
    """Per regularised method, the median TCs of the mean and the sampled code at its weakest regularisation and at
    its largest value. The weakest is the plain VAE where the table has it (every objective of the study is the
    VAE with its weight switched off: beta = 1, gamma = lambda = 0), else the method's smallest value.

    Columns: method, start ('VAE' or the value), end (the largest value), and tc_mean / tc_sampled at each
    (suffixes _start, _end)."""
    medians = tc_by_regularisation(results)
    vae = medians[medians["method"] == "vae"]
    rows = []
    for method, group in medians[medians["method"] != "vae"].groupby("method", sort=False):
        start, end = (vae.iloc[0] if len(vae) else group.iloc[0]), group.iloc[-1]
        rows.append({"method": method, "start": "VAE" if len(vae) else f"{start['value']:g}", "end": end["value"],
                     **{f"{column}_{at}": row[column] for column in ("tc_mean", "tc_sampled")
                        for at, row in (("start", start), ("end", end))}})
    return pd.DataFrame(rows)


def metric_correlation(results: pd.DataFrame, columns=None) -> pd.DataFrame:
    """Spearman rank correlation between score columns (default: the six metrics) over all finished models,
    labelled as in `course_lib.metrics.scores`."""
    table = ok_models(results)
    columns = check_columns(table, columns)
    return rank_correlation(table[columns].rename(columns=COLUMN_LABELS))


def seed_spread(results: pd.DataFrame, column: str = "mig.score") -> pd.DataFrame:
    """Per (method, value), in the table's order: the number of seeds and the min, median, max and range
    (max - min) of `column` over them; a setting with one seed has range 0."""
    table = ok_models(results)
    check_columns(table, [column])
    groups = table.groupby(["method", "value"], sort=False)[column]
    spread = groups.agg(seeds="count", min="min", median="median", max="max")
    return spread.assign(range=spread["max"] - spread["min"])


def setting_overlaps(results: pd.DataFrame, column: str = "mig.score") -> pd.DataFrame:
    """Every pair of settings (method, value), the one with the higher median of `column` first: the gap between
    the medians and whether the pair overlaps, i.e. the lower setting's best seed beats the higher one's worst
    (max_lower > min_higher). Locatello et al. 2019 (Section 5.3): "a good run with a bad hyperparameter can
    beat a bad run with a good one"; an overlapping pair is one where it happened."""
    spread = seed_spread(results, column).sort_values("median", ascending=False)
    rows = [{"higher": higher, "lower": lower, "gap": spread.at[higher, "median"] - spread.at[lower, "median"],
             "overlap": bool(spread.at[lower, "max"] > spread.at[higher, "min"])}
            for higher, lower in itertools.combinations(spread.index, 2)]
    return pd.DataFrame(rows, columns=["higher", "lower", "gap", "overlap"])


AGE_CHANGE_COLUMNS = ["method", "value", "young", "old", "median_young", "median_old", "paired_seeds",
                      "median_change", "rose", "beyond_seed_range"]


def age_change(results: pd.DataFrame, column: str = "mig.score") -> pd.DataFrame:
    """Per (method, value) found at two or more ages (`steps`), sorted by both: the youngest and oldest age,
    the median of `column` at each, and over the seeds found at both ages, paired by seed, the median change
    (old - young) and how many seeds rose; `beyond_seed_range` says whether the medians moved by more than the
    young seeds' range (max - min), the seed's own effect at that age. Where a run grew from its younger self
    (`training.extend_younger_run`) one seed at two ages is one model, so its change is training's alone."""
    table = ok_models(results)
    check_columns(table, [column, "steps"])
    rows = []
    for (method, value), runs in table.groupby(["method", "value"]):
        ages = sorted(runs["steps"].unique())
        if len(ages) < 2:
            continue
        young, old = (runs[runs["steps"] == age].set_index("seed")[column] for age in (ages[0], ages[-1]))
        change = (old - young).dropna()  # aligned on the seed: only the seeds trained to both ages
        rows.append({"method": method, "value": value, "young": ages[0], "old": ages[-1],
                     "median_young": young.median(), "median_old": old.median(), "paired_seeds": len(change),
                     "median_change": change.median(), "rose": int((change > 0).sum()),
                     "beyond_seed_range": bool(abs(old.median() - young.median()) > young.max() - young.min())})
    return pd.DataFrame(rows, columns=AGE_CHANGE_COLUMNS)


def variance_explained(results: pd.DataFrame, columns=None) -> pd.DataFrame:
    """Per score: eta^2 of the objective (SS between methods / SS total) and of objective x value.

    eta^2 = sum_g n_g (mean_g - mean)^2 / sum_i (x_i - mean)^2 for the groups g; what objective x
    value leaves unexplained is the spread over random seeds (Locatello et al.'s Table 1 in spirit).
    """
    table = ok_models(results)
    rows = {}
    for column in check_columns(table, columns):
        values = table[column].astype(float)
        total = ((values - values.mean()) ** 2).sum()
        shares = {}
        for name, keys in (("objective", ["method"]), ("objective x hyperparameter", ["method", "value"])):
            means = table.groupby(keys)[column].transform("mean")
            shares[name] = float(((means - values.mean()) ** 2).sum() / total) if total > 0 else float("nan")
        rows[column_label(column)] = shares
    return pd.DataFrame(rows).T


def score_agreement(results: pd.DataFrame, unsupervised=("elbo", "tc_sampled"), supervised=None) -> pd.DataFrame:
    """Spearman correlation of each unsupervised score (rows) with each metric (columns) over the models."""
    table = ok_models(results)
    unsupervised, supervised = check_columns(table, unsupervised), check_columns(table, supervised)
    correlation = table[unsupervised + supervised].corr("spearman")
    return correlation.loc[unsupervised, supervised].rename(columns=COLUMN_LABELS)


def hyperparameter_transfer(results: pd.DataFrame, column: str) -> pd.DataFrame:
    """Per method: pick the best value on one seed, score it on another (all ordered seed pairs).

    Columns: `agreement` (how often the two seeds' best values coincide), `regret` (mean of
    best-on-target - chosen-on-target) and `random_regret` (the same for a value picked at random).
    """
    table = ok_models(results)
    check_columns(table, [column])
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


def variance_chance(results: pd.DataFrame) -> dict[str, float]:
    """The eta^2 that `variance_explained` expects with no effect at all: (G - 1) / (N - 1) for G groups of N models.

    With few seeds per group it is large (18 models in 9 groups: 0.47): compare shares with it.
    """
    table = ok_models(results)
    n = len(table)
    return {name: (table.groupby(keys).ngroups - 1) / (n - 1) if n > 1 else float("nan")
            for name, keys in (("objective", ["method"]), ("objective x hyperparameter", ["method", "value"]))}


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
