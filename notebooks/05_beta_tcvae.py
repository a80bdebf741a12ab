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
# # 05 · β-TCVAE: decomposing the KL
#
# β-VAE (notebook 02) buys disentanglement by weighting the whole KL term of the ELBO by $\beta > 1$.
# Chen, Li, Grosse & Duvenaud (2018) asked *which part* of that KL does the work. In this notebook
# you will
#
# * derive, step by step, the split of the averaged KL into **index-code mutual information**,
#   **total correlation** (TC) and **dimension-wise KL**;
# * see why each of these needs the **aggregate posterior** $q(z)$, a mixture over the *whole*
#   dataset, and how the **minibatch weighted (MWS)** and **minibatch stratified (MSS)** estimators
#   replace it by a batch — including two slips in the paper and in widely copied code;
# * measure both estimators against a **known answer** on a constructed dataset, and then on the
#   codes of a trained model;
# * train a **β-TCVAE** (penalise only the TC) and watch the three terms during training.
#
# The models have `STEPS` training steps (printed below): at `smoke` 20, meaningless models that
# only prove the code runs; at `lecture` the age of the pretrained zoo's models (`lecture_steps`);
# the paper and Locatello et al. 2019 train for 300,000. Figures about trained models are only
# meaningful from `lecture` on; the constructed experiment of Sections 2–4 is meaningful at every
# profile.
#
# **Time** (measured with `python -m course_lib notebooks --only 05_beta_tcvae` on a 2-core CPU
# shared with other jobs; the index that `make report` writes shows yours): `smoke` 38 s; `lecture`
# minutes — its trained models are loaded from the pretrained zoo (`data/pretrained`), none is
# trained here (not timed end to end).

# %% tags=["parameters"]
profile = None  # smoke | lecture | full; None reads $COURSE_PROFILE (default lecture)
device = "auto"
seed = 0

# %%
import math

import matplotlib.pyplot as plt
import numpy as np
from IPython.display import Markdown, display
import pandas as pd
import torch

from course_lib.data import DSprites
from course_lib.objectives import STUDY_SWEEPS
from course_lib.objectives.beta_tcvae import kl_decomposition, log_importance_weights
from course_lib.distributions import gaussian_log_density
from course_lib.representation import encode, kl_per_latent, latent_traversals
from course_lib.analysis.tc_analysis import (TERMS, correlated_gaussian_posteriors, estimator_study,
                                             exact_kl_decomposition, sample_codes)
from course_lib.lab.analysis_plots import plot_estimator_study
from course_lib.kit.runs import train_or_load
from course_lib.kit.lecture_models import lecture_config, lecture_steps
from course_lib.lab.setup import notebook_setup
from course_lib.lab.notice import notice, span, trend
from course_lib.lab.viz import plot_traversals

