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
# # 13 · The study: Locatello et al.'s findings in miniature, and scale
#
# Notebooks 02–06 trained one model per objective and looked inside it; notebook 08 measured it.
# Locatello et al. (2019) asked what happens when one does this **at scale and without wishful
# thinking**: they trained 12,600 models (six objectives × six hyperparameter values × 50 seeds ×
# seven data sets, 1,800 of them on dSprites), scored every one with the six metrics and asked
# whether the field's assumptions hold. This notebook repeats their analyses on a sweep that the
# kit trains here, and adds a question of its own:
#
# 1. Do the objectives make the **representation** (the mean code) uncorrelated, or only the sampled code?
# 2. Do the **metrics agree** with each other?
# 3. How much of a score is explained by the **objective**, by its **hyperparameter**, and how much
#    is left to the **random seed**?
# 4. Can we **select** good models without labels — by the ELBO, the total correlation, or UDR
#    (Duan et al. 2020)? Does a good hyperparameter **transfer** from one seed to another?
# 5. Do better disentanglement scores make **downstream** predictors more sample-efficient?
# 6. **Scale**: does β-VAE disentangle better with more training steps or a wider network? Do the
#    zoo's models, seed by seed, gain from training twice as long?
#
# Each analysis states the paper's claim beside the kit's numbers. The numbers are what they are:
# the kit's models are young (20,000 steps at most; the paper: 300,000) and few, on one data set, so
# where the kit disagrees with the paper, the first suspect is its size, and the text says so.
#
# | profile | objectives | values each | seeds | steps | metrics (draws) | scale study (β-VAE) |
# |---|---|---|---|---|---|---|
# | `smoke` | β-VAE, DIP-VAE-I | 2 | 2 | 20 | MIG, SAP, Modularity, downstream (200) | 5 and 10 steps; width 2 |
# | `lecture` | β-VAE, β-TCVAE, DIP-VAE-I | 3 | 2 | 1,000 | MIG, SAP, DCI, Modularity, downstream (5,000) | 250 and 500 steps; width 2 |
# | `full` | all six | 6 | 5 | 300,000 | all seven (10,000) | 75k and 150k steps; widths 2, 4 |
#
# `smoke` only proves that the code runs (its numbers mean nothing). `lecture` is 24 models; it leaves
# out the BetaVAE and FactorVAE scores, which encode all 737,280 images per model (about 2.5 minutes
# each on a 2-core CPU), and uses half the study's metric draws. `full` is the paper's design on
# dSprites, with 5 seeds instead of 50: about 180 + 20 GPU-runs of 300,000 steps, meant for a cluster
# (`scheduler`).
#
# **Which models.** Sections 2–6 read one results table, `sweep_source` says which:
#
# * `"plan"`: the profile's sweep above (at `lecture`, 18 models: three objectives × three values × two
#   seeds, 1,000 steps).
# * `"zoo_seeds"`: the **zoo's seeds**, the models of the pretrained zoo that notebooks 02–06 and 08
#   compare (the plain VAE, β-VAE β = 4 and 16, FactorVAE γ = 40, β-TCVAE β = 6, DIP-VAE-I λ = 1, 5
#   and 50) and β-TCVAE β = 10 (so that three objectives have three values each), each over five seeds,
#   scored like the plan's jobs. The kit ships them as a results table
#   without weights (`data/pretrained/seeds/`, made by `python -m course_lib zoo --seed-results 5 --steps S`;
#   the notebook reads the table of the longest-trained models shipped): far older models than the
#   plan's 1,000 steps, and more seeds.
# * `"auto"` (the default): the zoo's seeds where they are shipped and the plan's study is loaded
#   rather than trained; else the plan's sweep. The first line the results cell prints says which.
#
# Section 7's scale study is always the plan's.
#
# **Time.** The kit ships the `lecture` study, trained by `python -m course_lib study --profile lecture
# --seed 0 --export` (`data/pretrained/study/`, with the plan that made it and each table's SHA-256):
# at `lecture` with seed 0 the notebook loads it (and the zoo's seeds) and runs in a few minutes.
# `train_sweep=True`, or another seed, trains the plan's 24 models here: about 72 worker-minutes, 36
# minutes of two workers on a 2-core CPU, far longer on a busy one; a rerun skips finished jobs. `smoke`
# trains its 11 tiny models in about half a minute.

# %% tags=["parameters"]
profile = None  # smoke | lecture | full; None reads $COURSE_PROFILE (default lecture)
device = "auto"
seed = 0
scheduler = None  # address of a running Dask scheduler ("tcp://host:8786"); None starts a LocalCluster here
train_sweep = None  # None: load the study shipped in data/pretrained/study for this profile and seed, else train it; True: train
sweep_source = "auto"  # the models of Sections 2-6: "plan" (the sweep above), "zoo_seeds" (the shipped seed table), "auto"

