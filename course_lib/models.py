"""Encoders, decoders and the Gaussian VAE of Locatello et al. 2019 (disentanglement_lib), in PyTorch.

The study's architecture (Locatello et al. 2019, Table 1 of the appendix):

  encoder  conv 32, 32, 64, 64 (stride 2, ReLU) -> FC 256 (ReLU) -> FC 2 x latent (means, log-variances)
  decoder  FC 256 (ReLU) -> FC 1024 (ReLU) -> 64 x 4 x 4 -> deconv 64, 32, 32, C (stride 2) -> logits

The paper lists 4 x 4 kernels for every convolution; disentanglement_lib's code (the code that
produced the study's numbers) uses 2 x 2 kernels for the encoder's last two. We follow the code:
4, 4, 2, 2 in the encoder, 4 everywhere in the decoder. Padding reproduces TensorFlow's 'same'.
`width` multiplies every channel count and hidden size (1 is the study's) for the scale study.
The weights start from PyTorch's default initialisation (uniform in +-1/sqrt(fan_in), biases too), not
TensorFlow's (Glorot-uniform weights, zero biases) that disentanglement_lib's models started from.
"""
from __future__ import annotations

import torch
from torch import nn

from course_lib.checks import check_int


class ConvEncoder(nn.Module):
    """x (N, C, 64, 64) -> (mean, log_var), each (N, num_latent)."""

    def __init__(self, num_latent: int = 10, num_channels: int = 1, width: int = 1):
        super().__init__()
        self.num_latent = check_int("num_latent", num_latent, 1)
        w = check_int("width", width, 1, note=" (1 is the study's network)")
        self.features = nn.Sequential(
            nn.Conv2d(num_channels, 32 * w, 4, stride=2, padding=1), nn.ReLU(),  # 64 -> 32
            nn.Conv2d(32 * w, 32 * w, 4, stride=2, padding=1), nn.ReLU(),  # 32 -> 16
            nn.Conv2d(32 * w, 64 * w, 2, stride=2), nn.ReLU(),  # 16 -> 8
            nn.Conv2d(64 * w, 64 * w, 2, stride=2), nn.ReLU(),  # 8 -> 4
            nn.Flatten(),
            nn.Linear(64 * w * 4 * 4, 256 * w), nn.ReLU(),
        )
        self.head = nn.Linear(256 * w, 2 * num_latent)

    def forward(self, x):
        mean, log_var = self.head(self.features(x)).chunk(2, dim=1)
        return mean, log_var


class DeconvDecoder(nn.Module):
    """z (N, num_latent) -> Bernoulli logits (N, C, 64, 64)."""

    def __init__(self, num_latent: int = 10, num_channels: int = 1, width: int = 1):
        super().__init__()
        check_int("num_latent", num_latent, 1)
        w = check_int("width", width, 1, note=" (1 is the study's network)")
        self.net = nn.Sequential(
            nn.Linear(num_latent, 256 * w), nn.ReLU(),
            nn.Linear(256 * w, 1024 * w), nn.ReLU(),
            nn.Unflatten(1, (64 * w, 4, 4)),
            nn.ConvTranspose2d(64 * w, 64 * w, 4, stride=2, padding=1), nn.ReLU(),  # 4 -> 8
            nn.ConvTranspose2d(64 * w, 32 * w, 4, stride=2, padding=1), nn.ReLU(),  # 8 -> 16
            nn.ConvTranspose2d(32 * w, 32 * w, 4, stride=2, padding=1), nn.ReLU(),  # 16 -> 32
            nn.ConvTranspose2d(32 * w, num_channels, 4, stride=2, padding=1),  # 32 -> 64
        )

    def forward(self, z):
        return self.net(z)


class MLPEncoder(nn.Module):
    """A small fully connected encoder (default 2-D latent) for figures that need a plane."""

    def __init__(self, num_latent: int = 2, observation_shape=(1, 64, 64), hidden: int = 256):
        super().__init__()
        self.num_latent = check_int("num_latent", num_latent, 1)
        size = int(torch.tensor(observation_shape).prod())
        self.features = nn.Sequential(nn.Flatten(), nn.Linear(size, hidden), nn.ReLU(), nn.Linear(hidden, hidden),
                                      nn.ReLU())
        self.head = nn.Linear(hidden, 2 * num_latent)

    def forward(self, x):
        mean, log_var = self.head(self.features(x)).chunk(2, dim=1)
        return mean, log_var


class MLPDecoder(nn.Module):
    def __init__(self, num_latent: int = 2, observation_shape=(1, 64, 64), hidden: int = 256):
        super().__init__()
        check_int("num_latent", num_latent, 1)
        size = int(torch.tensor(observation_shape).prod())
        self.net = nn.Sequential(
            nn.Linear(num_latent, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
            nn.Linear(hidden, size), nn.Unflatten(1, tuple(observation_shape)),
        )

    def forward(self, z):
        return self.net(z)


def full_precision(tensor: torch.Tensor) -> torch.Tensor:
    """`tensor` in float32 when a bfloat16 (or float16) autocast made it, else as it is (a float64 model's stays)."""
    return tensor.float() if tensor.dtype in (torch.bfloat16, torch.float16) else tensor


def reparameterise(mean: torch.Tensor, log_var: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """z = mean + exp(log_var / 2) * eps, eps ~ N(0, I) from `generator` (torch's global one when None)
    (Kingma & Welling 2014): a sample of N(mean, diag exp(log_var)) that is differentiable in both."""
    eps = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
    return mean + torch.exp(0.5 * log_var) * eps


class GaussianVAE(nn.Module):
    """q(z|x) = N(mean(x), diag exp(log_var(x))), p(z) = N(0, I), p(x|z) = Bernoulli(sigmoid(decoder(z)))."""

    def __init__(self, encoder: nn.Module, decoder: nn.Module):
        super().__init__()
        self.encoder, self.decoder = encoder, decoder
        self.num_latent = encoder.num_latent

    def forward(self, x, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """Encode, draw z = mean + exp(log_var / 2) * eps (the reparameterisation), decode.

        eps comes from `generator` (training passes the run's own), else from torch's global generator.
        The outputs are float32 also when the layers compute in bfloat16 (`device.forward_precision`): the code's
        density and the loss stay in float32."""
        mean, log_var = (full_precision(t) for t in self.encoder(x))
        z = reparameterise(mean, log_var, generator)
        return {"mean": mean, "log_var": log_var, "z": z, "logits": full_precision(self.decoder(z))}

    @torch.no_grad()
    def encode_mean(self, x) -> torch.Tensor:
        """The representation used for evaluation: the mean of q(z|x)."""
        return self.encoder(x)[0]


def conv_vae(num_latent: int = 10, num_channels: int = 1, width: int = 1) -> GaussianVAE:
    return GaussianVAE(ConvEncoder(num_latent, num_channels, width), DeconvDecoder(num_latent, num_channels, width))


def mlp_vae(num_latent: int = 2, observation_shape=(1, 64, 64), hidden: int = 256) -> GaussianVAE:
    return GaussianVAE(MLPEncoder(num_latent, observation_shape, hidden),
                       MLPDecoder(num_latent, observation_shape, hidden))
