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
# # 09 · GeoManCER: disentangling by subspace diffusion
#
# Notebook 07 showed that independence of the factors' *distributions* cannot identify them: an
# entangled bijection has the same marginal. Higgins et al. (2018) proposed a different definition:
# a representation is disentangled when it matches the product of the **groups** that act on the
# world. Pfau, Higgins, Botev & Racanière (2020) asked the geometric version of the question: given
# only samples from a manifold that is a product $M = M_1 \times \dots \times M_m$, can we find the
# factors? Their answer: **yes, if we know the metric and every factor curves** (has non-trivial
# holonomy) — and they gave an algorithm, the Geometric Manifold Component Estimator (GeoManCER).
# In this notebook you will
#
# * carry a vector around a loop on a sphere and watch it come back rotated (holonomy), and around a
#   loop on a flat torus, where it does not;
# * see why a product manifold's holonomy is block-diagonal, and what the de Rham decomposition says;
# * run Algorithm 1 step by step on $S^2 \times S^2$: the kNN graph, local tangent planes, the
#   second-order connection Laplacian, its spectral gap, simultaneous diagonalisation;
# * measure how the error falls with more points, and that rotating the data changes nothing;
# * learn the paper's lesson: GeoManCER works on the true latent coordinates, degrades in a VAE's
#   latent space and fails on raw observations — because only the first carries the product metric;
# * meet its limits: the Laplacian's blocks grow like $k^4$ with the dimension $k$, recovery fails
#   beyond a few factors at a fixed number of points, and underneath it all a graph Laplacian
#   approximates the Laplace–Beltrami operator, whose heat flow on a product factorises.
#
# Sizes follow the profile (`smoke`: a few hundred points, numbers not meaningful; `lecture`: 5,000
# points; `full`: 20,000). Everything runs on the CPU; the VAE trains on `device`.
#
# **Time** (measured with `python -m course_lib notebooks --only 09_geomancer` on a 2-core CPU
# shared with other jobs; the index that `make report` writes shows yours): `smoke` about 40 s;
# `lecture` 3½ minutes, 2 of them the VAE of Section 5; Section 6 takes 20–45 s and Exercise 4 about
# 10 s (measured; nothing comes from the zoo: GeoManCER on 5,000 points, a small MLP VAE trained for
# 2,000 steps, and Section 6's four GeoManCER runs on 2,000 points).

# %% tags=["parameters"]
profile = None  # smoke | lecture | full; None reads $COURSE_PROFILE (default lecture)
device = "auto"
seed = 0

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import Markdown, display

from course_lib.data.manifolds import flat_torus, sample_product, sphere_product
from course_lib.analysis.geomancer import (bottom_eigenpairs, circle_eigenvalues, cluster_directions,
                                           connection_laplacian, count_small_eigenvalues, ffdiag, geomancer,
                                           knn_graph, laplace_beltrami_eigenpairs, largest_principal_angle,
                                           local_tangents, product_eigenpairs, second_order_block_size,
                                           subspace_angle_error, to_matrices)
from course_lib.lab.setup import notebook_setup
from course_lib.lab.geomancer_lab import (SmoothRandomEmbedding, chance_subspaces, flat_torus_diffusion,
                                          latitude_loop, loop_holonomy, plot_dimension_cost, plot_factor_recovery,
                                          plot_graph_on_factor, plot_spectrum, plot_sphere_transport,
                                          plot_subspaces_on_sphere, plot_torus_diffusion, plot_torus_transport,
                                          product_loop, pushforward_subspaces, rotation_angle, sphere_product_sweep,
                                          torus_loop, train_vector_vae, transport)
from course_lib.lab.notice import notice, span, trend