P, DEVICE, random_state = notebook_setup(profile, device, seed)
STEPS = lecture_steps(P, seed)  # the steps of this notebook's models (the zoo's age at lecture)
NUM_BATCHES = max(5, P.num_samples // 200)  # repeated minibatches per batch size in the estimator studies
print(f"trained models: {STEPS:,} steps; estimator studies: {NUM_BATCHES} batches per batch size")

# %% [markdown]
# ## 1 · Which part of the KL should we penalise?
#
# A VAE's encoder maps each image $x_n$ to a Gaussian posterior $q(z \mid x_n)$, and the ELBO
# charges it $\mathrm{KL}(q(z \mid x_n) \,\|\, p(z))$ nats for doing so. β-VAE multiplies this
# charge by $\beta$. But the KL pays for two very different things:
#
# * **information about $x$**: a code that tells images apart must move away from the prior — we
#   *want* that, or reconstructions blur;
# * **dependence between latent coordinates**: a code whose coordinates are statistically dependent
#   is what we call entangled — we want to *remove* that.
#
# Penalising both at once is why β-VAE trades reconstruction for disentanglement. Chen et al. split
# the KL so that only the second part gets the extra weight.

# %% [markdown]
# ## 2 · The decomposition, step by step
#
# Treat the data index $n \in \{1, \dots, N\}$ as a random variable with $p(n) = 1/N$, and write
# $q(z \mid n) = q(z \mid x_n)$. Together they define a joint distribution and its marginal, the
# **aggregate posterior**:
#
# $$
# q(z, n) = q(z \mid n)\, p(n), \qquad
# q(z) = \sum_{n=1}^{N} q(z \mid n)\, p(n) = \frac{1}{N} \sum_{n=1}^{N} q(z \mid x_n),
# \qquad q(z_j) = \frac{1}{N} \sum_{n=1}^{N} q(z_j \mid x_n).
# $$
#
# The prior factorises, $p(z) = \prod_j p(z_j)$ with $p(z_j) = \mathcal N(0, 1)$. Start from the
# KL term averaged over the data:
#
# $$
# \mathbb E_{p(n)}\big[\mathrm{KL}(q(z \mid n) \,\|\, p(z))\big]
# = \mathbb E_{q(z, n)}\big[\log q(z \mid n) - \log p(z)\big].
# $$
#
# Add and subtract $\log q(z)$ and $\log \prod_j q(z_j)$ inside the expectation:
#
# $$
# = \mathbb E_{q(z,n)}\Big[\underbrace{\log q(z \mid n) - \log q(z)}_{\text{(i)}}\Big]
# + \mathbb E_{q(z,n)}\Big[\underbrace{\log q(z) - \log \textstyle\prod_j q(z_j)}_{\text{(ii)}}\Big]
# + \mathbb E_{q(z,n)}\Big[\underbrace{\log \textstyle\prod_j q(z_j) - \log \prod_j p(z_j)}_{\text{(iii)}}\Big].
# $$
#
# **(i)** Since $q(z \mid n) = q(z, n) / p(n)$, the integrand is
# $\log \frac{q(z, n)}{q(z)\, p(n)}$: its expectation is the **index-code mutual information**
# $I_q(z; n)$, how much the code tells about *which* image it came from. It is at most
# $H(n) = \log N$.
#
# **(ii)** The integrand depends on $z$ only, so $n$ integrates out and we get
# $\mathbb E_{q(z)}\big[\log q(z) / \prod_j q(z_j)\big] = \mathrm{KL}\big(q(z) \,\|\, \prod_j q(z_j)\big)$,
# the **total correlation** (Watanabe 1960): zero exactly when the coordinates of $z \sim q(z)$
# are independent.
#
# **(iii)** The logarithm of a product is a sum, and $z_j$'s expectation needs only its marginal:
# $\sum_j \mathbb E_{q(z_j)}\big[\log q(z_j) / p(z_j)\big] = \sum_j \mathrm{KL}(q(z_j) \,\|\, p(z_j))$,
# the **dimension-wise KL**: how far each aggregate marginal is from $\mathcal N(0, 1)$.
#
# Altogether
#
# $$
# \boxed{\;\mathbb E_{p(n)}\big[\mathrm{KL}(q(z \mid n) \,\|\, p(z))\big]
# = \underbrace{I_q(z; n)}_{\text{index-code MI}}
# + \underbrace{\mathrm{KL}\big(q(z) \,\|\, \textstyle\prod_j q(z_j)\big)}_{\text{total correlation}}
# + \underbrace{\textstyle\sum_j \mathrm{KL}\big(q(z_j) \,\|\, p(z_j)\big)}_{\text{dimension-wise KL}}\;}
# $$
#
# and all three are non-negative. (Hoffman & Johnson 2016 had already split off the index-code MI
# as "ELBO surgery"; Chen et al. split the remaining marginal KL once more.) β-TCVAE weights them $\alpha, \beta, \gamma$; with
# $\alpha = \gamma = 1$ (the paper's choice and the study's) its loss is
#
# $$
# \mathcal L_{\beta\text{-TC}} = -\mathrm{ELBO} + (\beta - 1)\, \mathrm{TC},
# $$
#
# which is what `course_lib.objectives.beta_tcvae.BetaTCVAE` computes (the KL itself stays analytic).
#
# ### A dataset where everything is computable
#
# The identity holds for any encoder, so we can check it on a "dataset" we make up: $N = 1024$
# Gaussian posteriors in $D = 3$ dimensions, all with standard deviation 0.3, whose means are drawn
# from a Gaussian with correlation 0.8 between every pair of coordinates. With only $N = 1024$
# components, $q(z)$ and every $q(z_j)$ can be evaluated **exactly** as mixtures; only the outer
# expectation is a Monte Carlo average, whose standard error we report (`exact_kl_decomposition`).

# %%
TOY_N, TOY_D = 1024, 3
toy_means, toy_log_vars = correlated_gaussian_posteriors(TOY_N, TOY_D, correlation=0.8, posterior_std=0.3,
                                                         random_state=random_state)
exact = exact_kl_decomposition(toy_means, toy_log_vars, num_samples=20 * TOY_N, random_state=random_state)
check = pd.DataFrame({"nats": [exact[t] for t in TERMS], "Monte Carlo s.e.": [exact[f"{t}_se"] for t in TERMS]},
                     index=list(TERMS))
check.loc["sum of the three"] = [check["nats"].sum(), math.sqrt((check["Monte Carlo s.e."] ** 2).sum())]
check.loc["E[KL(q(z|x) || p(z))], analytic"] = [kl_per_latent(toy_means, toy_log_vars).sum(), 0.0]
print(check.round(4))
print(f"log N = {math.log(TOY_N):.3f} (the largest possible index-code MI)")

# %%
z = sample_codes(toy_means, toy_log_vars, random_state)
z_product = np.column_stack([random_state.permutation(column) for column in z.T])  # a sample of prod_j q(z_j)
fig, axes = plt.subplots(1, 2, figsize=(9, 4.2), sharex=True, sharey=True, layout="constrained")
for ax, codes, name in zip(axes, (z, z_product), ("q(z): the aggregate posterior", "q(z_0) q(z_1) q(z_2)")):
    ax.scatter(codes[:, 0], codes[:, 1], s=3, alpha=0.4)
    ax.set(title=name, xlabel="$z_0$", ylabel="$z_1$", aspect="equal")
fig.suptitle(f"The constructed dataset: TC = KL(left || right) = {exact['total_correlation']:.3f} nats")
plt.show()

# %% [markdown]
# **What to notice.**
# * The three terms add up to the average analytic KL within the Monte Carlo error: the
#   decomposition is an identity, not an approximation.
# * The MI is below $\log N$; the TC is clearly positive, because the posterior means are correlated
#   — the left cloud is a tilted ellipse, the product of its marginals (right, each column shuffled
#   independently, as FactorVAE's `permute_dims` does) is round. The dimension-wise KL is small: each
#   marginal is nearly $\mathcal N(0, 1 + 0.3^2)$, close to the prior.

# %% [markdown]
# ## 3 · Why $q(z)$ needs the whole dataset, and two minibatch estimators
#
# Every term contains $\log q(z)$ or $\log q(z_j)$, and
# $q(z_i) = \frac1N \sum_{n=1}^{N} q(z_i \mid x_n)$ is a sum over **all** $N$ images: for dSprites
# $N = 737{,}280$. Evaluating it exactly at every training step would mean encoding the whole
# dataset for each minibatch. What we have is a batch $x_1, \dots, x_B$ and one sample
# $z_i \sim q(z \mid x_i)$ per image. The estimators use importance weights $w_{ij}$:
#
# $$
# \log q(z_i) \approx \log \sum_{j=1}^{B} w_{ij}\, q(z_i \mid x_j), \qquad
# \log q(z_{ij}) \approx \log \sum_{k=1}^{B} w_{ik}\, q(z_{ij} \mid x_k) .
# $$
#
# The catch is the term $j = i$: $z_i$ was drawn *from* $q(z \mid x_i)$, so $q(z_i \mid x_i)$ is
# typically huge compared with the other $q(z_i \mid x_j)$. In the exact mixture it has weight
# $1/N$; a batch gives it a much larger share.
#
# **Minibatch weighted sampling (MWS).** $w_{ij} = 1/B$: the batch average of the posteriors, which
# is unbiased for $q(z)$ at a point *independent* of the batch. At $z_i$ the own posterior gets
# weight $1/B \gg 1/N$, so $\log q(z_i)$ is overestimated and — since
# $\log \hat q(z_i) \ge \log \frac1B q(z_i \mid x_i)$ — the MI estimate
# $\frac1B\sum_i [\log q(z_i \mid x_i) - \log \hat q(z_i)]$ can never exceed $\log B$.
#
# Chen et al. print the MWS weight as $1/(NB)$ (their estimator contains $-\log(NM)$ with $M$ the
# batch size). Every weight then carries an extra factor $1/N$: $\log \hat q(z)$ and each
# $\log \hat q(z_j)$ drop by $\log N$. The three terms shift by
#
# $$
# \Delta\,\mathrm{MI} = +\log N, \qquad \Delta\,\mathrm{TC} = +(D - 1)\log N, \qquad
# \Delta\,\text{dim-KL} = -D \log N ,
# $$
#
# which sum to zero. Constants do not change gradients, so training is unaffected — but the *logged*
# TC of a 10-dimensional code on dSprites would carry an offset of $9 \log 737{,}280 \approx 122$
# nats. Our library uses $1/B$, which makes MWS exact when the batch is the whole dataset.
#
# **Minibatch stratified sampling (MSS).** Give the own posterior its true weight $1/N$ and let the
# $M = B - 1$ other posteriors share the remaining mass $(N-1)/N$: one of them (by convention
# $x_{i+1}$, cyclically) gets $\frac{N - M}{NM}$, the other $M - 1$ get $\frac1M$ each. The weights
# of a row sum to one,
# $\frac1N + \frac{N-M}{NM} + \frac{M-1}{M} = 1$, and for a batch drawn uniformly at random the
# estimate of $q(z_i)$ is unbiased (its *logarithm* is still biased downwards, by Jensen's
# inequality). The matrices for a tiny batch:

# %%
B_SHOW, N_SHOW = 5, 100
for estimator in ("mws", "mss"):
    weights = log_importance_weights(B_SHOW, N_SHOW, estimator).exp().cpu().numpy()
    print(f"{estimator.upper()}: w_ij for B = {B_SHOW}, N = {N_SHOW} (row i estimates q at z_i); "
          f"row sums {weights.sum(1).round(6)}")
    print(pd.DataFrame(weights, index=[f"i={i}" for i in range(B_SHOW)],
                       columns=[f"j={j}" for j in range(B_SHOW)]).round(4), "\n")
print(f"Chen et al.'s 1/(NB) would shift a 10-d TC on dSprites by 9 log N = {9 * math.log(737_280):.1f} nats")

# %% [markdown]
# The MSS matrix has $1/N$ on the **diagonal** and $\frac{N-M}{NM}$ on the cyclic **super-diagonal**.
# The widely copied reference code (`log_importance_weight_matrix` in the authors' repository
# `rtqichen/beta-tcvae`, and the many libraries that took it) writes these entries with strides of
# a flattened matrix that land on the first two **columns** instead (pointed out in that
# repository's pull request #1) — Exercise 2 looks at what that does. Here is the whole estimator written out with the weights as an argument; it agrees with the
# library's `kl_decomposition` for both estimators:

# %%
def decompose(z, mean, log_var, log_w):
    """Batch estimates of (MI, TC, dimension-wise KL) with the log-weights log_w (B, B)."""
    pairwise = gaussian_log_density(z[:, None, :], mean[None], log_var[None])  # (B, B, D): log q(z_id | x_j)
    log_q_z_given_x = gaussian_log_density(z, mean, log_var).sum(1)
    log_p_z = gaussian_log_density(z, torch.zeros_like(z), torch.zeros_like(z)).sum(1)
    log_q_z = torch.logsumexp(log_w + pairwise.sum(2), dim=1)
    log_prod_q_zj = torch.logsumexp(log_w[:, :, None] + pairwise, dim=1).sum(1)
    return torch.stack([(log_q_z_given_x - log_q_z).mean(), (log_q_z - log_prod_q_zj).mean(),
                        (log_prod_q_zj - log_p_z).mean()])


# %%
batch = random_state.choice(TOY_N, 64, replace=False)
toy_z, toy_mean, toy_log_var = (torch.from_numpy(a).float() for a in
                                (sample_codes(toy_means[batch], toy_log_vars[batch], random_state),
                                 toy_means[batch], toy_log_vars[batch]))
for estimator in ("mws", "mss"):
    ours = decompose(toy_z, toy_mean, toy_log_var, log_importance_weights(64, TOY_N, estimator))
    library = torch.stack([kl_decomposition(toy_z, toy_mean, toy_log_var, TOY_N, estimator)[t] for t in TERMS])
    assert torch.allclose(ours, library, atol=1e-5)
    print(f"{estimator.upper()} on one batch of 64: MI, TC, dim-KL =", ours.cpu().numpy().round(3))

# %% [markdown]
# ## 4 · The estimators against the known answer
#
# Now the experiment: for each batch size $B$, draw `NUM_BATCHES` batches of $B$ distinct points
# of the constructed dataset, one sample $z_i$ per point, and compute both estimates on the same
# batches (`estimator_study`). The dashed line is the exact value from Section 2; the error bars are
# the spread (one standard deviation) over batches, i.e. how much a single training step's estimate
# scatters.

# %%
toy_batch_sizes = [8, 16, 32, 64, 128, 256, 512, 1024]
toy_study = estimator_study(toy_means, toy_log_vars, toy_batch_sizes, NUM_BATCHES, random_state=random_state,
                            device=DEVICE)
fig = plot_estimator_study(toy_study, exact, title=f"Constructed dataset (N = {TOY_N}, D = {TOY_D}): "
                           f"{NUM_BATCHES} batches per batch size")
fig.axes[0].plot(toy_batch_sizes, np.log(toy_batch_sizes), ":", color="grey", label="log B (MWS's ceiling)")
fig.axes[0].set_ylim(top=exact["mutual_information"] + 2.5)
fig.axes[0].legend(fontsize=8)
plt.show()
print("At the study's batch size B = 64 (exact:", {t: round(exact[t], 3) for t in TERMS}, ")")
print(toy_study[toy_study["batch_size"] == 64].pivot(index="term", columns="estimator", values=["mean", "std"]).round(3))

# %%
def relative_error(study, truth, batch_size, term):
    """Each estimator's mean over batches of size batch_size, relative to the exact value: +0.2 = 20 % too high."""
    rows = study[(study["batch_size"] == batch_size) & (study["term"] == term)].set_index("estimator")["mean"]
    return rows / truth[term] - 1


def signed(error):
    return f"{abs(error):.0%} too {'high' if error > 0 else 'low'}"


LABEL = {"mutual_information": "MI", "total_correlation": "TC", "dimensionwise_kl": "dimension-wise KL"}


toy_mss = toy_study[toy_study["estimator"] == "mss"].set_index(["term", "batch_size"])["mean"]
toy_tc = relative_error(toy_study, exact, 64, "total_correlation")
display(Markdown(notice([
    f"TC at B = 64: MWS {signed(toy_tc['mws'])}, MSS {signed(toy_tc['mss'])} (exact {exact['total_correlation']:.3f} nats).",
    f"At B = {toy_batch_sizes[0]}: MSS's MI {toy_mss['mutual_information', toy_batch_sizes[0]]:.3f} nats (exact "
    f"{exact['mutual_information']:.3f}), its dimension-wise KL {toy_mss['dimensionwise_kl', toy_batch_sizes[0]]:.3f} "
    f"(exact {exact['dimensionwise_kl']:.3f}).",
], heading=f"**This run** (means over {NUM_BATCHES} batches):")))

# %% [markdown]
# **What to notice.**
# * At $B = N$ both estimators see the whole dataset and land on the exact values (MWS is then the
#   exact mixture; MSS's weights differ from $1/N$ only by $O(1/N^2)$).
# * **MWS** under-estimates the MI — it stays below its ceiling $\log B$ — and **over-estimates the
#   TC** for small batches: the own posterior, weighted $1/B$ instead of $1/N$, inflates the joint
#   density $\hat q(z_i)$ much more than the broad marginals $\hat q(z_{ij})$.
# * **MSS** gets the own weight right, so it does not share that bias; but at small $B$ its
#   logarithm of a few noisy terms is biased downwards and it scatters more: look for an MI that
#   comes out too high and a dimension-wise KL that can even turn *negative*, which no true KL can
#   be (this run's values at the smallest $B$ are printed above).
# * Both biases shrink as $B$ grows; the size of each at the study's $B = 64$ is printed above. A
#   β-TCVAE trained with either estimator penalises a biased TC — a quantity that moves with the
#   true one, but not the one in the equation.

# %% [markdown]
# ## 5 · Training a β-TCVAE
#
# We train the study's architecture with the study's settings (batch 64, Adam, learning rate
# $10^{-4}$, 10 latents), the MWS estimator and $N = 737{,}280$, the size of dSprites, for
# `STEPS` steps. Locatello et al. sweep $\beta$ over `STUDY_SWEEPS["beta_tcvae"]`; we take
# $\beta = 6$ and, as a reference, $\beta = 1$ — the same objective with the TC not weighted beyond
# the ELBO, i.e. a plain VAE that logs the three terms.

# %%
data = DSprites("binary")
_, beta_values = STUDY_SWEEPS["beta_tcvae"]
BETA = 6
assert BETA in beta_values
runs = {}
for beta in (1, BETA):
    config = lecture_config("beta_tcvae", {"beta": beta}, P, seed)
    runs[beta] = train_or_load(config, device=DEVICE)
print("β values of the study:", beta_values)
print("objective:", runs[BETA].objective.hyperparameters(), "| dSprites has", f"{data.num_images:,} images")
assert runs[BETA].objective.dataset_size == data.num_images

# %% [markdown]
# The training log holds every term, including the three MWS estimates of the decomposition (batch
# 64, $N = 737{,}280$) — one row per step, or for a long run one row per block of steps (their
# mean). Smoothed with a running mean over a fortieth of the rows:

# %%
window = max(1, len(runs[BETA].log) // 40)  # log rows, not steps: a row may average a block of steps
panels = (*TERMS, "reconstruction")
fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.5), layout="constrained")
for beta, run in runs.items():
    smooth = run.log[list(panels)].rolling(window, min_periods=1).mean()
    for ax, term in zip(axes, panels):
        ax.plot(run.log["step"], smooth[term], label=f"β = {beta}")
        ax.set(title=term.replace("_", " ") + " (MWS, B = 64)" * (term in TERMS), xlabel="training step",
               ylabel="nats")
