"""Do good hyperparameters transfer across data sets? Locatello et al. 2019's question, computed exactly.

Locatello et al. (Challenging Common Assumptions in the Unsupervised Learning of Disentangled
Representations, ICML 2019, Section 5.4 and its Table 5) ask whether a practitioner without labels
can borrow a good model configuration (objective and hyperparameter value) from a data set where
labels exist. They select, on one random seed, the configuration that is best by a metric on one
data set, and count how often that configuration beats a randomly chosen one on a *different random
seed*: on the same data set and metric 80.7 % of the time, on another data set with the same metric
59.3 %, on the same data set with another metric 62.6 %, and on another data set with another metric
54.9 % (each averaged over 10,000 random draws), where 50 % is no better than chance.

Everything here works on a `ScoreGrid`: a score for every (data set, metric, seed, configuration),
higher is better, with the same configurations and seeds on every data set.

  score_grid             a ScoreGrid from a table with a row per trained model
  transfer_probability   the probability that the transferred configuration beats a random one
                         (Table 5's four cells), averaged exactly over every choice
  transfer_table         the four cells at once, beside `PAPER_TRANSFER` (the paper's numbers)
  transfer_matrix        the same probability for every (source, target) pair of data sets
  rank_agreement         Spearman's rho or Kendall's tau between the configurations' rankings on two
                         data sets (or two seeds of one), averaged over pairs of different seeds

Definitions. Let s[d, m, r, c] be the score of configuration c (of C) trained with seed r on data set d,
measured by metric m. A *source* (d, m, r) selects B = argmax_c s[d, m, r, c]; a tie for the best is
broken uniformly at random, i.e. every c* in B is averaged with weight 1/|B|. A *target* (d', m', r')
has r' != r always (the paper's "different random seed"); d' = d or d' != d, and m' = m or
m' != m, for the four cells. There the transferred configuration c* is compared with a configuration
c drawn uniformly from the C - 1 *others*:

    win(c*, c) = 1 if s[d', m', r', c*] > s[d', m', r', c], 1/2 if equal (``ties="half"``) or 0
                 (``ties="loss"``, the strict reading of "outperforms"), 0 if smaller,

    p = mean over sources, and over each source's targets, of
        sum_{c* in B} (1/|B|) * (1/(C - 1)) * sum_{c != c*} win(c*, c).

No Monte Carlo: the average runs over every source, target and random pick. Properties (each tested):
identical rankings on source and target give p = 1, reversed rankings p = 0; a target ranking
independent of the source gives p = 1/2 in expectation (for a uniformly random ranking, c* is equally
likely to hold any rank, and its mean win rate over the others is then 1/2); p depends on the scores
only through their order within each (data set, metric, seed), so it is unchanged by any strictly
increasing transform of a metric. Drawing the random configuration from all C (so that it is c*
itself with probability 1/C, a tie) would give ((C - 1) p + 1/2) / C instead (ties="half"), at most
1 - 1/(2C): we leave c* out so that a perfect transfer scores 1. With the paper's 36 configurations
the two readings differ by at most 1.4 points.

Related: `course_lib.analysis.sweep_results.hyperparameter_transfer` asks the seed-to-seed question per
objective (agreement of the best value, regret), and `course_lib.metrics.scores.rank_correlation` is the
Spearman correlation between *metrics* over models; here the rankings are of configurations, compared
between data sets and seeds.

The paper describes its procedure in words; the exact averages, the tie rules and the exclusion of c*
from the random pick are this module's reading of it, chosen so that chance is exactly 1/2 and the
extremes are 0 and 1.
"""
from __future__ import annotations

import dataclasses
import itertools
import warnings

import numpy as np
import pandas as pd
from scipy import stats

from course_lib.checks import check_bool, check_choice

TIES = ("half", "loss")
RANK_METHODS = ("spearman", "kendall")
SAME, OTHER = "same", "different"
# Locatello et al. 2019, Table 5: probability of beating random model selection on a different random seed.
PAPER_TRANSFER = pd.DataFrame({"same data set": [0.807, 0.626], "different data set": [0.593, 0.549]},
                              index=["same metric", "different metric"])


