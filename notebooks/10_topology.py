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
# # 10 · Topology: persistent homology, RLTs and topological disentanglement scores
#
# The metrics of notebook 08 read the *encoder*: they regress factors on codes. A GAN has no
# encoder, and a user rarely has labelled factors. Zhou et al. (2021) evaluate a model through its
# *decoder* alone: fix one latent, let the others vary, and look at the **shape** of the images that
# come out. In a disentangled model every value of a latent gives the same shape (only one factor
# changed), and different latents give different shapes. "Shape" here means topology — holes,
# loops, components — measured with persistent homology, robustly and without labels. In this
# notebook you will
#
# * build Vietoris–Rips filtrations of point clouds you can see, read their **barcodes** and **Betti
#   numbers**, and compute persistence from scratch with the textbook matrix reduction;
# * meet **witness complexes** and the **relative living times** (RLT) of Khrulkov & Oseledets
#   (2018), and their Geometry Score;
# * follow Zhou et al.'s pipeline — conditional submanifolds, RLTs, **Wasserstein barycenters**,
#   similarity matrices, spectral **co-clustering** — and score the kit's trained models, next to
#   MIG and DCI.
#
# The models are those of notebooks 02 and 04–06, `STEPS` steps old (printed below: `smoke` 20 —
# meaningless; `lecture` the age of the pretrained zoo's models; the papers: 300,000). Sections 1–2
# are meaningful at every profile. The `lecture` profile also shrinks Zhou et al.'s sizes (see the
# next cell) to fit a laptop CPU; the scores are then noisy, and Exercise 3 measures how noisy.
#
# **Time** (measured with `python -m course_lib notebooks --only 10_topology` on a 2-core CPU shared
# with other jobs; the index that `make report` writes shows yours): `smoke` 106 s; `lecture` 70 s end
# to end on an idle 2-core CPU (within `make report`; 11 minutes beside other jobs) — its trained
# models are loaded from the pretrained zoo
# (`data/pretrained`), none is trained here; most of the time goes to Zhou et al.'s scores in
# Section 4 and Exercises 2–3 (35–45 s per model in that run).

# %% tags=["parameters"]
profile = None  # smoke | lecture | full; None reads $COURSE_PROFILE (default lecture)
device = "auto"
seed = 0

# %%
import time

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import Markdown, display

from course_lib.data import DSprites
from course_lib.metrics import evaluate
from course_lib.objectives import STUDY_SWEEPS
from course_lib.representation import decode, mean_code_function
from course_lib.topology.persistence import betti_numbers, persistence_by_reduction, rips_barcodes, rips_filtration
from course_lib.topology.rlt import (draw_landmarks, geometry_score, mean_rlt, relative_living_times, rlts,
                                     witness_complex_at, witness_h1_bars)
from course_lib.topology.zhou import (factor_submanifold_rlts, histogram_wasserstein,
                                      latent_submanifold_codes, profile_settings, topological_scores)
from course_lib.kit.runs import train_or_load_all
from course_lib.kit.lecture_models import lecture_config, lecture_steps
from course_lib.lab.notice import notice, span, trend
from course_lib.lab.setup import notebook_setup
from course_lib.lab.topology_plots import (plot_barcode, plot_coclusters, plot_mrlt, plot_persistence_diagram,
                                           plot_rips_complex, plot_submanifold_barycenters)
from course_lib.lab.viz import show_images

