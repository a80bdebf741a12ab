"""Modularity and explicitness (Ridgeway & Mozer 2018, "Learning Deep Disentangled Embeddings With
the F-Statistic Loss").

Modularity: each code dimension d should carry information about one factor only. With
m_dk = I(c_d; y_k) (20-bin discretisation, nats) and theta_d = max_k m_dk,

    modularity = 1/D sum_d (1 - delta_d),   delta_d = sum_{k != k*} m_dk^2 / (theta_d^2 (K - 1)),

and, as in disentanglement_lib, a dimension with no information at all (theta_d = 0) scores 0.

Explicitness: a one-vs-rest linear read-out of each factor from the standardised code; the score is
the macro-averaged ROC AUC of a logistic regression's class probabilities, averaged over factors.
Differences from disentanglement_lib: the logistic regression is scikit-learn's current default
(multinomial, L-BFGS) run to convergence (`max_iter=1000`; theirs used the old defaults), a constant
dimension is standardised by 1 rather than divided by 0, and the test AUC scores only the classes
seen in training, in training's class order (theirs re-binarises the test labels on their own).
"""
from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.preprocessing import label_binarize

from course_lib.metrics.utils import check_train_test, discrete_mutual_information, histogram_discretize, standardise


def modularity(mutual_information) -> float:
    """Modularity of an information matrix (D codes, K factors), K >= 2."""
    squared = np.square(np.asarray(mutual_information, dtype=np.float64))
    if squared.ndim != 2 or squared.shape[1] < 2:
        raise ValueError(f"mutual_information has shape {squared.shape}; expected (D, K) with K >= 2")
    theta = squared.max(axis=1)
    informative = theta > 0
    delta = (squared.sum(axis=1) - theta)[informative] / (theta[informative] * (squared.shape[1] - 1))
    scores = np.zeros(len(theta))
    scores[informative] = 1.0 - delta
    return float(scores.mean())


def explicitness_per_factor(codes_train, factor_train, codes_test, factor_test) -> tuple[float, float]:
    """(train, test) macro ROC AUC of a logistic regression predicting one factor from the codes."""
    classifier = LogisticRegression(max_iter=1000).fit(codes_train, factor_train)

    def auc(codes, factor):
        probabilities = classifier.predict_proba(codes)
        if len(classifier.classes_) == 2:
            return roc_auc_score(factor == classifier.classes_[1], probabilities[:, 1])
        truth = label_binarize(factor, classes=classifier.classes_)
        present = truth.any(axis=0) & ~truth.all(axis=0)  # an AUC needs positives and negatives
        return roc_auc_score(truth[:, present], probabilities[:, present], average="macro")

    return float(auc(codes_train, factor_train)), float(auc(codes_test, factor_test))


def modularity_explicitness(codes_train, factors_train, codes_test, factors_test) -> dict[str, float]:
    """{modularity (from the training codes), explicitness_train, explicitness_test}, each in [0, 1]."""
    codes_train, factors_train, codes_test, factors_test = check_train_test(
        codes_train, factors_train, codes_test, factors_test)
    if factors_train.shape[1] < 2:
        raise ValueError(f"factors_train has {factors_train.shape[1]} column; modularity needs K >= 2 factors")
    information = discrete_mutual_information(histogram_discretize(codes_train), factors_train)
    standardised_train, standardised_test = standardise(codes_train, codes_test)
    explicitness = np.array([explicitness_per_factor(standardised_train, f_train, standardised_test, f_test)
                             for f_train, f_test in zip(factors_train.T, factors_test.T)])
    return {"modularity": modularity(information), "explicitness_train": float(explicitness[:, 0].mean()),
            "explicitness_test": float(explicitness[:, 1].mean())}