# %%
import time

import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import Markdown, display

from course_lib.lab.setup import notebook_setup
from course_lib.lab.metric_comparison import plot_rank_correlation
from course_lib.lab.notice import notice, span, strongest
from course_lib.analysis.sweep_results import (age_change, hyperparameter_transfer, metric_correlation,
                                               score_agreement, seed_spread, setting_overlaps, tc_by_regularisation,
                                               tc_trend, variance_chance, variance_explained)
from course_lib.kit.seeds import every_shipped_seed_result, study_or_seed_results
from course_lib.kit.study import study_plan
from course_lib.lab.study_plots import (plot_ages, plot_by_method, plot_scale, plot_scores_against,
                                        plot_tc_by_regularisation, plot_variance_explained)
from course_lib.metrics.scores import column_label, downstream_columns
from course_lib.training import default_runs_dir

P, DEVICE, random_state = notebook_setup(profile, device, seed)
OUT = default_runs_dir() / f"study-{P.name}"  # finished jobs here are skipped on a rerun
plan = study_plan(P, OUT, device=str(DEVICE), first_seed=seed)
print(f"sweep seeds: {plan.sweep.seeds}")
print(f"output:  {OUT}")

# %% [markdown]
# ## 1 · The sweep, on Dask
#
# A **job** is one model: train one (objective, hyperparameter value, seed) for the given steps,
# then evaluate its mean representation with the metrics and add the unsupervised scores (rate,
# distortion, ELBO, the Gaussian TC of the mean and of the sampled code). `course_lib.kit.sweep.run_sweep`
# sends the jobs to a **Dask** cluster: here a `LocalCluster` with one single-threaded worker
# process per core (per GPU on CUDA, where each worker trains its share of the jobs as one packed network,
# `sweep.default_pack`); with `scheduler` set, a running cluster of any size gets the
# same jobs unchanged. Each job writes its run directory and a `result.json` under the output
# folder; a rerun **skips finished jobs**, so running this cell again costs seconds.
#
# `course_lib.kit.study.study_plan` derives the grid from the profile: the objectives, the
# profile's `num_sweep_values` of each objective's six study values (spread from the smallest to the
# largest), the seeds, and for the scale study (Section 7) β-VAE at a quarter and half the steps and at
# twice the width. `run_study` starts one cluster and runs every sweep on it.

# %%
for sweep in (plan.sweep, *plan.scale_sweeps):
    print(f"{len(sweep.configs()):3d} jobs: {', '.join(sweep.methods)}; values {sweep.values}; seeds {sweep.seeds}; "
          f"{sweep.steps:,} steps; width {sweep.width}; metrics {', '.join(sweep.metrics)} "
          f"({sweep.num_train:,} / {sweep.num_test:,} draws)")

# %%
start = time.perf_counter()
results, scale, source = study_or_seed_results(plan, P, seed, DEVICE, scheduler, train_sweep,
                                               sweep_source)  # with UDR (Section 5)
print(f"{source}; {time.perf_counter() - start:.0f} s this session")
per_setting = results[results["status"] == "ok"].groupby(["method", "value"], dropna=False)["seed"].nunique()
print(f"{len(results)} models in {len(per_setting)} settings (objective, value), {span(per_setting, '.0f')} seeds each")
shown = ["method", "value", "seed", "mig.score", "dci.disentanglement", "modularity.modularity", "elbo",
         "tc_mean", "tc_sampled", "udr"]
results[[c for c in shown if c in results]].rename(columns=column_label).round(3)

# %% [markdown]
# Every row is one trained model. In the paper each (objective, value) has 50 such rows; here the line
# above counts them (two at `lecture` in the plan's sweep, five in the zoo's seeds), and every
# conclusion below inherits that. The line before it says where the rows came from (the zoo's seeds,
# the shipped study, or the jobs trained here and their worker-minutes). A trained sweep resumes: a
# rerun after an interruption trains only what is missing.

# %% [markdown]
# ## 2 · Key result 1: the mean representation is not decorrelated
#
# Every objective of the study pushes the **aggregate posterior** $q(z) = \mathbb E_x\, q(z \mid x)$
# towards a factorised distribution: β-VAE through the KL to $\mathcal N(0, I)$, β-TCVAE and
# FactorVAE through the total correlation of the **sampled** code $z \sim q(z \mid x)$, DIP-VAE-I
# through the covariance of the **mean** code $\mu(x)$. But the representation that the metrics (and
# any user) read is the mean code. Locatello et al. fitted a Gaussian to each and measured its total
# correlation $\mathrm{TC} = \tfrac12 (\sum_j \log \Sigma_{jj} - \log\det\Sigma)$ (notebook 04).
#
# > **The paper** (Section 5.1, Figure 1): as regularisation grows, the TC of the **sampled**
# > representation *decreases*, but the TC of the **mean** representation *increases* — except for
# > DIP-VAE-I, which penalises the covariance of the means directly and keeps their TC low. "The
# > dimensions of the representation (which is taken to be the mean) are correlated."

