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
