# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 14 · Transfer: is a good configuration on one data set good on another?
#
# Notebook 13 found that without labels we cannot tell good models from bad ones: the unsupervised
# scores do not rank models as the disentanglement metrics do. A practitioner has one more card to
# play. Labels may be missing on the data set she cares about but present on a **similar** one: could
# she choose the objective and its hyperparameter there, where the metrics can be computed, and reuse
# that choice? Locatello et al. (2019, Section 5.4) put this to the test on their 12,600 models, and
# this notebook repeats their experiment in miniature. You will
#
# * train a grid of **configurations** (objective × hyperparameter value) with several **seeds** on
#   three versions of dSprites: binary, coloured and noisy (the paper's dSprites, Color-dSprites and
#   Noisy-dSprites);
# * measure how alike two data sets **rank** the configurations, with Spearman's ρ and Kendall's τ;
# * compute the paper's question exactly: how often does the configuration that was **best on the
#   source** beat a **randomly chosen** one on the target — the same data set with another seed,
#   another data set, another metric?
# * see what a grid this small can and cannot say about the paper's answer.
#
# | profile | configurations | seeds | data sets | models | model, steps | metrics (draws) |
# |---|---|---|---|---|---|---|
# | `smoke` | β-VAE and DIP-VAE-I, 2 values each | 2 | 3 | 24 | MLP VAE, 4 | MIG, SAP (200) |
# | `lecture` | β-VAE and DIP-VAE-I, 3 values each | 2 | 3 | 36 | MLP VAE, 250 (batch 32) | MIG, SAP, DCI (2,000) |
# | `full` | β-VAE and DIP-VAE-I, 6 values each | 5 | 3 | 180 | the study's conv VAE, 300,000 | all six (10,000) |
#
# The paper trained six objectives × six values × 50 seeds on seven data sets, 300,000 steps each.
# The `lecture` grid is a toy by comparison: its models are small fully connected VAEs trained for 250
# steps at batch 32 with a ten times larger learning rate than the study's, so that all 36 train on a
# 2-core CPU in minutes; their scores are small and noisy. `smoke` only proves that the cells run.
#
# **Time** (measured with `python -m course_lib notebooks --only 14_transfer` on an idle 2-core CPU;
# the index that `make report` writes shows yours): `smoke` 7 s; `lecture` 6.5 minutes with an empty
# cache — 36 models, training and scoring each (9.3 minutes on a CPU shared with other jobs). The
# scores are cached in `runs/transfer-lecture/scores.csv`: a rerun takes seconds.

# %% tags=["parameters"]
profile = None  # smoke | lecture | full; None reads $COURSE_PROFILE (default lecture)
device = "auto"
seed = 0

# %%
import time
from functools import partial

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import Markdown, display

from course_lib.analysis.transfer import (PAPER_TRANSFER, ScoreGrid, rank_agreement, score_grid, transfer_matrix,
                                          transfer_table)
from course_lib.kit.runs import train_or_load_all
from course_lib.kit.report import LITERATURE_RANGES
from course_lib.lab.notice import notice, span, trend
from course_lib.lab.setup import notebook_setup
from course_lib.lab.transfer_lab import (DATASET_LABELS, METHOD_LABELS, config_label, design_for, plot_config_scores,
                                         plot_dataset_matrices, plot_transfer_table, plot_variants, score_models,
                                         transfer_configs)
from course_lib.metrics.scores import DISENTANGLEMENT_SCORES, SCORES as SCORE_LABELS
from course_lib.training import default_runs_dir

P, DEVICE, random_state = notebook_setup(profile, device, seed)
DESIGN = design_for(P)
OUT = default_runs_dir() / f"transfer-{P.name}"  # the scores (and, at `full`, the models) are cached here
print(f"grid:    {DESIGN.num_models} models ({DESIGN.architecture} VAE, {DESIGN.steps:,} steps, lr {DESIGN.lr:g}); "
      f"metrics {', '.join(DESIGN.metrics)} ({DESIGN.num_train:,} / {DESIGN.num_test:,} draws)")