# %%
plot_tc_by_regularisation(results)
plt.show()
trend = tc_trend(results)
display(Markdown(notice([f"{row.method}, {row.start} → value {row.end:g}: sampled TC {row.tc_sampled_start:.1f} → "
                         f"{row.tc_sampled_end:.1f} nats, mean TC {row.tc_mean_start:.1f} → {row.tc_mean_end:.1f} nats"
                         for row in trend.itertuples()], heading=f"**This run** ({len(results)} models, `{P.name}`), "
                        "medians over seeds, from the weakest regularisation to the strongest:")))
tc_by_regularisation(results).rename(columns=column_label).round(3)

# %% [markdown]
# **What to notice.** *(The lines above are this run's; at `smoke` they mean nothing.)*
# * Every objective of the study is the plain VAE with its weight switched off (β = 1; γ = λ = 0), so
#   each line starts from the VAE where the table has one (the zoo's seeds: the dashed lines in the
#   figure), else from the objective's smallest value.
# * The **sampled** code's TC should fall with every regulariser, as designed: read the first arrow of
#   each line.
# * Key result 1 is about the second arrow: if the **mean** code's TC stays above the sampled one, or
#   rises while the sampled one falls, a strong regulariser decorrelates the noisy sample, not the
#   representation the metrics read. Young models can blur this: a code with few, weak latents has
#   little correlation to show either way, so a mean TC that falls with β is no refutation at this size.
# * DIP-VAE-I penalises the covariance of the means directly, so the paper expects its two TCs to stay
#   close.
# * In the plan's sweep, β = 1 is the same model for β-VAE and β-TCVAE (both objectives are the ELBO
#   there, same seed): the two leftmost points coincide. (For that reason the zoo's seeds hold β-TCVAE
#   at β = 6 only: its β = 1 is the VAE.)

# %% [markdown]
# ## 3 · Key result 2: do the metrics agree?
#
# Notebook 08 showed on constructed codes that each metric measures something different. Over trained
# models, the question is whether they *rank* the models alike: the Spearman rank correlation between
# every pair of scores over all models (Locatello et al.'s Figure 2).
#
# > **The paper** (Section 5.2): on dSprites all metrics except Modularity are correlated — mildly for
# > most pairs, strongly for MIG with DCI Disentanglement (and the BetaVAE with the FactorVAE score).

# %%
rho = metric_correlation(results)
plot_rank_correlation(rho, title="Key result 2: Spearman ρ between the metrics over all models")
plt.show()
display(Markdown(notice(strongest(rho, count=len(rho) ** 2),
                        heading=f"**This run** ({len(results)} models, `{P.name}`), pairs by |ρ|, strongest first:")))

# %% [markdown]
# **What to notice.** *(The list above is this run's.)*
# * In the paper MIG, SAP and DCI rank the models alike to a degree, MIG and DCI strongly, and
#   Modularity is the odd one out. Find those pairs in the list: where does Modularity come, and how
#   strong is MIG–DCI here?
# * Over a few dozen models a ρ is uncertain (Exercise 2 computes a 90 % interval): young models
#   whose scores differ by a few hundredths are ranked partly by noise, so a weaker link than the
#   paper's is expected.

# %% [markdown]
# ## 4 · Key result 3: objective, hyperparameter, or seed?
#
# For a score $x$ over the models and a grouping of the models (by objective; by objective and
# hyperparameter value), the share of variance the grouping explains is
#
# $$
# \eta^2 = \frac{\sum_g n_g (\bar x_g - \bar x)^2}{\sum_i (x_i - \bar x)^2},
# $$
#
# and what objective × hyperparameter leaves unexplained is the spread between models that differ
# only by their **random seed**. Beware a small sweep: even a score that ignores the groups entirely
# gets $\eta^2 = (G - 1)/(N - 1)$ on average for $G$ groups of $N$ models (`variance_chance`), which
# is large with few seeds per group — the dotted and dashed lines below.
#
# > **The paper** (Section 5.3, Figures 3–5): "random seeds and hyperparameters seem to matter more
# > than the model choice"; a good run with a bad hyperparameter can beat a bad run with a good one,
# > so no objective reliably yields a disentangled model.

# %%
shares, chance = variance_explained(results), variance_chance(results)
plot_variance_explained(shares, chance)
plt.show()
print(f"chance level: objective {chance['objective']:.2f}, objective x hyperparameter "
      f"{chance['objective x hyperparameter']:.2f}")
