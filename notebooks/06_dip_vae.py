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
# # 06 · DIP-VAE: matching moments
#
# Notebook 05 penalised the total correlation of the aggregate posterior $q(z)$ — and paid for it
# with estimators that need the whole dataset. Kumar, Sattigeri & Balakrishnan (2018) ask for less:
# make the **first two moments** of $q(z)$ match those of the prior $\mathcal N(0, I)$. Moments of
# a minibatch are good estimates of the moments of the dataset, so the penalty is cheap and
# unbiased enough. In this notebook you will
#
# * derive the covariance of the aggregate posterior, $\mathrm{Cov}_{q(z)}[z] =
#   \mathrm{Cov}[\mu(x)] + \mathbb E[\operatorname{diag}\sigma^2(x)]$;
# * write down **DIP-VAE-I** (penalise $\mathrm{Cov}[\mu]$) and **DIP-VAE-II** (penalise
#   $\mathrm{Cov}_{q(z)}$), train both, and look at both covariances as heatmaps;
# * reproduce in miniature the first finding of Locatello et al. (2019): the regularisers act on
#   the **sampled** representation $z \sim q(z \mid x)$, but metrics and downstream tasks use the
#   **mean** representation $\mu(x)$ — and the two need not have the same total correlation.
#
# The models have `STEPS` training steps (printed below): at `smoke` 20, meaningless models that
# only prove the code runs; at `lecture` the age of the pretrained zoo's models (`lecture_steps`), and at `full`
# too (all six of the study's λ_od, so the three the zoo lacks train here at its age: on a GPU as one packed
# network); the study trains for 300,000. Figures about trained models are only meaningful from `lecture` on.
#
# **Time** (measured with `python -m course_lib notebooks --only 06_dip_vae` on a 2-core CPU shared
# with other jobs; the index that `make report` writes shows yours): `smoke` 32 s; `lecture` minutes
# — its trained models are loaded from the pretrained zoo (`data/pretrained`), none is trained here
# (not timed end to end).

# %% tags=["parameters"]
profile = None  # smoke | lecture | full; None reads $COURSE_PROFILE (default lecture)
device = "auto"
seed = 0

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from IPython.display import Markdown, display

from course_lib.data import DSprites
from course_lib.metrics import gaussian_total_correlation
from course_lib.objectives import STUDY_SWEEPS
from course_lib.objectives.dip_vae import dip_penalty
from course_lib.representation import encode, kl_per_latent, latent_traversals
from course_lib.analysis.tc_analysis import (aggregate_posterior_covariance, correlated_gaussian_posteriors,
                                             mean_and_sampled_tc, sample_codes)
from course_lib.lab.analysis_plots import plot_covariance_heatmaps
from course_lib.kit.runs import train_or_load_all
from course_lib.kit.lecture_models import lecture_config, lecture_steps
from course_lib.lab.notice import notice, span, trend
from course_lib.lab.setup import notebook_setup
from course_lib.lab.viz import plot_traversals

P, DEVICE, random_state = notebook_setup(profile, device, seed)
STEPS = lecture_steps(P, seed)  # the steps of this notebook's models (the zoo's age at lecture)
print(f"trained models: {STEPS:,} steps")

# %% [markdown]
# ## 1 · Why match moments?
#
# If the factors of variation are independent and the code is disentangled, the aggregate
# posterior $q(z) = \mathbb E_{p(x)}[q(z \mid x)]$ should factorise — and if the decoder is to
# generate from the prior, it should *be* the prior. Kumar et al. therefore add a divergence to the
# ELBO:
#
# $$
# \max_{\theta, \phi}\; \mathrm{ELBO}(\theta, \phi) - \lambda\, D\big(q_\phi(z) \,\|\, p(z)\big).
# $$
#
# With $D = \mathrm{KL}$ this needs $\log q(z)$, a mixture over the whole dataset (notebook 05);
# FactorVAE estimates a related KL with a discriminator (notebook 04). DIP-VAE ("disentangled
# inferred prior") settles for matching moments. The mean is easy; the interesting moment is the
# covariance: $\mathrm{Cov}_{q(z)}[z] = I$ says the coordinates are **uncorrelated** and of unit
# scale. For a Gaussian that would be independence; for $q(z)$ it is a necessary condition.

