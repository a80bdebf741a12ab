"""Decoders as the geometry sees them, and the checks every geometric function shares.

A decoder is a callable from codes (N, d) to outputs (N, ...); `flat_outputs` flattens them to (N, D).
`mean_decoder` wraps a kit model as its Bernoulli mean sigmoid(logits) (see the package docstring for
why not the logits); `mlp_decoder` builds the small ReLU/ELU toy nets; `stacked_decoder` and `RBFStd`
build the stochastic decoder z -> (mu(z), sigma(z)) of Arvanitidis, Hansen & Hauberg (ICLR 2018),
whose pullback metric is their expected metric (`local.expected_metric`).
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from course_lib.checks import check_choice, check_int, check_number

ACTIVATIONS = ("relu", "elu")


def placement(decoder, like=None) -> tuple[torch.device, torch.dtype]:
    """(device, dtype) of the decoder's first parameter, else of a floating tensor `like`, else CPU float64."""
    if isinstance(decoder, nn.Module):
        parameter = next(decoder.parameters(), None)
        if parameter is not None:
            return parameter.device, parameter.dtype
    if isinstance(like, torch.Tensor) and like.is_floating_point():
        return like.device, like.dtype
    return torch.device("cpu"), torch.float64


def check_decoder(decoder):
    if not callable(decoder):
        raise ValueError(f"decoder={decoder!r} is not allowed; pass a callable from codes (N, d) to outputs (N, ...)")
    return decoder


def as_codes(decoder, z, name: str = "z", ndim: tuple = (2,)) -> torch.Tensor:
    """z as a finite tensor on the decoder's device and dtype, with one of the allowed numbers of axes."""
    device, dtype = placement(decoder, z)
    tensor = torch.as_tensor(z.detach() if isinstance(z, torch.Tensor) else np.asarray(z, dtype=np.float64))
    tensor = tensor.to(device=device, dtype=dtype)
    if tensor.ndim not in ndim or tensor.shape[-1] < 1 or tensor.numel() == 0:
        raise ValueError(f"{name} has shape {tuple(tensor.shape)}; expected {' or '.join(_SHAPES[n] for n in ndim)}")
    if not torch.isfinite(tensor).all():
        raise ValueError(f"{name} holds non-finite values; codes must be finite")
    return tensor


_SHAPES = {1: "(d,)", 2: "(N, d)", 3: "(B, n, d)"}


def flat_outputs(decoder):
    """The decoder with outputs flattened to (N, D)."""
    return lambda z: decoder(z).reshape(z.shape[0], -1)


def decode_flat(decoder, z: torch.Tensor, chunk_size: int = 1024) -> torch.Tensor:
    """f(z) flattened, (N, D), without gradients, in chunks of `chunk_size` codes."""
    flat = flat_outputs(decoder)
    with torch.no_grad():
        return torch.cat([flat(z[s:s + chunk_size]) for s in range(0, len(z), chunk_size)])


class BernoulliMean(nn.Module):
    """z -> sigmoid(decoder(z)): the Bernoulli mean image of a decoder that outputs logits."""

    def __init__(self, decoder: nn.Module):
        super().__init__()
        self.decoder = decoder

    def forward(self, z):
        return torch.sigmoid(self.decoder(z))


def mean_decoder(model) -> BernoulliMean:
    """The data-space map the geometry uses for a kit model (a GaussianVAE or its decoder): the
    Bernoulli mean sigmoid(logits), in eval mode. See the module docstring for why not the logits."""
    decoder = getattr(model, "decoder", model)
    if not isinstance(decoder, nn.Module):
        raise ValueError(f"model={model!r} is not allowed; "
                         f"pass a GaussianVAE or a decoder nn.Module that outputs logits")
    return BernoulliMean(decoder).eval()


def mlp_decoder(num_latent: int = 2, hidden=(32, 32), out_dim: int = 64, activation: str = "elu", seed: int = 0,
                dtype=torch.float64) -> nn.Sequential:
    """A small MLP decoder z (N, d) -> (N, out_dim), Linear -> act -> ... -> Linear, weights drawn from
    `seed` only: the same seed gives the same weights for `activation` "relu" and "elu", so the two nets
    differ in nothing but the non-linearity. Weights ~ N(0, 2 / fan_in) (He), biases ~ N(0, 0.5^2)."""
    num_latent = check_int("num_latent", num_latent, 1)
    out_dim = check_int("out_dim", out_dim, 1)
    check_choice("activation", activation, ACTIVATIONS)
    hidden = tuple(hidden)
    for width in hidden:
        check_int("hidden width", width, 1)
    generator = torch.Generator().manual_seed(int(seed))
    sizes = (num_latent, *hidden, out_dim)
    layers = []
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        linear = nn.Linear(fan_in, fan_out, dtype=dtype)
        with torch.no_grad():
            linear.weight.copy_(torch.randn(fan_out, fan_in, generator=generator, dtype=dtype) * math.sqrt(2 / fan_in))
            linear.bias.copy_(0.5 * torch.randn(fan_out, generator=generator, dtype=dtype))
        layers.append(linear)
        if i < len(sizes) - 2:
            layers.append(nn.ReLU() if activation == "relu" else nn.ELU())
    return nn.Sequential(*layers).eval()