lines = [f"{metric}: " + ", ".join(
    f"η² = {value:.2f} by {group} ({'above' if value > chance[group] else 'at or below'} chance)"
    for group, value in row.items()) for metric, row in shares.dropna().iterrows()]
if "mig.score" in results:  # the paper's "a good run with a bad hyperparameter can beat a bad run with a good one"
    pairs, by_seed = setting_overlaps(results, "mig.score"), seed_spread(results, "mig.score")
    method, value = by_seed["range"].idxmax()
    lines.append(f"MIG, setting against setting: in {pairs['overlap'].sum()} of {len(pairs)} pairs a seed of the "
                 "setting with the lower median beats a seed of the other; one setting's seeds span up to "
                 f"{by_seed['range'].max():.2f} ({method} {value:g}), the median "
                 f"gap between two settings is {pairs['gap'].median():.2f}")
display(Markdown(notice(lines, heading=f"**This run** ({len(results)} models, `{P.name}`):")))
shares.round(2)

# %%
plot_by_method(results, [c for c in ("mig.score", "dci.disentanglement", "modularity.modularity") if c in results])
plt.show()

# %% [markdown]
# **What to notice.**
# * Compare each bar with the chance lines; the lines above give each metric's verdict. A metric at or
#   below chance is moved by the seed, not by the objective or its value.
# * η² is a share of the variance, so one or two objectives far from the rest can give the objective a
#   large share while the others are indistinguishable. In the strip plot, find which objectives carry
#   it, and whether the seeds of one setting lie further apart than two settings.
# * The paper's claim is about pairs of runs: a good run with a bad hyperparameter can beat a bad run
#   with a good one. The last line above counts the pairs of settings where that happened here. Even
#   where the objective explains most of the variance, a wide seed range means that one training run
#   of the better objective can still come out worse than a typical run of the other.

# %% [markdown]
# ## 5 · Key result 4: choosing models without labels
#
# A practitioner has no factors: to pick a model, only **unsupervised** scores are available. The
# paper tried the usual ones (the ELBO, the reconstruction, the Gaussian TC of the sampled and the
# mean code). **UDR** (Duan et al. 2020) is a later answer built on an observation: models that
# disentangle agree with each other up to permutation and sign of the latents, while entangled ones
# each find their own rotation. For every pair of models $i, j$ trained with the same objective and
# hyperparameter but different seeds, a Lasso regression of $j$'s standardised mean code on $i$'s
# gives a similarity matrix $R$ (informative latents only), scored by
#
# $$
# S(R) = \tfrac12\Big[\tfrac1{D_j} \sum_b \frac{\max_a R_{ab}^2}{\sum_a |R_{ab}|}
# + \tfrac1{D_i} \sum_a \frac{\max_b R_{ab}^2}{\sum_b |R_{ab}|}\Big] \in [0, 1],
# $$
#
# 1 for a signed permutation; a model's UDR is the median of its similarities to the others
# (`course_lib.metrics.udr`; `kit.study.add_udr_flavours` loads each run and compares it with the other
# seeds of its group on the same 1,000 images, with Lasso and with Spearman similarities). With two seeds per group (the plan's sweep at `lecture`), both models
# of a group get (nearly) the same UDR: it can rank hyperparameters, not seeds; with five (the zoo's
# seeds) each model's median similarity is its own.
#
# > **The paper** (Section 5.4, Figure 7 and Table 3): the unsupervised scores it tried do not reliably
# > pick models that the metrics rate well, and choosing a hyperparameter by its score on another run
# > does not reliably give a good model. **Duan et al.** report that UDR, unlike those scores,
# > correlates well with the supervised metrics.
#
# Signs: a good selector has ρ > 0 for the ELBO and UDR (higher is better) and ρ < 0 for the TCs
# (lower is better).

# %%
unsupervised = [c for c in ("elbo", "tc_sampled", "tc_mean", "udr") if results[c].notna().sum() > 2]
agreement = score_agreement(results, unsupervised=unsupervised).rename(index=column_label)
plot_rank_correlation(agreement, title="Key result 4: Spearman ρ, unsupervised score (rows) vs metric",
                      row_label="unsupervised score")
plt.show()
key_metric = "dci.disentanglement" if "dci.disentanglement" in results else "mig.score"
plot_scores_against(results, unsupervised, key_metric)
plt.show()
udr = results["udr"]
udr_range = [f"UDR from {udr.min():.2f} to {udr.max():.2f}"] if udr.notna().any() else []
display(Markdown(notice(strongest(agreement, count=4) + udr_range,
                        heading=f"**This run** ({len(results)} models, `{P.name}`), strongest agreements (unsupervised score – metric):")))

