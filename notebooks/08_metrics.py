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
# # 08 · Measuring disentanglement: six metrics
#
# Notebooks 02–06 trained models that are *supposed* to be disentangled. How would we know? With
# the ground-truth factors in hand, several groups proposed a number that says how disentangled a
# representation is — and each number answers a slightly different question. Locatello et al.
# (2019) computed six of them on 12,000 models. In this notebook you will
#
# * meet the six: the **BetaVAE** score (Higgins et al. 2017), the **FactorVAE** score (Kim & Mnih
#   2018), the **Mutual Information Gap** (Chen et al. 2018), **SAP** (Kumar et al. 2018),
#   **DCI** (Eastwood & Williams 2018) and **Modularity/Explicitness** (Ridgeway & Mozer 2018) —
#   for each the question it asks, its equation, the code, and a figure of its inner workings;
# * score a **family of representations built by hand**, whose right answer we know: perfect,
#   rotated, partially mixed, with noise dimensions, with a factor split over two dimensions,
#   duplicated, with a factor missing, and pure noise;
# * find each metric's **failure modes** on that family;
# * ask whether the metrics **agree** — over the family and over the models trained in notebooks
#   02–06 (Locatello et al.'s Figure 2 in miniature).
#
# The known-answer experiments take seconds and are meaningful at every profile. The trained models
# are the ones notebooks 02–06 train, with the same configurations (`course_lib.kit.lecture_models`),
# obtained through `train_or_load_all`: at `lecture` (and at `full`) they are installed from the pretrained zoo
# (nothing is trained, and 02–06 need not have run; `full`'s six-value sweeps train the values the zoo lacks, packed
# into one network on a GPU), at `smoke` they train in seconds. They are meaningful from `lecture` on.
#
# **Time** (measured with `python -m course_lib notebooks --only 08_metrics` on a 2-core CPU shared
# with other jobs; the index that `make report` writes shows yours): `smoke` 62 s; `lecture` 5
# minutes (measured with an empty runs cache: its 12 models installed from the pretrained zoo, none
# trained).

# %% tags=["parameters"]
profile = None  # smoke | lecture | full; None reads $COURSE_PROFILE (default lecture)
device = "auto"
seed = 0

# %%
import itertools
import time

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import Markdown, display

from course_lib.data import DSprites, FactorGrid
from course_lib.data import dsprites_render as render
from course_lib.lab.setup import notebook_setup
from course_lib.lab.notice import notice, span, trend
from course_lib.analysis.sweep_results import seed_spread
from course_lib.kit.lecture_models import lecture_models, select
from course_lib.kit.seeds import seed_rows
from course_lib.lab.metric_comparison import (SubGrid, evaluate_many, factor_vae_vote_matrix, plot_matrix,
                                              plot_rank_correlation, plot_score_table)
from course_lib.metrics.scores import DISENTANGLEMENT_SCORES, rank_correlation
from course_lib.metrics import (beta_vae_score, dci, discrete_entropy, discrete_mutual_information,
                                factor_vae_score, histogram_discretize, mig, modularity_explicitness,
                                sample_factor_codes, sap)
from course_lib.metrics.beta_vae import beta_vae_points
from course_lib.metrics.constructed import constructed_representations
from course_lib.metrics.dci import completeness, disentanglement, importance_matrix
from course_lib.metrics.modularity import modularity
from course_lib.metrics.sap import sap_score_matrix
from course_lib.representation import mean_code_function
from course_lib.kit.runs import train_or_load_all

