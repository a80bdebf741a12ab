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
# # 01 · The variational autoencoder
#
# Every method of this course is a variational autoencoder (VAE) with something added to its
# objective. This notebook builds the VAE of **Kingma & Welling (2014)** from the ground up. You will
#
# * write down a **latent-variable model** $p(x) = \int p(x \mid z)\, p(z)\, dz$ and see why its
#   posterior $p(z \mid x)$ is intractable;
# * derive the **evidence lower bound** (ELBO) step by step, once with Jensen's inequality and once
#   as $\log p(x) = \text{ELBO} + \mathrm{KL}(q(z \mid x) \,\|\, p(z \mid x))$;
# * see why the **reparameterisation trick** gives gradients with far less variance than the
#   score-function estimator;
# * derive the two terms the code computes: the **Bernoulli log-likelihood on logits** (summed over
#   pixels) and the **analytic KL** between two Gaussians;
# * train the study's convolutional VAE (Locatello et al. 2019) on dSprites and read it:
#   loss curves, reconstructions, **latent traversals**, the **KL of each latent**;
# * train a VAE with a **2-D latent space** and look at that plane directly.
#
# The models are trained for `P.train_steps` steps of the profile: `smoke` (20 steps) gives
# meaningless models that only prove the code runs; `lecture` (2,000 steps) gives models worth
# looking at; the study trains for 300,000. **Figures about trained models are only meaningful from
# `lecture` on.**
#
# **Time** (measured with `python -m course_lib notebooks --only 01_vae` on a 2-core CPU shared with
# other jobs; the index that `make report` writes shows yours): `smoke` 28 s; `lecture` minutes —
# its trained models are loaded from the pretrained zoo (`data/pretrained`), none is trained here
# (not timed end to end).

# %% tags=["parameters"]
profile = None  # smoke | lecture | full; None reads $COURSE_PROFILE (default lecture)
device = "auto"
seed = 0

# %%
import math

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from IPython.display import Image, Markdown, display
from scipy.stats import norm

from course_lib.data import DSprites
from course_lib.distributions import bernoulli_reconstruction, kl_to_standard_normal
from course_lib.analysis.rate_distortion import constant_decoder_distortion
from course_lib.representation import decode, encode, kl_per_latent, latent_traversals
from course_lib.kit.runs import train_or_load
from course_lib.lab.lecture_models import lecture_config
from course_lib.lab.setup import notebook_setup
from course_lib.lab.viz import (plot_kl_per_latent, plot_loss_curves, plot_reconstructions, plot_traversals,
                                show_images, traversal_gif)

P, DEVICE, random_state = notebook_setup(profile, device, seed)
ACTIVE_KL = 0.1  # nats: a latent whose mean KL exceeds this counts as used (Section 7)

# %% [markdown]
# ## 1 · A latent-variable model, and why its posterior is intractable
#
# Notebook 00 described dSprites as $x = g(z)$: a few factors $z$ rendered into 4,096 pixels. A
# **latent-variable model** copies that structure with a learnable renderer. Draw a code $z \in
# \mathbb R^D$ from a fixed **prior**, then draw the image from a **decoder** $p_\theta(x \mid z)$, a
# neural network $f_\theta$ that outputs one number per pixel:
#
# $$
# z \sim p(z) = \mathcal N(0, I_D), \qquad
# x \mid z \sim p_\theta(x \mid z) = \prod_{i=1}^{4096} \mathrm{Bernoulli}\big(x_i;\ \sigma(f_\theta(z)_i)\big),
# $$
#
# with $\sigma(l) = 1 / (1 + e^{-l})$ the logistic function. The model's probability of an image
# marginalises the code out:
#
# $$
# p_\theta(x) = \int p_\theta(x \mid z)\, p(z)\, dz .
# $$
#
# Fitting $\theta$ by maximum likelihood needs $\log p_\theta(x)$, and *reading* the model — which
# code explains this image? — needs the **posterior**
#
# $$
# p_\theta(z \mid x) = \frac{p_\theta(x \mid z)\, p(z)}{p_\theta(x)} .
# $$
#
# Both are out of reach. The integral over $\mathbb R^{10}$ of a deep network has no closed form, and
# a numerical one is hopeless: a grid with 20 points per axis has $20^{10}$ points. Monte Carlo with
# draws from the prior, $p_\theta(x) \approx \frac1K \sum_k p_\theta(x \mid z_k)$, is unbiased but
# useless in practice: for a given image almost every $z_k$ decodes to a different sprite, whose
# likelihood is smaller by hundreds of nats, so the sum is decided by the rare lucky draw
# (Exercise 4 measures this). The posterior is known only up to its normalising constant
# $p_\theta(x)$ — the very integral we cannot compute.

