"""Training batches drawn on the training device from a bit-packed grid (no per-sample Python).

The packed grid (377 MB for dSprites) is moved to the device once; a batch is an index draw from
a seeded `torch.Generator` on that device, a gather, and a bit unpack. Uniform indices over a full
factor grid are uniform, independent factors, so this samples what `sample_factors` samples.
The colour and noisy variants draw their colours and noise from the same generator. A dataset that
weights its grid (`grid_probabilities`, e.g. course_lib.data.correlated) is drawn from by inverse CDF:
one uniform per image, looked up in the cumulative probabilities (searchsorted), which is exact.

The generator is a training run's one source of randomness: the model's reparameterisation and the
objectives draw from it too (course_lib.training), and it is checkpointed with the run. Several
runs trained side by side (course_lib.training.packed) share one grid on the device (`with_seed`).
"""
from __future__ import annotations

import copy
import warnings

import torch

_BIT_SHIFTS = torch.arange(7, -1, -1, dtype=torch.uint8)  # most significant bit first, as np.packbits
CPU_GENERATOR_BYTES = torch.Generator().get_state().numel()  # 5,056; a CUDA generator's state is 16 bytes


def generator_device_type(state: dict) -> str:
    """"cpu" or "cuda": the type of device whose generator a sampler's `state_dict` holds (states saved without it,
    before it was recorded, are told by their size)."""
    return state.get("device_type") or ("cpu" if state["generator"].numel() == CPU_GENERATOR_BYTES else "cuda")


def unpack_bits(packed: torch.Tensor, shifts: torch.Tensor | None = None) -> torch.Tensor:
    """uint8 (..., W/8) -> uint8 (..., W) of zeros and ones (the inverse of np.packbits on the last axis).
    `shifts`: the bit shifts already on `packed`'s device (a sampler keeps them there, so that a step captured
    in a CUDA graph copies nothing from the host)."""
    shifts = _BIT_SHIFTS.to(packed.device) if shifts is None else shifts
    bits = (packed[..., None] >> shifts) & 1
    return bits.flatten(-2)


class GridBatchSampler:
    """Batches (N, C, H, W) float32 in [0, 1] of a packed-grid dataset, made on `device`."""

    def __init__(self, dataset, device, seed: int):
        with warnings.catch_warnings():  # the cached grid is read-only; torch only reads it
            warnings.simplefilter("ignore", UserWarning)
            self.packed = torch.from_numpy(dataset.packed_grid).to(device)
        self.variant = dataset.variant
        self.device = torch.device(device)
        self.bit_shifts = _BIT_SHIFTS.to(self.device)
        self.generator = torch.Generator(device=self.device).manual_seed(seed)
        probabilities = getattr(dataset, "grid_probabilities", None)  # None: uniform over the grid
        self.cumulative = None
        if probabilities is not None:
            if len(probabilities) != len(self.packed):
                raise ValueError(f"dataset has {len(probabilities)} grid probabilities for {len(self.packed)} images")
            self.cumulative = torch.cumsum(torch.as_tensor(probabilities, dtype=torch.float64), 0).to(self.device)

    def with_seed(self, seed: int) -> "GridBatchSampler":
        """A sampler of the same grid (shared on the device, not copied) with its own generator."""
        sibling = copy.copy(self)
        sibling.generator = torch.Generator(device=self.device).manual_seed(seed)
        return sibling

    def sample_index(self, batch_size: int) -> torch.Tensor:
        """Flat grid indices of a batch: uniform, or i with probability p_i when the dataset weights its grid."""
        if self.cumulative is None:
            return torch.randint(len(self.packed), (batch_size,), device=self.device, generator=self.generator)
        uniform = torch.rand(batch_size, dtype=torch.float64, device=self.device, generator=self.generator)
        index = torch.searchsorted(self.cumulative, uniform * self.cumulative[-1], right=True)
        return index.clamp_(max=len(self.packed) - 1)

    def sample(self, batch_size: int) -> torch.Tensor:
        index = self.sample_index(batch_size)
        sprites = unpack_bits(self.packed[index], self.bit_shifts)[:, None].float()
        if self.variant == "binary":
            return sprites
        rgb = sprites.expand(-1, 3, -1, -1)
        if self.variant == "color":
            colour = torch.rand((batch_size, 3, 1, 1), device=self.device, generator=self.generator)
            return rgb * (0.5 + 0.5 * colour)
        noise = torch.rand(rgb.shape, device=self.device, generator=self.generator)
        return torch.clamp(rgb + noise, max=1.0)

    def state_dict(self) -> dict:
        """The generator's state and its device type: a CPU and a CUDA generator are other algorithms."""
        return {"generator": self.generator.get_state(), "device_type": self.device.type}

    def load_state_dict(self, state: dict) -> bool:
        """Restore the generator; False, restoring nothing, when `state` is another device type's generator's
        (a CPU generator is a Mersenne Twister of 5,056 bytes of state, a CUDA one Philox's seed and offset), which
        no generator on this device can continue."""
        if generator_device_type(state) != self.device.type:
            return False
        self.generator.set_state(state["generator"])
        return True
