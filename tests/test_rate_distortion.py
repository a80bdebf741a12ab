import math

import matplotlib
import numpy as np
import pytest
import torch
from torch import nn

from course_lib.analysis.rate_distortion import (active_latents, constant_decoder_distortion, latent_activity,
                                                 rate_distortion, rate_distortion_table)
from course_lib.lab.analysis_plots import plot_rate_distortion
from course_lib.models import GaussianVAE

matplotlib.use("Agg")


class FixedEncoder(nn.Module):
    """mean = scale * (average pixel of x - shift) per latent, log_var constant."""

    def __init__(self, scales, log_var, shift=0.0):
        super().__init__()
        self.num_latent = len(scales)
        self.scales = nn.Parameter(torch.tensor(scales, dtype=torch.float32), requires_grad=False)
        self.log_var, self.shift = log_var, shift

    def forward(self, x):
        mean = (x.flatten(1).mean(1, keepdim=True) - self.shift) * self.scales
        return mean, torch.full_like(mean, self.log_var)


class FirstLatentDecoder(nn.Module):
    """logits of every pixel = z_0 (times a factor)."""

    def __init__(self, shape, factor=1.0):
        super().__init__()
        self.shape, self.factor = shape, factor

    def forward(self, z):
        return (self.factor * z[:, :1]).reshape(-1, 1, 1, 1).expand(-1, *self.shape)


def test_prior_encoder_and_blank_decoder_give_the_known_answer():
    # q(z|x) = p(z) and logits 0: R = 0, D = (number of pixels) * log 2 whatever x is
    model = GaussianVAE(FixedEncoder([0.0, 0.0, 0.0], log_var=0.0), FirstLatentDecoder((1, 4, 4), factor=0.0))
    x = (np.random.RandomState(0).rand(50, 1, 4, 4) > 0.5).astype(np.float32)
    result = rate_distortion(model, x)
    assert result["rate"] == pytest.approx(0.0, abs=1e-12)
    assert result["distortion"] == pytest.approx(16 * math.log(2), rel=1e-6)
    assert result["elbo"] == pytest.approx(-16 * math.log(2), rel=1e-6)
    assert result["num_active"] == 0 and not result["active"].any()


def test_rate_is_the_analytic_kl_and_activity_the_variance_of_the_means():
    rs = np.random.RandomState(1)
    x = rs.rand(300, 1, 2, 2).astype(np.float32)
    sigma2 = 0.25
    model = GaussianVAE(FixedEncoder([3.0, 0.05, 0.0], log_var=math.log(sigma2), shift=0.5),
                        FirstLatentDecoder((1, 2, 2)))
    result = rate_distortion(model, x, batch_size=64)
    m = (x.reshape(300, -1).mean(1, dtype=np.float64) - 0.5)[:, None] * np.array([3.0, 0.05, 0.0])
    kl = 0.5 * (m ** 2 + sigma2 - math.log(sigma2) - 1)
    np.testing.assert_allclose(result["kl_per_latent"], kl.mean(0), rtol=1e-5)
    assert result["rate"] == pytest.approx(kl.sum(1).mean(), rel=1e-5)
    np.testing.assert_allclose(result["activity"], m.var(0), rtol=1e-4, atol=1e-12)
    # Var(mean pixel) of 4 uniform pixels is 1/48: latent 0 has 9/48 > 0.01, latent 1 has 0.0025/48
    np.testing.assert_array_equal(result["active"], [True, False, False])
    assert result["num_active"] == 1


def test_distortion_is_the_expected_reconstruction_and_the_elbo_bounds_log_p():
    # one pixel x = 1, logits = z: D = E_q[-log sigmoid(z)], by Gauss-Hermite quadrature.
    # Under the prior, p(x = 1) = E[sigmoid(z)] = 1/2 by symmetry, so every ELBO is <= log 1/2.
    x = np.ones((20_000, 1, 1, 1), np.float32)  # 20,000 draws of z, one per (identical) image
    nodes, weights = np.polynomial.hermite_e.hermegauss(80)
    for scale, log_var in ((0.0, 0.0), (1.5, math.log(0.5)), (4.0, math.log(0.1))):
        model = GaussianVAE(FixedEncoder([scale], log_var), FirstLatentDecoder((1, 1, 1)))
        result = rate_distortion(model, x, seed=3, batch_size=4096)
        z = scale + math.exp(0.5 * log_var) * nodes
        expected = (weights * np.logaddexp(0, -z)).sum() / weights.sum()
        assert result["distortion"] == pytest.approx(expected, abs=0.02)
        assert result["elbo"] <= math.log(0.5) + 0.02
    # the same seed gives the same noise, hence the same numbers; more draws per image agree
    assert rate_distortion(model, x[:8], seed=5)["distortion"] == rate_distortion(model, x[:8], seed=5)["distortion"]
    assert rate_distortion(model, x[:100], num_z_samples=100)["distortion"] == pytest.approx(expected, abs=0.05)