# %% [markdown]
# ## 2 · The evidence lower bound, step by step
#
# **Variational inference** replaces the intractable posterior by a distribution we choose,
# $q_\phi(z \mid x)$. The VAE's choice is a Gaussian with diagonal covariance whose parameters an
# **encoder** network computes from $x$ (one network for all images: *amortised* inference):
#
# $$
# q_\phi(z \mid x) = \mathcal N\big(z;\ \mu_\phi(x),\ \mathrm{diag}\, \sigma^2_\phi(x)\big).
# $$
#
# **Jensen's inequality.** Multiply and divide by $q_\phi(z \mid x)$ inside the integral; the
# logarithm is concave, so $\log \mathbb E[Y] \ge \mathbb E[\log Y]$:
#
# $$
# \log p_\theta(x)
# = \log \int q_\phi(z \mid x)\, \frac{p_\theta(x, z)}{q_\phi(z \mid x)}\, dz
# = \log \mathbb E_{q_\phi(z \mid x)}\!\left[\frac{p_\theta(x, z)}{q_\phi(z \mid x)}\right]
# \;\ge\; \mathbb E_{q_\phi(z \mid x)}\big[\log p_\theta(x, z) - \log q_\phi(z \mid x)\big]
# =: \mathcal L(\theta, \phi; x).
# $$
#
# **The gap is a KL divergence.** Write $p_\theta(x, z) = p_\theta(z \mid x)\, p_\theta(x)$ inside the
# bound; $\log p_\theta(x)$ does not depend on $z$ and leaves the expectation:
#
# $$
# \mathcal L
# = \mathbb E_{q}\big[\log p_\theta(x) + \log p_\theta(z \mid x) - \log q_\phi(z \mid x)\big]
# = \log p_\theta(x) - \mathrm{KL}\big(q_\phi(z \mid x) \,\|\, p_\theta(z \mid x)\big),
# $$
#
# $$
# \boxed{\;\log p_\theta(x) = \mathcal L(\theta, \phi; x) + \mathrm{KL}\big(q_\phi(z \mid x) \,\|\, p_\theta(z \mid x)\big)\;}
# $$
#
# Since a KL divergence is $\ge 0$, this re-proves the bound, and it says *how loose* it is: exactly
# as far as $q$ is from the true posterior. Maximising $\mathcal L$ over $\phi$ (with $\theta$ fixed)
# leaves $\log p_\theta(x)$ unchanged, so it can only shrink the KL: the encoder learns to
# approximate the posterior. Maximising over $\theta$ raises the likelihood (or shrinks the gap).
#
# **The form the code computes.** Split $p_\theta(x, z) = p_\theta(x \mid z)\, p(z)$ instead:
#
# $$
# \mathcal L(\theta, \phi; x)
# = \underbrace{\mathbb E_{q_\phi(z \mid x)}\big[\log p_\theta(x \mid z)\big]}_{\text{reconstruction}}
# \;-\; \underbrace{\mathrm{KL}\big(q_\phi(z \mid x) \,\|\, p(z)\big)}_{\text{regulariser}} .
# $$
#
# The first term asks codes drawn from $q$ to decode back to $x$; the second keeps every posterior
# close to the prior, so that the codes of all images together fill the prior (and decoding a
# draw from $p(z)$ gives a plausible image). Training minimises the **negative ELBO** averaged over a
# batch; the log of every run calls the two terms `reconstruction` $= -\mathbb E_q[\log p(x\mid z)]$
# and `kl`, and `total` $=$ their sum.

# %% [markdown]
# ## 3 · The reparameterisation trick
#
# The gradient of the reconstruction term with respect to $\phi$ is the gradient of an expectation
# whose *distribution* depends on $\phi$: we cannot push $\nabla_\phi$ through "draw $z$". Two ways out,
# for $\mathbb E_{q_\phi(z)}[f(z)]$:
#
# * **Score function** (REINFORCE, Williams 1992): $\nabla_\phi \mathbb E_{q_\phi}[f(z)] =
#   \mathbb E_{q_\phi}\big[f(z)\, \nabla_\phi \log q_\phi(z)\big]$ — general, but it uses only the
#   *value* of $f$, and its variance is notoriously large.
# * **Reparameterisation** (Kingma & Welling 2014; Rezende et al. 2014): write the draw as a
#   deterministic, differentiable function of $\phi$ and parameter-free noise,
#   $z = \mu + \sigma \odot \varepsilon$ with $\varepsilon \sim \mathcal N(0, I)$. Then
#   $\nabla_\phi \mathbb E_{\varepsilon}[f(\mu + \sigma \varepsilon)] =
#   \mathbb E_{\varepsilon}\big[\nabla_\phi f(\mu + \sigma \varepsilon)\big]$, and the gradient flows
#   through $f$'s *derivative*. `GaussianVAE.forward` draws exactly
#   `z = mean + exp(log_var / 2) * eps`.
#
# A one-dimensional check with a known answer: $q = \mathcal N(\mu, \sigma^2)$, $f(z) = z^2$, so
# $\mathbb E[f] = \mu^2 + \sigma^2$ and $\partial_\mu \mathbb E[f] = 2\mu$. The single-sample estimates
# are $f(z)\,(z - \mu)/\sigma^2$ (score function) and $f'(z) = 2z$ (reparameterised).
#
# **Their spreads in closed form.** Write the draw as $z = \mu + \sigma\varepsilon$ with
# $\varepsilon \sim \mathcal N(0, 1)$, whose moments are $\mathbb E\varepsilon^2 = 1$,
# $\mathbb E\varepsilon^4 = 3$, $\mathbb E\varepsilon^6 = 15$ and 0 for odd powers. The two estimates are
#
# $$
# \hat g_{\mathrm{SF}} = \frac{(\mu + \sigma\varepsilon)^2\, \varepsilon}{\sigma}
# = \frac{\mu^2 \varepsilon + 2\mu\sigma\varepsilon^2 + \sigma^2\varepsilon^3}{\sigma}, \qquad
# \hat g_{\mathrm{RP}} = 2\mu + 2\sigma\varepsilon .
# $$
#
# Both have mean $2\mu$ (only the $\varepsilon^2$ term survives in $\hat g_{\mathrm{SF}}$). Squaring,
# the cross terms with odd powers vanish and
# $\mathbb E[\hat g_{\mathrm{SF}}^2] = (\mu^4 + 3 \cdot 4\mu^2\sigma^2 + 15\sigma^4 + 2 \cdot 3\mu^2\sigma^2)/\sigma^2$, so
#
# $$
# \mathrm{Var}\,\hat g_{\mathrm{SF}} = \frac{\mu^4 + 14\mu^2\sigma^2 + 15\sigma^4}{\sigma^2}, \qquad
# \mathrm{Var}\,\hat g_{\mathrm{RP}} = 4\sigma^2, \qquad
# \frac{\mathrm{sd}\,\hat g_{\mathrm{SF}}}{\mathrm{sd}\,\hat g_{\mathrm{RP}}}
# = \frac{\sqrt{\mu^4 + 14\mu^2\sigma^2 + 15\sigma^4}}{2\sigma^2} .
# $$
#
# At $\mu = \sigma = 1$ the factor is $\sqrt{30}/2 \approx 2.74$. The cell computes it from this
# formula and from the draws.

