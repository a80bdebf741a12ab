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
# # 07 · The impossibility theorem: same distribution, entangled code
#
# Notebooks 02–06 each added a term to the VAE objective — a heavier KL, a capacity, a total
# correlation, a moment penalty — hoping that the latents would line up with the factors of
# variation. Every one of those terms looks only at the images $x$ and at the codes the model makes
# of them. **Locatello et al. (2019)** asked whether that can ever be enough, and proved that it
# cannot: for every disentangled model there are infinitely many others that explain the data
# *exactly* as well and are completely entangled. In this notebook you will
#
# * read **Theorem 1** and its proof, and build the proof's bijection
#   $f = g^{-1} \circ h^{-1} \circ A \circ h \circ g$ step by step, drawing each map
#   (`course_lib.analysis.impossibility`);
# * check the theorem's two claims numerically: $f(z)$ has the distribution of $z$ (two-sample tests
#   on $10^5$ samples), and every partial derivative $\partial f_i / \partial z_j$ is non-zero;
# * apply $f$ to a **trained β-VAE**: the new model has the same prior, the same $p(x)$ and the same
#   ELBO, yet its traversals are entangled and its MIG, DCI and FactorVAE scores fall;
# * read what this means for unsupervised disentanglement: without **inductive biases** (or some
#   supervision) the problem has no answer, and which answer a method finds is decided by choices
#   that are not in its objective.
#
# The trained model is notebook 02's β-VAE with β = 16, trained for `STEPS` steps (printed below;
# `smoke`: 20 steps, a meaningless model that only proves the code runs; `lecture`: the age of the
# pretrained zoo's models, `lecture_steps`). Figures about the trained model are only meaningful from
# `lecture` on; the theorem's sections are exact at any size.
#
# **Time** (measured with `python -m course_lib notebooks --only 07_impossibility` on a 2-core CPU
# shared with other jobs; the index that `make report` writes shows yours): `smoke` 29 s; `lecture`
# minutes — its trained models are loaded from the pretrained zoo (`data/pretrained`), none is
# trained here (not timed end to end).

# %% tags=["parameters"]
profile = None  # smoke | lecture | full; None reads $COURSE_PROFILE (default lecture)
device = "auto"
seed = 0

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import scipy.stats as st
import torch

from IPython.display import Markdown, display

from course_lib.data import DSprites
from course_lib.analysis.impossibility import (EntangledVAE, EntanglingMap, elbo_terms, energy_distance_test,
                                               finite_difference_jacobian, householder, ks_tests, random_orthogonal)
from course_lib.lab.analysis_plots import plot_proof_stages
from course_lib.kit.lecture_models import lecture_config, lecture_steps
from course_lib.lab.setup import notebook_setup
from course_lib.lab.notice import notice, span, trend
from course_lib.lab.viz import plot_traversal_panels
from course_lib.representation import encode, kl_per_latent, latent_traversals, mean_code_function
from course_lib.kit.runs import train_or_load

