import math

import matplotlib
import numpy as np
import pytest
import torch

from course_lib.analysis.tc_analysis import (TERMS, aggregate_posterior_covariance, correlated_gaussian_posteriors,
                                             estimator_study, exact_kl_decomposition, mean_and_sampled_tc, sample_codes)
from course_lib.lab.analysis_plots import plot_covariance_heatmaps, plot_estimator_study
from course_lib.distributions import kl_to_standard_normal

matplotlib.use("Agg")


def grid_posteriors(values, std):
    """A product dataset: means on the full grid values x values, every posterior N(mean, std^2 I)."""
    means = np.stack(np.meshgrid(values, values, indexing="ij"), -1).reshape(-1, 2).astype(float)
    return means, np.full_like(means, 2 * math.log(std))


def test_constructed_dataset_has_the_asked_correlation():
    means, log_vars = correlated_gaussian_posteriors(20_000, 3, correlation=0.6, posterior_std=0.5, random_state=0)
    assert means.shape == log_vars.shape == (20_000, 3)
    np.testing.assert_allclose(np.corrcoef(means, rowvar=False)[np.triu_indices(3, 1)], 0.6, atol=0.02)
    np.testing.assert_allclose(log_vars, 2 * math.log(0.5))
    with pytest.raises(ValueError, match="correlation=1"):
        correlated_gaussian_posteriors(10, 3, correlation=1)
    with pytest.raises(ValueError, match="num_points=1"):
        correlated_gaussian_posteriors(1)


def test_exact_decomposition_known_answers():
    # two far-apart posteriors at (a, a) and (-a, -a): z copies one fair bit into both coordinates,
    # so MI = log 2 and TC = log 2 (the joint has 2 modes, the product of its marginals 4)
    means = np.array([[10.0, 10.0], [-10.0, -10.0]])
    log_vars = np.full_like(means, 2 * math.log(0.1))
    exact = exact_kl_decomposition(means, log_vars, num_samples=2000)
    assert exact["mutual_information"] == pytest.approx(math.log(2), abs=1e-4)
    assert exact["total_correlation"] == pytest.approx(math.log(2), abs=1e-4)
    # a product grid: q(z) = q(z_1) q(z_2) exactly, so TC = 0 for every sample; far apart, MI = log N
    means, log_vars = grid_posteriors(np.arange(4) * 20.0, 0.5)
    exact = exact_kl_decomposition(means, log_vars, num_samples=2000)
    assert exact["total_correlation"] == pytest.approx(0.0, abs=1e-5)
    assert exact["mutual_information"] == pytest.approx(math.log(16), abs=1e-4)


def test_the_exact_decomposition_and_the_estimator_study_run_on_cuda_when_asked(monkeypatch):
    means, log_vars = grid_posteriors(np.arange(3) * 2.0, 0.7)
    if torch.cuda.is_available():  # the same draws, densities on the GPU: equal to float32 rounding
        on_gpu = exact_kl_decomposition(means, log_vars, num_samples=500, device="cuda")
        on_cpu = exact_kl_decomposition(means, log_vars, num_samples=500, device="cpu")
        assert on_gpu == pytest.approx(on_cpu, rel=1e-4, abs=1e-5)
        study = [estimator_study(means, log_vars, [4, 8], 5, device=device) for device in ("cuda", "cpu")]
        np.testing.assert_allclose(study[0]["mean"], study[1]["mean"], rtol=1e-4, atol=1e-5)
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    with pytest.raises(ValueError, match="device='cuda' asks for CUDA but no CUDA GPU is available"):
        exact_kl_decomposition(means, log_vars, num_samples=500, device="cuda")
    with pytest.raises(ValueError, match="device='cuda' asks for CUDA but no CUDA GPU is available"):
        estimator_study(means, log_vars, [4, 8], 5, device="cuda")


def test_exact_terms_sum_to_the_analytic_kl():
    means, log_vars = correlated_gaussian_posteriors(300, 3, 0.8, 0.3, random_state=1)
    exact = exact_kl_decomposition(means, log_vars, num_samples=30_000, random_state=2)
    kl = kl_to_standard_normal(torch.from_numpy(means), torch.from_numpy(log_vars)).sum(1).mean().item()
    error = math.sqrt(sum(exact[f"{t}_se"] ** 2 for t in TERMS))
    assert abs(sum(exact[t] for t in TERMS) - kl) < 4 * error
    assert exact["total_correlation"] > 0.3  # correlated means: clearly dependent coordinates