class _Stacked(nn.Module):
    def __init__(self, mean, std):
        super().__init__()
        self.mean, self.std = mean, std

    def forward(self, z):
        return torch.cat([self.mean(z).reshape(len(z), -1), self.std(z).reshape(len(z), -1)], dim=1)


def stacked_decoder(mean, std) -> nn.Module:
    """z -> (mu(z), sigma(z)) concatenated: its pullback metric is the expected metric
    J_mu^T J_mu + J_sigma^T J_sigma of x = mu(z) + sigma(z) * eps (Arvanitidis et al. 2018), so
    `geodesic(stacked_decoder(mu, sigma), ...)` gives geodesics under the expected metric."""
    check_decoder(mean)
    check_decoder(std)
    if not isinstance(mean, nn.Module) or not isinstance(std, nn.Module):
        raise ValueError("mean and std must be nn.Modules (wrap a function in a module) so that their "
                         "device and dtype can be read")
    return _Stacked(mean, std)


class RBFStd(nn.Module):
    """Arvanitidis et al.'s variance head: sigma(z) = (sum_k w exp(-lambda_k ||z - c_k||^2) + zeta)^(-1/2).

    The precision is an RBF network on centres c_k of the training codes: near the data it is about
    w + zeta (a small std), far from every centre it falls to zeta (std 1 / sqrt(zeta), large). The
    expected metric then grows steeply where the data end, and geodesics stay on the data. Here the
    weights are one constant `weight` (the paper fits them by maximum likelihood; the shape of the
    metric away from the data, which is what matters for geodesics, is the same). `fit` places the
    centres by k-means and sets lambda_k = 1 / (2 (bandwidth * spread_k)^2) from each cluster's spread.
    The output is (N, out_dim): the same std for every output dimension."""

    def __init__(self, centers, bandwidths, weight: float = 100.0, zeta: float = 1e-2, out_dim: int = 1,
                 dtype=torch.float32):
        super().__init__()
        centers = torch.as_tensor(np.asarray(centers, np.float64), dtype=dtype)
        bandwidths = torch.as_tensor(np.asarray(bandwidths, np.float64), dtype=dtype)
        if centers.ndim != 2 or bandwidths.shape != (len(centers),) or not (bandwidths > 0).all():
            raise ValueError(f"centers {tuple(centers.shape)} and bandwidths {tuple(bandwidths.shape)} must be "
                             "(K, d) and (K,) with positive bandwidths")
        self.register_buffer("centers", centers)
        self.register_buffer("gamma", bandwidths)
        self.register_buffer("weight", torch.tensor(check_number("weight", weight, 0, low_open=True), dtype=dtype))
        self.register_buffer("zeta", torch.tensor(check_number("zeta", zeta, 0, low_open=True), dtype=dtype))
        self.out_dim = check_int("out_dim", out_dim, 1)
        self._dtype_anchor = nn.Parameter(torch.zeros((), dtype=dtype), requires_grad=False)  # device/dtype probe

    @classmethod
    def fit(cls, codes, num_centers: int = 32, bandwidth: float = 1.0, weight: float = 100.0, zeta: float = 1e-2,
            out_dim: int = 1, random_state=0, dtype=torch.float32) -> "RBFStd":
        from sklearn.cluster import KMeans

        from course_lib.seeding import as_random_state

        codes = np.asarray(codes, np.float64)
        if codes.ndim != 2 or len(codes) < 2:
            raise ValueError(f"codes has shape {codes.shape}; expected (N, d) with N >= 2")
        num_centers = min(check_int("num_centers", num_centers, 1), len(codes))
        bandwidth = check_number("bandwidth", bandwidth, 0, low_open=True)
        km = KMeans(num_centers, n_init=4, random_state=as_random_state(random_state)).fit(codes)
        spread = np.array([np.sqrt(((codes[km.labels_ == k] - c) ** 2).sum(1).mean()) if (km.labels_ == k).sum() > 1
                           else np.nan for k, c in enumerate(km.cluster_centers_)])
        spread = np.where(np.isfinite(spread) & (spread > 0), spread,
                          np.nanmedian(spread) if np.isfinite(spread).any() else 1.0)
        return cls(km.cluster_centers_, 1.0 / (2 * (bandwidth * spread) ** 2), weight, zeta, out_dim, dtype)

    def forward(self, z):
        squared = (z.to(self.centers.dtype)[:, None] - self.centers[None]).pow(2).sum(-1)  # cdist has no forward AD
        precision = self.weight * torch.exp(-self.gamma * squared).sum(1, keepdim=True) + self.zeta
        return precision.rsqrt().expand(-1, self.out_dim)
