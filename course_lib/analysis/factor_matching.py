"""Which latent encodes which ground-truth factor, and when during training it began to.

The normalised mutual information between latent d and factor k is

    NMI[d, k] = I(c_d; y_k) / H(y_k)  in [0, 1],

with c_d the d-th mean code cut into equal-width bins (`histogram_discretize`, as disentanglement_lib's
MIG does) and y_k the factor's class. It is 1 when the discretised code determines the factor and 0
when the two are independent; dividing by H(y_k) makes factors with many classes (position, 32) and
few (shape, 3) comparable. A latent is matched to the factor it is most informative about.

The *onset* of a latent is the first training step at which its KL(q(z_d|x) || p(z_d)), averaged over
the batch and smoothed over a trailing window of steps, reaches a threshold: the moment the encoder
starts sending information through it (Burgess et al. 2018 read the order in which factors are
encoded off these curves).
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from course_lib.checks import check_int, check_number
from course_lib.metrics import discrete_entropy, discrete_mutual_information, histogram_discretize

KL_PREFIX = "kl_per_latent_"


def normalized_mutual_information(codes, factors, num_bins: int = 20) -> np.ndarray:
    """NMI[d, k] = I(discretised c_d; y_k) / H(y_k), shape (D, K); 0 for a constant factor (H = 0)."""
    codes, factors = np.asarray(codes), np.asarray(factors)
    if codes.ndim != 2 or factors.ndim != 2 or len(codes) != len(factors) or len(codes) < 2:
        raise ValueError(f"codes {codes.shape} and factors {factors.shape} must be (N, D) and (N, K) "
                         "with the same N >= 2")
    mutual_information = discrete_mutual_information(histogram_discretize(codes, num_bins), factors)
    entropy = discrete_entropy(factors)
    safe = np.where(entropy > 0, entropy, 1.0)
    return np.where(entropy > 0, mutual_information / safe, 0.0).clip(0.0, 1.0)


def match_latents_to_factors(nmi, factor_names, kl=None, kl_threshold: float = 0.1) -> pd.DataFrame:
    """One row per latent: the factor with the largest NMI, that NMI, the runner-up and their gap.

    With `kl` (D,), the nats each latent carries, a column `kl` is added and `active` = kl > kl_threshold;
    without it every latent counts as active. The index is the latent's number d.
    """
    nmi = np.asarray(nmi, dtype=np.float64)
    factor_names = list(factor_names)
    if nmi.ndim != 2 or nmi.shape[1] != len(factor_names) or nmi.shape[1] < 1:
        raise ValueError(f"nmi has shape {nmi.shape}; expected (D, K) with K = {len(factor_names)} factor names")
    order = np.argsort(-nmi, axis=1, kind="stable")
    rows = np.arange(len(nmi))
    table = pd.DataFrame({"factor": [factor_names[k] for k in order[:, 0]], "nmi": nmi[rows, order[:, 0]]},
                         index=pd.RangeIndex(len(nmi), name="latent"))
    if nmi.shape[1] > 1:
        table["runner_up"] = [factor_names[k] for k in order[:, 1]]
        table["gap"] = table["nmi"] - nmi[rows, order[:, 1]]
    if kl is None:
        table["active"] = True
    else:
        kl = np.asarray(kl, dtype=np.float64)
        if kl.shape != (len(nmi),):
            raise ValueError(f"kl has shape {kl.shape}; expected ({len(nmi)},), one value per latent")
        table["kl"] = kl
        table["active"] = kl > kl_threshold
    return table


def kl_columns(log) -> list[str]:
    """The log's per-latent KL columns kl_per_latent_0, kl_per_latent_1, ... in latent order."""
    columns = sorted((c for c in log.columns if c.startswith(KL_PREFIX)), key=lambda c: int(c[len(KL_PREFIX):]))
    if not columns:
        raise ValueError(f"the log has no {KL_PREFIX}<d> columns; it has {list(log.columns)}")
    return columns


