"""Comparing the six disentanglement metrics over many representations (notebook 08).

Locatello et al. (2019, Figure 2) compute every metric on thousands of trained models and show the
Spearman rank correlation between metrics. This module does it in miniature: `evaluate_many` runs
`course_lib.metrics.evaluate` on a set of representations and returns one wide table (representation
x score, labelled as in `course_lib.metrics.scores`, whose `rank_correlation` turns it into the metric x
metric Spearman matrix), and the trained models of notebooks 02-06 come from `finished_runs` (their runs
directories; nothing is trained here).

`SubGrid` is a coarser grid of a deterministic dataset (every n-th value of each factor): on a CPU the
whole dSprites grid (737,280 images) is too many to encode per model for the BetaVAE and FactorVAE
scores, a sub-grid of ~10,000 images is not. It sits above both `metrics` and `training` in the flow.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from course_lib.checks import check_int, is_integer
from course_lib.data import GroundTruthData
from course_lib.metrics import METRICS, evaluate
from course_lib.metrics.factor_vae import factor_vae_votes
from course_lib.metrics.sampling import encode_checked
from course_lib.metrics.scores import wide_scores
from course_lib.seeding import as_random_state


def evaluate_many(dataset: GroundTruthData, encoders: dict, metrics=METRICS, random_state=0, num_train: int = 10_000,
                  num_test: int = 5_000, progress: bool = False, **kwargs) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(wide table: a row per representation, a column per score; long table of every score and its seconds).

    `encoders` maps a name to an `encode` (observations -> codes); every representation gets the same
    seed, hence the same factor draws. `kwargs` go to `evaluate` (e.g. `num_variance_estimate`).
    """
    if not encoders:
        raise ValueError("encoders is empty; give at least one name -> encode")
    rows, longs = {}, []
    for name, encode in encoders.items():
        long_table = evaluate(dataset, encode, metrics=metrics, random_state=random_state, num_train=num_train,
                              num_test=num_test, progress=progress, **kwargs)
        rows[name] = wide_scores(long_table)
        longs.append(long_table.assign(representation=name))
    wide = pd.DataFrame(rows).T
    wide.index.name = "representation"
    return wide, pd.concat(longs, ignore_index=True)[["representation", "metric", "score", "value", "seconds"]]


def annotated_heatmap(matrix, ax, cmap: str = "viridis", vmin=None, vmax=None, fmt: str = ".2f",
                      xticklabels=None, yticklabels=None, cbar_label: str = "", annotate: bool = True):
    """An annotated heatmap of a 2-D array on `ax` (plain matplotlib: seaborn's is ~20x slower); NaN cells blank."""
    import matplotlib.pyplot as plt

    matrix = np.asarray(matrix, dtype=float)
    image = ax.imshow(np.ma.masked_invalid(matrix), cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto",
                      interpolation="nearest")
    plt.colorbar(image, ax=ax, label=cbar_label)
    rows, cols = matrix.shape
    ax.set_xticks(range(cols), xticklabels if xticklabels is not None else range(cols))
    ax.set_yticks(range(rows), yticklabels if yticklabels is not None else range(rows))
    if annotate:
        for (i, j), value in np.ndenumerate(matrix):
            if np.isfinite(value):
                red, green, blue, _ = image.cmap(image.norm(value))
                dark = 0.299 * red + 0.587 * green + 0.114 * blue < 0.5
                ax.text(j, i, format(value, fmt), ha="center", va="center", fontsize=9,
                        color="white" if dark else "black")
    return ax


