"""Disentanglement metrics (Locatello et al. 2019 and the metric papers) and their shared pieces."""
from course_lib.metrics.unsupervised import gaussian_total_correlation
from course_lib.metrics.utils import discrete_entropy, discrete_mutual_information, histogram_discretize

__all__ = ["discrete_entropy", "discrete_mutual_information", "gaussian_total_correlation", "histogram_discretize"]
