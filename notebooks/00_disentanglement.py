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
# # 00 · What disentanglement is
#
# This first notebook sets the stage for the whole course. You will learn
#
# * why we might want a representation whose coordinates each describe **one factor of
#   variation** of the data, and what that is supposed to buy us;
# * the **generative view** of a dataset, $x = g(z)$ with independent factors $z_1, \dots, z_K$;
# * the properties of good representations listed by **Bengio, Courville & Vincent (2013)**, and the
#   ones that are about disentanglement;
# * the **symmetry-based definition** of Higgins et al. (2018), which replaces "factors" by groups of
#   transformations acting on the world;
# * **dSprites** (Matthey et al. 2017), the dataset used throughout the course, and what its
#   factors' symmetries are — including two places where the dataset itself is ambiguous.
#
# Nothing is trained here: every figure takes seconds. Run the cells in order; the exercises at the
# end of each section have solutions in the cells tagged `solution` (absent in the student build —
# try first!).
#
# **Time** (measured with `python -m course_lib notebooks --only 00_disentanglement` on a 2-core CPU
# shared with other jobs; the index that `make report` writes shows yours): `smoke` 12 s; `lecture`
# 10 s (measured; nothing is trained or loaded).

# %% tags=["parameters"]
profile = None  # smoke | lecture | full; None reads $COURSE_PROFILE (default lecture)
device = "auto"
seed = 0

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from course_lib.data import DSprites
from course_lib.data import dsprites_render as render
from course_lib.lab.setup import notebook_setup
from course_lib.lab.viz import plot_factor_histograms, plot_factor_sweeps, show_images

P, DEVICE, random_state = notebook_setup(profile, device, seed)

# %% [markdown]
# ## 1 · Why representations with separate factors?
#
# A *representation* is a map $r$ from an observation $x$ (an image, say) to a code
# $c = r(x) \in \mathbb{R}^D$ that downstream tasks use instead of the raw pixels. The images of
# this course are produced by a handful of **factors of variation** — which shape, how large, how
# rotated, where. A representation is called *disentangled*, informally, when a change in one factor
# changes one part of the code and leaves the rest alone. Why would we want that?
#
# * **Interpretability.** If coordinate 3 *is* the horizontal position, we can read it, plot it,
#   and edit it (change it and decode) without a post-hoc analysis of the network.
# * **Sample efficiency.** A task that depends on one or two factors ("is the object on the left?")
#   is a function of one or two coordinates, so it should need fewer labelled examples
#   (Bengio et al. 2013; van Steenkiste et al. 2019 report this for abstract visual reasoning).
# * **Fairness.** If a sensitive attribute lives in its own coordinates, it can be inspected or
#   left out of a decision (Locatello, Abbati et al. 2019 study this link).
# * **Transfer.** When the world changes one factor (new colours, new backgrounds), only one part of
#   the code moves, and what was learned on the other parts carries over (Higgins et al. 2017,
#   DARLA, for reinforcement learning).
#
# Keep a healthy scepticism: these are *hypotheses*. The large study of Locatello et al. (2019)
# proved that unsupervised disentanglement is impossible without inductive biases, and did not find
# that better disentanglement scores reliably meant fewer samples for downstream tasks. Notebooks
# 07 and 13 come back to this. First we need to say precisely what a factor is.

# %% [markdown]
# ## 2 · Factors of variation and the generative process
#
# A **ground-truth dataset** is generated in two steps: draw the factors independently, then render:
#
# $$
# z = (z_1, \dots, z_K) \sim p(z) = \prod_{k=1}^{K} p(z_k), \qquad x = g(z).
# $$
#
# For dSprites, $K = 5$: shape, scale, orientation, position $x$, position $y$, each uniform over a
# finite set of classes, and $g$ is a renderer (here `course_lib.data.dsprites_render`, a
# reconstruction of DeepMind's images). A learner sees only $x$. The hope of unsupervised
# disentanglement is to find an encoder $r$ with $r(g(z))$ made of blocks $c_1, \dots, c_K$, block
# $c_k$ a function of $z_k$ alone. Because we *know* $g$ and $z$ here, we can later measure how
# close a model comes (notebook 08).
#
# Sometimes the rendering is random too, $x = g(z, \varepsilon)$ with noise $\varepsilon$
# independent of $z$: the `color` variant paints each sprite a random colour and the `noisy` variant
# adds noise to every pixel (Locatello et al. 2019). Colour and noise vary, but they are not factors:
# nobody asks the representation to encode them.

