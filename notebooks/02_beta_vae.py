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
# # 02 · β-VAE and the information bottleneck
#
# Notebook 01 ended with a VAE whose latents mix factors, and with a hint (Exercise 2) that
# weighting the KL term changes what a VAE keeps. **Higgins et al. (2017)** made that weight, β, the
# first method of unsupervised disentanglement. In this notebook you will
#
# * write down the **β-VAE objective** and derive it as the **Lagrangian** of a constrained problem:
#   reconstruct as well as possible with at most ε nats of KL;
# * read the two terms as **rate** (the KL) and **distortion** (the reconstruction), and derive the
#   bounds that make the **rate–distortion plane** of **Alemi et al. (2018)** a map of all VAEs;
# * see, following **Burgess et al. (2018)**, why a narrow information bottleneck may favour
#   disentangled codes;
# * train β-VAEs over the study's range of β and compare them in the rate–distortion plane, by their
#   ELBO, by their number of active latents and by their traversals.
#
# The models are trained for `STEPS` steps (printed below the imports): at `smoke` 20, which gives
# meaningless models that only prove the code runs; at `lecture` they are loaded from the pretrained
# zoo, as old as the zoo's models (`zoo --grow`); at `full` too (all six of the study's β, so the three the
# zoo lacks train here at its age: on a GPU as one packed network); the study trains for 300,000. **Figures
# about trained models are only meaningful from `lecture` on**, and how far they have got depends on
# the models' age: every claim below about a trained model is computed from this run.
#
# **Time** (measured with `python -m course_lib notebooks --only 02_beta_vae` on a 2-core CPU shared
# with other jobs; the index that `make report` writes shows yours): `smoke` 14 s; `lecture` minutes
# — its trained models are loaded from the pretrained zoo (`data/pretrained`), none is trained here
# (not timed end to end).

# %% tags=["parameters"]
profile = None  # smoke | lecture | full; None reads $COURSE_PROFILE (default lecture)
device = "auto"
seed = 0

# %%
import math

import matplotlib.pyplot as plt
import numpy as np
from IPython.display import Markdown, display

from course_lib.data import DSprites
from course_lib.objectives import STUDY_SWEEPS
from course_lib.analysis.rate_distortion import constant_decoder_distortion, rate_distortion_table
from course_lib.lab.analysis_plots import plot_rate_distortion
from course_lib.representation import encode, kl_per_latent, latent_traversals
from course_lib.kit.runs import train_or_load_all
from course_lib.kit.lecture_models import lecture_config, lecture_steps
from course_lib.lab.setup import notebook_setup
from course_lib.lab.notice import notice, span, trend
from course_lib.lab.viz import show_images