P, DEVICE, random_state = notebook_setup(profile, device, seed)
N_POINTS = int(np.clip(P.num_samples // 2, 400, 20_000))  # smoke 400, lecture 5,000, full 20,000
SWEEP = [N_POINTS // 8, N_POINTS // 4, N_POINTS // 2, N_POINTS]
VAE_STEPS = min(P.train_steps, 20_000)
N_LIMITS = int(np.clip(P.num_samples // 5, 300, 4000))  # Section 6: smoke 300, lecture 2,000, full 4,000
MAX_FACTORS = 5 if P.name == "full" else 4  # S² x ... x S²; m = 5 (k = 10) needs ~2 GB at 2,000 points
N_TORUS = int(np.clip(P.num_samples * 3 // 10, 400, 6000))  # smoke 400, lecture 3,000, full 6,000
BANDWIDTH = 0.55 / np.sqrt(N_TORUS)  # the kernel's time ε: 0.01 at 3,000 points
print(f"points = {N_POINTS:,}, sweep = {SWEEP}, VAE steps = {VAE_STEPS:,}")
print(f"Section 6: {N_LIMITS:,} points for m = 1..{MAX_FACTORS} spheres, {N_TORUS:,} torus points, ε = {BANDWIDTH:.4f}")

# %% [markdown]
# ## 1 · Parallel transport and holonomy
#
# On a curved surface there is no global notion of "the same direction". **Parallel transport**
# moves a tangent vector along a path while turning it as little as possible: its covariant
# derivative along the path vanishes, $\nabla_{\dot\gamma} v = 0$. For a surface in $\mathbb R^3$
# that means: the change of $v$ is always normal to the surface. A discrete version, for points
# $x_t$ on the path with orthonormal tangent bases $U_t$ ($D \times d$), is
#
# $$
# c_{t+1} = Q_{t+1,t}\, c_t, \qquad Q_{t+1,t} = \operatorname{polar}\big(U_{t+1}^\top U_t\big),
# $$
#
# where $c_t$ are the coordinates of $v$ in $U_t$ and $\operatorname{polar}(M) = AB^\top$ for
# $M = A\Sigma B^\top$ is the rotation closest to the projection $U_{t+1}^\top U_t$. This is exactly
# the **connection** GeoManCER estimates from data (Step 3 below).
#
# Going once around a closed loop, the vector may come back **rotated**: that rotation is the
# loop's **holonomy**. On the unit sphere it turns by the area the loop encloses (Gauss–Bonnet):
# for the circle at colatitude $\theta_0$, by $2\pi(1 - \cos\theta_0)$. The **flat torus**
# $S^1 \times S^1 \subset \mathbb R^4$ (the Clifford torus, $(\cos a, \sin a, \cos b, \sin b)$) has
# zero curvature: every loop brings the vector back unchanged.

# %%
colatitude = np.pi / 3
sphere_points, sphere_bases = latitude_loop(colatitude)
sphere_vectors = transport(sphere_bases, sphere_bases[0][:, 0])
torus_angles, _, torus_bases = torus_loop(center=(np.pi, np.pi), radius=1.5)
torus_vectors = transport(torus_bases, torus_bases[0] @ np.array([1.0, 0.6]) / np.hypot(1, 0.6))
print(f"sphere: turned by {np.degrees(rotation_angle(sphere_vectors[0], sphere_vectors[-1], sphere_points[0])):.2f}°, "
      f"Gauss–Bonnet says {np.degrees(2 * np.pi * (1 - np.cos(colatitude))):.2f}°")
print(f"flat torus: |v_end - v_start| = {np.linalg.norm(torus_vectors[-1] - torus_vectors[0]):.1e}")
fig = plt.figure(figsize=(11, 4.8), layout="constrained")
plot_sphere_transport(fig.add_subplot(121, projection="3d"), sphere_points, sphere_vectors)
plt.gca().set_title("S²: around the circle at colatitude 60°\nstart (black) vs after one loop (red)")
plot_torus_transport(fig.add_subplot(122), torus_angles, torus_bases, torus_vectors)
plt.gca().set_title("flat torus S¹ x S¹: the same loop in its angle chart\nstart (black) = end (red, dashed)")
plt.show()

# %% [markdown]
# **What to notice.**
# * On the sphere the orange arrows never turn *on the surface* (the path is not a geodesic, but
#   the vector is kept as constant as the surface allows), yet after one loop the red arrow points
#   the opposite way from the black one: 180°, the area of the cap above 60° is $2\pi(1-\tfrac12) = \pi$.
# * On the flat torus the vector keeps its coordinates all the way: in the angle chart the torus
#   *is* a flat square with opposite edges glued, so transport is translation. No loop rotates
#   anything — the torus has **trivial holonomy**.

# %% [markdown]
# ## 2 · Products and the de Rham decomposition
#
# On a product $M_1 \times M_2$ with the product metric, a vector tangent to $M_1$ stays tangent to
# $M_1$ along every path: the factors do not talk to each other. So in a frame adapted to the
# product, the holonomy of any loop is **block-diagonal**, $\mathrm{Hol}(M_1 \times M_2) =
# \mathrm{Hol}(M_1) \times \mathrm{Hol}(M_2)$, and the orthogonal projections $P_f$ onto each
# factor's tangent space are **parallel** fields: $\nabla P_f = 0$.
#
# The **de Rham decomposition theorem** (de Rham 1952) is the converse. If a complete, simply
# connected Riemannian manifold has a tangent subspace that every holonomy transformation maps to
# itself, the manifold *is* a product, and the invariant subspaces are the factors' tangent spaces.
# Splitting as far as possible gives a flat factor $\mathbb R^k$ and irreducible curved factors,
# unique up to order. Two consequences:
#
# * the factors can be found from the **geometry alone**, by looking for subspaces that parallel
#   transport preserves — that is GeoManCER's idea;
# * a **flat** part has trivial holonomy, so *every* subspace of it is invariant: the split of
#   $\mathbb R^2$ (the flat torus) into two lines is not unique, and no algorithm can recover it.
#
# Here is the holonomy of a loop on $S^2 \times S^2$ that winds around both spheres at once,
# written in the frame (tangent plane of sphere 1, tangent plane of sphere 2):

# %%
product_points, product_bases = product_loop(random_state=seed)
holonomy = loop_holonomy(product_bases)
fig, ax = plt.subplots(figsize=(4.6, 3.9), layout="constrained")
image = ax.imshow(holonomy, cmap="RdBu_r", vmin=-1, vmax=1)
for (i, j), value in np.ndenumerate(holonomy):
    ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=9)
frame = ["sphere 1, e₁", "sphere 1, e₂", "sphere 2, e₁", "sphere 2, e₂"]
ax.set(xticks=range(4), yticks=range(4), xticklabels=frame, yticklabels=frame, title="Holonomy of one loop on S² x S²")
ax.tick_params(axis="x", labelrotation=30)
fig.colorbar(image, ax=ax, shrink=0.8)
plt.show()
print("largest entry outside the diagonal blocks:", np.abs(holonomy[:2, 2:]).max(), np.abs(holonomy[2:, :2]).max())

# %% [markdown]
# **What to notice.** Two 2 x 2 rotations on the diagonal (each sphere turns its own tangent plane
# by the area its part of the loop encloses) and exact zeros elsewhere. In a frame that ignores the
# product (data in arbitrary coordinates) the same matrix is $R\,H R^\top$ for some rotation $R$;
# GeoManCER's job is to find the frame in which every transport is block-diagonal.

# %% [markdown]
# ## 3 · Algorithm 1, step by step on $S^2 \times S^2$
#
# The data are `N_POINTS` samples of $S^2 \times S^2 \subset \mathbb R^6$ (each sphere the unit
# sphere of its own $\mathbb R^3$, uniform). The manifold has dimension $d = 4$.
#
# **Step 1 — a graph.** Connect each point to its $k = 2d = 8$ nearest neighbours and symmetrise
# ($i \sim j$ if either is among the other's nearest). The graph is all GeoManCER knows of the
# manifold's shape.

# %%
sample = sphere_product(N_POINTS, (2, 2), random_state=seed)
graph = knn_graph(sample.points, n_neighbors=8)
degree = np.diff(graph.indptr)
starts, ends = graph.nonzero()
chords = np.concatenate([np.linalg.norm(c[starts] - c[ends], axis=1) for c in sample.coordinates])  # on each sphere
print(f"{N_POINTS:,} points, {graph.nnz // 2:,} edges, degree {degree.min()}–{degree.max()} (mean {degree.mean():.1f})")
fig = plt.figure(figsize=(10, 4.8), layout="constrained")
for f in range(2):
    ax = plot_graph_on_factor(fig.add_subplot(1, 2, f + 1, projection="3d"), sample.coordinates[f], graph,
                              num_points=40, random_state=seed)
    ax.set_title(f"sphere {f + 1}: the neighbours of 40 points (same colours on both)")
plt.show()

# %%
display(Markdown(notice([
    "A point's neighbours in R⁶ are close to it on *both* spheres at once: each star is compact on each picture.",
    f"The stars are not tiny: {N_POINTS:,} points cover a 4-dimensional manifold only coarsely, and neighbours lie a "
    f"median {np.median(chords):.2f} apart on each unit sphere (the chord; {span(np.quantile(chords, [0.1, 0.9]))} "
    "for 80 % of the edges). Every estimate below inherits this scale.",
], note=f"*(This run: `{P.name}`, seed {seed}.)*")))

# %% [markdown]
# **Step 2 — tangent spaces.** Local PCA: the top $d$ right singular vectors of the differences
# $[x_j - x_i]_{j \sim i}$ give an orthonormal basis $U_i$ ($6 \times 4$) of the estimated tangent
# space at $x_i$. We compare it with the truth by the largest principal angle.

# %%
tangents = local_tangents(sample.points, graph, manifold_dim=4)
tangent_angles = largest_principal_angle(tangents, sample.tangent_basis())
print(f"largest principal angle to the true tangent space: median {np.degrees(np.median(tangent_angles)):.1f}°, "
      f"90th percentile {np.degrees(np.quantile(tangent_angles, 0.9)):.1f}°")

# %% [markdown]
# **Step 3 — connection and Laplacian.** For an edge $i \sim j$, $Q_{ij} = \operatorname{polar}(U_i^\top
# U_j)$ carries tangent coordinates at $j$ to coordinates at $i$ (Section 1). A field of symmetric
# matrices $\Omega_i$ ($d \times d$, one per point, in tangent coordinates) is *parallel* when
# $\Omega_i = Q_{ij}\Omega_j Q_{ij}^\top$ on every edge. The **second-order graph connection
# Laplacian** measures how far a field is from that:
#
# $$
# (L\Omega)_i = \deg_i\,\Omega_i - \sum_{j \sim i} Q_{ij}\,\Omega_j\,Q_{ij}^\top, \qquad
# \langle \Omega, L\Omega \rangle = \sum_{\text{edges } i \sim j} \big\|\Omega_i - Q_{ij}\Omega_j Q_{ij}^\top\big\|_F^2 \;\ge\; 0 .
# $$
#
# The identity field is always parallel and tells nothing, so we restrict to **zero-trace**
# symmetric matrices ($A \mapsto QAQ^\top$ keeps the trace). Written in an *orthonormal* basis of
# them ($p = d(d+1)/2 - 1 = 9$ coordinates per point) each block $-R(Q_{ij})$ is orthogonal and
# $R(Q_{ji}) = R(Q_{ij})^\top$: the sparse matrix is symmetric positive semi-definite, as a
# symmetric eigensolver requires.

# %%
laplacian = connection_laplacian(graph, tangents)
probe = random_state.standard_normal((3, laplacian.shape[0]))
print(f"L is {laplacian.shape[0]:,} x {laplacian.shape[1]:,} with {laplacian.nnz:,} stored numbers "
      f"({laplacian.blocksize[0]} x {laplacian.blocksize[1]} blocks)")
print("max |L - Lᵀ| =", abs(laplacian - laplacian.T).max(), "| xᵀLx for three random x:",
      np.round(np.einsum("ki,ki->k", probe, (laplacian @ probe.T).T), 1))

# %% [markdown]
# **Step 4 — the spectrum and its gap.** Parallel fields are (near) zero modes of $L$. On a product
# of $m$ curved factors the parallel zero-trace fields are $\sum_f c_f P_f$ with $\sum_f c_f d_f =
# 0$: an $(m-1)$-dimensional space. So $S^2 \times S^2$ should have **one** small eigenvalue and
# $S^2 \times S^2 \times S^2$ **two**, each followed by a gap; the flat torus, where *every*
# zero-trace field is parallel, has all $p = 2$ of them near zero and no eigenvalue standing apart.
# `bottom_eigenpairs` runs Lanczos (ARPACK) from a seeded start vector.
#
# **Where to cut: a choice of this kit, not the paper's.** Pfau et al. (2020) cut the spectrum at a
# **threshold** $\gamma$ on the eigenvalues: the number of factors is $\#\{k : \lambda_k < \gamma\}$ (their
# code takes $\gamma$ as an argument and, without one, falls back to the largest *difference*
# $\lambda_{k+1} - \lambda_k$). `count_small_eigenvalues` instead places the gap at the largest
# **ratio** $\lambda_{k+1}/\lambda_k$ (`count_small_eigenvalues(values, gap=γ)` is the threshold rule).
# Why: the eigenvalues' scale changes with the number of points, the neighbourhood size and the
# manifold, so a fixed $\gamma$ has to be tuned for every dataset; a ratio is scale-free. And the
# largest difference is drawn to the wide gaps *between* clusters of large eigenvalues, higher up the
# spectrum, while the gap we want separates near-zero values from the rest: small in absolute terms,
# large in relative ones. The cell prints what the ratio and the difference rules say for each
# spectrum, and the range of its eigenvalues (a threshold would have to fit all three).

# %%
eigenvalues, eigenvectors = bottom_eigenpairs(laplacian, 10, random_state=seed)
num_small = count_small_eigenvalues(eigenvalues)
others = {"S² x S² x S²": sphere_product(N_POINTS, (2, 2, 2), random_state=seed),
          "flat torus S¹ x S¹": flat_torus(N_POINTS, random_state=seed)}
spectra = {name: geomancer(s.points, s.manifold_dim, random_state=seed, progress=False) for name, s in others.items()}
rules = {}  # name -> (count by the largest ratio, count by the largest difference, sorted eigenvalues)
for name, values in {"S² x S²": eigenvalues, **{n: r.eigenvalues for n, r in spectra.items()}}.items():
    values = np.sort(values)
    rules[name] = (count_small_eigenvalues(values), int(np.argmax(np.diff(values))) + 1, values)
    print(f"{name:<18} small eigenvalues by the largest ratio: {rules[name][0]}, by the largest "
          f"difference: {rules[name][1]}; λ_0 = {values[0]:.3g}, λ_9 = {values[-1]:.3g}")

# %%
fig, ax = plt.subplots(figsize=(7, 4.2), layout="constrained")
plot_spectrum(ax, eigenvalues, num_small, label=f"S² x S²: {num_small} small")
for name, result in spectra.items():
    plot_spectrum(ax, result.eigenvalues, result.num_small, label=f"{name}: {result.num_small} small")
ax.set_title(f"Bottom of the spectrum ({N_POINTS:,} points; dotted: the eigengap)")
ax.legend()
plt.show()

# %%
s2, s3, flat = (rules[name][2] for name in rules)
expected = (1, 2, 2)  # the small eigenvalues each should have: m - 1 for the spheres, p = 2 for the torus
low = max(v[k - 1] for v, k in zip((s2, s3, flat), expected))  # a threshold must lie above these ...
high = min(v[k] for v, k in zip((s2, s3, flat), expected))  # ... and below these
display(Markdown(notice([
    f"S² x S²: the gap λ₁/λ₀ = {s2[1] / s2[0]:.1f} (it grows with the number of points); the nine eigenvalues above "
    f"it lie within a factor {s2[-1] / s2[1]:.1f} of each other.",
    f"S² x S² x S²: the gap ratio λ₂/λ₁ is {s3[2] / s3[1]:.1f}, "
    + ("smaller than for two spheres: the same number of points covers a 6-dimensional manifold much more sparsely."
       if s3[2] / s3[1] < s2[1] / s2[0] else "no smaller than for two spheres."),
    f"Flat torus: λ₀ = {flat[0]:.3g} and λ₁ = {flat[1]:.3g} lie together, {flat[2] / flat[1]:.1f} times below λ₂: "
    "all of the p = 2 zero-trace fields are parallel (trivial holonomy), so no particular split is singled out.",
    "Where to cut (small eigenvalues by ratio / by difference): " + "; ".join(
        f"{name} {r} / {d}" for name, (r, d, _) in rules.items()) + f". A threshold that gives each spectrum its "
    f"expected count (1, 2 and 2) must lie above {low:.3g} and below {high:.3g}: "
    + ("no threshold does." if low >= high else "a window that another number of points or neighbours would move."),
], note=f"*(This run: `{P.name}`, {N_POINTS:,} points, seed {seed}; with a few hundred points the gaps blur.)*")))

# %% [markdown]
# **Step 5 — from parallel fields to subspaces.** Each small eigenvector gives, at every point, a
# symmetric matrix $\Omega_i^{(k)}$ in tangent coordinates, ideally $\sum_f c^{(k)}_f P_f$. They
# commute, so one rotation $V_i$ diagonalises them all (orthogonal **FFDiag**, Ziehe et al. 2004,
# done for all points at once). A direction $a$ then has the diagonal vector
# $\psi_a = (\Omega^{(1)}_{aa}, \dots, \Omega^{(m-1)}_{aa})$, the same for all directions of one
# factor: directions with cosine similarity $> 0.5$ are grouped (connected components).

# %%
fields = to_matrices(eigenvectors[:, :num_small].reshape(N_POINTS, -1, num_small).transpose(0, 2, 1), 4)
rotations = ffdiag(fields)
diagonals = np.einsum("nab,nkbc,nac->nka", rotations, fields, rotations)
labels, counts = cluster_directions(diagonals)
print("Ω at point 0 in its tangent coordinates:\n", np.round(fields[0, 0] / np.abs(fields[0, 0]).max(), 2))
print("its diagonal after FFDiag:", np.round(diagonals[0, 0] / np.abs(diagonals[0, 0]).max(), 2),
      "-> factor of each direction:", labels[0])
print(f"points split into two 2-D subspaces: {np.mean((counts == 2) & (np.sort(labels, 1) == [0, 0, 1, 1]).all(1)):.1%}")

# %% [markdown]
# **What to notice.** Before the rotation $\Omega$ looks like any symmetric matrix; after it, its
# diagonal is $(+c, +c, -c, -c)$ up to order and noise — $c(P_1 - P_2)$ — and the signs tell the
# two factors apart.
#
# **All steps in one call.** `geomancer` chains Steps 1–5 (with a progress bar and the time per
# step) and returns, at every point, orthonormal bases of the subspaces it found in ambient
# coordinates. The paper's error at a point is the largest principal angle between paired
# subspaces, averaged over factors and minimised over pairings ($\pi/2$ if the count is wrong).

# %%
result = geomancer(sample.points, 4, random_state=seed)
errors = subspace_angle_error(result, sample)
print(f"eigenvalues as above: {np.allclose(result.eigenvalues[:2], eigenvalues[:2])}; found {result.num_factors} factors; "
      f"mean error {errors.mean():.3f} rad ({np.degrees(errors.mean()):.1f}°); seconds per step:",
      {k: round(v, 2) for k, v in result.timings.items()})
fig = plt.figure(figsize=(12, 4.4), layout="constrained")
for f in range(2):
    plot_subspaces_on_sphere(fig.add_subplot(1, 3, f + 1, projection="3d"), sample, result.subspaces, factor=f,
                             random_state=seed)
    plt.gca().set_title(f"sphere {f + 1}: true planes (grey)\nvs found (coloured by error)")
ax = fig.add_subplot(1, 3, 3)
ax.hist(np.degrees(errors), bins=40, color="tab:green")
ax.set(xlabel="error per point (degrees)", ylabel="points", title="Largest principal angle, averaged over factors")
plt.show()

# %%
degrees = np.degrees(errors)
display(Markdown(notice([
    f"The coloured squares (found subspace, projected on the sphere's R³) against the grey ones (true tangent planes): "
    f"at {N_POINTS:,} points the middle 80 % of the errors lie between {np.quantile(degrees, 0.1):.0f}° and "
    f"{np.quantile(degrees, 0.9):.0f}° (mean {degrees.mean():.0f}°), and the worst 1 % beyond "
    f"{np.quantile(degrees, 0.99):.0f}°.",
    f"They are not zero: local PCA with {degree.min()}–{degree.max()} neighbours on a curved manifold and the discrete "
    "connection both err at the scale of the neighbourhoods — hence the next section.",
], note=f"*(This run: `{P.name}`, seed {seed}; meaningful from `lecture` on.)*")))

# %% [markdown]
# ## 4 · More points, and rotated coordinates
#
# With more points the neighbourhoods shrink and every estimate improves. And since GeoManCER only
# uses distances, tangent spaces and inner products, **rotating the ambient space changes nothing**:
# the kNN graph and the connection are the same, and the subspaces found rotate with the data.

# %%
sweep_errors = []
for n in SWEEP:
    s = sphere_product(n, (2, 2), random_state=seed)
    sweep_errors.append(subspace_angle_error(geomancer(s.points, 4, random_state=seed, progress=False), s))
turned = sphere_product(N_POINTS, (2, 2), rotate=True, random_state=seed)  # the same points, rotated
turned_errors = subspace_angle_error(geomancer(turned.points, 4, random_state=seed, progress=False), turned)
print(f"mean error, original coordinates: {errors.mean():.4f} rad; after a random rotation of R⁶: {turned_errors.mean():.4f} rad")
fig, ax = plt.subplots(figsize=(6.5, 4), layout="constrained")
ax.plot(SWEEP, [e.mean() for e in sweep_errors], "o-", label="mean")
ax.fill_between(SWEEP, *np.array([np.quantile(e, [0.25, 0.75]) for e in sweep_errors]).T, alpha=0.25, label="quartiles")
ax.set(xscale="log", xlabel="number of points", ylabel="error (rad)", title="S² x S²: error vs number of points")
ax.legend()
plt.show()

# %%
means = [e.mean() for e in sweep_errors]
display(Markdown(notice([
    f"The mean error {trend(means[0], means[-1], 'rises', 'falls', 'stays level', 0.005)} from {means[0]:.3f} rad at "
    f"{SWEEP[0]:,} points to {means[-1]:.3f} rad at {SWEEP[-1]:,} "
    + ("(at every doubling)." if np.all(np.diff(means) < 0) else "(not at every doubling).")
    + " The benchmark, `benchmarks/bench_geomancer.py`, follows it to 20,000 points.",
    f"The rotated data give {turned_errors.mean():.4f} rad against {errors.mean():.4f}, a difference of "
    f"{abs(turned_errors.mean() - errors.mean()):.1e}: no axis of the ambient space is special. That is the point "
    "of a *geometric* definition of disentangling — it does not depend on coordinates, only on the metric.",
], note=f"*(This run: `{P.name}`, seed {seed}; meaningful from `lecture` on.)*")))

# %% [markdown]
# ## 5 · True latents, a learned latent space, raw observations
#
# GeoManCER needs the **product metric**. The paper's experiments (Section 5) show what happens
# without it: on the true latent coordinates it works; on the latent space of a trained generative
# model it degrades; on raw pixels it fails. We build a miniature:
#
# * **true latents**: the points of $S^2 \times S^2 \subset \mathbb R^6$;
# * **raw observations**: the same points pushed through a fixed smooth random embedding
#   $g: \mathbb R^6 \to \mathbb R^{32}$, $g(x) = M\,[x;\ 3\tanh(3Wx + b)]$ — injective, smooth, but it
#   bends the metric ($g^\top g \ne$ a product metric);
# * **a learned latent space**: the means $\mu(g(x)) \in \mathbb R^8$ of a small Gaussian VAE
#   (`course_lib.models.mlp_vae`) trained on the observations for `VAE_STEPS` steps.
#
# In each space the truth is the true factor subspaces carried along by the map's Jacobian
# ($J_g T_f$, and $J_\mu J_g T_f$), and the chance level splits each true tangent space at random.

# %%
embedding = SmoothRandomEmbedding(6, 32, random_state=seed)
observations = embedding(sample.points)
vae = train_vector_vae(observations, num_latent=8, steps=VAE_STEPS, seed=seed, device=DEVICE)
codes = vae.encode(observations)

# %%
def through_vae(x, v):  # J_μ(g(x)) J_g(x) v
    return vae.pushforward(embedding(x), embedding.pushforward(x, v))


spaces = {  # name: (data, the true factor subspaces carried into that space)
    "true latents (R⁶)": (sample.points, sample.tangents),
    "VAE latents (R⁸)": (codes, pushforward_subspaces(through_vae, sample.points, sample.tangents)),
    "raw observations (R³²)": (observations, pushforward_subspaces(embedding.pushforward, sample.points,
                                                                   sample.tangents)),
}
found = {name: geomancer(data, 4, random_state=seed, progress=False) for name, (data, _) in spaces.items()}
space_errors = {name: subspace_angle_error(found[name], truth).mean() for name, (_, truth) in spaces.items()}
chance = subspace_angle_error(chance_subspaces(sample, random_state=seed), sample).mean()
print({name: round(float(e), 3) for name, e in space_errors.items()}, f"chance: {chance:.3f}")

# %%
fig, axes = plt.subplots(1, 2, figsize=(12, 4.2), layout="constrained")
axes[0].barh(list(space_errors), list(space_errors.values()), color=["tab:green", "tab:orange", "tab:red"])
axes[0].axvline(chance, color="k", ls="--", label=f"chance ({chance:.2f})")
axes[0].set(xlabel="mean error (rad)", title="GeoManCER's error in each space")
axes[0].invert_yaxis()
axes[0].legend(loc="lower right")
for (name, result), color in zip(found.items(), ["tab:green", "tab:orange", "tab:red"]):
    values = result.eigenvalues / result.eigenvalues[1]
    plot_spectrum(axes[1], values, result.num_small, label=f"{name}: λ₁/λ₀ = {1 / values[0]:.1f}", color=color)
axes[1].set(yscale="linear", ylim=(0, 1.2), ylabel="λ_k / λ₁", title="Spectra, scaled by the second eigenvalue")
axes[1].legend()
plt.show()

# %%
e_true, e_vae, e_raw = space_errors.values()
g_true, g_vae, g_raw = (r.eigenvalues[1] / r.eigenvalues[0] for r in found.values())  # λ₁/λ₀: the gap
display(Markdown(notice([
    f"**True latents**: error {e_true:.3f} rad" + (" (the lowest of the three)" if e_true == min(e_true, e_vae, e_raw)
                                                   else "")
    + f", λ₁/λ₀ = {g_true:.1f}" + (" (the widest gap of the three)." if g_true == max(g_true, g_vae, g_raw) else "."),
    f"**VAE latents** ({VAE_STEPS:,} steps): the gap {trend(g_true, g_vae, 'widens', 'shrinks', 'stays', 0.1)} to "
    f"λ₁/λ₀ = {g_vae:.1f} and the error {trend(e_true, e_vae, 'grows', 'falls', 'stays', 0.005)} to {e_vae:.3f} rad. "
    "The encoder is a smooth map of the manifold, so the factors can still be there — but the metric it induces is "
    "not the product metric, so the factor subspaces are no longer exactly parallel.",
    f"**Raw observations**: λ₁/λ₀ = {g_raw:.1f}, error {e_raw:.3f} rad against {chance:.3f} for a random split: the "
    "embedding's curvature mixes the factors in the connection. " + (
        "Here the VAE undoes part of the distortion (its error is lower); nothing guarantees that in general."
        if e_vae < e_raw else "Here the VAE does not undo the distortion (its error is not lower)."),
    "The lesson of the paper: disentangling by geometry reduces to **learning the right metric**. Without it, even a "
    "perfect algorithm sees a manifold that is not a product.",
], note=f"*(This run: `{P.name}`, seed {seed}; from `lecture` on — the VAE of the `smoke` profile is untrained.)*")))

# %% [markdown]
# ## 6 · Limits: dimensions, many factors, and diffusion
#
# Sections 3–5 used two or three spheres. This section asks how far the method goes: what a
# dimension costs, what happens with more factors at the same number of points, and what the
# "diffusion" in the paper's title is — the continuous operator that every graph Laplacian here
# approximates. (`lecture`, measured: 17 s of CPU time, 20–45 s of wall clock on our 2-core CPU
# shared with other jobs, nearly all of it the four GeoManCER runs of 6.1.)
#
# ### 6.1 · The cost of a dimension
#
# The first-order connection Laplacian of vector diffusion maps (Singer & Wu 2012) acts on tangent
# *vectors*: $k$ numbers per point. GeoManCER's acts on symmetric *2-tensors* $\Omega_i$ — the
# projections $P_f$ it looks for are such tensors — and a symmetric $k \times k$ matrix has
# $k(k+1)/2$ free entries. Without the trace (Section 3),
#
# $$
# p = \dim \operatorname{Sym}^2(\mathbb R^k) - 1 = \frac{k(k+1)}{2} - 1, \qquad
# \text{memory}(L) = (N + E)\, p^2 \cdot 8 \text{ bytes}, \qquad E \approx N\,\overline{\deg},\ \ \overline{\deg} \propto k ,
# $$
#
# one $p \times p$ block per point and per (directed) edge, with $2k$ nearest neighbours per point.
# So the matrix grows like $N k^5$ — and each Lanczos step of the eigensolver multiplies by all of
# it. We measure it on $S^2 \times \dots \times S^2$ with $m = 1, 2, \dots$ factors ($k = 2m$) at a
# fixed number of points: the time of each GeoManCER step, the Laplacian's exact storage
# (`laplacian_storage_bytes`) and the most memory allocated at once (`tracemalloc`). The same runs
# feed Section 6.2.

# %%
limits = sphere_product_sweep(range(1, MAX_FACTORS + 1), N_LIMITS, seed=seed)
print(limits[["k", "p", "degree", "laplacian_mb", "peak_mb", "cpu_seconds", "seconds", "eigensolver_s"]].round(2)
      .to_string())
fig, axes = plt.subplots(1, 3, figsize=(15, 4.4), layout="constrained")
growth = plot_dimension_cost(axes, limits)
fig.suptitle(f"GeoManCER on S² x ... x S² (k = 2m), {N_LIMITS:,} points; dotted: power laws fitted over k ≥ 4")
plt.show()

# %%
big, k_big, p_big = limits.iloc[-1], int(limits.k.iloc[-1]), int(limits.p.iloc[-1])
display(Markdown(notice([
    "Rows per point, p = k(k+1)/2 − 1: " + ", ".join(f"{p} at k = {k}" for k, p in zip(limits.k, limits.p))
    + f"; a block holds p² = {p_big ** 2:,} numbers at k = {k_big}, where a first-order Laplacian would hold "
    f"k² = {k_big ** 2}.",
    f"The Laplacian's storage grows like k^{growth['laplacian_mb']:.1f} (p² ≈ k⁴/4 times a degree of "
    f"{span(limits.degree, '.1f')} neighbours): {big.laplacian_mb:,.0f} MB at k = {k_big} for {N_LIMITS:,} points; "
    f"the traced peak was {big.peak_mb:,.0f} MB (temporaries and the eigensolver's single-precision copy).",
    f"CPU time grows like k^{growth['cpu_seconds']:.1f} ({big.cpu_seconds:.1f} s at k = {k_big}); the eigensolver "
    f"takes {big.eigensolver_s / big.seconds:.0%} of the {big.seconds:.1f} s of wall clock.",
], note=f"*(This run: `{P.name}`, seed {seed}; seconds depend on the machine, the counts do not.)*")))

# %% [markdown]
# **What to notice.** The counts are exact and the same on every machine: compare the storage's
# fitted exponent with the $k^5$ of the formula (a fit over three or four small $k$ only approaches
# the asymptote). The seconds are this machine's, and their exponent is rougher: the eigensolver, a
# sequence of sparse matrix–vector products (how many depends on how tight the spectrum is), grows
# with the storage, while the other steps and fixed costs grow more slowly; the wall clock also
# depends on what else the machine is running. Memory is
# linear in $N$, and a doubled dimension multiplies it by about $2^5 = 32$. A 20-dimensional latent
# space (ten 2-dimensional factors) would need $p = 209$: blocks of 43,681 numbers, about 16 MB
# per point with its ~45 neighbours.

# %% [markdown]
# ### 6.2 · Beyond a handful of factors
#
# With $m$ factors GeoManCER must find $m - 1$ small eigenvalues below a gap (Section 3, Step 4).
# They are small only as far as the graph resolves the geometry: local PCA and the discrete
# connection err at the scale $h$ of a neighbourhood, and at a fixed number of points a
# $k$-dimensional manifold is covered only that finely:
#
# $$
# h \;\propto\; \Big(\frac{\operatorname{vol} M}{N}\Big)^{1/k}
# \qquad\Longleftrightarrow\qquad N \;\propto\; \operatorname{vol} M \, h^{-k} .
# $$
#
# Keeping $h$ fixed while adding a factor multiplies the points needed by a factor $h^{-2}$ per
# sphere. The same runs as above, now scored with Section 3's measure: the largest principal
# angle between found and true subspaces, and the fraction of points split into $m$ planes.

# %%
print(limits.loc[limits.index >= 2, ["small", "gap", "right_count", "error", "chance", "factor_edge"]].round(3).to_string())
fig, axes = plt.subplots(1, 3, figsize=(15, 4.4), layout="constrained")
plot_factor_recovery(axes, limits)
fig.suptitle(f"S² x ... x S² with m factors, all at {N_LIMITS:,} points")
plt.show()

# %%
split = limits[limits.index >= 2]
display(Markdown(notice([
    *(f"m = {m}: {r.right_count:.0%} of the points split into {m} planes, mean error {r.error:.2f} rad "
      f"(chance {r.chance:.2f}), {int(r.small)} small eigenvalue(s) found for {m - 1} expected, gap ratio {r.gap:.2f}"
      for m, r in split.iterrows()),
    f"The gap ratio {trend(split.gap.iloc[0], split.gap.iloc[-1], 'grows', 'shrinks')} from {split.gap.iloc[0]:.2f} "
    f"to {split.gap.iloc[-1]:.2f}, while a neighbour lies {span(limits.factor_edge)} away on each unit sphere "
    f"(m = 1 to {limits.index[-1]}).",
    "Most points are split into m planes at m = " + (", ".join(map(str, split.index[split.right_count >= 0.5]))
                                                     or "none") + "; most are not at m = "
    + (", ".join(map(str, split.index[split.right_count < 0.5])) or "none") + ".",
], note=f"*(This run: `{P.name}`, {N_LIMITS:,} points, seed {seed}; meaningful from `lecture` on.)*")))

# %% [markdown]
# **What to notice.** *(From `lecture` on; the list above says where this run fails.)* Where the gap
# at $m - 1$ has closed (ratio near 1), the count of factors comes out wrong, and a point with the
# wrong count has error $\pi/2$ by definition — *worse* than a random split, which at least has the
# right number of subspaces: recovery does not fade gradually, it breaks. The cause
# is in the right panel: at a fixed budget each added sphere widens every neighbourhood, until a
# point's "neighbours" span a good part of each sphere and no longer see its tangent plane. More
# points would help, but by the formula above exponentially many (Exercise 4); and each of them
# costs the $p^2$ of Section 6.1.

# %% [markdown]
# ### 6.3 · The Laplace–Beltrami view of diffusion
#
# Why should a graph Laplacian find anything geometric? Because it approximates a differential
# operator. Build the Gaussian kernel of the points, remove the sampling density, and normalise
# rows (diffusion maps, Coifman & Lafon 2006):
#
# $$
# K_{ij} = e^{-\|x_i - x_j\|^2 / 4\varepsilon}, \qquad K^{(1)}_{ij} = \frac{K_{ij}}{q_i\, q_j},\ \ q = K\mathbf 1,
# \qquad P = D^{-1} K^{(1)} \;\approx\; e^{\varepsilon \Delta_M}, \qquad
# \frac{I - P}{\varepsilon} \;\to\; -\Delta_M .
# $$
#
# $P$ is one step of a random walk; it approximates the heat flow of the **Laplace–Beltrami
# operator** $\Delta_M$ for time $\varepsilon$ (Belkin & Niyogi 2003, 2008), so its eigenvalues
# $\mu_k$ give those of $-\Delta_M$ as $\lambda_k = -\log(\mu_k)/\varepsilon$, and $t/\varepsilon$ steps of
# the walk are the heat flow $e^{t\Delta_M}$. On a **product** the operator splits,
# $\Delta = \Delta_1 \otimes I + I \otimes \Delta_2$, hence
#
# $$
# -\Delta\,\big(\phi_i(a)\,\psi_j(b)\big) = (\lambda_i + \mu_j)\,\phi_i(a)\,\psi_j(b), \qquad
# e^{t\Delta} = e^{t\Delta_1} \otimes e^{t\Delta_2}, \qquad
# p_t\big((a, b), (a_0, b_0)\big) = p^{S^1}_t(a - a_0)\; p^{S^1}_t(b - b_0) :
# $$
#
# eigenvalues add, eigenfunctions multiply, diffusion runs in each factor independently. That is
# the "subspace diffusion" of the paper's title: GeoManCER diffuses 2-tensors instead of numbers,
# and the fields that diffusion leaves unchanged, $\sum_f c_f P_f$, are exactly those that respect
# the factorisation. On scalars everything has a closed form for the flat torus $S^1 \times S^1$:
# a unit circle has $-\Delta$ eigenvalues $n^2$ (eigenfunctions $\cos n\theta$, $\sin n\theta$) and
# heat kernel $p^{S^1}_t(\theta) = \frac{1}{2\pi}\sum_{n \in \mathbb Z} e^{-n^2 t}\cos n\theta$, so the
# torus has eigenvalues $n_1^2 + n_2^2$. `flat_torus_diffusion` computes the torus's graph Laplacian,
# each circle's on the same points' angles, their products, and a unit of heat diffused for $t = 0.5$.

# %%
torus = flat_torus_diffusion(N_TORUS, BANDWIDTH, num=21, time=0.5, seed=seed)
relative = np.abs(torus.values[1:] - torus.exact[1:]) / torus.exact[1:]
heat_corr = np.corrcoef(torus.heat, torus.heat_exact)[0, 1]
print("exact n₁² + n₂²: ", torus.exact.astype(int))
print("graph, S¹ x S¹:  ", np.round(torus.values, 2))
print("graph, λ_i + μ_j:", np.round(torus.sums, 2))
print("angle of each eigenspace to the products:",
      ", ".join(f"λ = {g:g}: {a:.1f}°" for g, a in zip(torus.groups, np.degrees(torus.group_angles))))
fig, axes = plt.subplots(1, 3, figsize=(15, 4.4), layout="constrained")
plot_torus_diffusion(axes, torus)
fig.suptitle(f"Flat torus S¹ x S¹, {N_TORUS:,} points, ε = {BANDWIDTH:.4f}")
plt.show()

# %%
display(Markdown(notice([
    f"Eigenvalues: within {relative.max():.0%} of n₁² + n₂² (median {np.median(relative):.1%}); the circles' sums "
    f"stay within {np.abs(torus.sums - torus.exact).max():.2f} of the exact values.",
    f"Eigenfunctions: each eigenspace lies {span(np.degrees(torus.group_angles[1:]), '.0f')}° from the span of the "
    f"products φ_i(a) ψ_j(b), the angle {trend(torus.group_angles[1], torus.group_angles[-1], 'growing', 'shrinking')}"
    f" with the eigenvalue.",
    f"Heat: the random walk's density after t = {torus.time:g} correlates at {heat_corr:.3f} with "
    "p_t(a − a₀) p_t(b − b₀).",
], note=f"*(This run: `{P.name}`, {N_TORUS:,} points, seed {seed}.)*")))

# %% [markdown]
# **What to notice.** *(From `lecture` on.)* The graph knows nothing of angles, circles or products —
# only distances in $\mathbb R^4$ — yet its spectrum follows the staircase $0, 1, 2, 4, 5$ with the
# multiplicities $1, 4, 4, 4, 8$ of the closed form, and its eigenfunctions lie close to products of
# each circle's, as near as the numbers above say. Degenerate eigenvalues come as eigen*spaces*, which
# the sample splits slightly and rotates freely; only spans can be compared. Faster oscillations are
# resolved worse at a fixed $\varepsilon$ and $N$ (the printout shows how the error moves with the
# eigenvalue in this run): the same bias–variance trade-off
# (small $\varepsilon$: noise; large $\varepsilon$: blur) that sets the eigengap in Section 6.2.
# Heat, too, factorises: diffusing on the torus is diffusing on each circle at once. GeoManCER's
# second-order Laplacian inherits all of this — and its limits: where the graph cannot resolve the
# manifold, no operator built on it can.

# %% [markdown]
# ## Exercises
#
# ### Exercise 1
#
# Check Gauss–Bonnet numerically: for colatitudes $\theta_0$ from 0.1 to 3.0 rad, transport a vector
# once around the circle (`latitude_loop`, `transport`, `rotation_angle`) and plot the measured
# rotation against $2\pi(1 - \cos\theta_0)$ (wrapped to $(-\pi, \pi]$). Why does the equator
# ($\theta_0 = \pi/2$) give no rotation although it encloses a hemisphere?

# %% tags=["solution"]
thetas = np.linspace(0.1, 3.0, 30)
measured = []
for theta in thetas:
    points, bases = latitude_loop(theta)
    vectors = transport(bases, bases[0][:, 1])
    measured.append(rotation_angle(vectors[0], vectors[-1], points[0]))
predicted = (2 * np.pi * (1 - np.cos(thetas)) + np.pi) % (2 * np.pi) - np.pi
fig, ax = plt.subplots(figsize=(6, 3.8), layout="constrained")
ax.plot(thetas, predicted, "-", label="2π(1 − cos θ₀), wrapped")
ax.plot(thetas, measured, "o", label="measured holonomy")
ax.set(xlabel="colatitude θ₀ (rad)", ylabel="rotation after one loop (rad)", title="Holonomy = enclosed area")
ax.legend()
plt.show()
print(f"largest difference: {np.abs(np.array(measured) - predicted).max():.1e} rad")

# %% [markdown] tags=["solution"]
# The points lie on the curve (up to the discretisation of the loop). The equator encloses area
# $2\pi$, and a rotation by $2\pi$ is no rotation at all: the holonomy is the area *modulo* $2\pi$ —
# a loop's holonomy only sees curvature through this angle. (Equivalently, the equator is a
# geodesic: its own tangent is parallel, so a vector keeps its angle to it.)

# %% [markdown]
# ### Exercise 2
#
# Run GeoManCER on $S^1 \times S^2$ (`sample_product(n, ("S1", "S2"))`, manifold dimension 3) and on
# the flat torus $S^1 \times S^1$. Look at the spectra and the errors. One factor of $S^1 \times S^2$
# is flat, like both factors of the torus; why can GeoManCER split $S^1 \times S^2$ but not the torus?

# %% tags=["solution"]
found_two = {}  # factors -> (result, mean error, chance error)
for factors in (("S1", "S2"), ("S1", "S1")):
    s = sample_product(N_POINTS, factors, random_state=seed)
    r = geomancer(s.points, s.manifold_dim, random_state=seed, progress=False)
    chance_level = subspace_angle_error(chance_subspaces(s, random_state=seed), s).mean()
    found_two[factors] = r, subspace_angle_error(r, s).mean(), chance_level
    print(f"{' x '.join(factors)}: eigenvalues {np.round(r.eigenvalues[:4], 4)} -> {r.num_small} small, "
          f"{r.num_factors} factors (at {np.mean(r.counts == 2):.0%} of points), "
          f"mean error {found_two[factors][1]:.3f} rad, chance {chance_level:.3f} rad")

# %% tags=["solution"]
(r12, e12, c12), (r11, e11, c11) = found_two.values()
display(Markdown(notice([
    f"$S^1 \\times S^2$: {r12.num_small} small eigenvalue(s) ($m - 1 = 1$ expected), error {e12:.3f} rad against "
    f"{c12:.3f} for a random split. Holonomy rotates the sphere's tangent plane and leaves the circle's direction "
    "alone, so the only invariant subspaces are that line and that plane — the decomposition is unique.",
    f"Torus: both zero-trace fields are (near) zero modes (λ₀, λ₁ = {r11.eigenvalues[0]:.3g}, "
    f"{r11.eigenvalues[1]:.3g}; λ₂ = {r11.eigenvalues[2]:.3g}): holonomy is trivial and every line is invariant. "
    f"GeoManCER still returns {r11.num_factors} subspaces at most points, but they are an artefact — FFDiag is asked "
    "to diagonalise two fields that do not commute and settles on a compromise. Its error, "
    f"{e11:.3f} rad, is {trend(c11, e11, 'worse than', 'better than', 'no better than', 0.01)} a random split's "
    f"({c11:.3f}), but here no split is more right than another: the error only says how near the compromise "
    "lands to the circles' directions.",
], heading=f"*(This run: `{P.name}`, seed {seed}.)*")))

# %% [markdown] tags=["solution"]
# A flat factor of dimension 1 is fine; a flat part of dimension $\ge 2$ cannot be split by geometry
# (de Rham's flat factor $\mathbb R^k$ is one block).

# %% [markdown]
# ### Exercise 3
#
# The embedding's `strength` $c$ scales its non-linear part; at $c = 0$ it is a rotation of a
# zero-padded copy of $\mathbb R^6$ — an isometry. Measure GeoManCER's error on the raw
# observations for $c \in \{0, 1, 2, 3\}$ (use `N_POINTS // 2` points). What do you expect at
# $c = 0$, and why?

# %% tags=["solution"]
half = sphere_product(N_POINTS // 2, (2, 2), random_state=seed)
strengths, raw_errors = [0.0, 1.0, 2.0, 3.0], []
for c in strengths:
    g = SmoothRandomEmbedding(6, 32, strength=c, random_state=seed)
    truth = pushforward_subspaces(g.pushforward, half.points, half.tangents)
    found_raw = geomancer(g(half.points), 4, random_state=seed, progress=False)
    raw_errors.append(subspace_angle_error(found_raw, truth).mean())
fig, ax = plt.subplots(figsize=(6, 3.8), layout="constrained")
ax.plot(strengths, raw_errors, "o-")
ax.set(xlabel="strength c of the non-linear part", ylabel="mean error (rad)", title="Bending the metric breaks GeoManCER")
plt.show()
print({c: round(float(e), 3) for c, e in zip(strengths, raw_errors)},
      f"| true latents, same points: {sweep_errors[2].mean():.3f}")

# %% tags=["solution"]
display(Markdown(notice([
    f"At $c = 0$ the error is {raw_errors[0]:.3f} rad, the true latents' {sweep_errors[2].mean():.3f} (Section 4 "
    "used the same `N_POINTS // 2` points): distances are exactly those of the true latents, so the kNN graph, the "
    "connection and the result are the same.",
    f"From $c = 0$ to $c = {strengths[-1]:g}$ the error "
    f"{trend(raw_errors[0], raw_errors[-1], 'rises', 'falls', 'stays', 0.005)} to {raw_errors[-1]:.3f} rad"
    + (" (growing at every step)." if np.all(np.diff(raw_errors) > 0) else " (not monotonically).")
    + " As $c$ grows the induced metric $I + c^2 (\\dots)$ departs from a product and the factor subspaces stop "
    "being parallel. GeoManCER is exactly as good as the metric it is given.",
], heading=f"*(This run: `{P.name}`, seed {seed}.)*")))

# %% [markdown]
# ### Exercise 4
#
# Section 6.2 blamed the failure at $m = 3$ on the neighbourhood size. Using the table `limits` and
# $h \propto N^{-1/k}$, estimate how many points $S^2 \times S^2 \times S^2$ would need for its
# neighbours to lie as close on each sphere (`factor_edge`) as those of $S^2 \times S^2$ at
# `N_LIMITS` points, and how much memory its second-order Laplacian would then take
# (`second_order_block_size`, and the degree in the table). Then run $m = 3$ with twice `N_LIMITS`
# points (`sphere_product_sweep`): do the gap and the error move the way the estimate says?

# %% tags=["solution"]
h2, h3 = limits.loc[2, "factor_edge"], limits.loc[3, "factor_edge"]
needed = N_LIMITS * (h3 / h2) ** 6  # h ∝ N^(-1/6) on the 6-dimensional product
p3 = second_order_block_size(6)
memory_gb = needed * (1 + limits.loc[3, "degree"]) * p3 ** 2 * 8 / 1e9
print(f"per-sphere neighbour distance: {h2:.3f} (m = 2) vs {h3:.3f} (m = 3) -> about {needed:,.0f} points, "
      f"Laplacian ≈ {memory_gb:,.1f} GB")
doubled = sphere_product_sweep((3,), 2 * N_LIMITS, seed=seed)
print(pd.concat({f"{N_LIMITS:,} points": limits.loc[[3]], f"{2 * N_LIMITS:,} points": doubled})[
    ["gap", "right_count", "error", "factor_edge", "laplacian_mb", "seconds"]].round(3).to_string())

# %% tags=["solution"]
before, after = limits.loc[3], doubled.iloc[0]
better = [after.gap > before.gap, after.right_count > before.right_count, after.error < before.error]
display(Markdown(notice([
    f"The neighbours of three spheres lie {h3:.2f} apart on each sphere, those of two {h2:.2f}, at the same $N$; "
    f"$h \\propto N^{{-1/6}}$ turns a factor $r$ in $h$ into a factor $r^6$ in points: about {needed / N_LIMITS:.0f} "
    f"times `N_LIMITS` ({needed:,.0f} points), whose Laplacian would take about {memory_gb:,.1f} GB — and the "
    "estimate only matches the *resolution* of two spheres, not their gap.",
    f"Doubling the points shrinks $h$ only by $2^{{-1/6}} \\approx 0.89$ (here {before.factor_edge:.3f} → "
    f"{after.factor_edge:.3f}): gap ratio {before.gap:.2f} → {after.gap:.2f}, points split right "
    f"{before.right_count:.0%} → {after.right_count:.0%}, error {before.error:.2f} → {after.error:.2f} rad — "
    + ("all three improve, but by a step, not by the leap the estimate asks for." if all(better) else
       f"{sum(better)} of the three improve: a step this small is within the noise of one sample."),
], heading=f"*(This run: `{P.name}`, seed {seed}.)*")))

# %% [markdown] tags=["solution"]
# That is the curse of dimensionality in GeoManCER's form: for a fixed resolution the number of points
# grows exponentially with the dimension, and the cost of each point grows like $k^4$ on top.

# %% [markdown]
# ### Exercise 5
#
# Repeat Section 6.3 on $S^1 \times S^2$ (`sample_product(n, ("S1", "S2"))`, the unit circle times the
# unit sphere in $\mathbb R^5$). The sphere's $-\Delta$ has eigenvalues $l(l+1)$ with multiplicity
# $2l + 1$. Predict the bottom 14 eigenvalues of the product with `product_eigenpairs`, compute
# them with `laplace_beltrami_eigenpairs` (`N_TORUS` points, bandwidth $2\varepsilon$: the manifold
# is 3-dimensional), and say which eigenfunctions come first and why.

# %% tags=["solution"]
s1s2 = sample_product(N_TORUS, ("S1", "S2"), random_state=seed)
sphere_values = np.repeat([l * (l + 1.0) for l in range(4)], [2 * l + 1 for l in range(4)])
predicted, pairs, _ = product_eigenpairs(circle_eigenvalues(7), sphere_values, 14)
measured, _ = laplace_beltrami_eigenpairs(s1s2.points, 14, 2 * BANDWIDTH, random_state=seed)
fig, ax = plt.subplots(figsize=(10, 4), layout="constrained")
ax.step(np.arange(14), predicted, where="mid", color="k", label="n² + l(l+1)")
ax.plot(np.arange(14), measured, "o", label="graph Laplacian of S¹ x S²")
ax.set(xlabel="eigenvalue index", ylabel="eigenvalue of −Δ (1/rad²)", title="S¹ x S²: the spectrum is the sums")
ax.legend()
plt.show()
print("(circle index, sphere index) of each predicted eigenfunction:", [tuple(int(v) for v in p) for p in pairs])
print("largest relative error:", np.round(np.max(np.abs(measured[1:] - predicted[1:]) / predicted[1:]), 3))

# %% [markdown] tags=["solution"]
# The spectrum is $0;\ 1, 1;\ 2, 2, 2;\ 3 \times 6;\ 4, 4$: the circle's $\cos a$, $\sin a$ ($n^2 = 1$)
# come before the sphere's three linear functions ($l(l+1) = 2$), then their six products
# ($1 + 2 = 3$), then $\cos 2a$, $\sin 2a$. The graph Laplacian follows it (its largest relative error
# is printed) without being told that there are two factors. The order of the eigenfunctions says
# which factor oscillates most cheaply — the longer circle — which is why scalar eigenfunctions
# alone do not identify factors: one has to look at *which* functions multiply, or, as GeoManCER
# does, at tensors whose diffusion keeps the factors apart.

# %% [markdown]
# ## Summary
#
# * Parallel transport around a loop rotates tangent vectors by the loop's holonomy; on a product
#   the holonomy is block-diagonal, and by de Rham the invariant subspaces *are* the factors.
# * GeoManCER turns this into linear algebra: a kNN graph, local PCA, the connection
#   $Q_{ij} = \operatorname{polar}(U_i^\top U_j)$, the second-order connection Laplacian on zero-trace
#   symmetric fields (symmetric PSD in an orthonormal basis), its $m - 1$ small eigenvectors,
#   simultaneous diagonalisation and clustering.
# * It needs curved factors (flat parts of dimension $\ge 2$ cannot be split) and, above all, the
#   right metric: it works on true latents, degrades through a learned latent space and fails on
#   observations whose metric is not a product.
# * It has limits: the second-order Laplacian stores $p^2$ numbers per edge, $p = k(k+1)/2 - 1$, so
#   memory and time grow like $k^4$–$k^5$; at a fixed number of points the neighbourhoods of a
#   higher-dimensional product widen like $N^{-1/k}$ and the eigengap closes beyond two or three factors.
# * Underneath: a graph Laplacian approximates the Laplace–Beltrami operator; on a product its
#   eigenvalues add, its eigenfunctions multiply and heat diffusion factorises,
#   $e^{t\Delta} = e^{t\Delta_1} \otimes e^{t\Delta_2}$ — the structure GeoManCER looks for in 2-tensors.
#
# ## References
#
# * D. Pfau, I. Higgins, A. Botev, S. Racanière. *Disentangling by Subspace Diffusion.* NeurIPS 2020
#   (Algorithm 1; code: github.com/deepmind/deepmind-research/tree/master/geomancer).
# * I. Higgins, D. Amos, D. Pfau, S. Racanière, L. Matthey, D. Rezende, A. Lerchner. *Towards a
#   Definition of Disentangled Representations.* arXiv:1812.02230, 2018.
# * G. de Rham. *Sur la reductibilité d'un espace de Riemann.* Commentarii Mathematici Helvetici 26, 1952.
# * A. Singer, H.-T. Wu. *Vector Diffusion Maps and the Connection Laplacian.* Communications on Pure
#   and Applied Mathematics 65, 2012.
# * M. Belkin, P. Niyogi. *Laplacian Eigenmaps for Dimensionality Reduction and Data Representation.*
#   Neural Computation 15, 2003 (the heat-kernel weights of Section 6.3).
# * M. Belkin, P. Niyogi. *Towards a Theoretical Foundation for Laplacian-Based Manifold Methods.*
#   Journal of Computer and System Sciences 74, 2008 (the graph Laplacian converges to Laplace–Beltrami).
# * R. R. Coifman, S. Lafon. *Diffusion Maps.* Applied and Computational Harmonic Analysis 21, 2006
#   (the α = 1 normalisation and P ≈ e^{εΔ} of Section 6.3).
# * A. Ziehe, P. Laskov, G. Nolte, K.-R. Müller. *A Fast Algorithm for Joint Diagonalization with
#   Non-orthogonal Transformations and its Application to Blind Source Separation.* JMLR 5, 2004.
# * F. Locatello et al. *Challenging Common Assumptions in the Unsupervised Learning of Disentangled
#   Representations.* ICML 2019 (notebook 07).
# * D. P. Kingma, M. Welling. *Auto-Encoding Variational Bayes.* ICLR 2014 (the VAE of Section 5).