# %%
data = DSprites("binary")
variants = {"binary": data, "color": DSprites("color"), "noisy": DSprites("noisy")}
for name, size in zip(data.factor_names, data.factors_num_values):
    values = np.asarray(data.factor_values[name])
    shown = values if size <= 6 else np.r_[values[:3], values[-1:]]
    print(f"{name:<12} {size:>2} classes: {np.array2string(shown, precision=3)}{' (first 3, last)' * (size > 6)}")
print(f"{data.num_images:,} images, each of shape {data.observation_shape} (channels, height, width)")

# %%
images = data.sample(16, random_state)[1]
show_images(images, ncols=8)
plt.suptitle("16 random dSprites images (binary variant)")
plt.show()

# %% [markdown]
# **What to notice.**
# * Every image is one white sprite on black: a square, an ellipse or a heart, at one of six
#   scales, rotated, anywhere in the frame (with a margin: the sprite never leaves the image).
# * Small, rotated sprites are hard to tell apart at 64 × 64 pixels — a pixel-level "shape" is not
#   as clear-cut as the label says.
#
# The same six factor draws rendered by the three variants (one row each):

# %%
factors = data.sample_factors(6, random_state)
rows = [variants[v].sample_observations_from_factors(factors, random_state) for v in variants]
rgb_rows = [np.repeat(row, 3 // row.shape[1], axis=1) for row in rows]  # grey -> RGB to stack them
show_images(np.concatenate(rgb_rows), ncols=6, row_labels=list(variants), cell_size=1.5)
plt.suptitle("Same factors, three variants")
plt.show()

# %% [markdown]
# **What to notice.**
# * Down a column the factors are identical; `color` multiplies the sprite by a random colour and
#   `noisy` fills the background with noise. A representation that is good for *all three* must
#   ignore that randomness.

# %% [markdown]
# ## 3 · Bengio, Courville & Vincent (2013): what makes a representation good
#
# Bengio et al. list *generic priors* — assumptions about the world that a representation learner
# can exploit. Several of them are about disentanglement:
#
# | prior | what it says | in dSprites |
# |---|---|---|
# | **multiple explanatory factors** | the data are generated by several underlying factors, and what one learns about one factor generalises across configurations of the others; a good representation *disentangles* them | a detector of "left vs right" should not care about shape or size |
# | **hierarchical organisation** | abstract concepts are built from less abstract ones, so representations can be stacked | pixels → edges → a heart of a certain size at a certain place |
# | **shared factors across tasks** | many tasks are explained by the *same* factors, so a representation of the factors serves them all | "where is it?", "how big?", "is it a heart?" all read from one code |
# | **sparsity** | for any given observation only a few factors are relevant, so most features should be inactive or insensitive to most changes | moving the sprite should change only the position features |
# | **simplicity of factor dependencies** | in a good high-level representation the factors are related by simple, ideally linear, dependencies | the position is a number that moves linearly with the sprite |
# | **temporal and spatial coherence** | factors change slowly or locally, so features that vary slowly are more likely to be factors | a moving sprite keeps its shape from frame to frame |
#
# Their review argues that the most robust strategy is to disentangle as many factors as possible
# while discarding as little information as is practical: since we do not know which task comes
# next, we should not decide in advance which factors are nuisances. (The other priors —
# smoothness, manifolds, natural clustering, semi-supervised learning — are about representation
# learning in general.)
#
# What the table does *not* give is a definition one can check. What exactly is "a factor"? Why is
# the $x$ position one factor rather than, say, $x + y$? The next section gives an answer.

# %% [markdown]
# ## 4 · The symmetry-based definition (Higgins et al. 2018)
#
# Higgins et al. start from the **transformations** of the world rather than from its factors.
# Let $W$ be the set of world states, $b: W \to O$ the generative process (the renderer) and
# $h: O \to Z$ the representation; write $f = h \circ b : W \to Z$. A **group** $G$ *acts* on $W$:
# every $g \in G$ moves a state $w$ to $g \cdot w$, compatibly with the group structure — the
# identity $e$ does nothing, and acting with $g'$ and then with $g$ is acting with the product $g\,g'$:
#
# $$
# e \cdot w = w, \qquad (g\,g') \cdot w = g \cdot (g' \cdot w) \qquad \text{for all } g, g' \in G,\; w \in W.
# $$
#
# The structure of the world is that $G$ **decomposes** as a direct product
# $G = G_1 \times G_2 \times \dots \times G_n$ — e.g. horizontal translations, vertical
# translations, rotations — whose parts commute and act independently.
#
# **Definition.** $Z$ is *disentangled* with respect to $G = G_1 \times \dots \times G_n$ if
#
# 1. there is an action $\cdot : G \times Z \to Z$;
# 2. $f$ is **equivariant**: $f(g \cdot w) = g \cdot f(w)$ for all $g \in G$, $w \in W$;
# 3. $Z$ decomposes as $Z = Z_1 \times \dots \times Z_n$ where each $Z_i$ is affected **only** by
#    $G_i$ and left fixed by every $G_j$, $j \ne i$:
#
# $$
# (g_1, \dots, g_n) \cdot (z_1, \dots, z_n) = (g_1 \cdot z_1, \dots, g_n \cdot z_n).
# $$
#
# When $Z$ is a vector space and $G$ acts linearly through a representation
# $\rho : G \to GL(Z)$, the representation is **linearly disentangled** when
# $Z = Z_1 \oplus \dots \oplus Z_n$ and $\rho$ is block diagonal:
#
# $$
# \rho(g_1, \dots, g_n) =
# \begin{pmatrix} \rho_1(g_1) & & \\ & \ddots & \\ & & \rho_n(g_n) \end{pmatrix},
# \qquad \rho_i : G_i \to GL(Z_i).
# $$
#
# Three consequences worth remembering:
#
# * A subspace $Z_i$ need **not** be one-dimensional. Rotations in the plane, $SO(2)$, have no
#   faithful one-dimensional real linear representation; the smallest is a 2-D block,
#   $(\cos\theta, \sin\theta)$ turned by the matrix
#   $\rho(\varphi) = \begin{pmatrix} \cos\varphi & -\sin\varphi \\ \sin\varphi & \cos\varphi\end{pmatrix}$.
# * Disentanglement is relative to a **chosen decomposition** of $G$; the data alone do not fix it
#   (compare Locatello et al. 2019's impossibility result, notebook 07).
# * The definition has nothing to say about a factor that no transformation acts on — keep that in
#   mind for dSprites' *shape* below.

# %% [markdown]
# ### Exercise 1
#
# Take the world state of dSprites as its factor classes $w = (\text{shape}, s, j, x, y)$ with angle
# $\theta = 2\pi j / 39$, and let $G = G_x \times G_y \times G_\theta \times G_s$ act by adding one
# class to the corresponding factor. Two candidate representations:
#
# $$
# f_a(w) = (x,\; y,\; s,\; \cos\theta,\; \sin\theta), \qquad
# f_b(w) = (x + y,\; x - y,\; s,\; \cos\theta,\; \sin\theta).
# $$
#
# On `P.num_samples` random states, find which coordinates of $f_a$ and of $f_b$ each generator
# changes. Which representation is disentangled with respect to $G_x \times G_y$? Check also that
# $G_\theta$ acts on the block $(\cos\theta, \sin\theta)$ of $f_a$ by the rotation matrix
# $\rho(2\pi/39)$.

# %% tags=["solution"]
def f_a(w):
    theta = 2 * np.pi * w[:, 2] / 39
    return np.stack([w[:, 3], w[:, 4], w[:, 1], np.cos(theta), np.sin(theta)], axis=1)


def f_b(w):
    code = f_a(w)
    return np.column_stack([code[:, 0] + code[:, 1], code[:, 0] - code[:, 1], code[:, 2:]])


def act(w, k):  # the generator of G_k: one class more for factor k (we act on the world, not on images)
    moved = w.copy()
    moved[:, k] += 1
    return moved


generators = {"G_x": 3, "G_y": 4, "G_theta": 2, "G_s": 1}  # each moves one factor column
w = data.sample_factors(P.num_samples, random_state)
for f in (f_a, f_b):
    changed = {name: np.flatnonzero(np.any(f(act(w, k)) != f(w), axis=0)).tolist() for name, k in generators.items()}
    print(f.__name__, "coordinates changed:", changed)
phi = 2 * np.pi / 39
rho = np.array([[np.cos(phi), -np.sin(phi)], [np.sin(phi), np.cos(phi)]])
print("f_a(g.w) = rho(g) f_a(w) on the block (cos, sin):", np.allclose(f_a(act(w, 2))[:, 3:], f_a(w)[:, 3:] @ rho.T))

# %% [markdown] tags=["solution"]
# $f_a$ is disentangled: $G_x$ moves only coordinate 0, $G_y$ only 1, $G_s$ only 2, $G_\theta$ only
# the 2-D block 3–4 (linearly, by $\rho$). $f_b$ carries exactly the same information — it is an
# invertible linear map of $f_a$ — yet both translations change coordinates 0 *and* 1: no
# decomposition of $Z$ into coordinate blocks separates $G_x$ from $G_y$. Information content alone
# cannot tell the two apart; the symmetry structure can.

# %% [markdown]
# ## 5 · dSprites, factor by factor
#
# The dataset of Matthey et al. (2017) is the full grid of $3 \times 6 \times 40 \times 32 \times 32
# = 737{,}280$ combinations of its factors, one 64 × 64 image each. `plot_factor_sweeps` starts from
# one base combination and, in each row, lets a single factor step through its range; each image is
# titled with the factor's physical value (scale as a fraction of the largest size, orientation in
# radians, positions in $[0, 1]$).

# %%
base = data.sample_factors(1, random_state)[0]
base[:2] = 2, 5  # a large heart: the only shape whose orientation you can always see
print("base factors:", dict(zip(data.factor_names, base.tolist())))
plot_factor_sweeps(data, base, random_state, num_steps=10)
plt.suptitle("Factor sweeps: in each row only the labelled factor changes")
plt.show()

# %% [markdown]
# **What to notice.**
# * Each row changes one thing and one thing only — this is what a disentangled *decoder* should
#   produce when we later change one latent coordinate (a "latent traversal", notebook 01).
# * Shape has three classes, so its row shows three images, placed where they fall on the row's
#   even spacing. Shape has no natural order: "ellipse lies between square and heart" means nothing.
# * The first and last images of the orientation row are **identical**: the orientation grid runs
#   from $0$ to $2\pi$ *inclusive*, as in the original dataset, so $0$ and $2\pi$ are both on it.
# * Each position step moves the sprite by exactly one pixel; scale grows the sprite's extent linearly
#   from 0.5 to 1 (Exercise 4 asks how its area grows).

# %% [markdown]
# Independence and uniformity of the factors are assumptions of the generative model
# $p(z) = \prod_k p(z_k)$. Here is what `sample_factors` actually produces for
# `P.num_samples` draws:

# %%
sample = data.sample_factors(P.num_samples, random_state)
plot_factor_histograms(data, sample)
plt.show()
for k, (name, size) in enumerate(zip(data.factor_names, data.factors_num_values)):
    frequencies = np.bincount(sample[:, k], minlength=size) / len(sample)
    standard_error = np.sqrt((1 / size) * (1 - 1 / size) / len(sample))
    largest = np.abs(frequencies - 1 / size).max() / standard_error
    print(f"{name:<12} largest deviation from 1/{size}: {largest:.1f} standard errors")

# %% [markdown]
# **What to notice.**
# * The bars scatter around the dashed uniform line $1/n$; the standard error of a frequency is
#   $\sqrt{p(1-p)/N}$, so with the `smoke` profile's few samples the bars are ragged, with `lecture`
#   or `full` they are flat.
# * The largest deviation over 32 or 40 classes is typically 2–3 standard errors: that is what
#   chance looks like when you take a maximum over many bars.
# * Every factor is uniform and the factors are drawn independently, so any two factors are
#   statistically independent. Real data rarely are: correlated factors are one of the things that
#   make disentanglement hard.

# %% [markdown]
# ### Addressing images by flat index
#
# The images are stored in **row-major** factor order (the last factor varies fastest), so the
# image of factors $(z_1, \dots, z_K)$ with $n_k$ classes each sits at
#
# $$
# i(z) = \sum_{k=1}^{K} z_k \prod_{j > k} n_j ,
# $$
#
# the "strides" $\prod_{j>k} n_j$ being $(245760, 40960, 1024, 32, 1)$. `index_of` computes $i(z)$
# and `factors_at` inverts it; the metrics of notebook 08 use this to fetch, say, every image with a
# fixed shape without searching.

# %%
strides = np.cumprod((data.factors_num_values[1:] + (1,))[::-1])[::-1]
few = data.sample_factors(4, random_state)
index = data.index_of(few)
print("strides:", strides)
print(pd.DataFrame(few, columns=data.factor_names).assign(index=index, by_strides=few @ strides))
assert np.array_equal(index, few @ strides) and np.array_equal(data.factors_at(index), few)
every_index = np.arange(data.num_images)
assert np.array_equal(data.index_of(data.factors_at(every_index)), every_index)
print(f"round trip index -> factors -> index holds for all {data.num_images:,} images")
print("indices 0, 1, 2 differ only in position_y:\n", data.factors_at(np.arange(3)))

# %% [markdown]
# ## 6 · The symmetries of dSprites' factors
#
# Which groups act on the dSprites world, in the sense of Section 4?
#
# * **position_x, position_y: translations.** Adding $a$ to the position moves the sprite by $a$
#   pixels. Translations of the plane form a group $(\mathbb{R}, +)$, but the image is finite: from
#   $x = 30$ you cannot move by $+5$. On the grid the action is only *partial* (defined while you stay
#   inside the range). Toy worlds used to illustrate the definition are often made periodic (a torus)
#   so that translations form a cyclic group; dSprites does not wrap around.
# * **orientation: rotations** $SO(2)$. The 40 grid angles are $\theta_j = 2\pi j / 39$,
#   $j = 0, \dots, 39$, so $\theta_{39} = 2\pi$ is the same rotation as $\theta_0 = 0$ — the grid
#   holds both, as the original dataset does. The rotations that act on the grid are the cyclic group
#   $C_{39}$: $j \mapsto j + m \pmod{39}$.
# * **scale: dilations**, the multiplicative group $(\mathbb{R}_{>0}, \times)$ acting about the
#   sprite's centre. The grid's scales $0.5, 0.6, \dots, 1.0$ are evenly spaced, not geometrically,
#   so again the action is partial (and one class step is not one group element: $0.6/0.5 \ne 1/0.9$).
# * **shape: no symmetry.** There is no transformation of the world that continuously turns a square
#   into a heart. One can let the permutation group $S_3$ relabel the shapes, but that is a symmetry of
#   the *labels*, not of the images. Under the symmetry-based definition, shape is the odd one out.
#
# There is a subtler problem. The square looks the same after a rotation by 90°, the ellipse after
# 180°: their *stabilisers* in $SO(2)$ are $C_4$ and $C_2$. Then $g$ is not injective — different
# orientations give (nearly) the same image — and **orientation is not identifiable from the image**
# for these shapes: no encoder can recover $\theta$ mod $2\pi$ for a square, only $\theta$ mod
# $\pi/2$. Below, the pixel distance between the sprites at any two orientations makes this visible.

# %%
patches = render.grid_sprites()[:, -1].reshape(3, 40, -1).astype(np.float32)  # scale 1, 33x33 patches
distance = np.abs(patches[:, :, None] - patches[:, None]).sum(axis=-1)  # (shape, i, j): pixels that differ
fig, axes = plt.subplots(1, 3, figsize=(13, 4.2), layout="constrained")
for ax, name, d in zip(axes, render.SHAPE_NAMES, distance):
    image = ax.imshow(d, cmap="magma", origin="lower", vmin=0, vmax=distance.max())
    ax.set(title=name, xlabel="orientation class j", ylabel="orientation class i")
fig.colorbar(image, ax=axes, label="pixels that differ")
fig.suptitle("Pixel distance between a sprite at orientation i and at orientation j (scale 1)")
plt.show()

# %%
shown = {"square": [0, 10, 20, 29, 39], "ellipse": [0, 10, 19, 20, 39]}
chosen = np.array([(render.SHAPE_NAMES.index(s), 5, j, 16, 16) for s, js in shown.items() for j in js])
degrees = [f"{np.degrees(data.factor_values['orientation'][j]):.1f}°" for j in chosen[:, 2]]
show_images(data.sample_observations_from_factors(chosen, random_state), ncols=5, titles=degrees,
            row_labels=list(shown), cell_size=1.6)
plt.suptitle("Rotated by (nearly) a symmetry of the shape: can you tell the orientation?")
plt.show()

# %% [markdown]
# **What to notice.**
# * The heart's matrix is dark only on the diagonal and in the two corners ($j = 0$ vs $39$): every
#   other orientation gives a clearly different image.
# * The square's matrix has dark stripes every ~9.75 classes (90°), the ellipse's every ~19.5 classes
#   (180°). Because 39 is divisible by neither 4 nor 2, the grid never lands exactly on 90° or 180°;
#   the near-copies are off by about 2.3° and differ by a few pixels (Exercise 3 asks by how many).
# * Consequences for the rest of the course: a model cannot be blamed for failing to encode the
#   square's orientation beyond 90°, and metrics that try to predict orientation from the code will
#   see an irreducible error for squares and ellipses. It is a good question what a "disentangled"
#   code for orientation should even look like for a square.

# %% [markdown]
# ### Exercise 2
#
# Let $T_a$ shift an image $a$ pixels to the right (`np.roll` along the last axis). Using binary
# images of `P.num_samples` random factors, verify that translation along position_x is a group
# action *as long as you stay inside the range*:
# (i) the renderer is equivariant, $g(x + a) = T_a\, g(x)$;
# (ii) $T_b T_a = T_{a+b}$ and $T_0 = \mathrm{id}$, matching $g(x + a + b)$.
# What happens at the border — with the factors (`index_of`) and with the pixels (`np.roll`)?

# %% tags=["solution"]
a, b = 3, 5
f = data.sample_factors(P.num_samples, random_state)
f = f[f[:, 3] + a + b <= 31]  # stay inside the range of position_x
step_x = np.array([0, 0, 0, 1, 0])


def g(f):  # the renderer, binary: uint8 (N, 64, 64)
    return data.binary_images_at(data.index_of(f))


def T(images, a):  # shift right by a pixels (np.roll wraps around, but here only empty background does)
    return np.roll(images, a, axis=-1)


print(f"{len(f)} images; equivariance g(x+a) = T_a g(x):", np.array_equal(g(f + a * step_x), T(g(f), a)))
print("composition T_b T_a = T_(a+b) = g(x+a+b):", np.array_equal(T(T(g(f), a), b), g(f + (a + b) * step_x)))
print("identity T_0 = id:", np.array_equal(T(g(f), 0), g(f)))
try:
    g(np.array([[0, 0, 0, 31, 0]]) + step_x)
except ValueError as error:
    print("leaving the range:", error)

# %% [markdown] tags=["solution"]
# At the border the factor $x + a$ does not exist (`index_of` refuses it), while `np.roll` would
# carry the sprite out of the right edge and back in on the left — an image dSprites never contains.
# Translations act on dSprites only partially; they would form the cyclic group $\mathbb{Z}_{32}$ only
# on a torus.

# %% [markdown]
# ### Exercise 3
#
# The grid has 737,280 factor combinations. How many **distinct** images does it really hold?
# Use `render.grid_sprites()`, the 720 sprite patches (33 × 33, indexed by shape, scale,
# orientation): an image is its patch placed at $(x, y)$, so count the distinct patches and check
# that no patch is a shifted copy of another (crop each patch to its bounding box). Which shapes and
# scales have fewer than 39 distinct orientations, and why?

# %% tags=["solution"]
sprites = render.grid_sprites()  # bool (3, 6, 40, 33, 33)
_, label = np.unique(sprites.reshape(720, -1), axis=0, return_inverse=True)
label = label.reshape(3, 6, 40)


def cropped(mask):
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    crop = mask[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    return crop.shape, crop.tobytes()


num_patches = label.max() + 1
assert len({cropped(m) for m in sprites.reshape(720, 33, 33)}) == num_patches  # no patch is a shifted copy
print(f"{num_patches} distinct patches of 720 -> {num_patches * 32 * 32:,} distinct images of {data.num_images:,}")
print(pd.DataFrame([[len(np.unique(label[s, c])) for c in range(6)] for s in range(3)],
                   index=render.SHAPE_NAMES, columns=[f"scale {v:.1f}" for v in render.SCALES]))

# %% [markdown] tags=["solution"]
# Every shape loses one orientation to the $0 = 2\pi$ duplicate (39 of 40). The square loses more,
# at almost every scale and most at the smallest: a rotation by 10 classes is 92.3°, only 2.3° away
# from the square's 90° symmetry (20 classes: 184.6°, 4.6° away), and a square rasterised at
# 64 × 64 often does not change a single pixel under such a small turn. The ellipse's near-copies
# (175.4° and 184.6°) always differ somewhere. The number of distinct images depends on both the
# symmetries and the pixel grid.

# %% [markdown]
# ### Exercise 4
#
# Compute the mean number of "on" pixels (the area) per shape and scale in three ways: estimated
# from `P.num_samples` random images, exactly from the 720 patches (position does not change the
# area), and from geometry, `render.SHAPE_AREAS[shape] * (render.SPRITE_RADIUS * scale) ** 2`.
# Plot the area against scale. Is the scale factor "linear" in pixel space?

# %% tags=["solution"]
f = data.sample_factors(P.num_samples, random_state)
area = data.binary_images_at(data.index_of(f)).sum(axis=(1, 2))
tables = {
    "sampled": pd.Series(area).groupby([f[:, 0], f[:, 1]]).mean().unstack().to_numpy(),
    "exact": render.grid_sprites().sum(axis=(-1, -2)).mean(axis=2),
    "geometry": np.outer(render.SHAPE_AREAS, (render.SPRITE_RADIUS * render.SCALES) ** 2),
}
print(pd.concat({k: pd.DataFrame(v, index=render.SHAPE_NAMES, columns=render.SCALES.round(1))
                 for k, v in tables.items()}).round(1))
fig, ax = plt.subplots(figsize=(6, 4))
for s, name in enumerate(render.SHAPE_NAMES):
    line, = ax.plot(render.SCALES, tables["exact"][s], "o-", label=f"{name} (exact)")
    ax.plot(render.SCALES, tables["geometry"][s], "--", color=line.get_color())
ax.set(xlabel="scale", ylabel="mean area (pixels)", title="Sprite area grows like scale²  (dashed: geometry)")
ax.legend()
plt.show()

# %% [markdown] tags=["solution"]
# The three agree up to sampling noise and rasterisation (a few pixels). Area grows quadratically in
# scale — doubling the scale quadruples the number of pixels — and at equal scale the square and
# the heart cover almost the same area, the ellipse about a fifth less. So equal steps of a factor
# are *not* equal steps in pixel space: one step of any factor changes many more pixels for a large
# sprite than for a small one, so a pixel-reconstruction loss weighs them very differently — one
# reason why a VAE encodes some factors before others (notebook 03).

# %% [markdown]
# ## Summary
#
# * A ground-truth dataset is $x = g(z)$ with independent factors $z_k$; a disentangled representation
#   gives each factor its own part of the code.
# * Bengio et al. (2013) motivate this with priors about the world: multiple explanatory factors,
#   shared across tasks, sparse and simply related.
# * Higgins et al. (2018) make it precise: a decomposition $G = G_1 \times \dots \times G_n$ of the
#   world's symmetries, an equivariant $f$, and a code $Z = Z_1 \times \dots \times Z_n$ with each
#   $Z_i$ moved only by $G_i$.
# * dSprites' positions, orientation and scale carry (partial) group actions; shape does not; and the
#   square's and ellipse's own symmetries make orientation unidentifiable for them.
#
# **Next:** notebook 01 trains a VAE on these images and looks at what its latent coordinates encode.
#
# ## References
#
# * Y. Bengio, A. Courville, P. Vincent. *Representation Learning: A Review and New Perspectives.*
#   IEEE TPAMI 35(8), 2013.
# * I. Higgins, D. Amos, D. Pfau, S. Racanière, L. Matthey, D. Rezende, A. Lerchner.
#   *Towards a Definition of Disentangled Representations.* arXiv:1812.02230, 2018.
# * L. Matthey, I. Higgins, D. Hassabis, A. Lerchner. *dSprites: Disentanglement testing Sprites
#   dataset.* https://github.com/deepmind/dsprites-dataset, 2017.
# * F. Locatello, S. Bauer, M. Lucic, G. Rätsch, S. Gelly, B. Schölkopf, O. Bachem. *Challenging
#   Common Assumptions in the Unsupervised Learning of Disentangled Representations.* ICML 2019.
# * F. Locatello, G. Abbati, T. Rainforth, S. Bauer, B. Schölkopf, O. Bachem. *On the Fairness of
#   Disentangled Representations.* NeurIPS 2019.
# * S. van Steenkiste, F. Locatello, J. Schmidhuber, O. Bachem. *Are Disentangled Representations
#   Helpful for Abstract Visual Reasoning?* NeurIPS 2019.
# * I. Higgins, A. Pal, A. Rusu, L. Matthey, C. Burgess, A. Pritzel, M. Botvinick, C. Blundell,
#   A. Lerchner. *DARLA: Improving Zero-Shot Transfer in Reinforcement Learning.* ICML 2017.
