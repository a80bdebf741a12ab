"""Downstream sample efficiency (Locatello et al. 2019, key result 5; disentanglement_lib's
"downstream task"): how well can simple predictors recover each factor from the representation
when they see few examples?

For each training size n (the study: 10, 100, 1,000, 10,000) a multinomial logistic regression and
gradient-boosted trees predict each factor from the first n training codes; the score is the test
accuracy averaged over factors. Sample efficiency = accuracy at 100 / accuracy at 10,000.

The logistic regression is disentanglement_lib's: `LogisticRegressionCV`, its inverse penalty C chosen from
ten values (1e-4 ... 1e4) by 5-fold cross-validation on the training codes. A fixed C = 1 underfits: on
FactorGrid (3, 6, 40, 32, 32) the perfect code scores 0.55 at 2,000 codes instead of 1.0, because telling 32
positions apart along one axis needs large weights (`tests/test_metrics.py`: 0.22 for one such factor).
Where this differs from disentanglement_lib: the codes are standardised first (so no score depends on the
codes' units; C's grid spans eight decades either way); its trees are scikit-learn's
GradientBoostingClassifier, here LightGBM's (the same model family, far faster); and it draws a new sample for
each size, where the sizes here are prefixes of one sample. The cross-validation fits 51 regressions per factor
and size: at the lecture study's sizes (100 and 5,000 codes) 5-11 s of one core per zoo model, the trees 4.5 s.
"""
from __future__ import annotations

import numpy as np
from lightgbm import LGBMClassifier
from sklearn.linear_model import LogisticRegressionCV
from sklearn.model_selection import KFold

from course_lib.metrics.utils import check_train_test, standardise

PREDICTORS = ("logistic_regression", "boosted_trees")
FOLDS = 5  # the cross-validation choosing the logistic regression's C: the smallest training size


def _predictor(name: str):
    if name == "logistic_regression":
        return LogisticRegressionCV(Cs=10, cv=KFold(n_splits=FOLDS), l1_ratios=(0.0,), scoring="accuracy",
                                    max_iter=1000, use_legacy_attributes=False)  # l1_ratios 0: the L2 penalty
    return LGBMClassifier(n_estimators=100, learning_rate=0.1, max_depth=3, num_leaves=8, min_child_samples=1,
                          n_jobs=1, deterministic=True, force_row_wise=True, random_state=0, verbose=-1)


def factor_accuracy(predictor: str, codes_train, factors_train, codes_test, factors_test) -> float:
    """Test accuracy averaged over factors; a factor seen with one class only is predicted as that class."""
    accuracies = []
    for factor_train, factor_test in zip(factors_train.T, factors_test.T):
        if np.unique(factor_train).size < 2:
            accuracies.append(np.mean(factor_test == factor_train[0]))
            continue
        model = _predictor(predictor).fit(codes_train, factor_train)
        accuracies.append(np.mean(model.predict(codes_test) == factor_test))
    return float(np.mean(accuracies))


def downstream(codes_train, factors_train, codes_test, factors_test, sizes=(100, 10_000),
               predictors=PREDICTORS) -> dict[str, float]:
    """{"<predictor>_<n>": accuracy, "<predictor>_efficiency": accuracy at min(sizes) / at max(sizes)}."""
    codes_train, factors_train, codes_test, factors_test = check_train_test(
        codes_train, factors_train, codes_test, factors_test)
    sizes = sorted(int(n) for n in sizes)
    if not sizes or sizes[0] < FOLDS or sizes[-1] > len(codes_train):
        raise ValueError(f"sizes={tuple(sizes)!r} is not allowed; use sizes in [{FOLDS}, {len(codes_train)}] "
                         f"(the cross-validation's {FOLDS} folds, the number of training codes)")
    unknown = [p for p in predictors if p not in PREDICTORS]
    if unknown or not predictors:
        raise ValueError(f"predictors={tuple(predictors)!r} is not allowed; choose from {PREDICTORS}")
    codes_train, codes_test = standardise(codes_train, codes_test)
    scores = {}
    for predictor in predictors:
        for n in sizes:
            scores[f"{predictor}_{n}"] = factor_accuracy(predictor, codes_train[:n], factors_train[:n], codes_test,
                                                         factors_test)
        scores[f"{predictor}_efficiency"] = scores[f"{predictor}_{sizes[0]}"] / scores[f"{predictor}_{sizes[-1]}"]
    return scores
