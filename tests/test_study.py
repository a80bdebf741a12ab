"""Sweep analyses on constructed results tables whose answers are known."""
import itertools

import numpy as np
import pandas as pd
import pytest

from course_lib.study import (hyperparameter_transfer, rank_correlation, score_agreement, tc_by_regularisation,
                              variance_explained)

METHODS = {"beta_vae": 0.2, "factor_vae": 0.5, "dip_vae_i": 0.8}


def results(seed_noise=0.0, value_effect=0.0, method_effect=1.0, seed=0):
    """A row per (method, value, seed): mig = method_effect * m + value_effect * v + seed_noise * noise."""
    rng = np.random.RandomState(seed)
    rows = []
    for (method, level), value, s in itertools.product(METHODS.items(), (1, 2, 4), (0, 1, 2)):
        rows.append({"method": method, "value": value, "seed": s, "status": "ok",
                     "mig.score": method_effect * level + value_effect * value + seed_noise * rng.randn(),
                     "elbo": -100 + 10 * level, "tc_mean": value * level, "tc_sampled": 0.1 * value})
    rows.append({"method": "vae", "value": None, "seed": 0, "status": "failed"})  # ignored
    return pd.DataFrame(rows)


def test_variance_explained_separates_objective_hyperparameter_and_seed():
    by_method = variance_explained(results(), ["mig.score"]).loc["MIG"]
    assert by_method["objective"] == pytest.approx(1.0) and by_method["objective x hyperparameter"] == pytest.approx(1.0)
    by_value = variance_explained(results(method_effect=0.0, value_effect=1.0), ["mig.score"]).loc["MIG"]
    assert by_value["objective"] == pytest.approx(0.0) and by_value["objective x hyperparameter"] == pytest.approx(1.0)
    by_seed = variance_explained(results(method_effect=0.0, seed_noise=1.0), ["mig.score"]).loc["MIG"]
    assert by_seed["objective"] < 0.3 and by_seed["objective x hyperparameter"] < 0.7


def test_tc_by_regularisation_and_score_agreement():
    tc = tc_by_regularisation(results())
    assert len(tc) == 9 and tc.set_index(["method", "value"]).loc[("factor_vae", 4), "tc_mean"] == pytest.approx(2.0)
    agreement = score_agreement(results(), unsupervised=["elbo"], supervised=["mig.score"])
    assert agreement.loc["elbo", "MIG"] == pytest.approx(1.0)  # elbo and MIG both follow the method
    assert rank_correlation(results(), ["mig.score", "elbo"]).loc["MIG", "elbo"] == pytest.approx(1.0)


def test_hyperparameter_transfer_is_perfect_without_seed_noise_and_not_with_it():
    exact = hyperparameter_transfer(results(value_effect=1.0), "mig.score")
    assert (exact["agreement"] == 1.0).all() and (exact["regret"] == 0.0).all()
    assert (exact["random_regret"] > 0).all() and (exact["num_seed_pairs"] == 6).all()
    noisy = hyperparameter_transfer(results(value_effect=0.0, seed_noise=1.0, seed=3), "mig.score")
    assert noisy["agreement"].mean() < 1.0 and (noisy["regret"] > 0).any()


def test_bad_columns_and_empty_tables():
    with pytest.raises(ValueError, match="not in the results table"):
        variance_explained(results(), ["dci.disentanglement"])
    with pytest.raises(ValueError, match="no finished model"):
        tc_by_regularisation(results().assign(status="failed"))
