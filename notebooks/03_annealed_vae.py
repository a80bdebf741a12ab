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
# # 03 · AnnealedVAE: controlled capacity
#
# β-VAE (notebook 02) presses on the KL term with a constant weight $\beta$: the larger $\beta$,
# the more disentangled the code tends to be and the worse the reconstructions. Burgess, Higgins,
# Pal, Matthey, Watters, Desjardins & Lerchner (2018) looked at that pressure through the lens of
# the **information bottleneck** and asked what the KL term *measures*. Their answer — an upper
# bound on the information the code carries about the image — suggests a different control knob:
# instead of a price per nat, give the encoder a **budget** of nats, $C$, and raise it slowly during
# training. In this notebook you will
#
# * derive why the KL term bounds the information $I(x; z)$, which makes it a *capacity*;
# * write down the AnnealedVAE objective $\gamma\,|\mathrm{KL} - C(t)|$ and plot its schedule;
# * train one AnnealedVAE and watch the KL follow the budget;
# * reproduce the paper's observation in miniature: as the budget grows, the latents switch on one
#   after the other, and each can be matched to the factor it encodes — which factor comes first?
#
# One model is trained for `STEPS` steps (printed below the imports: at `smoke` 20, a meaningless
# model that only proves the code runs; at `lecture` it is loaded from the pretrained zoo, as old as
# the zoo's models (`zoo --grow`); the paper and Locatello et al. 2019: 300,000). **Figures
# about the trained model are only meaningful from `lecture` on**, and how close they come to the
# paper's depends on the model's age: read them as a sketch of the paper's figures, not as a
# replication. Every claim below about the trained model is computed from this run.
#
# **Time** (measured with `python -m course_lib notebooks --only 03_annealed_vae` on a 2-core CPU
# shared with other jobs; the index that `make report` writes shows yours): `smoke` 44 s; `lecture`
# minutes — its trained models are loaded from the pretrained zoo (`data/pretrained`), none is
# trained here (not timed end to end).

# %% tags=["parameters"]
profile = None  # smoke | lecture | full; None reads $COURSE_PROFILE (default lecture)
device = "auto"
seed = 0

# %%
import matplotlib.pyplot as plt
import numpy as np
from IPython.display import Markdown, display
import pandas as pd

from course_lib.data import DSprites
from course_lib.analysis.factor_matching import kl_onset_steps, match_latents_to_factors, normalized_mutual_information
from course_lib.lab.analysis_plots import plot_encoding_order
from course_lib.objectives import STUDY_SWEEPS
from course_lib.objectives.annealed_vae import capacity
from course_lib.representation import encode, kl_per_latent, latent_traversals
from course_lib.kit.runs import train_or_load
from course_lib.kit.lecture_models import lecture_config, lecture_steps
from course_lib.lab.setup import notebook_setup
from course_lib.lab.notice import notice, span, trend
from course_lib.lab.viz import plot_kl_per_latent, plot_loss_curves, plot_traversals