P, DEVICE, random_state = notebook_setup(profile, device, seed)
STEPS = lecture_steps(P, seed)  # the steps of this notebook's models (the zoo's age at lecture)
NUM_TEST = 10 * P.num_samples  # samples per two-sample test (lecture: 10^5)
NUM_ELBO = max(200, P.num_samples // 10)  # images on which ELBOs are compared
FACTOR_VAE_SIZES = dict(num_train=min(10_000, P.num_samples // 10), num_eval=min(5_000, P.num_samples // 20),
                        num_variance_estimate=min(10_000, P.num_samples))  # the study (= full): 10,000 / 5,000 / 10,000
print(f"trained model: {STEPS:,} steps; samples per test: {NUM_TEST:,}")

# %% [markdown]
# ## 1 · The question
#
# Notebook 00 described a dataset by a generative model: factors $z = (z_1, \dots, z_d)$ drawn
# independently, $p(z) = \prod_i p_i(z_i)$, then an image $x \sim p(x \mid z)$. A representation is
# disentangled if each of its coordinates follows one $z_i$. An unsupervised method sees only samples
# of $x$. Suppose it were perfect and recovered the generative model itself. Could it tell the true
# $z$ apart from another latent variable $z' = f(z)$ that
#
# 1. has **the same distribution**, so the prior $p(z')$ is the same factorised $p$, and
# 2. generates **the same images**, $x = $ decoder$(f^{-1}(z'))$,
#
# but in which every coordinate $z'_i$ depends on every $z_j$? It could not: the two models assign
# every image the same probability. The theorem says such an $f$ always exists.
#
# > **Theorem 1** (Locatello et al. 2019). For $d > 1$, let $z \sim P$ be any distribution with
# > density $p(z) = \prod_{i=1}^d p_i(z_i)$. Then there is an infinite family of bijective functions
# > $f: \operatorname{supp}(z) \to \operatorname{supp}(z)$ such that
# > $\dfrac{\partial f_i(u)}{\partial u_j} \neq 0$ almost everywhere for all $i$ and $j$ (**$z$ and
# > $f(z)$ are completely entangled**) and $P(z \le u) = P(f(z) \le u)$ for all $u$ (**they have the
# > same marginal distribution**).
#
# "Completely entangled" is meant literally: a small change of any single coordinate $z_j$ changes
# every coordinate of $f(z)$. If $z$ was disentangled with respect to the factors, $f(z)$ is not — and
# nothing in the distribution of $x$ or of the codes can tell which of the two was the intended one.

# %% [markdown]
# ## 2 · The proof, one map at a time
#
# The proof composes four maps; three act on each coordinate separately, one mixes them.
#
# **Step 1 — to the uniform cube.** $g_i(u_i) = F_i(u_i) = P(z_i \le u_i)$, the marginal CDF. The
# *probability integral transform*: if $z_i$ has a continuous CDF, $F_i(z_i)$ is uniform on $[0, 1]$,
# because $P(F_i(z_i) \le s) = P(z_i \le F_i^{-1}(s)) = F_i(F_i^{-1}(s)) = s$. Each coordinate is
# transformed on its own, so independence is kept: $g(z) \sim \mathrm{Uniform}([0, 1]^d)$.
#
# **Step 2 — to the Gaussian.** $h_i(s_i) = \Phi^{-1}(s_i)$, the standard normal quantile: for $s_i$
# uniform, $P(\Phi^{-1}(s_i) \le n) = P(s_i \le \Phi(n)) = \Phi(n)$. So $h(g(z)) \sim \mathcal N(0, I)$.
#
# **Step 3 — mix.** Take an orthogonal matrix $A$ ($A^\top A = I$) **with no zero entry**. For
# $n \sim \mathcal N(0, I)$, $An$ is Gaussian with mean 0 and covariance $A I A^\top = I$: still
# $\mathcal N(0, I)$. The standard normal is the one factorised distribution that is invariant under
# rotations — that is why the proof goes through it. The paper's choice is a Householder reflection,
#
# $$
# A = I - 2vv^\top, \qquad v_1 = \sqrt{\alpha}, \quad v_i = \sqrt{\tfrac{1 - \alpha}{d - 1}}\ (i > 1),
# \qquad |v| = 1,
# $$
#
# with entries $A_{11} = 1 - 2\alpha$, $A_{ii} = 1 - \tfrac{2(1-\alpha)}{d-1}$ and $A_{ij} = -2 v_i v_j$:
# all non-zero for $\alpha \in (0, 0.5)$. Every $\alpha$, and every other orthogonal matrix without
# zeros, gives another $f$ — the "infinite family".
#
# **Step 4 — back.** $h^{-1} = \Phi$ maps $\mathcal N(0, I)$ to the uniform cube and $g^{-1}$,
# coordinate by coordinate the quantile functions $F_i^{-1}$, maps the cube to $p$. Altogether
#
# $$
# f = g^{-1} \circ h^{-1} \circ A \circ h \circ g, \qquad f(z) \sim p .
# $$
#
# **Entangled.** Write $s = g(u)$, $n = h(s)$, $m = An$, $t = h^{-1}(m)$. The chain rule, with
# $F_i' = p_i$, $(\Phi^{-1})'(s) = 1/\varphi(\Phi^{-1}(s))$ and $(F_i^{-1})'(t) = 1/p_i(F_i^{-1}(t))$, gives
#
# $$
# \frac{\partial f_i}{\partial u_j} = \underbrace{\frac{\varphi(m_i)}{p_i(f_i(u))}}_{> 0}\; A_{ij}\;
# \underbrace{\frac{p_j(u_j)}{\varphi(n_j)}}_{> 0},
# $$
#
# non-zero wherever the densities are positive, because $A_{ij} \ne 0$. $\square$
#
# `EntanglingMap(marginals, alpha)` implements $f$ for marginals given as frozen `scipy.stats`
# distributions, with `inverse` and the analytic `jacobian` above. (Numerically, $F_i(u_i)$ can round
# to 0 or 1 in the tails and $\Phi^{-1}$ would return $\pm\infty$; the library computes
# $\Phi^{-1}(F_i(u_i))$ from $\log F_i$ or $\log(1 - F_i)$, whichever is smaller, and clips at
# $\pm 37$ — see the module's docstring.) Here is the proof's $A$ for $d = 3$:

# %%
print("A = householder(3, alpha=0.25):\n", householder(3, 0.25).round(3))
print("A^T A = I:", np.allclose(householder(3, 0.25).T @ householder(3, 0.25), np.eye(3)))

# %% [markdown]
# Now every map drawn, for $d = 2$ with a skewed factor $z_1 \sim \mathrm{Gamma}(2)$ and a bounded
# one $z_2 \sim \mathrm{Beta}(2, 5)$. Points are coloured by their original $z_1$; the red lines are
# the images of the coordinate lines $z_1 = $ const, the dashed black lines those of $z_2 = $ const
# (each at the 10, 30, 50, 70 and 90 % quantiles).

# %%
toy = EntanglingMap([st.gamma(2.0), st.beta(2, 5)], alpha=0.25)
fig = plot_proof_stages(toy, random_state, num_points=3000)
fig.suptitle("f = g⁻¹ ∘ h⁻¹ ∘ A ∘ h ∘ g, map by map (A: Householder reflection, α = 0.25)")
plt.show()

# %% [markdown]
# **What to notice.**
# * Top row: $g$ and $h$ only stretch each axis, so the coordinate lines stay straight and
#   axis-parallel; the cloud becomes the uniform square, then the round standard Gaussian.
# * $A$ turns the Gaussian cloud — it looks the same as before — but the colours (the old $z_1$)
#   now run diagonally and the coordinate lines are tilted: each new axis mixes both old ones.
# * Bottom row: pushed back through $\Phi$ and the quantile functions, the cloud is again the uniform
#   square and then the Gamma × Beta cloud of the first panel, but the lines are curved and cross
#   both axes. Holding the old $z_1$ fixed (a red line) now moves both new coordinates.

# %% [markdown]
# ## 3 · Checking both claims numerically
#
# **Same distribution.** We draw two independent samples of `NUM_TEST` points from a
# four-dimensional factorised distribution with uniform, exponential, Gaussian and Beta marginals,
# push one through $f$ and compare. `ks_tests` runs scipy's two-sample Kolmogorov–Smirnov test on
# each coordinate and on 10 random 1-D projections (equal marginals do not imply an equal joint;
# by the Cramér–Wold theorem, all projections do); `energy_distance_test` is a permutation test of
# the joint distributions with the energy distance (on 1,000 points of each sample). As a **control**
# the same tests must reject a map that looks plausible but is wrong: rotating $z$ directly,
# $u \mapsto Au$, without the detour through the Gaussian.

# %%
f4 = EntanglingMap([st.uniform(), st.expon(), st.norm(), st.beta(2, 5)], alpha=0.25)
z, z_other = f4.sample(NUM_TEST, random_state), f4.sample(NUM_TEST, random_state)
checks = {"f(z) (the theorem's map)": f4(z), "A z (rotation only: wrong)": z @ f4.matrix.T}
rows = {}
for name, candidate in checks.items():
    p = ks_tests(z_other, candidate, num_projections=10, random_state=random_state)
    energy = energy_distance_test(z_other, candidate, random_state, num_permutations=200)
    rows[name] = {"smallest KS p, coordinates": p["dimensions"].min(),
                  "smallest KS p, projections": p["projections"].min(), "energy-distance p": energy["p_value"]}
print(f"p-values against an independent sample of z ({NUM_TEST:,} points each):")
print(pd.DataFrame(rows).T.to_string(float_format="{:.3g}".format))

# %% [markdown]
# **Completely entangled.** The analytic Jacobian at a few random points, its smallest entry in
# absolute value over many points, the largest deviation from central finite differences, and the
# round trip $f^{-1}(f(z))$:

# %%
jacobians = f4.jacobian(z[:2000])
fd_error = max(np.abs(f4.jacobian(u) - finite_difference_jacobian(f4, u)).max() / np.abs(f4.jacobian(u)).max()
               for u in z[:20])
print("J at z[0]:\n", jacobians[0].round(3))
print(f"smallest |J_ij| over 2,000 points: {np.abs(jacobians).min():.2e} (no zero entry)")
print(f"largest relative difference to finite differences (20 points): {fd_error:.1e}")
print(f"largest |f^-1(f(z)) - z| over {NUM_TEST:,} points: {np.abs(f4.inverse(f4(z)) - z).max():.1e}")

# %%
theorem, rotation = (min(row.values()) for row in rows.values())  # each map's smallest p-value of 15 tests
display(Markdown(notice([
    f"The theorem's map: smallest p-value {theorem:.2g} — "
    + ("no test rejects at the 1 % level." if theorem > 0.01 else "below 1 %, which 15 tests of a true hypothesis "
       "give by chance in roughly one run in seven (rerun with another seed before reading more into it)."),
    f"Rotation only: smallest p-value {rotation:.2g}, energy test {rows['A z (rotation only: wrong)']['energy-distance p']:.3g} "
    f"(the floor of 200 permutations is 1/201 = {1 / 201:.3g}).",
], heading=f"**This run** ({NUM_TEST:,} points per sample):")))

# %% [markdown]
# **What to notice.** The theorem's map should pass every test — its p-values are what independent
# samples of one distribution give (anywhere in $(0, 1)$; the smallest of fifteen is naturally
# smaller than a typical one) — while the rotation-only map should be rejected, with p-values that
# are tiny and an energy test at or near its floor ($u \mapsto Au$ turns the uniform and exponential
# marginals into something else). The Jacobian has no zero anywhere (its smallest entry is small
# only where a density is), the finite differences agree with it to the relative precision printed
# above, and $f$ is inverted to rounding error. Note also that this $A$ is a reflection,
# $A^{-1} = A$, so $f^{-1} = f$.

# %% [markdown]
# ## 4 · On a trained VAE
#
# A VAE's prior is $p(z) = \mathcal N(0, I)$. Then $g_i = \Phi$ and $h_i = \Phi^{-1}$ cancel, and
# **$f$ is just the linear map $u \mapsto Au$** — so on a trained model $f$ is a torch matrix
# product, nothing more:

# %%
f_prior = EntanglingMap.standard_normal(10, alpha=0.25)
u = random_state.randn(1000, 10)
print("max |f(u) - A u| for N(0, I) marginals:", np.abs(f_prior(u) - u @ f_prior.matrix.T).max())
print("max |J - A|:", np.abs(f_prior.jacobian(u) - f_prior.matrix).max())

# %% [markdown]
# We load notebook 02's β-VAE with β = 16 (same configuration, so the run is shared) and build the
# entangled model with `EntangledVAE(model, A)`:
#
# $$
# \text{encoder}' = f \circ \text{encoder}, \qquad \text{decoder}' = \text{decoder} \circ f^{-1},
# \qquad f(u) = Au, \; f^{-1}(z') = A^\top z' .
# $$
#
# The encoder's posterior $q(z \mid x) = \mathcal N(\mu(x), \Sigma(x))$, with
# $\Sigma = \operatorname{diag}\sigma^2(x)$, becomes
# $q'(z' \mid x) = \mathcal N(A\mu(x), A\Sigma(x)A^\top)$ — a Gaussian with a
# **full** covariance. Two orthogonal matrices: the proof's Householder reflection, and a random
# rotation drawn uniformly from all orthogonal matrices (`random_orthogonal`), which mixes more.

# %%
ALPHA = 0.25
config = lecture_config("beta_vae", {"beta": 16}, P, seed)
model = train_or_load(config, device=DEVICE).model
D = model.num_latent
matrices = {"trained β-VAE": np.eye(D), f"Householder α = {ALPHA}": householder(D, ALPHA),
            "random rotation": random_orthogonal(D, random_state)}
models = {name: model if name == "trained β-VAE" else EntangledVAE(model, matrix) for name, matrix in matrices.items()}
print(config.slug())

# %% [markdown]
# ### Same prior, same images, same $p(x)$
#
# The prior of the new model is the distribution of $f(z)$ for $z \sim \mathcal N(0, I)$, which by
# the theorem is $\mathcal N(0, I)$ again (tested below as in Section 3). Its decoder sends $f(z)$ to
# decoder$(A^\top A z) = $ decoder$(z)$: the two generative models produce the same images from
# corresponding codes, and so the same marginal likelihood,
# $p'(x) = \int p(z')\, p(x \mid A^\top z')\, \mathrm dz' = \int p(Au)\, p(x \mid u)\, \mathrm du = p(x)$
# (substitute $z' = Au$, $|\det A| = 1$, $p(Au) = p(u)$).

# %%
z_prior, z_other = random_state.randn(NUM_TEST, 10), random_state.randn(NUM_TEST, 10)
decoded_gap = {}  # max |decoder'(f(z)) - decoder(z)| per entangled model
with torch.no_grad():
    z_batch = torch.as_tensor(z_prior[:64], dtype=torch.float32, device=DEVICE)
    for name, matrix in list(matrices.items())[1:]:
        p = ks_tests(z_other, z_prior @ matrix.T, num_projections=10, random_state=random_state)
        a = torch.as_tensor(matrix, dtype=torch.float32, device=DEVICE)
        same = (torch.sigmoid(models[name].decoder(z_batch @ a.T)) - torch.sigmoid(model.decoder(z_batch))).abs().max()
        decoded_gap[name] = same.item()
        print(f"{name}: f(z) vs z, smallest KS p over 10 coordinates {p['dimensions'].min():.2f}, over 10 projections "
              f"{p['projections'].min():.2f}; max |decoder'(f(z)) - decoder(z)| = {same:.1e} (pixel probabilities)")

# %% [markdown]
# ### Same ELBO
#
# For one image $x$,
# $\mathrm{ELBO}(x) = \mathbb E_{q(z \mid x)}[\log p(x \mid z)] - \mathrm{KL}(q(z \mid x) \,\|\, \mathcal N(0, I))$.
# Both terms are unchanged:
#
# * **Reconstruction.** If $z \sim q(z \mid x)$ then $z' = Az \sim q'(z' \mid x)$, and
#   decoder$'(z') = $ decoder$(A^\top A z) = $ decoder$(z)$. So
#   $\mathbb E_{q'}[\log p'(x \mid z')] = \mathbb E_q[\log p(x \mid z)]$.
# * **KL.** For Gaussians,
#   $\mathrm{KL}(\mathcal N(m, C) \| \mathcal N(0, I)) = \tfrac12(\operatorname{tr} C + |m|^2 - d - \log\det C)$.
#   With $m = A\mu$ and $C = A\Sigma A^\top$:
#   $\operatorname{tr}(A\Sigma A^\top) = \operatorname{tr}(\Sigma A^\top A) = \operatorname{tr}\Sigma$,
#   $|A\mu|^2 = \mu^\top A^\top A \mu = |\mu|^2$, and
#   $\det(A\Sigma A^\top) = (\det A)^2 \det\Sigma = \det\Sigma$. Every term is the same.
#
# `elbo_terms` computes both for any of the models: the KL with the full-covariance formula (it never
# assumes a diagonal posterior), the reconstruction by sampling $z' = A\mu + L\varepsilon$ with
# $LL^\top = A\Sigma A^\top$, 4 draws per image — fresh noise for each model, so the reconstruction
# terms agree only up to Monte Carlo error, which we print.

# %%
elbo_images = DSprites("binary").sample(NUM_ELBO, random_state)[1]
elbo = {name: elbo_terms(m, elbo_images, num_samples=4, seed=seed + k) for k, (name, m) in enumerate(models.items())}
table = pd.DataFrame({name: {term: values.mean() for term, values in terms.items()} for name, terms in elbo.items()}).T
base = elbo["trained β-VAE"]
table["max |KL - KL of trained| per image"] = [np.abs(t["kl"] - base["kl"]).max() for t in elbo.values()]
differences = [t["reconstruction"] - base["reconstruction"] for t in elbo.values()]
table["Δ reconstruction"] = [d.mean() for d in differences]
table["2 s.e. of Δ"] = [2 * d.std() / np.sqrt(NUM_ELBO) for d in differences]  # Monte Carlo error
print(f"Mean over {NUM_ELBO:,} images (nats):")
print(table.round(3).to_string())

# %%
inside = (table["Δ reconstruction"].abs() <= table["2 s.e. of Δ"]).all()
display(Markdown(
    f"**What to notice.** The KL columns agree image by image to float rounding (largest difference "
    f"{table['max |KL - KL of trained| per image'].max():.1e} nats). The reconstruction terms differ by up to "
    f"{table['Δ reconstruction'].abs().max():.2f} nats, "
    + ("inside their ±2 standard errors" if inside else "not all inside their ±2 standard errors (two comparisons "
       "at 2 s.e.: one lands outside by chance in about one run in ten)")
    + ": Monte Carlo noise of four independent draws per image, which shrinks as draws are added. (With the "
    f"*same* draws, $z' = Az$, the decoded pixel probabilities agree to {max(decoded_gap.values()):.0e}, as the "
    "previous cell showed.) So the ELBOs agree as well. Three models, one objective value: whatever an ELBO-based "
    "method optimises cannot prefer the first over the other two."))

# %% [markdown]
# ## 5 · Entangled traversals
#
# Same picture as in notebooks 02–06: each row moves one latent across its 5–95 % range around the
# code of one image, rows sorted by KL — for the entangled models the KL of each coordinate's
# marginal posterior $\mathcal N\big((A\mu)_i, (A\Sigma A^\top)_{ii}\big)$. Left the trained model,
# middle the Householder reflection, right the random rotation.

# %%
codes_for_ranges = {name: encode(m, elbo_images) for name, m in models.items()}
panels = {}
for name, m in models.items():
    traversals, order = latent_traversals(m, elbo_images[0], codes_for_ranges[name], num_steps=8)
    panels[name] = (traversals, order, kl_per_latent(*codes_for_ranges[name]))
plot_traversal_panels(panels, f"Latent traversals, β = 16, {STEPS:,} steps (row label: latent, KL)")
plt.show()
kl_of = {name: panel[2] for name, panel in panels.items()}
householder_kl, rotated_kl = list(kl_of.values())[1:]
active = kl_of["trained β-VAE"] > 0.1
trained_kl = kl_of["trained β-VAE"]


def kl_range(kl, mask):
    return span(kl[mask]) if mask.any() else "none"


display(Markdown(notice([
    f"Trained β-VAE: {active.sum()} active latents (KL > 0.1 nat: {kl_range(trained_kl, active)} nats), "
    f"{(~active).sum()} unused ({kl_range(trained_kl, ~active)}).",
    f"Householder: the same coordinates carry {kl_range(householder_kl, active)} (active) and "
    f"{kl_range(householder_kl, ~active)} nats (unused); total KL of the active ones "
    f"{trend(trained_kl[active].sum(), householder_kl[active].sum(), 'rises', 'drops', 'stays', tol=0.05)} "
    f"from {trained_kl[active].sum():.2f} to {householder_kl[active].sum():.2f} nats.",
    f"Random rotation: {span(rotated_kl)} nats per coordinate, {(rotated_kl > 0.1).sum()} of {len(rotated_kl)} above 0.1.",
], heading="**This run**, KL per coordinate:")))

# %% [markdown]
# **What to notice.** *(Meaningful from `lecture` on; the KL ranges are printed above.)*
# * Left: for each active row, ask whether it changes one property of the sprite (position along
#   one axis, size, shape, orientation) or several at once — how disentangled the trained model is
#   depends on its training (the steps are in the title). The latents with KL ≈ 0 do nothing.
# * Middle: the Householder reflection keeps 0.83 of each old coordinate $i > 1$ in the new $z'_i$
#   ($A_{ii} = 1 - 2 \cdot 0.75 / 9$), so the rows should look much like their originals, somewhat
#   weaker, with some of the others mixed in. The first coordinate, `z0`, is mixed most
#   ($A_{11} = 0.5$ and $-0.29$ from every other latent): if `z0` was an active latent, its row
#   changes most. Compare the KL of the active and the unused rows before and after (printed
#   above): mixing tends to spread it over more coordinates. "Completely entangled" in the
#   theorem's sense can look mild.
# * Right: after a random rotation the KL is spread over all ten coordinates (printed above), and
#   rows that change several things at once — position with size, position with shape — are the
#   rule, although the decoder draws exactly the same images as before from corresponding codes.

# %% [markdown]
# ## 6 · The metrics fall
#
# Notebook 08 derives the disentanglement metrics; here we only read them. For each model we compute
# **MIG** (the gap in mutual information between the two latents most informative about a factor),
# **DCI** (from the feature importances of one gradient-boosted-tree predictor per factor:
# *disentanglement* — each latent matters for one factor; *completeness* — each factor is captured
# by one latent; *informativeness* — test accuracy), and the **FactorVAE score** (accuracy of a
# majority-vote classifier that guesses the fixed factor from the latent of least variance). The
# entangled models' codes are $A\mu(x)$, so each image is encoded once: `EncodedDataset` caches the
# codes $\mu(x)$ per image, and each model's `encode` rotates them. Every model is scored on the same
# images (the same random state).

# %%
from course_lib.metrics import EncodedDataset, dci, factor_vae_score, mig

data = DSprites("binary")
factors, images = data.sample(P.num_samples, random_state)
num_train = P.num_samples // 2  # DCI: the first half trains the trees, the second half tests them
means = encode(model, images)[0]
mean_codes = EncodedDataset(data, mean_code_function(model), progress=False)  # observations: mu(x)

# %%
scores = {}
for name, matrix in matrices.items():
    codes = means @ matrix.T
    d = dci(codes[:num_train], factors[:num_train], codes[num_train:], factors[num_train:])
    fv = factor_vae_score(mean_codes, lambda mu, a=matrix: mu @ a.T, np.random.RandomState(seed), progress=False,
                          **FACTOR_VAE_SIZES)
    scores[name] = {"MIG": mig(codes, factors), "DCI disentanglement": d["disentanglement"],
                    "DCI completeness": d["completeness"], "DCI informativeness (test)": d["informativeness_test"],
                    "FactorVAE score": fv["eval_accuracy"]}
print(f"{P.num_samples:,} images for MIG and DCI ({num_train:,} train); FactorVAE score sizes {FACTOR_VAE_SIZES}")
print(pd.DataFrame(scores).T.round(3).to_string())

# %%
first, *others = scores.values()
lines = []
for metric in ("MIG", "DCI disentanglement", "DCI completeness", "FactorVAE score"):
    after = [f"{o[metric]:.3f} ({trend(first[metric], o[metric], 'higher', 'lower', 'the same')})" for o in others]
    lines.append(f"{metric}: {first[metric]:.3f} for the trained model; "
                 f"{after[0]} under the Householder reflection, {after[1]} under the random rotation.")
info = [o["DCI informativeness (test)"] for o in others]
lines.append(f"DCI informativeness: {first['DCI informativeness (test)']:.3f} → {span(info, '.3f')}.")
rotated = others[-1]
loss = {m: 1 - rotated[m] / first[m] for m in ("MIG", "DCI disentanglement", "DCI completeness") if first[m] > 0}
if loss:
    lines.append(f"Under the random rotation {max(loss, key=loss.get)} loses the largest share of its value "
                 f"({max(loss.values()):.0%}); the FactorVAE score ends at {rotated['FactorVAE score']:.3f}, "
                 f"against chance 1/{data.num_factors} = {1 / data.num_factors:.2f}.")
display(Markdown(notice(lines, note=f"*(This run: `{P.name}`, seed {seed}, {STEPS:,}-step model.)*")))

# %% [markdown]
# * A disentanglement score should fall under both maps — the words above say whether each did; at
#   `smoke` the model is barely trained and the table may say anything. MIG, the gap between the
#   two best coordinates, is the score most sensitive to mixing.
# * How far a score can fall depends on where it starts: a weakly disentangled model (a low DCI
#   disentanglement above) has little order to destroy, and the study's models, trained for
#   300,000 steps, usually start higher than a young one. The FactorVAE score can stay well above
#   chance even for the rotated code — fixing a factor such as a position still lowers the variance
#   of some mixed coordinate more than that of the others, and a majority vote needs no more.
# * DCI *informativeness* should barely move (compare its values above). The information about the
#   factors is all still in the code — $A$ is invertible — only spread over the coordinates; any
#   small loss comes from the trees, whose axis-aligned splits fit mixed coordinates less easily.
#   Disentanglement metrics measure how information is *arranged*, and the arrangement is exactly
#   what the data cannot fix.
# * The ELBO (Section 4) did not change at all. A practitioner who picks the model with the best
#   ELBO, or any other quantity computed from images alone, may get any of the three.

# %% [markdown]
# ## 7 · What this means: inductive biases
#
# In plain words: **from observations alone, "the" disentangled representation is not defined.** For
# every model that separates the factors there is another one with the same prior, the same images,
# the same likelihood and the same training loss that mixes them all. An unsupervised method that
# ends up disentangled therefore did so because of something *other* than its fit to the data — an
# **inductive bias**: the architecture, the family of posteriors, the optimiser and its
# initialisation, the hyperparameters, the dataset's own quirks. Theorem 1 says such biases are
# *necessary*; it does not say they cannot work. Locatello et al. therefore measured what they do,
# on more than 12,000 trained models: which model disentangles depended more on the random seed and
# the hyperparameters than on the objective, and without labels there was no reliable way to pick the
# good ones. Their conclusions for the field: (i) make the role of inductive biases and of implicit
# or explicit supervision explicit; (ii) show concrete benefits of a disentangled representation
# rather than assume them; (iii) test on several datasets, because a bias that helps on one need not
# help on another. Notebook 13 reproduces the study in miniature.
#
# One inductive bias is visible right here. The VAEs of this course use a **diagonal** Gaussian
# posterior. The rotated model's posterior covariance $A\Sigma A^\top$ is not diagonal, so an encoder
# of the kind we actually train cannot output it. The natural diagonal stand-in is the diagonal
# Gaussian closest to it, in $\mathrm{KL}(q \,\|\, q')$ (the mean-field solution: variances
# $1 / (A\Sigma^{-1}A^\top)_{ii}$; `EntangledVAE(..., posterior="mean_field")`). Compare the two ELBOs:

# %%
cost = {}
for name, matrix in list(matrices.items())[1:]:
    diagonal = elbo_terms(EntangledVAE(model, matrix, posterior="mean_field"), elbo_images, seed=seed)
    cost[name] = elbo[name]["elbo"].mean() - diagonal["elbo"].mean()
    print(f"{name:<22} exact (full-covariance) posterior: ELBO {elbo[name]['elbo'].mean():8.2f}   "
          f"mean-field diagonal posterior: ELBO {diagonal['elbo'].mean():8.2f} nats")
variances = np.exp(codes_for_ranges["trained β-VAE"][1]).mean(axis=0)
ratio = (f" (medians {np.median(variances[~active]) / np.median(variances[active]):.0f} times apart)"
         if active.any() and (~active).any() else "")
display(Markdown(notice([
    f"ELBO of the exact minus the diagonal posterior: {' and '.join(f'{c:+.1f} nats ({n})' for n, c in cost.items())}"
    + (" — the diagonal posterior costs ELBO under both maps." if min(cost.values()) > 0
       else " — not a cost under every map in this run."),
    f"The trained model's mean posterior variances are {span(variances[active]) if active.any() else '–'} for its "
    f"active latents and {span(variances[~active]) if (~active).any() else '–'} for its unused ones{ratio}.",
], heading="**This run.**")))

# %% [markdown]
# The diagonal posterior must be narrow in every direction in which $A\Sigma A^\top$ is narrow.
# Where the model's posterior variances differ widely between its active latents (narrow: they carry
# information) and its unused ones (close to the prior's 1), as printed above, every rotated axis
# has a component along a narrow direction, so the diagonal posterior is narrow along all of them
# and loses the entropy of the wide ones. So the diagonal posterior breaks the rotational symmetry
# of the prior: among equally good generative models, the VAE's objective *with its posterior
# family* prefers those whose posteriors are axis-aligned (Rolinek, Zietlow & Martius 2019 show that
# this pushes VAEs towards PCA-like directions of the decoder's local linearisation). This is a
# bias, not a guarantee: it picks axes in which the *model's* posterior noise is uncorrelated, and
# nothing in the theorem says that those are the factors that generated the data. Whether they
# coincide depends on the dataset, the architecture and the training — which is exactly the point:
# the success or failure of unsupervised disentanglement is decided by such biases, and they should
# be designed and reported as such. The ways out taken since then add information the data alone do
# not carry: weak supervision, such as pairs of images known to share some factors (Locatello et al.
# 2020), a few labels (Locatello et al. 2020b), or explicit assumptions about the geometry of the
# data, as GeoManCER's product-manifold structure in notebook 09.

# %% [markdown]
# ## Exercises
#
# ### Exercise 1 — other α
#
# (a) For $d = 10$, print the smallest and largest $|A_{ij}|$ of `householder(10, alpha)` for
# $\alpha \in \{0.05, 0.15, 0.25, 0.35, 0.45\}$, and the MIG of the trained model's codes rotated by
# each. (b) What goes wrong at $\alpha = 0.5$, and why is $\alpha = 0$ excluded?

# %% tags=["solution"]
rows = {}
for alpha in (0.05, 0.15, 0.25, 0.35, 0.45):
    a = householder(10, alpha)
    rows[alpha] = {"min |A_ij|": np.abs(a).min(), "max |A_ij|": np.abs(a).max(), "A_11": a[0, 0],
                   "MIG": mig(means @ a.T, factors)}
rows["random rotation"] = {"min |A_ij|": np.abs(matrices["random rotation"]).min(),
                           "max |A_ij|": np.abs(matrices["random rotation"]).max(),
                           "A_11": matrices["random rotation"][0, 0], "MIG": scores["random rotation"]["MIG"]}
print(f"MIG of the trained model: {scores['trained β-VAE']['MIG']:.3f}")
print(pd.DataFrame(rows).T.round(3).to_string())
print(f"MIG from α = 0.05 to 0.45: {trend(rows[0.05]['MIG'], rows[0.45]['MIG'], 'rises', 'falls', 'stays level', 0.005)}; "
      f"z0 is {'an active' if active[0] else 'an unused'} latent of the trained model (KL {trained_kl[0]:.2f} nats)")

# %% [markdown] tags=["solution"]
# (a) Only the first row and column of $A$ depend much on $\alpha$: $A_{11} = 1 - 2\alpha$ falls
# from 0.9 to 0.1 while $|A_{1j}| = 2\sqrt{\alpha(1-\alpha)/9}$ grows; the block $i, j > 1$ changes
# little ($A_{ii}$ between 0.79 and 0.88). So the MIG depends on α mainly through the first new
# coordinate, which takes less of $z_1$ and more of all the others as α grows. If the model's first
# latent ($z_1$ here, `z0` in the figures) is an active one, expect MIG to fall with α, from about
# the trained model's value at small α; if it is unused, α mostly decides how much of the active
# latents is copied into an otherwise empty coordinate (the last printed line says which case this
# run is, and what MIG did).
# Even α close to 0 gives a valid $f$: the theorem only needs non-zero entries, not large ones,
# which is why "entangled" in its sense can be nearly invisible to a metric.
#
# (b) At $\alpha = 0.5$, $A_{11} = 0$: $f_1$ no longer depends on $u_1$ (in $d = 2$ the whole
# diagonal vanishes and $A$ just swaps the coordinates, up to sign — a permutation, perfectly
# disentangled). At $\alpha = 0$, $v_1 = 0$ and $A_{1j} = 0$ for $j > 1$: the first coordinate is
# left alone. Both violate "every partial derivative non-zero", hence the open interval
# (`householder` raises a `ValueError` for both).

# %% [markdown]
# ### Exercise 2 — non-Gaussian marginals
#
# Build $f$ for $d = 3$ with exponential, uniform on $[-1, 1]$ and Student-$t_3$ marginals. Check with
# `ks_tests` on `NUM_TEST` points that $f(z) \sim z$. Then take the map that skips $g$ and $h$ — the
# one that treats the factors as if they were Gaussian, $u \mapsto Au$ — and the map that skips only
# $g$ (standardise each coordinate, rotate, undo the standardisation). Which pass? Why does the
# proof need the detour through the Gaussian?

# %% tags=["solution"]
f3 = EntanglingMap([st.expon(), st.uniform(-1, 2), st.t(3)], alpha=0.25)
z3, z3_other = f3.sample(NUM_TEST, random_state), f3.sample(NUM_TEST, random_state)
mean, std = z3.mean(0), z3.std(0)
candidates = {"f(z)": f3(z3), "A z": z3 @ f3.matrix.T,
              "standardise, A, unstandardise": ((z3 - mean) / std) @ f3.matrix.T * std + mean}
for name, candidate in candidates.items():
    p = ks_tests(z3_other, candidate, num_projections=10, random_state=random_state)
    print(f"{name:<32} smallest KS p: coordinates {p['dimensions'].min():.2g}, "
          f"projections {p['projections'].min():.2g}")

# %% [markdown] tags=["solution"]
# Only $f$ passes. A matrix without zero entries keeps a factorised distribution factorised only if
# every factor is Gaussian (the Darmois–Skitovich theorem: two linear combinations of independent
# variables, all coefficients non-zero, are independent only for Gaussians). Standardising fixes the
# mean and the variance but not the shape: a rotated mix of an exponential, a uniform and a $t_3$ is
# none of the three — it is closer to Gaussian (a central-limit effect). So the proof first makes
# every coordinate Gaussian with the exact map $\Phi^{-1} \circ F_i$, rotates there, and comes back.
# For the VAE prior that detour is the identity, which is why the trained model only needed $A$.
# (The same theorem is why *linear* ICA can recover non-Gaussian sources; Hyvärinen & Pajunen (1999)
# showed that with *nonlinear* mixing, as here, it cannot — Theorem 1 is the disentanglement version
# of that result.)

# %% [markdown]
# ### Exercise 3 — why $d > 1$
#
# (a) What are the orthogonal $1 \times 1$ matrices, and what are the corresponding maps $f$ for one
# exponential factor? Check that they preserve its distribution. (b) Can they entangle anything?
# (c) Why is the theorem about *sets* of at least two factors?

# %% tags=["solution"]
expon = st.expon()
z1, z1_other = expon.rvs(NUM_TEST, random_state=random_state), expon.rvs(NUM_TEST, random_state=random_state)
flip = expon.isf(expon.cdf(z1))  # f with A = (-1): g^-1(h^-1(-h(g(u)))) = F^-1(1 - F(u)), as Phi(-n) = 1 - Phi(n)
print(f"flip: KS p against an independent sample {st.ks_2samp(flip, z1_other).pvalue:.2f}; "
      f"monotone decreasing: {bool(np.all(np.diff(flip[np.argsort(z1)]) <= 0))}")
try:
    householder(1, 0.25)
except ValueError as error:
    print("householder(1, 0.25) ->", error)

# %% [markdown] tags=["solution"]
# (a) $A = (1)$ gives $f = $ identity; $A = (-1)$ gives $f(u) = F^{-1}(1 - F(u))$, for the exponential
# $-\log(1 - e^{-u})$: a decreasing bijection that maps the distribution onto itself (the test does
# not reject). (b) No: with one coordinate, $f(z)$ is a function of $z$ alone, so it still describes
# the same single factor, just reparameterised — disentanglement is always defined only up to such
# invertible maps of each coordinate (and permutations of the coordinates). (c) Entanglement means
# that one coordinate of the code depends on *several* factors; with one factor there is nothing
# to mix. The proof needs an orthogonal matrix with no zero entry, and those exist only for $d \ge 2$.

# %% [markdown]
# ## Summary
#
# * **Theorem 1** (Locatello et al. 2019): for any factorised $p(z)$ with $d > 1$ there are infinitely
#   many bijections $f$ with $f(z) \sim z$ and every $\partial f_i / \partial z_j \neq 0$.
# * **Proof:** $f = g^{-1} \circ h^{-1} \circ A \circ h \circ g$ — CDFs to the uniform cube, normal
#   quantiles to $\mathcal N(0, I)$, an orthogonal $A$ without zero entries (which keeps
#   $\mathcal N(0, I)$), and back. For the VAE prior, $f(u) = Au$.
# * On a trained VAE, encoder$' = f \circ$ encoder and decoder$' = $ decoder $\circ f^{-1}$ keep the
#   prior, the images, $p(x)$ and the ELBO (with a full-covariance posterior), while traversals become
#   entangled and MIG, DCI and the FactorVAE score fall; DCI informativeness stays.
# * Unsupervised disentanglement is therefore decided by inductive biases — such as the diagonal
#   posterior, which makes the rotated model's ELBO worse — or by supervision, not by the data.
#
# **Next:** notebook 08 builds the metrics used in Section 6 and asks how far they agree.
#
# ## References
#
# * F. Locatello, S. Bauer, M. Lucic, G. Rätsch, S. Gelly, B. Schölkopf, O. Bachem. *Challenging
#   Common Assumptions in the Unsupervised Learning of Disentangled Representations.* ICML 2019
#   (Theorem 1 and its proof in Appendix A).
# * A. Hyvärinen, P. Pajunen. *Nonlinear independent component analysis: Existence and uniqueness
#   results.* Neural Networks 12(3), 1999 (the earlier non-identifiability result for nonlinear ICA).
# * M. Rolinek, D. Zietlow, G. Martius. *Variational Autoencoders Pursue PCA Directions (by
#   Accident).* CVPR 2019.
# * F. Locatello, B. Poole, G. Rätsch, B. Schölkopf, O. Bachem, M. Tschannen. *Weakly-Supervised
#   Disentanglement Without Compromises.* ICML 2020.
# * F. Locatello, M. Tschannen, S. Bauer, G. Rätsch, B. Schölkopf, O. Bachem. *Disentangling Factors
#   of Variation Using Few Labels.* ICLR 2020 (2020b above).
# * G. J. Székely, M. L. Rizzo. *Testing for Equal Distributions in High Dimension.* InterStat 2004
#   (the energy distance).
# * C. M. Bishop. *Pattern Recognition and Machine Learning.* Springer 2006, Section 10.1.2 (the
#   mean-field approximation of a Gaussian).