# %% [markdown]
# ## 2 · The covariance of the aggregate posterior
#
# Each posterior is $q(z \mid x) = \mathcal N(\mu(x), \Sigma(x))$ with
# $\Sigma(x) = \operatorname{diag}\sigma^2(x)$. Draw $x \sim p(x)$, then $z \sim q(z \mid x)$. Step
# by step:
#
# $$
# \mathbb E_{q(z)}[z] = \mathbb E_{p(x)}\big[\mathbb E_{q(z \mid x)}[z]\big] = \mathbb E_{p(x)}[\mu(x)],
# $$
#
# $$
# \mathbb E_{q(z)}[z z^\top] = \mathbb E_{p(x)}\big[\mathbb E_{q(z \mid x)}[z z^\top]\big]
# = \mathbb E_{p(x)}\big[\Sigma(x) + \mu(x)\mu(x)^\top\big],
# $$
#
# so
#
# $$
# \mathrm{Cov}_{q(z)}[z] = \mathbb E[z z^\top] - \mathbb E[z]\,\mathbb E[z]^\top
# = \underbrace{\mathbb E_{p(x)}[\Sigma(x)]}_{\text{diagonal: the encoder's noise}}
# + \underbrace{\mathbb E_{p(x)}[\mu\mu^\top] - \mathbb E_{p(x)}[\mu]\,\mathbb E_{p(x)}[\mu]^\top}_{\mathrm{Cov}_{p(x)}[\mu(x)]} .
# $$
#
# This is the law of total covariance. Because $\Sigma(x)$ is diagonal, **the off-diagonal entries
# of $\mathrm{Cov}_{q(z)}$ and of $\mathrm{Cov}[\mu]$ are the same**; they differ only on the
# diagonal, by the average posterior variance. `aggregate_posterior_covariance` computes both; on
# the constructed dataset of notebook 05 (posterior std 0.3, correlated means) we compare them with
# the covariance of samples $z \sim q(z)$:

# %%
toy_means, toy_log_vars = correlated_gaussian_posteriors(P.num_samples, 3, correlation=0.8, posterior_std=0.3,
                                                         random_state=random_state)
cov_mean, cov_q = aggregate_posterior_covariance(toy_means, toy_log_vars)
cov_sampled = np.cov(sample_codes(toy_means, toy_log_vars, random_state), rowvar=False, bias=True)
print("Cov[mu]:\n", cov_mean.round(3))
print("Cov[mu] + E[diag sigma^2]:\n", cov_q.round(3))
print(f"covariance of {P.num_samples:,} samples z ~ q(z):\n", cov_sampled.round(3))

# %% [markdown]
# The two formulas agree with the samples up to sampling error ($\approx 1/\sqrt{N}$), and the
# diagonal of $\mathrm{Cov}_{q(z)}$ exceeds that of $\mathrm{Cov}[\mu]$ by $0.3^2 = 0.09$.

# %% [markdown]
# ## 3 · DIP-VAE-I and DIP-VAE-II
#
# For a symmetric matrix $C$ define the penalty
#
# $$
# \mathrm{pen}(C) = \lambda_{od} \sum_{i \ne j} C_{ij}^2 + \lambda_d \sum_i (C_{ii} - 1)^2 ,
# $$
#
# off-diagonal entries pushed to 0, diagonal entries to 1. The two variants differ only in the
# matrix they penalise:
#
# $$
# \textbf{DIP-VAE-I:}\; -\mathrm{ELBO} + \mathrm{pen}\big(\mathrm{Cov}_{p(x)}[\mu(x)]\big), \qquad
# \textbf{DIP-VAE-II:}\; -\mathrm{ELBO} + \mathrm{pen}\big(\mathrm{Cov}_{p(x)}[\mu(x)] + \mathbb E_{p(x)}[\operatorname{diag}\sigma^2(x)]\big).
# $$
#
# Both are computed on the minibatch (`course_lib.objectives.dip_vae`). The study's defaults
# (Locatello et al. 2019) tie the diagonal weight to the off-diagonal one: $\lambda_d = 10\,\lambda_{od}$
# for DIP-VAE-I and $\lambda_d = \lambda_{od}$ for DIP-VAE-II, and sweep
# $\lambda_{od} \in$ `STUDY_SWEEPS["dip_vae_i"]`.
#
# By Section 2 the **off-diagonal** terms of I and II are identical; the **diagonal** terms are not.
# DIP-VAE-I wants every mean coordinate to vary with variance 1 across the data — an unused latent
# ($\mu \equiv 0$) costs $\lambda_d$. DIP-VAE-II is satisfied by such a latent as long as its noise
# has variance 1, which is exactly what the KL term wants for an unused latent anyway:

