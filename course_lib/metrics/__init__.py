"""Disentanglement metrics (Locatello et al. 2019 and the metric papers), one file per metric.

Supervised, from arrays of codes (N, D) and factors (N, K): `mig`, `sap`, `dci`,
`modularity_explicitness`. Supervised, from a dataset and an `encode` function: `beta_vae_score`,
`factor_vae_score`. Unsupervised: `gaussian_total_correlation`, `udr` / `udr_score` (several models). `evaluate` runs
any set of the six with the study's sample sizes and returns one table; `downstream` measures sample efficiency.
"""
from course_lib.metrics.beta_vae import beta_vae_score
from course_lib.metrics.dci import dci
from course_lib.metrics.downstream import downstream
from course_lib.metrics.evaluate import ALL_METRICS, METRICS, EvaluationStopped, evaluate
from course_lib.metrics.factor_vae import factor_vae_score
from course_lib.metrics.mig import mig
from course_lib.metrics.modularity import modularity_explicitness
from course_lib.metrics.sampling import EncodedDataset, sample_factor_codes
from course_lib.metrics.sap import sap
from course_lib.metrics.udr import udr, udr_score
from course_lib.metrics.unsupervised import gaussian_total_correlation
from course_lib.metrics.utils import discrete_entropy, discrete_mutual_information, histogram_discretize

__all__ = ["ALL_METRICS", "METRICS", "EncodedDataset", "EvaluationStopped", "beta_vae_score", "dci", "downstream",
           "discrete_entropy", "discrete_mutual_information", "evaluate", "factor_vae_score",
           "gaussian_total_correlation", "histogram_discretize", "mig", "modularity_explicitness",
           "sample_factor_codes", "sap", "udr", "udr_score"]
