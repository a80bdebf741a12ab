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
# # 04 · FactorVAE: penalising total correlation
#
# β-VAE (notebook 02) and AnnealedVAE (notebook 03) both act on the *size* of the KL term. But the
# KL also pays for the information the code carries about the image, and squeezing it blurs the
# reconstructions. Kim & Mnih (2018) asked for something more targeted: a code whose coordinates
# are **statistically independent** over the data — a *factorial* aggregate posterior — and nothing
# more. In this notebook you will
#
# * define the **total correlation** (TC), the KL divergence between the aggregate posterior and
#   the product of its marginals, and compute it where it has a closed form;
# * see how **`permute_dims`** turns a batch of codes into a batch from the product of marginals;
# * derive the **density-ratio trick**: a classifier between the two batches estimates the TC by
#   its logit difference — and check it against the known answer;
# * train a **FactorVAE**, follow its discriminator during training, and compare its TC estimate with
#   the Gaussian TC of the codes.
#
# The FactorVAE has `STEPS` training steps (printed below): at `smoke` 20, a meaningless model that
# only proves the code runs; at `lecture` the age of the pretrained zoo's model (`lecture_steps`);
# Kim & Mnih and Locatello et al. 2019 train for 300,000. **Figures about the trained model are only
# meaningful from `lecture` on**, and a model younger than the papers' may show less than they report.
# The synthetic experiments of Sections 1–3 are meaningful at every profile.
#
# **Time** (measured with `python -m course_lib notebooks --only 04_factor_vae` on a 2-core CPU
# shared with other jobs; the index that `make report` writes shows yours): `smoke` 21 s; `lecture`
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
from course_lib.analysis.tc_analysis import gaussian_tc_or_nan
from course_lib.metrics import gaussian_total_correlation
from course_lib.objectives import STUDY_SWEEPS
from course_lib.objectives import factor_vae
from course_lib.distributions import permute_dims
from course_lib.representation import encode, kl_per_latent, latent_traversals
from course_lib.kit.runs import train_or_load
from course_lib.kit.lecture_models import lecture_config, lecture_steps
from course_lib.lab.setup import notebook_setup
from course_lib.lab.notice import notice, trend
from course_lib.lab.viz import plot_kl_per_latent, plot_traversals