# %%
collapsed = {"mu": torch.zeros(1000, 1), "log_var": torch.zeros(1000, 1)}  # one unused latent: q(z|x) = N(0, 1)
cov_i = torch.cov(collapsed["mu"].T, correction=0).reshape(1, 1)
cov_ii = cov_i + torch.diag(collapsed["log_var"].exp().mean(0))
for name, cov, lambda_d in (("DIP-VAE-I", cov_i, 10.0), ("DIP-VAE-II", cov_ii, 1.0)):
    off_diagonal, diagonal = dip_penalty(cov, lambda_od=1.0, lambda_d=lambda_d)
    print(f"{name}: penalised covariance {cov.item():.1f}, penalty of an unused latent = {diagonal.item():.1f}")

# %% [markdown]
# ## 4 · Training both
#
# We train DIP-VAE-I for `P.num_sweep_values` values of $\lambda_{od}$ spread over the study's sweep
# (Section 5 needs them) and DIP-VAE-II once, both at the largest value. Study settings otherwise:
# batch 64, Adam with learning rate $10^{-4}$, 10 latents, `STEPS` steps.

# %%
_, sweep_values = STUDY_SWEEPS["dip_vae_i"]
picked = np.unique(np.round(np.linspace(0, len(sweep_values) - 1, P.num_sweep_values)).astype(int))
LAMBDAS = [sweep_values[i] for i in picked]
LAMBDA = LAMBDAS[-1]
configs = [lecture_config("dip_vae_i", {"lambda_od": lam}, P, seed) for lam in LAMBDAS]
*trained, dip_ii = train_or_load_all(configs + [lecture_config("dip_vae_ii", {"lambda_od": LAMBDA}, P, seed)],
                                     device=DEVICE)  # on a GPU, the ones to train as one pack
dip_i = dict(zip(LAMBDAS, trained))
print("study sweep:", sweep_values, "| trained DIP-VAE-I at", LAMBDAS, "| DIP-VAE-II at", LAMBDA)
print("DIP-VAE-I :", dip_i[LAMBDA].objective.hyperparameters())
print("DIP-VAE-II:", dip_ii.objective.hyperparameters())

# %% [markdown]
# Both covariances of both models, over `P.num_samples` images:

# %%
data = DSprites("binary")
observations = data.sample(P.num_samples, random_state)[1]
codes = {("DIP-VAE-I", lam): encode(run.model, observations) for lam, run in dip_i.items()}
codes["DIP-VAE-II", LAMBDA] = encode(dip_ii.model, observations)
shown = [("DIP-VAE-I", LAMBDA), ("DIP-VAE-II", LAMBDA)]
matrices = {key: aggregate_posterior_covariance(*codes[key]) for key in shown}
plot_covariance_heatmaps({f"{method} (λ_od = {lam}): {name}": matrix for (method, lam), pair in matrices.items()
                          for name, matrix in zip(("Cov[μ(x)]", "Cov_q(z) = Cov[μ] + E[diag σ²]"), pair)})
plt.suptitle(f"Covariances over {P.num_samples:,} images ({STEPS:,} training steps)")
plt.show()

# %%
table = {}
for (method, lam), (cov_mu, cov_z) in matrices.items():
    off_diagonal = cov_mu[~np.eye(len(cov_mu), dtype=bool)]
    table[f"{method} {lam}"] = {"off-diagonal norm": np.sqrt((off_diagonal ** 2).sum()),
                                "|diag Cov[μ] - 1|²": ((np.diag(cov_mu) - 1) ** 2).sum(),
                                "|diag Cov_q - 1|²": ((np.diag(cov_z) - 1) ** 2).sum(),
                                "latents with Var[μ] > 0.1": int((np.diag(cov_mu) > 0.1).sum())}
