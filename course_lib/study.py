"""Analyses of a sweep's results table (`course_lib.sweep`), after Locatello et al. 2019's key results.

The table has a row per trained model: method, hyperparameter value, seed, every metric
("<metric>.<score>" columns) and the unsupervised scores (elbo, tc_mean, tc_sampled, ...).

  tc_by_regularisation   key result 1: TC of the mean vs the sampled representation per method and value
  rank_correlation       key result 2: Spearman correlation between metrics over all models
  variance_explained     key result 3: the share of a metric's variance explained by the objective
                         alone and by objective x hyperparameter (the remainder: random seeds)
  score_agreement        key result 4a: do unsupervised scores rank models as the metrics do?
  hyperparameter_transfer key result 4b: is the value that is best for one seed good for another?
(key result 5, downstream sample efficiency, is the `downstream` metric; `rank_correlation` relates
it to the others.)
"""
from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

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