# %% [markdown]
# ## 1 · Three data sets, one set of factors
#
# Locatello et al. trained on seven data sets; four of them are dSprites drawn in different ways (the
# fourth, Scream-dSprites, paints the sprite onto a patch of Munch's *The Scream*; the kit renders the
# other three). That is what makes them a clean test of transfer: the **factors are the same** (shape,
# scale, orientation and position of one sprite), only the **rendering** changes.
#
# * **dSprites**: the white sprite on black, one channel.
# * **Color-dSprites**: the sprite multiplied by a colour drawn uniformly from $[0.5, 1]^3$ per image —
#   a nuisance variable that the factors do not describe.
# * **Noisy-dSprites**: uniform noise $U(0, 1)$ added to every pixel and channel of the background
#   (clipped at 1), so the sprite must be found in a busy image.
#
# If anything transfers between data sets, it should transfer between these.

# %%
plot_variants(num=8, random_state=seed)
plt.show()

# %% [markdown]
# ## 2 · The grid: every configuration, every seed, every data set
#
# A **configuration** $c$ is an objective with one value of its hyperparameter: β-VAE with
# $\beta \in \{1, 4, 16\}$ and DIP-VAE-I with $\lambda_{od} \in \{1, 5, 50\}$ at `lecture` ($C = 6$).
# Each is trained with seeds $r = 1, \dots, S$ on each data set $d$, and each model is scored by each
# metric $m$, giving the grid of scores
#
# $$
# s[d, m, r, c], \qquad \text{higher is better.}
# $$
#
# Every model comes from `score_models`: it trains the model (in a temporary folder at `smoke` and
# `lecture`, where a colour MLP with its optimiser state weighs 78 MB; in the runs cache through
# `train_or_load_all` at `full`, a data set's models packed into one network on a GPU), evaluates its mean
# representation with `course_lib.metrics.evaluate`
# and caches the row, so that a rerun reads the table instead of training. `score_grid` turns the table
# into the array $s$.

# %%
start = time.perf_counter()
configs = transfer_configs(DESIGN, first_seed=seed)
train_fn = partial(train_or_load_all, root=OUT, device=DEVICE, progress=False) if DESIGN.keep_runs else None
table = score_models(configs, DESIGN, OUT / "scores.csv", train_fn=train_fn, device=DEVICE)
SCORES = [s for s in DISENTANGLEMENT_SCORES if s in table]  # each metric's disentanglement score
grid = score_grid(table, SCORES)
print(f"{len(table)} models in {time.perf_counter() - start:.0f} s this session; their own time (training and "
      f"scoring, when first run): {table['seconds'].sum() / 60:.1f} minutes")
table.pivot_table(index=["method", "value"], columns=["dataset", "seed"], values=SCORES[0]).round(3)

# %%
plot_config_scores(grid, title=f"{len(table)} models: each configuration's score on each data set")
plt.show()
best = {(d, m): config_label(grid.configs[int(np.argmax(grid.scores[i, j].mean(axis=0)))])
        for i, d in enumerate(grid.datasets) for j, m in enumerate(grid.metrics)}
display(Markdown(notice(
    [f"{m}: scores {span(grid.scores[:, j].ravel(), '.3f')}; best on average over seeds: "
     + ", ".join(f"{DATASET_LABELS[d]} {best[d, m]}" for d in grid.datasets) for j, m in enumerate(grid.metrics)],
    heading=f"**This run** ({len(table)} models, `{P.name}`):")))

# %%
literature = {SCORE_LABELS[key]: bounds for key, bounds in LITERATURE_RANGES.items()}
config_means = grid.scores.mean(axis=2)  # (data set, metric, configuration): the lines of the figure
num_configs = len(grid.configs)
seed_gap = np.ptp(grid.scores, axis=2).mean(axis=(0, 2))  # per metric: how far apart the seeds of a configuration lie
config_gap = (np.abs(config_means[..., :, None] - config_means[..., None, :]).mean(axis=(0, 2, 3))
              * num_configs / (num_configs - 1))  # per metric: how far apart two configurations' means lie