def smoothed_kl_per_latent(log, smooth: int = 1) -> pd.DataFrame:
    """(steps, D) KL per latent, indexed by step, each the trailing mean over `smooth` logged steps."""
    smooth = check_int("smooth", smooth, 1)
    columns = kl_columns(log)
    kl = log.set_index("step")[columns].sort_index()
    kl.columns = [int(c[len(KL_PREFIX):]) for c in columns]
    return kl.rolling(smooth, min_periods=1).mean()


def kl_onset_steps(log, threshold: float = 0.5, smooth: int = 1) -> pd.Series:
    """First step at which each latent's (smoothed) KL reaches `threshold` nats; NaN if it never does."""
    check_number("threshold", threshold, 0, low_open=True, finite=False, note=" of nats")
    kl = smoothed_kl_per_latent(log, smooth)
    reached = kl >= threshold
    onsets = reached.idxmax().astype(np.float64).where(reached.any())
    onsets.index.name = "latent"
    return onsets.rename("onset_step")


def factor_colors(factor_names) -> dict[str, tuple]:
    """A fixed colour per factor (matplotlib's tab10 in factor order)."""
    cmap = plt.get_cmap("tab10")
    return {name: cmap(k % 10) for k, name in enumerate(factor_names)}


def plot_encoding_order(log, matches: pd.DataFrame, threshold: float, smooth: int = 1, capacity=None,
                        factor_names=None):
    """Left: smoothed KL per active latent over training, coloured by matched factor, onsets marked.
    Right: the onset step of each active latent, earliest first, labelled with its factor.

    `matches` is `match_latents_to_factors`'s table; `capacity`, a function step -> C(step), adds
    the capacity at each onset to the labels.
    """
    kl = smoothed_kl_per_latent(log, smooth)
    onsets = kl_onset_steps(log, threshold, smooth)
    if len(matches) != kl.shape[1]:
        raise ValueError(f"matches has {len(matches)} rows; the log has {kl.shape[1]} latents")
    colors = factor_colors(factor_names if factor_names is not None else sorted(set(matches["factor"])))
    active = [d for d in kl.columns if matches.loc[d, "active"]]
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 4.2), layout="constrained",
                                      gridspec_kw={"width_ratios": [3, 2]})
    for d in kl.columns:
        if d not in active:
            left.plot(kl.index, kl[d], color="0.8", linewidth=0.8)
    for d in active:
        color = colors[matches.loc[d, "factor"]]
        left.plot(kl.index, kl[d], color=color, linewidth=1.6, label=f"z{d}: {matches.loc[d, 'factor']}")
        if np.isfinite(onsets[d]):
            left.plot(onsets[d], kl.loc[int(onsets[d]), d], "o", color=color, markersize=7, markeredgecolor="k")
    left.axhline(threshold, color="0.4", linestyle=":", linewidth=1)
    left.set(xlabel="training step", ylabel="KL per latent (nats)",
             title=f"KL per latent (grey: inactive; dots: first ≥ {threshold:g} nats)")
    if active:
        left.legend(fontsize=8, ncol=2, loc="upper left")
    timed = onsets[active].dropna().sort_values()
    for row, (d, step) in enumerate(timed.items()):
        factor = matches.loc[d, "factor"]
        right.barh(row, kl.index.max() - step, left=step, color=colors[factor], alpha=0.35)
        right.plot(step, row, "o", color=colors[factor], markeredgecolor="k")
        at = f", C = {capacity(int(step)):.1f} nats" if capacity is not None else ""
        right.annotate(f" z{d} → {factor} (NMI {matches.loc[d, 'nmi']:.2f}{at})", (step, row), va="center",
                       fontsize=9)
    right.set(xlim=(kl.index.min(), kl.index.max()), ylim=(max(len(timed), 1) - 0.5, -0.5), yticks=[],
              xlabel="training step at which the latent switches on",
              title="Order of encoding" if len(timed) else "Order of encoding (no latent reached the threshold)")
    return fig