@dataclasses.dataclass(frozen=True)
class ScoreGrid:
    """Scores (D data sets, M metrics, S seeds, C configurations), higher is better, with their labels."""

    scores: np.ndarray
    datasets: tuple
    metrics: tuple
    seeds: tuple
    configs: tuple

    def __post_init__(self):
        scores = np.asarray(self.scores, dtype=float)
        if scores.ndim != 4:
            raise ValueError(f"scores has shape {scores.shape}; use (datasets, metrics, seeds, configurations)")
        for axis, name in enumerate(("datasets", "metrics", "seeds", "configs")):
            labels = tuple(getattr(self, name))
            if len(labels) != scores.shape[axis] or len(set(labels)) != len(labels):
                raise ValueError(f"{name}={labels!r} is not allowed; give {scores.shape[axis]} distinct labels, "
                                 f"one per entry of axis {axis} of scores {scores.shape}")
            object.__setattr__(self, name, labels)
        if scores.shape[3] < 2:
            raise ValueError(f"configs={self.configs!r} is not allowed; a choice needs at least 2 configurations")
        if not np.all(np.isfinite(scores)):
            d, m, s, c = np.argwhere(~np.isfinite(scores))[0]
            raise ValueError(f"scores[{self.datasets[d]!r}, {self.metrics[m]!r}, seed {self.seeds[s]!r}, "
                             f"{self.configs[c]!r}] = {scores[d, m, s, c]}; every score must be finite "
                             "(leave out a metric or a model that failed)")
        scores.setflags(write=False)
        object.__setattr__(self, "scores", scores)

    def subset(self, configs=None, metrics=None, datasets=None) -> ScoreGrid:
        """The grid restricted to some configurations, metrics or data sets (labels; None keeps all)."""
        keep = {}
        for name, chosen in (("datasets", datasets), ("metrics", metrics), ("configs", configs)):
            labels = getattr(self, name)
            chosen = labels if chosen is None else tuple(chosen)
            for label in chosen:
                check_choice(name, label, labels)
            keep[name] = [labels.index(label) for label in chosen]
        scores = self.scores[np.ix_(keep["datasets"], keep["metrics"], range(len(self.seeds)), keep["configs"])]
        return ScoreGrid(scores, *(tuple(getattr(self, n)[i] for i in keep[n]) for n in ("datasets", "metrics")),
                         self.seeds, tuple(self.configs[i] for i in keep["configs"]))


def score_grid(table: pd.DataFrame, metrics, dataset: str = "dataset", config=("method", "value"),
               seed: str = "seed") -> ScoreGrid:
    """The ScoreGrid of a table with a row per trained model: a `dataset` column, the `config` columns
    (together they name a configuration), a `seed` column and one column per metric in `metrics`.

    Every (data set, seed, configuration) must appear exactly once: transfer compares the same
    configurations and seeds on every data set. A configuration is labelled by the tuple of its `config`
    values (a single column: its value)."""
    config = (config,) if isinstance(config, str) else tuple(config)
    metrics = (metrics,) if isinstance(metrics, str) else tuple(metrics)
    if not metrics:
        raise ValueError("metrics=() is not allowed; name at least one score column")
    missing = [c for c in (dataset, seed, *config, *metrics) if c not in table.columns]
    if missing:
        raise ValueError(f"table lacks the columns {missing}; it has {list(table.columns)}")
    keys = [dataset, seed, *config]
    duplicated = table.duplicated(keys, keep=False)
    if duplicated.any():
        raise ValueError(f"table has {int(duplicated.sum())} rows that repeat a (dataset, seed, config): "
                         f"{table.loc[duplicated, keys].head(3).to_dict('records')}; keep one model each")
    keys = (pd.Series(list(zip(*(table[c] for c in config))), index=table.index, dtype=object) if len(config) > 1
            else table[config[0]])
    labels = {name: tuple(pd.unique(column).tolist())  # Python scalars, in order of first appearance
              for name, column in (("datasets", table[dataset]), ("seeds", table[seed]), ("configs", keys))}
    position = {name: {label: i for i, label in enumerate(values)} for name, values in labels.items()}
    shape = tuple(len(labels[name]) for name in ("datasets", "seeds", "configs"))
    scores, filled = np.full(shape[:2] + (len(metrics),) + shape[2:], np.nan), np.zeros(shape, dtype=bool)
    for d, r, c, values in zip(table[dataset], table[seed], keys, table[list(metrics)].to_numpy(dtype=float)):
        i, j, k = position["datasets"][d], position["seeds"][r], position["configs"][c]
        scores[i, j, :, k], filled[i, j, k] = values, True
    if not filled.all():
        absent = [(labels["datasets"][i], labels["seeds"][j], labels["configs"][k]) for i, j, k in np.argwhere(~filled)]
        raise ValueError(f"table lacks {len(absent)} models of the full grid, e.g. (dataset, seed, config) = "
                         f"{absent[:3]}; every configuration needs every seed on every data set")
    return ScoreGrid(scores.transpose(0, 2, 1, 3), labels["datasets"], metrics, labels["seeds"], labels["configs"])


