"""DCI: Disentanglement, Completeness, Informativeness (Eastwood & Williams 2018, "A Framework for
the Quantitative Evaluation of Disentangled Representations").

One classifier per factor k predicts y_k from the whole code; its feature importances form the
column R[:, k] of the importance matrix R (D codes x K factors). With P_dk = R_dk / sum_k R_dk and
Q_dk = R_dk / sum_d R_dk:

    disentanglement = sum_d rho_d (1 - H_K(P_d.)),   rho_d = sum_k R_dk / sum R
    completeness    = sum_k rho_k (1 - H_D(Q_.k)),   rho_k = sum_d R_dk / sum R
    informativeness = the classifiers' accuracy (train and test), averaged over factors

(H_K, H_D: entropies in base K and D, so each term is in [0, 1]; a code dimension that matters for
nothing gets weight 0.)

The study's estimator (disentanglement_lib) is scikit-learn's `GradientBoostingClassifier()` with its
defaults and impurity importances: `estimator="sklearn"` reproduces it, and takes minutes on a
10,000 x 10 dSprites code (one 100-stage boosting per class: 113 classes). The default
`estimator="lightgbm"` boosts the same trees (100 rounds, learning rate 0.1, depth 3, no
regularisation, no subsampling) with LightGBM's histogram splits and total-gain importances, in
seconds. The two give close, not identical, numbers: benchmarks/bench_metrics.py prints both.
One place where they differ in kind: two identical code dimensions. LightGBM breaks the tie the same
way in every tree, so all importance goes to one copy (completeness 1); scikit-learn's trees draw
among tied features at random, splitting the importance (completeness ~0.7), as the definition
intends.
"""
from __future__ import annotations

import numpy as np
import scipy.stats
from lightgbm import LGBMClassifier
from sklearn.ensemble import GradientBoostingClassifier

from course_lib.checks import check_choice
from course_lib.metrics.utils import check_train_test

ESTIMATORS = ("lightgbm", "sklearn")


def _classifier(estimator: str):
    if estimator == "sklearn":
        return GradientBoostingClassifier()  # disentanglement_lib: every default
    return LGBMClassifier(n_estimators=100, learning_rate=0.1, max_depth=3, num_leaves=8, min_child_samples=1,
                          min_child_weight=1e-3, reg_lambda=0.0, subsample=1.0, colsample_bytree=1.0,
                          importance_type="gain", n_jobs=1, deterministic=True, force_row_wise=True,
                          random_state=0, verbose=-1)


def importance_matrix(codes_train, factors_train, codes_test, factors_test,
                      estimator: str = "lightgbm") -> tuple[np.ndarray, float, float]:
    """(R (D, K) of non-negative importances, mean train accuracy, mean test accuracy)."""
    check_choice("estimator", estimator, ESTIMATORS)
    codes_train, factors_train, codes_test, factors_test = check_train_test(
        codes_train, factors_train, codes_test, factors_test, min_dims=2)
    if factors_train.shape[1] < 2:
        raise ValueError(f"factors_train has {factors_train.shape[1]} column; DCI needs K >= 2 factors")
    importances, train_accuracy, test_accuracy = [], [], []
    for factor_train, factor_test in zip(factors_train.T, factors_test.T):
        model = _classifier(estimator).fit(codes_train, factor_train)
        importance = np.abs(model.feature_importances_).astype(np.float64)  # sklearn's already sum to 1
        importances.append(importance / importance.sum() if importance.sum() > 0 else importance)
        train_accuracy.append(np.mean(model.predict(codes_train) == factor_train))
        test_accuracy.append(np.mean(model.predict(codes_test) == factor_test))
    return np.stack(importances, axis=1), float(np.mean(train_accuracy)), float(np.mean(test_accuracy))


def _weighted_one_minus_entropy(weights: np.ndarray) -> float:
    """sum_i rho_i (1 - H_n(p_i)) over the rows i of a non-negative (rows, n) matrix."""
    if weights.sum() == 0:  # nothing is important: every row counts the same (disentanglement_lib)
        weights = np.ones_like(weights)
    per_row = 1.0 - scipy.stats.entropy(weights.T + 1e-11, base=weights.shape[1])
    return float(np.sum(per_row * weights.sum(axis=1) / weights.sum()))


def disentanglement(importances: np.ndarray) -> float:
    """sum_d rho_d (1 - H_K(P_d.)): each code dimension should matter for one factor only."""
    return _weighted_one_minus_entropy(np.asarray(importances, dtype=np.float64))


def completeness(importances: np.ndarray) -> float:
    """sum_k rho_k (1 - H_D(Q_.k)): each factor should be captured by one code dimension only."""
    return _weighted_one_minus_entropy(np.asarray(importances, dtype=np.float64).T)


def dci(codes_train, factors_train, codes_test, factors_test, estimator: str = "lightgbm") -> dict[str, float]:
    """{disentanglement, completeness, informativeness_train, informativeness_test}, each in [0, 1]."""
    importances, train_accuracy, test_accuracy = importance_matrix(codes_train, factors_train, codes_test,
                                                                   factors_test, estimator)
    return {"disentanglement": disentanglement(importances), "completeness": completeness(importances),
            "informativeness_train": train_accuracy, "informativeness_test": test_accuracy}