lowest = [DATASET_LABELS[grid.datasets[i]] for i in grid.scores.mean(axis=(2, 3)).argmin(axis=0)]
display(Markdown(notice([
    "Best score of a configuration (mean over seeds) against the study's trained dSprites models (the kit's "
    "indicative `LITERATURE_RANGES`): " + "; ".join(
        f"{m} {config_means[:, j].max():.3f}" + (f" (the study: {span(literature[m])})" if m in literature else "")
        for j, m in enumerate(grid.metrics)) + ".",
    "The spread of one configuration's seeds (the dots, max − min, on average) against the mean distance between two "
    "configurations' means: " + "; ".join(f"{m} {seed_gap[j]:.3f} against {config_gap[j]:.3f}"
                                          for j, m in enumerate(grid.metrics))
    + ". Where the seeds spread about as far as the configurations lie apart, the seed decides as much of the order "
    "as the configuration.",
    "The levels differ between data sets (lowest on average: " + ", ".join(
        f"{m} {d}" for m, d in zip(grid.metrics, lowest)) + "). Transfer only asks about the *order* of the "
    "configurations within a data set, so levels do not matter.",
], note=f"*(This run: `{P.name}`, {DESIGN.steps:,}-step {DESIGN.architecture.upper()} VAEs, {len(grid.seeds)} seeds "
        "per point.)*")))

# %%
lines = []  # within each objective: does its strongest value score lowest, and do the data sets order its values alike?
for method, values in DESIGN.values.items():
    columns = sorted((i for i, c in enumerate(grid.configs) if c[0] == method), key=lambda i: grid.configs[i][1])
    means = config_means[:, :, columns]  # (data set, metric, value)
    last = [int((means[:, j].argmin(axis=-1) == len(columns) - 1).sum()) for j in range(len(grid.metrics))]
    alike = [m for j, m in enumerate(grid.metrics) if len({tuple(np.argsort(row)) for row in means[:, j]}) == 1]
    counts = ", ".join(f"{n} by {m}" if j else f"{n} of the {len(grid.datasets)} data sets by {m}"
                       for j, (n, m) in enumerate(zip(last, grid.metrics)))
    lines.append(f"{METHOD_LABELS[method]}: its strongest value, {config_label(grid.configs[columns[-1]]).split()[-1]}, "
                 f"scores lowest of its values on {counts}; " + (f"every data set orders its values alike by "
                 f"{', '.join(alike)}." if alike else "no metric orders its values alike on every data set."))
display(Markdown(notice(lines + [
    "Where the strongest value comes last everywhere, the order is shared — but on young models it may say how hard "
    "the regulariser pulls (how much each model has learnt yet) rather than how well it disentangles."],
    heading="**Shared structure?** Within each objective:")))

# %% [markdown]
# ## 3 · Do two data sets rank the configurations alike?
#
# Transfer asks about **orders**, not values: a metric may read 0.05 on one data set and 0.3 on
# another, and still rank the configurations the same way. Two classical measures compare rankings of
# the same $C$ items. **Spearman's ρ** is the correlation of the ranks; without ties,
#
# $$
# \rho = 1 - \frac{6 \sum_{c} (\operatorname{rank}_a c - \operatorname{rank}_b c)^2}{C (C^2 - 1)} .
# $$
#
# **Kendall's τ** counts pairs of configurations: with $n_+$ pairs put in the same order by both
# rankings and $n_-$ in opposite orders,
#
# $$
# \tau = \frac{n_+ - n_-}{C (C - 1) / 2} .
# $$
#
# Both are 1 for the same order, −1 for the reverse and 0 on average for unrelated orders; both are
# unchanged by any increasing transform of a metric. With ties (a collapsed model often scores exactly
# as another does) `scipy.stats` gives tied items their average rank (ρ) or uses the tie-corrected τ-b.
#
# `rank_agreement` compares the ranking of one seed on data set $d$ with the ranking of **another
# seed** on data set $d'$, averaged over pairs of seeds. On the diagonal ($d = d'$) it compares two seeds
# of the same data set: the agreement that the seed alone allows, the yardstick for the rest.

# %%
spearman, kendall = rank_agreement(grid, "spearman"), rank_agreement(grid, "kendall")
plot_dataset_matrices({m: spearman.loc[m] for m in grid.metrics}, vmin=-1, vmax=1, cbar_label="Spearman ρ",
                      title="Rank agreement between two seeds: of one data set (diagonal) or of two data sets")
