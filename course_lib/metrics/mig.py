"""Mutual Information Gap (Chen et al. 2018, "Isolating Sources of Disentanglement in VAEs").

    MIG = 1/K sum_k ( I(c_(1); y_k) - I(c_(2); y_k) ) / H(y_k)

where c_(1), c_(2) are the code dimensions with the largest and second-largest mutual information
with factor y_k. As in disentanglement_lib (and the study), each code dimension is discretised into
20 equal-width bins over its sample range and I, H are plug-in estimates in nats. With 20 bins a
perfectly encoded factor with n > 20 values scores at most H(bin(y_k)) / H(y_k) <= ln 20 / ln n
(equality when 20 divides n).
"""
from __future__ import annotations

from course_lib.metrics.utils import (check_codes_and_factors, discrete_entropy, discrete_mutual_information,
                                      histogram_discretize, mean_top_two_gap)


def mig(codes, factors, num_bins: int = 20) -> float:
    """The MIG of codes (N, D), D >= 2, against factors (N, K) int; in [0, 1]."""
    codes, factors = check_codes_and_factors(codes, factors, min_dims=2)
    mutual_information = discrete_mutual_information(histogram_discretize(codes, num_bins), factors)  # (D, K)
    return mean_top_two_gap(mutual_information, normaliser=discrete_entropy(factors))