# %%
mu, sigma = 1.0, 1.0
z = mu + sigma * random_state.randn(P.num_samples)
estimates = {"score function": z**2 * (z - mu) / sigma**2, "reparameterised": 2 * z}
exact_std = {"score function": math.sqrt(mu**4 + 14 * mu**2 * sigma**2 + 15 * sigma**4) / sigma,
             "reparameterised": 2 * sigma}
for name, g in estimates.items():
    print(f"{name:>16}: mean {g.mean():6.3f} ± {g.std() / math.sqrt(len(g)):.3f} (s.e.), "
          f"std of one sample {g.std():6.2f} (exact {exact_std[name]:.2f})")
factor_mc = estimates["score function"].std() / estimates["reparameterised"].std()
factor_exact = exact_std["score function"] / exact_std["reparameterised"]
print(f"ratio of the standard deviations: {factor_mc:.2f} from {len(z):,} draws, "
      f"{factor_exact:.3f} exact (√(μ⁴ + 14μ²σ² + 15σ⁴) / (2σ²))")

# %%
fig, ax = plt.subplots(figsize=(7, 3.8), layout="constrained")
for name, g in estimates.items():
    ax.hist(g, bins=np.linspace(-10, 20, 121), alpha=0.6, density=True, label=name)
ax.axvline(2 * mu, color="k", linestyle="--", label=r"true gradient $2\mu$")
ax.set(xlabel=r"single-sample estimate of $\partial_\mu \mathbb{E}[z^2]$", ylabel="density",
       title=f"Two unbiased gradient estimators, {P.num_samples:,} draws each")
ax.legend()
plt.show()

# %% [markdown]
# **What to notice.**
# * Both estimators are unbiased: their means agree with $2\mu = 2$ within a few standard errors.
# * The reparameterised estimate has standard deviation $2\sigma = 2$; the score-function one
#   $\sqrt{30} \approx 5.48$, i.e. $\sqrt{30}/2 \approx 2.74$ times more (the printout sets the draws'
#   ratio beside it; its heavy tail makes the sample value wobble), with most of its draws piled up
#   near 0 and a long tail on both sides. The number
#   of samples needed for a given precision grows with the *square* of the standard deviation — and
#   with a 10-dimensional $z$ and a deep decoder the gap is far larger, which is why the VAE trains
#   with a single reparameterised $z$ per image.

# %% [markdown]
# ## 4 · The two terms in closed form
#
# **Bernoulli log-likelihood on logits.** For one pixel with logit $l$ and value $x \in \{0, 1\}$
# (dSprites' pixels are binary),
#
# $$
# \log p(x \mid l) = x \log \sigma(l) + (1 - x) \log\big(1 - \sigma(l)\big)
# = x \log \sigma(l) + (1 - x) \log \sigma(-l),
# $$
#
# using $1 - \sigma(l) = \sigma(-l)$; and $-\log\sigma(l) = \log(1 + e^{-l})$, so the loss per pixel is
# $\log(1 + e^{l}) - x\, l$ — the binary cross-entropy *with logits*, which PyTorch evaluates without
# ever forming $\sigma(l)$ (no $\log 0$ for confident pixels). The decoder's pixels are independent
# given $z$, so the log-likelihood of an image is the **sum** over its 4,096 pixels. (Averaging over
# pixels instead, as a "mean" loss would, divides the reconstruction term by 4,096 and so, in effect,
# multiplies the KL term by 4,096 — notebook 02 shows what a heavier KL does.)