plt.show()
off = ~np.eye(len(grid.datasets), dtype=bool)
agreement = pd.DataFrame({(name, where): [np.nanmean(frame.loc[m].to_numpy()[mask]) for m in grid.metrics]
                          for name, frame in (("Spearman ρ", spearman), ("Kendall τ", kendall))
                          for where, mask in (("same data set", ~off), ("other data set", off))}, index=grid.metrics)
display(Markdown(notice([f"{m}: Spearman ρ {row[('Spearman ρ', 'same data set')]:.2f} between seeds of one data set, "
                         f"{row[('Spearman ρ', 'other data set')]:.2f} between data sets (Kendall τ "
                         f"{row[('Kendall τ', 'same data set')]:.2f} and {row[('Kendall τ', 'other data set')]:.2f})"
                         for m, row in agreement.iterrows()], heading=f"**This run** (`{P.name}`), averages:")))
agreement.round(2)

# %%
same = {m: np.diag(spearman.loc[m].to_numpy()) for m in grid.metrics}  # two seeds of one data set, per data set
other = {m: spearman.loc[m].to_numpy()[off] for m in grid.metrics}  # two data sets, per ordered pair
steady = [m for m in grid.metrics if np.nanmean(same[m]) >= 0.5]
crossed = spearman.stack()  # (metric, data set, other data set) -> ρ
crossed = crossed[[d != e for _, d, e in crossed.index]].dropna()
(metric, source, target) = crossed.idxmin() if len(crossed) else (None, None, None)
opposite = [f"The most opposite pair: {DATASET_LABELS[source]} and {DATASET_LABELS[target]} by {metric}, "
            f"ρ = {crossed.min():.2f}."] if len(crossed) else []
rho, tau = spearman.to_numpy().ravel(), kendall.to_numpy().ravel()
both = np.isfinite(rho) & np.isfinite(tau)
display(Markdown(notice([
    *(f"{m}: seeds of one data set agree with ρ {span(same[m])} by data set; data sets with ρ {span(other[m])} by "
      "pair." for m in grid.metrics),
    ("For no metric do two seeds agree with ρ ≥ 0.5 on average" if not steady else "Two seeds agree with ρ ≥ 0.5 on "
     "average for " + ("every metric" if len(steady) == len(grid.metrics) else ", ".join(steady) + " only"))
    + ". Where they hardly agree, which configuration comes out on top is largely the seed's doing, and nothing "
    "can transfer better than the seeds agree.",
    *opposite,
    f"Kendall's τ has the sign of Spearman's ρ in {100 * np.mean(np.sign(tau[both]) == np.sign(rho[both])):.0f} % of the "
    f"entries, and is {trend(np.abs(rho[both]).mean(), np.abs(tau[both]).mean(), 'larger', 'smaller', 'as large', 0.01)}"
    f" in size ({np.abs(tau[both]).mean():.2f} against {np.abs(rho[both]).mean():.2f} on average); for the same "
    "rankings τ is usually the smaller of the two.",
], note=f"*(This run: `{P.name}`, {len(grid.seeds)} seeds.)*")))

# %% [markdown]
# ## 4 · Better than a random choice? Table 5 in miniature
#
# Rank correlations describe whole orders; a practitioner only needs the **top** to carry over.
# Locatello et al. measure exactly that. Take a **source** — a data set $d$, a metric $m$, a seed $r$ —
# and select the configuration that scored best there,
#
# $$
# c^* = \arg\max_c \; s[d, m, r, c] .
# $$
#
# Then go to a **target** $(d', m', r')$, always with **another seed** $r' \neq r$, and compare $c^*$
# with a configuration $c$ drawn at random from the $C - 1$ others. The transfer probability is
#
# $$
# p = \Pr\big( s[d', m', r', c^*] > s[d', m', r', c] \big),
# $$
#
# averaged over sources and targets, in four cells: target on the same data set or another, scored by
# the same metric or another. Chance is $p = 1/2$. `transfer_table` computes $p$ **exactly**, averaging
# over every source, target and random pick (the paper sampled 10,000 draws), with two conventions
# written in its docstring: a tie for the best on the source is broken at random (each tied
# configuration counts with equal weight), and a tie on the target counts as half a win, which keeps
# chance at exactly 1/2. (Leaving $c^*$ itself out of the random pick lets a perfect transfer score 1;
# drawing from all $C$ would move $p$ towards 1/2 by $|p - 1/2| / C$, at most 1.4 points with the
# paper's 36 configurations.)
#
# > **The paper** (Section 5.4, Table 5): the transferred choice beats a random one in **80.7 %** of
# > cases on the same data set and metric (only the seed differs), **62.6 %** on the same data set with
# > another metric, **59.3 %** on another data set with the same metric and **54.9 %** on another data
# > set with another metric. Some transfer, but weak across data sets — and even the 80.7 % is a
# > statement about configurations: a good configuration with an unlucky seed is still a bad model.