def test_active_latents_threshold_and_errors():
    means = np.column_stack([np.linspace(-1, 1, 11), np.full(11, 2.0), 0.01 * np.arange(11)])
    np.testing.assert_allclose(latent_activity(means), [0.4, 0.0, 0.001])
    np.testing.assert_array_equal(active_latents(means), [True, False, False])
    np.testing.assert_array_equal(active_latents(means, threshold=0.0005), [True, False, True])
    with pytest.raises(ValueError, match="threshold"):
        active_latents(means, threshold=-1)
    with pytest.raises(ValueError, match="means"):
        latent_activity(np.zeros(3))
    model = GaussianVAE(FixedEncoder([1.0], 0.0), FirstLatentDecoder((1, 1, 1)))
    with pytest.raises(ValueError, match="num_z_samples"):
        rate_distortion(model, np.ones((3, 1, 1, 1)), num_z_samples=0)
    with pytest.raises(ValueError, match="observations"):
        rate_distortion(model, np.ones((1, 1, 1, 1)))


def test_table_and_plot():
    x = np.random.RandomState(2).rand(40, 1, 2, 2).astype(np.float32)
    models = {beta: GaussianVAE(FixedEncoder([s, 0.0], math.log(0.3)), FirstLatentDecoder((1, 2, 2)))
              for beta, s in ((1, 4.0), (4, 1.0), (16, 0.0))}
    table = rate_distortion_table(models, x, num_z_samples=4)
    assert list(table.index) == [1, 4, 16]
    assert list(table.columns) == ["rate", "distortion", "elbo", "num_active"]
    np.testing.assert_allclose(table["elbo"], -(table["rate"] + table["distortion"]))
    assert table["rate"].is_monotonic_decreasing  # a smaller encoder scale moves less from the prior
    assert table["num_active"].tolist() == [1, 1, 0]
    fig = plot_rate_distortion(table, label="β=")
    ax = fig.axes[0]
    assert len(ax.collections[0].get_offsets()) == 3 and len(ax.texts) == 3
    fig = plot_rate_distortion(table, reference_distortion=10.0)
    assert fig.axes[0].get_xlim()[1] > 10.0 and len(fig.axes[0].collections) == 2
    wide = rate_distortion_table(models, x, per_latent=True)
    assert list(wide.columns[4:]) == ["kl_0", "kl_1", "activity_0", "activity_1"]
    np.testing.assert_allclose(wide[["kl_0", "kl_1"]].sum(axis=1), wide["rate"])
    np.testing.assert_allclose(wide.loc[16, ["activity_0", "activity_1"]], 0.0, atol=1e-12)
    with pytest.raises(ValueError, match="models"):
        rate_distortion_table({}, x)


def test_constant_decoder_distortion_known_answers():
    # every pixel on in exactly half of the images: D_0 = (pixels) log 2; identical images: D_0 = 0
    half = np.zeros((2, 1, 3, 3))
    half[0] = 1
    assert constant_decoder_distortion(half) == pytest.approx(9 * math.log(2))
    assert constant_decoder_distortion(np.ones((5, 1, 3, 3))) == pytest.approx(0.0, abs=1e-9)
    # it is the distortion of a decoder whose logits are the log-odds of the pixel frequencies
    x = (np.random.RandomState(0).rand(200, 1, 2, 2) < [[[[0.1, 0.5], [0.8, 0.3]]]]).astype(np.float32)
    p = x.mean(0)
    bce = -(x * np.log(p) + (1 - x) * np.log(1 - p)).reshape(200, -1).sum(1).mean()
    assert constant_decoder_distortion(x) == pytest.approx(bce, rel=1e-9)