P, DEVICE, random_state = notebook_setup(profile, device, seed)
GAMMA = STUDY_SWEEPS["factor_vae"][1][3]  # 40, from the study's sweep (10 ... 100)
STEPS = lecture_steps(P, seed)  # the steps of this notebook's models (the zoo's age at lecture)
TC_STEPS = min(5000, max(300, P.train_steps // 2))  # steps of the small synthetic discriminators (trained here)
generator = torch.Generator().manual_seed(seed)  # the synthetic batches of Sections 1-3
print(f"gamma = {GAMMA}; FactorVAE: {STEPS:,} steps; synthetic discriminators: {TC_STEPS:,} steps")

# %% [markdown]
# ## 1 · Total correlation
#
# As in notebook 03, the encoder and the data define the **aggregate posterior**
# $q(z) = \mathbb E_{p(x)}\, q(z \mid x)$, the distribution of codes over the whole dataset, and its
# marginals $q(z_j)$. Its coordinates are independent exactly when $q(z) = \prod_j q(z_j)$. The
# **total correlation** (Watanabe 1960) measures how far from that it is:
#
# $$
# \mathrm{TC}(z) = \mathrm{KL}\Big(q(z) \,\Big\|\, \prod_{j=1}^{D} q(z_j)\Big)
# = \mathbb E_{q(z)}\Big[\log \frac{q(z)}{\prod_j q(z_j)}\Big]
# = \sum_{j} H(z_j) - H(z) \;\ge\; 0 ,
# $$
#
# zero if and only if the coordinates are independent. For two coordinates it is the mutual
# information $I(z_1; z_2)$; in general it counts every dependence, linear or not.
#
# Kim & Mnih add it to the negative ELBO with a weight $\gamma$:
#
# $$
# \mathcal L_{\text{FactorVAE}} = \frac1N \sum_{n=1}^N \Big(\mathbb E_{q(z \mid x_n)}\big[-\log p(x_n \mid z)\big]
# + \mathrm{KL}\big(q(z \mid x_n) \,\|\, p(z)\big)\Big) + \gamma\, \mathrm{TC}(z).
# $$
#
# The ELBO's KL still pulls every posterior towards $\mathcal N(0, I)$ with weight 1, as in a plain
# VAE; only the dependence between coordinates gets the extra weight $\gamma$.
#
# **A closed form for Gaussians.** If $z \sim \mathcal N(\mu, \Sigma)$, each marginal is
# $\mathcal N(\mu_j, \Sigma_{jj})$, and the entropies $H(z) = \tfrac12 \log\det(2\pi e\,\Sigma)$ and
# $H(z_j) = \tfrac12\log(2\pi e\, \Sigma_{jj})$ give
#
# $$
# \mathrm{TC} = \tfrac12\Big(\sum_j \log \Sigma_{jj} - \log\det\Sigma\Big)
# \quad\xrightarrow{D = 2,\ \text{correlation } \rho}\quad -\tfrac12 \log(1 - \rho^2).
# $$
#
# `course_lib.metrics.gaussian_total_correlation` fits a Gaussian to a sample and returns this value
# (Locatello et al. 2019 use it as an unsupervised score). On a sample with $\rho = 0.8$ it should
# give $-\tfrac12\log 0.36 \approx 0.51$ nats:

# %%
RHO = 0.8
CHOLESKY = torch.linalg.cholesky(torch.tensor([[1.0, RHO], [RHO, 1.0]]))
TRUE_TC = -0.5 * math.log(1 - RHO**2)


def draw_gaussian(n):
    """n codes from the correlated Gaussian q(z) = N(0, [[1, rho], [rho, 1]])."""
    return torch.randn(n, 2, generator=generator) @ CHOLESKY.T


batch = draw_gaussian(P.num_samples)
print(f"closed form: {TRUE_TC:.3f} nats; Gaussian fit to {P.num_samples:,} samples: "
      f"{gaussian_total_correlation(batch.cpu().numpy()):.3f} nats")

# %% [markdown]
# ## 2 · Sampling the product of marginals: `permute_dims`
#
# The TC compares $q(z)$ with $\prod_j q(z_j)$, and we can sample neither density's formula — but we
# can sample both. A batch of codes $z^{(1)}, \dots, z^{(B)}$ from $q(z)$ is a sample of $q(z)$.
# Shuffle **each column independently** across the batch (Kim & Mnih, Algorithm 1):
# $\tilde z^{(i)}_j = z^{(\pi_j(i))}_j$ with an independent random permutation $\pi_j$ per dimension.
# Each column keeps exactly its values, so every marginal $q(z_j)$ is unchanged; but the
# coordinates of a row now come from different codes, so every dependence between columns is
# broken: the rows are (approximately, for a finite batch) samples of $\prod_j q(z_j)$.
#
# Two batches, before and after `course_lib.distributions.permute_dims`: the correlated Gaussian,
# and a non-linear dependence (codes on a noisy ring) whose correlation is zero:

# %%
angle = 2 * math.pi * torch.rand(P.num_samples, generator=generator)
ring = torch.stack([angle.cos(), angle.sin()], 1) + 0.1 * torch.randn(P.num_samples, 2, generator=generator)
batches = {f"Gaussian, ρ = {RHO}": batch, "noisy ring (ρ ≈ 0)": ring}
fig, axes = plt.subplots(2, 2, figsize=(8, 8), layout="constrained", sharex="row", sharey="row")
for row, (name, z) in zip(axes, batches.items()):
    permuted = permute_dims(z, generator=generator)
    assert torch.equal(z.sort(0).values, permuted.sort(0).values)  # the same values in every column
    for ax, codes, label in zip(row, (z, permuted), ("q(z)", "permute_dims: ∏ q(z_j)")):
        ax.scatter(codes[:, 0], codes[:, 1], s=3, alpha=0.4)
        ax.set(title=f"{name}\n{label}: Gaussian TC {gaussian_total_correlation(codes.cpu().numpy()):.2f} nats",
               xlabel="z_1", ylabel="z_2")
plt.show()

# %% [markdown]
# **What to notice.**
# * After the shuffle the Gaussian's tilted ellipse becomes an upright one, and the ring becomes a
#   blurry square: the shadows on each axis (the marginals) are the same, the joint shape is gone.
# * The Gaussian TC drops from about 0.51 nats to about 0 for the Gaussian. For the ring it is
#   about 0 **before and after**: the ring's coordinates are uncorrelated, so a Gaussian fit cannot
#   see their (strong) dependence. The true TC of the ring is far from zero — knowing $z_1$ leaves
#   only two possible values of $z_2$. We need an estimator that sees more than second moments.

# %% [markdown]
# ## 3 · The density-ratio trick
#
# The TC is the expectation of a **log density ratio**, $\log r(z)$ with $r = q(z) / \prod_j q(z_j)$,
# and a ratio of two densities we can sample from can be learned by a classifier (Nguyen et al.
# 2010; Sugiyama et al. 2012). Label codes from $q(z)$ with $y = 0$ and permuted codes with $y = 1$,
# in equal numbers, and train a discriminator $D(z) \approx P(y = 0 \mid z)$ by cross-entropy:
#
# $$
# \min_D\; -\tfrac12\, \mathbb E_{q(z)}\big[\log D(z)\big] - \tfrac12\, \mathbb E_{\prod_j q(z_j)}\big[\log(1 - D(z))\big].
# $$
#
# **Step 1: the optimal discriminator.** For a fixed $z$, the integrand is
# $-\tfrac12\,[q(z) \log D + \bar q(z) \log(1 - D)]$ with $\bar q = \prod_j q(z_j)$. Setting the
# derivative in $D$ to zero, $q/D = \bar q/(1 - D)$, gives
#
# $$
# D^*(z) = \frac{q(z)}{q(z) + \prod_j q(z_j)} \qquad\Longrightarrow\qquad
# \frac{D^*(z)}{1 - D^*(z)} = \frac{q(z)}{\prod_j q(z_j)} .
# $$
#
# **Step 2: logits.** FactorVAE's discriminator outputs two logits $(\ell_0, \ell_1)$ and
# $D = \mathrm{softmax}(\ell)_0 = e^{\ell_0} / (e^{\ell_0} + e^{\ell_1})$, so
# $D / (1 - D) = e^{\ell_0 - \ell_1}$: the **logit difference is the log density ratio**.
#
# **Step 3: the estimate.** Averaging over codes from $q(z)$,
#
# $$
# \mathrm{TC}(z) = \mathbb E_{q(z)}\Big[\log \frac{D^*(z)}{1 - D^*(z)}\Big]
# \approx \frac1B \sum_{i=1}^{B} \big(\ell_0(z^{(i)}) - \ell_1(z^{(i)})\big).
# $$
#
# The estimate is only as good as the discriminator: it is biased wherever $D$ is not optimal
# (too small, undertrained, or overfitted to a few samples). Check it on the Gaussian, where the
# answer is known: `course_lib.objectives.factor_vae.fit_density_ratio` trains a small discriminator
# (FactorVAE's `discriminator`, narrowed to 2 layers of 64 units) on fresh batches at every step and
# records the estimate on each batch.

# %%
def fit_density_ratio(draw):
    """A 2-layer, 64-unit discriminator trained on TC_STEPS fresh batches of 256 codes from `draw`."""
    return factor_vae.fit_density_ratio(draw, num_latent=2, steps=TC_STEPS, seed=seed)


@torch.no_grad()
def tc_estimate(D, z):
    """The density-ratio estimate of TC on codes z ~ q(z): the mean logit difference."""
    return factor_vae.density_ratio_tc(D, z).item()


# %%
gaussian_D, estimates = fit_density_ratio(draw_gaussian)
held_out = draw_gaussian(P.num_samples)
fig, ax = plt.subplots(figsize=(7, 3.6), layout="constrained")
ax.plot(estimates, alpha=0.4, label="estimate on the training batch")
ax.plot(pd.Series(estimates).rolling(50, min_periods=1).mean(), label="trailing mean (50 steps)")
ax.axhline(TRUE_TC, color="k", linestyle="--", label=f"true TC = {TRUE_TC:.3f}")
ax.set(xlabel="discriminator step", ylabel="TC estimate (nats)", title=f"Density-ratio estimate of TC, Gaussian ρ = {RHO}")
ax.legend()
plt.show()

# %%
held_out_estimate = tc_estimate(gaussian_D, held_out)
print(f"true TC {TRUE_TC:.3f} nats; density-ratio estimate on {len(held_out):,} fresh codes: "
      f"{held_out_estimate:.3f}; Gaussian fit: {gaussian_total_correlation(held_out.cpu().numpy()):.3f}")

# %%
running = pd.Series(estimates).rolling(50, min_periods=1).mean()
reached = np.flatnonzero(running.to_numpy() >= 0.9 * TRUE_TC)
late = running.iloc[-max(1, len(running) // 5):]  # the last fifth of the discriminator's training
display(Markdown(notice([
    f"The trailing mean starts at {running.iloc[0]:.2f} nats and " + (
        f"first reaches 90 % of the true TC at step {reached[0] + 1:,} of {TC_STEPS:,}." if len(reached)
        else f"does not reach 90 % of the true TC within {TC_STEPS:,} steps."),
    f"Over the last fifth of the steps it lies between {late.min():.3f} and {late.max():.3f} nats (true "
    f"{TRUE_TC:.3f}); on fresh codes the final discriminator gives {held_out_estimate:.3f} "
    f"({trend(TRUE_TC, held_out_estimate, 'above', 'below', 'on', tol=0.0005)} the truth).",
], heading="**This run.**")))

# %% [markdown]
# **What to notice.**
# * An untrained discriminator cannot tell the two batches apart, so the estimate starts near 0; it
#   climbs as the discriminator learns and then fluctuates around the true value (how fast, and how
#   close, is printed above): every batch is a new Monte Carlo sample, and the discriminator keeps
#   adapting.
# * Nothing in the estimator assumed a Gaussian. The price is variance and bias from an imperfect
#   classifier; Exercise 1 points the same estimator at the ring, where the Gaussian fit is blind.

# %% [markdown]
# ## 4 · Training a FactorVAE
#
# FactorVAE alternates two updates on every batch:
#
# 1. **the VAE** takes a step on $\text{reconstruction} + \mathrm{KL} + \gamma\,\overline{(\ell_0 - \ell_1)}$,
#    the discriminator's TC estimate on the batch's sampled codes $z \sim q(z \mid x)$ — the encoder
#    is rewarded for codes that the discriminator *cannot* tell from their permutations;
# 2. **the discriminator** takes a step on the cross-entropy between the batch's codes and their
#    permutation (`discriminator_loss`; `discriminator_accuracy` is its accuracy on those $2B$
#    codes).
#
# This kit follows disentanglement_lib: the discriminator (6 layers of 1000 units, as in the paper)
# sees the same batch as the VAE, where Kim & Mnih draw a second batch for it. The loop never
# branches on the method: the discriminator and its optimiser belong to the objective
# (`course_lib.objectives.factor_vae`).

# %%
config = lecture_config("factor_vae", {"gamma": GAMMA}, P, seed)
run = train_or_load(config, device=DEVICE)
log = run.log
SMOOTH = max(1, len(log) // 50)  # log rows in the trailing mean (a row may average a block of steps)
print(run.directory.name, f"| {STEPS:,} steps, {len(log):,} log rows")
shown = ["step", "reconstruction", "kl", "total_correlation", "discriminator_loss", "discriminator_accuracy"]
print(log[shown].iloc[[0, len(log) // 2, -1]].to_string(index=False))

# %%
smooth = log.set_index("step").rolling(SMOOTH, min_periods=1).mean()
panels = [("discriminator_accuracy", 0.5, "chance (0.5)"), ("discriminator_loss", math.log(2), "chance (log 2)"),
          ("total_correlation", 0.0, "independent (0)"), ("reconstruction", None, None)]
units = {"discriminator_accuracy": "fraction classified right", "discriminator_loss": "cross-entropy (nats)",
         "total_correlation": "TC estimate (nats)", "reconstruction": "nats per image"}
fig, axes = plt.subplots(1, 4, figsize=(16, 3.4), layout="constrained")
for ax, (term, reference, label) in zip(axes, panels):
    ax.plot(log["step"], log[term], color="0.8", linewidth=0.6)
    ax.plot(smooth.index, smooth[term], linewidth=1.6)
    if reference is not None:
        ax.axhline(reference, color="k", linestyle="--", linewidth=1, label=label)
        ax.legend()
    ax.set(xlabel="training step", ylabel=units[term], title=term)
fig.suptitle(f"FactorVAE (γ = {GAMMA}), {STEPS:,} steps (grey: log rows; blue: trailing mean of {SMOOTH} rows)")
plt.show()

# %%
accuracy, reconstruction = smooth["discriminator_accuracy"], smooth["reconstruction"]
awake = accuracy.index[accuracy > 0.55]  # first step at which the discriminator clearly beats chance
lines = [f"The smoothed accuracy first exceeds 0.55 at step {awake[0]:,} of {STEPS:,}; the smoothed reconstruction "
         f"had gone from {reconstruction.iloc[0]:.0f} to {reconstruction.loc[awake[0]]:.0f} nats by then, and ends at "
         f"{reconstruction.iloc[-1]:.0f}." if len(awake) else
         f"The smoothed accuracy never exceeds 0.55 in {STEPS:,} steps: the discriminator never clearly wakes up."]
for term, unit in (("discriminator_accuracy", ""), ("total_correlation", " nats")):
    curve = smooth[term]
    lines.append(f"Smoothed {term.replace('_', ' ')}: highest {curve.max():.2f}{unit} (step {curve.idxmax():,}), "
                 f"{curve.iloc[-1]:.2f}{unit} at the end — "
                 f"{trend(curve.max(), curve.iloc[-1], 'at its peak', 'below its peak', 'at its peak', tol=0.02)}.")
display(Markdown(notice(lines, heading="**This run.**")))

# %% [markdown]
# **What to notice.**
# * At first the discriminator is at chance (accuracy 0.5, loss $\log 2$) and the TC estimate is
#   0 — not because the code is independent, but because there is hardly a code yet: the
#   reconstruction is on its first plateau. Once the reconstruction drops, the codes carry
#   information, and the discriminator's accuracy and the TC estimate jump (when, in this run, is
#   printed above; in a long run the plateau is a thin sliver at the left edge of each panel).
# * Then the game: accuracy above 0.5 and loss below $\log 2$ mean the discriminator tells real
#   codes from permuted ones; the encoder pays $\gamma$ times the logit difference and pushes it
#   back. Compare each peak with the final value printed above: a final value well below the peak
#   means the encoder has been winning, one at the peak that neither side has pulled ahead.
# * The TC estimate (third panel) is what the VAE is charged for. It is an estimate by a moving,
#   imperfect classifier: it can be negative on a batch, and a small value may mean independent
#   codes or a discriminator that has not learned to see the dependence yet.
# * The TC estimate is only as good as the discriminator, which is itself being trained on a moving
#   target, so read the third panel as a trend, and its direction rather than its end point.

# %% [markdown]
# ## 5 · Two estimates of the TC of the trained model
#
# Encode `P.num_samples` images and compare two estimates of the TC of their codes:
#
# * a **discriminator's estimate** $\overline{\ell_0 - \ell_1}$ on sampled codes
#   $z \sim q(z \mid x)$ (the codes the VAE was charged for), and on their permutation (a sample of
#   $\prod_j q(z_j)$);
# * the **Gaussian TC** of the sampled codes and of the mean codes (the representation that the
#   metrics use, which has no posterior noise).
#
# The discriminator that trained alongside the VAE belongs to the objective, not to the
# representation, and the pretrained zoo does not ship it: a model loaded from the zoo comes with a
# freshly initialised one, whose estimate is about 0 on anything. So, as in Section 3, we fit a
# fresh discriminator (`fit_density_ratio`'s 2 layers of 64 units, not training's 6 × 1000) on
# sampled codes of half of the images, drawing new noise $\sigma\varepsilon$ for every batch, and
# evaluate it on sampled codes of the other half.

# %%
data = DSprites("binary")
factors, images = data.sample(P.num_samples, random_state)
means, log_vars = encode(run.model, images)
mean_t, std_t = torch.as_tensor(means), torch.as_tensor(np.exp(0.5 * log_vars))
half = len(means) // 2  # the fresh discriminator trains on the first half of the images, is tested on the second


def draw_codes(n, first=0):
    """n sampled codes z ~ q(z|x) of images drawn at random from images[first:first + half]."""
    index = first + torch.randint(half, (n,), generator=generator)
    noise = torch.randn(n, means.shape[1], generator=generator, dtype=std_t.dtype)
    return (mean_t[index] + std_t[index] * noise).float()


fresh_D, _ = factor_vae.fit_density_ratio(draw_codes, num_latent=means.shape[1], steps=TC_STEPS, seed=seed)
test_codes = draw_codes(half, first=half)
sampled = test_codes.cpu().numpy()

# %%
two_estimates = pd.Series({  # a collapsed (constant) mean code has a singular covariance: its Gaussian TC is nan
    "fresh discriminator, held-out sampled codes": tc_estimate(fresh_D, test_codes),
    "fresh discriminator, permuted sampled codes": tc_estimate(fresh_D, permute_dims(test_codes, generator=generator)),
    "Gaussian TC, sampled codes": gaussian_tc_or_nan(sampled),
    "Gaussian TC, mean codes": gaussian_tc_or_nan(means),
    "last logged total_correlation (trailing mean)": smooth["total_correlation"].iloc[-1],
}, name="nats")
two_estimates.round(3).to_frame()

# %%
real, permuted_estimate, gauss_sampled, gauss_mean, logged = two_estimates
display(Markdown(notice([
    f"Fresh discriminator on held-out sampled codes: {real:.3f} nats, against {logged:.3f} logged by training's "
    f"discriminator at the end; on their permutation: {permuted_estimate:.3f} nats "
    f"({trend(0, permuted_estimate, 'positive', 'negative', 'zero', tol=0.0005)}).",
    f"Gaussian TC of the mean codes: {gauss_mean:.3f} nats, "
    + (f"{gauss_mean / gauss_sampled:.1f} times that of the sampled codes ({gauss_sampled:.3f})."
       if gauss_sampled > 0 else f"against {gauss_sampled:.3f} for the sampled codes.")
    if np.isfinite(gauss_mean) else "Gaussian TC of the mean codes: infinite (a constant coordinate).",
], heading="**This run.**")))

# %% [markdown]
# **What to notice.**
# * The fresh discriminator estimates the same quantity that training's discriminator logged, with
#   a smaller network, on other images, and without the VAE fighting back: compare the two above.
#   Neither is the true TC; each is as good as its classifier. On permuted codes a good
#   discriminator's estimate must be *negative* — Exercise 2 shows why; a value near zero there says
#   the discriminator sees little dependence at all.
# * The two kinds of estimator measure different things and need not agree. The Gaussian TC sees
#   only correlations, so non-linear dependences escape it (the ring of Section 2). A discriminator
#   sees any dependence its network can represent, but only as much as it has learned — and during
#   training the VAE is pushed precisely to make that discriminator's job hard.
# * Compare the Gaussian TC of the mean codes with that of the sampled ones: the posterior noise
#   $\sigma\varepsilon$ is independent across coordinates, so adding it can only dilute
#   correlations (notebook 06, Exercise 3), and training's discriminator only ever sees sampled
#   codes. Locatello et al. (2019) found that penalising the TC of the sampled code does not, in
#   general, keep the TC of the mean code low — notebook 06 looks at this in detail.

# %% [markdown]
# ## 6 · What the latents encode

# %%
plot_kl_per_latent(log)
plt.show()
kl = kl_per_latent(means, log_vars)
traversals, order = latent_traversals(run.model, images[0], (means, log_vars), num_steps=10)
plot_traversals(traversals, order, kl)
plt.suptitle(f"FactorVAE (γ = {GAMMA}) latent traversals, {STEPS:,} steps (rows sorted by KL)")
plt.show()

# %%
per_latent = smooth[[c for c in smooth.columns if c.startswith("kl_per_latent_")]]
coding = per_latent.sum(axis=1) > 1  # rows where the code carries more than a nat: a share of ~0 nats means nothing
share = per_latent[coding].max(axis=1) / per_latent[coding].sum(axis=1)
display(Markdown(notice([
    f"KL of the trained model: {kl.sum():.1f} nats in total, {(kl > 1).sum()} of {len(kl)} latents above 1 nat "
    f"(AnnealedVAE's capacity target in notebook 03: 10 nats).",
    f"Largest share of the smoothed KL held by one latent: {share.max():.0%} at step {share.idxmax():,} "
    f"(z{per_latent.loc[share.idxmax()].argmax()}); at the end {share.iloc[-1]:.0%}." if coding.any()
    else "The smoothed KL never exceeds 1 nat: there is no code to share out.",
], heading="**This run.**")))

# %% [markdown]
# **What to notice.**
# * Unlike AnnealedVAE, nothing caps the KL of a FactorVAE: its KL weight is 1, as in a plain VAE,
#   so it is free to keep many active latents and to reconstruct better than a strongly penalised
#   β-VAE — the trade-off Kim & Mnih set out to improve. Compare the total KL above with
#   AnnealedVAE's 10-nat target.
# * The KL curves show how the code is built: does one latent take most of the KL early and then
#   share it out (a large early share printed above, a smaller one at the end), and does that
#   happen when the discriminator wakes up (Section 4)?
# * In the traversals, look for rows that change a single property of the sprite (position along
#   one axis, size, shape, orientation) and rows that change several at once; a row with a KL of
#   several nats may still change nothing visible from this one base image. A well-trained
#   FactorVAE on dSprites shows one factor per row (position, scale, and with luck shape or
#   orientation) after Kim & Mnih's 300,000 steps; this model has had the number of steps in the
#   figure's title.

# %% [markdown]
# ### Exercise 1
#
# Use `fit_density_ratio` to estimate the TC of the noisy ring of Section 2 (draw fresh rings in
# every batch). Compare with the Gaussian TC of the same codes, and with the true TC: the ring's
# densities are integrals over the angle $a \sim U(0, 2\pi)$,
# $q(z) = \mathbb E_a\, \mathcal N(z_1; \cos a, 0.1^2)\, \mathcal N(z_2; \sin a, 0.1^2)$ and
# $q(z_1) = \mathbb E_a\, \mathcal N(z_1; \cos a, 0.1^2)$, which a fine grid of angles computes.
# Why does the discriminator see a dependence the Gaussian fit misses?

# %% tags=["solution"]
def draw_ring(n):
    angle = 2 * math.pi * torch.rand(n, generator=generator)
    return torch.stack([angle.cos(), angle.sin()], 1) + 0.1 * torch.randn(n, 2, generator=generator)


def ring_log_densities(z, noise=0.1, num_angles=2000):
    """log q(z), log q(z_1), log q(z_2) of the noisy ring: averages over a grid of angles."""
    angles = torch.linspace(0, 2 * math.pi, num_angles + 1)[:-1]
    normal = torch.distributions.Normal(0.0, noise)
    log_x, log_y = normal.log_prob(z[:, :1] - angles.cos()), normal.log_prob(z[:, 1:] - angles.sin())  # (N, angles)
    average = lambda log_p: torch.logsumexp(log_p, 1) - math.log(num_angles)
    return average(log_x + log_y), average(log_x), average(log_y)


ring_D, ring_estimates = fit_density_ratio(draw_ring)
fresh = draw_ring(P.num_samples)
log_joint, log_x, log_y = ring_log_densities(fresh)
true_ring_tc, ring_estimate = (log_joint - log_x - log_y).mean().item(), tc_estimate(ring_D, fresh)
print(f"ring: true TC {true_ring_tc:.3f} nats (Monte Carlo over {len(fresh):,} codes), density-ratio estimate "
      f"{ring_estimate:.3f} nats ({trend(true_ring_tc, ring_estimate, 'above', 'below', 'at')} the truth), "
      f"Gaussian TC {gaussian_total_correlation(fresh.cpu().numpy()):.3f} nats")
plt.plot(pd.Series(ring_estimates).rolling(50, min_periods=1).mean(), label="density-ratio estimate (trailing mean)")
plt.axhline(true_ring_tc, color="k", linestyle="--", label="true TC")
plt.gca().set(xlabel="discriminator step", ylabel="TC estimate (nats)", title="Density-ratio TC of the noisy ring")
plt.legend()
plt.show()

# %% [markdown] tags=["solution"]
# The Gaussian fit sees a diagonal covariance (the ring is symmetric, so
# $\mathrm{Cov}(z_1, z_2) = 0$) and reports TC ≈ 0. The discriminator learns that real codes lie near the circle while
# permuted ones fill the square $[-1, 1]^2$: its running estimate climbs towards the true TC (which
# depends only on the noise level; the cell prints it). It is an estimate, not a bound: the final
# discriminator's value on fresh codes can land above the truth as well as below (the cell prints
# which it did here), since an imperfect classifier's logit difference errs either way. Dependence
# is not correlation: that is why FactorVAE uses a classifier rather than a covariance penalty
# (compare DIP-VAE, notebook 06, which penalises the covariance).

# %% [markdown]
# ### Exercise 2
#
# On permuted codes, the logit difference of the *optimal* discriminator averages to
# $\mathbb E_{\prod_j q(z_j)}\big[\log q(z) / \prod_j q(z_j)\big] = -\mathrm{KL}\big(\prod_j q(z_j) \,\|\, q(z)\big) \le 0$.
# For the Gaussian of Section 1 this has a closed form: with $\Sigma = \begin{pmatrix}1 & \rho\\ \rho & 1\end{pmatrix}$,
# $\mathrm{KL}(\mathcal N(0, I) \,\|\, \mathcal N(0, \Sigma)) = \tfrac12\big(\mathrm{tr}\,\Sigma^{-1} - 2 + \log\det\Sigma\big)$.
# Evaluate `gaussian_D` on permuted Gaussian codes and compare. Note that the KL is *not* symmetric:
# the two numbers (on real and on permuted codes) differ in size as well as in sign.

# %% tags=["solution"]
sigma = np.array([[1.0, RHO], [RHO, 1.0]])
reverse_kl = 0.5 * (np.trace(np.linalg.inv(sigma)) - 2 + np.log(np.linalg.det(sigma)))
permuted = permute_dims(draw_gaussian(P.num_samples), generator=generator)
for side, codes, exact in (("permuted", permuted, -reverse_kl), ("real", draw_gaussian(P.num_samples), TRUE_TC)):
    estimate = tc_estimate(gaussian_D, codes)
    print(f"on {side + ' codes:':<16} estimate {estimate:+.3f} nats, closed form {exact:+.3f} nats, "
          f"error {estimate - exact:+.3f} ({abs(estimate - exact) / abs(exact):.0%})")

# %% [markdown] tags=["solution"]
# $\tfrac12(2/(1-\rho^2) - 2 + \log(1 - \rho^2)) \approx 1.27$ nats for $\rho = 0.8$, so the
# optimal discriminator averages about $-1.27$ on permuted codes and $+0.51$ on real ones. How
# close the trained one comes on each side is printed. Expect the permuted side to be the harder
# one: there the average is dominated by codes in the corners ($z_1 z_2 < 0$), where $q(z)$ is tiny
# and the log ratio very negative, and the discriminator sees few such points. The same asymmetry
# is why the two values of Section 5 (real and permuted codes) need not have the same size.

# %% [markdown]
# ### Exercise 3
#
# FactorVAE's discriminator is large (6 × 1000 units) and sees only the codes of the current
# batch. Can a flexible discriminator invent dependence where there is none? Draw **independent**
# codes ($\rho = 0$, true TC = 0) and train `fit_density_ratio` (i) on fresh batches and (ii) on
# batches drawn from one fixed set of 16 codes. Compare the estimates on the training codes and
# on fresh ones.

# %% tags=["solution"]
def draw_independent(n):
    return torch.randn(n, 2, generator=generator)


fixed = draw_independent(16)
independent_D, _ = fit_density_ratio(draw_independent)
memorising_D, _ = fit_density_ratio(lambda n: fixed[torch.randint(len(fixed), (n,), generator=generator)])
fresh = draw_independent(P.num_samples)
print(f"fresh batches:   estimate on fresh codes {tc_estimate(independent_D, fresh):+.3f} nats")
print(f"one set of 16:   estimate on those 16 codes {tc_estimate(memorising_D, fixed):+.3f} nats, "
      f"on fresh codes {tc_estimate(memorising_D, fresh):+.3f} nats (true TC = 0; at most log 16 = "
      f"{math.log(16):.2f} on the 16)")

# %% [markdown] tags=["solution"]
# With fresh batches the estimate should stay near 0: a discriminator cannot separate two samples of
# the same distribution. With a fixed set of 16 codes the real codes are 16 points, while their
# permutations fill a 16 × 16 grid of combinations: a discriminator that learns to recognise the 16
# points reports a positive TC on them (this run's is printed; the TC of the *empirical*
# distribution, $\log 16 \approx 2.77$ nats, is the most it could reach). That dependence is an
# artefact of the finite sample: on fresh codes, which all look "unlike the 16", the same
# discriminator's estimate should turn negative (compare the printed values). FactorVAE's
# discriminator sees a new batch of codes at every step, which protects it from memorising, but its
# estimate on a batch of 64 codes is still noisy and biased — one reason its value is best read as a
# trend.

# %% [markdown]
# ## Summary
#
# * The total correlation $\mathrm{KL}(q(z) \,\|\, \prod_j q(z_j))$ is zero exactly for independent
#   code coordinates; for a Gaussian it is $\tfrac12(\sum_j \log\Sigma_{jj} - \log\det\Sigma)$.
# * `permute_dims` shuffles each coordinate across a batch: same marginals, no dependence — a sample
#   of $\prod_j q(z_j)$.
# * A classifier between the two batches estimates the log density ratio by its logit difference,
#   so its mean over real codes estimates the TC, for any kind of dependence.
# * FactorVAE trains the VAE against that estimate with weight $\gamma$, and the discriminator
#   alongside; the logged accuracy, loss and TC estimate show the game.
#
# **Next:** notebook 05 (β-TCVAE) estimates the same TC without a discriminator, from the
# posteriors of a minibatch.
#
# ## References
#
# * H. Kim, A. Mnih. *Disentangling by Factorising.* ICML 2018.
# * S. Watanabe. *Information Theoretical Analysis of Multivariate Correlation.* IBM Journal of
#   Research and Development 4(1), 1960.
# * X. Nguyen, M. J. Wainwright, M. I. Jordan. *Estimating Divergence Functionals and the Likelihood
#   Ratio by Convex Risk Minimization.* IEEE Transactions on Information Theory 56(11), 2010.
# * M. Sugiyama, T. Suzuki, T. Kanamori. *Density Ratio Estimation in Machine Learning.* Cambridge
#   University Press, 2012.
# * I. Higgins, L. Matthey, A. Pal, C. Burgess, X. Glorot, M. Botvinick, S. Mohamed, A. Lerchner.
#   *β-VAE: Learning Basic Visual Concepts with a Constrained Variational Framework.* ICLR 2017.
# * F. Locatello, S. Bauer, M. Lucic, G. Rätsch, S. Gelly, B. Schölkopf, O. Bachem. *Challenging
#   Common Assumptions in the Unsupervised Learning of Disentangled Representations.* ICML 2019.
# * R. T. Q. Chen, X. Li, R. Grosse, D. Duvenaud. *Isolating Sources of Disentanglement in VAEs.*
#   NeurIPS 2018.