# %%
transfer = transfer_table(grid)
plot_transfer_table(transfer, PAPER_TRANSFER)
plt.show()
display(Markdown(notice([f"{row}, {col}: {100 * transfer.loc[row, col]:.0f} % here, "
                         f"{100 * PAPER_TRANSFER.loc[row, col]:.1f} % in the paper"
                         for row in transfer.index for col in transfer.columns],
                        heading=f"**This run** ({len(table)} models, `{P.name}`):")))
pd.concat({"this grid": transfer, "Locatello et al. 2019": PAPER_TRANSFER}, axis=1).round(3)

# %% [markdown]
# Which pairs of data sets carry the choice over? `transfer_matrix` splits the "same metric" row by
# source (rows) and target (columns); its diagonal is the transfer across seeds within one data set.

# %%
matrices = {m: transfer_matrix(grid, metric=m) for m in grid.metrics}
plot_dataset_matrices(matrices, vmin=0, vmax=1, cmap="RdBu_r", cbar_label="P(transferred beats random)",
                      title="Transfer probability from a source data set (rows) to a target (columns), per metric")
plt.show()
pairs = pd.concat(matrices, names=["metric"]).rename(index=DATASET_LABELS, columns=DATASET_LABELS)
pairs.round(2)

# %%
here, paper = transfer.loc["same metric"], PAPER_TRANSFER.loc["same metric"]
pct = lambda p, digits=0: f"{100 * p:.{digits}f} %"
lead = trend(here["different data set"], here["same data set"], "appears here", "is reversed here",
             "does not appear here (the two differ by less than 5 points)", 0.05)
comparisons = len(grid.seeds) * (len(grid.seeds) - 1)  # per matrix entry: each source seed against each other seed
display(Markdown(notice([
    f"Another seed of the same data set, same metric: {pct(here['same data set'])} (the paper: "
    f"{pct(paper['same data set'], 1)}); another data set, same metric: {pct(here['different data set'])} (the paper: "
    f"{pct(paper['different data set'], 1)}). The paper's pattern — the choice carries over between seeds better "
    f"than between data sets — {lead}; how far from 1/2 chance alone pushes a cell at this size, Exercise 1 measures.",
    f"The \"different metric\" row: {pct(transfer.loc['different metric', 'same data set'])} and "
    f"{pct(transfer.loc['different metric', 'different data set'])} (the paper: 62.6 % and 54.9 %). A cell that "
    "lands near the paper's is a coincidence of a tiny grid, not a replication: Section 5 and Exercise 1 show how "
    "wide chance alone is here.",
    f"Each entry of the matrices averages only {comparisons} comparison(s) (each seed of the source against each "
    f"other seed of the target), so a 1.0 or a 0.0 can be {comparisons} lucky or unlucky pick(s). Read the "
    "pattern, not the entries.",
], note=f"*(This run: `{P.name}`, {len(table)} models.)*")))