# %% [markdown]
# **Transfer across seeds.** For each objective, pick the value that scored best on one seed and look
# at how it does on another (`hyperparameter_transfer`, all ordered seed pairs): `agreement` is how
# often both seeds prefer the same value, `regret` how far the transferred value falls short of the
# other seed's best, `random_regret` the same for a value picked at random.

# %%
metric_columns = [c for c in ("mig.score", "sap.score", "dci.disentanglement", "modularity.modularity") if c in results]
transfer = pd.concat({column_label(c): hyperparameter_transfer(results, c) for c in metric_columns})
transfer.round(3)

# %% [markdown]
# **What to notice.** *(The strongest agreements and the UDR range are printed under the figures, the
# transfer table above.)*
# * A reliable selector would agree with the metrics with the right sign (the signs are above) and with
#   every metric, not one. Check whether any unsupervised score does; the ELBO often points the wrong
#   way, because the better-fitting, less regularised models tend to score lower on the metrics.
# * With few seeds per group (two in the plan, five in the zoo's table) UDR ranks groups more than
#   models, and young models share few latents to agree on (Duan et al.'s disentangled models reach
#   UDR 0.5 and more): compare the printed UDR range.
# * Transfer across seeds: read `agreement` and compare `regret` with `random_regret` in the table
#   (`num_seed_pairs` says how many seed pairs each row averages; only objectives with two or more values
#   appear). With few seeds each row is a handful of coin flips, so a transferred value can do worse
#   than a random one; the paper's key result 4 finds transfer unreliable at scale too.

# %% [markdown]
# ## 6 · Key result 5: disentanglement and downstream sample efficiency
#
# One promise of disentangled representations is that simple predictors need **few labels** on top
# of them. The `downstream` metric trains, per factor, a logistic regression (LR, its penalty chosen by
# 5-fold cross-validation, as in the paper's code) and gradient-boosted trees (GBT) on the first 100
# training codes and on all of them, and reports the test accuracy
# averaged over factors and the **efficiency** = accuracy at 100 / accuracy at all (the study: 100 vs
# 10,000; `lecture`: 100 vs 5,000).
#
# > **The paper** (Section 5.5, Figures 9–10): the metrics correlate with downstream *accuracy* on
# > dSprites (less so, or not at all, on other data sets), but **not** with sample *efficiency*:
# > "increased disentanglement does not seem to lead to a decreased sample complexity of learning for
# > downstream tasks".

# %%
downstream = score_agreement(results, unsupervised=downstream_columns(results)).rename(index=column_label)
plot_rank_correlation(downstream.T, title="Key result 5: Spearman ρ, metric (rows) vs downstream accuracy / efficiency",
                      col_label="downstream task")
plt.show()
plot_scores_against(results, [c for c in metric_columns if c != "sap.score"][:3],
                    [c for c in downstream_columns(results) if c.endswith("efficiency")][-1])
plt.show()
display(Markdown(notice(strongest(downstream.T, count=5),
                        heading=f"**This run** ({len(results)} models, `{P.name}`), strongest correlations (metric – downstream task):")))

# %% [markdown]
# **What to notice.** *(This run's strongest correlations are printed above, all of them in the matrix.)*
# * A metric can correlate *negatively* with accuracy on many samples: the high-scoring models are often
#   the strongly regularised ones, which keep less information. Look for such signs in the matrix.
# * Efficiency is a ratio, accuracy at 100 over accuracy at all samples, and it rises when the
#   denominator falls. Before reading a metric–efficiency correlation as "disentanglement buys sample
#   efficiency", check in the matrix whether the same metric correlates with accuracy at 100 (a real
#   gain) or negatively with accuracy at all samples (a worse model, not a more efficient one). The
#   paper found no evidence of the gain.

# %% [markdown]
# ## 7 · Scale: more steps, a wider network
#
# In much of deep learning, more training and bigger networks help. Does the same hold for
# disentanglement, or is it set by the objective's inductive bias whatever the scale? The scale
# study trains β-VAE at one β of the sweep (β = `plan.scale_value`) for a quarter, a half and all of
# the sweep's steps with the study's network, and at half the steps with every channel and hidden
# layer `width` times wider (`TrainConfig.width`; width 2 has about 4 times the parameters and
# costs about 2.3 times the time per step on a CPU). Every point has the same seeds.
#
# > **The question** (the course's scale report): does disentanglement improve with scale? The paper
# > does not vary it — every model has 300,000 steps and the same network — so there is no claim to
# > confirm, only numbers to report.

# %%
scale_columns = [c for c in ("mig.score", "dci.disentanglement", "modularity.modularity", "elbo", "num_active")
                 if c in scale]