P, DEVICE, random_state = notebook_setup(profile, device, seed)
STEPS = lecture_steps(P, seed)  # the steps of this notebook's models (the zoo's age at lecture)
C_MAX = STUDY_SWEEPS["annealed_vae"][1][1]  # 10 nats, from the study's sweep (5 ... 100)
STUDY_GAMMA = 1000.0  # the study's (and the paper's) weight of the capacity penalty
GAMMA = STUDY_GAMMA if STEPS >= 100_000 else 30.0  # short runs stall with gamma = 1000 (Exercise 3)
ANNEALING_STEPS = max(1, 3 * STEPS // 4)  # the study: 100,000 of 300,000 steps; here 3/4 of training
THRESHOLD = 0.5  # nats: a latent whose KL exceeds this is "switched on"
print(f"C_max = {C_MAX} nats, gamma = {GAMMA:g}, annealing over {ANNEALING_STEPS:,} of {STEPS:,} steps")

# %% [markdown]
# ## 1 · The KL term is an information budget
#
# Write the data distribution $p(x)$ and the encoder $q(z \mid x)$; together they define a joint
# $q(x, z) = p(x)\, q(z \mid x)$ and the **aggregate posterior** $q(z) = \mathbb E_{p(x)}\, q(z \mid x)$.
# The KL term of the ELBO, averaged over the data, splits in two (add and subtract $\log q(z)$):
#
# $$
# \mathbb E_{p(x)}\big[\mathrm{KL}(q(z \mid x) \,\|\, p(z))\big]
# = \mathbb E_{q(x,z)}\Big[\log \frac{q(z \mid x)}{q(z)}\Big] + \mathbb E_{q(z)}\Big[\log \frac{q(z)}{p(z)}\Big]
# = I_q(x; z) + \mathrm{KL}(q(z) \,\|\, p(z)).
# $$
#
# The second term is non-negative, so
#
# $$
# I_q(x; z) \;\le\; \mathbb E_{p(x)}\big[\mathrm{KL}(q(z \mid x) \,\|\, p(z))\big] :
# $$
#
# **the KL term bounds the number of nats the code carries about the image.** Think of the encoder
# as a noisy channel: it sends $\mu(x)$ and the decoder receives $z = \mu(x) + \sigma(x)\,\varepsilon$.
# The KL per latent, $\tfrac12(\mu^2 + \sigma^2 - \log \sigma^2 - 1)$, grows when the posteriors
# are narrow ($\sigma \ll 1$: many distinguishable messages) and spread out ($\mu$ far from 0).
#
# This is the **information bottleneck** (Tishby, Pereira & Bialek 1999): β-VAE maximises
# $\mathbb E[\log p(x \mid z)] - \beta\, \mathrm{KL}$, reconstruction under a *price* $\beta$ per nat of
# channel use. Burgess et al. argue that, under this pressure, the cheapest way to reconstruct well
# is to spend the few nats on whatever reduces the reconstruction error most, and to place images
# that look alike close together in the code — which is what makes the code follow the factors.

# %% [markdown]
# ## 2 · From a price to a budget: the AnnealedVAE objective
#
# A price per nat does not say how many nats the model should use. Burgess et al. fix the number
# instead: the loss
#
# $$
# \mathcal L(\theta, \phi; x, t) = \mathbb E_{q_\phi(z \mid x)}\big[-\log p_\theta(x \mid z)\big]
# + \gamma\, \Big|\, \mathrm{KL}\big(q_\phi(z \mid x) \,\|\, p(z)\big) - C(t) \,\Big|
# $$
#
# pulls the KL towards a **target capacity** $C(t)$ with a large weight $\gamma$ (1000 in the paper and
# the study; see below for this notebook's choice). Its gradient with respect to the KL is
# $+\gamma$ when the KL is *above* the target and
# $-\gamma$ when it is *below*: unlike β-VAE, the penalty can *reward* information while the budget is
# not used up. The budget grows linearly from 0 to $C_{\max}$ and then stays:
#
# $$
# C(t) = \min\Big(C_{\max},\; C_{\max}\, \frac{t}{T_{\text{anneal}}}\Big).
# $$
#
# Early in training only a few nats are allowed, so the encoder must choose what to send; as $C$
# grows, more can be sent. In the study (Locatello et al. 2019, following disentanglement_lib) the
# KL in the penalty is the batch average, $C_{\max} \in \{5, 10, 25, 50, 75, 100\}$ and
# $T_{\text{anneal}} = 100{,}000$ of 300,000 steps. Here we anneal over three quarters of the run, so
# that the slow rise fills most of it, to $C_{\max} = 10$ nats.
#
# **A deviation for short runs.** With $\gamma = 1000$ the penalty's gradient is so much larger than
# the reconstruction's that, in a run of a few thousand steps, the encoder can do little but raise
# its KL to follow the fast-rising target — by narrowing the posteriors of *every* latent, which
# costs no information — and the reconstructions may never leave the blurry start (Exercise 3
# compares the two weights when this run is shorter than 100,000 steps). The paper's slow ramp (25
# nats over 100,000 steps) leaves time for the reconstruction to decide where the nats go. For runs
# shorter than 100,000 steps this notebook therefore uses $\gamma = 30$, still strong enough to hold
# the KL at $C(t)$; runs of 100,000 steps or more (a zoo grown that far, the `full` profile) use the
# study's 1000. The first cell printed the $\gamma$ of this run.
# `course_lib.objectives.annealed_vae.capacity` is the schedule:

# %%
fraction = np.linspace(0, 1, 301)
ours = [capacity(int(f * STEPS), C_MAX, ANNEALING_STEPS) for f in fraction]
study = [capacity(int(f * 300_000), C_MAX, 100_000) for f in fraction]
fig, ax = plt.subplots(figsize=(7, 3.6), layout="constrained")
ax.plot(fraction, ours, label=f"this notebook: {ANNEALING_STEPS:,} of {STEPS:,} steps")
ax.plot(fraction, study, "--", label="the study: 100,000 of 300,000 steps")
ax.set(xlabel="fraction of training", ylabel="C(t) (nats)", title=f"Capacity schedule, C_max = {C_MAX} nats")
ax.legend()
plt.show()

# %% [markdown]
# ## 3 · Training one AnnealedVAE
#
# The study's architecture (a convolutional encoder and decoder, 10 latents), batch 64, Adam with
# learning rate $10^{-4}$; `train_or_load` reuses a finished run with the same configuration.

# %%
config = lecture_config("annealed_vae", {"c_max": C_MAX, "gamma": GAMMA, "annealing_steps": ANNEALING_STEPS}, P, seed)
run = train_or_load(config, device=DEVICE)
log = run.log  # at most a few thousand rows: a long run logs the mean of each block of steps
SMOOTH = max(1, len(log) // 100)  # rows of the trailing mean that smooths the per-batch KL: 1/100 of training
print(run.directory.name)
shown = ["step", "reconstruction", "kl", "capacity", "capacity_penalty"]
print(log[shown].iloc[[0, len(log) // 2, -1]].to_string(index=False))

# %%
fig = plot_loss_curves(log, ("reconstruction", "kl", "capacity_penalty"))
fig.axes[1].plot(log["step"], log["capacity"], "k--", label="target C(t)")
fig.axes[1].legend()
fig.suptitle(f"AnnealedVAE training, γ = {GAMMA:g}, {STEPS:,} steps: the KL (per batch) and the target capacity")
plt.show()

# %%
excess = log["kl"] - log["capacity"]
rec = log["reconstruction"].rolling(SMOOTH, min_periods=1).mean()
fall = rec.diff(max(1, len(log) // 50))  # change of the smoothed reconstruction over 1/50 of training
fall = fall.where(log["step"] > STEPS // 10)  # the first tenth holds the fall from the untrained decoder's start
held = log.loc[log["step"] > ANNEALING_STEPS, "kl"]
lines = [f"KL − C(t) over the run: {excess.mean():+.2f} nats on average (the KL runs "
         f"{trend(0, excess.mean(), 'above', 'below', 'on', tol=0.01)} the target), {excess.abs().mean():.2f} nats in absolute value.",
         f"Reconstruction (smoothed): {rec.iloc[0]:.0f} nats at first, {rec.iloc[-1]:.0f} at the end; its steepest fall "
         f"after the first tenth of training, {-fall.min():.0f} nats within a fiftieth of it, ends at step "
         f"{log['step'][fall.idxmin()]:,}."]
if len(held):
    lines.append(f"After step {ANNEALING_STEPS:,}, where C(t) = C_max = {C_MAX} nats, the KL averages {held.mean():.2f} nats.")
display(Markdown(notice(lines, heading=f"**This run** (γ = {GAMMA:g}, {STEPS:,} steps).")))

# %% [markdown]
# **What to notice.**
# * With weight $\gamma$, one nat of disagreement costs as much as $\gamma$ nats of reconstruction
#   error, so the KL should stick to the dashed target $C(t)$ — its rise dictated by the schedule,
#   not chosen by the model. The first line above measures how closely it does.
# * The reconstruction error need not fall smoothly: look for plateaus (the decoder draws a blurry
#   blob near the centre) and the drops between them. Each drop is a moment the model learns to put
#   more of its growing budget to use — Section 4 shows which latents switch on then; the second line
#   above gives this run's steepest drop after the first tenth of training, which begins with the
#   fall from the untrained decoder's $4{,}096 \log 2 \approx 2{,}839$ nats.
# * A KL that runs *above* the target on average says the reconstruction would like more nats than
#   the budget allows, and pays a little penalty to get them; the larger $\gamma$, the smaller that
#   excess can be.
# * After $T_{\text{anneal}}$ the target is flat; the model holds its KL near $C_{\max}$ (the last
#   line) and spends the remaining steps rearranging *how* it uses those nats.
#
# ## 4 · KL per latent: the latents switch on one by one
#
# The total KL is a sum over the ten latents. The log holds each latent's share at every step:

# %%
plot_kl_per_latent(log)
plt.show()

# %%
final_kl = log.filter(like="kl_per_latent_").iloc[-max(1, len(log) // 20):].mean().to_numpy()  # last 1/20
onsets = kl_onset_steps(log, THRESHOLD, smooth=SMOOTH)  # NaN: never reached THRESHOLD
timed = onsets.dropna().sort_values()
steepest = log["step"][fall.idxmin()]  # the reconstruction's steepest fall (Section 3)
lines = [f"{(final_kl <= THRESHOLD).sum()} of {len(final_kl)} latents end training at or below {THRESHOLD} nats "
         f"(mean over the last twentieth), {(onsets.notna() & (final_kl <= THRESHOLD)).sum()} of them after an excursion above it."]
if len(timed):
    lines += [f"{len(timed)} latents pass {THRESHOLD} nats (smoothed), at steps " + ", ".join(f"{t:,.0f}" for t in timed) + ".",
              f"The onset nearest to the reconstruction's steepest fall (step {steepest:,}) is at step "
              f"{timed.iloc[(timed - steepest).abs().argmin()]:,.0f}."]
display(Markdown(notice(lines, heading="**This run.**")))

# %% [markdown]
# **What to notice.** A latent that stays at KL ≈ 0 (perhaps after a short excursion) is *inactive*:
# its posterior equals the prior for every image, so the decoder ignores it. Look at when the others
# leave zero: together, or at different times — the budget handed to a few latents in turn? Then a
# drop of the reconstruction curve should come with each new latent switching on; the last line
# above compares the steepest drop with the nearest onset. Burgess et al. show such a staircase in
# their plot of KL per latent as the capacity grows: the first latents to switch on encode position,
# the next ones scale, and shape and orientation come last.
#
# ## 5 · Which factor does each latent encode?
#
# To name the latents we use the ground truth. Encode `P.num_samples` random images, cut each mean
# code $c_d = \mu_d(x)$ into 20 equal-width bins, and compute the mutual information with each
# factor $y_k$, normalised by the factor's entropy:
#
# $$
# \mathrm{NMI}_{dk} = \frac{I(c_d; y_k)}{H(y_k)} \in [0, 1].
# $$
#
# $\mathrm{NMI}_{dk} = 1$ means that latent $d$ determines factor $k$; 0 means they are independent.
# The normalisation makes a 3-class factor (shape, $H = \log 3$ nats) comparable with a 32-class one
# (position, $\log 32$). Each active latent is matched to the factor with the largest NMI
# (`course_lib.analysis.factor_matching`; MIG, notebook 08, uses the same matrix).

# %%
data = DSprites("binary")
factors, images = data.sample(P.num_samples, random_state)
means, log_vars = encode(run.model, images)
kl = kl_per_latent(means, log_vars)
nmi = normalized_mutual_information(means, factors, num_bins=20)
matches = match_latents_to_factors(nmi, data.factor_names, kl=kl, kl_threshold=THRESHOLD)
by_kl = np.argsort(-kl)  # latents by decreasing KL: the active ones first

# %%
fig, ax = plt.subplots(figsize=(6.5, 4.6), layout="constrained")
image = ax.imshow(nmi[by_kl], cmap="viridis", vmin=0, vmax=1)
ax.set_xticks(range(len(data.factor_names)), data.factor_names, rotation=30)
ax.set_yticks(range(len(kl)), [f"z{d} (KL {kl[d]:.1f})" for d in by_kl])
for (row, k), value in np.ndenumerate(nmi[by_kl]):
    ax.text(k, row, f"{value:.2f}", ha="center", va="center", color="w" if value < 0.5 else "k", fontsize=8)
fig.colorbar(image, label="I(c_d; y_k) / H(y_k)")
ax.set_title("Normalised MI between mean codes and factors (latents by KL)")
plt.show()
best = nmi.max(axis=1).argmax()
active = matches[matches["active"]]
lines = [f"The largest NMI is {nmi.max():.2f} ({matches['factor'][best]}, z{best}); "
         + (f"the median gap of the {len(active)} active latents is {active['gap'].median():.2f}." if len(active)
            else f"no latent is active (KL above {THRESHOLD} nats).")]
if len(active):
    positions = active[active["factor"].str.startswith("position")]
    late = pd.Series(nmi[active.index].max(axis=0), data.factor_names)[["shape", "orientation"]]
    lines += [f"{len(positions)} active latents are matched to a position, {positions['runner_up'].str.startswith('position').sum()} "
              "of them with the other position as runner-up.",
              f"The largest NMI of an active latent with shape is {late['shape']:.2f}, with orientation {late['orientation']:.2f}."]
display(Markdown(notice(lines, heading="**This run.**")))
matches.loc[by_kl].round(2)

# %% [markdown]
# **What to notice.**
# * Small NMIs everywhere say that the latents **mix** factors, as a young model's do. A latent
#   matched to position_x with position_y as runner-up moves the sprite *diagonally* (Section 7): a
#   rotated position code. The **gap** column measures how clear a match is; a small gap means
#   "undecided".
# * Shape and orientation are the last factors to be encoded in Burgess et al.'s order (the last line
#   above gives their best NMIs here). Orientation is hard for every model — for the square and the ellipse it is not even
#   identifiable from the image (notebook 00) — and shape is three classes hidden in a few edge pixels.
# * An inactive latent can still show some NMI: its mean code may drift with a factor while its
#   posterior noise, which the NMI of mean codes ignores, keeps the decoder from using it (its KL
#   is what says it carries next to nothing). Exercise 4 repeats the matching on sampled codes.
# * The paper's trained models show one bright cell per active latent; compare this run's matrix
#   with that picture.
#
# ## 6 · The order of encoding
#
# Now combine the two: for each active latent, the first step at which its (smoothed) KL reaches
# `THRESHOLD` nats, labelled with the factor it ends up encoding, and the capacity $C(t)$ at that
# moment.

# %%
plot_encoding_order(log, matches, THRESHOLD, smooth=SMOOTH, factor_names=data.factor_names,
                    capacity=lambda step: capacity(step, C_MAX, ANNEALING_STEPS))
plt.show()
onsets = kl_onset_steps(log, THRESHOLD, smooth=SMOOTH)
timed = onsets[matches["active"]].dropna().sort_values()
print("order of encoding:", " → ".join(f"{matches.loc[d, 'factor']} (z{d})" for d in timed.index) or "none")
at_capacity = {d: capacity(step, C_MAX, ANNEALING_STEPS) for d, step in timed.items()}
print("capacity C(t) at each onset:", ", ".join(f"z{d} ({matches.loc[d, 'factor']}) {c:.1f} nats"
                                                 for d, c in at_capacity.items()) or "none")

# %%
unmatched = [f for f in data.factor_names if f not in set(matches.loc[matches["active"], "factor"])]
lines = ["No active latent is matched to " + ", ".join(unmatched) + "." if unmatched
         else "Every factor has an active latent matched to it."]
if len(timed):
    d = timed.index[0]
    position = matches.loc[d, "factor"].startswith("position")
    lines.insert(0, f"The first latent to switch on, z{d}, is matched to {matches.loc[d, 'factor']} (NMI "
                 f"{matches.loc[d, 'nmi']:.2f}), at C(t) = {at_capacity[d]:.1f} nats: "
                 + ("a position, as in Burgess et al.'s order." if position else "not a position, unlike Burgess et al.'s order."))
display(Markdown(notice(lines, heading="**This run.**")))

# %% [markdown]
# **What to notice.**
# * Read the right panel from top to bottom: it is the order in which the model "discovered" the
#   factors as its budget grew. Burgess et al. report **position first**, **then scale**, **then
#   shape and orientation**. The printout and the lines above give this run's order, the capacity at
#   each onset, and the factors no latent has taken up yet.
# * The reason offered in the paper: with only a few nats available, encoding the position
#   reduces the pixel reconstruction error the most (moving the sprite changes up to twice its area
#   in pixels), while a change of scale changes only a rim and a rotation of a small sprite a
#   handful of pixels (Exercise 2 measures this on the data).
# * Read it with the NMI values: where the matches are weak (Section 5), "position first" means
#   "the first latents carry mostly position", not a clean one-factor code.
# * One seed is one draw. Other seeds change which *latent* gets which factor, and can change the
#   order; run the notebook with another `seed` to see how stable this run's order is (at `lecture`,
#   for a seed the zoo does not hold, the notebook trains its models itself, at the profile's
#   `P.train_steps`).
#
# ## 7 · Latent traversals
#
# Finally, what the active latents *do* to an image: each row starts from the code of one image
# and moves one latent across the 5 %–95 % range of its mean codes (latents sorted by KL).

# %%
traversals, order = latent_traversals(run.model, images[0], (means, log_vars), num_steps=10)
plot_traversals(traversals, order, kl)
plt.suptitle(f"AnnealedVAE latent traversals ({STEPS:,} steps; rows sorted by KL)")
plt.show()
print("matched factors, top to bottom:", [f"z{d}: {matches.loc[d, 'factor'] if matches.loc[d, 'active'] else '-'}"
                                          for d in order])

# %% [markdown]
# **What to notice.** Ask of each active row whether it moves the sprite (position — along one axis,
# or diagonally, x and y together), grows or shrinks it (scale), or does a mixture of both; the
# inactive rows do nothing at all. Compare with the matched factors printed below the figure. A
# decoder that has not yet learned edges draws blurry blobs, and then no row can show shape or
# orientation.

# %% [markdown]
# ### Exercise 1
#
# A dSprites image is determined by its five factors, and the grid holds $N = 737{,}280$ images
# drawn uniformly. Using $I_q(x; z) \le H(x)$ and the decomposition of Section 1, give a lower bound
# on $\mathrm{KL}(q(z) \,\|\, p(z))$ — the mismatch between the aggregate posterior and the prior —
# for an AnnealedVAE whose average KL sits at $C_{\max}$, for each $C_{\max}$ of the study's sweep.
# How many nats would each factor cost if it were encoded exactly? (Use `data.factors_num_values`.)

# %% tags=["solution"]
entropy_x = np.log(data.num_images)  # H(x): uniform over the grid
print(f"H(x) = log {data.num_images:,} = {entropy_x:.2f} nats")
for name, n in zip(data.factor_names, data.factors_num_values):
    print(f"  {name:<12} log {n:>2} = {np.log(n):.2f} nats")
for c_max in STUDY_SWEEPS["annealed_vae"][1]:
    print(f"C_max = {c_max:>3}: KL(q(z) || p(z)) >= {max(0.0, c_max - entropy_x):6.2f} nats")

# %% [markdown] tags=["solution"]
# The whole dataset holds $\log 737{,}280 \approx 13.5$ nats (the five factors' $\log n_k$ add up
# to it: the grid is their product). Since $I_q(x; z) \le 13.5$, a model that spends
# $C_{\max} = 25$ nats must put at least 11.5 of them into $\mathrm{KL}(q(z)\|p(z))$: posteriors that
# are narrower than needed, or an aggregate posterior that is not $\mathcal N(0, I)$. At
# $C_{\max} = 100$ at least 86.5 nats are "wasted" that way. So the capacity is an upper bound on
# the information, not the information itself: $C_{\max}$ controls how sharp the code may be, and
# values far above 13.5 nats still change the model.

# %% [markdown]
# ### Exercise 2
#
# Why position first? Burgess et al. argue that with a small budget the encoder spends its nats where
# they reduce the reconstruction error most. Estimate, for each factor $k$, the average number of
# pixels that change when factor $k$ alone is redrawn uniformly (the others fixed), over
# `P.num_samples` random images, and divide by the nats that factor costs, $\log n_k$. Rank the
# factors by "pixels per nat". Does the ranking predict the order of Section 6?

# %% tags=["solution"]
base = data.sample_factors(P.num_samples, random_state)
rows = []
for k, (name, n) in enumerate(zip(data.factor_names, data.factors_num_values)):
    moved = base.copy()
    moved[:, k] = random_state.randint(n, size=len(base))
    before, after = data.binary_images_at(data.index_of(base)), data.binary_images_at(data.index_of(moved))
    changed = (before != after).sum(axis=(1, 2))
    rows.append({"factor": name, "pixels changed": changed.mean(), "nats (log n_k)": np.log(n),
                 "pixels per nat": changed.mean() / np.log(n)})
ranking = pd.DataFrame(rows).set_index("factor").sort_values("pixels per nat", ascending=False)
display(Markdown(notice([f"by {c}: " + " > ".join(f"{f} ({v:.0f})" for f, v in ranking[c].sort_values(ascending=False).items())
                         for c in ("pixels changed", "pixels per nat")], heading="**This run** (the factors ranked):")))
ranking.round(1)

# %% [markdown] tags=["solution"]
# Redrawing a position moves the whole sprite, usually by more than its own width, so about twice
# its area in pixels changes; scale changes only the rim of the sprite; orientation and shape change
# edge pixels. The rankings above show how this plays out on the drawn images: a factor at the top
# of both is the first one Burgess et al.'s order predicts. Per nat, shape is cheap ($\log 3$) and
# orientation expensive ($\log 40$), which moves shape up and orientation down; where two factors'
# pixels per nat are close, the heuristic cannot separate them. Does the ranking match the order of
# Section 6? It is only a heuristic: the decoder's error is measured in Bernoulli log-likelihood,
# not in changed pixels; a latent can encode a factor partially (a coarse position costs fewer
# nats); and what a young decoder can *draw* matters too — a blurry blob can show size long before
# it can show a heart.

# %% [markdown]
# ### Exercise 3
#
# Train the same AnnealedVAE with the study's $\gamma = 1000$ (`STUDY_GAMMA`) at this profile's
# size (for runs of 100,000 steps or more this is the model above). Compare it with the section's model:
# the reconstruction error over training, how closely the KL follows $C(t)$, the KL per latent,
# and the factor each active latent is matched to. Where did the $\gamma = 1000$ model put its nats?

# %% tags=["solution"]
study_config = lecture_config("annealed_vae", {"c_max": C_MAX, "gamma": STUDY_GAMMA, "annealing_steps": ANNEALING_STEPS},
                              P, seed)
study_run = train_or_load(study_config, device=DEVICE)
study_log = study_run.log
fig, axes = plt.subplots(1, 2, figsize=(12, 3.6), layout="constrained")
for name, run_log in {f"γ = {GAMMA:g}": log, f"γ = {STUDY_GAMMA:g}": study_log}.items():
    gap = run_log["kl"] - run_log["capacity"]
    axes[0].plot(run_log["step"], run_log["reconstruction"].rolling(SMOOTH, min_periods=1).mean(), label=name)
    axes[1].plot(run_log["step"], gap.rolling(SMOOTH, min_periods=1).mean(), label=name)
    print(f"{name}: mean |KL - C| {gap.abs().mean():.3f} nats; final reconstruction "
          f"{run_log['reconstruction'].iloc[-SMOOTH:].mean():.1f} nats")
axes[0].set(xlabel="training step", ylabel="nats", title="reconstruction error (smoothed)")
axes[1].set(xlabel="training step", ylabel="nats", title="KL − C(t) (smoothed)")
axes[0].legend()
plt.show()

# %% tags=["solution"]
plot_kl_per_latent(study_log)
plt.show()
study_means, study_log_vars = encode(study_run.model, images)
study_kl = kl_per_latent(study_means, study_log_vars)
study_matches = match_latents_to_factors(normalized_mutual_information(study_means, factors), data.factor_names,
                                         study_kl, THRESHOLD)
lines = [] if GAMMA != STUDY_GAMMA else [f"At {STEPS:,} steps the section's model already uses γ = {STUDY_GAMMA:g}: "
                                         "the two are the same run."]
for name, m in {f"γ = {GAMMA:g}": matches, f"γ = {STUDY_GAMMA:g}": study_matches}.items():
    taken = m.loc[m["active"], "factor"].value_counts()
    lines.append(f"{name}: {m['active'].sum()} active latents, matched to "
                 + (", ".join(f"{f} ×{n}" for f, n in taken.items()) or "nothing") + f"; largest NMI {m['nmi'].max():.2f}")
display(Markdown(notice(lines, heading="**This run.**")))
study_matches.sort_values("kl", ascending=False).round(2)

# %% [markdown] tags=["solution"]
# With $\gamma = 1000$ the KL should follow $C(t)$ even more tightly (the printout gives each model's
# mean $|\mathrm{KL} - C|$). The danger in a short run, where the target rises fast: the cheapest way
# to follow it is to narrow every posterior, which costs no information, rather than to learn to
# reconstruct. Its signs: a final reconstruction far above the $\gamma = 30$ model's (the decoder
# still draws the blurry average blob of the plateau), KL per latent rising in fixed proportions in
# many latents at once — no staircase — and what information there is the same in every latent, all
# of them matched to one factor. Scale is the likely one: how large (how bright) the sprite is,
# something a convolutional encoder computes easily without learning where it is. The printout, the
# figure and the lines above say whether this run shows them. Where it does, the nats were spent and
# the reconstruction was not helped: capacity is an upper bound on information, not information
# (Exercise 1). In the paper's setting, 25 nats over 100,000 steps, the same $\gamma$ works, because
# the slow ramp leaves the reconstruction time to decide where the nats go — which is why runs of
# 100,000 steps or more use $\gamma = 1000$ in the section, and the comparison is then empty.

# %% [markdown]
# ### Exercise 4
#
# The matching depends on choices: the number of bins, and the use of the *mean* code. Recompute the
# matched factor of every active latent with 10 and 50 bins, and with *sampled* codes
# $z = \mu + \sigma\,\varepsilon$ instead of means. Which matches are robust?

# %% tags=["solution"]
sampled = means + np.exp(0.5 * log_vars) * random_state.randn(*means.shape)
variants = {"mean, 20 bins": (means, 20), "mean, 10 bins": (means, 10), "mean, 50 bins": (means, 50),
            "sampled, 20 bins": (sampled, 20)}
table = pd.DataFrame({label: match_latents_to_factors(normalized_mutual_information(codes, factors, bins),
                                                      data.factor_names)["factor"]
                      for label, (codes, bins) in variants.items()})[matches["active"]]
robust = table.nunique(axis=1) == 1
display(Markdown(notice([
    "The same factor under every variant: " + (", ".join(f"z{d} ({table.loc[d].iloc[0]})" for d in robust[robust].index) or "none") + ".",
    "Latents whose factor changes between variants: " + (", ".join(f"z{d}" for d in robust[~robust].index) or "none") + ".",
], heading="**This run** (active latents):")))
table

# %% [markdown] tags=["solution"]
# Latents with a clear match (a large NMI gap) should keep their factor under every choice; the lines
# above list which of this run's do (compare with their gaps in Section 5). The sampled codes add
# the posterior noise $\sigma\varepsilon$, which lowers every NMI and can change the largest one
# of a latent that mixes two factors — those matches flip between variants and should be treated
# as undecided. More bins resolve finer structure but need more samples: with few samples per bin
# the plug-in estimate of $I$ is biased upwards (the study uses 20 bins).

# %% [markdown]
# ## Summary
#
# * The averaged KL term equals $I_q(x; z) + \mathrm{KL}(q(z)\|p(z))$ and so bounds the information
#   the code carries: it is a channel capacity.
# * AnnealedVAE replaces β-VAE's price per nat by a budget: $\gamma\,|\mathrm{KL} - C(t)|$ with $C$
#   rising linearly to $C_{\max}$; a large $\gamma$ makes the KL follow the schedule.
# * As the budget grows, latents switch on one at a time; matching each to the factor it is most
#   informative about shows the order in which factors are encoded — position first in the paper,
#   then scale, then shape and orientation — and counting the pixels each factor moves suggests why.
# * A short run needs a smaller $\gamma$ than the study's: with a fast-rising target and
#   $\gamma = 1000$ the KL can be spent on narrow posteriors rather than on information.
#
# **Next:** notebook 04 changes *what* is penalised rather than how much: FactorVAE targets the
# dependence between latents, the total correlation.
#
# ## References
#
# * C. P. Burgess, I. Higgins, A. Pal, L. Matthey, N. Watters, G. Desjardins, A. Lerchner.
#   *Understanding disentangling in β-VAE.* NIPS Workshop on Learning Disentangled Representations, 2017
#   (arXiv:1804.03599, 2018).
# * I. Higgins, L. Matthey, A. Pal, C. Burgess, X. Glorot, M. Botvinick, S. Mohamed, A. Lerchner.
#   *β-VAE: Learning Basic Visual Concepts with a Constrained Variational Framework.* ICLR 2017.
# * N. Tishby, F. C. Pereira, W. Bialek. *The Information Bottleneck Method.* Proc. 37th Annual Allerton
#   Conference on Communication, Control and Computing, 1999 (arXiv:physics/0004057, 2000).
# * A. Alemi, I. Fischer, J. Dillon, K. Murphy. *Deep Variational Information Bottleneck.* ICLR 2017.
# * F. Locatello, S. Bauer, M. Lucic, G. Rätsch, S. Gelly, B. Schölkopf, O. Bachem. *Challenging
#   Common Assumptions in the Unsupervised Learning of Disentangled Representations.* ICML 2019.
# * R. T. Q. Chen, X. Li, R. Grosse, D. Duvenaud. *Isolating Sources of Disentanglement in VAEs.*
#   NeurIPS 2018 (MIG, the normalised mutual information used here).