# %% [markdown]
# ## 5 · What a grid this small can and cannot show
#
# The computation is the paper's; the experiment is not. Before comparing the two columns of the bar
# chart, count what stands behind each bar of ours:
#
# * **Few choices.** With $C = 6$ configurations (at `lecture`) a random choice already beats the others
#   half the time, and one lucky or unlucky model moves $p$ by several points. The paper chose among 36.
# * **Few seeds.** Two seeds per configuration (at `lecture`) give a single "other seed" per source; the
#   paper had 50. The diagonal of the rank-agreement matrices is the honest yardstick: where two seeds
#   of the *same* data set hardly agree, no data set can agree with another.
# * **Young, tiny models.** At `lecture` the models have trained for 250 steps; Section 2 compares their
#   scores with what trained models reach, and the spread between seeds with that between
#   configurations. What orders the configurations at this age is partly how much each model has learnt
#   *yet* — mostly a matter of how hard the regulariser pulls (β, λ) — which may well carry over between
#   renderings of one data set, for reasons unrelated to disentanglement.
# * **Three close relatives.** The paper's "other data set" includes Shapes3D, SmallNORB, Cars3D and
#   Scream-dSprites; ours are three renderings of one factor grid, the easiest case for transfer.
#
# What the miniature *can* show: how the question is asked and answered, that the same code gives the
# extremes 0, 1/2 and 1 on rankings built to give them (`tests/test_transfer.py`), and how much of a
# transfer probability the seeds alone leave. Exercise 1 measures how far from 1/2 pure chance can push
# $p$ in a grid of this size; `full` runs the study's network, values and metrics (on a GPU).

# %% [markdown]
# ## Exercises
#
# ### Exercise 1
#
# How far from 1/2 can a grid of this size land by chance alone? Build a null grid by relabelling the
# configurations at random, independently for every (data set, seed) — the same relabelling for all
# metrics of a model, which keeps the metrics' agreement on that model — and compute `transfer_table`
# for 200 such grids. Report the 5 % and 95 % quantiles of each cell. Which of this run's four
# probabilities lie outside that band?

# %% tags=["solution"]
rng = np.random.default_rng(seed)
D, M, S, C = grid.scores.shape
null = []
for _ in range(200):
    order = rng.permuted(np.broadcast_to(np.arange(C), (D, S, C)), axis=-1)  # a relabelling per (data set, seed)
    shuffled = np.take_along_axis(grid.scores, order[:, None], axis=-1)  # the same one for every metric
    null.append(transfer_table(ScoreGrid(shuffled, grid.datasets, grid.metrics, grid.seeds, grid.configs)))
null = np.stack([t.to_numpy() for t in null])
band = pd.DataFrame({f"{row}, {col}": {"this run": transfer.loc[row, col], "null 5 %": np.quantile(null[:, i, j], 0.05),
                                       "null 95 %": np.quantile(null[:, i, j], 0.95)}
                     for i, row in enumerate(transfer.index) for j, col in enumerate(transfer.columns)}).T
band.round(3)

# %% tags=["solution"]
where = lambda r: "below" if r["this run"] < r["null 5 %"] else "above" if r["this run"] > r["null 95 %"] else "inside"
verdicts = {cell: where(r) for cell, r in band.iterrows()}
paper_band = band.loc["different metric, different data set"]
width = (band["null 95 %"] - band["null 5 %"]).groupby(lambda cell: cell.split(", ")[1]).mean()
display(Markdown(notice([
    *(f"{cell}: this run {r['this run']:.3f}, null band {r['null 5 %']:.3f}–{r['null 95 %']:.3f}: **{verdicts[cell]}**"
      for cell, r in band.iterrows()),
    f"The band is {width['same data set']:.2f} wide on average for the same-data-set cells (which average fewer pairs) "
    f"and {width['different data set']:.2f} for the others. The paper's 54.9 % would lie "
    f"{where({**paper_band, 'this run': 0.549})} the band of its cell.",
], heading=f"*(This run: `{P.name}`, {len(table)} models, 200 null grids.)*")))

# %% [markdown] tags=["solution"]
# Under the null every cell is 1/2 on average, but a single grid scatters around it: with six
# configurations, two seeds and three data sets (at `lecture`) there are few independent comparisons,
# and they share models (every target model serves many sources), so the band is wide. A cell inside
# its band is no evidence of transfer at all; one above it is weak evidence that the configuration,
# not only the seed, decided the winner — about these toy models, not about disentanglement at scale.
# (With 36 configurations, 50 seeds and seven data sets the paper's band is far narrower; there
# 54.9 % is a small but real effect.)

# %% [markdown]
# ### Exercise 2
#
# Is it the **objective** or the **hyperparameter value** that carries over? Compute the transfer
# table separately within each objective (the choice among its values only; `ScoreGrid.subset`), and
# then for the choice between the objectives alone (score each objective by its best value on the
# source). Compare with the full table of Section 4.