plot_scale(scale, "steps", scale_columns, {"width": 1})
plt.suptitle(f"β-VAE (β = {plan.scale_value:g}) against training steps (width 1)")
plt.show()
WIDTH_STEPS = plan.scale_sweeps[1].steps
plot_scale(scale, "width", scale_columns, {"steps": WIDTH_STEPS})
plt.suptitle(f"β-VAE (β = {plan.scale_value:g}) against network width ({WIDTH_STEPS:,} steps)")
plt.show()
medians = scale.groupby(["width", "steps"])[scale_columns].median().rename(columns=column_label)
rows = [f"width {w}, {n:,} steps: " + ", ".join(f"{c} {v:.0f}" if abs(v) >= 10 or float(v).is_integer()
                                                else f"{c} {v:.3f}" for c, v in row.items())
        for (w, n), row in medians.iterrows()]
display(Markdown(notice(rows, heading=f"**This run** (`{P.name}`), medians over seeds:")))
scale.groupby(["width", "steps"])[scale_columns].agg(["median", "min", "max"]).rename(columns=column_label).round(3)

# %% [markdown]
# **What to notice.** *(This run's medians are printed above, the spread over seeds in the table.)*
# * **Steps.** Compare the ELBO and the number of active latents with the metrics as the steps grow:
#   the first quarter of training can end in posterior collapse (no active latent), and a collapsed
#   model can still score DCI and Modularity well above zero — these scores are not zero for a code
#   that carries almost nothing. Compare every change of a metric with the min–max spread of its seeds.
# * **Width.** Does the wider network fit better (a higher ELBO)? Does its MIG or DCI move by more
#   than the seeds' spread?
# * If steps and parameters buy reconstruction but not disentanglement beyond the seed spread, that is
#   this scale's answer; whether it holds at 300,000 steps is the `full` profile's question (the paper
#   does not vary scale, so there is nothing to confirm).

# %% [markdown]
# **The zoo's seeds, trained on.** The plan's scale study trains for at most the sweep's steps (`lecture`:
# 1,000). The seed tables of `data/pretrained/seeds/` hold the zoo's compared models over several seeds
# at more than one age, and an
# older table continued the younger one's runs (`training.extend_younger_run`, the same model as one
# uninterrupted run). So a seed at two ages is one model trained on, and `age_change` pairs the two: the
# change of a seed is training's alone, while the spread of the seeds at one age is the seed's effect.

# %%
by_age = every_shipped_seed_result()
if by_age is None or by_age["steps"].nunique() < 2:
    print("fewer than two ages of the seed table are shipped: nothing to compare")
else:
    plot_ages(by_age, "mig.score")
    plt.show()
    changes = age_change(by_age, "mig.score")
    rows = [f"{row.method} {row.value:g}: MIG {row.median_young:.3f} → {row.median_old:.3f} (medians), "
            f"{row.rose} of {row.paired_seeds} seeds rose; "
            f"{'beyond' if row.beyond_seed_range else 'within'} the younger seeds' range"
            for row in changes.itertuples()]
    display(Markdown(notice(rows, heading=f"**The shipped seed tables**, {changes['young'].min():,} → "
                                          f"{changes['old'].max():,} steps, by setting:")))
    display(pd.concat({column_label(column): age_change(by_age, column).set_index(["method", "value"])
                       [["median_young", "median_old", "median_change", "rose", "paired_seeds"]]
                       for column in ("mig.score", "dci.disentanglement", "elbo", "num_active")}, axis=1).round(3))

# %% [markdown]
# **What to notice.** *(The lines above are this checkout's tables.)*
# * Which settings gain MIG by more than their own seeds' spread, and which stay where they were? A
#   setting whose seeds all rise together learns something with time that its objective asks for.
# * Does the ELBO rise for every setting while MIG does not? Reconstruction keeps improving with steps;
#   disentanglement need not.
# * The seed that is worst at the younger age: is it still the worst at the older? If the order of the
#   seeds survives training, the seed's effect is set early, and a longer run does not wash it out.

# %% [markdown]
# ## Exercises
#
# ### Exercise 1
#
# Section 5 asked whether unsupervised scores rank *all* models like the metrics. A practitioner who
# has already chosen an objective only needs to rank models **within** it. Compute the Spearman
# correlation between the ELBO (and UDR) and DCI Disentanglement (or MIG) separately for each
# objective. Is the ELBO a better selector within an objective than across objectives? How much do
# you trust a correlation over six models?

# %% tags=["solution"]
within = {method: score_agreement(rows, unsupervised=["elbo", "udr"], supervised=[key_metric]).iloc[:, 0]
          for method, rows in results.groupby("method") if len(rows) > 3}
pd.DataFrame(within).T.round(2)