def test_estimator_study_table_and_its_properties():
    means, log_vars = correlated_gaussian_posteriors(256, 3, 0.8, 0.3, random_state=0)
    table = estimator_study(means, log_vars, [8, 256], num_batches=20, random_state=0)
    assert len(table) == 2 * 2 * 3
    assert set(table.columns) >= {"estimator", "batch_size", "term", "mean", "std", "sem", "num_batches"}
    # MWS gives the code's own posterior weight 1/B, so its MI estimate can never exceed log B
    mws_mi = table.query("estimator == 'mws' and term == 'mutual_information'").set_index("batch_size")["mean"]
    assert mws_mi[8] <= math.log(8)
    # at B = N both estimators see the whole dataset and agree with the exact decomposition
    exact = exact_kl_decomposition(means, log_vars, num_samples=20_000)
    full = table[table["batch_size"] == 256]
    for _, row in full.iterrows():
        assert row["mean"] == pytest.approx(exact[row["term"]], abs=4 * row["sem"] + 0.03)
    # on these codes the MWS total correlation is biased upwards for B << N (on others it can be biased downwards:
    # objectives/beta_tcvae.py)
    mws_tc = table.query("estimator == 'mws' and term == 'total_correlation'").set_index("batch_size")["mean"]
    assert mws_tc[8] > exact["total_correlation"] + 0.1
    fig = plot_estimator_study(table, exact)
    assert len(fig.axes) == 3
    with pytest.raises(ValueError, match="batch_sizes"):
        estimator_study(means, log_vars, [512])
    with pytest.raises(ValueError, match="estimators"):
        estimator_study(means, log_vars, [8], estimators=("nce",))


def test_aggregate_posterior_covariance_is_the_law_of_total_covariance():
    rs = np.random.RandomState(0)
    means = rs.randn(50_000, 3) @ np.array([[1.0, 0, 0], [0.5, 1.0, 0], [0, 0.3, 0.2]])
    log_vars = np.log(rs.uniform(0.1, 1.0, size=(50_000, 3)))
    cov_mean, cov_q = aggregate_posterior_covariance(means, log_vars)
    np.testing.assert_allclose(cov_mean, np.cov(means, rowvar=False, bias=True))
    sampled = np.cov(sample_codes(means, log_vars, 1), rowvar=False)
    np.testing.assert_allclose(cov_q, sampled, atol=0.03)
    np.testing.assert_allclose(cov_q - cov_mean, np.diag(np.exp(log_vars).mean(0)))


def test_mean_and_sampled_tc_closed_form():
    # unit-variance means with correlation rho, posterior noise s^2: the sampled code has correlation
    # rho / (1 + s^2), and the Gaussian TC of a pair with correlation r is -1/2 log(1 - r^2)
    rho, s = 0.8, 1.0
    means, log_vars = correlated_gaussian_posteriors(200_000, 2, rho, s, random_state=0)
    tc = mean_and_sampled_tc(means, log_vars, random_state=1)
    assert tc["mean"] == pytest.approx(-0.5 * math.log(1 - rho**2), abs=0.01)
    assert tc["sampled"] == pytest.approx(-0.5 * math.log(1 - (rho / (1 + s**2)) ** 2), abs=0.01)
    degenerate = np.column_stack([means[:, 0], np.zeros(len(means))])  # a collapsed latent
    tc = mean_and_sampled_tc(degenerate, log_vars, random_state=1)
    assert math.isnan(tc["mean"]) and np.isfinite(tc["sampled"])


def test_plot_covariance_heatmaps_shares_one_symmetric_scale():
    fig = plot_covariance_heatmaps({"a": np.eye(3), "b": [[2.0, -0.5], [-0.5, 1.0]], "c": np.zeros((4, 4))})
    images = [ax.images[0] for ax in fig.axes if ax.images]
    assert len(images) == 3
    assert all(image.get_clim() == (-2.0, 2.0) for image in images)
    with pytest.raises(ValueError, match="square"):
        plot_covariance_heatmaps({"a": np.ones((2, 3))})