# %% tags=["solution"]
within = {METHOD_LABELS[method]: transfer_table(grid.subset(configs=[c for c in grid.configs if c[0] == method]))
          for method in DESIGN.values}
methods = list(DESIGN.values)
best_value = np.stack([grid.scores[..., [c[0] == method for c in grid.configs]].max(axis=-1) for method in methods],
                      axis=-1)  # (data set, metric, seed, objective): each objective at its best value
between = transfer_table(ScoreGrid(best_value, grid.datasets, grid.metrics, grid.seeds, tuple(methods)))
pd.concat({**within, "objective only": between, "all configurations": transfer}).round(3)

# %% tags=["solution"]
pick = lambda frame, data: frame.loc["same metric", f"{data} data set"]
display(Markdown(notice([
    *(f"Within {name}: the value chosen on one data set beats a random other value on another data set in "
      f"{pct(pick(frame, 'different'))} of cases with the same metric ({pct(pick(frame, 'same'))} on another seed of "
      "the same data set)." for name, frame in within.items()),
    f"The objective alone: each cell is the share of sources whose winning objective also won on the target, "
    f"{pct(pick(between, 'same'))} on the same data set and {pct(pick(between, 'different'))} on another (same "
    f"metric) — a choice between {len(methods)}, with few comparisons behind each cell.",
], heading=f"*(This run: `{P.name}`, {len(table)} models.)*")))

# %% [markdown] tags=["solution"]
# Within one objective the choice is among a few values, which mostly set how hard the regulariser
# pulls; on young models that decides how much each has learnt. So where a value transfers within an
# objective (Section 2 shows whether its strongest value comes last everywhere), what transfers may be
# a property of the training budget rather than of disentanglement. The paper found at scale that the
# hyperparameter and the seed matter more than the objective (notebook 13, key result 3), and that what
# transfers is weak.

# %% [markdown]
# ## Summary
#
# * Transfer is a question about **rankings**: the metrics' values differ between data sets, so compare
#   orders (Spearman's ρ, Kendall's τ) and ask whether the **top** carries over.
# * The paper's probability is computed here **exactly**, with the ties and the random pick spelled out:
#   1 for identical rankings, 0 for reversed ones, 1/2 for unrelated ones, whatever monotone rescaling a
#   metric undergoes.
# * Locatello et al.: 80.7 % across seeds, 59.3 % across data sets, 54.9 % across data sets and metrics —
#   transferring a configuration helps a little, and it does not identify a good *model*, because the
#   seed matters as much.
# * A toy grid reproduces the procedure; whether it reproduces the finding is a question for its own
#   numbers: compare every probability with the seeds' own agreement (the diagonals) and with the band
#   that chance alone gives at this size (Exercise 1).
#
# ## References
#
# * F. Locatello, S. Bauer, M. Lucic, G. Rätsch, S. Gelly, B. Schölkopf, O. Bachem. *Challenging
#   Common Assumptions in the Unsupervised Learning of Disentangled Representations.* ICML 2019
#   (Section 5.4 and Table 5: transfer across data sets and metrics).
# * L. Matthey, I. Higgins, D. Hassabis, A. Lerchner. *dSprites: Disentanglement testing Sprites
#   dataset.* 2017.
# * I. Higgins, L. Matthey, A. Pal, C. Burgess, X. Glorot, M. Botvinick, S. Mohamed, A. Lerchner.
#   *β-VAE: Learning Basic Visual Concepts with a Constrained Variational Framework.* ICLR 2017.
# * A. Kumar, P. Sattigeri, A. Balakrishnan. *Variational Inference of Disentangled Latent Concepts
#   from Unlabeled Observations.* ICLR 2018.
# * R. T. Q. Chen, X. Li, R. Grosse, D. Duvenaud. *Isolating Sources of Disentanglement in VAEs.*
#   NeurIPS 2018 (MIG).
# * C. Eastwood, C. K. I. Williams. *A Framework for the Quantitative Evaluation of Disentangled
#   Representations.* ICLR 2018 (DCI).
# * C. Spearman. *The Proof and Measurement of Association between Two Things.* American Journal of
#   Psychology 15, 1904.
# * M. G. Kendall. *A New Measure of Rank Correlation.* Biometrika 30, 1938.