# %% [markdown] tags=["solution"]
# Within an objective the ELBO mostly tracks the hyperparameter: a larger β (or TC or covariance
# weight) lowers the ELBO, so the ELBO's ranking is largely the ranking by regularisation strength,
# and whether it agrees with a metric depends on whether that metric rises or falls with the
# regulariser. Over the few models of one objective here (the plan's: three values × two seeds; the
# zoo's seeds: up to three values × five seeds) a Spearman ρ has a wide sampling spread (Exercise 2
# asks how large |ρ| must be before it differs from 0 at the 5 % level). Locatello et al. drew their
# conclusion from 300 models per objective per data set.

# %% [markdown]
# ### Exercise 2
#
# How uncertain is a rank correlation between two metrics over this sweep's models? Resample the
# models with replacement (a bootstrap, 1,000 times) and report a 90 % interval for the Spearman ρ
# between MIG and the other metrics. Which conclusions of Section 3 survive?

# %% tags=["solution"]
table = results[results["status"] == "ok"]
others = [c for c in metric_columns if c != "mig.score"]
draws = pd.DataFrame([table.sample(len(table), replace=True, random_state=random_state)[["mig.score", *others]]
                      .corr("spearman").loc["mig.score", others] for _ in range(1000)])
pd.DataFrame({"ρ (all models)": table[["mig.score", *others]].corr("spearman").loc["mig.score", others],
              "5 %": draws.quantile(0.05), "95 %": draws.quantile(0.95)}).rename(index=column_label).round(2)

# %% [markdown] tags=["solution"]
# Over a few dozen models the 90 % intervals are wide (the table gives this run's): a pair of metrics whose
# interval lies well above 0 is correlated, one whose interval straddles 0 may be uncorrelated. This is why
# the paper trained 50 seeds per setting — and why a miniature study should quote intervals, not
# point values, before it claims to confirm or contradict a large one.

# %% [markdown]
# ### Exercise 3
#
# disentanglement_lib offers two flavours of UDR: Lasso similarities (UDR$_L$, the default above) and
# Spearman correlations (UDR$_S$). Recompute UDR with `correlation="spearman"` and compare the two
# scores' agreement with the metrics. Why does UDR$_L$ of a perfect signed permutation come out as 0.9
# rather than 1 (see `tests/test_udr.py`)?

# %% tags=["solution"]
# every table here carries both flavours (`kit.study.add_udr_flavours`); on run folders of your own,
# add_udr(results, num_points=1_000, correlation="spearman")["udr"] computes UDR_S
both = results.assign(udr_s=results["udr_spearman"])
print(f"Spearman ρ between UDR_L and UDR_S over the models: {both[['udr', 'udr_s']].corr('spearman').iloc[0, 1]:.2f}")
score_agreement(both, unsupervised=["udr", "udr_s"], supervised=metric_columns).round(2)

# %% [markdown] tags=["solution"]
# The two flavours rank the groups similarly when the models' latents either match cleanly or not at
# all; they differ for partial matches, where Lasso's sparsity zeroes weak links that Spearman keeps.
# Lasso with $\alpha = 0.1$ on standardised codes shrinks every coefficient by 0.1, so a perfect
# match scores $0.9^2/0.9 = 0.9$: UDR$_L$ is capped below 1, and only the ranking matters for
# selection.

# %% [markdown]
# ### Exercise 4
#
# Section 4 counted, for MIG, the pairs of settings where a seed of the setting with the lower median
# beats a seed of the other (`setting_overlaps`). Count them for every metric, beside each metric's
# share of overlapping pairs and its η² by objective × hyperparameter. Which metric separates the
# settings most reliably here, and do the two measures agree?

# %% tags=["solution"]
pd.DataFrame({column_label(column): {"overlapping pairs": setting_overlaps(results, column)["overlap"].mean(),
                                     "η² (objective x hyperparameter)": shares.loc[column_label(column),
                                                                                    "objective x hyperparameter"]}
              for column in metric_columns}).T.round(2)

# %% [markdown] tags=["solution"]
# The two measures ask different questions. η² compares the spread between settings with the spread
# within them over all models at once, so two or three settings far from the rest can give it a large
# value; the share of overlapping pairs asks, setting against setting, whether the ranges of their
# seeds are apart, so it counts every close pair. A metric high on η² and low on overlaps separates
# the settings well in both senses; read the table for which one does here. With five seeds a pair's
# range is set by its single best and worst run, so one unlucky seed can make a pair overlap.

# %% [markdown]
# ### Exercise 5
#
# Section 7 asked whether the seed that is worst at the younger age is still the worst at the older.
# For every setting in both shipped seed tables, compute the Spearman ρ between its seeds' MIG at the
# younger and at the older age. With five seeds, how likely is a ρ this large by chance (enumerate the
# 120 orders of five seeds)? What does the answer say about stopping the bad seeds of a sweep early?