def _chosen(scores: np.ndarray) -> np.ndarray:
    """Weights (..., C): 1/|B| on each configuration tied for the best of its (data set, metric, seed), else 0."""
    best = scores == scores.max(axis=-1, keepdims=True)
    return best / best.sum(axis=-1, keepdims=True)


def _win_rate(scores: np.ndarray, ties: str) -> np.ndarray:
    """(..., C): for each configuration, its mean win(c, other) over the C - 1 other configurations."""
    tie = 0.5 if ties == "half" else 0.0
    difference = scores[..., :, None] - scores[..., None, :]
    wins = np.where(difference > 0, 1.0, np.where(difference == 0, tie, 0.0))
    return (wins.sum(axis=-1) - tie) / (scores.shape[-1] - 1)  # the diagonal (c against itself) is a tie


def _pair_probabilities(grid: ScoreGrid, ties: str) -> np.ndarray:
    """(D, M, S, D, M, S): the probability of a win for source (d, m, r) transferred to target (d', m', r')."""
    return np.einsum("dmsc,DMSc->dmsDMS", _chosen(grid.scores), _win_rate(grid.scores, ties))


def _mask(size: int, kind: str) -> np.ndarray:
    """(size, size) booleans: which (source, target) index pairs a cell uses: equal ones or different ones."""
    equal = np.eye(size, dtype=bool)
    return equal if kind == SAME else ~equal


def _average(pairs: np.ndarray, datasets: np.ndarray, metrics: np.ndarray, seeds: np.ndarray) -> float:
    """The mean of `pairs` over the (source, target) pairs that all three masks allow; NaN if none."""
    mask = (datasets[:, None, None, :, None, None] & metrics[None, :, None, None, :, None]
            & seeds[None, None, :, None, None, :])
    return float(pairs[mask].mean()) if mask.any() else float("nan")


def _check_grid(grid) -> ScoreGrid:
    if not isinstance(grid, ScoreGrid):
        raise ValueError(f"grid={type(grid).__name__} is not allowed; give a ScoreGrid (see score_grid)")
    if len(grid.seeds) < 2:
        raise ValueError(f"grid has seeds={grid.seeds!r}; transfer is measured on a different seed, so it "
                         "needs at least 2 seeds")
    return grid


def transfer_probability(grid: ScoreGrid, across_datasets: bool = False, across_metrics: bool = False,
                         ties: str = "half") -> float:
    """The probability that the configuration selected on a source beats a random other configuration on
    a target with a different seed (Locatello et al. 2019, Table 5), averaged exactly (module docstring).

    across_datasets: the target is another data set (else the same one); across_metrics: the target is
    scored by another metric (else the same one). ties: "half" counts a tie on the target as half a win
    (chance is then exactly 1/2), "loss" as no win.
    """
    grid = _check_grid(grid)
    across_datasets, across_metrics = check_bool("across_datasets", across_datasets), check_bool("across_metrics",
                                                                                                across_metrics)
    ties = check_choice("ties", ties, TIES)
    for flag, name in ((across_datasets, "datasets"), (across_metrics, "metrics")):
        if flag and len(getattr(grid, name)) < 2:
            raise ValueError(f"across_{name}=True needs at least 2 {name}; the grid has {getattr(grid, name)!r}")
    return _average(_pair_probabilities(grid, ties), _mask(len(grid.datasets), OTHER if across_datasets else SAME),
                    _mask(len(grid.metrics), OTHER if across_metrics else SAME), _mask(len(grid.seeds), OTHER))


