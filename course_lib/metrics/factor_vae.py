"""The FactorVAE score (Kim & Mnih 2018, "Disentangling by Factorising"), with disentanglement_lib's
settings.

Normalise each code dimension by its standard deviation over the data (estimated on
`num_variance_estimate` draws) and drop the dimensions whose deviation is below `threshold` (collapsed
to the prior's mean). One vote: pick a factor k uniformly, draw `batch_size` factor vectors that all
share factor k's value, encode them, and vote (k, d*) with

    d* = argmin_d Var_batch[c_d] / Var_data[c_d]   over the active dimensions.

The classifier maps each dimension d to its majority factor; the score is its accuracy (the share of
votes that agree with the majority), on the training votes and on fresh evaluation votes.

Difference from disentanglement_lib: it reports `num_active_dims` as the number of all dimensions (it
takes the length of the boolean mask); here it is the number of active ones.
"""
from __future__ import annotations

import numpy as np
from tqdm.auto import trange

from course_lib.checks import check_int, check_number
from course_lib.data import GroundTruthData
from course_lib.metrics.sampling import Encode, encode_checked
from course_lib.seeding import as_random_state


def factor_vae_votes(dataset: GroundTruthData, encode: Encode, num_votes: int, random_state, scale: np.ndarray,
                     active: np.ndarray, batch_size: int = 64, progress: bool = True) -> np.ndarray:
    """Vote counts (K factors, number of active dimensions)."""
    num_votes = check_int("num_votes", num_votes, 1)
    batch_size = check_int("batch_size", batch_size, 2)
    random_state = as_random_state(random_state)
    votes = np.zeros((dataset.num_factors, int(active.sum())), dtype=np.int64)
    for _ in trange(num_votes, desc="FactorVAE score votes", disable=not progress, leave=False):
        factor = random_state.randint(dataset.num_factors)
        factors = dataset.sample_factors(batch_size, random_state)
        factors[:, factor] = factors[0, factor]
        codes = encode_checked(encode, dataset.sample_observations_from_factors(factors, random_state))
        local_variance = np.var(codes, axis=0, ddof=1)
        votes[factor, np.argmin(local_variance[active] / scale[active] ** 2)] += 1
    return votes


def factor_vae_score(dataset: GroundTruthData, encode: Encode, random_state, batch_size: int = 64,
                     num_train: int = 10_000, num_eval: int = 5_000, num_variance_estimate: int = 10_000,
                     threshold: float = 0.05, progress: bool = True) -> dict[str, float]:
    """{train_accuracy, eval_accuracy, num_active_dims}; both accuracies are 0 when no dimension is active."""
    check_number("threshold", threshold, 0)
    random_state = as_random_state(random_state)
    num_variance_estimate = check_int("num_variance_estimate", num_variance_estimate, 2)
    _, observations = dataset.sample(num_variance_estimate, random_state)
    scale = np.std(encode_checked(encode, observations), axis=0, ddof=1)
    active = (scale >= threshold) & (scale > 0)  # a constant dimension never votes (at threshold 0 it would: 0/0)
    if not active.any():
        return {"train_accuracy": 0.0, "eval_accuracy": 0.0, "num_active_dims": 0}
    train_votes = factor_vae_votes(dataset, encode, num_train, random_state, scale, active, batch_size, progress)
    eval_votes = factor_vae_votes(dataset, encode, num_eval, random_state, scale, active, batch_size, progress)
    majority = train_votes.argmax(axis=0)  # each active dimension's factor
    dims = np.arange(len(majority))
    return {"train_accuracy": float(train_votes[majority, dims].sum() / train_votes.sum()),
            "eval_accuracy": float(eval_votes[majority, dims].sum() / eval_votes.sum()),
            "num_active_dims": int(active.sum())}
