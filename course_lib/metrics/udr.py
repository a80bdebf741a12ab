"""Unsupervised Disentanglement Ranking (Duan et al. 2020, "Unsupervised Model Selection for
Variational Disentangled Representation Learning"), as disentanglement_lib computes it.

Idea: disentangled models trained with different seeds agree with each other up to permutation
and sign of their latents; entangled ones each find their own rotation. For models i and j encoded
on the same observations, R_ij[a, b] measures how well latent a of model i explains latent b of
model j (Lasso regression coefficients, "UDR_L", the study's choice; or Spearman correlations,
"UDR_S"), on standardised means, keeping only the informative latents (mean KL to the prior >
0.01). An uninformative latent is zeroed before the regression, not only dropped from R after it: a
collapsed latent's mean still carries a trace of the factors, and once standardised it would compete
with the informative latents for the Lasso's coefficients. The similarity of the pair is the relative strength

    S(R) = 1/2 [ mean_b max_a R[a, b]^2 / sum_a R[a, b]  +  mean_a max_b R[a, b]^2 / sum_b R[a, b] ]

(|R| entries; a column or row of zeros counts 0), which is 1 for a signed permutation; a model's
UDR is the median of its similarities to the other models. (The paper weighs the two halves of S by
the models' numbers of informative latents; disentanglement_lib, and so this module, takes their mean.)
"""
from __future__ import annotations

import numpy as np
import scipy.stats
from sklearn.linear_model import Lasso
from sklearn.preprocessing import StandardScaler

from course_lib.checks import check_choice, check_int
from course_lib.metrics.utils import check_codes
from course_lib.seeding import as_random_state

CORRELATIONS = ("lasso", "spearman")


def relative_strength(similarity) -> float:
    """S(R) above: 1 for a (signed) permutation matrix, 1/D for a D x D matrix of equal entries."""
    matrix = np.abs(np.asarray(similarity, dtype=np.float64))
    if matrix.ndim != 2 or 0 in matrix.shape:
        return 0.0  # a model with no informative latent agrees with nothing

    def one_side(m):
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.nanmean(np.nan_to_num(m.max(axis=0) ** 2 / m.sum(axis=0), nan=0.0))

    return float((one_side(matrix) + one_side(matrix.T)) / 2)


def similarity_matrix(codes_a, codes_b, correlation: str = "lasso", random_state=0) -> np.ndarray:
    """R (D_a, D_b): Lasso(alpha = 0.1) coefficients of codes_b on codes_a, or Spearman correlations."""
    if correlation == "lasso":
        return Lasso(alpha=0.1, random_state=as_random_state(random_state)).fit(codes_a, codes_b).coef_.T
    ranks_a, ranks_b = scipy.stats.rankdata(codes_a, axis=0), scipy.stats.rankdata(codes_b, axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):  # a constant latent has no correlation: nan -> 0
        correlations = np.corrcoef(ranks_a.T, ranks_b.T)  # Spearman = Pearson on ranks
    return np.nan_to_num(correlations[:codes_a.shape[1], codes_a.shape[1]:], nan=0.0)


def udr(means, log_vars, correlation: str = "lasso", kl_threshold: float = 0.01, random_state=0) -> dict:
    """{pairwise (M, M) similarities, model_scores (M,)} for M >= 2 models' posteriors on the same inputs.

    means, log_vars: lists of (N, D_m) arrays, one per model, rows the same observations.
    """
    check_choice("correlation", correlation, CORRELATIONS)
    if len(means) < 2 or len(means) != len(log_vars):
        raise ValueError(f"means and log_vars must list the same M >= 2 models; got {len(means)} and {len(log_vars)}")
    means = [check_codes(m, f"means[{i}]") for i, m in enumerate(means)]
    log_vars = [check_codes(v, f"log_vars[{i}]") for i, v in enumerate(log_vars)]
    if len({len(m) for m in means + log_vars}) != 1 or any(m.shape != v.shape for m, v in zip(means, log_vars)):
        raise ValueError("every model's means and log_vars must be (N, D) on the same N observations")
    informative = [np.mean(0.5 * (m**2 + np.exp(v) - v - 1), axis=0) > kl_threshold for m, v in zip(means, log_vars)]
    standardised = [StandardScaler().fit_transform(m) * keep for m, keep in zip(means, informative)]
    num_models = len(means)
    pairwise = np.zeros((num_models, num_models))
    for i in range(num_models):
        for j in range(num_models):
            similarity = similarity_matrix(standardised[i], standardised[j], correlation, random_state)
            pairwise[i, j] = relative_strength(similarity[informative[i]][:, informative[j]])
    scores = np.array([np.median(np.delete(pairwise[:, i], i)) for i in range(num_models)])
    return {"pairwise": pairwise, "model_scores": scores}


def udr_score(dataset, encoders, random_state, num_points: int = 1000, **kwargs) -> dict:
    """UDR of models given as `encoders` (observations -> (means, log_vars)) on `num_points` shared draws.

    The study's setting: 1,000 points, Lasso, KL filter 0.01. `kwargs` go to `udr`.
    """
    num_points = check_int("num_points", num_points, 2)
    _, observations = dataset.sample(num_points, as_random_state(random_state))
    posteriors = [encoder(observations) for encoder in encoders]
    return udr([m for m, _ in posteriors], [v for _, v in posteriors], random_state=random_state, **kwargs)