# %% tags=["solution"]
import itertools

from scipy.stats import spearmanr

if by_age is None or by_age["steps"].nunique() < 2:
    print("fewer than two ages of the seed table are shipped")
else:
    ages = sorted(by_age["steps"].unique())
    both = (by_age[by_age["status"] == "ok"].assign(value=by_age["value"].fillna(0))
            .pivot_table(index=["method", "value", "seed"], columns="steps", values="mig.score")[[ages[0], ages[-1]]]
            .dropna())
    order = both.groupby(level=["method", "value"]).apply(lambda seeds: spearmanr(seeds[ages[0]], seeds[ages[-1]])[0])
    chance = pd.Series([spearmanr(range(5), shuffled)[0] for shuffled in itertools.permutations(range(5))])
    display(order.rename(f"Spearman ρ, MIG of the seeds at {ages[0]:,} and {ages[-1]:,} steps").round(2).to_frame())
    print(f"five seeds in a random order: P(ρ ≥ 0.9) = {(chance >= 0.9 - 1e-9).mean():.3f}, "
          f"P(ρ = 1) = {(chance >= 1 - 1e-9).mean():.3f}; settings here with ρ ≥ 0.9: {(order >= 0.9 - 1e-9).sum()} "
          f"of {len(order)}")

# %% [markdown] tags=["solution"]
# Only ρ ≥ 0.9 (the same order, or one neighbouring pair swapped) is rarer than 5 % for five seeds in a
# random order, so a single setting's ρ says little; many settings at ρ ≥ 0.9 together say a lot. Where
# the seeds keep their order, the seed's effect (initialisation and data order) is set early in
# training, and a longer run does not wash it out: the bad seeds of a sweep could be spotted, and
# stopped, well before its last step. Where the order reshuffles, early stopping would discard seeds
# that later catch up. The paper trained every model for 300,000 steps and did not ask; with a
# GPU, tables at more ages (`zoo --seed-results 5 --steps S`) would show when the order settles.

# %% [markdown]
# ## Summary
#
# * A sweep is a grid of independent jobs; `run_sweep` sends them to Dask (a local cluster or any
#   running one) and skips finished ones, so the same notebook runs a 2-core miniature and the
#   paper-sized study on a cluster.
# * Key result 1: decorrelating the sampled code does not reliably decorrelate the mean code (the
#   paper; Section 2 shows this run's TCs); DIP-VAE-I, which acts on the means, aims to keep the two close.
# * Key results 2–3: the metrics only partly agree, and a seed can move a score past the gap between
#   two settings (Section 4 counts the pairs of settings where it did) — measure the spread before
#   comparing methods.
# * Key result 4: unsupervised scores are weak guides to disentanglement; UDR compares seeds and is
#   the best-motivated of them, but needs several seeds per setting.
# * Key result 5: accuracy and sample efficiency of downstream predictors are different questions.
# * Scale: report the numbers beside the seeds' spread; whether more steps and a wider network buy
#   disentanglement or only reconstruction is what Section 7 measures.
#
# ## References
#
# * F. Locatello, S. Bauer, M. Lucic, G. Rätsch, S. Gelly, B. Schölkopf, O. Bachem. *Challenging
#   Common Assumptions in the Unsupervised Learning of Disentangled Representations.* ICML 2019.
# * S. Duan, L. Matthey, A. Saraiva, N. Watters, C. Burgess, A. Lerchner, I. Higgins. *Unsupervised
#   Model Selection for Variational Disentangled Representation Learning.* ICLR 2020.
# * I. Higgins, L. Matthey, A. Pal, C. Burgess, X. Glorot, M. Botvinick, S. Mohamed, A. Lerchner.
#   *β-VAE: Learning Basic Visual Concepts with a Constrained Variational Framework.* ICLR 2017.
# * R. T. Q. Chen, X. Li, R. Grosse, D. Duvenaud. *Isolating Sources of Disentanglement in VAEs.*
#   NeurIPS 2018.
# * A. Kumar, P. Sattigeri, A. Balakrishnan. *Variational Inference of Disentangled Latent Concepts
#   from Unlabeled Observations.* ICLR 2018.
# * H. Kim, A. Mnih. *Disentangling by Factorising.* ICML 2018.
# * C. Eastwood, C. K. I. Williams. *A Framework for the Quantitative Evaluation of Disentangled
#   Representations.* ICLR 2018.
# * K. Ridgeway, M. C. Mozer. *Learning Deep Disentangled Embeddings with the F-Statistic Loss.*
#   NeurIPS 2018.
# * M. Rocklin. *Dask: Parallel Computation with Blocked Algorithms and Task Scheduling.* SciPy 2015.
