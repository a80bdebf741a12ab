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
# The models are trained for `STEPS` steps (printed below the imports): at `smoke` 20, which gives
# meaningless models that only prove the code runs; at `lecture` they are loaded from the pretrained
# zoo, as old as the zoo's models (`zoo --grow`); the study trains for 300,000. **Figures
# about trained models are only meaningful from `lecture` on**, and how far they have got depends on
# the models' age: every claim below about a trained model is computed from this run.
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
from course_lib.kit.lecture_models import lecture_config, lecture_steps
from course_lib.analysis.factor_matching import kl_onset_steps, smoothed_kl_per_latent
from course_lib.lab.setup import notebook_setup
from course_lib.lab.notice import notice, span, trend
from course_lib.lab.viz import (plot_kl_per_latent, plot_loss_curves, plot_reconstructions, plot_traversals,
                                show_images, traversal_gif)

P, DEVICE, random_state = notebook_setup(profile, device, seed)
STEPS = lecture_steps(P, seed)  # the steps of this notebook's models (the zoo's age at lecture)
ACTIVE_KL = 0.1  # nats: a latent whose mean KL exceeds this counts as used (Section 7)
print(f"profile {P.name}: models of {STEPS:,} training steps")

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
# * Both estimators are unbiased: each mean printed above should lie within a few standard errors
#   of $2\mu = 2$ (within two of them for 95 % of seeds).
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
# logs every term (a long run's log keeps at most a few thousand rows, each the mean of a block of
# consecutive steps, labelled with the block's last step). Interrupting the kernel while it trains
# loses nothing: the run writes a checkpoint at the step it was on, and running the cell again
# continues from there to the same model as an uninterrupted run.

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
window = max(1, len(run.log) // 50)  # rows of the log: a fiftieth of training
smooth = run.log.rolling(window, min_periods=1).mean().assign(step=run.log["step"])
fig = plot_loss_curves(smooth, ("total", "reconstruction", "kl"))
fig.axes[1].axhline(d0, color="tab:red", linestyle="--", label=f"$D_0$ = {d0:.0f}: decoder ignoring z")
fig.axes[1].legend()
for ax in fig.axes:
    ax.set_ylabel("nats per image")
fig.suptitle(f"VAE training on dSprites, {STEPS:,} steps: negative ELBO and its terms (running mean over 1/50 of training)")
plt.show()

# %%
below = smooth.loc[smooth["reconstruction"] < d0, "step"]
tenth = smooth["step"] >= 0.9 * STEPS  # the last tenth of training
late = smooth.loc[tenth, "total"]
display(Markdown(notice([
    f"Reconstruction term (smoothed): {smooth['reconstruction'].iloc[0]:.0f} nats at first, "
    + (f"first below $D_0$ = {d0:.0f} at step {below.iloc[0]:,}, " if len(below) else f"never below $D_0$ = {d0:.0f}, ")
    + f"{smooth['reconstruction'].iloc[-1]:.0f} nats at the end.",
    f"KL: {smooth['kl'].iloc[0]:.2f} nats at first, {smooth['kl'].iloc[-1]:.1f} at the end.",
    f"Over the last tenth of training the total {trend(late.iloc[0], late.iloc[-1], 'rises', 'still falls', 'stays level', tol=0.5)}: "
    f"{late.iloc[0]:.1f} → {late.iloc[-1]:.1f} nats.",
], heading=f"**This run** ({STEPS:,} steps).")))

# %% [markdown]
# **What to notice.** *(At `smoke` size these are 20 steps of noise.)*
# * An untrained decoder's logits are near 0, which costs about $\log 2$ per pixel: the reconstruction
#   term starts near $4{,}096 \log 2 \approx 2{,}839$ nats. Once it is below $D_0$ the model
#   uses its code; the further below, the more it uses it. The KL *rises* from 0 while the
#   reconstruction falls — information about the image has to be paid for in KL nats. Look for
#   **jumps** in the KL, each matched by a drop of the reconstruction term (a young run shows them
#   spread over its whole length; a long one packs them into its first few percent). The total (the
#   negative ELBO) falls as long as the reconstruction gains exceed the KL paid.
# * The last line above says whether the curves have flattened: the study trains for 300,000 steps,
#   and a total that still falls at the end of this run says it stopped short of that.

# %% [markdown]
# ## 6 · Reconstructions
#
# We encode `P.num_samples` random images (the representation is the posterior mean
# $\mu_\phi(x)$), decode the means of the first eight, and show the decoder's pixel probabilities
# $\sigma(f_\theta(\mu_\phi(x)))$ under the inputs.

# %%
means, log_vars = encode(model, observations)
plot_reconstructions(observations, decode(model, means[:8]), num=8)
plt.suptitle(f"Inputs and reconstructions ({STEPS:,} training steps)")
plt.show()

# %% [markdown]
# **What to notice.** *(Meaningful from `lecture` on.)*
# * Position and size are the first things a VAE gets right: a blob of the right size in the right
#   place already removes most of the reconstruction error.
# * Shape and orientation come later — a heart and a square of the same size differ in few pixels.
#   A young model returns squares and hearts as round blobs, and only the elongation of an ellipse
#   survives; long training recovers the shapes. Compare the outlines in the two rows above to see
#   how far this run has got.

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

# %%
ONSET = 0.5  # nats: a latent "switches on" when its smoothed KL first reaches this (as in notebook 03)
onsets = kl_onset_steps(run.log, ONSET, smooth=window).dropna().sort_values()
curves = smoothed_kl_per_latent(run.log, window)
lines = [f"After {STEPS:,} steps this VAE has **{num_active} of its {len(kl)} latents** above {ACTIVE_KL} nats, "
         f"from {kl.min():.2f} to {kl.max():.2f} nats each"
         + (": more than dSprites' five factors, so several latents share factors." if num_active > 5 else ".")]
if len(onsets):
    first, last = onsets.index[0], onsets.index[-1]
    lines.append(f"{len(onsets)} latents reach {ONSET} nats (smoothed) during training: the first, z{first}, at "
                 f"step {onsets[first]:,.0f}, the last, z{last}, at step {onsets[last]:,.0f}.")
    lines.append(f"z{first} peaks at {curves[first].max():.2f} nats and ends at {curves[first].iloc[-1]:.2f}: it "
                 + trend(curves[first].max(), curves[first].iloc[-1], "", "gives some back as the others join",
                         "keeps its peak", tol=0.1) + ".")
display(Markdown(notice(lines, note="*(Meaningful from `lecture` on.)*")))

# %% [markdown]
# * With β = 1 information is cheap, and nothing forces a latent to stay unused (notebook 02 shows
#   what a larger price does). dSprites has only five factors, so a code that uses more than five
#   latents is redundant.
# * Read the onsets in the training curves: the latents need not switch on together. Each latent is
#   adopted when the reconstruction it buys exceeds the KL it costs, so the first ones tend to carry
#   what is worth the most pixels (the sprite's coarse position and size; Burgess et al. 2018), and
#   they may give some KL back when the others join. A long run may do all of this in its first few
#   percent, where the curves then look like steps at the left edge. Notebook 03 turns this observation into a method.

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
plt.suptitle(f"VAE latent traversals around one image ({STEPS:,} steps; rows sorted by KL)")
plt.show()
print(f"inactive latents (KL below {ACTIVE_KL} nats): {len(kl) - num_active} of {len(kl)}")

# %% [markdown]
# The same traversals as an animation, one panel per latent (left: highest KL), written next to the
# run's checkpoint:

# %%
gif_path = run.directory / "traversals.gif"
traversal_gif(gif_path, traversals)
display(Image(filename=str(gif_path)))

# %% [markdown]
# **What to notice.** *(Meaningful from `lecture` on.)*
# * Ask of each row what it does: move the sprite, grow it, deform it — and whether it does **two
#   things at once**, e.g. moves the sprite diagonally while it grows it. An inactive latent
#   (KL $\approx 0$; the line under the figure counts them) gives a constant row.
# * Nothing in the ELBO asks for one factor per latent: the prior $\mathcal N(0, I)$ is
#   rotation-invariant, so any rotation of a good code is an equally good code. This is the problem
#   the rest of the course is about.

# %% [markdown]
# ## 9 · A two-dimensional latent space
#
# With $D = 2$ we can look at the whole latent space at once. `mlp_vae` is a small fully connected
# VAE (two hidden layers of 256 units); we train it with the same objective and the same number of
# steps.
# Two pictures:
#
# * the **latent plane**: the posterior means of `P.num_samples` images, coloured by a ground-truth
#   factor;
# * the **manifold**: the decoder applied to a grid of codes. Kingma & Welling's Figure 4 spaces the
#   grid evenly in *probability*: $z_j = \Phi^{-1}(u_j)$ for evenly spaced $u_j \in (0, 1)$, $\Phi$
#   the standard normal CDF, so that each cell holds the same prior mass. That assumes the codes of
#   the data fill the prior. We check this first (the dashed square on the plane holds 90 % of the
#   prior in each coordinate, $\Phi^{-1}(0.05) \dots \Phi^{-1}(0.95)$) and space the grid by the
#   quantiles of the codes themselves, which holds whether or not they fill the prior — the same
#   construction with the empirical distribution of each coordinate of $\mu_\phi(x)$ in place of $\Phi$.

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

# %%
import pandas as pd

values = {n: np.asarray(data.factor_values[n])[factors[:, data.factor_names.index(n)]] for n in shown}
radius = np.linalg.norm(means_2d - np.median(means_2d, axis=0), axis=1)  # distance from the codes' centre
rho = pd.DataFrame({c: {n: np.corrcoef(v, x)[0, 1] for n, v in values.items()}
                    for c, x in {"μ1": means_2d[:, 0], "μ2": means_2d[:, 1], "radius": radius}.items()})
outside = (np.abs(means_2d) > norm.ppf(0.95)).any(axis=1).mean()
lines = [f"{n}: ρ = {rho.loc[n, 'μ1']:+.2f} with $\\mu_1$, {rho.loc[n, 'μ2']:+.2f} with $\\mu_2$, "
         f"{rho.loc[n, 'radius']:+.2f} with the distance from the codes' centre" for n in shown]
lines.append(f"{outside:.0%} of the codes lie outside the dashed box (the prior puts {1 - 0.9 ** 2:.0%} there); the "
             f"codes' standard deviations are {span(means_2d.std(axis=0))}, the posterior widths "
             f"{span(np.exp(0.5 * log_vars_2d).mean(axis=0), '.3f')}, the KL per latent "
             f"{span(kl_per_latent(means_2d, log_vars_2d), '.1f')} nats.")
display(Markdown(notice(lines, heading=f"**This run** (the 2-D VAE, {STEPS:,} steps; ρ: Pearson correlation):")))

# %% [markdown]
# **What to notice.** *(Meaningful from `lecture` on.)*
# * With two latents the model must choose what to keep. Position is worth the most pixels, so look
#   for a plane that is a map of the image: a position that changes along one axis has $|\rho|$ near 1
#   with that axis and near 0 with the other; a tilted direction shares its $\rho$ between the two —
#   nothing in the ELBO prefers these axes to any rotation of them. Scale can be folded in
#   **radially**, small sprites in the middle and large ones at the rim: a clearly positive $\rho$
#   with the distance from the centre.
# * Codes spread beyond the prior's dashed box, with posterior widths far below 1, mean that the KL
#   term pays nats per latent to place the images precisely. A grid spaced by the prior's quantiles
#   would then decode only the crowded middle of the codes, and decoding draws from $p(z)$ would give
#   mostly the images coded near the centre — a VAE is a good sampler only when its codes fill the
#   prior. The line above says how far this run's codes are from doing so.
# * The decoded grid is **smooth**, because the decoder is a continuous function: neighbouring codes
#   decode to similar images. Follow the blob across the grid: where does it shift, where does it
#   grow, and does it fade where sprites of many positions crowd together (the decoder can only draw
#   their average there)? Look for shape and orientation: two latents are too few for five factors.

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
rd = rate_distortion_table({1: model, big_beta: run_big.model}, sample, per_latent=True, seed=seed)
print(rd[["rate", "distortion", "elbo", "num_active"]].rename_axis("beta")
      .rename(columns={"rate": "KL", "distortion": "reconstruction"}).round(1))
big_means = encode(run_big.model, sample)[0]
show_images(np.concatenate([sample[:8], decode(model, means[:8]), decode(run_big.model, big_means[:8])]), ncols=8,
            row_labels=["input", "β = 1", f"β = {big_beta}"],
            title=f"Reconstructions of the same images with β = 1 and β = {big_beta} ({STEPS:,} steps)")
plt.show()
quiet = (rd.filter(like="kl_") < ACTIVE_KL).sum(axis=1)  # latents with almost no KL
display(Markdown(notice([f"β = {b}: KL {r['rate']:.1f} nats, reconstruction {r['distortion']:.1f} nats, "
                         f"{r['num_active']:.0f} active latents (Var μ_d > 0.01), {quiet[b]} with KL under "
                         f"{ACTIVE_KL} nats" for b, r in rd.iterrows()], heading="**This run.**")))

# %% [markdown] tags=["solution"]
# With the heavier KL, information about the image is more expensive, so the model keeps less of it:
# its KL should be lower and its reconstruction term higher (the lines above give this run's).
# Compare the reconstructions: position and size are the cheapest to keep, so they are the last to
# go; look for blur, and for ellipses, squares and hearts that come back rounder. Compare the two
# counts too: while latents are being switched off, their posterior means still vary a little, so the
# number of active latents can lag behind the number of latents that carry almost no KL (Exercise 3
# shows why). Which point of the trade-off to pick is the subject of notebook 02.

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
lines = []
for beta, m in {1: model, big_beta: big_model}.items():
    m_means, m_log_vars = encode(m, observations)
    activity, m_kl = m_means.var(axis=0), kl_per_latent(m_means, m_log_vars)
    print(f"β = {beta}: active latents {np.flatnonzero(activity > 0.01).tolist()}")
    for d in np.argsort(-m_kl):
        print(f"   z{d}: activity {activity[d]:7.4f}   KL {m_kl[d]:6.3f} nats")
    lines.append(f"β = {beta}: {(activity > 0.01).sum()} latents active, {(m_kl > 1).sum()} above a nat of KL, "
                 f"{((activity > 0.001) & (activity < 0.1)).sum()} with an activity between 0.001 and 0.1")
display(Markdown(notice(lines, heading="**This run.**")))

# %% [markdown] tags=["solution"]
# Compare the two columns: activity and KL go together. Averaged over images,
# $\mathbb E_x[\mathrm{KL}_d] = \tfrac12 \big(\mathbb E_x[\mu_d^2] + \mathbb E_x[\sigma_d^2 - \log\sigma_d^2 - 1]\big)$
# with $\mathbb E_x[\mu_d^2] = A_d + (\mathbb E_x \mu_d)^2$, so a latent with a large activity has a
# large KL. The converse can fail: a latent whose mean does not move can still pay KL, by a constant
# offset or a posterior narrower than the prior — but that buys the decoder nothing, so training
# removes it, and inactive latents end at $\mu_d \approx 0$, $\sigma_d \approx 1$, KL $\approx 0$.
#
# The threshold matters. A latent whose activity is within a factor of ten of 0.01 (the last count
# above) is on its way out (or in): it carries a few hundredths of a nat, and depending on the
# threshold it counts as active or not. "The number of active latents" is a clean number only when no
# latent sits near the threshold — as for converged models, whose unused latents have reached
# $\mu_d \approx 0$, $\sigma_d \approx 1$.

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

K, images, estimates = 200, torch.from_numpy(observations[:4]).to(DEVICE), {}
with torch.no_grad():
    mean, log_var = model.encoder(images)
    for name, (m, lv) in {"prior": (torch.zeros_like(mean), torch.zeros_like(log_var)),
                          "encoder q(z|x)": (mean, log_var)}.items():
        z = m + torch.exp(0.5 * lv) * torch.randn(K, *m.shape, device=DEVICE)  # (K, N, D)
        log_px_z = -bernoulli_reconstruction(model.decoder(z.flatten(0, 1)), images.repeat(K, 1, 1, 1)).view(K, -1)
        log_w = log_px_z + gaussian_log_density(z, 0 * z, 0 * z).sum(-1) - gaussian_log_density(z, m, lv).sum(-1)
        estimates[name] = (torch.logsumexp(log_w, 0) - math.log(K)).cpu().numpy()
        print(f"proposal {name:<15}: log p(x) ≈", estimates[name].round(1))
    elbo = -(bernoulli_reconstruction(model(images)["logits"], images) + kl_to_standard_normal(mean, log_var).sum(1))
    print(f"{'ELBO (one z)':<24}:", elbo.cpu().numpy().round(1))
gaps = {name: value - elbo.cpu().numpy() for name, value in estimates.items()}  # estimate minus ELBO, per image
display(Markdown(notice([f"proposal {name}: " + (f"{span(d, '.1f')} nats above the ELBO" if (d >= 0).all() else
                                                 f"{span(-d, '.1f')} nats below the ELBO" if (d <= 0).all() else
                                                 f"from {d.min():+.1f} to {d.max():+.1f} nats from the ELBO")
                         for name, d in gaps.items()], heading=f"**This run** ({len(images)} images):")))

# %% [markdown] tags=["solution"]
# With the encoder as proposal the estimate is at or above the ELBO, up to the noise of the ELBO's
# single draw (the IWAE bound tightens the ELBO; the difference estimates the gap
# $\mathrm{KL}(q \,\|\, p(z \mid x))$, which shows how good the amortised posterior is). With the
# prior as proposal a trained model's estimate falls far *below*: 200 prior draws almost never land
# where $p(x \mid z)$ is large, and the estimate, though unbiased for $p(x)$, is hugely biased in
# $\log p(x)$ for any practical $K$. The lines above give both differences for this run's model. This
# is Section 1's argument in numbers, and the reason for learning $q$ at all.

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
    f"(KL above {ACTIVE_KL} nats after {STEPS:,} steps, Section 7)"
    + (f", switched on between steps {onsets.min():,.0f} and {onsets.max():,.0f}. " if len(onsets) else ". ")
    + "Nothing in its objective makes a latent follow a single factor: the ELBO is blind to rotations of the "
    "latent space."))

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
