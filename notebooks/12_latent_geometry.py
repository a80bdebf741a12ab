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
# # 12 · Latent geometry: the pullback metric, geodesics and curvature
#
# Every notebook so far treated the latent space as flat: traversals move one coordinate in a
# straight line, interpolations follow $z(t) = (1 - t) z_0 + t z_1$, and distances between codes are
# Euclidean. But the decoder bends that space: a step of 0.1 in one direction may move a sprite by a
# pixel, in another it may change nothing at all. Measured by **what the image does**, the latent space
# is a curved (Riemannian) manifold. Arvanitidis, Hansen & Hauberg (2018) and Shao, Kumar & Fletcher
# (2018) worked out its geometry; Shukla et al. (2019) asked it of the disentangling VAEs. In this
# notebook you will
#
# * derive the **pullback metric** $G(z) = J(z)^\top J(z)$ from the decoder's Jacobian, with lengths,
#   energies and the **magnification factor** $\tfrac12 \log\det G$, and check them on a sphere;
# * see the metric of a **2-D latent plane** (notebook 01's 2-D VAE) and compute **geodesics**, the
#   shortest curves, by energy minimisation; and the **expected metric** of a stochastic decoder;
# * ask Shukla et al.'s questions of four models of the course (VAE, β-VAE, β-TCVAE, DIP-VAE-I): how
#   curved is each latent space **along each traversal**; does **geodesic interpolation** look
#   different from linear; does the **Riemannian distance separate the shapes** better than the
#   Euclidean one;
# * measure **curvature itself** at a code: the decoder's second derivative along a latent direction,
#   the **second fundamental form** and the **normal curvature** $\kappa_n$, checked on a sphere and
#   read for each latent of the four models;
# * see why such analyses prefer **ELU to ReLU** decoders.
#
# The four models are the runs of notebooks 01, 02, 05 and 06 (same configurations, so they are
# loaded, not retrained): `smoke` (20 steps) gives meaningless models that only prove the code runs;
# **figures about trained models are only meaningful from `lecture` on** (`STEPS` steps, printed
# below: at `lecture` the age of the pretrained zoo's models; the study trains 300,000). Section 1
# and the toy networks of Section 4 are meaningful at every profile.
#
# **Time** (measured with `python -m course_lib notebooks --only 12_latent_geometry` on a 2-core CPU
# shared with other jobs; the index that `make report` writes shows yours): `smoke` 80 s, plus about
# 25 s for Section 3c and Exercise 4 (timed cell by cell); `lecture` 49 s end to end on an idle 2-core
# CPU (9 minutes beside two busy processes of another session: the README's "On a shared CPU" says why
# and what helps) — its trained models are loaded from the pretrained zoo (`data/pretrained`), none is
# trained here; Section 3b (geodesics along traversals) takes 15 s of it, Section 3c 1.4 s.

# %% tags=["parameters"]
profile = None  # smoke | lecture | full; None reads $COURSE_PROFILE (default lecture)
device = "auto"
seed = 0

# %%
import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import Markdown, display
import torch
from scipy.spatial.distance import cdist

from course_lib.data import DSprites
from course_lib.analysis.factor_matching import match_latents_to_factors, normalized_mutual_information
from course_lib.analysis.geometry import (RBFStd, curve_length, geodesic, graph_distances, jacobian, latent_plane,
                                          magnification_factor, mean_decoder, metric_from_jacobian, mlp_decoder,
                                          normal_curvature, pullback_metric, rank_statistics, second_derivative,
                                          separability, stacked_decoder, step_lengths, straight_line,
                                          traversal_curvature, traversal_geometry)
from course_lib.kit.lecture_models import lecture_config, lecture_steps
from course_lib.lab.setup import notebook_setup
from course_lib.lab.geometry_plots import (plot_grouped_bars, plot_latent_curvature, plot_metric_plane,
                                           plot_singular_spectra, plot_step_lengths)
from course_lib.objectives import STUDY_SWEEPS
from course_lib.representation import decode, encode, kl_per_latent, quantile_ranges
from course_lib.kit.runs import train_or_load, train_or_load_all
from course_lib.lab.notice import notice, span, trend
from course_lib.lab.viz import show_images

