"""Separated Attribute Predictability (Kumar et al. 2018, "Variational Inference of Disentangled
Latent Concepts from Unlabeled Observations", the DIP-VAE paper).

A score S[d, k] says how well code dimension d alone predicts factor k; SAP is the mean over
factors of the gap between the best and the second-best dimension:

    SAP = 1/K sum_k ( S[(1), k] - S[(2), k] ).

Discrete factors (the study's setting): S[d, k] = test accuracy of a linear SVM (C = 0.01,
balanced class weights) trained on the single feature c_d. That SVM is not scale-invariant (the
same codes score 0.0 at 1e-3 times, 0.29 at 10 times and 0.03 at 1e5 times their size) and its
solver stops converging, then hangs, for codes near 1e80: codes larger than `MAX_CODE_MAGNITUDE`
are refused with a request to standardise them. Continuous factors: the squared
correlation Cov(c_d, y_k)^2 / (Var c_d Var y_k), 0 for a constant dimension.
"""
from __future__ import annotations

import numpy as np
from sklearn.svm import LinearSVC

from course_lib.metrics.utils import check_codes, check_continuous_factors, check_train_test, mean_top_two_gap

MAX_CODE_MAGNITUDE = 1e6


def sap_score_matrix(codes_train, factors_train, codes_test, factors_test, continuous_factors=False) -> np.ndarray:
    """S (D, K): per (code dimension, factor) the predictability of the factor from that dimension. SAP's gap
    needs D >= 2. With `continuous_factors` the factors are real values and only the training set is scored
    (as in disentanglement_lib; the test arrays are not read)."""
    if continuous_factors:
        codes_train = check_codes(codes_train, "codes_train", min_dims=2)
        factors_train = check_continuous_factors(factors_train, len(codes_train), "factors_train")
        return np.array([[squared_correlation(code, factor) for factor in factors_train.T] for code in codes_train.T])
    codes_train, factors_train, codes_test, factors_test = check_train_test(
        codes_train, factors_train, codes_test, factors_test, min_dims=2)
    largest = max(np.abs(codes_train).max(), np.abs(codes_test).max())
    if largest > MAX_CODE_MAGNITUDE:
        raise ValueError(f"codes reach {largest:.3g}; SAP's linear SVMs (C = 0.01, as disentanglement_lib's) do not "
                         f"converge for codes beyond {MAX_CODE_MAGNITUDE:g}: standardise the codes first")
    return np.array([[_single_code_svm_accuracy(code_train, factor_train, code_test, factor_test)
                      for factor_train, factor_test in zip(factors_train.T, factors_test.T)]
                     for code_train, code_test in zip(codes_train.T, codes_test.T)])


def squared_correlation(code: np.ndarray, factor: np.ndarray) -> float:
    covariance = np.cov(code, factor, ddof=1)
    if covariance[0, 0] <= 1e-12:  # a constant dimension predicts nothing
        return 0.0
    return float(covariance[0, 1] ** 2 / (covariance[0, 0] * covariance[1, 1]))


def _single_code_svm_accuracy(code_train, factor_train, code_test, factor_test) -> float:
    classifier = LinearSVC(C=0.01, class_weight="balanced", dual="auto", max_iter=10_000)
    classifier.fit(code_train[:, None], factor_train)
    return float(np.mean(classifier.predict(code_test[:, None]) == factor_test))


def sap(codes_train, factors_train, codes_test, factors_test, continuous_factors: bool = False) -> float:
    """SAP in [0, 1]; `continuous_factors` picks squared correlation on the training set over SVMs."""
    return mean_top_two_gap(sap_score_matrix(codes_train, factors_train, codes_test, factors_test,
                                             continuous_factors))
