"""The BetaVAE score (Higgins et al. 2017, "beta-VAE: Learning Basic Visual Concepts with a
Constrained Variational Framework"), with disentanglement_lib's settings.

One training point: pick a factor k uniformly, draw `batch_size` pairs of factor vectors that agree
on factor k (everything else independent), encode both images of each pair, and average the
absolute code differences over the pairs:

    z_diff = 1/L sum_l |c(x_l^1) - c(x_l^2)|,   label = k.

A dimension that encodes factor k alone is ~0 in z_diff; a linear classifier (logistic regression)
predicts k from z_diff, and the score is its accuracy on fresh points. Known failure mode: with K - 1
factors perfectly encoded and one not at all, the missing factor is the only one whose z_diff has
no zero coordinate, so the classifier still finds it and the score stays ~100 %.
"""
from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression
from tqdm.auto import trange

from course_lib.checks import check_int
from course_lib.data import GroundTruthData
from course_lib.metrics.sampling import Encode, encode_checked
from course_lib.seeding import as_random_state


def beta_vae_points(dataset: GroundTruthData, encode: Encode, num_points: int, random_state,
                    batch_size: int = 64, progress: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(z_diff (num_points, D), labels (num_points,)) drawn as disentanglement_lib draws them."""
    num_points = check_int("num_points", num_points, 1)
    batch_size = check_int("batch_size", batch_size, 1)
    random_state = as_random_state(random_state)
    points, labels = [], np.zeros(num_points, dtype=np.int64)
    for i in trange(num_points, desc="BetaVAE score points", disable=not progress, leave=False):
        labels[i] = random_state.randint(dataset.num_factors)
        first = dataset.sample_factors(batch_size, random_state)
        second = dataset.sample_factors(batch_size, random_state)
        second[:, labels[i]] = first[:, labels[i]]
        codes_first = encode_checked(encode, dataset.sample_observations_from_factors(first, random_state))
        codes_second = encode_checked(encode, dataset.sample_observations_from_factors(second, random_state))
        points.append(np.mean(np.abs(codes_first - codes_second), axis=0))
    return np.array(points), labels


def beta_vae_score(dataset: GroundTruthData, encode: Encode, random_state, batch_size: int = 64,
                   num_train: int = 10_000, num_eval: int = 5_000, progress: bool = True) -> dict[str, float]:
    """{train_accuracy, eval_accuracy} of the logistic regression from z_diff to the fixed factor."""
    random_state = as_random_state(random_state)
    train_points, train_labels = beta_vae_points(dataset, encode, num_train, random_state, batch_size, progress)
    eval_points, eval_labels = beta_vae_points(dataset, encode, num_eval, random_state, batch_size, progress)
    classifier = LogisticRegression(max_iter=1000, random_state=random_state).fit(train_points, train_labels)
    return {"train_accuracy": float(classifier.score(train_points, train_labels)),
            "eval_accuracy": float(classifier.score(eval_points, eval_labels))}