P, DEVICE, random_state = notebook_setup(profile, device, seed)
NUM_TRAIN = min(10_000, P.num_samples // 2)  # the study: 10,000 training draws (or points, or votes) ...
NUM_TEST = NUM_TRAIN // 2  # ... and 5,000 test draws
# Trained models encode every image of their grid once. On a CPU the whole dSprites grid (737,280
# images, minutes per model) is replaced by every n-th value of each factor; `full` uses all of it.
MODEL_GRID_STEPS = {"smoke": (1, 2, 8, 8, 8), "lecture": (1, 1, 4, 4, 4), "full": None}[P.name]
MAX_MODELS = {"smoke": 4, "lecture": 12, "full": None}[P.name]
print(f"metrics: {NUM_TRAIN:,} training and {NUM_TEST:,} test draws; "
      f"trained models on the grid steps {MODEL_GRID_STEPS} (None: every image)")

# %% [markdown]
# ## 1 · A laboratory with known answers
#
# A metric is a function of a representation $c(x)$ and the ground-truth factors $y$. To test it we
# need representations whose verdict we know — so we skip images altogether. `FactorGrid` is a
# ground-truth dataset with dSprites' factor sizes (3 shapes, 6 scales, 40 orientations, 32 × 32
# positions) whose observation **is** its factor vector, scaled to $[0, 1]$: $x_k = y_k / (n_k - 1)$.
# Any function of $x$ is then a representation we can write down exactly
# (`constructed_representations`):
#
# | name | code | the right verdict |
# |---|---|---|
# | perfect | $c = x$ | disentangled |
# | rotated | $c = Rx$, $R$ a random rotation | entangled (every dimension mixes every factor) |
# | partially mixed | $c = (I + 0.3\,M)x$ | somewhat entangled |
# | noise dimensions | $c = [x, \varepsilon_1, \varepsilon_2]$ | disentangled, plus two useless dimensions |
# | split factor | one factor as $(\cos\varphi, \sin\varphi)$ | disentangled but not *complete* |
# | duplicated | $c = [x, x]$ | disentangled but redundant |
# | missing factor | $c = x$ without shape | disentangled but incomplete |
# | noise only | $c = \varepsilon$ | nothing |
#
# The split factor is the one with the most values — here **orientation**, an angle anyway — placed
# at $n$ distinct points of the circle, $\varphi = 2\pi\, y_2 / 40$: $\cos\varphi$ confuses $\varphi$
# with $-\varphi$, $\sin\varphi$ confuses it with $\pi - \varphi$, so neither dimension alone
# determines the factor.

# %%
grid = FactorGrid(render.FACTORS_NUM_VALUES, render.FACTOR_NAMES)  # dSprites' factors (3, 6, 40, 32, 32)
K = grid.num_factors
family = constructed_representations(grid.factors_num_values, random_state=seed)
samples = {name: sample_factor_codes(grid, encode, NUM_TRAIN, np.random.RandomState(seed)) +
           sample_factor_codes(grid, encode, NUM_TEST, np.random.RandomState(seed + 1))
           for name, encode in family.items()}  # name -> (codes_train, factors_train, codes_test, factors_test)
SHORT_NAMES = ("shape", "scale", "orient.", "pos x", "pos y")
FACTORS = [f"{name}\n({n})" for name, n in zip(SHORT_NAMES, grid.factors_num_values)]  # axis labels
fig, axes = plt.subplots(2, 4, figsize=(15, 7), layout="constrained")
for ax, (name, (codes, factors, _, _)) in zip(axes.flat, samples.items()):
    correlation = np.abs(np.corrcoef(codes.T, factors.T)[:codes.shape[1], codes.shape[1]:])
    plot_matrix(np.nan_to_num(correlation), ax, f"{name} (D = {codes.shape[1]})", col_labels=FACTORS, vmax=1,
                fmt=".1f", cbar_label="|correlation|")
fig.suptitle("The family: |correlation| between each code dimension and each factor")
plt.show()

# %% [markdown]
# **What to notice.** Correlation sees only linear relations, so it is a first look, not a verdict
# (the figure prints each |correlation|): the split orientation's $\cos\varphi$ is barely correlated with
# the factor although it carries half of it, and $\sin\varphi$ correlates strongly without determining it;
# the rotated code spreads every factor over every dimension, the partially mixed one leaks a little off
# the diagonal, and
# the noise has nothing anywhere. Shape is a
# *categorical* factor coded as 0, ½, 1 — an order the data does not have; every metric below will
# treat factors as classes, never as numbers.

# %% [markdown]
# ## 2 · The BetaVAE score (Higgins et al. 2017)
#
# **Question.** If we hold one factor fixed and let all others vary, can a *linear* classifier tell
# from the code which factor was held fixed?
#
# One training point: draw a factor $k$ uniformly, then $L = 64$ pairs of factor vectors
# $(y^{1}_l, y^{2}_l)$ that agree on factor $k$ and are otherwise independent; encode both images
# of each pair and average the absolute differences,
#
# $$
# z_{\text{diff}} = \frac1L \sum_{l=1}^{L} \big|\, c(x^{1}_l) - c(x^{2}_l) \,\big| \in \mathbb R^D,
# \qquad \text{label } k .
# $$
#
# A dimension that encodes factor $k$ alone has $z_{\text{diff},d} = 0$. A logistic regression
# learns $z_{\text{diff}} \mapsto k$ on 10,000 points; the **score is its accuracy** on 5,000 fresh
# ones. Below: the mean $z_{\text{diff}}$ of each label — the pattern the classifier has to read.

# %%
print("BetaVAE score, perfect:", beta_vae_score(grid, family["perfect"], np.random.RandomState(seed),
                                                 num_train=NUM_TRAIN, num_eval=NUM_TEST, progress=False))
shown = ["perfect", "rotated", "missing factor"]
fig, axes = plt.subplots(1, 3, figsize=(14, 3.6), layout="constrained")
for ax, name in zip(axes, shown):
    points, labels = beta_vae_points(grid, family[name], min(1000, NUM_TEST), np.random.RandomState(seed),
                                     progress=False)
    mean_zdiff = np.stack([points[labels == k].mean(axis=0) for k in range(K)], axis=1)  # (D, K)
    plot_matrix(mean_zdiff, ax, f"{name}: mean z_diff", col_labels=FACTORS, cbar_label="mean |Δc_d|")
    ax.set_xlabel("factor held fixed")
plt.show()

# %% [markdown]
# **What to notice.**
# * Perfect: each column (a fixed factor) has one zero, in the row of "its" dimension — a linear
#   classifier reads the label off the position of the zero. Score 1 (printed above).
# * Rotated: every dimension moves whatever is fixed, but *by different amounts*, and a linear
#   classifier can still separate the five patterns part of the time (how often: Section 9, this run's
#   scores). The score measures whether fixing a factor leaves a **linearly detectable trace**,
#   not whether the code is axis-aligned.
# * Missing factor (shape not encoded): fixing shape changes nothing, so its column has no zero —
#   and *that* is a pattern too, which the classifier can learn as well as the others: nothing forces
#   the score of a code that has lost a factor below that of the perfect code (Section 9). This is the
#   failure mode that motivated the FactorVAE score.

# %% [markdown]
# ## 3 · The FactorVAE score (Kim & Mnih 2018)
#
# **Question.** When one factor is held fixed, is it always the *same single* dimension that stops
# varying?
#
# Normalise each dimension by its standard deviation over the data, $s_d$ (dimensions with
# $s_d < 0.05$ are "collapsed" and dropped). One vote: fix factor $k$ at one value for a batch of
# $L = 64$ images, let everything else vary, and vote for the dimension of least relative variance,
#
# $$
# d^* = \arg\min_{d\ \text{active}} \frac{\widehat{\mathrm{Var}}_{l \le L}\,[c_d(x_l)]}{s_d^2},
# \qquad \text{vote } (d^*, k).
# $$
#
# With $V_{dk}$ the vote counts, the classifier is a **majority vote**: dimension $d$ predicts
# $\hat k(d) = \arg\max_k V_{dk}$, and the score is its accuracy on fresh votes,
# $\sum_d V_{d\hat k(d)} / \sum_{d,k} V_{dk}$. Below: the vote matrices $V$.

# %%
print("FactorVAE score, perfect:", factor_vae_score(grid, family["perfect"], np.random.RandomState(seed),
                                                     num_train=NUM_TRAIN, num_eval=NUM_TEST, progress=False))
fig, axes = plt.subplots(1, 3, figsize=(14, 3.6), layout="constrained")
for ax, name in zip(axes, shown):
    votes = factor_vae_vote_matrix(grid, family[name], NUM_TEST, np.random.RandomState(seed))
    accuracy = votes.max(axis=1).sum() / votes.sum()
    plot_matrix(votes, ax, f"{name}: votes (majority accuracy {accuracy:.2f})", col_labels=FACTORS, fmt=".0f",
                cbar_label="votes")
    ax.set_xlabel("factor held fixed")
plt.show()

# %% [markdown]
# **What to notice.** (The accuracies in the titles are on the votes themselves, the score's
# *training* accuracy; the scores quoted are the evaluation accuracies of Section 8.)
# * Perfect: a diagonal; every vote goes to the right dimension.
# * Rotated: a dimension receives votes from several factors; the majority vote gets only part of
#   them right (Section 9 compares this run's FactorVAE and BetaVAE scores of the rotated code).
# * Missing factor: fixing shape leaves no dimension quieter than the others, so its votes land on
#   whichever dimension happens to vary least, and are outvoted there: one vote in five is lost, and
#   the score can reach about 4/5 at most (Section 9 has this run's). The failure of the BetaVAE score
#   is fixed. But the vote looks only at *which*
#   dimension is quietest, so a dimension that also varies a little with other factors is not
#   punished; and the absolute threshold 0.05 makes the score depend on the code's scale
#   (Exercise 2).

# %% [markdown]
# ## 4 · The Mutual Information Gap (Chen et al. 2018)
#
# **Question.** For each factor, is there one dimension that carries much more information about it
# than any other dimension?
#
# $$
# \mathrm{MIG} = \frac1K \sum_{k=1}^{K} \frac{I\big(c_{j_k^{(1)}}; y_k\big) - I\big(c_{j_k^{(2)}}; y_k\big)}{H(y_k)},
# $$
#
# where $j_k^{(1)}, j_k^{(2)}$ are the dimensions with the largest and second-largest mutual
# information with $y_k$. Dividing by $H(y_k)$ puts each gap in $[0, 1]$. As in the study, each
# dimension is cut into **20 equal-width bins** over its range and $I$, $H$ are plug-in estimates in
# nats. MIG needs only one sample of (codes, factors). The whole metric, in three lines:

# %%
codes, factors, _, _ = samples["perfect"]
information = discrete_mutual_information(histogram_discretize(codes, num_bins=20), factors)  # (D, K), nats
top_two = np.sort(information, axis=0)[-2:]
print(f"MIG by hand: {np.mean((top_two[1] - top_two[0]) / discrete_entropy(factors)):.4f}   "
      f"mig(): {mig(codes, factors):.4f}")

fig, axes = plt.subplots(1, 3, figsize=(14, 3.6), layout="constrained")
for ax, name in zip(axes, ["perfect", "rotated", "duplicated"]):
    codes, factors, _, _ = samples[name]
    normalised = discrete_mutual_information(histogram_discretize(codes), factors) / discrete_entropy(factors)
    plot_matrix(normalised, ax, f"{name}: I(c_d; y_k) / H(y_k), MIG = {mig(codes, factors):.2f}",
                col_labels=FACTORS, vmax=1, cbar_label="normalised MI")
plt.show()

# %% [markdown]
# Why is the perfect code's MIG not 1? A factor with $n > 20$ equally likely values squeezed into
# 20 bins keeps at most $\ln 20$ nats of its $\ln n$: the gap is at most $\ln 20 / \ln n$.

# %%
codes, factors, _, _ = samples["perfect"]
information = discrete_mutual_information(histogram_discretize(codes), factors)
sizes = np.array(grid.factors_num_values)
print(pd.DataFrame({"values n": sizes, "ceiling min(1, ln 20 / ln n)": np.minimum(1, np.log(20) / np.log(sizes)),
                    "perfect code: I(c_k; y_k) / H(y_k)": np.diag(information) / discrete_entropy(factors)},
                   index=grid.factor_names).round(3))

# %% [markdown]
# **What to notice.**
# * Perfect: with enough draws the diagonal is 1 for shape and scale, $\ln 20 / \ln 40 \approx 0.81$ for
#   orientation (40 values) and ≈ 0.85 for the positions (32 values): the bin ceiling, so a *perfect*
#   code scores MIG below 1 (the figure's title gives this run's; fewer draws, as at `smoke`, move the
#   estimates and leave MIG further below). The positions stay a little below their ceiling 0.86: 32
#   values in 20 equal-width bins put two values in 12 bins and one in 8, which keeps
#   $\tfrac34 \ln 16 + \tfrac14 \ln 32 \approx 0.85 \ln 32$ nats, less than $\ln 20$.
# * Rotated: every factor's information is spread over several dimensions with no clear winner, and
#   the gap between the best two is small (MIG in the figure's title).
# * Duplicated: the best and second-best dimension are identical, the gap is exactly 0 — MIG calls
#   a perfectly disentangled but redundant code as bad as noise. MIG rewards *compactness* (one
#   dimension per factor) as much as disentanglement.

# %% [markdown]
# ## 5 · SAP, the Separated Attribute Predictability (Kumar et al. 2018)
#
# **Question.** Can each factor be predicted from a single dimension much better than from the
# second-best single dimension?
#
# A score matrix $S_{dk}$ says how well dimension $d$ *alone* predicts factor $k$, and
#
# $$
# \mathrm{SAP} = \frac1K \sum_{k=1}^{K} \big( S_{(1)k} - S_{(2)k} \big),
# $$
#
# the mean gap between the best and second-best entry of each column. For discrete factors (the
# study's setting) $S_{dk}$ is the test accuracy of a **linear SVM** trained on the single feature
# $c_d$ (C = 0.01, balanced classes); for continuous factors it is the squared correlation
# $\mathrm{Cov}(c_d, y_k)^2 / (\mathrm{Var}\,c_d\, \mathrm{Var}\,y_k)$.

# %%
arrays = samples["perfect"]
print(f"SAP, perfect: discrete {sap(*arrays):.3f}, continuous {sap(*arrays, continuous_factors=True):.3f}")
fig, axes = plt.subplots(1, 3, figsize=(14, 3.6), layout="constrained")
sap_matrix, sap_of = {}, {}  # (name, continuous) -> S_dk, SAP
for ax, (name, continuous) in zip(axes, [("perfect", False), ("rotated", False), ("perfect", True)]):
    scores = sap_matrix[name, continuous] = sap_score_matrix(*samples[name], continuous_factors=continuous)
    sap_of[name, continuous] = sap(*samples[name], continuous_factors=continuous)
    plot_matrix(scores, ax, f"{name}, {'squared correlation' if continuous else 'SVM accuracy'}: "
                f"SAP = {sap_of[name, continuous]:.2f}", col_labels=FACTORS, vmax=1, cbar_label="S_dk")
plt.show()

# %%
perfect_scores = sap_matrix["perfect", False]
ranked = np.sort(perfect_scores, axis=0)  # each factor's column, ascending: the best two are the last two rows
gaps = dict(zip(SHORT_NAMES, ranked[-1] - ranked[-2]))
display(Markdown(notice([
    f"The perfect code, discrete mode: shape is predicted from its dimension with accuracy {perfect_scores[0, 0]:.2f} "
    f"(chance 1/3), but for the many-valued factors the best *single-feature linear* classifier reaches only "
    f"{span(ranked[-1, 2:])} (chance 1/40 to 1/32) — a line cut into one-vs-rest decisions cannot pick one of 40 "
    "orientations from one number. The gaps, " + ", ".join(f"{k} {v:.2f}" for k, v in gaps.items())
    + f", average to the perfect code's SAP of {sap_of['perfect', False]:.2f}.",
    f"The same perfect code with continuous scores: SAP = {sap_of['perfect', True]:.2f}. SAP in discrete mode "
    "measures the SVM as much as the code; its values are comparable only between codes of the same dataset.",
    f"Rotated: the best and second-best dimensions are both mediocre, and the gaps leave SAP = "
    f"{sap_of['rotated', False]:.2f}.",
])))

# %% [markdown]
# ## 6 · DCI: Disentanglement, Completeness, Informativeness (Eastwood & Williams 2018)
#
# **Question.** Train a predictor of each factor from the whole code and ask which dimensions it
# relied on. Does each dimension matter for one factor only (**D**), is each factor captured by one
# dimension (**C**), and how accurate are the predictors (**I**)?
#
# One gradient-boosted tree ensemble per factor gives a column of the **importance matrix**
# $R \in \mathbb R_{\ge 0}^{D \times K}$. With $P_{dk} = R_{dk} / \sum_{k'} R_{dk'}$ (each
# dimension's importance spread over factors) and $\tilde P_{dk} = R_{dk} / \sum_{d'} R_{d'k}$,
#
# $$
# D = \sum_d \rho_d \big(1 - H_K(P_{d\cdot})\big), \quad \rho_d = \frac{\sum_k R_{dk}}{\sum_{d,k} R_{dk}};
# \qquad
# C = \sum_k \rho_k \big(1 - H_D(\tilde P_{\cdot k})\big), \quad \rho_k = \frac{\sum_d R_{dk}}{\sum_{d,k} R_{dk}};
# $$
#
# with entropies in base $K$ and $D$, so that each term is in $[0, 1]$; $I$ is the predictors' test
# accuracy. The study's predictor is scikit-learn's `GradientBoostingClassifier`; the kit's default
# is LightGBM with the same trees, in seconds instead of minutes.

# %%
fig, axes = plt.subplots(1, 4, figsize=(17, 3.8), layout="constrained")
dci_of, importance_of = {}, {}  # name -> (D, C, I), name -> importance matrix
for ax, name in zip(axes, ["perfect", "rotated", "split factor", "duplicated"]):
    importances, _, test_accuracy = importance_of[name] = importance_matrix(*samples[name])
    dci_of[name] = D_, C_, I_ = disentanglement(importances), completeness(importances), test_accuracy
    plot_matrix(importances, ax, f"{name}\nD = {D_:.2f}, C = {C_:.2f}, I = {I_:.2f}", col_labels=FACTORS, vmax=1,
                cbar_label="importance")
plt.show()
print("dci(), perfect:", {key: round(value, 3) for key, value in dci(*samples["perfect"]).items()})

# %%
(D_p, C_p, I_p), (D_r, C_r, I_r), (D_s, C_s, I_s), (D_d, C_d, I_d) = dci_of.values()
copies = importance_of["duplicated"][0][K:].sum() / importance_of["duplicated"][0].sum()  # the second copy's share
display(Markdown(notice([
    f"Perfect: a diagonal, D = {D_p:.2f}, C = {C_p:.2f}, I = {I_p:.2f}.",
    f"Rotated: importances everywhere, D = {D_r:.2f} and C = {C_r:.2f} — and I "
    f"{trend(I_p, I_r, 'rises', 'drops', 'stays', 0.01)} to {I_r:.2f}: depth-3 trees split on one axis at a time and "
    "need many splits to read a factor off an oblique direction. DCI's informativeness depends on the predictor's "
    "inductive bias.",
    f"Split factor: the orientation column shares its importance between two dimensions, so C "
    f"{trend(C_p, C_s, 'rises', 'drops', 'stays', 0.01)} to {C_s:.2f} while D is {D_s:.2f}: "
    + ("completeness, not disentanglement, is what the split costs." if C_p - C_s > D_p - D_s else
       "here D pays as much as C."),
    f"Duplicated: the second copy receives {copies:.0%} of the importance and C = {C_d:.2f}: LightGBM's trees pick the "
    "first of two identical features (a deterministic tie-break). The *definition* would give "
    "$1 - \\log_{10} 2 \\approx 0.70$ to a factor shared equally by two of 10 dimensions — Exercise 3 asks what "
    "scikit-learn's trees, which break ties at random, give.",
])))

# %% [markdown]
# ## 7 · Modularity and explicitness (Ridgeway & Mozer 2018)
#
# **Question.** *Modularity*: does each dimension depend on at most one factor? *Explicitness*: can
# every factor be read off the code linearly?
#
# With $m_{dk} = I(c_d; y_k)$ (20 bins, as for MIG) and $\theta_d = \max_k m_{dk}$,
#
# $$
# \text{modularity} = \frac1D \sum_{d=1}^{D} \Big(1 - \delta_d\Big), \qquad
# \delta_d = \frac{\sum_{k \ne k^*_d} m_{dk}^2}{\theta_d^2\,(K-1)} ,
# $$
#
# the deviation of row $d$ from an ideal row with a single non-zero entry. **Explicitness** fits a
# logistic regression from the standardised code to each factor and reports the ROC AUC averaged
# over classes and factors (0.5: chance, 1: perfectly linear). Note what modularity does *not*
# ask: how *much* information a dimension carries. Each row is judged relative to its own maximum.

# %%
codes, factors, _, _ = samples["noise dimensions"]
information = discrete_mutual_information(histogram_discretize(codes), factors)
squared = information ** 2
per_dimension = 1 - (squared.sum(axis=1) - squared.max(axis=1)) / (squared.max(axis=1) * (K - 1))
print(f"modularity by hand: {per_dimension.mean():.4f}   modularity(): {modularity(information):.4f}")
print("modularity_explicitness(), noise dimensions:",
      {key: round(value, 3) for key, value in modularity_explicitness(*samples["noise dimensions"]).items()})
fig, (ax_mi, ax_bar) = plt.subplots(1, 2, figsize=(12, 3.8), layout="constrained", width_ratios=(1.3, 1))
plot_matrix(information, ax_mi, "noise dimensions: I(c_d; y_k) in nats", col_labels=FACTORS, cbar_label="nats")
ax_bar.barh(np.arange(len(per_dimension)), per_dimension, color=["tab:blue"] * K + ["tab:red"] * 2)
ax_bar.set(xlim=(0, 1.05), ylim=(len(per_dimension) - 0.5, -0.5), xlabel="1 − δ_d",
           ylabel="code dimension", title="modularity of each dimension (red: pure noise)")
plt.show()

# %%
display(Markdown(notice([
    f"The five informative dimensions score {span(per_dimension[:K])}. The two noise dimensions carry almost nothing "
    f"(at most {information[K:].max():.3f} nats, the plug-in estimator's bias, largest for the many-valued factors) — "
    f"but modularity divides by the row's own maximum, and their rows score {span(per_dimension[K:])} (the red bars). "
    "So a code made *only* of noise scores well above 0 (Section 9 has this run's, and the rotated code's).",
    "Explicitness reads the whole code and does not care about axes: a rotation keeps everything a linear "
    "classifier can read (Section 9 compares the perfect and the rotated code). It is a measure of "
    "informativeness, like DCI's I.",
])))

# %% [markdown]
# ## 8 · All six metrics over the family
#
# `evaluate` runs any set of the six with the study's protocol (each metric from its own
# `RandomState(seed)`); `evaluate_many` does it for a dictionary of representations and returns
# one row per representation. The first six columns are the six disentanglement scores the study
# compares; DCI's completeness and informativeness and the explicitness follow.

# %%
start = time.perf_counter()
family_table, family_long = evaluate_many(grid, family, random_state=seed, num_train=NUM_TRAIN, num_test=NUM_TEST)
print(f"{len(family)} representations, six metrics each, in {time.perf_counter() - start:.0f} s")
plot_score_table(family_table, title=f"Six metrics over the family ({NUM_TRAIN:,} training draws)")
plt.show()
family_table.round(3)

# %% [markdown]
# ## 9 · Failure modes: what the numbers show
#
# Read the table column by column against the right verdicts of Section 1. Below, each metric's verdicts
# in this run, with the reasons behind them (`smoke` uses so few draws that several of them blur). A
# flawed code "scores as the perfect one" when it comes within 0.02 of the perfect code's score: the
# metric cannot see that flaw.

# %%
T = family_table
at = lambda metric, *names: ", ".join(f"{n} {T.loc[n, metric]:.2f}" for n in names)
FLAWS = ["noise dimensions", "split factor", "duplicated", "missing factor"]  # disentangled, but not perfect


def as_perfect(metric, tol=0.02):  # the flawed codes a metric scores (nearly) as high as the perfect code
    return ", ".join(f"**{n}**" for n in FLAWS if T.loc[n, metric] >= T.loc["perfect", metric] - tol) or "none"


lines = [f"**BetaVAE** ({at('BetaVAE', 'perfect', 'rotated', 'noise only')}; chance is 1/5) scores as the perfect "
         f"code: {as_perfect('BetaVAE')}. Wherever fixing a factor leaves a linear trace, the classifier finds it.",
         f"**FactorVAE** ({at('FactorVAE', 'rotated', 'missing factor')}) is " + trend(
             T.loc["rotated", "BetaVAE"], T.loc["rotated", "FactorVAE"], "more lenient", "stricter", "as strict", 0.02)
         + " on rotation than BetaVAE, and a missing factor caps it near 4/5 (one factor in five has no dimension of "
         f"its own). It scores as the perfect code: {as_perfect('FactorVAE')}.",
         f"**MIG** ({at('MIG', 'perfect', 'split factor', 'duplicated', 'noise only')}) punishes **redundancy**: two "
         "identical dimensions leave a gap of exactly 0, as low as noise. It scores as the perfect code: "
         f"{as_perfect('MIG')}. Its ceiling below 1 for a perfect code comes from the 20 bins ($\\ln 20 / \\ln n$)."]

# %%
order = ["perfect", "partially mixed", "rotated", "noise only"]
ranks = "ranks these four as their verdicts do" if T.loc[order, "DCI D"].is_monotonic_decreasing else \
    "does not rank these four as their verdicts do"
modular = ", ".join(n for n in T.index if T.loc[n, "Modularity"] >= 0.95) or "no code"
trio = lambda name: ", ".join(f"{T.loc[name, c]:.2f}" for c in ("DCI D", "DCI C", "DCI I"))  # D, C, I
lines += [f"**SAP** ({at('SAP', 'perfect', 'partially mixed', 'duplicated')}) stays low even for the perfect code: "
          "single-feature linear SVMs cannot separate 32 or 40 classes. It scores the partially mixed code "
          f"{trend(T.loc['perfect', 'SAP'], T.loc['partially mixed', 'SAP'], 'above', 'below', 'level with', 0.02)} "
          "the perfect one; the duplicated code's gap is 0, as for MIG.",
          f"**DCI D** ({at('DCI D', *order)}) {ranks}; it scores as the perfect code: {as_perfect('DCI D')} "
          f"(duplicates: C {T.loc['duplicated', 'DCI C']:.2f}, LightGBM's tie-break). D, C and I of the missing "
          f"factor: {trio('missing factor')} (perfect: {trio('perfect')}).",
          f"**Modularity** ({at('Modularity', 'partially mixed', 'missing factor', 'rotated', 'noise only')}) scores 0.95 "
          f"or more for {modular}. It never asks how much information there is, and its plug-in MI makes noise look "
          "like a weak, fairly modular code. Explicitness, which reads the whole code: "
          f"{at('Explicitness', 'perfect', 'rotated')}."]
display(Markdown(notice(lines, heading=f"**This run** (`{P.name}`, {NUM_TRAIN:,} training draws):")))

# %% [markdown]
# Every metric misjudges some of the eight codes — blind to a flaw, or harsh on a harmless property —
# and the failures differ: which metric you choose decides which of these representations you call
# disentangled.

# %% [markdown]
# ## 10 · Do the metrics agree? (Locatello et al. 2019, Figure 2 in miniature)
#
# Locatello et al. computed the Spearman **rank correlation** between every pair of metrics over
# their trained models: do two metrics *order* models the same way, regardless of scale? Their
# finding (Figure 2, Noisy-dSprites, and the appendix for the other datasets): **all metrics except
# Modularity appear to be correlated** — BetaVAE with FactorVAE, MIG with DCI Disentanglement most
# strongly — but **how strongly changes from dataset to dataset**. We compute the same matrix over
# our family, and over the models trained by notebooks 02–06.

# %%
family_correlation = rank_correlation(family_table, DISENTANGLEMENT_SCORES)
plot_rank_correlation(family_correlation, title=f"Spearman ρ over the family ({len(family_table)} representations)")
plt.show()

# %% [markdown]
# Now the trained models: those of notebooks 02–06, with the configurations those notebooks use
# (`lecture_models`; at `smoke` an evenly spread `MAX_MODELS` of them), each from `train_or_load_all` —
# the runs cache, else the pretrained zoo (every `lecture` model is in it), else trained here — and
# represented by the mean of $q(z \mid x)$ (as in the study). On a CPU each model encodes a coarser
# dSprites grid (every 4th orientation and position in `lecture`: 3 × 6 × 10 × 8 × 8 = 11,520 images,
# about 8 s per model on 2 cores) instead of all 737,280 images; `full` uses the whole grid.

# %%
models = select(lecture_models(P, seed), MAX_MODELS)
trained = train_or_load_all([m.config for m in models], device=DEVICE, progress=False)  # on a GPU, packed
runs = dict(zip([m.label for m in models], trained))
STEPS = models[0].config.steps  # the models' age: the zoo's at `lecture`, else the profile's train_steps
print(f"{len(runs)} models of {STEPS:,} steps:", *(f"{m.notebook}: {m.label}" for m in models), sep="\n  ")
model_data = DSprites("binary")
if MODEL_GRID_STEPS is not None:
    model_data = SubGrid(model_data, MODEL_GRID_STEPS)
print(f"evaluated on {model_data.factors_num_values} = {np.prod(model_data.factors_num_values):,} images")
start = time.perf_counter()
encoders = {label: mean_code_function(run.model) for label, run in runs.items()}
model_table, model_long = evaluate_many(model_data, encoders, random_state=seed, num_train=NUM_TRAIN,
                                        num_test=NUM_TEST)
print(f"{len(runs)} models encoded and scored in {time.perf_counter() - start:.0f} s")
plot_score_table(model_table, title=f"Trained models of notebooks 02–06 ({STEPS:,} steps)", row_label="model")
plt.show()

# %%
model_correlation = rank_correlation(model_table, DISENTANGLEMENT_SCORES)
fig, axes = plt.subplots(1, 2, figsize=(13, 5.2), layout="constrained")
plot_rank_correlation(family_correlation, axes[0], f"constructed family ({len(family_table)})")
plot_rank_correlation(model_correlation, axes[1], f"trained models ({len(model_table)}, {STEPS:,} steps)")
fig.suptitle("Spearman ρ between the metrics: the constructed family and the trained models")
plt.show()
bound = 1.96 / np.sqrt(len(model_table) - 1)  # the normal approximation to ρ's spread under independence
print(f"with n = {len(model_table)} models, |ρ| below ≈ {bound:.2f} is compatible with no correlation "
      "at the 5 % level" if bound < 1 else f"with n = {len(model_table)} models no ρ is significant at 5 %")

# %% [markdown]
# **What to notice.** *(The trained-model half is meaningful from `lecture` on.)*

# %%
upper = np.triu(np.ones(family_correlation.shape, dtype=bool), 1)  # each pair of metrics once
pairs = family_correlation.where(upper).stack().sort_values()
display(Markdown(
    f"* Over the family ρ runs from {pairs.min():.2f} to {pairs.max():.2f}. The family was built from clear winners "
    "and losers, and any sensible metric ranks perfect above noise; Section 9's disagreements show up in the weakest "
    "links: " + ", ".join(f"{a} with {b} ρ = {v:.2f}" for (a, b), v in pairs.head(3).items()) + ". Change the family "
    "and these numbers change: a rank correlation over hand-picked cases says more about the cases than about the "
    "metrics."))

# %%
alike = [model_correlation.loc[a, b] for a, b in itertools.combinations(["BetaVAE", "FactorVAE", "MIG", "SAP"], 2)]
modularity = model_correlation.loc["Modularity"].drop("Modularity")
best, collapsed = model_table["MIG"].idxmax(), "annealed_vae c_max=10 gamma=1000"
lines = [f"* Over the {len(model_table)} trained models, BetaVAE, FactorVAE, MIG and SAP order them with ρ from "
         f"{pd.Series(alike).min():.2f} to {pd.Series(alike).max():.2f}; Modularity's ρ with the other five runs from "
         f"{modularity.min():.2f} to {modularity.max():.2f}, and DCI D's with MIG is "
         f"{model_correlation.loc['DCI D', 'MIG']:.2f}. Locatello et al. found every metric but Modularity "
         f"correlated. With {len(model_table)} models any |ρ| below {min(bound, 1):.2f} is compatible with no "
         "correlation: read the signs of the large entries, not the digits.",
         f"* The highest MIG is {model_table['MIG'].max():.2f} ({best}), after {STEPS:,} steps (the study trained "
         f"300,000); the models' MIGs span {span(model_table['MIG'])}. The closer together the models score, the more "
         "of their order the metrics' noise and quirks (Section 9) decide."]
plain = next((m.label for m in models if m.config.method == "vae"), None)  # `smoke` may not select it
if plain is not None:
    beaten = [label for label in model_table.index
              if label != plain and model_table.loc[label, "MIG"] <= model_table.loc[plain, "MIG"]]
    dip_i = [label for label in beaten if label.startswith("dip_vae_i ")]
    lines.append(f"* The plain VAE's MIG is {model_table.loc[plain, 'MIG']:.2f}; {len(beaten)} of the other "
                 f"{len(model_table) - 1} models score no higher" + (f" ({', '.join(beaten)})" if beaten else "")
                 + (". DIP-VAE-I among them: its penalty on Cov[μ] is the same for every rotation of a decorrelated "
                    "code, so nothing in it picks the factors' axes (notebook 06, Exercise 2)" if dip_i else "")
                 + ". A regulariser is not a disentangler by name: Locatello et al. found that the hyperparameters "
                   "and the random seed matter more than the choice of objective.")
# the seeds of these models' configurations, from the shipped seed table nearest to their age (where it holds them)
held = [rows for rows in (seed_rows(model.config) for model in models) if rows is not None]
if held:
    seed_age = int(held[0]["steps"].iloc[0])
    by_seed = seed_spread(pd.concat(held), "mig.score")
    (method, value), widest = by_seed["range"].idxmax(), by_seed["range"].max()
    age = "" if seed_age == STEPS else (f", trained {seed_age:,} steps (the shipped table nearest to these models' age, "
                                        f"{STEPS:,} steps; the seeds' spread changes as models train)")
    lines.append(f"* Each model above is one seed. The zoo's seed table (`zoo --seed-results`, scored as notebook 13's "
                 f"study scores, so its MIGs differ a little from this table's) has {by_seed['seeds'].min()} seeds of "
                 f"each of {len(by_seed)} of these configurations{age}: one configuration's MIG moves over its seeds "
                 f"by up to {widest:.2f} ({method} {value:g}) and by {by_seed['range'].median():.2f} in the median. "
                 "Compare that with the gaps between the models above before ranking objectives; notebook 13 "
                 "(Section 4) asks how much of the variance the seed explains.")

# %%
if collapsed in encoders:
    spread_ = encoders[collapsed](model_data.sample(1000, seed)[1]).std(0)
    quiet = int((spread_ < 0.05).sum())  # dimensions the FactorVAE score declares collapsed
    lines.append(f"* The AnnealedVAE with γ = 1000 (notebook 03): the standard deviations of its mean code's "
                 f"{len(spread_)} dimensions are {span(spread_)}, and {quiet} lie below the 0.05 under which the "
                 "FactorVAE score drops a dimension — " + ("Section 3's scale dependence in a real model. "
                 if quiet else "so that failure does not show here. ") + "FactorVAE scores it "
                 f"{model_table.loc[collapsed, 'FactorVAE']:.2f}; Modularity, which judges each dimension against its own "
                 "maximum and never asks how much it carries, scores it "
                 f"{model_table.loc[collapsed, 'Modularity']:.2f} (rank "
                 f"{int(model_table['Modularity'].rank(ascending=False)[collapsed])} of {len(model_table)}).")
display(Markdown("\n".join(lines)))

# %% [markdown]
# ## Exercises
#
# ### Exercise 1
#
# MIG's bin ceiling. Compute the MIG of the perfect code with 10, 20, 40 and 80 bins, and compare
# with the ceiling $\frac1K\sum_k \min(1, \ln b / \ln n_k)$ for $b$ bins. Why does the measured MIG
# not reach 1 even with 80 bins? (Hint: look at the *second*-best dimension.)

# %% tags=["solution"]
codes, factors, _, _ = samples["perfect"]
sizes = np.array(grid.factors_num_values)
rows = []
for bins in (10, 20, 40, 80):
    information = discrete_mutual_information(histogram_discretize(codes, bins), factors)
    second = np.sort(information, axis=0)[-2] / discrete_entropy(factors)
    rows.append({"bins": bins, "MIG": mig(codes, factors, num_bins=bins),
                 "ceiling": np.mean(np.minimum(1, np.log(bins) / np.log(sizes))),
                 "mean second-best I/H": second.mean()})
pd.DataFrame(rows).round(3)

# %% [markdown] tags=["solution"]
# With 10 or 20 bins the measured MIG sits just below the ceiling (the table): the best dimension
# keeps at most $\ln b$ nats of a factor with $n > b$ values, a little less when the bins hold unequal
# numbers of values. From 40 bins on every value has its own bin and the ceiling is 1, but MIG stays
# below it by the last column (the best dimension now keeps everything): what is left is the **second-best**
# dimension's mutual information, which is not 0 but the plug-in estimator's positive bias (about
# $(b-1)(n-1)/(2N)$ nats for $N$ draws): an independent dimension looks slightly informative, most
# so for many bins and many-valued factors. Choosing $b$ trades the ceiling against this bias, and
# the study fixed $b = 20$.

# %% [markdown]
# ### Exercise 2
#
# A disentangled code stays disentangled if we rescale a dimension or apply a monotone function to
# it. Score three transformed versions of the perfect code — $0.01\,x$, $e^{5x}$ and $(2x - 1)^3$ —
# with all six metrics. Which metrics are invariant to these changes, and why do the others move?

# %% tags=["solution"]
transformed = {"perfect": family["perfect"], "0.01 x": lambda x: 0.01 * np.asarray(x, dtype=np.float64),
               "exp(5x)": lambda x: np.exp(5.0 * x), "(2x - 1)^3": lambda x: (2.0 * x - 1) ** 3}
transformed_table, _ = evaluate_many(grid, transformed, random_state=seed, num_train=NUM_TRAIN, num_test=NUM_TEST)
plot_score_table(transformed_table, title="The perfect code, rescaled and warped")
plt.show()

# %% tags=["solution"]
X, ref = transformed_table, transformed_table.loc["perfect"]
moves = lambda metric, name: trend(ref[metric], X.loc[name, metric], "rises", "drops", "stays", 0.01)
display(Markdown(notice([
    f"**DCI D** reads {span(X['DCI D'])} on all four (trees split on thresholds: any monotone map gives the same "
    f"partitions). **MIG** {moves('MIG', '0.01 x')} under rescaling ({X.loc['0.01 x', 'MIG']:.2f}: the bins follow "
    f"the range) and {moves('MIG', 'exp(5x)')} under warping ({X.loc['exp(5x)', 'MIG']:.2f} for $e^{{5x}}$, "
    f"{X.loc['(2x - 1)^3', 'MIG']:.2f} for the cube): equal-width bins over $e^{{5x}}$ crowd most values into the "
    f"first bins. **Modularity** reads {span(X['Modularity'])}: warping changes how much information the bins keep, "
    "not *which* factor a dimension is about.",
    f"**FactorVAE** gives $0.01\\,x$ {X.loc['0.01 x', 'FactorVAE']:.2f}: every dimension's standard deviation "
    "($\\approx 0.003$) is below the absolute threshold 0.05, so all are declared collapsed (Section 10 looks for "
    "the same fate in a trained model).",
    f"**BetaVAE** {moves('BetaVAE', '0.01 x')} to {X.loc['0.01 x', 'BetaVAE']:.2f} for $0.01\\,x$, and **SAP** "
    f"{moves('SAP', '0.01 x')} to {X.loc['0.01 x', 'SAP']:.2f}: both classifiers are regularised (logistic "
    "regression with $C = 1$, SVMs with $C = 0.01$), and differences of size $10^{-3}$ hardly pay for their weights.",
    f"**SAP** {moves('SAP', 'exp(5x)')} under $e^{{5x}}$ (to {X.loc['exp(5x)', 'SAP']:.2f}, from {ref['SAP']:.2f}) "
    f"and {moves('SAP', '(2x - 1)^3')} under the cube ({X.loc['(2x - 1)^3', 'SAP']:.2f}): a single-feature linear "
    f"classifier finds some classes easier, others harder, to cut off on a warped axis. **Explicitness** reads "
    f"{span(X['Explicitness'])}.",
], heading=f"*(This run: `{P.name}`, seed {seed}.)*")))

# %% [markdown]
# ### Exercise 3
#
# DCI's duplicated-code blind spot. Compute the importance matrix of the duplicated code with
# `estimator="lightgbm"` (the kit's default) and `estimator="sklearn"` (the study's), and the
# resulting D and C. Use a coarser `FactorGrid((3, 6, 10, 8, 8))` and a few hundred draws: the
# study's estimator fits one boosting per class and is slow. Which estimator gives the value the
# definition intends?

# %% tags=["solution"]
small_grid = FactorGrid((3, 6, 10, 8, 8), render.FACTOR_NAMES)
duplicated = constructed_representations(small_grid.factors_num_values, random_state=seed)["duplicated"]
num = min(1000, NUM_TRAIN)
arrays = (sample_factor_codes(small_grid, duplicated, num, np.random.RandomState(seed)) +
          sample_factor_codes(small_grid, duplicated, num // 2, np.random.RandomState(seed + 1)))
fig, axes = plt.subplots(1, 2, figsize=(9, 4.2), layout="constrained")
for ax, estimator in zip(axes, ("lightgbm", "sklearn")):
    importances, _, _ = importance_matrix(*arrays, estimator=estimator)
    plot_matrix(importances, ax, f"{estimator}: D = {disentanglement(importances):.2f}, "
                f"C = {completeness(importances):.2f}", col_labels=SHORT_NAMES, vmax=1,
                cbar_label="importance")
plt.show()
print(f"the definition, each factor shared equally by 2 of 10 dimensions: C = 1 - log_10(2) = {1 - np.log10(2):.3f}")

# %% [markdown] tags=["solution"]
# LightGBM breaks ties between identical features deterministically (the first one wins), so the
# copies get no importance and C = 1. scikit-learn's trees consider the features in a random order
# at each split, so the two copies share the importance about equally and C comes out near
# $1 - \log_{10} 2 \approx 0.70$, the value the definition intends. D is 1 for both: each dimension
# still matters for one factor only. A metric is its definition *and* its estimator.

# %% [markdown]
# ## Summary
#
# * **BetaVAE**: can a linear classifier tell the fixed factor from $z_{\text{diff}}$? Blind to a
#   missing factor. **FactorVAE**: does the same single dimension go quiet for the same factor?
#   Sees a missing factor; depends on the code's scale through its 0.05 threshold.
# * **MIG**: the normalised information gap between the best two dimensions per factor. Punishes
#   redundancy and splits; capped by the 20 bins at $\ln 20 / \ln n$. **SAP**: the same gap in
#   single-dimension predictability; in discrete mode it measures a linear SVM on one feature and
#   is small for many-valued factors.
# * **DCI**: importance-based disentanglement, completeness and informativeness; sensible
#   rankings, but what its trees do with ties and oblique directions shows up in the numbers.
#   **Modularity** ignores how much information a dimension carries and scores pure noise well above 0.
# * The metrics agree on clear cases and disagree on hard ones; over trained models, Modularity is
#   the odd one out (Locatello et al. 2019). Report several metrics, and know their failure modes.
#
# **Next:** notebook 09 leaves the supervised metrics for geometry: can the factor structure be
# found from the data manifold alone?
#
# ## References
#
# * I. Higgins, L. Matthey, A. Pal, C. Burgess, X. Glorot, M. Botvinick, S. Mohamed, A. Lerchner.
#   *β-VAE: Learning Basic Visual Concepts with a Constrained Variational Framework.* ICLR 2017.
# * H. Kim, A. Mnih. *Disentangling by Factorising.* ICML 2018.
# * R. T. Q. Chen, X. Li, R. Grosse, D. Duvenaud. *Isolating Sources of Disentanglement in
#   Variational Autoencoders.* NeurIPS 2018.
# * A. Kumar, P. Sattigeri, A. Balakrishnan. *Variational Inference of Disentangled Latent Concepts
#   from Unlabeled Observations.* ICLR 2018.
# * C. Eastwood, C. K. I. Williams. *A Framework for the Quantitative Evaluation of Disentangled
#   Representations.* ICLR 2018.
# * K. Ridgeway, M. C. Mozer. *Learning Deep Disentangled Embeddings With the F-Statistic Loss.*
#   NeurIPS 2018.
# * F. Locatello, S. Bauer, M. Lucic, G. Rätsch, S. Gelly, B. Schölkopf, O. Bachem. *Challenging
#   Common Assumptions in the Unsupervised Learning of Disentangled Representations.* ICML 2019.