P, DEVICE, random_state = notebook_setup(profile, device, seed)
STEPS = lecture_steps(P, seed)  # the steps of this notebook's models (the zoo's age at lecture)
N_TOY = int(np.clip(P.num_samples // 20, 200, 1000))  # points of the toy clouds of Section 2
TOY_DRAWS = int(np.clip(P.num_samples // 200, 5, 100))  # landmark draws per toy cloud
# Zhou et al. use 1,000 base codes, 10 values per latent, 100 draws of 64 landmarks, gamma = 1/128;
# profile_settings scales them down with the profile.
ZHOU = profile_settings(P.num_samples)
NUM_BASE, NUM_VALUES, N_DRAWS = ZHOU["num_base"], ZHOU["num_values"], ZHOU["n_draws"]
NUM_METRIC = min(5000, P.num_samples)  # MIG / DCI training points (the study: 10,000 and 5,000 test)
print(f"models: {STEPS:,} steps | toy clouds: {N_TOY} points, {TOY_DRAWS} draws | Zhou et al.: {ZHOU}")


def circle(n, center=(0.0, 0.0), radius=1.0, noise=0.0):
    """n points on a circle (uniform angles from the notebook's random_state), with Gaussian noise."""
    angle = random_state.uniform(0, 2 * np.pi, n)
    points = np.c_[center[0] + radius * np.cos(angle), center[1] + radius * np.sin(angle)]
    return points + noise * random_state.randn(n, 2)


# %% [markdown]
# ## 1 · Filtrations, barcodes and Betti numbers
#
# A point cloud has no holes — it is a finite set of points. It *suggests* a shape at a scale.
# The **Vietoris–Rips complex** at scale $t$ joins every set of points that are pairwise within $t$:
#
# $$
# \mathrm{VR}_t(X) = \big\{\sigma \subseteq X \;:\; \|x_i - x_j\| \le t \ \text{for all } x_i, x_j \in \sigma\big\},
# \qquad t \le s \;\Rightarrow\; \mathrm{VR}_t(X) \subseteq \mathrm{VR}_s(X).
# $$
#
# This nested family is a **filtration**. Its homology over $\mathbb Z/2$ counts, at every scale,
# connected components ($\beta_0(t)$) and independent loops ($\beta_1(t)$), the **Betti numbers**.
# As $t$ grows, classes are **born** (a loop closes) and **die** (it is filled in by triangles);
# each class is a bar $[b, d)$, and the multiset of bars is the **barcode**. Long bars are features
# of the shape, short bars are noise; $\beta_k(t)$ is the number of $k$-bars that contain $t$.
#
# A noisy circle of 40 points, its Rips complex at four scales, read off its barcode (next cell): a
# small one, one just before the circle's loop closes, one in the middle of the loop's life and one
# after it is filled.

# %%
ring = circle(40, noise=0.08)
bars = rips_barcodes(ring, max_homology_dimension=1)
birth, death = bars[1][np.argmax(bars[1][:, 1] - bars[1][:, 0])]  # the longest H1 bar: the circle's hole
scales = np.round([0.15, 0.9 * birth, (birth + death) / 2, 1.15 * death], 2).tolist()
fig, axes = plt.subplots(1, 4, figsize=(16, 4), layout="constrained")
for ax, t in zip(axes, scales):
    plot_rips_complex(ring, t, ax)
    ax.set_title(f"t = {t}: β0 = {betti_numbers(bars[0], t)}, β1 = {betti_numbers(bars[1], t)}")
plt.show()

# %%
fig, axes = plt.subplots(1, 2, figsize=(12, 4), layout="constrained")
plot_barcode(bars, axes[0], t_max=max(2.2, 1.2 * death))
for t in scales:
    axes[0].axvline(t, color="0.6", linestyle=":")
plot_persistence_diagram(bars, axes[1])
plt.show()
print("H1 bars (birth, death):", np.round(bars[1], 3).tolist())
lifetimes = np.sort(bars[1][:, 1] - bars[1][:, 0])[::-1]
display(Markdown(notice(
    ["; ".join(f"t = {t}: β0 = {betti_numbers(bars[0], t)}, β1 = {betti_numbers(bars[1], t)}" for t in scales),
     f"the longest H1 bar is born at {birth:.2f} and dies at {death:.2f}; the next longest of its "
     f"{len(lifetimes)} H1 bars lives {lifetimes[1] if len(lifetimes) > 1 else 0:.2f}"], heading="**This run:**")))

# %% [markdown]
# **What to notice.**
# * Follow the Betti numbers through the four scales (titles, and above): at the smallest the complex
#   is a scatter of short chains ($\beta_0$ large); the chains join into one component around the
#   circle, then a loop is born ($\beta_1 = 1$ in the middle of its bar); it stays open until
#   triangles across the disc fill it ($\beta_1 = 0$ at the largest scale).
# * The barcode has one long H1 bar (its birth and death above) and, at most, a few very short ones:
#   the circle's one hole, and noise. In the persistence diagram the feature is the point far above
#   the diagonal; noise hugs the diagonal.
# * H0 has one bar per point: all die as components merge, except one that lives forever (the
#   arrow): the cloud ends in a single component.

# %% [markdown]
# ### Persistence from scratch
#
# The algorithm behind the bars (Edelsbrunner, Letscher & Zomorodian 2002; Zomorodian & Carlsson
# 2005) fits in a few lines. Order all simplices by the scale at which they enter (faces first).
# Column $j$ of the **boundary matrix** $\partial$ over $\mathbb Z/2$ holds the faces of simplex $j$.
# Reduce it left to right: while column $j$'s lowest entry $\mathrm{low}(j)$ is the lowest entry of
# an earlier column, add that column to it (mod 2: symmetric difference). Afterwards
#
# $$
# \mathrm{low}(j) = i \;\Longrightarrow\; \text{a class born with simplex } i \text{ dies with simplex } j,
# \qquad \text{a zero column that is never a } \mathrm{low} \;\Longrightarrow\; \text{a class that never dies.}
# $$

# %%
def reduce_boundary(filtration):
    """Finite and infinite bars {dim: [(birth, death)]} of a filtration [(simplex, value)] by column reduction."""
    index = {simplex: j for j, (simplex, _) in enumerate(filtration)}
    columns = [{index[s[:i] + s[i + 1:]] for i in range(len(s))} if len(s) > 1 else set() for s, _ in filtration]
    owner, bars = {}, {0: [], 1: []}
    for j, column in enumerate(columns):
        while column and max(column) in owner:
            column ^= columns[owner[max(column)]]  # add the earlier column with the same lowest entry
        if column:
            owner[max(column)] = j
    for j, (simplex, value) in enumerate(filtration):
        dim = len(simplex) - 1
        if dim in bars and j in owner and filtration[owner[j]][1] > value:
            bars[dim].append((value, filtration[owner[j]][1]))  # born at j, killed by owner[j]
        elif dim in bars and not columns[j] and j not in owner:
            bars[dim].append((value, np.inf))  # a cycle that nothing kills
    return bars


# %%
small = circle(16, noise=0.1)
filtration = rips_filtration(small, max_dimension=2)
by_hand = {k: np.array(sorted(v)) for k, v in reduce_boundary(filtration).items()}
by_gudhi = rips_barcodes(small)
print(f"{len(filtration)} simplices; H1 by hand: {np.round(by_hand[1], 3).tolist()}; "
      f"gudhi: {np.round(by_gudhi[1], 3).tolist()}")
assert all(np.allclose(by_hand[k], by_gudhi[k]) for k in (0, 1))
assert all(np.allclose(by_hand[k], persistence_by_reduction(filtration)[k]) for k in (0, 1))

# %% [markdown]
# The hand-written reduction, the library's `persistence_by_reduction` (the same algorithm, with
# input checks) and gudhi (a much faster cohomology algorithm) give the same bars. The price of
# doing it by hand is size: 16 points already give several hundred simplices, and a Rips complex up
# to triangles on $n$ points has $\binom n3$ of them — 1.3 billion for 2,000 points.

# %% [markdown]
# Four clouds you can see, and their long bars:

# %%
toys = {
    "circle": circle(N_TOY, noise=0.03),
    "two circles": np.r_[circle(N_TOY // 2, (-1.5, 0), noise=0.03), circle(N_TOY // 2, (1.5, 0), noise=0.03)],
    "figure eight": np.r_[circle(N_TOY // 2, (-1, 0), noise=0.03), circle(N_TOY // 2, (1, 0), noise=0.03)],
    "blob": 0.6 * random_state.randn(N_TOY, 2),
}

# %%
HOLES = {"circle": 1, "two circles": 2, "figure eight": 2, "blob": 0}  # what the eye sees
long_bars = {}  # name: (long H0 bars, long H1 bars)
fig, axes = plt.subplots(2, 4, figsize=(16, 7), layout="constrained")
for (name, points), top, bottom in zip(toys.items(), axes[0], axes[1]):
    sub = points[random_state.choice(len(points), 150, replace=False)]  # Rips on a subsample: it grows fast
    toy_bars = rips_barcodes(sub, max_edge_length=2.5)
    top.scatter(*points.T, s=2)
    top.set(title=name, aspect="equal")
    long = (toy_bars[1][:, 1] - toy_bars[1][:, 0]) > 0.4
    long_bars[name] = (int(((toy_bars[0][:, 1] - toy_bars[0][:, 0]) > 0.4).sum()), int(long.sum()))
    plot_barcode({1: toy_bars[1]}, bottom, t_max=2.5)
    bottom.set_title(f"H1 barcode: {long.sum()} bar(s) longer than 0.4")
plt.show()
display(Markdown(notice([f"{name}: {h1} long H1 bar(s) for {HOLES[name]} hole(s) — "
                         f"{'as many as' if h1 == HOLES[name] else 'not as many as'} the eye sees; {h0} long H0 bar(s)"
                         for name, (h0, h1) in long_bars.items()], heading="**This run** (bars longer than 0.4):")))

# %% [markdown]
# **What to notice.** The number of long H1 bars counts the holes you see (one circle, two, two, none).
# The figure eight's two holes are born at about the same scale as the two separate circles', but
# the two-circle cloud also has two long **H0** bars (two components; the one that never dies
# counts) — H0 tells them apart.

# %% [markdown]
# ## 2 · Witness complexes and relative living times
#
# Rips complexes explode with the number of points. A **witness complex** (de Silva & Carlsson 2004)
# puts simplices on a few **landmarks** $L \subset X$ only, and lets every point $w \in X$ vote as a
# **witness**: $w$ sees the simplex $\sigma \subseteq L$ at relaxation $\alpha$ when every vertex of
# $\sigma$ is at most $\alpha$ further from $w$ than the closest landmark outside $\sigma$,
#
# $$
# \max_{l \in \sigma} d(w, l) \;\le\; \min_{l' \notin \sigma} d(w, l') + \alpha ,
# $$
#
# and $\sigma$ enters the filtration at the smallest such $\alpha$ (and after its faces). Khrulkov
# & Oseledets (2018) draw $L_0$ landmarks at random, grow $\alpha$ up to
# $\alpha_{\max} = \gamma \cdot \max_{w, l} d(w, l)$, and record the **relative living times**
#
# $$
# \mathrm{RLT}(i) = \frac{1}{\alpha_{\max}} \,\Big|\big\{\alpha \in [0, \alpha_{\max}] : \beta_1(\alpha) = i\big\}\Big| ,
# \qquad i = 0, 1, \dots, i_{\max} - 1 ,
# $$
#
# the fraction of the scale range during which the complex has exactly $i$ holes. Averaged over many
# landmark draws this is the **mean RLT** (MRLT), a probability distribution over hole counts, and
# the **Geometry Score** of two clouds is $\sum_i (\mathrm{MRLT}_1(i) - \mathrm{MRLT}_2(i))^2$.
#
# One draw of 32 landmarks on the figure eight, the complex at three relaxations, its H1 bars and
# the RLT they give ($\gamma = 1/8$):

# %%
eight = toys["figure eight"]
(landmarks,) = draw_landmarks(len(eight), 32, 1, random_state)
eight_bars, alpha_max = witness_h1_bars(eight, landmarks, gamma=1 / 8)

# %%
fig, axes = plt.subplots(1, 5, figsize=(20, 3.8), layout="constrained")
for ax, fraction in zip(axes, (0.0, 0.3, 1.0)):
    vertices, edges, triangles = witness_complex_at(eight, landmarks, fraction * alpha_max)
    ax.scatter(*eight.T, s=1, color="0.8")
    for tri in triangles:
        ax.fill(*vertices[tri].T, color="C0", alpha=0.2)
    for edge in edges:
        ax.plot(*vertices[edge].T, color="C0", linewidth=0.8)
    ax.scatter(*vertices.T, s=12, color="k", zorder=3)
    ax.set(title=f"α = {fraction:.1f} α_max", aspect="equal", xticks=[], yticks=[])
plot_barcode({1: eight_bars}, axes[3], t_max=alpha_max)
axes[3].set_title(f"H1 bars up to α_max = {alpha_max:.3f}")
plot_mrlt(relative_living_times(eight_bars, alpha_max, i_max=10), axes[4])
axes[4].set_title("RLT of this draw")
plt.show()

# %% [markdown]
# Now many draws per cloud (`course_lib.topology.rlts`; every landmark set is drawn from the seed
# first, so the numbers are the same with any number of worker processes):

# %%
clock = time.perf_counter()
toy_rlts = {name: rlts(points, n_landmarks=32, gamma=1 / 8, n_draws=TOY_DRAWS, random_state=random_state,
                       progress=False) for name, points in toys.items()}
print(f"{len(toys)} clouds x {TOY_DRAWS} draws in {time.perf_counter() - clock:.1f} s")
fig, axes = plt.subplots(1, 2, figsize=(13, 4), layout="constrained")
for (name, draws), color in zip(toy_rlts.items(), ("C0", "C1", "C2", "C3")):
    plot_mrlt(mean_rlt(draws), axes[0], label=name, color=color, max_holes=6)
axes[0].set_title(f"mean RLT over {TOY_DRAWS} draws of 32 landmarks, γ = 1/8")
names = list(toy_rlts)
scores = np.array([[geometry_score(toy_rlts[a], toy_rlts[b]) for b in names] for a in names])
image = axes[1].imshow(scores, cmap="Reds")
axes[1].set(xticks=range(4), yticks=range(4), xticklabels=names, yticklabels=names, title="Geometry Score")
for (i, j), value in np.ndenumerate(scores):
    axes[1].text(j, i, f"{value:.2f}", ha="center", va="center")
plt.show()
gs = pd.DataFrame(scores, index=names, columns=names)
twins = gs.loc["two circles", "figure eight"]
apart = gs.loc[["circle", "blob"], ["two circles", "figure eight"]].to_numpy()
display(Markdown(notice(
    [", ".join(f"{name}: MRLT peak at {np.argmax(mean_rlt(draws))} hole(s) ({HOLES[name]} seen)"
               for name, draws in toy_rlts.items()),
     f"Geometry Score of two circles against the figure eight {twins:.3f}; of the circle and the blob against "
     f"the two-hole clouds {span(apart.ravel(), '.3f')} — the two-hole pair is "
     f"{'closer than every' if twins < apart.min() else 'not closer than every'} other pair of that kind"],
    heading=f"**This run** ({TOY_DRAWS} draws per cloud):")))

# %% [markdown]
# **What to notice.**
# * An MRLT should peak at the number of holes (above: this run's peaks). Some mass sits at
#   smaller counts: at the start of the range ($\alpha$ near 0) the witness complex is still a broken
#   chain, and some draws place too few landmarks on a circle to close it.
# * The Geometry Score is 0 on the diagonal and symmetric. The MRLT sees *how many* holes, not how
#   they are arranged (nor, unlike H0, how many components): two circles and the figure eight should
#   score close to each other, and the circle and the blob far from both two-hole clouds.

# %% [markdown]
# ## 3 · Zhou et al.: the topology of conditional submanifolds
#
# Let $g$ be a decoder and $z \sim \mathcal N(0, I_D)$. The **conditional submanifold** of latent
# $d$ at value $v$ is the set of images
#
# $$
# M_{d, v} = \big\{\, g(z_1, \dots, z_{d-1}, v, z_{d+1}, \dots, z_D) \,\big\}, \qquad z_{-d} \sim \mathcal N(0, I_{D-1}) .
# $$
#
# If latent $d$ controls one factor (say the $x$-position), every $M_{d, v}$ is "dSprites without
# that factor" — the same shape for every $v$. Zhou et al. sample each $M_{d, v}$ with the same
# $N$ base codes, embed every image with a fixed random network, compute RLTs, and summarise each
# set of RLTs by its **Wasserstein barycenter**: the distribution $\bar\mu$ over hole counts that
# minimises $\sum_k W_2^2(\bar\mu, \mathrm{RLT}_k)$ (entropic version, POT). A barycenter respects
# the order of hole counts — the barycenter of "1 hole" and "3 holes" is "2 holes", where the mean
# would be "half 1, half 3".
#
# The supervised version does the same with the dataset's own submanifolds: fix one ground-truth
# factor to one of its values, draw the others.
#
# Two latents of the lecture's β-VAE (Section 4 trains or loads it), three values each, eight base
# codes (the same in every row):

# %%
data = DSprites("binary")
dip_lambda = STUDY_SWEEPS["dip_vae_i"][1][-1]  # notebook 06's DIP-VAE-I, at the largest λ of the sweep
CONFIGS = {
    "VAE (β-TCVAE β=1)": lecture_config("beta_tcvae", {"beta": 1}, P, seed),  # notebook 05's reference
    "β-VAE β=16": lecture_config("beta_vae", {"beta": 16}, P, seed),  # notebook 02
    "FactorVAE γ=40": lecture_config("factor_vae", {"gamma": STUDY_SWEEPS["factor_vae"][1][3]}, P, seed),  # 04
    "β-TCVAE β=6": lecture_config("beta_tcvae", {"beta": 6}, P, seed),  # notebook 05
    f"DIP-VAE-I λ={dip_lambda}": lecture_config("dip_vae_i", {"lambda_od": dip_lambda}, P, seed),  # notebook 06
}
runs = dict(zip(CONFIGS, train_or_load_all(list(CONFIGS.values()), device=DEVICE)))

# %%
model, log = runs["β-VAE β=16"].model, runs["β-VAE β=16"].log
kl = log.filter(like="kl_per_latent").iloc[-max(1, len(log) // 20):].mean().to_numpy()  # last 5 % of training
latents = np.argsort(-kl)[:2]  # the two latents with the most KL
base, values = latent_submanifold_codes(model.num_latent, num_base=8, num_values=3, random_state=seed)
codes = np.repeat(base[None, None], 2 * 3, axis=0).reshape(2, 3, 8, -1)
for row, d in enumerate(latents):
    codes[row, :, :, d] = values[d][:, None]
images = decode(model, codes.reshape(-1, model.num_latent))
labels = [f"z{d} = {v:+.2f}" for d in latents for v in values[d]]
show_images(images, ncols=8, row_labels=labels)
plt.suptitle("Conditional submanifolds M(d, v): each row fixes one latent, the 8 columns share their other latents")
plt.show()

# %% [markdown]
# **What to notice.** Within a row the fixed latent is constant and the sprites vary with the other
# latents; down a block of three rows only the fixed latent's value changes. For a latent that
# encodes one factor, the three rows differ in that factor only (e.g. all sprites shifted), so the
# three sets of images have the same shape.
#
# The images are embedded by `RandomConvEmbedding` (seed 0, the same for every model): an untrained
# two-layer conv net with average pooling, 64 outputs. In pixel space two sprites that do not
# overlap are equally far apart wherever they are; the pooled random features put nearby positions
# nearby, as the untrained VGG-16 of the paper does, at 0.4 M instead of over 1,000 M
# multiply-adds per image. The real submanifolds of dSprites (each factor fixed to up to
# `NUM_VALUES` of its values, evenly spread; the paper uses every value):

# %%
clock = time.perf_counter()
real = factor_submanifold_rlts(data, **ZHOU, random_state=seed, progress=False)
print(f"{sum(len(v) for v in real.values)} real submanifolds of {NUM_BASE} images, {N_DRAWS} draws each, "
      f"in {time.perf_counter() - clock:.1f} s")
fig, ax = plt.subplots(figsize=(7, 3.8), layout="constrained")
plot_submanifold_barycenters(real, ax=ax, max_holes=40)
ax.set_title("Barycenters of the real submanifolds' RLTs (mean over the fixed values)")
plt.show()
print(pd.DataFrame({name: [int(np.argmax(b)) for b in bary] for name, bary in zip(real.names, real.barycenters)
                    }.items(), columns=["factor", "most likely hole count per fixed value"]).to_string(index=False))
holes = pd.DataFrame([[name, np.arange(b.size) @ b] for name, bary in zip(real.names, real.barycenters) for b in bary],
                     columns=["factor", "mean holes"])
by_factor = holes.groupby("factor", sort=False)["mean holes"]
between, within = by_factor.mean(), by_factor.max() - by_factor.min()
display(Markdown(notice([
    f"the barycenters' mean hole counts lie in {span(holes['mean holes'], '.1f')}",
    f"between factors (mean over the fixed values): from {between.min():.1f} ({between.idxmin()}) to {between.max():.1f} "
    f"({between.idxmax()}); across the values of one factor they move by {span(within, '.1f')}"],
    heading="**This run:**")))

# %% [markdown]
# **What to notice.** In a 64-dimensional embedding of a few hundred images the witness complex is
# full of small loops: expect the barycenters' mass at many holes (above), not at the one or two of
# a torus. The counts are a fingerprint of the cloud at the scale $\gamma = 1/128$, not literal
# holes of dSprites. What matters for the score is that they *differ between factors* (compare the
# factors' means above) and *agree across values of one factor* (compare the moves within one).
#
# The **similarity matrix** compares latents (or latents with factors) by the Wasserstein distance
# between their barycenters, averaged over all pairs of fixed values:
#
# $$
# S_{d, d'} = \frac{1}{V^2} \sum_{v, v'} W_1\big(\bar\mu_{d, v}, \bar\mu_{d', v'}\big),
# \qquad W_1(\mu, \nu) = \sum_{k} \big|F_\mu(k) - F_\nu(k)\big| ,
# $$
#
# $W_1$ between distributions over hole counts ($F$: cumulative masses), the paper's intent. (The
# public code passes the two histograms to `scipy.stats.wasserstein_distance` as if their *heights*
# were samples; `wasserstein="heights"` reproduces it; Exercise 2 shows what it misses.)
# **Spectral co-clustering** (Dhillon 2001) partitions rows and columns of $1 - S / \max S$ jointly
# into $k$ blocks; the score of a block is its mean distance to the outside (its rows against the
# other columns, its columns against the other rows) minus its mean distance inside, and
#
# $$
# \text{score}_k = 10^4 \cdot \frac1k \sum_{\text{blocks}} \big(\overline{S}_{\text{out}} - \overline{S}_{\text{in}}\big),
# $$
#
# reported at the $k$ whose blocks have the smallest variance. Higher is better: the latents fall
# into groups that are alike inside and different across.

# %% [markdown]
# ## 4 · Scoring the kit's models
#
# The five models of notebooks 02 and 04–06, each with its unsupervised score (latents against
# latents), its supervised score (latents against the real submanifolds above) and, from the
# metrics module, MIG and DCI disentanglement (`NUM_METRIC` training points):

# %%
rows, results = [], {}
for name, run in runs.items():
    clock = time.perf_counter()
    results[name] = topological_scores(run.model, data, **ZHOU, factor_rlts=real, random_state=seed, progress=False)
    seconds = time.perf_counter() - clock
    table = evaluate(data, mean_code_function(run.model), metrics=("mig", "dci"), random_state=seed,
                     num_train=NUM_METRIC, num_test=NUM_METRIC // 2, progress=False).set_index(["metric", "score"])
    rows.append({"model": name, **results[name].summary(), "MIG": table.loc[("mig", "score"), "value"],
                 "DCI disentanglement": table.loc[("dci", "disentanglement"), "value"], "topology seconds": seconds})
scores = pd.DataFrame(rows).set_index("model")
scores.round(3)

# %%
print("Spearman rank correlation between the scores over these models:")
scores[["unsupervised", "supervised", "MIG", "DCI disentanglement"]].corr(method="spearman").round(2)

# %% [markdown]
# The similarity matrices of two models, rows and columns sorted by co-cluster, blocks outlined:

# %%
best = scores["unsupervised"].idxmax()
shown = [best, "VAE (β-TCVAE β=1)"] if best != "VAE (β-TCVAE β=1)" else [best, "β-VAE β=16"]
fig, axes = plt.subplots(2, 2, figsize=(13, 11), layout="constrained")
for row, name in zip(axes, shown):
    result = results[name]
    plot_coclusters(result.latent_distances, result.unsupervised, result.latents.names, result.latents.names,
                    ax=row[0], title=f"{name}: latents × latents\n{result.unsupervised.n_clusters} co-clusters, "
                                     f"unsupervised score {result.unsupervised.score:.0f}")
    image = plot_coclusters(result.factor_distances, result.supervised, result.latents.names, real.names,
                            ax=row[1], title=f"{name}: latents × real factors\n{result.supervised.n_clusters} "
                                             f"co-clusters, supervised score {result.supervised.score:.0f}")
fig.colorbar(image, ax=axes, shrink=0.6, label="similarity 1 − S / max S")
plt.show()

# %%
ACTIVE = 0.1  # nats: a latent with less KL is collapsed, the encoder ignores it (as notebooks 11 and 12)
kl_all = pd.DataFrame({name: run.log.filter(like="kl_per_latent").iloc[-max(1, len(run.log) // 20):].mean().to_numpy()
                       for name, run in runs.items()}, index=[f"z{d}" for d in range(10)])  # last 5 % of training
kl_all[shown].T.round(2)


# %%
def collapsed_block(name):
    """Whether the unsupervised co-clusters of a model keep its collapsed latents in a block of their own."""
    labels, used = results[name].unsupervised.row_labels, (kl_all[name] > ACTIVE).to_numpy()
    if (~used).sum() < 2:
        return f"{name}: {used.sum()} active latents, too few collapsed ones to form a block"
    idle, busy = set(labels[~used]), set(labels[used])
    where = ("form one co-cluster of their own" if len(idle) == 1 and not idle & busy else
             f"fall into {len(idle)} co-cluster(s), {len(idle & busy)} of them shared with active latents")
    return f"{name}: {used.sum()} active latents; its {(~used).sum()} collapsed latents {where}"


# %%
rho = scores[["unsupervised", "supervised", "MIG", "DCI disentanglement"]].corr(method="spearman")
ranked = {kind: scores[kind].sort_values() for kind in ("unsupervised", "supervised")}
display(Markdown(notice([collapsed_block(name) for name in runs] + [
    f"{kind} score: highest {r.index[-1]} ({r.iloc[-1]:.0f}), lowest {r.index[0]} ({r.iloc[0]:.0f})"
    for kind, r in ranked.items()] + [
    f"Spearman ρ over these {len(scores)} models: unsupervised with supervised {rho.loc['unsupervised', 'supervised']:.2f}, "
    f"with MIG {rho.loc['unsupervised', 'MIG']:.2f}, with DCI {rho.loc['unsupervised', 'DCI disentanglement']:.2f}",
    f"the models are {STEPS:,} steps old (Zhou et al.'s: 300,000); the scores use {NUM_BASE} base codes, {NUM_VALUES} "
    f"values per latent and {N_DRAWS} draws of {ZHOU['n_landmarks']} landmarks (the paper: 1,000, 10, 100 and 64)"],
    heading=f"**This run** (`{P.name}`; at `smoke` the models are untrained and the numbers mean nothing):")))

# %% [markdown]
# **What to notice.**
# * Latents with almost no KL (collapsed: the encoder ignores them) should form one block of
#   mutually similar rows: fixing a latent that the decoder barely reads leaves the full dSprites
#   manifold, whatever its value, while the active latents spread out. Where a model has collapsed
#   latents, the co-clustering can therefore first separate *used* from *unused* latents (above:
#   whether it did here), and that split can be a large part of its score — compare the scores with
#   the numbers of active latents.
# * Compare the two rankings, unsupervised and supervised, and their correlations with MIG and DCI.
#   With five models a rank correlation is an anecdote, not evidence: Zhou et al. find a positive
#   correlation over many models trained to convergence.
# * Two caveats make these numbers fragile: the models' age against the paper's, and the `lecture`
#   sizes (above) that make the barycenters noisy — Exercise 3 measures the spread over landmark
#   seeds.

# %% [markdown]
# ## Exercises
#
# ### Exercise 1
#
# The RLT divides by $\alpha_{\max} = \gamma \cdot \max d(w, l)$. Show, numerically, that the
# Geometry Score of the circle against a copy of itself scaled by 10, rotated and translated is
# exactly 0 with the same seed — and explain why. Is that what you want from a score that compares
# generated and real data?

# %% tags=["solution"]
angle = 0.7
rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
moved = 10 * toys["circle"] @ rotation.T + np.array([5.0, -3.0])
same_seed = dict(n_landmarks=32, gamma=1 / 8, n_draws=TOY_DRAWS, random_state=seed, progress=False)
original, transformed = rlts(toys["circle"], **same_seed), rlts(moved, **same_seed)
print("Geometry Score, circle vs 10 x rotated, translated circle:", geometry_score(original, transformed))
print("largest difference between the RLT rows:", np.abs(original - transformed).max())

# %% [markdown] tags=["solution"]
# A similarity (scaling, rotation, translation) multiplies every distance by the same factor, so
# the witness tables have the same order, every filtration value and $\alpha_{\max}$ scale
# together, and the *relative* living times do not change (up to float rounding — here exactly,
# or within $10^{-15}$). RLTs are blind to scale and position by design: a generator that produces
# the right shapes at the wrong size or brightness scale scores as well as one that gets them
# right. That is why Khrulkov & Oseledets use the Geometry Score next to, not instead of, scores
# that see distributions (such as FID).

# %% [markdown]
# ### Exercise 2
#
# Compare the two Wasserstein modes on two RLT histograms: all the time at 1 hole, against all the
# time at 3 holes; and a mix of 0 and 2 holes against 1 hole. Then score one model with
# `wasserstein="heights"`. Which mode can tell a one-hole shape from a three-hole shape?

# %% tags=["solution"]
one, three = np.eye(10)[1], np.eye(10)[3]
mix = (np.eye(10)[0] + np.eye(10)[2]) / 2
for label, a, b in (("1 hole vs 3 holes", one, three), ("0-or-2 vs 1", mix, one)):
    print(f"{label:>18}: distributions {histogram_wasserstein(a, b):.2f}, "
          f"heights {histogram_wasserstein(a, b, mode='heights'):.3f}")
name = scores.index[0]
heights = topological_scores(runs[name].model, data, **ZHOU, factor_rlts=real, random_state=seed,
                             wasserstein="heights", progress=False)
print(f"{name}: unsupervised {scores.loc[name, 'unsupervised']:.0f} (distributions) vs "
      f"{heights.unsupervised.score:.0f} (heights)")

# %% [markdown] tags=["solution"]
# Between distributions over hole counts, moving all the mass from 1 to 3 holes costs 2, and the
# mix of 0 and 2 holes is at distance 1 from "1 hole". Treating the ten *heights* as samples, the
# first pair is identical (both are one 1 and nine 0s): the reference code's distance cannot see
# *where* the mass is, only how it is spread. On a model the two modes give different similarity
# matrices and scores, on different scales; only the distribution mode measures what the paper
# describes. (The barycenters are the same in both modes; only their comparison differs.)

# %% [markdown]
# ### Exercise 3
#
# How much of a score is the model, and how much the random landmarks? Score the β-VAE with three
# more seeds (new base codes, values and landmark draws) and compare the spread with the gaps
# between models in the table of Section 4.

# %% tags=["solution"]
repeats = [topological_scores(runs["β-VAE β=16"].model, data, **ZHOU, factor_rlts=real, random_state=seed + k,
                              progress=False).summary() for k in (1, 2, 3)]
repeats = pd.DataFrame(repeats, index=[f"seed {seed + k}" for k in (1, 2, 3)])
print(repeats[["unsupervised", "supervised"]].round(0).to_string())
print(f"spread (max - min): unsupervised {np.ptp(repeats['unsupervised']):.0f}, "
      f"supervised {np.ptp(repeats['supervised']):.0f}; "
      f"range over the five models: {np.ptp(scores['unsupervised']):.0f}, {np.ptp(scores['supervised']):.0f}")
gaps = {kind: np.diff(np.sort(scores[kind])) for kind in ("unsupervised", "supervised")}
display(Markdown(notice([
    f"{kind}: the β-VAE's scores over seeds {seed + 1}–{seed + 3} span {np.ptp(repeats[kind]):.0f}; "
    f"{(gap < np.ptp(repeats[kind])).sum()} of the {len(gap)} gaps between neighbouring models are smaller than that"
    for kind, gap in gaps.items()], heading=f"**This run** ({NUM_BASE} base codes, {NUM_VALUES} values, {N_DRAWS} draws):")))

# %% [markdown] tags=["solution"]
# Compare the spread over landmark seeds with the gaps between neighbouring models (above): every
# gap smaller than the spread is a pair of models whose order a new seed could swap, so the ranking
# of models whose scores are close is not reliable at these sizes. The paper's sizes (1,000 points,
# 10 values, 100 draws; the `full` profile) shrink the spread; the cost grows with points × values
# × latents × draws.

# %% [markdown]
# ## Summary
#
# * A Vietoris–Rips filtration turns a cloud into nested complexes; the barcode records when each
#   component and loop is born and dies, and the textbook column reduction over $\mathbb Z/2$
#   computes it (gudhi does the same, fast).
# * Witness complexes keep the complex small (landmarks) and robust (every point votes); relative
#   living times turn one filtration into a distribution over hole counts, and the Geometry Score
#   compares clouds by their mean RLTs — blind to scale by design.
# * Zhou et al. apply this to conditional submanifolds of a decoder: Wasserstein barycenters of
#   RLTs, a latent-by-latent (or latent-by-factor) similarity matrix, spectral co-clustering, and a
#   score that needs no encoder, and in its unsupervised form no labels.
# * At laptop sizes the scores are noisy (Exercise 3), and the split between used and unused
#   latents can weigh heavily in them; they are a different lens on disentanglement, not a
#   replacement for MIG or DCI.
#
# **Next:** notebook 11 turns topology into a training signal (RTD and TopDis).
#
# ## References
#
# * S. Zhou, E. Zelikman, F. Lu, A. Y. Ng, G. Carlsson, S. Ermon. *Evaluating the Disentanglement of
#   Deep Generative Models through Manifold Topology.* ICLR 2021.
# * V. Khrulkov, I. Oseledets. *Geometry Score: A Method For Comparing Generative Adversarial
#   Networks.* ICML 2018.
# * V. de Silva, G. Carlsson. *Topological Estimation Using Witness Complexes.* Symposium on
#   Point-Based Graphics, 2004.
# * H. Edelsbrunner, D. Letscher, A. Zomorodian. *Topological Persistence and Simplification.*
#   Discrete & Computational Geometry 28, 2002.
# * A. Zomorodian, G. Carlsson. *Computing Persistent Homology.* Discrete & Computational Geometry
#   33, 2005.
# * G. Carlsson. *Topology and Data.* Bulletin of the AMS 46, 2009.
# * J.-D. Benamou, G. Carlier, M. Cuturi, L. Nenna, G. Peyré. *Iterative Bregman Projections for
#   Regularized Transportation Problems.* SIAM Journal on Scientific Computing 37, 2015.
# * I. S. Dhillon. *Co-clustering Documents and Words Using Bipartite Spectral Graph Partitioning.*
#   KDD 2001.
# * The GUDHI library (gudhi.inria.fr); R. Flamary et al. *POT: Python Optimal Transport.* JMLR 22, 2021.
# * F. Locatello et al. *Challenging Common Assumptions in the Unsupervised Learning of Disentangled
#   Representations.* ICML 2019 (MIG and DCI as used here, notebook 08).