print(pd.DataFrame(table).round(3))

# %%
display(Markdown(notice([f"{method} (λ_od = {lam}): diagonal of Cov[μ] {span(np.diag(cov_mu))}, of Cov_q(z) "
                         f"{span(np.diag(cov_z))}; largest |off-diagonal entry| "
                         f"{np.abs(cov_mu - np.diag(np.diag(cov_mu))).max():.3f}."
                         for (method, lam), (cov_mu, cov_z) in matrices.items()], heading="**This run.**")))

# %% [markdown]
# **What to notice.** *(Meaningful from `lecture` on; this run's ranges are printed above.)*
# * Off the diagonal the two columns are identical (Section 2) — and both objectives push those
#   entries towards zero: how close to zero they are is how far training has got.
# * DIP-VAE-I's **$\mathrm{Cov}[\mu]$** is the matrix it penalises: its diagonal is pulled to 1
#   for every latent, used or not. Its $\mathrm{Cov}_{q(z)}$ has the noise added on top, so its
#   diagonal lies above $\mathrm{Cov}[\mu]$'s by each latent's average posterior variance.
# * DIP-VAE-II's **$\mathrm{Cov}_{q(z)}$** is the matrix it penalises; its $\mathrm{Cov}[\mu]$
#   shows how the variance 1 is split between signal ($\mathrm{Var}[\mu_i]$) and noise
#   ($\mathbb E[\sigma_i^2]$): latents with a pale diagonal entry are (nearly) unused.

# %% [markdown]
# ## 5 · Mean versus sampled representation (Locatello et al. 2019)
#
# The objectives of notebooks 02–06 regularise the **sampled** representation
# $z \sim q(z \mid x)$: the KL, the TC of $q(z)$, the covariance $\mathrm{Cov}_{q(z)}$. But
# disentanglement metrics and downstream tasks use the **mean** representation $\mu(x)$. Locatello
# et al. fit a Gaussian to each and compute its total correlation,
#
# $$
# \mathrm{TC}\big(\mathcal N(m, C)\big) = \tfrac12\Big(\sum_i \log C_{ii} - \log\det C\Big)
# \qquad\text{(`gaussian_total_correlation`)},
# $$
#
# with $C = \mathrm{Cov}[\mu]$ for the mean and $C \approx \mathrm{Cov}[\mu] + \mathbb E[\operatorname{diag}\sigma^2]$
# for the sampled representation. Their finding (Section 5.1, on Color-dSprites): the TC of the
# **sampled** representation generally *decreases* as the regularisation strength grows, while the
# TC of the **mean** representation generally *increases* — "the methods enforce what they are
# asked to, on the sampled code". The one exception they report is DIP-VAE-I, whose mean
# representation keeps a consistently low TC: its penalty is on $\mathrm{Cov}[\mu]$ itself. Here is
# the miniature: DIP-VAE-I over our $\lambda_{od}$ values, and DIP-VAE-II at the largest.

# %%
rows = []
for (method, lam), (means, log_vars) in codes.items():
    tc = mean_and_sampled_tc(means, log_vars, random_state)
    rows.append({"method": method, "lambda_od": lam, "TC mean": tc["mean"], "TC sampled": tc["sampled"],
                 "used latents (KL > 0.1)": int((kl_per_latent(means, log_vars) > 0.1).sum())})
tc_table = pd.DataFrame(rows)
print(tc_table.round(3))
fig, ax = plt.subplots(figsize=(6.5, 4.2), layout="constrained")
for (method, part), color, marker in zip(tc_table.groupby("method", sort=False), ("tab:blue", "tab:red"), "os"):
    ax.plot(part["lambda_od"], part["TC mean"], marker + "-", color=color, label=f"{method}, mean μ(x)")
    ax.plot(part["lambda_od"], part["TC sampled"], marker + "--", mfc="none", color=color, label=f"{method}, sampled z")
ax.set(xscale="log", xlabel="regularisation strength λ_od", ylabel="Gaussian total correlation (nats)",
       title=f"Mean vs sampled representation ({STEPS:,} steps)")
ax.legend(fontsize=8)
plt.show()

