"""Run any set of the supervised metrics on one representation with the study's sample sizes.

Locatello et al. 2019 (disentanglement_lib): MIG from 10,000 draws; SAP, DCI and modularity /
explicitness from 10,000 training and 5,000 test draws (in batches of 16); the BetaVAE and FactorVAE
scores from 10,000 training and 5,000 evaluation points of 64-image batches (FactorVAE's variances
from 10,000 draws). `downstream` (not in the default six) adds the accuracy of logistic regression
and boosted trees trained on 100 and on all training codes. Every metric starts from its own
`RandomState(seed)`, as each of the study's evaluations did, so a metric's value does not depend on which
other metrics run beside it.

On a deterministic grid dataset (binary dSprites) images are encoded once each through an
`EncodedDataset`: the whole grid up front when the metrics draw more images than it has (at the
study's sizes the BetaVAE and FactorVAE scores draw ~3 million from a grid of 737,280), otherwise
only the images drawn.
"""
from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import pandas as pd

from course_lib.checks import check_int
from course_lib.data import GroundTruthData
from course_lib.metrics.beta_vae import beta_vae_score
from course_lib.metrics.dci import dci
from course_lib.metrics.downstream import downstream
from course_lib.metrics.factor_vae import factor_vae_score
from course_lib.metrics.mig import mig
from course_lib.metrics.modularity import modularity_explicitness
from course_lib.metrics.sampling import Encode, EncodedDataset, identity, sample_factor_codes
from course_lib.metrics.sap import sap
from course_lib.seeding import check_seed

METRICS = ("beta_vae", "factor_vae", "mig", "sap", "dci", "modularity")  # the study's six, the default
ALL_METRICS = METRICS + ("downstream",)  # + sample efficiency of predictors (key result 5)
FACTOR_CODE_BATCH = 16  # disentanglement_lib's batch size when drawing (codes, factors) for MIG, SAP, DCI, ...


def expected_draws(metrics, num_train: int, num_test: int, num_variance_estimate: int) -> int:
    """How many images the metrics draw (with repeats): 2 x 64 per BetaVAE point, 64 per FactorVAE vote."""
    per_metric = {"beta_vae": 2 * 64 * (num_train + num_test),
                  "factor_vae": 64 * (num_train + num_test) + num_variance_estimate,
                  "mig": num_train}
    return sum(per_metric.get(name, num_train + num_test) for name in metrics)


def _train_test(dataset, encode, seed, num_train, num_test):
    random_state = np.random.RandomState(seed)
    train = sample_factor_codes(dataset, encode, num_train, random_state, FACTOR_CODE_BATCH)
    return (*train, *sample_factor_codes(dataset, encode, num_test, random_state, FACTOR_CODE_BATCH))


def _run_metric(name, dataset, encode, seed, num_train, num_test, num_variance_estimate, progress):
    if name == "beta_vae":
        return beta_vae_score(dataset, encode, np.random.RandomState(seed), num_train=num_train,
                              num_eval=num_test, progress=progress)
    if name == "factor_vae":
        return factor_vae_score(dataset, encode, np.random.RandomState(seed), num_train=num_train,
                                num_eval=num_test, num_variance_estimate=num_variance_estimate, progress=progress)
    if name == "mig":
        codes, factors = sample_factor_codes(dataset, encode, num_train, np.random.RandomState(seed),
                                             FACTOR_CODE_BATCH)
        return {"score": mig(codes, factors)}
    arrays = _train_test(dataset, encode, seed, num_train, num_test)
    if name == "sap":
        return {"score": sap(*arrays)}
    if name == "downstream":
        return downstream(*arrays, sizes=(min(100, num_train), num_train))
    return dci(*arrays) if name == "dci" else modularity_explicitness(*arrays)


def check_evaluation(metrics, num_train, num_test, random_state) -> tuple[tuple, int, int, int]:
    """(metrics, num_train, num_test, seed) checked, before any model is loaded or image encoded."""
    metrics = (metrics,) if isinstance(metrics, str) else tuple(metrics)
    unknown = [m for m in metrics if m not in ALL_METRICS]
    if unknown or not metrics:
        raise ValueError(f"metrics={metrics!r} is not allowed; choose from {ALL_METRICS}")
    num_train, num_test = check_int("num_train", num_train, 2), check_int("num_test", num_test, 2)
    seed = (int(random_state.randint(2**31)) if isinstance(random_state, np.random.RandomState)
            else check_seed(random_state))
    return metrics, num_train, num_test, seed


class EvaluationStopped(Exception):
    """`evaluate`'s `stop` asked it to stop; `done` names the metrics it had finished."""

    def __init__(self, done: tuple[str, ...]):
        super().__init__(f"after {', '.join(done)}" if done else "before its first metric")
        self.done = done


def evaluate(dataset: GroundTruthData, encode: Encode, metrics=METRICS, random_state=0,
             num_train: int = 10_000, num_test: int = 5_000, num_variance_estimate: int = 10_000,
             cache_codes: bool | None = None, progress: bool = True,
             stop: Callable[[], bool] | None = None) -> pd.DataFrame:
    """One table with a row per (metric, score): columns metric, score, value, seconds.

    `random_state` is a seed, or a RandomState from which one seed is drawn. `cache_codes` (default:
    whenever the dataset allows) encodes each image at most once. `stop` (e.g. a sweep's stop signal) is asked
    before each metric (and each batch of the whole grid's encoding); when it says True, `EvaluationStopped` is
    raised: a signal waits for one metric at most.
    """
    metrics, num_train, num_test, seed = check_evaluation(metrics, num_train, num_test, random_state)
    allowed = getattr(dataset, "deterministic", False) and hasattr(dataset, "index_of")
    if cache_codes is None:
        cache_codes = allowed
    if cache_codes:
        dataset = EncodedDataset(dataset, encode, progress=progress)
        encode = identity
        if expected_draws(metrics, num_train, num_test, num_variance_estimate) > dataset.num_images:
            dataset.encode_all(stop)  # contiguous batches: cheaper than the same images one draw at a time
    rows = []
    for done, name in enumerate(metrics):
        if stop is not None and stop():
            raise EvaluationStopped(metrics[:done])
        start = time.perf_counter()
        scores = _run_metric(name, dataset, encode, seed, num_train, num_test, num_variance_estimate, progress)
        seconds = time.perf_counter() - start
        rows += [{"metric": name, "score": score, "value": value, "seconds": seconds}
                 for score, value in scores.items()]
    return pd.DataFrame(rows)