def transfer_table(grid: ScoreGrid, ties: str = "half") -> pd.DataFrame:
    """Table 5's four cells for `grid`: rows same / different metric, columns same / different data set
    (as `PAPER_TRANSFER`); a cell the grid cannot fill (one data set, or one metric) is NaN."""
    grid = _check_grid(grid)
    pairs = _pair_probabilities(grid, check_choice("ties", ties, TIES))
    seeds = _mask(len(grid.seeds), OTHER)
    cells = {f"{dataset_kind} data set": [_average(pairs, _mask(len(grid.datasets), dataset_kind),
                                                   _mask(len(grid.metrics), metric_kind), seeds)
                                          for metric_kind in (SAME, OTHER)]
             for dataset_kind in (SAME, OTHER)}
    return pd.DataFrame(cells, index=["same metric", "different metric"])


def transfer_matrix(grid: ScoreGrid, metric=None, ties: str = "half") -> pd.DataFrame:
    """(source data set x target data set) probabilities of beating a random configuration, same metric
    (one `metric`, or all metrics averaged when None), always on a different seed: the diagonal is the
    transfer across seeds within a data set."""
    grid = _check_grid(grid)
    if metric is not None:
        grid = grid.subset(metrics=[metric])
    pairs = _pair_probabilities(grid, check_choice("ties", ties, TIES))
    size = len(grid.datasets)
    values = [[_average(pairs, np.outer(np.arange(size) == i, np.arange(size) == j), _mask(len(grid.metrics), SAME),
                        _mask(len(grid.seeds), OTHER)) for j in range(size)] for i in range(size)]
    return pd.DataFrame(values, index=pd.Index(grid.datasets, name="source"),
                        columns=pd.Index(grid.datasets, name="target"))


def _rank_correlation(a: np.ndarray, b: np.ndarray, method: str) -> float:
    """Spearman's rho (ties get average ranks) or Kendall's tau-b; NaN when either side is constant."""
    if np.all(a == a[0]) or np.all(b == b[0]):
        return float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = stats.spearmanr(a, b) if method == "spearman" else stats.kendalltau(a, b)
    return float(result.statistic)


def rank_agreement(grid: ScoreGrid, method: str = "spearman") -> pd.DataFrame:
    """How alike two data sets rank the configurations, per metric: rows (metric, data set), columns data set.

    Entry (m, d, d') is the mean, over ordered pairs of different seeds r != r', of the rank correlation
    (`method`: Spearman's rho, or Kendall's tau-b) between the C scores of (d, m, r) and of (d', m, r').
    On the diagonal (d = d') it is the agreement between two seeds of one data set, the yardstick for the
    rest. Both statistics use ranks only, so the table is unchanged by strictly increasing transforms of
    a metric; tied scores share their average rank (tau-b corrects for ties). A seed on which a metric
    gives every configuration the same score has no ranking: it is left out of the mean (all NaN: NaN).
    """
    grid = _check_grid(grid)
    method = check_choice("method", method, RANK_METHODS)
    frames = {}
    for m, metric in enumerate(grid.metrics):
        values = np.full((len(grid.datasets),) * 2, np.nan)
        for d, e in itertools.product(range(len(grid.datasets)), repeat=2):
            found = [_rank_correlation(grid.scores[d, m, r], grid.scores[e, m, q], method)
                     for r, q in itertools.permutations(range(len(grid.seeds)), 2)]
            found = [value for value in found if np.isfinite(value)]
            values[d, e] = np.mean(found) if found else np.nan
        frames[metric] = pd.DataFrame(values, index=pd.Index(grid.datasets, name="data set"),
                                      columns=pd.Index(grid.datasets, name="other data set"))
    return pd.concat(frames, names=["metric"])