axes[0].axhline(math.log(64), color="grey", linestyle=":", label="log 64: MWS's ceiling")
axes[0].legend(fontsize=8)
fig.suptitle(f"The decomposition during training, {STEPS:,} steps (running mean over {window} log rows)")
plt.show()

# %%
def last_part(log, part=40):
    """The mean of each logged term over the last `part`-th of the log's rows."""
    return log.drop(columns="step").iloc[-max(1, len(log) // part):].mean()


final = {beta: last_part(run.log) for beta, run in runs.items()}  # the end of training
halfway = {beta: last_part(run.log[run.log["step"] <= STEPS // 2]) for beta, run in runs.items()}  # its middle
lines = []
for beta, run in runs.items():
    smooth_mi = run.log["mutual_information"].rolling(window, min_periods=1).mean()
    ceiling = run.log["step"][smooth_mi > math.log(64) - 0.1]  # steps at which MWS's MI is within 0.1 of log 64
    tc_half, tc_end = halfway[beta]["total_correlation"], final[beta]["total_correlation"]
    lines.append(f"β = {beta}: " + ", ".join(f"{LABEL[t]} {final[beta][t]:.2f}" for t in TERMS)
                 + f", reconstruction {final[beta]['reconstruction']:.1f}. The smoothed MI "
                 + (f"comes within 0.1 nat of log 64 at step {ceiling.iloc[0]:,}" if len(ceiling)
                    else "stays below log 64 − 0.1")
                 + f"; the TC {trend(tc_half, tc_end, 'rises', 'falls', 'stays level', tol=0.1)} over the second half "
                 f"({tc_half:.2f} → {tc_end:.2f}).")
(one, f1), (six, f6) = final.items()
ratio = f6["total_correlation"] / f1["total_correlation"]
lines.append(f"At the end β = {six}'s TC is " + (f"{1 / ratio:.1f} times lower than" if 0 < ratio < 1 else f"{ratio:.2f} times")
             + f" β = {one}'s; its dimension-wise KL is "
             f"{trend(f1['dimensionwise_kl'], f6['dimensionwise_kl'], 'higher', 'lower', 'the same', 0.05)} and its "
             f"reconstruction {trend(f1['reconstruction'], f6['reconstruction'], 'worse', 'better', 'the same', 0.5)}.")
display(Markdown(notice(lines, heading=f"**This run** (`{P.name}`), MWS estimates over the last fortieth of the log "
                                       "(nats):")))

# %% [markdown]
# **What to notice.** *(At `smoke` size the curves are 20 steps of noise; read them from `lecture`
# on.)*
# * The logged MI can never cross $\log 64 \approx 4.16$ nats, whatever the model encodes: a
#   property of MWS with $B = 64$, not of the model (Section 4). Once the encoder tells images
#   apart, a run sits just under that ceiling (when each run got there is printed above), and from
#   then on the logged MI says nothing more about it.
# * With $\beta = 6$ the TC carries five times more weight than in the ELBO: look for its estimate to
#   stay well below the $\beta = 1$ run's and to level off sooner (the ratio of their final values
#   and how much each still moves over the second half are printed above). Both numbers are MWS
#   estimates, biased by an amount and in a direction that depend on the codes (Section 6 measures it).
# * Compare the dimension-wise KL of the two runs: if the $\beta = 6$ run's ends *higher*, squeezing
#   the dependence out of $q(z)$ has pushed its marginals away from $\mathcal N(0, 1)$ — the three
#   terms are coupled through one encoder, not independent knobs.
# * The price, if any, is paid in reconstruction: compare the last panel's two curves.

# %% [markdown]
# ## 6 · The estimators on a trained model's codes
#
# For a real encoder we cannot afford the exact $q(z)$ over all 737,280 images, but we can make
# the `P.num_samples` images we encode *the* dataset: their aggregate posterior is a mixture of
# $N$ = `P.num_samples` components, exact values are computable as in Section 2, and the
# estimators are told that $N$. (This finite dataset is not dSprites: its MI, for instance, is at
# most $\log N$.) First the exact decomposition for both models:

# %%
observations = data.sample(P.num_samples, random_state)[1]
codes = {beta: encode(run.model, observations) for beta, run in runs.items()}
exact_model = {beta: exact_kl_decomposition(m, lv, num_samples=min(4000, 4 * len(m)), random_state=random_state,
                                            device=DEVICE) for beta, (m, lv) in codes.items()}
summary = pd.DataFrame({f"β = {beta}": {**{t: e[t] for t in TERMS}, "TC s.e.": e["total_correlation_se"],
                                         "E[KL] analytic": kl_per_latent(*codes[beta]).sum()}
                        for beta, e in exact_model.items()})
print(f"Exact decomposition over the N = {len(observations):,} encoded images (log N = "
      f"{math.log(len(observations)):.2f}):")
print(summary.round(3))

# %%
means, log_vars = codes[BETA]
model_batch_sizes = [b for b in (16, 32, 64, 128, 256, 512, 1024) if b <= len(means)]
model_study = estimator_study(means, log_vars, model_batch_sizes, NUM_BATCHES, random_state=random_state,
                              device=DEVICE)
fig = plot_estimator_study(model_study, exact_model[BETA],
                           title=f"β-TCVAE (β = {BETA}, {STEPS:,} steps): codes of N = {len(means):,} images")
plt.show()

# %%
(one, e1), (six, e6) = exact_model.items()
at_64 = {t: relative_error(model_study, exact_model[BETA], 64, t) for t in TERMS}
largest = {t: relative_error(model_study, exact_model[BETA], model_batch_sizes[-1], t) for t in TERMS}
mws_mi = model_study.query("estimator == 'mws' and batch_size == 64 and term == 'mutual_information'")["mean"].item()
display(Markdown(notice([
    f"Exact MI: β = {one} {e1['mutual_information']:.2f}, β = {six} {e6['mutual_information']:.2f} nats "
    f"(log N = {math.log(len(observations)):.2f}); exact TC: β = {one} {e1['total_correlation']:.3f}, β = {six} "
    f"{e6['total_correlation']:.3f} nats, {e1['total_correlation'] / e6['total_correlation']:.1f} times lower at β = {six}.",
    f"At B = 64 (β = {BETA}): MWS's MI is {mws_mi:.2f} nats (log 64 = {math.log(64):.2f}); "
    + "; ".join(f"{e.upper()}: MI {signed(at_64['mutual_information'][e])}, TC {signed(at_64['total_correlation'][e])}"
                for e in ("mws", "mss")) + ".",
    f"At B = {model_batch_sizes[-1]}, off by: " + "; ".join(f"{LABEL[t]} {span(largest[t].abs() * 100, '.0f')} %"
                                                            for t in TERMS) + " (the two estimators).",
], heading="**This run** (exact values over the encoded images; estimates: means over batches):")))

# %% [markdown]
# **What to notice.** *(Meaningful from `lecture` on; this run's numbers are printed above.)*
# * The table first. An MI close to $\log N$ means the posteriors barely overlap, so the code nearly
#   identifies each of the $N$ images. If the β = 6 model's exact TC is several times lower than the
#   β = 1 model's while its MI is only somewhat lower, the penalty acted on the term it targets.
#   (Whether that made the code *disentangled* is a question for the metrics of notebook 08.)
# * Look for the pattern of Section 4, amplified: a trained encoder's posteriors are narrow, so the
#   own posterior dominates the batch sum. MWS's MI is then pinned just below $\log B$ and its TC is
#   off — too high on these codes; on codes whose every latent alone identifies the image, too low, since
#   each $q(z_j)$ is inflated as well — while MSS errs the other way, and scatters at small $B$.
# * The dimension-wise KL needs the least data — the marginals $q(z_j)$ are broad and smooth, so a
#   batch covers them — while MI and TC can still be far off at the largest $B$, a small fraction of
#   $N$ (compare their errors above). For the full dataset ($N = 737{,}280$) and $B = 64$ the gap can
#   only be larger: the TC that a β-TCVAE logs, and penalises, is a biased proxy.

# %% [markdown]
# ## 7 · Traversals
#
# Each row decodes one latent moved across its 5 %–95 % range around the code of one image, the
# rows sorted by the latent's KL (labelled). Latents with KL near zero are unused.

# %%
base_image = observations[0]
for beta in (1, BETA):
    traversals, order = latent_traversals(runs[beta].model, base_image, codes[beta], num_steps=10)
    plot_traversals(traversals, order, kl_per_latent(*codes[beta]))
    plt.suptitle(f"β-TCVAE, β = {beta}: latent traversals ({STEPS:,} training steps)")
    plt.show()

# %%
def describe(kl):
    """How many latents carry more than a nat, and the KL ranges of those and of the rest."""
    big, small = kl[kl > 1], kl[kl <= 1]
    text = f"{len(big)} of {len(kl)} latents carry more than 1 nat" + (f" ({span(big)})" if len(big) else "")
    return text + (f", the other {len(small)} {span(small)} nats." if len(small) else ".")


display(Markdown(notice([f"β = {beta}: {describe(kl_per_latent(*codes[beta]))}" for beta in (1, BETA)],
                        heading="**This run**, KL per latent:")))

# %% [markdown]
# **What to notice.** *(Meaningful from `lecture` on.)*
# * Count the rows that carry information (the KL printed above and in the row labels): does
#   β = 6 concentrate the code in fewer latents than β = 1? If so, note that the objective penalises
#   the TC, not the KL — fewer active latents is a side effect.
# * For each active row, ask what changes: one factor (position along one axis, size, shape,
#   orientation) or several at once (moving diagonally while resizing). A lower TC is not yet
#   axis-aligned factors, and shape and orientation, which cost few pixels (notebook 00,
#   Exercise 4), are the last factors a young model encodes; these models have had the number of
#   steps in the titles, against the study's 300,000.

# %% [markdown]
# ## Exercises
#
# ### Exercise 1
#
# Implement Chen et al.'s printed MWS weights $1/(NB)$ with `decompose` and compare them with ours
# ($1/B$) on one batch of 64 codes of the trained model ($N$ = `P.num_samples`). Check that MI,
# TC and dimension-wise KL shift by exactly $\log N$, $(D-1)\log N$ and $-D \log N$, that their sum
# does not change, and that the gradient of the TC with respect to the codes is the same.

# %% tags=["solution"]
n, d = means.shape
pick = random_state.choice(n, 64, replace=False)
z_b = torch.from_numpy(sample_codes(means[pick], log_vars[pick], random_state)).float().requires_grad_()
mean_b, log_var_b = torch.from_numpy(means[pick]).float(), torch.from_numpy(log_vars[pick]).float()
ours = decompose(z_b, mean_b, log_var_b, log_importance_weights(64, n, "mws"))
printed = decompose(z_b, mean_b, log_var_b, log_importance_weights(64, n, "mws") - math.log(n))
print("shift (MI, TC, dim-KL):", (printed - ours).detach().cpu().numpy().round(4))
print("expected              :", np.round([math.log(n), (d - 1) * math.log(n), -d * math.log(n)], 4))
print("sum unchanged:", torch.allclose(printed.sum(), ours.sum(), atol=1e-3))
grad_ours, = torch.autograd.grad(ours[1], z_b, retain_graph=True)
grad_printed, = torch.autograd.grad(printed[1], z_b)
print("same TC gradient:", torch.allclose(grad_ours, grad_printed, atol=1e-5))

# %% [markdown] tags=["solution"]
# Every log-density moves by the same constant $-\log N$, so only the logged values change; the
# joint density is counted once in the TC and the $D$ marginals $D$ times, hence $(D-1)\log N$.

# %% [markdown]
# ### Exercise 2
#
# The widely copied MSS code is
#
# ```python
# def log_importance_weight_matrix(batch_size, dataset_size):
#     N = dataset_size
#     M = batch_size - 1
#     strat_weight = (N - M) / (N * M)
#     W = torch.Tensor(batch_size, batch_size).fill_(1 / M)
#     W.view(-1)[::M+1] = 1 / N
#     W.view(-1)[1::M+1] = strat_weight
#     W[M-1, 0] = strat_weight
#     return W.log()
# ```
#
# Print its matrix for $B = 5$, $N = 100$ next to ours. Which weight does the own posterior
# $q(z_i \mid x_i)$ get in each row? Then run it on the constructed dataset (`decompose`, batches
# of 64, `NUM_BATCHES` of them) and compare its TC and MI with our MSS and with the exact values.
# Which estimator does it behave like?

# %% tags=["solution"]
def copied_log_weights(batch_size, dataset_size):
    N, M = dataset_size, batch_size - 1
    W = torch.full((batch_size, batch_size), 1 / M)
    W.view(-1)[::M + 1] = 1 / N  # stride M + 1 = B: steps down column 0, not along the diagonal (stride B + 1)
    W.view(-1)[1::M + 1] = (N - M) / (N * M)  # column 1
    W[M - 1, 0] = (N - M) / (N * M)
    return W.log()


print("copied:\n", copied_log_weights(5, 100).exp().cpu().numpy().round(4))
print("ours:\n", log_importance_weights(5, 100, "mss").exp().cpu().numpy().round(4))
estimates = {"copied MSS": [], "our MSS": [], "MWS": []}
for _ in range(NUM_BATCHES):
    pick = random_state.choice(TOY_N, 64, replace=False)
    z_b, mean_b, log_var_b = (torch.from_numpy(a).float() for a in
                              (sample_codes(toy_means[pick], toy_log_vars[pick], random_state),
                               toy_means[pick], toy_log_vars[pick]))
    log_ws = {"copied MSS": copied_log_weights(64, TOY_N), "our MSS": log_importance_weights(64, TOY_N, "mss"),
              "MWS": log_importance_weights(64, TOY_N, "mws")}
    for name, log_w in log_ws.items():
        estimates[name].append(decompose(z_b, mean_b, log_var_b, log_w).cpu().numpy())
comparison = pd.DataFrame({name: np.mean(v, axis=0) for name, v in estimates.items()}, index=list(TERMS))
comparison["exact"] = [exact[t] for t in TERMS]
print(f"mean over {NUM_BATCHES} batches of 64:\n", comparison.round(3))
gap = (comparison[["our MSS", "MWS"]].sub(comparison["copied MSS"], axis=0)).abs().loc[["mutual_information", "total_correlation"]]
print("the copied MSS lies closer to", "; ".join(f"{name} in its {LABEL[term]}" for term, name in gap.idxmin(axis=1).items()))

# %% [markdown] tags=["solution"]
# In the copied matrix $1/N$ sits in column 0 and $\frac{N-M}{NM}$ in column 1 of every row (and
# in row $B-2$ the last line overwrites the $1/N$, so that row sums to more than one). Apart from
# rows 0 and 1 the own posterior gets $\frac1M = \frac1{B-1}$: nothing crashes, but this is MWS
# with a slightly larger own weight, not stratified sampling — so expect its MI and TC next to
# MWS's, not next to our MSS (the last line printed says which each is closer to here). The
# "stratified" estimator of many published experiments was a weighted one.

# %% [markdown]
# ### Exercise 3
#
# Prove that MWS's MI estimate is at most $\log B$ and MSS's at most $\log N$ (hint: a sum of
# non-negative terms is at least any one of them). Check both bounds on every one of `NUM_BATCHES`
# batches of 64 codes of the trained β = 6 model. What would the MWS estimate of the MI be for a
# model whose posteriors do not overlap at all?

# %% tags=["solution"]
n = len(means)
worst = {"mws": -np.inf, "mss": -np.inf}
for _ in range(NUM_BATCHES):
    pick = random_state.choice(n, 64, replace=False)
    z_b, mean_b, log_var_b = (torch.from_numpy(a).float() for a in
                              (sample_codes(means[pick], log_vars[pick], random_state), means[pick], log_vars[pick]))
    for estimator in worst:
        mi = float(kl_decomposition(z_b, mean_b, log_var_b, n, estimator)["mutual_information"])
        worst[estimator] = max(worst[estimator], mi)
print(f"largest MWS MI estimate {worst['mws']:.3f} <= log 64 = {math.log(64):.3f}")
print(f"largest MSS MI estimate {worst['mss']:.3f} <= log N = {math.log(n):.3f}")
assert worst["mws"] <= math.log(64) + 1e-4 and worst["mss"] <= math.log(n) + 1e-4

# %% [markdown] tags=["solution"]
# $\hat q(z_i) = \sum_j w_{ij}\, q(z_i \mid x_j) \ge w_{ii}\, q(z_i \mid x_i)$, so
# $\log q(z_i \mid x_i) - \log \hat q(z_i) \le -\log w_{ii}$: that is $\log B$ for MWS and
# $\log N$ for MSS, for every $i$ and hence for the average. If the posteriors do not overlap, all
# $q(z_i \mid x_j)$ with $j \ne i$ vanish and the bound is attained: MWS reports exactly $\log B$
# however much the code really tells about the image.

# %% [markdown]
# ## Summary
#
# * $\mathbb E_{p(n)}[\mathrm{KL}(q(z\mid n)\,\|\,p(z))]$ = index-code MI + total correlation +
#   dimension-wise KL, an identity (Section 2, checked exactly on a constructed dataset).
# * All three need the aggregate posterior $q(z)$, a mixture over the whole dataset; minibatch
#   estimators replace it with importance-weighted batch sums. MWS ($w = 1/B$) over-estimates the TC
#   and caps the MI at $\log B$; MSS gets the own weight right but scatters more; both converge as
#   $B \to N$. Chen et al.'s printed $1/(NB)$ only shifts the logged values; the widely copied MSS
#   matrix is not stratified at all.
# * β-TCVAE adds $(\beta - 1)\,\mathrm{TC}$ to the negative ELBO: it penalises dependence between
#   coordinates, not information about the image.
#
# **Next:** notebook 06 attacks the same dependence through the moments of $q(z)$ (DIP-VAE), and
# asks whether the mean code inherits the independence of the sampled one.
#
# ## References
#
# * R. T. Q. Chen, X. Li, R. Grosse, D. Duvenaud. *Isolating Sources of Disentanglement in
#   Variational Autoencoders.* NeurIPS 2018 (arXiv:1802.04942); code: github.com/rtqichen/beta-tcvae.
# * M. D. Hoffman, M. J. Johnson. *ELBO surgery: yet another way to carve up the variational evidence
#   lower bound.* NIPS Workshop on Advances in Approximate Bayesian Inference, 2016.
# * S. Watanabe. *Information theoretical analysis of multivariate correlation.* IBM Journal of
#   Research and Development 4(1), 1960.
# * I. Higgins, L. Matthey, A. Pal, C. Burgess, X. Glorot, M. Botvinick, S. Mohamed, A. Lerchner.
#   *β-VAE: Learning Basic Visual Concepts with a Constrained Variational Framework.* ICLR 2017.
# * H. Kim, A. Mnih. *Disentangling by Factorising.* ICML 2018.
# * F. Locatello, S. Bauer, M. Lucic, G. Rätsch, S. Gelly, B. Schölkopf, O. Bachem. *Challenging
#   Common Assumptions in the Unsupervised Learning of Disentangled Representations.* ICML 2019.