P, DEVICE, random_state = notebook_setup(profile, device, seed)
STEPS = lecture_steps(P, seed)  # the steps of this notebook's models (the zoo's age at lecture)
NUM_CODES = max(256, P.num_samples // 5)  # images encoded per model (smoke 256, lecture 2,000)
NUM_JACOBIANS = int(np.clip(P.num_samples // 80, 32, 256))  # encoded images at which each Jacobian is analysed
PER_SHAPE = max(12, P.num_samples // 200)  # images per shape for the distance study (smoke 12, lecture 50)
GRID = int(np.clip(P.num_samples // 200, 16, 60))  # grid points per axis of the latent-plane maps
MAX_STEPS = int(np.clip(P.train_steps // 5, 10, 400))  # L-BFGS steps per geodesic (smoke 10, lecture 400)
N_POINTS = 16  # points per discrete curve
CURVATURE_CODES = int(np.clip(P.num_samples // 625, 4, 64))  # codes at which Section 3c's curvature is read (lecture 16)
print(f"models: {STEPS:,} steps; codes per model = {NUM_CODES:,}, Jacobians = {NUM_JACOBIANS}, images per shape = {PER_SHAPE}, "
      f"geodesics: {N_POINTS} points, <= {MAX_STEPS} steps, curvature at {CURVATURE_CODES} codes")

# %% [markdown]
# ## 1 · The pullback metric
#
# A decoder $f : \mathbb R^d \to \mathbb R^D$ maps a code to an image (here the Bernoulli mean
# $\sigma(\text{logits})$, $D = 4096$ pixels). Move the code a little, $z \to z + \mathrm dz$; the image
# moves by $f(z + \mathrm dz) - f(z) \approx J(z)\,\mathrm dz$ with the Jacobian
# $J(z) = \partial f / \partial z \in \mathbb R^{D \times d}$, so its squared length is
#
# $$
# \|f(z + \mathrm dz) - f(z)\|^2 \approx \mathrm dz^\top\, \underbrace{J(z)^\top J(z)}_{G(z)}\, \mathrm dz .
# $$
#
# $G(z)$, a symmetric positive semi-definite $d \times d$ matrix at every code, is the **pullback
# metric**: the image space's Euclidean metric pulled back through $f$. It measures lengths in the
# latent space *as the image sees them*. A latent curve $z(t)$, $t \in [0, 1]$, has length and energy
#
# $$
# L[z] = \int_0^1 \sqrt{\dot z^\top G(z)\, \dot z}\;\mathrm dt = \int_0^1 \|\tfrac{\mathrm d}{\mathrm dt} f(z(t))\|\,\mathrm dt,
# \qquad
# E[z] = \tfrac12 \int_0^1 \dot z^\top G(z)\, \dot z\;\mathrm dt ,
# $$
#
# and by Cauchy–Schwarz $L^2 \le 2E$ with equality exactly at constant speed. A **geodesic** is a
# curve of least length between its ends; minimising the energy gives the same curves, travelled at
# constant speed, and the energy is the easier objective (smooth, no square root). Discretised with
# $n$ points $z_0, \dots, z_{n-1}$ (time step $1/(n-1)$):
#
# $$
# L \approx \sum_{i=0}^{n-2} \|f(z_{i+1}) - f(z_i)\|, \qquad
# E \approx \frac{n-1}{2} \sum_{i=0}^{n-2} \|f(z_{i+1}) - f(z_i)\|^2 .
# $$
#
# `course_lib.analysis.geometry.geodesic` fixes $z_0$ and $z_{n-1}$, starts from the straight line and moves the
# interior points by L-BFGS on $E$ (Shao et al. 2018 descend the same discrete energy), until the
# scale-free gradient $\|\nabla E\|\,\|z_1 - z_0\| / E$ falls below a tolerance. The **magnification
# factor** $\tfrac12 \log\det G(z) = \log \sqrt{\det J^\top J}$ is the log of the factor by which the
# decoder stretches a small latent volume (Arvanitidis et al. 2018 draw it as a heat map); it is
# $-\infty$ where $J$ loses rank. `jacobian` computes $J$ in forward mode (`torch.func.jvp`), all $d$
# directions and all codes of a chunk at once.
#
# **A known answer first.** Map latent angles (colatitude $\theta$, longitude $\varphi$) onto the unit
# sphere. A straight line in $(\theta, \varphi)$ is not a great circle, so the geodesic must bend, and
# its length must be the great-circle distance $\arccos(x_0 \cdot x_1)$:

# %%
class Sphere(torch.nn.Module):
    """(theta, phi) -> the unit sphere in R^3."""

    def forward(self, z):
        theta, phi = z[:, 0], z[:, 1]
        return torch.stack([theta.sin() * phi.cos(), theta.sin() * phi.sin(), theta.cos()], dim=1)


sphere = Sphere()
ends = np.array([[math.pi / 4, 0.0], [math.pi / 3, math.pi / 2]])
x0, x1 = sphere(torch.as_tensor(ends)).cpu().numpy()
sphere_geodesic = geodesic(sphere, ends[0], ends[1], n_points=N_POINTS, gtol=1e-6, max_steps=1000)
print(f"great-circle distance {math.acos(x0 @ x1):.5f}; discrete geodesic {sphere_geodesic.length:.5f} "
      f"({sphere_geodesic.steps} L-BFGS steps); straight line in (θ, φ) {sphere_geodesic.linear_length:.5f}")
print("pullback metric at the start (diag(1, sin²θ)):\n", pullback_metric(sphere, ends[:1])[0].round(4))

# %%
fig = plt.figure(figsize=(11, 4.5), layout="constrained")
ax = fig.add_subplot(1, 2, 1, projection="3d")
u, v = np.meshgrid(np.linspace(0, np.pi, 30), np.linspace(0, 2 * np.pi, 60))
ax.plot_wireframe(np.sin(u) * np.cos(v), np.sin(u) * np.sin(v), np.cos(u), color="0.85", linewidth=0.4)
for name, path, color in (("straight line in (θ, φ)", straight_line(*ends, N_POINTS), "tab:blue"),
                          ("geodesic", sphere_geodesic.path, "tab:red")):
    points = sphere(torch.as_tensor(path)).cpu().numpy()
    ax.plot(*points.T, "o-", color=color, markersize=3, label=name)
ax.legend(loc="upper left")
ax.set(title="Two curves between the same points", xticks=[], yticks=[], zticks=[])
ax = fig.add_subplot(1, 2, 2)
ax.plot(sphere_geodesic.energy_history, "o-", markersize=3)
ax.set(xlabel="L-BFGS step", ylabel="energy E", title="The energy never increases")
plt.show()

# %% [markdown]
# **What to notice.**
# * The optimiser bends the path towards the pole, onto the great circle, and its length matches
#   $\arccos(x_0 \cdot x_1)$ up to the polygon's discretisation error (chords are shorter than arcs,
#   by about $L^3 / (24 (n-1)^2)$; Exercise 1 measures it).
# * The metric at $\theta = \pi/4$ is $\mathrm{diag}(1, \sin^2\theta) = \mathrm{diag}(1, 0.5)$: a
#   step in longitude moves the point less than the same step in colatitude. Every decoder defines
#   such a matrix at every code; the rest of the notebook reads it for trained decoders.
# * The energy falls monotonically: L-BFGS's line search only accepts steps that decrease it.

# %% [markdown]
# ## 2 · A latent plane you can see
#
# Notebook 01 trained a VAE with a **2-D** latent space (an MLP encoder and decoder). Its metric can be
# drawn: the magnification factor on a grid over the plane, with the posterior means of the data on
# top. We then join two codes by the straight line and by a geodesic.
#
# **Stochastic decoders.** A VAE decoder is a distribution, not a function. Arvanitidis et al. write a
# Gaussian decoder as $x = \mu(z) + \sigma(z) \odot \varepsilon$ and show (their Theorem 1) that the
# expected metric is
#
# $$
# \bar G(z) = \mathbb E\big[J^\top J\big] = J_\mu(z)^\top J_\mu(z) + J_\sigma(z)^\top J_\sigma(z),
# $$
#
# the pullback metric of $z \mapsto (\mu(z), \sigma(z))$. Their point: a decoder's $\sigma$ should
# **grow away from the data**, where the model knows nothing; then $J_\sigma$ is large at the edge of
# the data and geodesics stay on it. They replace the decoder's variance network by an RBF network,
# $\sigma(z)^{-2} = \sum_k w\, e^{-\lambda_k \|z - c_k\|^2} + \zeta$ on centres $c_k$ of the codes
# (`RBFStd`). The kit's Bernoulli decoders have no variance head, so we **attach** one to the 2-D VAE
# (32 k-means centres, the same std for every pixel) to see the effect; the kit's models themselves are
# analysed with the deterministic metric of the mean.

# %%
data = DSprites("binary")
SHAPE, POS_X = data.factor_names.index("shape"), data.factor_names.index("position_x")
factors, observations = data.sample(NUM_CODES, random_state)
run_2d = train_or_load(lecture_config("vae", None, P, seed, architecture="mlp", num_latent=2), device=DEVICE)  # notebook 01
decoder_2d = mean_decoder(run_2d.model)
codes_2d = encode(run_2d.model, observations)[0]
xs, ys, grid = latent_plane(codes_2d, GRID)
std_head = RBFStd.fit(codes_2d, num_centers=32, out_dim=4096, random_state=seed).to(DEVICE)
stochastic_2d = stacked_decoder(decoder_2d, std_head)
planes = {"decoder mean: G = JᵀJ": magnification_factor(pullback_metric(decoder_2d, grid)),
          "with an RBF std head: Ḡ = J_μᵀJ_μ + J_σᵀJ_σ": magnification_factor(pullback_metric(stochastic_2d, grid))}

# %%
pairs = random_state.choice(NUM_CODES, size=(24, 2), replace=False)
candidates = geodesic(decoder_2d, codes_2d[pairs[:, 0]], codes_2d[pairs[:, 1]], N_POINTS, max_steps=MAX_STEPS)
best = int(np.argmax(candidates.ratio))
z_a, z_b = codes_2d[pairs[best]]
expected = geodesic(stochastic_2d, z_a, z_b, N_POINTS, max_steps=MAX_STEPS)
print(f"24 random pairs: linear / geodesic length ratio median {np.median(candidates.ratio):.3f}, "
      f"largest {candidates.ratio[best]:.3f} (shown below)")
print(f"that pair: straight line {candidates.linear_length[best]:.1f} px, geodesic {candidates.length[best]:.1f} px; "
      f"the expected-metric geodesic measured in image space {curve_length(decoder_2d, expected.path):.1f} px")

# %%
paths = {"straight line": straight_line(z_a, z_b, N_POINTS), "geodesic": candidates.path[best],
         "geodesic, expected metric": expected.path}
fig, axes = plt.subplots(1, 2, figsize=(14, 5.6), layout="constrained")
for ax, (title, values) in zip(axes, planes.items()):
    plot_metric_plane(ax, xs, ys, values, codes_2d, factors[:, POS_X], paths, title=title)
fig.suptitle(f"2-D VAE ({STEPS:,} steps): magnification factor ½ log det G, codes coloured by position_x")
plt.show()
show_images(np.concatenate([decode(run_2d.model, path) for path in paths.values()]), ncols=N_POINTS,
            row_labels=list(paths), cell_size=0.8,
            title=f"2-D VAE: the three paths of the plane above, decoded ({N_POINTS} points each)")
plt.show()

# %%
nearest = cdist(grid, codes_2d).min(1)  # distance of each grid point to the nearest code
cell = max(xs[1] - xs[0], ys[1] - ys[0])
on, off = nearest < cell, nearest > 3 * cell
detour = curve_length(decoder_2d, expected.path) / candidates.length[best]
display(Markdown(notice([f"{title}: median ½ log det G {np.median(v[on]):+.1f} within a grid cell of the codes, "
                         + (f"{np.median(v[off]):+.1f} more than 3 cells from any" if off.any() else "no grid point far from the codes")
                         for title, v in planes.items()] + [
    f"24 random pairs: median linear / geodesic length ratio {np.median(candidates.ratio):.3f}; the pair shown "
    f"{candidates.ratio[best]:.3f} (straight {candidates.linear_length[best]:.1f} px, geodesic {candidates.length[best]:.1f} px)",
    f"the expected-metric geodesic, measured with the mean's metric, is {detour - 1:+.1%} against the mean's own geodesic"],
    heading=f"**This run** (`{P.name}`, {STEPS:,} steps):")))

# %% [markdown]
# **What to notice.**
# * The magnification factor is far from uniform: look for bright bands where small latent steps
#   change the image a lot (codes switching between sprite positions) and dark patches where the
#   decoder barely moves. Compare its values near the codes and far from them (above): where the mean
#   decoder is *flat* far away, nothing stops a geodesic from leaving the data.
# * The median ratio over 24 random pairs says how far most straight lines are from geodesics (1:
#   already a shortest path); the pair drawn is the worst of them. Compare its strips: where the
#   straight line passes through blurry two-blob images, the geodesic can bend around the bright
#   band and move or fade one blob instead.
# * An RBF std head makes the expected metric grow away from the data (compare the two maps, and the
#   far values above), so the expected-metric geodesic is kept inside the data; its length under the
#   mean's metric (above) says what that detour costs.

# %% [markdown]
# ## 3 · Four models of the course
#
# Shukla et al. compared a plain VAE with three models built for disentangled representations, on
# two image datasets (so their abstract says; we could not check here which three models and which
# data, and do not name them). Here four models of the course play those roles: the **VAE** stands in
# for their VAE, and **β-VAE, β-TCVAE and DIP-VAE-I**, the course's unsupervised disentangling
# objectives, stand in for their disentangling models. This section asks their *questions* of these
# models; it cannot confirm or refute their numbers. We load the four as notebooks 01, 02, 05 and 06
# trained them (same configurations, hence the same cached runs): the VAE, β-VAE at the study's
# largest β, β-TCVAE at β = 6 and DIP-VAE-I at the study's largest $\lambda_{od}$. For each we encode
# the same images, measure the KL of each latent (which latents are *active*, KL > 0.1 nats) and
# match every latent to the factor it is most informative about
# (normalised mutual information, as in notebook 03).
#
# **Which image?** The decoders output Bernoulli logits. We use the **mean image**
# $f(z) = \sigma(\text{logits})$, the point in $[0, 1]^{4096}$ that the decoder predicts; distances
# there are pixel distances. Logits are unbounded: a pixel the decoder is sure about can change its
# logit from 8 to 16 without any visible change, so a metric on logits would be dominated by
# invisible saturation (Exercise 2 measures how much).

# %%
BIG_BETA = STUDY_SWEEPS["beta_vae"][1][-1]  # 16, notebooks 01 and 02
LAMBDA = STUDY_SWEEPS["dip_vae_i"][1][-1]  # 50, notebook 06
CONFIGS = {"VAE": lecture_config("vae", None, P, seed),
           f"β-VAE β={BIG_BETA}": lecture_config("beta_vae", {"beta": BIG_BETA}, P, seed),
           "β-TCVAE β=6": lecture_config("beta_tcvae", {"beta": 6}, P, seed),
           f"DIP-VAE-I λ={LAMBDA}": lecture_config("dip_vae_i", {"lambda_od": LAMBDA}, P, seed)}
models, decoders, means, matches = {}, {}, {}, {}
for name, run in zip(CONFIGS, train_or_load_all(list(CONFIGS.values()), device=DEVICE)):
    models[name] = run.model
    decoders[name] = mean_decoder(models[name])
    means[name], log_vars = encode(models[name], observations)
    nmi = normalized_mutual_information(means[name], factors)
    matches[name] = match_latents_to_factors(nmi, data.factor_names, kl_per_latent(means[name], log_vars))

# %%
for name, table in matches.items():
    active = table[table.active].sort_values("kl", ascending=False)
    print(f"{name:<16}", ", ".join(f"z{d} {row.factor} ({row.kl:.1f})" for d, row in active.iterrows()) or "no active latent")

# %% [markdown]
# ### 3a · How many directions does each decoder use?
#
# The singular values $s_1 \ge \dots \ge s_d$ of $J(z)$ are the image speeds along the metric's
# principal directions ($G$'s eigenvalues are $s_i^2$). An inactive latent is ignored by the decoder,
# so the spectrum should fall off after the number of active latents. We count the directions with
# $s_i > 1\%$ of $s_1$ (`rank_statistics(J, rtol=0.01)`) and report the magnification factor.

# %%
spectra, rows = {}, []
for name, decoder in decoders.items():
    J = jacobian(decoder, means[name][:NUM_JACOBIANS])
    stats = rank_statistics(J, rtol=0.01)
    spectra[name] = stats["singular_values"]
    rows.append({"model": name, "active latents": int(matches[name].active.sum()),
                 "directions with s > 1% s₁": stats["mean_rank"],
                 "directions with s > 10% s₁": (spectra[name] > 0.1 * spectra[name][:, :1]).sum(1).mean(),
                 "s₁ (px per unit)": np.median(stats["singular_values"][:, 0]),
                 "½ log det G": np.median(magnification_factor(metric_from_jacobian(J)))})

# %%
fig, ax = plt.subplots(figsize=(7, 4), layout="constrained")
plot_singular_spectra(ax, spectra, title=f"Singular values of J at {NUM_JACOBIANS} encoded images (median, 10–90 %)")
plt.show()
spectrum = pd.DataFrame(rows).set_index("model")
print(spectrum.round(2).to_string())
display(Markdown(notice([f"{name}: median s₁–s₄ {span(np.median(spectra[name][:, :4], 0), '.1f')} px per unit; "
                         f"{int(row['active latents'])} active latents, {row['directions with s > 1% s₁']:.1f} directions "
                         f"above 1 % of s₁ and {row['directions with s > 10% s₁']:.1f} above 10 %; ½ log det G = "
                         f"{row['½ log det G']:+.1f} (volume × {np.exp(row['½ log det G']):.3g})"
                         for name, row in spectrum.iterrows()], heading=f"**This run** (`{P.name}`, {STEPS:,} steps):")))

# %% [markdown]
# **What to notice.**
# * Compare the leading singular values across the models (above): position and scale, the factors
#   every model learns first, should cost similar image changes in all four.
# * Compare the direction counts with the active latents. Against 1 % of $s_1$ a model can count
#   directions that only its *inactive* latents give — a decoder need not ignore an inactive latent
#   exactly; against 10 % the count should come closer to the active latents. Where the spectrum
#   falls off after the active count, the decoder has learnt to ignore the rest.
# * The magnification factor $\tfrac12 \log\det G = \sum_i \log s_i$ stretches a latent volume
#   where it is positive and squeezes it where it is negative: the small singular values of weakly
#   read latents pull it down, so it tends to separate models with many active latents from
#   strongly regularised ones (above: how it does here).

# %% [markdown]
# ### 3b · How curved is the latent space along each traversal?
#
# A traversal moves one latent $z_k$ across its 5–95 % range. Its image is a curve
# $t \mapsto f(z + t e_k)$ in pixel space, with velocity $J e_k$. Three measures of how much it bends,
# for the four most active latents of each model, around two encoded images
# (`traversal_curvature`):
#
# * **turning**: the sum of the angles between the directions $J e_k$ at consecutive steps (9 steps),
#   the discrete total curvature of the traversal in image space; 0 for a straight line;
# * **tangent angle**: the mean principal angle between the decoder's tangent spaces (spanned by the
#   top singular vectors of $J$, as many as the model has active latents) at the traversal's two ends —
#   Shukla et al.'s *tangent space alignment*: how much the whole manifold turns along the traversal;
# * **ratio**: the length of the straight traversal divided by the length of the geodesic between its
#   ends (12 points). 1 means the traversal is already a shortest path; Shao et al. found linear paths
#   close to geodesics in their models, Shukla et al. larger ratios for disentangled ones.

# %%
tables = []
for name, decoder in decoders.items():
    active = matches[name][matches[name].active].sort_values("kl", ascending=False)
    top = active.head(4) if len(active) else matches[name].sort_values("kl", ascending=False).head(1)
    table, _, result = traversal_curvature(decoder, means[name][:2], quantile_ranges(means[name]), top.index.values,
                                           rank=max(1, len(active)), n_points=12, max_steps=MAX_STEPS // 2, gtol=0.1)
    tables.append(table.assign(model=name, factor=top.factor.values, kl=top.kl.values).reset_index())
curvature = pd.concat(tables, ignore_index=True)
curvature["label"] = "z" + curvature.latent.astype(str) + " " + curvature.factor

# %%
fig, axes = plt.subplots(1, 3, figsize=(17, 4.2), layout="constrained")
for ax, (column, ylabel) in zip(axes, [("turning", "total turning (degrees)"), ("tangent_angle", "tangent angle (degrees)"),
                                       ("ratio", "linear / geodesic length")]):
    plot_grouped_bars(ax, curvature, column, title=ylabel, ylabel=ylabel)
axes[2].axhline(1, color="k", linewidth=0.8)
fig.suptitle("Curvature along the traversals of the four most active latents of each model (bars labelled by matched factor)")
plt.show()
print(curvature.set_index(["model", "label"])[["kl", "speed", "turning", "tangent_angle", "ratio"]].round(2).to_string())
per_model = curvature.groupby("model", sort=False)[["turning", "ratio"]].mean()
disentangling = per_model.ratio.drop("VAE")
display(Markdown(notice([
    f"turning over 9 steps {span(curvature.turning, '.0f')}°; tangent angle between the ends "
    f"{span(curvature.tangent_angle, '.0f')}°; linear / geodesic length ratio {span(curvature.ratio, '.2f')}",
    "mean turning and ratio per model: " + "; ".join(f"{name} {row.turning:.0f}°, {row.ratio:.2f}"
                                                     for name, row in per_model.iterrows()),
    f"{(disentangling > per_model.ratio['VAE']).sum()} of the {len(disentangling)} disentangling models have a larger mean ratio "
    f"than the VAE; the largest mean turning is {per_model.turning.idxmax()}'s, the smallest "
    f"{per_model.turning.idxmin()}'s"], heading=f"**This run** (`{P.name}`, {STEPS:,} steps):")))

# %% [markdown]
# **What to notice.**
# * A traversal is straight in image space only with a turning of 0 (above: how far from it they
#   are), and tangent angles near 90° mean that the tangent spaces at its two ends are almost
#   orthogonal. A moving sprite uncovers new pixels at every step, so its image curve keeps turning —
#   the curvature comes from the pixel representation as much as from the model.
# * Shukla et al. report larger ratios for the disentangled models than for the VAE; above: whether
#   this run shows that ordering. Where the strongest regularisers (β-VAE β = 16, DIP-VAE-I λ = 50)
#   give the flattest spaces instead, curvature follows how much of the image a latent controls more
#   than disentanglement.

# %% [markdown]
# ### 3c · Curvature itself: the second fundamental form
#
# The measures of 3b compare points a finite step apart: the turning sums angles over 9 steps, the
# tangent angle compares the two ends of a traversal, the ratio needs a whole geodesic. They mix how much
# the manifold bends with how far apart the compared points are. **Curvature** is a property *at a
# point*, read from the second derivative. For the decoded straight line $\gamma(t) = f(z + t v)$,
#
# $$
# \gamma'(0) = J v, \qquad
# \gamma''(0) = \frac{\mathrm d^2}{\mathrm dt^2} f(z + t v)\Big|_{t=0} = \sum_{i,j} v_i v_j \frac{\partial^2 f}{\partial z_i\, \partial z_j}(z).
# $$
#
# Split $\gamma''$ into its part inside the decoder's tangent space $\operatorname{span}(J)$ (orthogonal
# projector $P$) and the part normal to it:
#
# $$
# \mathrm{II}(v, v) = (I - P)\, \gamma''(0), \qquad
# \kappa_n(v) = \frac{\|\mathrm{II}(v, v)\|}{\|J v\|^2}, \qquad
# \kappa = \frac{\|\gamma'' - (\gamma'' \cdot t)\, t\|}{\|\gamma'\|^2} \;\; (t = \gamma' / \|\gamma'\|), \qquad
# \kappa^2 = \kappa_n^2 + \kappa_g^2 .
# $$
#
# $\mathrm{II}$ is the **second fundamental form** of the decoded manifold and $\kappa_n$ its **normal
# curvature** in the direction $Jv$ (do Carmo 1976, §3-2). It belongs to the manifold, not to the
# latent coordinates: any latent curve through $z$ with the same image velocity has the same normal
# acceleration, because a latent curve's own acceleration $\ddot z$ only adds $J \ddot z$, a tangent
# vector (Meusnier's theorem). It is unchanged when $v$ is scaled, and its unit is 1 / pixel distance:
# $1/\kappa_n$ is the radius of the circle that best fits the manifold along $Jv$. The curvature $\kappa$
# of the straight traversal itself adds the **geodesic curvature** $\kappa_g$, the bending inside the
# tangent space — how far the straight latent line is from a geodesic. The two parts are orthogonal,
# hence $\kappa^2 = \kappa_n^2 + \kappa_g^2$.
#
# `second_derivative` computes $\gamma'$ and $\gamma''$ exactly, forward mode nested in forward mode
# (`torch.func.jvp` of a `jvp`), all codes and directions of a chunk at once; `normal_curvature` projects
# in float64. **A known answer first**: on Section 1's sphere scaled to radius $R$, $\kappa_n = 1/R$ in
# every direction; moving the longitude $\varphi$ traces a parallel, a circle of radius $R \sin\theta$, so
# there $\kappa = 1/(R \sin\theta)$ and $\kappa_g = \cot\theta / R$.

# %%
RADIUS = 2.5


def sphere_patch(z):
    """Section 1's map onto a sphere of radius RADIUS."""
    return RADIUS * sphere(z)


toy_codes = np.array([[math.pi / 4, 0.0], [math.pi / 3, 1.0], [2.0, -0.5]])  # (θ, φ)
toy = normal_curvature(sphere_patch, toy_codes, [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])  # along θ, along φ, diagonal
theta = toy_codes[:, 0]
toy_table = pd.DataFrame({"θ": theta, "κₙ (θ, φ, diagonal)": [" ".join(f"{k:.6f}" for k in row)
                                                                 for row in toy.kappa_normal],
                          "κ along φ": toy.kappa[:, 1], "1/(R sin θ)": 1 / (RADIUS * np.sin(theta)),
                          "κ_g along φ": toy.kappa_geodesic[:, 1], "|cot θ| / R": np.abs(1 / np.tan(theta)) / RADIUS})
toy_error = max(np.abs(toy.kappa_normal - 1 / RADIUS).max(), np.abs(toy.kappa[:, 1] - toy_table["1/(R sin θ)"]).max(),
                np.abs(toy.kappa_geodesic[:, 1] - toy_table["|cot θ| / R"]).max())
print(f"R = {RADIUS}, 1/R = {1 / RADIUS:.6f}; largest error of κₙ, and of κ and κ_g along φ: {toy_error:.1e}")
print(toy_table.round(6).to_string(index=False))

# %% [markdown]
# **The four models.** At `CURVATURE_CODES` encoded images (the first two are 3b's base codes) we read
# $\kappa_n$, $\kappa$ and $\kappa_g$ of the traversal of **every** latent, $v = e_k$: ten directions per
# code, all in one batched call per model.

# %%
bending = []
for name, decoder in decoders.items():
    frame = normal_curvature(decoder, means[name][:CURVATURE_CODES]).to_frame().rename(columns={"direction": "latent"})
    bending.append(frame.join(matches[name][["factor", "kl", "active"]], on="latent").assign(model=name))
bending = pd.concat(bending, ignore_index=True).assign(share=lambda t: t.kappa_normal ** 2 / t.kappa ** 2)

# %%
fig, axes = plt.subplots(1, len(decoders), figsize=(17, 4.6), layout="constrained", sharey=True)
for ax, (name, part) in zip(axes, bending.groupby("model", sort=False)):
    plot_latent_curvature(ax, part, title=name, ylabel=None)
axes[0].set_ylabel("normal curvature κₙ (1 / pixel distance)")
fig.suptitle(f"Normal curvature of each latent's traversal at {CURVATURE_CODES} encoded images (dots) and its median (bars)")
plt.show()
by_model = bending.groupby("model", sort=False)
summary = by_model[["kappa_normal", "kappa", "kappa_geodesic", "share", "speed"]].median()
summary[["κₙ 25 %", "κₙ 75 %"]] = by_model.kappa_normal.quantile([0.25, 0.75]).unstack().to_numpy()
summary["3b turning (°)"] = curvature.groupby("model", sort=False).turning.mean()
print("medians over codes and latents:\n", summary.round(3).to_string())

# %% [markdown]
# **Where does this bending come from?** The kit's decoders are ReLU networks followed by the sigmoid
# (Section 4): their logits $\ell(z)$ are piecewise linear, so $\ell'' = 0$ wherever no unit switches. The
# mean image $p = \sigma(\ell)$ then has, pixel by pixel,
#
# $$
# \gamma' = p(1-p) \odot \ell', \qquad \gamma'' = p(1-p) \odot \ell'' + p(1-p)(1-2p) \odot (\ell')^2
#   = p(1-p)(1-2p) \odot (\ell')^2 .
# $$
#
# Numerator and denominator of $\kappa$ both scale as $(\ell')^2$: at a point, how *fast* a latent moves
# the logits does not change how much the image curve bends — only *which* pixels move, and how
# saturated they are. We check $\ell'' = 0$ on the VAE:

# %%
logit_velocity, logit_acceleration = second_derivative(models["VAE"].decoder, means["VAE"][:4])
print(f"VAE logits along all ten traversals at 4 codes: largest |ℓ'| = {logit_velocity.abs().max():.2f}, "
      f"largest |ℓ''| = {logit_acceleration.abs().max():.1e}")

# %%
ratios = bending.groupby(["model", "latent"], sort=False)[["kappa_normal", "speed"]].median().groupby("model", sort=False)
ratios = ratios.max() / ratios.min()  # spread of the per-latent medians within each model
vae, others = summary.loc["VAE", "kappa_normal"], summary.kappa_normal.drop("VAE")
order = list(summary.kappa_normal.sort_values().index)
same = order == list(summary["3b turning (°)"].sort_values().index)
turning_top = summary["3b turning (°)"].idxmax()
active_split = [(name, part[part.active].kappa_normal.median(), part[~part.active].kappa_normal.median())
                for name, part in by_model if 0 < part.active.mean() < 1]  # models with inactive latents
radii = 1 / summary.kappa_normal
quartiles = ", ".join(f"{low:.3f}–{high:.3f}" for low, high in zip(summary["κₙ 25 %"], summary["κₙ 75 %"]))
overlap = summary["κₙ 25 %"].max() < summary["κₙ 75 %"].min()  # every model's 25–75 % range meets every other's

# %%
display(Markdown(notice([
    f"Sphere of radius {RADIUS}: κₙ = {span(toy.kappa_normal.ravel(), '.6f')} in every direction (1/R = {1 / RADIUS}); "
    f"κ and κ_g along the parallels match 1/(R sin θ) and |cot θ|/R (largest error {toy_error:.0e}).",
    f"Every traversal bends: median κₙ {span(summary.kappa_normal, '.3f')} per pixel distance, radii 1/κₙ of "
    f"{span(radii, '.1f')} pixel distances, against 3b's traversal lengths of {span(curvature.linear_length, '.0f')} pixel distances"
    + (": the manifold turns through more than a radian within one traversal." if radii.max() < curvature.linear_length.min() else "."),
    f"Within a model the latents' median κₙ differ by a factor {span(ratios.kappa_normal, '.1f')}, their speeds ‖J e_k‖ by "
    f"{span(ratios.speed, '.0f')}: how far a latent moves the image says little about how much it bends it.",
    f"Shukla et al.'s abstract reports *higher* curvature in disentangled latent spaces than in a VAE. Here "
    f"{(others > vae).sum()} of the {len(others)} disentangling models have a higher median κₙ than the VAE "
    f"({span(others, '.3f')} against {vae:.3f}); the 25–75 % ranges over codes {'all' if overlap else 'do not all'} "
    f"overlap ({quartiles}). Ordered by κₙ: {' < '.join(order)} — "
    f"{'the same order as' if same else 'not the order of'} 3b's turning, whose most curved model is {turning_top}.",
    *[f"{name}: the active latents' traversals bend {trend(off, on, 'more', 'less')} than the inactive ones' (median κₙ "
      f"{on:.3f} against {off:.3f})." for name, on, off in active_split],
    f"κₙ² is {span(summary.share, '.2f')} of κ² (medians): the rest, κ_g², is the straight latent line failing to be "
    "a geodesic — the bending 3b's length ratio and 3d's geodesics undo.",
    f"The logits' second derivative is {logit_acceleration.abs().max():.0e}: all the bending seen at a point is the "
    "sigmoid's, set by which pixels a latent moves and how saturated they are. Whether the curvature at points adds up "
    "to 3b's turning is Exercise 4's question.",
], note=f"(this run: `{P.name}`, {CURVATURE_CODES} codes per model)")))

# %% [markdown]
# ### 3d · Does geodesic interpolation look different?
#
# Two images that differ in shape and position: a square in the top-left corner and a heart in the
# bottom-right. For each model we encode both, join the codes by the straight line and by a geodesic
# (16 points), and decode both paths. Below the strips: the pixel distance of every step — a
# geodesic moves at constant speed, a straight latent line does not.

# %%
pair_factors = np.array([[0, 3, 0, 5, 5], [2, 3, 0, 26, 26]])  # (shape, scale, orientation, x, y)
pair_images = data.sample_observations_from_factors(pair_factors, random_state)
strips, speeds, shorter = {}, {}, {}
for name, decoder in decoders.items():
    z_pair = encode(models[name], pair_images)[0]
    result = geodesic(decoder, z_pair[0], z_pair[1], N_POINTS, max_steps=MAX_STEPS)
    shorter[name] = 1 - 1 / float(result.ratio)  # the share of the straight line's length the geodesic saves
    for label, path in (("linear", straight_line(*z_pair, N_POINTS)), ("geodesic", result.path)):
        strips[f"{name}\n{label}"] = decode(models[name], path)
        speeds.setdefault(name, {})[label] = step_lengths(decoder, path)

# %%
show_images(pair_images, ncols=2, titles=["start", "end"], cell_size=1.0, title="The two images")
plt.show()
show_images(np.concatenate(list(strips.values())), ncols=N_POINTS, row_labels=list(strips), cell_size=0.75,
            title=f"Linear and geodesic interpolation between them, decoded by each model ({N_POINTS} points)")
plt.show()
fig, axes = plt.subplots(1, 4, figsize=(17, 3.4), layout="constrained", sharey=True)
for ax, (name, paths) in zip(axes, speeds.items()):
    plot_step_lengths(ax, paths, title=name)
plt.show()
unevenness = {name: {label: steps.max() / max(steps.min(), 1e-12) for label, steps in paths.items()}
              for name, paths in speeds.items()}  # the largest step length over the smallest
display(Markdown(notice([f"{name}: the geodesic is {shorter[name]:.0%} shorter than the straight line; the longest "
                         f"step is {u['linear']:.1f} times the shortest along the line, {u['geodesic']:.1f} along the geodesic"
                         for name, u in unevenness.items()], heading=f"**This run** (`{P.name}`, {STEPS:,} steps):")))

# %% [markdown]
# **What to notice.**
# * Compare the strips. A linear path tends to *move* the blob from one corner to the other (a
#   model may even split it in two on the way); a geodesic may instead **cross-fade**, the first
#   sprite fading while the second appears. In pixel space two sprites that do not overlap are
#   joined most cheaply by a fade, and the geodesic finds such a path inside what the decoder can
#   draw.
# * The speed plots: minimising the energy makes the geodesic move at (nearly) constant speed, while
#   a straight latent line can change the image slowly in places and fast in others (above: how
#   unevenly each moves, and how much shorter the geodesic is).
# * Where the geodesics fade, "geodesic interpolation looks more natural" (Shao et al. on faces)
#   does not carry over to sprites measured in pixels: the metric decides what *shortest* means, and
#   the pixel metric prefers fading to moving.

# %% [markdown]
# ### 3e · Do Riemannian distances separate the shapes?
#
# Shukla et al. report that classes are better separated under the Riemannian distance than under
# the Euclidean one. dSprites' classes are its three **shapes**. We draw `PER_SHAPE` images of each
# shape (every other factor random), encode them and compare three distance matrices:
#
# * **Euclidean** distance between the codes, $\|z_i - z_j\|$;
# * **Riemannian** distance, the length of the shortest decoded path. All pairs by L-BFGS would take
#   too long, so `graph_distances` joins every code to its 10 nearest codes by straight segments,
#   measures each segment's decoded length (5 points) and takes shortest paths through the graph
#   (Dijkstra). Paths stay near the data; the estimate is an upper bound of the geodesic distance,
#   checked below against L-BFGS geodesics on a few pairs;
# * as a reference, the **pixel** distance between the input images themselves.
#
# Scores are scale-free, so different distances compare: the **margin** $(b - a)/(b + a)$ averaged
# over points ($a$: distance to the nearest image of the same shape, $b$: of another shape), the
# leave-one-out **1-NN accuracy** (chance: 1/3) and the **silhouette**.

# %%
shape_factors = data.sample_factors(3 * PER_SHAPE, random_state)
shape_factors[:, SHAPE] = np.repeat(np.arange(3), PER_SHAPE)
shape_images = data.sample_observations_from_factors(shape_factors, random_state)
labels = shape_factors[:, SHAPE]
flat = shape_images.reshape(len(shape_images), -1)
rows = [{"model": "(input pixels)", "distance": "Euclidean", **separability(cdist(flat, flat), labels)}]
riemannian = {}
for name, decoder in decoders.items():
    codes = encode(models[name], shape_images)[0]
    riemannian[name] = graph_distances(decoder, codes, num_neighbors=10, segment_points=5)
    rows.append({"model": name, "distance": "Euclidean", **separability(cdist(codes, codes), labels)})
    rows.append({"model": name, "distance": "Riemannian", **separability(riemannian[name], labels)})
scores = pd.DataFrame(rows).set_index(["model", "distance"])
print(scores.round(3).to_string())

# %%
name = "VAE"
codes = encode(models[name], shape_images)[0]
check_pairs = random_state.choice(len(codes), size=(3, 2), replace=False)
check = geodesic(decoders[name], codes[check_pairs[:, 0]], codes[check_pairs[:, 1]], N_POINTS, max_steps=MAX_STEPS)
graph = riemannian[name][check_pairs[:, 0], check_pairs[:, 1]]
print(pd.DataFrame({"graph distance": graph, "L-BFGS geodesic": check.length, "straight line": check.linear_length},
                   index=[f"{i}–{j}" for i, j in check_pairs]).round(2).to_string())
in_models, pixels = scores.drop("(input pixels)", level="model"), scores.loc[("(input pixels)", "Euclidean")]
gain = in_models.xs("Riemannian", level="distance") - in_models.xs("Euclidean", level="distance")
display(Markdown(notice([
    f"the models' distances: margins {span(in_models.margin, '+.2f')}, 1-NN accuracies {span(in_models.nn_accuracy)} "
    f"(chance 1/3), silhouettes {span(in_models.silhouette, '+.2f')}; input pixels: margin {pixels.margin:+.2f}, "
    f"1-NN {pixels.nn_accuracy:.2f}, silhouette {pixels.silhouette:+.2f}",
    f"Riemannian against Euclidean: a larger margin in {(gain.margin > 0).sum()} of the {len(gain)} models, a higher "
    f"1-NN accuracy in {(gain.nn_accuracy > 0).sum()}, a higher silhouette in {(gain.silhouette > 0).sum()}",
    f"{name}: the graph distance is {span(graph / check.length, '.1f')} times the L-BFGS geodesic on the "
    f"{len(check_pairs)} pairs checked"], heading=f"**This run** (`{P.name}`, {STEPS:,} steps, {PER_SHAPE} images per shape):")))

# %% [markdown]
# **What to notice.**
# * Read the margins first: a negative margin means that an image of another shape is usually
#   closer than the nearest one of the same shape; 1-NN accuracies near chance (1/3) and
#   silhouettes near 0 mean no separation at all. Position and scale enter all these distances, and
#   can dominate them.
# * Shukla et al. report that classes are better separated under the Riemannian distance than under
#   the Euclidean one; above: in how many of the four models that holds here.
# * The graph estimate is an upper bound of the geodesic distance (above: how loose on a few pairs;
#   a few hundred codes in 10 dimensions make a sparse graph). Exercise 3 removes the nuisance
#   factors.

# %% [markdown]
# ## 4 · Why ELU rather than ReLU decoders
#
# A ReLU network is **piecewise linear**: inside each region where the pattern of active units is
# fixed, $f(z) = A z + b$. So its Jacobian is **piecewise constant** and jumps at region boundaries;
# the metric has no derivative there and zero derivative elsewhere, so Christoffel symbols and
# curvature vanish almost everywhere and all the bending is concentrated on the boundaries. Worse,
# $J = W_L D_{L-1} W_{L-1} \cdots D_1 W_1$ with 0/1 diagonal matrices $D_\ell$: wherever a layer has
# fewer active units than $d$, **$J$ loses rank** and $\det G = 0$. ELU,
# $x \mapsto x$ for $x > 0$ and $e^x - 1$ otherwise, is smooth with a positive derivative, so the
# same product has no zero factor: a generic ELU network has a smooth, full-rank Jacobian — a smooth
# Riemannian metric, which is what the theory (and Shukla et al.'s decoders) assumes.
#
# Below: the same small MLP (same seed, same weights; `mlp_decoder`), once with ReLU and once with
# ELU, on a 2-D latent plane (2 → 8 → 8 → 64), and a narrow 4-D one (4 → 4 → 4 → 64) at random codes.

# %%
plane = np.linspace(-3, 3, 3 * GRID)
plane_points = np.stack(np.meshgrid(plane, plane), -1).reshape(-1, 2)
z4 = torch.randn(1000, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
fig, axes = plt.subplots(1, 2, figsize=(12, 4.6), layout="constrained")
rows = []
for ax, activation in zip(axes, ("relu", "elu")):
    plane_mf = magnification_factor(pullback_metric(mlp_decoder(2, (8, 8), 64, activation, seed=seed), plane_points))
    plot_metric_plane(ax, plane, plane, plane_mf, title=f"{activation.upper()}: ½ log det G (grey: det G = 0)")
    narrow = rank_statistics(jacobian(mlp_decoder(4, (4, 4), 64, activation, seed=seed), z4))
    rows.append({"activation": activation, "plane: share with det G = 0": np.isinf(plane_mf).mean(),
                 "narrow net: share of full rank": narrow["fraction_full_rank"], "narrow net: ranks": narrow["rank_counts"]})
plt.show()
activations = pd.DataFrame(rows).set_index("activation")
print(activations.to_string())

# %% [markdown]
# The kit's own decoders (the study's architecture) are ReLU networks too, followed by the sigmoid.
# The Jacobian of their **logits** is therefore piecewise constant; the sigmoid smooths the mean
# image but only through the pixels' saturation. We nudge codes by $10^{-5}$ and see whether the
# Jacobian changes:

# %%
name = "VAE"
z = torch.as_tensor(means[name][:32])
nudge = 1e-5 * torch.randn(z.shape, generator=torch.Generator().manual_seed(seed))
identical = {}
for label, f in (("logits", models[name].decoder), ("mean image σ(logits)", decoders[name])):
    J0, J1 = jacobian(f, z), jacobian(f, z + nudge)
    change = ((J1 - J0).flatten(1).norm(dim=1) / J0.flatten(1).norm(dim=1)).cpu().numpy()
    identical[label] = np.mean(change < 1e-6)
    print(f"{label:<22} relative change of J: median {np.median(change):.1e}; "
          f"identical up to float32 rounding (< 1e-6) at {identical[label]:.0%} of the codes")
display(Markdown(notice([f"{act.upper()}: det G = 0 on {row['plane: share with det G = 0']:.1%} of the plane; the narrow "
                         f"net has full rank at {row['narrow net: share of full rank']:.0%} of the codes (ranks and counts "
                         f"{row['narrow net: ranks']})" for act, row in activations.iterrows()]
                        + [f"{name}'s Jacobian after a 10⁻⁵ nudge, identical at {len(z)} codes: " + ", ".join(
                            f"{label} {share:.0%}" for label, share in identical.items())], heading="**This run:**")))

# %% [markdown]
# **What to notice.**
# * The ReLU map is a patchwork of flat polygons — inside each linear region $\det G$ is constant —
#   with grey regions where the Jacobian has lost rank (above: their share of the plane). The ELU
#   net with the same weights has a smooth map, and should lose rank nowhere.
# * In the narrow 4-D net ReLU loses rank wherever a layer has fewer than 4 active units (above: at
#   how many codes); ELU keeps full rank.
# * The kit's own decoders are ReLU nets: the Jacobian of their logits is piecewise constant, so a
#   $10^{-5}$ nudge that crosses no region boundary leaves it identical (above: at how many codes),
#   and the mean image's Jacobian changes only through the sigmoid. Their metric is smooth enough to
#   measure lengths but its curvature is concentrated on region boundaries; Shukla et al. train ELU
#   decoders for this reason.

# %% [markdown]
# ## 5 · What the kit's numbers say, and where they disagree with the papers
#
# The answers of Sections 3a–3e for this run, gathered next to what the papers report:

# %%
shape_latents = {name: int((table.active & (table.factor == "shape")).sum()) for name, table in matches.items()}
display(Markdown(notice([
    f"**Curved latent spaces.** Straight traversals are {span(curvature.ratio, '.2f')} times as long as the geodesics "
    f"between their ends and turn by {span(curvature.turning, '.0f')}° (3b); the papers: a straight latent line is "
    "not a shortest path in image space.",
    f"**Disentangled and curvature.** Shukla et al. found the disentangling models more curved than the VAE. Here "
    f"{(disentangling > per_model.ratio['VAE']).sum()} of {len(disentangling)} have a larger length ratio than the VAE "
    f"(3b) and {(others > vae).sum()} of {len(others)} a larger median κₙ (3c); the flattest by turning is "
    f"{per_model.turning.idxmin()}, the most curved {per_model.turning.idxmax()}.",
    f"**Geodesic interpolation** saves {span(list(shorter.values()), '.0%')} of the straight line's length between "
    "a square and a heart (3d).",
    f"**Riemannian distances** separate the shapes better than Euclidean ones (margin) in {(gain.margin > 0).sum()} "
    f"of {len(gain)} models; the best 1-NN accuracy of any model's distance is {in_models.nn_accuracy.max():.2f} "
    "(chance 0.33) (3e). Shukla et al. report better separation under the Riemannian distance.",
    "**Shape latents** (active, matched to shape): " + ", ".join(f"{n} {k}" for n, k in shape_latents.items())
    + f" — in models of {STEPS:,} steps (the study trains 300,000)."],
    heading=f"**This run** (`{P.name}`, seed {seed}):")))

# %% [markdown]
# **What to notice.**
# * Curvature follows how much of the image a latent controls, and that can follow the
#   regulariser's strength more than disentanglement: compare the orderings above with the active
#   latents of Section 3. Behind the kit's ReLU decoders all the bending at a point is the
#   sigmoid's (3c).
# * Geodesic interpolation differs from linear but is not automatically "more natural": in pixel
#   space it can cross-fade sprites instead of moving them (3d). Shao et al.'s observation that
#   linear and geodesic interpolations look alike on faces need not hold for sprites.
# * Shape is a small factor of dSprites that models tend to learn late. Where a model has no shape
#   latent (above), the question whether its distances separate the shapes asks about a factor it
#   does not encode; Exercise 3 asks what changes when the nuisance factors are fixed, and older
#   models are the place to ask it of a model that encodes shape.

# %% [markdown]
# ## Exercises
#
# **Exercise 1 (discretisation).** The discrete geodesic on the sphere is a polygon whose vertices
# lie on the great circle, so its length is $(n-1)\cdot 2\sin\!\big(\tfrac{L}{2(n-1)}\big)$, a little
# less than $L$. Compute the geodesic of Section 1 with $n = 4, 8, 16, 32, 64$ points and plot the
# error $|L_n - L|$ against $n$ on log–log axes. Which power of $n$ do you expect, and why does it
# matter when comparing lengths measured with different $n$?

# %% tags=["solution"]
true_length = math.acos(x0 @ x1)
counts = [4, 8, 16, 32, 64]
errors = [abs(geodesic(sphere, ends[0], ends[1], n, gtol=1e-7, max_steps=2000).length - true_length) for n in counts]
fig, ax = plt.subplots(figsize=(5, 3.5), layout="constrained")
ax.loglog(counts, errors, "o-", label="|L_n − L|")
ax.loglog(counts, [true_length ** 3 / (24 * (n - 1) ** 2) for n in counts], "k--", label="L³ / (24 (n−1)²)")
ax.set(xlabel="points n", ylabel="error", title="Chords are shorter than arcs")
ax.legend()
plt.show()
# 2 (n-1) sin(L / (2(n-1))) = L - L^3 / (24 (n-1)^2) + ...: the error falls like 1/n^2. Lengths are only
# comparable at the same n (or after this correction); the notebook always compares at equal n.

# %% [markdown]
# **Exercise 2 (logits or mean?).** Repeat the geodesic of Section 3d for the VAE, but with the
# decoder's **logits** as the data-space point (`models["VAE"].decoder` instead of
# `decoders["VAE"]`). Compare the linear-to-geodesic ratio with the one of the mean image, and decode
# both geodesics. Which pixels dominate the logit distance?

# %% tags=["solution"]
name = "VAE"
z_pair = encode(models[name], pair_images)[0]
results = {label: geodesic(f, z_pair[0], z_pair[1], N_POINTS, max_steps=MAX_STEPS)
           for label, f in (("mean σ(logits)", decoders[name]), ("logits", models[name].decoder))}
for label, result in results.items():
    print(f"{label:<15} linear {result.linear_length:9.1f}, geodesic {result.length:9.1f}, ratio {result.ratio:.3f}")
show_images(np.concatenate([decode(models[name], r.path) for r in results.values()]), ncols=N_POINTS,
            row_labels=[f"geodesic of the {label}" for label in results], cell_size=0.75,
            title=f"{name}: geodesics under the metric of the mean image and of the logits")
plt.show()
with torch.no_grad():
    logits = models[name].decoder(torch.as_tensor(z_pair, device=DEVICE))
print(f"logits of the two ends: background pixels around {logits.median():.1f}, range [{logits.min():.1f}, "
      f"{logits.max():.1f}]")
# The logit distance is dominated by the thousands of background pixels: their logits are large negative
# numbers that can move by several units between codes while the mean image stays at 0.000. The logit
# geodesic spends its length on that invisible saturation, so it need not look like the mean-image one,
# and its ratio measures something no one sees.

# %% [markdown]
# **Exercise 3 (nuisance factors).** In Section 3e every other factor varied, and position dominates
# pixel distances. Fix the nuisance factors instead: put every sprite in the centre (position 16, 16)
# at scale 3, vary only the orientation, and recompute the scores for the VAE and the β-TCVAE. Do the
# Riemannian distances separate the shapes better now?

# %% tags=["solution"]
centred = shape_factors.copy()
centred[:, data.factor_names.index("position_x")] = 16
centred[:, data.factor_names.index("position_y")] = 16
centred[:, data.factor_names.index("scale")] = 3
centred_images = data.sample_observations_from_factors(centred, random_state)
flat = centred_images.reshape(len(centred_images), -1)
rows = [{"model": "(input pixels)", "distance": "Euclidean", **separability(cdist(flat, flat), labels)}]
for name in ("VAE", "β-TCVAE β=6"):
    codes = encode(models[name], centred_images)[0]
    rows.append({"model": name, "distance": "Euclidean", **separability(cdist(codes, codes), labels)})
    rows.append({"model": name, "distance": "Riemannian", **separability(graph_distances(decoders[name], codes), labels)})
print(pd.DataFrame(rows).set_index(["model", "distance"]).round(3).to_string())
# With position and scale fixed, shape and orientation are all that is left: compare the pixel distance's
# scores with Section 3e's, and the models' distances with theirs — how much they gain depends on whether
# the models encode shape at all (see Section 3's latent table and Section 5).

# %% [markdown]
# **Exercise 4 (turning and curvature).** For a smooth curve the total turning is the integral of its
# curvature, $\int \kappa\, \mathrm ds = \int \kappa(t)\, \|\gamma'(t)\|\, \mathrm dt$. Take the traversal of the
# VAE's most active latent at 3b's first base code, across its 5–95 % range. Compute $\kappa$ and the speed
# at 33 points along it with `normal_curvature`, integrate with the trapezoid rule, and compare with the
# turning that `traversal_geometry` sums at 9, 33 and 65 steps. Where does the summed turning go as the
# steps get finer, and what does the difference tell you about the kit's decoders?

# %% tags=["solution"]
name = "VAE"
k = int(matches[name].kl.idxmax())
limits = quantile_ranges(means[name])
values = np.linspace(*limits[k], 33)  # z_k at 33 points of the traversal
line = np.repeat(means[name][:1], len(values), 0)
line[:, k] = values
bend = normal_curvature(decoders[name], line, np.eye(line.shape[1])[k])
integral = np.degrees(np.trapezoid(bend.kappa[:, 0] * bend.speed[:, 0], values))
turns = {S: np.degrees(traversal_geometry(decoders[name], means[name][:1], limits, [k], num_steps=S).turning[0, 0])
         for S in (9, 33, 65)}
print(f"{name} z{k}: ∫ κ ds = {integral:.0f}°; summed turning " + ", ".join(f"{S} steps {v:.0f}°" for S, v in turns.items()))
display(Markdown(notice([f"{S} steps: summed turning {v:.0f}°, {trend(integral, v, 'above', 'below', 'level with', tol=1)} "
                         f"∫ κ ds = {integral:.0f}°" for S, v in turns.items()]
                        + [f"from 33 to 65 steps the sum {trend(turns[33], turns[65], 'still grows', 'falls', 'stays put', tol=1)}"],
                        heading=f"**This run** (`{P.name}`, {name} z{k}):")))

# %% [markdown] tags=["solution"]
# The summed turning adds the angles between the directions $\gamma'$ at consecutive steps. On these
# nested grids (8, 32, 64 intervals) it can only grow as the steps get finer — the angle between two
# directions never exceeds the sum of the angles through a direction in between — and it tends to the
# curve's whole turning: the smooth part $\int \kappa\, \mathrm ds$ plus the angle of every corner. A coarse
# sum can fall short of the integral (one angle per step misses the turn inside it); where the finer sums
# pass the integral and keep growing (above), the excess is bending no single point sees: where a ReLU
# unit of the decoder switches on or off, the logits' velocity $\ell'$ jumps (Section 4) and the image
# curve has a corner. Curvature at a point — $\mathrm{II}$, $\kappa_n$, $\kappa$ —
# only measures the smooth part between the corners, which for the kit's decoders is the sigmoid's; the
# finite-range proxies of 3b see both. An ELU decoder has no corners, and the two would agree in the limit.

# %% [markdown]
# ## Summary
#
# * A decoder turns the latent space into a Riemannian manifold with the pullback metric
#   $G = J^\top J$; lengths, energies, geodesics and the magnification factor follow from $J$, which
#   forward-mode autodiff gives for all latent directions and codes at once.
# * Geodesics are found by minimising the discrete curve energy with fixed ends; the ratio of the
#   straight line's length to the geodesic's measures how curved the space is between two codes.
# * A stochastic decoder's expected metric adds $J_\sigma^\top J_\sigma$; with a variance that grows
#   away from the data, geodesics stay on the data (Arvanitidis et al. 2018).
# * Curvature itself is read at a point from the decoder's second derivative along a direction
#   (nested forward mode): the second fundamental form $\mathrm{II}(v, v)$, the part of $\gamma''$ normal
#   to $\operatorname{span} J$, gives the normal curvature $\kappa_n = \|\mathrm{II}(v, v)\| / \|Jv\|^2$ of the
#   decoded manifold (in 1 / pixel distance); the rest of the traversal's curvature, $\kappa_g$, is the
#   straight latent line failing to be a geodesic, $\kappa^2 = \kappa_n^2 + \kappa_g^2$.
# * ReLU decoders have piecewise-constant, possibly rank-deficient Jacobians; ELU decoders have
#   smooth, full-rank ones — the reason geometric analyses prefer them. Behind a ReLU decoder's sigmoid
#   all the curvature at a point is the sigmoid's.
#
# **Next:** notebook 13 (the study) puts Locatello et al.'s findings to the test in miniature.
#
# ## References
#
# * G. Arvanitidis, L. K. Hansen, S. Hauberg. *Latent Space Oddity: on the Curvature of Deep Generative
#   Models.* ICLR 2018.
# * H. Shao, A. Kumar, P. T. Fletcher. *The Riemannian Geometry of Deep Generative Models.* CVPR
#   Workshops 2018.
# * A. Shukla, S. Uppal, S. Bhagat, S. Anand, P. Turaga. *Geometry of Deep Generative Models for
#   Disentangled Representations.* ICVGIP 2018 (arXiv:1902.06964, 2019).
# * N. Chen, F. Ferroni, A. Klushyn, A. Paraschos, J. Bayer, P. van der Smagt. *Fast Approximate
#   Geodesics for Deep Generative Models.* ICANN 2019 (graph-based geodesics).
# * D.-A. Clevert, T. Unterthiner, S. Hochreiter. *Fast and Accurate Deep Network Learning by
#   Exponential Linear Units (ELUs).* ICLR 2016.
# * M. P. do Carmo. *Differential Geometry of Curves and Surfaces.* Prentice-Hall, 1976 (§3-2: the second
#   fundamental form, normal curvature, Meusnier's theorem).
# * D. P. Kingma, M. Welling. *Auto-Encoding Variational Bayes.* ICLR 2014.
# * F. Locatello, S. Bauer, M. Lucic, G. Rätsch, S. Gelly, B. Schölkopf, O. Bachem. *Challenging
#   Common Assumptions in the Unsupervised Learning of Disentangled Representations.* ICML 2019.