# %%
below = (tc_table["TC sampled"] <= tc_table["TC mean"]) | tc_table["TC mean"].isna()  # nan: an infinite mean TC
first, last = tc_table[tc_table["method"] == "DIP-VAE-I"].iloc[[0, -1]].to_dict("records")  # weakest, strongest
at_lambda = tc_table[tc_table["lambda_od"] == LAMBDA].to_dict("records")  # DIP-VAE-I and DIP-VAE-II
display(Markdown(notice([
    f"The sampled TC is at most the mean TC in {below.sum()} of {len(tc_table)} models.",
    *[f"DIP-VAE-I, λ_od = {first['lambda_od']} → {last['lambda_od']}: {part} TC {first[column]:.3f} → {last[column]:.3f}"
      + (f" ({trend(first[column], last[column], 'rises', 'falls', 'stays level', tol=0.01)})."
         if np.isfinite([first[column], last[column]]).all() else " (nan: a constant mean coordinate).")
      for part, column in (("sampled", "TC sampled"), ("mean", "TC mean"))],
    *[f"{row['method']} at λ_od = {LAMBDA}: mean TC {row['TC mean']:.3f}, sampled {row['TC sampled']:.3f} nats, "
      f"{row['used latents (KL > 0.1)']} used latents." for row in at_lambda],
], heading="**This run** (Gaussian TC, nats):")))

# %% [markdown]
# **What to notice.** *(Meaningful from `lecture` on; a `nan` marks a mean representation with a
# constant coordinate, whose Gaussian TC is infinite.)*
# * The sampled representation's TC cannot be above the mean's, up to the sampling noise of one
#   draw per image: adding independent noise to each coordinate can only destroy dependence
#   (Exercise 3 proves it). So a regulariser can lower the sampled TC in two ways — decorrelate the
#   means, or drown them in noise.
# * DIP-VAE-I takes the first route by construction: it pushes $\mathrm{Cov}[\mu]$ towards $I$, and
#   the closer it gets, the smaller and closer the two TCs. Compare the directions printed above
#   with Locatello et al.'s: they found DIP-VAE-I's mean TC to stay low as $\lambda_{od}$ grows.
# * DIP-VAE-II penalises only the noisy covariance. Latents it leaves unused have
#   $\mathrm{Var}[\mu_i] \ll 1$, and their small, unpenalised fluctuations can be strongly
#   correlated with the rest — a high TC of the mean code that the objective never sees
#   (Bonheme & Grzes 2022 trace the mean–sampled gap to such "passive" latents). Whether this run
#   shows it: compare the two methods' mean TCs at the same $\lambda_{od}$ above.
# * The study runs every method at six strengths for 300,000 steps on five datasets, and reports
#   trends over many seeds; these are a few models of one seed on one dataset, with the number of
#   steps in the figure's title. Read the direction of the effects, not the numbers — and a
#   direction that disagrees with the paper's is one seed's outcome, not a refutation.

# %% [markdown]
# ## 6 · Traversals
#
# Each row decodes one latent moved across its 5 %–95 % range around the code of one image, sorted
# by KL (labelled).

# %%
for name, run in (("DIP-VAE-I", dip_i[LAMBDA]), ("DIP-VAE-II", dip_ii)):
    traversals, order = latent_traversals(run.model, observations[0], codes[name, LAMBDA], num_steps=10)
    plot_traversals(traversals, order, kl_per_latent(*codes[name, LAMBDA]))
    plt.suptitle(f"{name}, λ_od = {LAMBDA}: latent traversals ({STEPS:,} training steps)")
    plt.show()

# %% [markdown]
# **What to notice.** *(Meaningful from `lecture` on; the used latents of each model are counted in
# Section 5's table.)*
# * DIP-VAE-I's diagonal penalty forbids unused latents, so expect more rows that change the image;
#   some of them may change it in the same way (the variance has to go somewhere).
# * DIP-VAE-II can switch latents off; those rows show the same image throughout. Compare the two
#   models' counts of used latents with the rows that visibly change.

# %% [markdown]
# ## Exercises
#
# ### Exercise 1
#
# Check the law of total covariance on the trained DIP-VAE-II: draw one $z \sim q(z \mid x)$ per
# encoded image and compare the sample covariance of $z$ with `aggregate_posterior_covariance`.
# How large is the largest difference, compared with the sampling error of a covariance of
# $N$ = `P.num_samples` points ($\approx \sqrt{C_{ii} C_{jj} / N}$)?

