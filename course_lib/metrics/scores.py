"""One vocabulary for the scores: how `evaluate`'s (metric, score) pairs are named in tables and figures.

A score has three names: its pair in `evaluate`'s long table, ("dci", "disentanglement"); its column in a
sweep's results table, "dci.disentanglement" (`score_column`); and its label in tables and figures,
"DCI D" (`SCORES`, `column_label`). The first six labels are the study's six disentanglement scores
(Locatello et al. 2019, Figure 2), then DCI's other two and Modularity's explicitness (informativeness,
not disentanglement). `rank_correlation` is the one Spearman correlation between scores that the
notebooks and the study use.
"""
from __future__ import annotations

import pandas as pd

SCORES = {
    ("beta_vae", "eval_accuracy"): "BetaVAE",
    ("factor_vae", "eval_accuracy"): "FactorVAE",
    ("mig", "score"): "MIG",
    ("sap", "score"): "SAP",
    ("dci", "disentanglement"): "DCI D",
    ("modularity", "modularity"): "Modularity",
    ("dci", "completeness"): "DCI C",
    ("dci", "informativeness_test"): "DCI I",
    ("modularity", "explicitness_test"): "Explicitness",
}
DISENTANGLEMENT_SCORES = ("BetaVAE", "FactorVAE", "MIG", "SAP", "DCI D", "Modularity")
UNSUPERVISED_LABELS = {"elbo": "ELBO", "rate": "rate", "distortion": "distortion", "num_active": "active latents",
                       "tc_mean": "TC (mean)", "tc_sampled": "TC (sampled)", "udr": "UDR"}
PREDICTOR_LABELS = {"logistic_regression": "LR", "boosted_trees": "GBT"}


def score_column(metric: str, score: str) -> str:
    """The results table's column of a score: ("mig", "score") -> "mig.score"."""
    return f"{metric}.{score}"


COLUMN_LABELS = {score_column(*pair): label for pair, label in SCORES.items()}
DISENTANGLEMENT_COLUMNS = {column: label for column, label in COLUMN_LABELS.items() if label in DISENTANGLEMENT_SCORES}


def column_label(column: str) -> str:
    """A short label: 'mig.score' -> 'MIG', 'downstream.boosted_trees_100' -> 'GBT acc. (100)', 'elbo' -> 'ELBO'."""
    if column in COLUMN_LABELS:
        return COLUMN_LABELS[column]
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


def wide_scores(long_table: pd.DataFrame) -> pd.Series:
    """One row of a wide table (the labels of `SCORES`, in their order) from `evaluate`'s long table."""
    values = {SCORES[key]: value for key, value in zip(zip(long_table["metric"], long_table["score"]),
                                                         long_table["value"]) if key in SCORES}
    return pd.Series(values, dtype=float)[[c for c in SCORES.values() if c in values]]


def rank_correlation(table: pd.DataFrame, columns=None) -> pd.DataFrame:
    """Spearman rank correlation between the columns of a (representation x score) table; `columns` absent from
    the table are left out. A score that is the same for every representation has no ranking: its row and
    column are NaN."""
    columns = [c for c in (columns if columns is not None else table.columns) if c in table.columns]
    if len(table) < 3:
        raise ValueError(f"table has {len(table)} rows; a rank correlation needs at least 3 representations")
    return table[columns].astype(float).corr(method="spearman")
