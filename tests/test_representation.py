"""Codes, KL per latent and traversals on constructed models with known answers."""
import imageio.v3 as iio
import matplotlib
import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from course_lib.lab.viz import plot_kl_per_latent, plot_loss_curves, plot_traversals, traversal_gif
from course_lib.models import GaussianVAE, conv_vae
from course_lib.representation import (decode, encode, kl_per_latent, latent_traversals, mean_code_function,
                                       quantile_ranges, traversal_codes)

matplotlib.use("Agg")


class PixelEncoder(nn.Module):
    """Means from the first three pixels, unit variances: KL_d = E[mean_d^2] / 2, largest for z0."""
    num_latent = 3

    def forward(self, x):
        flat = x.flatten(1)
        mean = torch.stack([flat[:, 0] * 4 - 2, flat[:, 1], 0.5 * flat[:, 2]], dim=1)
        return mean, torch.zeros(len(x), 3)


class FirstLatentDecoder(nn.Module):
    """An image whose brightness depends on z_0 only."""

    def forward(self, z):
        return z[:, :1, None, None].expand(-1, 1, 4, 4) * 3.0


def known_vae():
    return GaussianVAE(PixelEncoder(), FirstLatentDecoder())


def test_encode_is_batch_size_independent_and_matches_the_encoder():
    model = conv_vae(num_latent=4)
    x = np.random.RandomState(0).rand(10, 1, 64, 64).astype(np.float32)
    means, log_vars = encode(model, x, batch_size=3)
    full_means, _ = encode(model, x, batch_size=256)
    np.testing.assert_allclose(means, full_means, atol=1e-5)
    np.testing.assert_allclose(means, model.encode_mean(torch.from_numpy(x)).numpy(), atol=1e-5)
    assert log_vars.shape == (10, 4)


def test_mean_code_function_matches_encode_and_leaves_the_model_alone():
    model = conv_vae(num_latent=4)
    x = np.random.RandomState(0).rand(10, 1, 64, 64).astype(np.float32)
    codes = mean_code_function(model, batch_size=4)(x)  # a channels-last copy of the encoder
    np.testing.assert_allclose(codes, encode(model, x)[0], atol=1e-5)
    assert all(p.is_contiguous() for p in model.parameters())
    np.testing.assert_allclose(mean_code_function(known_vae())(np.ones((2, 3))), [[2.0, 1.0, 0.5]] * 2)


def test_kl_per_latent_closed_form():
    means = np.array([[0.0, 1.0], [0.0, -1.0]], np.float32)
    log_vars = np.zeros((2, 2), np.float32)
    np.testing.assert_allclose(kl_per_latent(means, log_vars), [0.0, 0.5])


def test_traversal_codes_move_one_coordinate_between_its_range_ends():
    codes = traversal_codes(np.array([0.1, 0.2, 0.3]), np.array([[-1, 1], [0, 2], [5, 6]]), num_steps=5)
    assert codes.shape == (3, 5, 3)
    for d in range(3):
        others = np.delete(codes[d], d, axis=1)
        np.testing.assert_array_equal(others, np.tile(np.delete([0.1, 0.2, 0.3], d), (5, 1)))
    np.testing.assert_allclose(codes[2, :, 2], np.linspace(5, 6, 5))
    with pytest.raises(ValueError, match="num_steps=1"):
        traversal_codes(np.zeros(3), np.zeros((3, 2)), 1)


def test_quantile_ranges():
    codes = np.column_stack([np.linspace(0, 1, 1001), np.linspace(-10, 10, 1001)])
    np.testing.assert_allclose(quantile_ranges(codes, 0.1, 0.9), [[0.1, 0.9], [-8, 8]])


def test_traversals_of_a_decoder_that_reads_one_latent():
    model = known_vae()
    x = np.random.RandomState(1).rand(500, 1, 4, 4).astype(np.float32)
    codes = encode(model, x)
    traversals, order = latent_traversals(model, x[0], codes, num_steps=6)
    kl = kl_per_latent(*codes)
    assert list(order) == list(np.argsort(-kl)) and order[0] == 0  # z0 varies most, so it has the largest KL
    assert traversals.shape == (3, 6, 1, 4, 4)
    row_of = {latent: row for row, latent in enumerate(order)}
    assert np.ptp(traversals[row_of[0]]) > 0.3  # z0 moves the image
    for latent in (1, 2):
        assert np.ptp(traversals[row_of[latent]]) == 0  # the decoder ignores z1 and z2
    np.testing.assert_allclose(decode(model, np.array([[0.0, 5.0, 5.0]])), 0.5)


def test_traversal_gif_round_trip(tmp_path):
    traversals = np.random.RandomState(0).rand(3, 4, 1, 8, 8)
    path = tmp_path / "traversal.gif"
    traversal_gif(path, traversals)
    frames = iio.imread(path, index=None)
    assert frames.shape[:3] == (6, 8, 24)  # 4 steps forth, 2 back (ends not repeated); latents side by side
    first = frames[0] if frames.ndim == 3 else frames[0, ..., 0]
    np.testing.assert_allclose(first[:, 8:16] / 255, traversals[1, 0, 0], atol=1 / 255 + 1e-9)


def test_training_plots():
    log = pd.DataFrame({"step": [1, 2, 3], "total": [3.0, 2, 1], "reconstruction": [2.0, 1.5, 1], "kl": [1.0, 0.5, 0],
                        "kl_per_latent_0": [0.7, 0.4, 0], "kl_per_latent_1": [0.3, 0.1, 0]})
    assert len(plot_kl_per_latent(log).axes[0].lines) == 2
    assert len(plot_loss_curves(log).axes) == 3
    with pytest.raises(ValueError, match="not in the log"):
        plot_loss_curves(log, terms=("total_correlation",))
    figure = plot_traversals(np.random.rand(2, 5, 1, 8, 8), order=[1, 0], kl=np.array([0.1, 2.0]))
    assert figure.axes[0].get_ylabel() == "z1\nKL 2.00"