# %% tags=["solution"]
means, log_vars = codes["DIP-VAE-II", LAMBDA]
_, cov_z = aggregate_posterior_covariance(means, log_vars)
cov_samples = np.cov(sample_codes(means, log_vars, random_state), rowvar=False, bias=True)
scale = np.sqrt(np.outer(np.diag(cov_z), np.diag(cov_z)) / len(means))
print(f"largest |difference| = {np.abs(cov_samples - cov_z).max():.4f}; "
      f"largest difference in units of the sampling error = {(np.abs(cov_samples - cov_z) / scale).max():.2f}")

# %% [markdown] tags=["solution"]
# The formula is exact, the samples are noisy: the largest difference (of 55 entries) should be a
# few sampling errors at most — compare the printed ratio. That is why DIP-VAE-II needs no sampling to evaluate its penalty.

# %% [markdown]
# ### Exercise 2
#
# DIP-VAE-I is happy with any code whose means have identity covariance. Whiten the means of the
# DIP-VAE-I model at $\lambda_{od}$ = `LAMBDA` ($\tilde\mu = W(\mu - \bar\mu)$ with
# $W = \mathrm{Cov}[\mu]^{-1/2}$), then rotate them by a random orthogonal $R$. Compare the DIP-I
# penalty and the Gaussian TC of $\tilde\mu$ and $R\tilde\mu$. Are the two codes equally
# disentangled? What does this say about what second moments can identify?

# %% tags=["solution"]
means, _ = codes["DIP-VAE-I", LAMBDA]
cov_mu = np.cov(means, rowvar=False, bias=True)
values, vectors = np.linalg.eigh(cov_mu)
whitened = (means - means.mean(0)) @ vectors @ np.diag(values ** -0.5) @ vectors.T
rotation, _ = np.linalg.qr(random_state.randn(means.shape[1], means.shape[1]))
for name, code in (("whitened", whitened), ("whitened, rotated", whitened @ rotation.T)):
    cov = torch.as_tensor(np.cov(code, rowvar=False, bias=True))
    penalty = sum(p.item() for p in dip_penalty(cov, LAMBDA, 10 * LAMBDA))
    print(f"{name:<18} DIP-I penalty {penalty:.2e}   Gaussian TC {gaussian_total_correlation(code):.2e}")
mixing = np.abs(np.corrcoef(whitened.T, (whitened @ rotation.T).T)[:10, 10:])
print("largest |correlation| of each rotated coordinate with any original one:", mixing.max(0).round(2))

# %% [markdown] tags=["solution"]
# Both codes have penalty and TC zero up to rounding, yet every rotated coordinate is a mixture of
# all the original ones (the printed correlation of each with its best-matching original coordinate
# would be 1 for a coordinate copied from a single one). Covariance is invariant
# under $\mu \mapsto R\mu$ only up to $R\,C\,R^\top$, and $R I R^\top = I$: second moments cannot
# tell a disentangled code from a rotated one. Whatever makes DIP-VAE pick particular axes comes
# from elsewhere — the non-Gaussian shape of the data, the architecture, the optimiser. This is a
# small instance of Locatello et al.'s impossibility result (notebook 07).

# %% [markdown]
# ### Exercise 3
#
# (a) Let $x$ have independent-coordinate noise added, $z_i = x_i + \varepsilon_i$ with all
# $\varepsilon_i$ independent of each other and of $x$. Show that $\mathrm{TC}(z) \le \mathrm{TC}(x)$.
# (Hint: the map $x \mapsto z$ is a Markov kernel that acts coordinate by coordinate; it sends
# $p(x)$ to $p(z)$ and $\prod_i p(x_i)$ to $\prod_i p(z_i)$; use the data processing inequality
# for the KL.)
# (b) For the trained DIP-VAE-II, plot the Gaussian TC of
# $C(s) = \mathrm{Cov}[\mu] + s\, \mathbb E[\operatorname{diag}\sigma^2]$ for $s \in [0, 1]$
# ($s = 0$: mean representation; $s = 1$: sampled). Is it monotone?