# %%
logits = 3 * torch.randn(4, 1, 64, 64)
x = (torch.rand(4, 1, 64, 64) < 0.1).float()
by_hand = -(x * F.logsigmoid(logits) + (1 - x) * F.logsigmoid(-logits)).flatten(1).sum(1)
print("bernoulli_reconstruction:", bernoulli_reconstruction(logits, x).cpu().numpy().round(2))
print("by the formula:          ", by_hand.cpu().numpy().round(2))
print(f"a decoder that outputs logits 0 (p = 1/2 everywhere) pays 4096 log 2 = {4096 * math.log(2):.1f} nats per image")

# %% [markdown]
# **The KL between two Gaussians.** Both $q$ and $p$ factorise over the $D$ coordinates, so the KL is
# a sum over coordinates. For one coordinate, $q = \mathcal N(\mu, \sigma^2)$ and
# $p = \mathcal N(0, 1)$:
#
# $$
# \log q(z) = -\tfrac12 \log 2\pi - \tfrac12 \log \sigma^2 - \frac{(z - \mu)^2}{2\sigma^2}, \qquad
# \log p(z) = -\tfrac12 \log 2\pi - \frac{z^2}{2}.
# $$
#
# Take the expectation under $q$ of their difference, using
# $\mathbb E_q[(z - \mu)^2] = \sigma^2$ and $\mathbb E_q[z^2] = \mu^2 + \sigma^2$:
#
# $$
# \mathrm{KL}(q \,\|\, p) = \mathbb E_q[\log q(z) - \log p(z)]
# = -\tfrac12 \log \sigma^2 - \tfrac12 + \tfrac12 (\mu^2 + \sigma^2)
# = \tfrac12\big(\mu^2 + \sigma^2 - \log \sigma^2 - 1\big).
# $$
#
# It is zero exactly when $\mu = 0$ and $\sigma = 1$ (then $q = p$). The $\mu^2$ term charges for
# moving a code away from the origin, the $\sigma^2 - \log\sigma^2 - 1 \ge 0$ term for a posterior
# narrower (or wider) than the prior. An encoder that tells images apart needs narrow posteriors at
# different places: that is what the KL charges for. `kl_to_standard_normal(mean, log_var)` returns
# this value per coordinate, with $\log \sigma^2$ = `log_var` (what the encoder outputs, so that
# $\sigma^2 = e^{\texttt{log\_var}} > 0$ without constraints). Exercise 1 checks it by Monte Carlo.

# %%
mean, log_var = torch.tensor([[0.0, 2.0, 0.0, 1.0]]), torch.tensor([[0.0, 0.0, math.log(0.01), math.log(0.25)]])
print("mean     ", mean.cpu().numpy()[0])
print("variance ", log_var.exp().cpu().numpy()[0])
print("KL (nats)", kl_to_standard_normal(mean, log_var).cpu().numpy()[0].round(4))

# %% [markdown]
# ## 5 · Training the study's VAE on dSprites
#
# The architecture of Locatello et al. (2019), `conv_vae`: a 4-layer convolutional encoder to
# $(\mu, \log\sigma^2) \in \mathbb R^{10 \times 2}$, a mirrored transposed-convolution decoder to
# 4,096 logits; Adam with learning rate $10^{-4}$, batches of 64 images drawn uniformly from the
# 737,280. `train_or_load` trains it (or loads it if this configuration was trained before) and
# logs every term at every step.

# %%
data = DSprites("binary")
config = lecture_config("vae", profile=P, seed=seed)
run = train_or_load(config, device=DEVICE)
model = run.model
print("run directory:", run.directory)
print(run.log.tail(3)[["step", "total", "reconstruction", "kl", "elbo"]].to_string(index=False))

# %% [markdown]
# A reference for the reconstruction term: a decoder that **ignores $z$** can at best predict every
# pixel with its frequency $p_i$ in the data, and pays $D_0 = \sum_i H(p_i)$ nats per image
# (`constant_decoder_distortion`) with a KL of 0. A model whose reconstruction is not below $D_0$ has
# not used its code.