P, DEVICE, random_state = notebook_setup(profile, device, seed)
STEPS = lecture_steps(P, seed)  # the steps of this notebook's models (the zoo's age at lecture)
NUM_EVAL = max(100, P.num_samples // 5)  # images on which every model's rate and distortion are measured
print(f"profile {P.name}: models of {STEPS:,} training steps")

# %% [markdown]
# ## 1 · The β-VAE objective
#
# Higgins et al. (2017) keep the VAE's model and change one number in its objective:
#
# $$
# \mathcal L_\beta(\theta, \phi; x) = \mathbb E_{q_\phi(z \mid x)}\big[\log p_\theta(x \mid z)\big]
# \;-\; \beta\, \mathrm{KL}\big(q_\phi(z \mid x) \,\|\, p(z)\big), \qquad p(z) = \mathcal N(0, I).
# $$
#
# $\beta = 1$ is the VAE and its ELBO. With $\beta > 1$, every nat of information the code carries
# about the image costs β times more, so the model keeps only what buys the most reconstruction. The
# paper's claim is that the latents it keeps are then more often **disentangled**: each one tracks a
# single factor of variation. The price is blurrier reconstructions and a looser bound: since the KL
# is $\ge 0$, $\mathcal L_\beta \le \mathcal L_1 \le \log p_\theta(x)$ for $\beta \ge 1$, so
# maximising $\mathcal L_\beta$ no longer maximises the ELBO.

# %% [markdown]
# ## 2 · The constrained-optimisation view
#
# Higgins et al. motivate β as a **Lagrange multiplier**. Ask for the best reconstruction among
# encoders that carry at most ε nats of KL on average over the data $p_d(x)$:
#
# $$
# \max_{\theta, \phi}\ \mathbb E_{p_d(x)}\Big[\mathbb E_{q_\phi(z \mid x)}\big[\log p_\theta(x \mid z)\big]\Big]
# \quad \text{subject to} \quad
# \mathbb E_{p_d(x)}\Big[\mathrm{KL}\big(q_\phi(z \mid x) \,\|\, p(z)\big)\Big] \le \varepsilon .
# $$
#
# Under the Karush–Kuhn–Tucker conditions a solution maximises the **Lagrangian**
#
# $$
# \mathcal F(\theta, \phi, \beta) = \mathbb E_{p_d}\Big[\mathbb E_{q_\phi}\big[\log p_\theta(x \mid z)\big]\Big]
# - \beta \Big(\mathbb E_{p_d}\big[\mathrm{KL}(q_\phi(z \mid x) \,\|\, p(z))\big] - \varepsilon\Big),
# \qquad \beta \ge 0,
# $$
#
# for a multiplier β that is 0 when the constraint is slack (complementary slackness). The term
# $\beta\varepsilon$ does not depend on $(\theta, \phi)$, so for a fixed β maximising $\mathcal F$ is
# maximising $\mathbb E_{p_d}[\mathcal L_\beta]$: **β-VAE is the constrained problem with the
# constraint's price fixed instead of its level.** A tighter budget ε corresponds to a larger β. In
# practice one sets β, not ε — which is why notebook 03 (AnnealedVAE) will set a capacity $C$
# directly.
#
# **Why might a tight budget disentangle?** Burgess et al. (2018) read $q_\phi(z \mid x)$ as a noisy
# channel: the KL of latent $d$ measures how much information passes through it, and a posterior
# wide like the prior passes none. Under pressure, (i) the model spends its few nats on the factors
# that explain the most pixels (position before scale before shape and orientation); (ii) posteriors
# of different images must overlap, and overlapping images that look alike costs the least
# reconstruction, so neighbours in latent space become neighbours in data space; (iii) the posterior
# noise is **independent per latent** (diagonal covariance), so the cheapest way to pass one factor
# is to put it on one axis, where its noise does not spill into the others. None of this forces
# disentanglement — the prior is still rotation-invariant — it only biases towards it.

# %% [markdown]
# ## 3 · Rate and distortion
#
# Alemi et al. (2018) give the two averaged terms names from information theory:
#
# $$
# D = -\,\mathbb E_{p_d(x)}\,\mathbb E_{q_\phi(z \mid x)}\big[\log p_\theta(x \mid z)\big]
# \quad \text{(distortion)}, \qquad
# R = \mathbb E_{p_d(x)}\,\mathrm{KL}\big(q_\phi(z \mid x) \,\|\, p(z)\big)
# \quad \text{(rate)},
# $$
#
# so that $-\text{ELBO} = D + R$ and β-VAE minimises $D + \beta R$. Two inequalities tie them to the
# mutual information $I(x; z)$ between an image and its code under the encoder
# ($q(x, z) = p_d(x)\, q_\phi(z \mid x)$, aggregate posterior $q(z) = \mathbb E_{p_d}[q_\phi(z \mid x)]$):
#
# **The rate bounds the information from above.** Add and subtract $\log q(z)$:
#
# $$
# R = \mathbb E_{q(x, z)}\Big[\log \frac{q_\phi(z \mid x)}{q(z)}\Big] + \mathbb E_{q(z)}\Big[\log \frac{q(z)}{p(z)}\Big]
# = I(x; z) + \mathrm{KL}\big(q(z) \,\|\, p(z)\big) \;\ge\; I(x; z).
# $$
#
# **The distortion bounds it from below.** $I(x; z) = H(x) - H(x \mid z)$, and the conditional
# entropy is at most the cross-entropy of any decoder,
# $H(x \mid z) = -\mathbb E_q[\log q(x \mid z)] \le -\mathbb E_q[\log p_\theta(x \mid z)] = D$
# (their difference is an average KL, hence $\ge 0$). So $H - D \le I(x; z)$, with $H$ the entropy of
# the data. Together:
#
# $$
# H - D \;\le\; I(x; z) \;\le\; R \qquad \Longrightarrow \qquad D + R \ge H .
# $$
#
# Every VAE is a point $(D, R)$ on or above the line $D + R = H$; since $-\text{ELBO} = D + R$,
# **lines of equal ELBO are the lines $D + R = $ const**, parallel to that boundary. Along the
# frontier of what a model family can reach, a curve $D(R)$, minimising $D + \beta R$ picks the point
# where $\mathrm dD / \mathrm dR = -\beta$: β is **minus the slope** of the rate–distortion curve.
# β = 1 picks the best ELBO; large β slides down to low rate and high distortion. At $R = 0$ the code
# is ignored and a decoder with independent pixels can do no better than predicting each pixel's
# frequency $p_i$: $D_0 = \sum_i H(p_i)$ (`constant_decoder_distortion`).
#
# For dSprites, $H \le \log 737{,}280 \approx 13.5$ nats — a uniform choice among its images. A
# perfect model could reach $D + R \approx 13.5$ nats; VAEs stop far above that line, because
# the factorised Gaussian posterior and the independent-pixel decoder are far from the ideal pair. This
# is also the link to the **information bottleneck** of Tishby et al. (1999), which trades
# $I(x; z)$ against the information $z$ keeps about a target: here the target is $x$ itself, and
# $R$ and $H - D$ are the variational bounds on the two informations.

# %% [markdown]
# ## 4 · Training a sweep over β
#
# Locatello et al. (2019) sweep β over `STUDY_SWEEPS["beta_vae"]`. We train `P.num_sweep_values`
# of them, spread from the smallest to the largest, with the study's architecture and settings.
# β = 1 *is* the VAE: we load (or train) notebook 01's run, method `"vae"`, instead of training the
# same objective twice.

# %%
data = DSprites("binary")
_, study_betas = STUDY_SWEEPS["beta_vae"]
picks = np.unique(np.round(np.linspace(0, len(study_betas) - 1, P.num_sweep_values)).astype(int))
betas = [study_betas[i] for i in picks]
configs = [lecture_config("vae", None, P, seed) if beta == 1 else lecture_config("beta_vae", {"beta": beta}, P, seed)
           for beta in betas]
runs = dict(zip(betas, train_or_load_all(configs, device=DEVICE)))  # on a GPU, the ones to train as one pack
print("study's β values:", study_betas, "-> trained:", betas)

# %%
fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), layout="constrained")
smooth = {}  # β -> the running means, one row per row of the log
for beta, run in runs.items():
    window = max(1, len(run.log) // 50)  # rows of the log: a fiftieth of training
    smooth[beta] = run.log[["reconstruction", "kl"]].rolling(window, min_periods=1).mean().assign(step=run.log["step"])
    for ax, term in zip(axes, ("reconstruction", "kl")):
        ax.plot(smooth[beta]["step"], smooth[beta][term], label=f"β = {beta}")
axes[0].set(title="distortion (reconstruction term)", xlabel="training step", ylabel="nats per image")
axes[1].set(title="rate (KL term)", xlabel="training step", ylabel="nats per image")
axes[1].legend()
fig.suptitle(f"Training curves of the sweep, {STEPS:,} steps (running mean over 1/50 of training)")
plt.show()

# %%
end = {b: s.iloc[-1] for b, s in smooth.items()}  # the running means at the last step
tenth = {b: s[s["step"] >= 0.9 * STEPS].iloc[0] for b, s in smooth.items()}  # ... a tenth of training earlier
first_nat = {b: s.loc[s["kl"] >= 1, "step"].min() for b, s in smooth.items()}  # NaN: never
for_betas = f"for β = {', '.join(map(str, betas))}"
display(Markdown(notice([
    "At the end, KL " + ", ".join(f"{end[b]['kl']:.1f}" for b in betas) + " and reconstruction "
    + ", ".join(f"{end[b]['reconstruction']:.0f}" for b in betas) + f" nats {for_betas}.",
    "The KL first reaches a nat at step " + ", ".join("never" if np.isnan(first_nat[b]) else f"{first_nat[b]:,.0f}"
                                                       for b in betas) + f" {for_betas}.",
] + [f"β = {b}: over the last tenth of training the reconstruction "
     f"{trend(tenth[b]['reconstruction'], end[b]['reconstruction'], 'rises', 'still falls', 'stays level', tol=0.5)} "
     f"({tenth[b]['reconstruction']:.1f} → {end[b]['reconstruction']:.1f} nats)" for b in betas],
    heading=f"**This run** ({STEPS:,} steps).")))

# %% [markdown]
# **What to notice.** *(At `smoke` size these are 20 steps of noise.)*
# * The trade-off of notebook 01's Exercise 2, now over the whole sweep: the larger β, the lower the
#   KL curve and the higher the reconstruction curve should be — check it against the numbers above.
#   Expect the KL of a larger β to stay near 0 for longer: the first nats are the most expensive, and
#   the model pays them only once the reconstruction they buy is worth β times as much. (In a long run
#   this happens early, and the step at which the KL reaches a nat may be the first logged one.)
# * A reconstruction that still falls at the end says the model has not reached its point of the
#   rate–distortion curve yet. The plane below is a snapshot after `STEPS` steps.

# %% [markdown]
# ## 5 · The rate–distortion plane
#
# `rate_distortion_table` evaluates every model on the **same** `NUM_EVAL` images with the same
# posterior noise: rate (analytic KL), distortion (one reparameterised draw per image), ELBO, and the
# number of **active** latents — those whose posterior mean varies across images,
# $\mathrm{Var}_x(\mu_d(x)) > 0.01$ (Burda et al. 2016; notebook 01, Exercise 3).

# %%
observations = data.sample(NUM_EVAL, random_state)[1]
table = rate_distortion_table({beta: run.model for beta, run in runs.items()}, observations, per_latent=True,
                              seed=seed)
table.index.name = "β"
d0 = constant_decoder_distortion(observations)
print(table[["rate", "distortion", "elbo", "num_active"]].round(2))
print(f"rate-0 reference D_0 = {d0:.1f} nats; data entropy H <= log {data.num_images:,} = "
      f"{math.log(data.num_images):.1f} nats")
plot_rate_distortion(table, label="β = ")
plt.show()
steps = {"rate": np.diff(table["rate"]), "distortion": np.diff(table["distortion"])}  # from each β to the next
display(Markdown(notice([
    f"As β grows the rate {'falls at every step' if (steps['rate'] < 0).all() else 'does not fall at every step'} "
    f"of the sweep, and the distortion {'rises at every step' if (steps['distortion'] > 0).all() else 'does not rise at every step'}.",
    f"$D_0$ = {d0:.0f} nats, while β = {betas[-1]} reaches a distortion of {table['distortion'].iloc[-1]:.0f} nats "
    f"at a rate of {table['rate'].iloc[-1]:.1f} nats.",
], heading="**This run.**")))

# %% [markdown]
# **What to notice.** *(Meaningful from `lecture` on.)*
# * Expect the points to run from the top left (small β: high rate, low distortion) to the bottom
#   right (large β: little rate, more distortion), towards the $\beta \to \infty$ limit $(D_0, 0)$, off
#   the figure to the right; the lines above say whether this run's do, and how far the largest β is
#   from that limit.
# * Read the ELBO off the dashed isolines: a point on a lower-left isoline has the better ELBO.
#   Alemi et al.'s warning applies: models with **the same ELBO can sit at very different rates** —
#   the ELBO alone cannot tell a model that encodes much from one that encodes little.
# * The slope between neighbouring points is $-\Delta D / \Delta R$; theory says it lies between the
#   two β values for converged models (Exercise 1 checks).

# %%
kl_columns = [c for c in table.columns if c.startswith("kl_")]
sorted_kl = -np.sort(-table[kl_columns].to_numpy(), axis=1)  # (betas, D): largest KL first
activity = table[[c for c in table.columns if c.startswith("activity_")]]

# %%
fig, axes = plt.subplots(1, 3, figsize=(14, 3.8), layout="constrained")
axes[0].plot(betas, table["elbo"], "o-")
axes[0].set(xscale="log", xlabel="β", ylabel="ELBO (nats)", title="ELBO (the β = 1 objective)")
for threshold in (0.01, 0.1):
    axes[1].plot(betas, (activity > threshold).sum(axis=1), "o-", label=f"Var(μ_d) > {threshold}")
axes[1].set(xscale="log", xlabel="β", ylabel="active latents", title="Active latents",
            ylim=(-0.3, len(kl_columns) + 0.3))
axes[1].legend()
for beta, row in zip(betas, sorted_kl):
    axes[2].plot(np.arange(1, len(row) + 1), row, "o-", label=f"β = {beta}")
axes[2].set(xlabel="latent, sorted by KL", ylabel="KL (nats)", title="How the rate is spread over latents")
axes[2].legend()
for ax in axes[:2]:
    ax.set_xticks(betas, [str(b) for b in betas])
plt.show()

# %%
elbo_given_up = table["elbo"].iloc[0] - table["elbo"].iloc[1:]
counts = {t: (activity > t).sum(axis=1).to_numpy() for t in (0.01, 0.1)}
disagree = [str(b) for b, low, high in zip(betas, counts[0.01], counts[0.1]) if low != high]
display(Markdown(notice([
    f"ELBO given up relative to β = {betas[0]}: " + ", ".join(f"{v:.1f} nats at β = {b}" for b, v in elbo_given_up.items())
    + (" (a negative number: a better ELBO than β = 1's)." if (elbo_given_up < 0).any() else "."),
    "Latents carrying over a nat: " + ", ".join(f"{n} at β = {b}" for b, n in zip(betas, (sorted_kl > 1).sum(axis=1)))
    + f" (of {sorted_kl.shape[1]}); the smallest KL of a latent: "
    + ", ".join(f"{row[-1]:.3f} nats at β = {b}" for b, row in zip(betas, sorted_kl)) + ".",
    *[f"Active latents at Var(μ_d) > {t}: " + ", ".join(f"{n} at β = {b}" for b, n in zip(betas, c))
      for t, c in counts.items()],
    f"The two thresholds disagree at β = {', '.join(disagree)}." if disagree else "The two thresholds agree for every β.",
], heading="**This run.**")))

# %% [markdown]
# **What to notice.** *(Meaningful from `lecture` on; the lines above give this run's numbers.)*
# * β = 1 optimises the ELBO, so at their optima β = 1 has the best ELBO and every larger β gives
#   up some of it for a smaller rate. A negative number above means that a larger β found the better
#   ELBO — which only a model short of its optimum can show.
# * The right panel shows whether the bottleneck closes latent by latent, as it should: the larger
#   β, the fewer latents carry over a nat, and the others fall towards zero — a few hundredths of a nat
#   while they are being switched off (the second line above).
# * Counting "active" latents depends on the threshold while latents are being switched off: the
#   posterior means of a dying latent still vary a little, so Burda et al.'s 0.01 may still count it
#   where 0.1 does not. Where the two thresholds disagree, the count is not yet a clean number; long
#   training (the study's 300,000 steps) should finish the job.

# %% [markdown]
# ## 6 · Traversals: smallest versus largest β
#
# Each row moves one latent across its 5 %–95 % range around the code of the same image, rows sorted
# by KL; left the smallest β, right the largest, one row per rank, each row labelled
# "latent  KL (nats)" for both.

# %%
sides = (betas[0], betas[-1])
panels = {}
for beta in sides:
    codes = encode(runs[beta].model, observations)
    traversals, order = latent_traversals(runs[beta].model, observations[0], codes, num_steps=8)
    panels[beta] = (traversals, order, kl_per_latent(*codes))
num_latent, num_steps = panels[sides[0]][0].shape[:2]
gap = np.full_like(panels[sides[0]][0][:, :1], 0.5)  # a grey column between the two models
grid = np.concatenate([panels[sides[0]][0], gap, panels[sides[1]][0]], axis=1)
labels = ["  |  ".join(f"z{o[r]} {k[o[r]]:.1f}" for _, o, k in panels.values()) for r in range(num_latent)]
fig = show_images(grid.reshape(-1, *grid.shape[2:]), ncols=grid.shape[1], row_labels=labels, cell_size=0.8)
for ax in fig.axes[num_steps::grid.shape[1]]:
    ax.set_visible(False)
fig.suptitle(f"Latent traversals: β = {sides[0]} (left) and β = {sides[1]} (right), {STEPS:,} steps")
plt.show()
print("latents under 0.1 nats of KL (constant rows):",
      ", ".join(f"{(k < 0.1).sum()} of {len(k)} at β = {b}" for b, (_, _, k) in panels.items()))

# %% [markdown]
# **What to notice.** *(Meaningful from `lecture` on.)*
# * A latent with KL $\approx 0$ gives a constant row (the line under the figure counts them); with
#   the large β expect more of them at the bottom, and blurrier images in the rows that do change.
# * Look at *what* each active row changes. The claim of Higgins et al. is that large-β rows more
#   often change one factor (only $x$, only $y$, only size) while small-β rows mix them: look for rows
#   that only grow the sprite or only move it along one axis, against rows that move it diagonally,
#   stretch it, or jump it from one place to another through a smear. The paper's clean position and
#   scale latents come from long training; Exercise 2 measures which factors each latent carries, and
#   notebook 08 replaces this eyeballing by metrics.

# %% [markdown]
# ### Exercise 1
#
# If every model sat exactly on a convex rate–distortion curve $D(R)$ at its optimum, the curve's
# slope there would be $-\beta$. Show that then the chord slope between the points of $\beta_i <
# \beta_j$, $s_{ij} = -\Delta D / \Delta R$, lies in $[\beta_i, \beta_j]$. Compute $s_{ij}$ for
# neighbouring β of the sweep. Do the trained models satisfy it?

# %% tags=["solution"]
points = table[["rate", "distortion"]]
verdicts = []
for (b_i, p_i), (b_j, p_j) in zip(points.iloc[:-1].iterrows(), points.iloc[1:].iterrows()):
    slope = -(p_j["distortion"] - p_i["distortion"]) / (p_j["rate"] - p_i["rate"])
    verdicts.append("inside" if b_i <= slope <= b_j else "outside")
    print(f"β {b_i:>2} -> {b_j:>2}: chord slope -ΔD/ΔR = {slope:7.2f}, {verdicts[-1]} [{b_i}, {b_j}]")
display(Markdown(f"**This run:** {verdicts.count('inside')} of the {len(verdicts)} chords lie inside their interval."))

# %% [markdown] tags=["solution"]
# *Proof.* Model $i$ minimises $D + \beta_i R$ over the curve, so $D_i + \beta_i R_i \le D_j + \beta_i
# R_j$, i.e. $\beta_i (R_i - R_j) \le D_j - D_i$; likewise $D_j + \beta_j R_j \le D_i + \beta_j R_i$.
# With $\Delta R = R_j - R_i < 0$ (the larger β has the smaller rate), dividing both by $-\Delta R >
# 0$ gives $\beta_i \le -\Delta D / \Delta R \le \beta_j$. (Only optimality was used, not even
# convexity.) Trained models are not exactly optimal, so nothing guarantees the check: a slope
# outside the interval says that at least one of the two models is far from its optimum, while
# slopes inside are consistent with (not a proof of) optimality. The printout gives this run's slopes
# and verdicts.

# %% [markdown]
# ### Exercise 2
#
# Which factors survive the bottleneck? For the smallest and the largest β, discretise the posterior
# means of `NUM_EVAL` images into 20 bins (`histogram_discretize`) and compute the mutual information
# between every active latent and every factor (`discrete_mutual_information`, in
# `course_lib.metrics.utils`). Which factors does each model encode, and which does the large β drop?

# %% tags=["solution"]
import pandas as pd

from course_lib.metrics.utils import discrete_mutual_information, histogram_discretize

factors, images = data.sample(NUM_EVAL, random_state)
bias = pd.Series([(20 - 1) * (n - 1) / (2 * len(images)) for n in data.factors_num_values], data.factor_names)
print("binning bias of an independent latent, (bins - 1)(classes - 1) / 2N:", bias.round(2).to_dict(), "\n")
lines = []
for beta in sides:
    means = encode(runs[beta].model, images)[0]
    active = np.flatnonzero(means.var(axis=0) > 0.01)
    if len(active) == 0:
        lines.append(f"β = {beta}: no active latent")
        continue
    mi = pd.DataFrame(discrete_mutual_information(histogram_discretize(means[:, active], 20), factors),
                      index=[f"z{d}" for d in active], columns=data.factor_names)
    print(f"β = {beta}: mutual information (nats) between active latents and factors\n{mi.round(2)}\n")
    top_two = {f: mi[f].nlargest(2) for f in data.factor_names}
    lines.append(f"β = {beta}: " + "; ".join(f"{f} {t.iloc[0]:.2f} in {t.index[0]} (next {t.iloc[-1]:.2f})"
                                             for f, t in top_two.items()))
display(Markdown(notice(lines, heading="**This run** (per factor: its largest MI in nats, that latent, and the "
                                       "next-largest MI of the factor):")))

# %% [markdown] tags=["solution"]
# The plug-in MI of a binned latent is biased upwards by about $(\text{bins} - 1)(\text{classes} -
# 1)/2N$ even for an independent latent (printed above for each factor): a column no higher than its
# bias is noise, and a latent that carries almost nothing can still show a few tenths of a nat with the
# positions (32 classes, the largest bias). Compare entries with the bias, not with 0.
#
# Burgess et al.'s reading predicts that the large β keeps the factors that explain the most pixels —
# position $x$ and $y$, then scale, the ones they show are encoded first as capacity grows — each in a
# latent of its own, and drops shape and orientation; the small β spreads each factor over several
# latents, and a latent carries several factors: more information, less structure. The lines above
# say how far this run's models follow it: a factor whose largest MI stands well above its bias, in a
# latent that no other factor claims and well above the next latent's MI, is kept cleanly; a factor
# whose two largest MIs are close is spread over several latents.

# %% [markdown]
# ### Exercise 3
#
# Higgins et al. report β *normalised* by the sizes of the latent space $M$ and the input $N$,
# $\beta_{\text{norm}} = \beta M / N$, because the reconstruction term grows with $N$ while the KL
# grows with $M$. (a) Compute $\beta_{\text{norm}}$ for the study's sweep ($M = 10$, $N = 64 \times
# 64$). (b) A common slip is to average the Bernoulli loss over pixels instead of summing it (notebook
# 01, Section 4) while keeping the KL summed. Which β of *this* notebook's convention does that
# implement for a "plain VAE", and where in the rate–distortion plane do you expect it?

# %% tags=["solution"]
M, N = 10, 64 * 64
for beta in study_betas:
    print(f"β = {beta:>2}  ->  β_norm = {beta * M / N:.4f}")
print(f"\nmean over pixels + summed KL  ==  β = {N} (the loss is divided by N; the minimiser is unchanged)")
print(f"expected point: R ≈ 0, D ≈ D_0 = {d0:.0f} nats; β = {N} is {N // max(study_betas)} times the largest β of the study")

# %% [markdown] tags=["solution"]
# (a) The study's β from 1 to 16 are $\beta_{\text{norm}}$ from about 0.002 to 0.04. (b) Dividing the
# whole objective by $N$ does not change its minimiser, so "mean BCE + KL" is "sum BCE + $N \cdot$ KL",
# a β-VAE with β = 4,096: far past the largest β of the sweep, the bottleneck is essentially closed —
# the model sits near $(D_0, 0)$, every latent inactive, the reconstructions the average image (a
# posterior collapse caused by a units mistake).

# %% [markdown]
# ## Summary
#
# * β-VAE minimises $D + \beta R$: distortion (reconstruction) plus β times the rate (KL). It is the
#   Lagrangian of "best reconstruction with at most ε nats of KL", with β the price of a nat.
# * $H - D \le I(x; z) \le R$: every model lies above $D + R = H$, lines of equal ELBO are diagonals,
#   and β is minus the slope of the rate–distortion curve at the model's point.
# * Growing β closes the bottleneck latent by latent: fewer active latents, blurrier reconstructions,
#   a worse ELBO — and, the hope of Higgins et al., latents that track single factors.
#
# **Next:** notebook 03 replaces the price β by a target capacity $C$ that grows during training,
# and watches which factor is encoded first.
#
# ## References
#
# * I. Higgins, L. Matthey, A. Pal, C. Burgess, X. Glorot, M. Botvinick, S. Mohamed, A. Lerchner.
#   *β-VAE: Learning Basic Visual Concepts with a Constrained Variational Framework.* ICLR 2017.
# * C. P. Burgess, I. Higgins, A. Pal, L. Matthey, N. Watters, G. Desjardins, A. Lerchner.
#   *Understanding disentangling in β-VAE.* arXiv:1804.03599, 2018.
# * A. A. Alemi, B. Poole, I. Fischer, J. V. Dillon, R. A. Saurous, K. Murphy. *Fixing a Broken
#   ELBO.* ICML 2018.
# * N. Tishby, F. C. Pereira, W. Bialek. *The Information Bottleneck Method.* Proc. 37th Annual Allerton
#   Conference on Communication, Control and Computing, 1999 (arXiv:physics/0004057, 2000).
# * D. P. Kingma, M. Welling. *Auto-Encoding Variational Bayes.* ICLR 2014.
# * Y. Burda, R. Grosse, R. Salakhutdinov. *Importance Weighted Autoencoders.* ICLR 2016.
# * F. Locatello, S. Bauer, M. Lucic, G. Rätsch, S. Gelly, B. Schölkopf, O. Bachem. *Challenging
#   Common Assumptions in the Unsupervised Learning of Disentangled Representations.* ICML 2019.