# %% tags=["solution"]
def gaussian_tc_of_covariance(cov):
    return 0.5 * (np.log(np.diag(cov)).sum() - np.linalg.slogdet(cov)[1])


means, log_vars = codes["DIP-VAE-II", LAMBDA]
cov_mu, cov_z = aggregate_posterior_covariance(means, log_vars)
noise = cov_z - cov_mu
s = np.linspace(0, 1, 21)
tc = [gaussian_tc_of_covariance(cov_mu + t * noise + 1e-12 * np.eye(len(noise))) for t in s]
fig, ax = plt.subplots(figsize=(5.5, 3.6), layout="constrained")
ax.plot(s, tc, "o-")
ax.set(xlabel="s (0: mean representation, 1: sampled)", ylabel="Gaussian TC (nats)",
       title="Adding the encoder's noise step by step (DIP-VAE-II)")
plt.show()
print("monotone non-increasing:", bool(np.all(np.diff(tc) <= 1e-9)))

# %% [markdown] tags=["solution"]
# (a) The kernel $K = \bigotimes_i K_i$ maps the joint $p(x)$ to $p(z)$, and the product of the
# marginals $\prod_i p(x_i)$ to $\prod_i p(z_i)$ (each coordinate is noised on its own). The data
# processing inequality, $\mathrm{KL}(Kp \,\|\, Kq) \le \mathrm{KL}(p \,\|\, q)$, gives
# $\mathrm{TC}(z) = \mathrm{KL}(p(z) \,\|\, \prod_i p(z_i)) \le \mathrm{KL}(p(x) \,\|\, \prod_i p(x_i)) = \mathrm{TC}(x)$.
# (b) For the fitted Gaussians, $C(s)$ is the covariance of $\mu$ plus independent noise of
# variance $s\,\mathbb E[\sigma_i^2]$, and $C(s_2)$ is $C(s_1)$ plus more such noise, so (a) makes
# the curve non-increasing: the sampled TC can never exceed the mean TC, and a model can make the
# former small without touching the latter.

# %% [markdown]
# ## Summary
#
# * $\mathrm{Cov}_{q(z)}[z] = \mathrm{Cov}[\mu(x)] + \mathbb E[\operatorname{diag}\sigma^2(x)]$:
#   the aggregate posterior's covariance is the means' covariance plus the average noise, which is
#   diagonal — off the diagonal the two are equal.
# * DIP-VAE-I pushes $\mathrm{Cov}[\mu]$ to $I$ ($\lambda_d = 10\lambda_{od}$ in the study), so every
#   latent must be used; DIP-VAE-II pushes $\mathrm{Cov}_{q(z)}$ to $I$ ($\lambda_d = \lambda_{od}$)
#   and lets latents switch off. Both are cheap minibatch moments.
# * Regularisers act on the sampled code; its Gaussian TC is never above the mean code's, and
#   lowering it says little about the mean code that metrics use — except for DIP-VAE-I, which
#   penalises the mean code directly (Locatello et al. 2019). Second moments cannot pick the axes.
#
# **Next:** notebook 07 turns the last point into a theorem.
#
# ## References
#
# * A. Kumar, P. Sattigeri, A. Balakrishnan. *Variational Inference of Disentangled Latent Concepts
#   from Unlabeled Observations.* ICLR 2018.
# * F. Locatello, S. Bauer, M. Lucic, G. Rätsch, S. Gelly, B. Schölkopf, O. Bachem. *Challenging
#   Common Assumptions in the Unsupervised Learning of Disentangled Representations.* ICML 2019.
# * L. Bonheme, M. Grzes. *Be More Active! Understanding the Differences Between Mean and Sampled
#   Representations of Variational Autoencoders.* arXiv:2109.12679, 2021.
# * R. T. Q. Chen, X. Li, R. Grosse, D. Duvenaud. *Isolating Sources of Disentanglement in
#   Variational Autoencoders.* NeurIPS 2018.
# * H. Kim, A. Mnih. *Disentangling by Factorising.* ICML 2018.
# * T. M. Cover, J. A. Thomas. *Elements of Information Theory*, 2nd ed., Wiley 2006 (the data
#   processing inequality).