# %%
factors, observations = data.sample(P.num_samples, random_state)
d0 = constant_decoder_distortion(observations)
window = max(1, P.train_steps // 50)
smooth = run.log.rolling(window, min_periods=1).mean().assign(step=run.log["step"])
fig = plot_loss_curves(smooth, ("total", "reconstruction", "kl"))
fig.axes[1].axhline(d0, color="tab:red", linestyle="--", label=f"$D_0$ = {d0:.0f}: decoder ignoring z")
fig.axes[1].legend()
for ax in fig.axes:
    ax.set_ylabel("nats per image")
fig.suptitle(f"VAE training on dSprites: negative ELBO and its two terms (running mean over {window} steps)")
plt.show()

# %% [markdown]
# **What to notice.** *(At `smoke` size these are 20 steps of noise.)*
# * The reconstruction term falls from thousands of nats (random logits) to below $D_0$ within a few
#   hundred steps, and then far below it: the model uses its code. The KL *rises* from 0 while it
#   does — information about the image has to be paid for in KL nats — and it rises in **jumps**, each
#   one matched by a drop of the reconstruction term. The total (the negative ELBO) keeps falling
#   because the reconstruction gains are larger than the KL paid.
# * After 2,000 steps (`lecture`) the curves are still going down slowly: the study trains 150 times
#   longer.

# %% [markdown]
# ## 6 · Reconstructions
#
# We encode `P.num_samples` random images (the representation is the posterior mean
# $\mu_\phi(x)$), decode the means of the first eight, and show the decoder's pixel probabilities
# $\sigma(f_\theta(\mu_\phi(x)))$ under the inputs.

# %%
means, log_vars = encode(model, observations)
plot_reconstructions(observations, decode(model, means[:8]), num=8)
plt.suptitle(f"Inputs and reconstructions ({P.train_steps:,} training steps)")
plt.show()

# %% [markdown]
# **What to notice.** *(Meaningful from `lecture` on.)*
# * Position and size are the first things a VAE gets right: a blob of the right size in the right
#   place already removes most of the reconstruction error.
# * Shape and orientation come later — a heart and a square of the same size differ in few pixels —
#   so after 2,000 steps squares and hearts come back as round blobs, and only the elongation of an
#   ellipse survives. Long training (the `full` profile) recovers much more of the shapes.

# %% [markdown]
# ## 7 · How much each latent is used: KL per latent
#
# The KL term is a sum over coordinates, $\mathrm{KL} = \sum_d \mathrm{KL}_d$, and its average over
# images says how much information latent $d$ carries (in nats). A latent with
# $\mathrm{KL}_d \approx 0$ has $q(z_d \mid x) \approx \mathcal N(0, 1)$ for every image: it carries
# nothing, the decoder ignores it, and it is called *inactive* (or *collapsed*).

# %%
kl = kl_per_latent(means, log_vars)
num_active = int((kl > ACTIVE_KL).sum())
fig, ax = plt.subplots(figsize=(7, 3.5), layout="constrained")
ax.bar(np.arange(len(kl)), kl, color=["tab:blue" if k > ACTIVE_KL else "tab:gray" for k in kl])
ax.set(xticks=np.arange(len(kl)), xticklabels=[f"z{d}" for d in range(len(kl))], xlabel="latent",
       ylabel="mean KL (nats)", title=f"KL per latent over {len(means):,} images (grey: below {ACTIVE_KL} nats)")
plt.show()
plot_kl_per_latent(run.log.rolling(window, min_periods=1).mean().assign(step=run.log["step"]))
plt.show()
display(Markdown(
    f"**What to notice.** *(Meaningful from `lecture` on.)* After {P.train_steps:,} steps this VAE has "
    f"**{num_active} of its {len(kl)} latents** above {ACTIVE_KL} nats, from {kl.min():.2f} to {kl.max():.2f} "
    "nats each (our `lecture` run: all ten, 1.5 to 3.5 nats)."))

# %% [markdown]
# * With β = 1 information is cheap, and nothing forces a latent to stay unused (notebook 02 shows
#   what a larger price does). dSprites has only five factors, so a code that uses more than five
#   latents is redundant — several latents share the same factors.
# * In the training curves the latents do **not** switch on together: one or two latents carry all
#   the information for the first few hundred steps (the sprite's coarse position and size), then
#   the others join, and the early ones give some KL back. Each latent is adopted when the
#   reconstruction it buys exceeds the KL it costs. Notebook 03 turns this observation into a method.

# %% [markdown]
# ## 8 · Latent traversals
#
# A **traversal** decodes a code in which one coordinate moves across its range — here from the 5 %
# to the 95 % quantile of its posterior means — while the others stay at the code of one image.
# `latent_traversals` sorts the rows by KL, so active latents come first. If the representation were
# disentangled, each active row would change exactly one factor (compare the factor sweeps of
# notebook 00).

# %%
traversals, order = latent_traversals(model, observations[0], (means, log_vars), num_steps=10)
plot_traversals(traversals, order, kl)
plt.suptitle(f"VAE latent traversals around one image ({P.train_steps:,} steps; rows sorted by KL)")
plt.show()

# %% [markdown]
# The same traversals as an animation, one panel per latent (left: highest KL), written next to the
# run's checkpoint:

# %%
gif_path = run.directory / "traversals.gif"
traversal_gif(gif_path, traversals)
display(Image(filename=str(gif_path)))

# %% [markdown]
# **What to notice.** *(Meaningful from `lecture` on.)*
# * Every row moves the sprite, grows it, or deforms it — and most do **two things at once**: at
#   `lecture` size the top row, for instance, moves the sprite diagonally while it grows. An inactive
#   latent (KL $\approx 0$; none here after 2,000 steps with β = 1) would give a constant row.
# * Nothing in the ELBO asks for one factor per latent: the prior $\mathcal N(0, I)$ is
#   rotation-invariant, so any rotation of a good code is an equally good code. This is the problem
#   the rest of the course is about.

# %% [markdown]
# ## 9 · A two-dimensional latent space
#
# With $D = 2$ we can look at the whole latent space at once. `mlp_vae` is a small fully connected
# VAE (two hidden layers of 256 units); we train it with the same objective and the same budget.
# Two pictures:
#
# * the **latent plane**: the posterior means of `P.num_samples` images, coloured by a ground-truth
#   factor;
# * the **manifold**: the decoder applied to a grid of codes. Kingma & Welling's Figure 4 spaces the
#   grid evenly in *probability*: $z_j = \Phi^{-1}(u_j)$ for evenly spaced $u_j \in (0, 1)$, $\Phi$
#   the standard normal CDF, so that each cell holds the same prior mass. That assumes the codes of
#   the data fill the prior. We check this first (the dashed square on the plane holds 90 % of the
#   prior in each coordinate, $\Phi^{-1}(0.05) \dots \Phi^{-1}(0.95)$) and therefore space the grid by
#   the quantiles of the codes themselves — the same construction with the empirical distribution of
#   each coordinate of $\mu_\phi(x)$ in place of $\Phi$.

# %%
config_2d = lecture_config("vae", profile=P, seed=seed, architecture="mlp", num_latent=2)
run_2d = train_or_load(config_2d, device=DEVICE)
means_2d, log_vars_2d = encode(run_2d.model, observations)
print("KL per latent (nats):", kl_per_latent(means_2d, log_vars_2d).round(2))

# %%
shown = ["position_x", "position_y", "scale"]
fig, axes = plt.subplots(1, len(shown), figsize=(4.4 * len(shown), 4), layout="constrained")
for ax, name in zip(axes, shown):
    k = data.factor_names.index(name)
    points = ax.scatter(*means_2d.T, c=np.asarray(data.factor_values[name])[factors[:, k]], s=3, cmap="viridis")
    fig.colorbar(points, ax=ax, label=name)
    ax.add_patch(plt.Rectangle((norm.ppf(0.05),) * 2, 2 * norm.ppf(0.95), 2 * norm.ppf(0.95), fill=False,
                               linestyle="--", edgecolor="red", label="90 % of the prior per axis"))
    ax.set(xlabel="$\\mu_1$", ylabel="$\\mu_2$", title=f"coloured by {name}")
    ax.set_aspect("equal", adjustable="datalim")
axes[0].legend(loc="lower left", fontsize=8)
fig.suptitle(f"The latent plane of the 2-D VAE: posterior means of {len(means_2d):,} images")
plt.show()

# %%
num_grid = 12
quantiles = np.quantile(means_2d, np.linspace(0.05, 0.95, num_grid), axis=0)  # (num_grid, 2)
print("posterior std (mean over images):", np.exp(0.5 * log_vars_2d).mean(0).round(3),
      "| std of the codes:", means_2d.std(0).round(2))
grid = np.stack(np.meshgrid(quantiles[:, 0], quantiles[::-1, 1]), axis=-1).reshape(-1, 2)  # top row: z_2 high
show_images(decode(run_2d.model, grid), ncols=num_grid, cell_size=0.75)
plt.suptitle("Decoded grid: $z_1$ left to right, $z_2$ top to bottom, at the 5 % ... 95 % quantiles of the codes")
plt.show()

# %% [markdown]
# **What to notice.** *(Meaningful from `lecture` on.)*
# * With two latents the model must choose what to keep. Position is worth the most pixels, and
#   after 2,000 steps (`lecture`) the plane is a map of the image: position $x$ changes mostly along
#   $\mu_1$ and position $y$ mostly along $\mu_2$, though the gradients are tilted — nothing in the
#   ELBO prefers these axes to any rotation of them. Scale is folded in **radially**: small sprites in
#   the middle, large ones at the rim.
# * The codes spread far beyond the prior's dashed box (standard deviation about 3 against posterior
#   widths of about 0.1 in our `lecture` run, seed 0; the cell above prints this run's): the KL term is
#   paying several nats per latent to place the images precisely.
#   A grid spaced by the prior's quantiles would decode only the crowded middle, and decoding draws
#   from $p(z)$ would give mostly small, faint blobs — a VAE is a good sampler only when its codes fill
#   the prior.
# * The decoded grid is **smooth**: neighbouring codes decode to similar images. The blob shifts
#   with $z_1$ and $z_2$ and grows towards the edge of the grid; in the middle, where small sprites of
#   many positions crowd together, it fades to a faint smear. Shape and orientation are lost
#   entirely: two latents are too few for five factors.

# %% [markdown]
# ### Exercise 1
#
# Verify the analytic KL by Monte Carlo. For a few pairs $(\mu, \sigma)$ — include a narrow
# posterior ($\sigma = 0.1$) — draw $z \sim \mathcal N(\mu, \sigma^2)$ `P.num_samples` times, average
# $\log q(z) - \log p(z)$ (use `gaussian_log_density` from `course_lib.distributions`) and compare
# with `kl_to_standard_normal` within a few standard errors.

# %% tags=["solution"]
from course_lib.distributions import gaussian_log_density

for mu, sigma in [(0.0, 1.0), (1.0, 1.0), (2.0, 0.5), (0.0, 0.1), (-1.5, 2.0)]:
    mean, log_var = torch.tensor([mu]), torch.tensor([2 * math.log(sigma)])
    z = mean + sigma * torch.from_numpy(random_state.randn(P.num_samples)).float()
    log_ratio = gaussian_log_density(z, mean, log_var) - gaussian_log_density(z, torch.zeros(1), torch.zeros(1))
    se = log_ratio.std().item() / math.sqrt(P.num_samples)
    print(f"mu = {mu:5.1f}, sigma = {sigma:4.1f}: Monte Carlo {log_ratio.mean().item():7.4f} ± {se:.4f},"
          f"  analytic {kl_to_standard_normal(mean, log_var).item():7.4f}")

# %% [markdown] tags=["solution"]
# The Monte Carlo averages agree with the formula within a few standard errors. At $\mu = 0,
# \sigma = 1$ the log-ratio is exactly 0 for every draw ($q = p$), so the estimate has no variance.
# The analytic KL is exact *and* free of sampling noise, which is why the VAE uses it instead of a
# Monte Carlo estimate (Kingma & Welling's "SGVB estimator B").

# %% [markdown]
# ### Exercise 2
#
# Reconstruction and KL **trade off**. Train the same network with the KL term multiplied by the
# largest β of the study's β-VAE sweep (`STUDY_SWEEPS["beta_vae"]`; notebook 02 reuses this run),
# i.e. minimise $\text{reconstruction} + \beta\, \mathrm{KL}$. Compare the two models on the same
# images (`rate_distortion_table` evaluates both): reconstruction term, KL, number of active latents
# (Exercise 3 defines them), and reconstructions.

# %% tags=["solution"]
from course_lib.objectives import STUDY_SWEEPS
from course_lib.analysis.rate_distortion import rate_distortion_table

big_beta = STUDY_SWEEPS["beta_vae"][1][-1]
run_big = train_or_load(lecture_config("beta_vae", {"beta": big_beta}, P, seed), device=DEVICE)
sample = observations[:P.num_samples // 10]
print(rate_distortion_table({1: model, big_beta: run_big.model}, sample, seed=seed)
      .rename_axis("beta").rename(columns={"rate": "KL", "distortion": "reconstruction"}).round(1))
big_means = encode(run_big.model, sample)[0]
show_images(np.concatenate([sample[:8], decode(model, means[:8]), decode(run_big.model, big_means[:8])]), ncols=8,
            row_labels=["input", "β = 1", f"β = {big_beta}"],
            title=f"Reconstructions of the same images with β = 1 and β = {big_beta} ({P.train_steps:,} steps)")
plt.show()

# %% [markdown] tags=["solution"]
# With the heavier KL, the KL falls (at `lecture` size from about 25 to about 7 nats) and the
# reconstruction term rises (from about 110 to about 210 nats): information about the image is now
# more expensive, so the model keeps less of it. Its reconstructions keep position and size but are
# blurrier, and the ellipses come back rounder. The number of active latents hardly moves yet
# (Exercise 3 shows why), but half of its latents now carry almost no KL. Which point of the
# trade-off to pick is the subject of notebook 02.

# %% [markdown]
# ### Exercise 3
#
# Which latents are **active**? Burda, Grosse & Salakhutdinov (2016) call latent $d$ active when
# its posterior mean moves with the input: $A_d = \mathrm{Var}_x\big(\mathbb E_{q(z_d \mid x)}[z_d]\big)
# > 0.01$. Compute $A_d$ and the KL per latent for the conv VAE and for the β = 16 model of
# Exercise 2 (`train_or_load` loads it), and list the active latents. Why must an inactive latent
# have a small KL, and can a latent with a large KL be inactive?

# %% tags=["solution"]
from course_lib.objectives import STUDY_SWEEPS

big_beta = STUDY_SWEEPS["beta_vae"][1][-1]
big_model = train_or_load(lecture_config("beta_vae", {"beta": big_beta}, P, seed), device=DEVICE).model
for beta, m in {1: model, big_beta: big_model}.items():
    m_means, m_log_vars = encode(m, observations)
    activity, m_kl = m_means.var(axis=0), kl_per_latent(m_means, m_log_vars)
    print(f"β = {beta}: active latents {np.flatnonzero(activity > 0.01).tolist()}")
    for d in np.argsort(-m_kl):
        print(f"   z{d}: activity {activity[d]:7.4f}   KL {m_kl[d]:6.3f} nats")

# %% [markdown] tags=["solution"]
# Activity and KL rank the latents the same way. Averaged over images,
# $\mathbb E_x[\mathrm{KL}_d] = \tfrac12 \big(\mathbb E_x[\mu_d^2] + \mathbb E_x[\sigma_d^2 - \log\sigma_d^2 - 1]\big)$
# with $\mathbb E_x[\mu_d^2] = A_d + (\mathbb E_x \mu_d)^2$, so a latent with a large activity has a
# large KL. The converse can fail: a latent whose mean does not move can still pay KL, by a constant
# offset or a posterior narrower than the prior — but that buys the decoder nothing, so training
# removes it, and inactive latents end at $\mu_d \approx 0$, $\sigma_d \approx 1$, KL $\approx 0$.
#
# The threshold matters. After 2,000 steps (`lecture`) all ten latents of the VAE are clearly active.
# The β = 16 model has a few latents with KL above a nat and several with a few hundredths of a nat
# whose activity is close to 0.01: they are being switched off, and depending on the threshold they
# count as active or not. "The number of active latents" is a clean number only for converged models.

# %% [markdown]
# ### Exercise 4
#
# Estimate $\log p_\theta(x)$ for a few images by importance sampling,
# $\log p_\theta(x) \approx \log \frac1K \sum_{k=1}^K \frac{p_\theta(x \mid z_k)\, p(z_k)}{r(z_k)}$, with
# $K = 200$ draws from two proposals $r$: the prior $p(z)$ and the encoder's $q_\phi(z \mid x)$.
# Compare both with the ELBO. (With $r = q$ this is the IWAE bound of Burda et al. 2016: a lower bound
# on $\log p(x)$ that is tighter than the ELBO.)

# %% tags=["solution"]
from course_lib.distributions import gaussian_log_density

K, images = 200, torch.from_numpy(observations[:4]).to(DEVICE)
with torch.no_grad():
    mean, log_var = model.encoder(images)
    for name, (m, lv) in {"prior": (torch.zeros_like(mean), torch.zeros_like(log_var)),
                          "encoder q(z|x)": (mean, log_var)}.items():
        z = m + torch.exp(0.5 * lv) * torch.randn(K, *m.shape, device=DEVICE)  # (K, N, D)
        log_px_z = -bernoulli_reconstruction(model.decoder(z.flatten(0, 1)), images.repeat(K, 1, 1, 1)).view(K, -1)
        log_w = log_px_z + gaussian_log_density(z, 0 * z, 0 * z).sum(-1) - gaussian_log_density(z, m, lv).sum(-1)
        print(f"proposal {name:<15}: log p(x) ≈", (torch.logsumexp(log_w, 0) - math.log(K)).cpu().numpy().round(1))
    elbo = -(bernoulli_reconstruction(model(images)["logits"], images) + kl_to_standard_normal(mean, log_var).sum(1))
    print(f"{'ELBO (one z)':<24}:", elbo.cpu().numpy().round(1))

# %% [markdown] tags=["solution"]
# With the encoder as proposal the estimate is at or above the ELBO (the IWAE bound tightens the
# ELBO; the difference estimates the gap $\mathrm{KL}(q \,\|\, p(z \mid x))$, which shows how good the
# amortised posterior is: a few nats here). With the prior as proposal the estimate is far *below* —
# tens to hundreds of nats for a trained model: 200 prior draws almost never land where
# $p(x \mid z)$ is large, and the estimate, though unbiased for $p(x)$, is hugely biased in
# $\log p(x)$ for any practical $K$. This is Section 1's argument in numbers, and the reason for
# learning $q$ at all.

# %% [markdown]
# ## Summary
#
# * A VAE is a latent-variable model $p_\theta(x) = \int p_\theta(x \mid z) p(z)\, dz$ fitted by
#   maximising the ELBO $\mathbb E_q[\log p_\theta(x \mid z)] - \mathrm{KL}(q_\phi(z \mid x) \,\|\, p(z))$,
#   which equals $\log p_\theta(x)$ minus the KL from $q$ to the true posterior.
# * The reparameterisation $z = \mu + \sigma \odot \varepsilon$ gives low-variance gradients; the
#   Bernoulli term is a per-image *sum* of binary cross-entropies on logits; the Gaussian KL is
#   $\tfrac12 \sum_d (\mu_d^2 + \sigma_d^2 - \log \sigma_d^2 - 1)$.

# %%
display(Markdown(
    f"* With β = 1 nothing makes a VAE leave latents unused — this run uses {num_active} of its {len(kl)} "
    f"(KL above {ACTIVE_KL} nats after {P.train_steps:,} steps, Section 7). It switches them on a few at a "
    "time, and its traversals mix factors: the ELBO is blind to rotations of the latent space."))

# %% [markdown]
# **Next:** notebook 02 weights the KL term by β and studies the trade-off between reconstruction and
# KL as a rate–distortion curve.
#
# ## References
#
# * D. P. Kingma, M. Welling. *Auto-Encoding Variational Bayes.* ICLR 2014.
# * D. J. Rezende, S. Mohamed, D. Wierstra. *Stochastic Backpropagation and Approximate Inference in
#   Deep Generative Models.* ICML 2014.
# * R. J. Williams. *Simple Statistical Gradient-Following Algorithms for Connectionist
#   Reinforcement Learning.* Machine Learning 8, 1992.
# * Y. Burda, R. Grosse, R. Salakhutdinov. *Importance Weighted Autoencoders.* ICLR 2016.
# * F. Locatello, S. Bauer, M. Lucic, G. Rätsch, S. Gelly, B. Schölkopf, O. Bachem. *Challenging
#   Common Assumptions in the Unsupervised Learning of Disentangled Representations.* ICML 2019.
# * L. Matthey, I. Higgins, D. Hassabis, A. Lerchner. *dSprites: Disentanglement testing Sprites
#   dataset.* https://github.com/deepmind/dsprites-dataset, 2017.