def plot_score_table(table: pd.DataFrame, ax=None, title: str | None = None, row_label: str = "representation"):
    """Heatmap of a (representation x score) table in [0, 1], annotated with the values; axes named."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(0.9 * table.shape[1] + 3.5, 0.4 * table.shape[0] + 1.8), layout="constrained")
    annotated_heatmap(table.to_numpy(dtype=float), ax, vmin=0, vmax=1, xticklabels=table.columns,
                      yticklabels=table.index, cbar_label="score")
    ax.set(xlabel="metric (score)", ylabel=row_label, title=title or "")
    ax.tick_params(axis="x", labelrotation=45)
    return ax


def plot_rank_correlation(correlation: pd.DataFrame, ax=None, title: str | None = None, row_label: str = "metric",
                          col_label: str = "metric"):
    """Heatmap of a Spearman matrix in [-1, 1], annotated (as Locatello et al.'s Figure 2); NaN: no ranking.

    The axes are named `row_label` and `col_label` (both metrics unless said otherwise)."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(0.7 * len(correlation) + 2.5, 0.6 * len(correlation) + 1.5), layout="constrained")
    annotated_heatmap(correlation.to_numpy(dtype=float), ax, cmap="RdBu_r", vmin=-1, vmax=1,
                      xticklabels=correlation.columns, yticklabels=correlation.index, cbar_label="Spearman ρ")
    ax.set(xlabel=col_label, ylabel=row_label, title=title or "")
    ax.tick_params(axis="x", labelrotation=45)
    return ax


def plot_matrix(matrix, ax, title: str, row_label: str = "code dimension", col_labels=None, vmax=None,
                fmt: str = ".2f", cbar_label: str = "", col_label: str = "factor"):
    """One annotated (code dimension x factor) matrix: MI, SAP scores, DCI importances, votes; axes named."""
    matrix = np.asarray(matrix, dtype=float)
    annotated_heatmap(matrix, ax, cmap="magma_r", vmin=0, vmax=vmax if vmax is not None else max(matrix.max(), 1e-12),
                      fmt=fmt, xticklabels=col_labels, cbar_label=cbar_label, annotate=matrix.size <= 120)
    ax.set(title=title, xlabel=col_label, ylabel=row_label)
    return ax


def factor_vae_vote_matrix(dataset: GroundTruthData, encode, num_votes: int, random_state, batch_size: int = 64,
                           num_variance_estimate: int = 10_000, threshold: float = 0.05) -> np.ndarray:
    """FactorVAE's votes as a (code dimension x factor) count matrix; inactive dimensions get no votes.

    The same steps as `factor_vae_score` (scale from `num_variance_estimate` draws, active dimensions
    with deviation >= threshold), keeping the votes instead of the accuracy.
    """
    random_state = as_random_state(random_state)
    num_variance_estimate = check_int("num_variance_estimate", num_variance_estimate, 2)
    _, observations = dataset.sample(num_variance_estimate, random_state)
    scale = np.std(encode_checked(encode, observations), axis=0, ddof=1)
    active = scale >= threshold
    votes = np.zeros((len(scale), dataset.num_factors), dtype=np.int64)
    if active.any():
        votes[active] = factor_vae_votes(dataset, encode, num_votes, random_state, scale, active, batch_size,
                                         progress=False).T
    return votes


class SubGrid(GroundTruthData):
    """The grid of a deterministic dataset restricted to every `steps[k]`-th value of factor k.

    Factor classes are renumbered 0 .. n_k - 1; an observation is the parent's observation of the
    matching factors. `SubGrid(DSprites("binary"), (1, 1, 4, 4, 4))` keeps 3 x 6 x 10 x 8 x 8 = 11,520
    of dSprites' 737,280 images.
    """

    deterministic = True

    def __init__(self, dataset: GroundTruthData, steps):
        if not (getattr(dataset, "deterministic", False) and hasattr(dataset, "index_of")):
            raise ValueError(f"dataset={dataset!r} is not allowed: a SubGrid needs a deterministic grid dataset")
        steps = tuple(steps)
        if len(steps) != dataset.num_factors or not all(is_integer(s) and s >= 1 for s in steps):
            raise ValueError(f"steps={steps!r} is not allowed; give one integer >= 1 per factor "
                             f"({dataset.num_factors})")
        self.dataset, self.steps = dataset, tuple(int(s) for s in steps)
        self._values = [np.arange(0, n, s) for n, s in zip(dataset.factors_num_values, self.steps)]
        if any(len(v) < 2 for v in self._values):
            raise ValueError(f"steps={steps!r} is not allowed: every factor must keep at least 2 values")

    factor_names = property(lambda self: self.dataset.factor_names)
    observation_shape = property(lambda self: self.dataset.observation_shape)

    @property
    def factors_num_values(self) -> tuple[int, ...]:
        return tuple(len(v) for v in self._values)

    @property
    def factor_values(self) -> dict[str, np.ndarray]:
        parent = self.dataset.factor_values
        return {name: np.asarray(parent[name])[values] for name, values in zip(self.factor_names, self._values)}

    def parent_factors(self, factors) -> np.ndarray:
        """The parent dataset's factor classes of sub-grid factors (N, K)."""
        factors = self.check_factors(factors)
        return np.stack([values[column] for values, column in zip(self._values, factors.T)], axis=1)

    def index_of(self, factors) -> np.ndarray:
        return np.ravel_multi_index(tuple(self.check_factors(factors).T), self.factors_num_values)

    def factors_at(self, index) -> np.ndarray:
        return np.stack(np.unravel_index(np.asarray(index), self.factors_num_values), axis=1).astype(np.int64)

    def sample_observations_from_factors(self, factors, random_state=None) -> np.ndarray:
        return self.dataset.sample_observations_from_factors(self.parent_factors(factors), random_state)


def run_label(config, hide=("annealing_steps",)) -> str:
    """A short name of a trained run: method and hyperparameters (but those in `hide`), e.g. 'beta_vae beta=4'."""
    hyper = " ".join(f"{k}={v:g}" if isinstance(v, (int, float)) else f"{k}={v}"
                     for k, v in sorted(config.hyperparameters.items()) if k not in hide)
    return f"{config.method} {hyper}".strip()


def finished_runs(steps: int, root=None, architecture: str | None = "conv", variant: str = "binary",
                  num_latent: int | None = 10) -> dict[str, Path]:
    """label -> run directory of every finished run under `root` (default: the runs directory) trained
    for exactly `steps` steps, sorted by label; one directory per configuration (the first in name order).

    A run is finished when its `summary.json` says it reached its configured steps. `architecture`,
    `variant`, `num_latent` filter the runs (None: any). Nothing is loaded or trained.
    """
    from course_lib.training import CONFIG, SUMMARY, TrainConfig, default_runs_dir

    steps = check_int("steps", steps, 1)
    root = Path(root) if root is not None else default_runs_dir()
    found: dict[str, Path] = {}
    seen = set()
    for directory in sorted(root.glob("*/")) if root.is_dir() else []:
        try:
            config = TrainConfig(**json.loads((directory / CONFIG).read_text())["config"])
            summary = json.loads((directory / SUMMARY).read_text())
        except (OSError, ValueError, KeyError, TypeError):
            continue  # not a run, a run still training, or another version's files
        if (config.steps != steps or summary.get("steps") != steps or config.variant != variant
                or (architecture is not None and config.architecture != architecture)
                or (num_latent is not None and config.num_latent != num_latent)):
            continue
        if config.slug() in seen:
            continue
        seen.add(config.slug())
        label = run_label(config)
        found[label if label not in found else f"{label} ({directory.name})"] = directory
    return dict(sorted(found.items()))
