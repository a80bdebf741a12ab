"""Procedural rendering of dSprites (Matthey, Higgins, Hassabis, Lerchner 2017).

Geometry (the kit's reconstruction of dSprites; see `data/README.md`)
--------------------------------------------------------------------
* A 64 x 64 binary image; pixel (row i, column j) has its centre at (i + 0.5, j + 0.5).
* Every shape fits in a disc of radius ``SPRITE_RADIUS * scale`` pixels around its centre
  (square: that disc's inscribed square; ellipse: semi-axes 1 and 1/2 of it; heart: the classic
  heart, a 45-degree square with two half discs on its upper edges, centred on its bounding box).
* A pixel is on when its centre lies inside the shape, rotated counter-clockwise by the orientation
  about the shape's centre. The heart is upright at orientation 0.
* Each (shape, scale, orientation) is rasterised once into a 33 x 33 patch centred on a pixel
  centre; the image at position (x, y) is that patch with its top-left corner at row y, column x.
  So the centre moves exactly one pixel per position step, from 16.5 to 47.5 on both axes: the same
  margin of 16.5 pixels on all four sides, and the same pixels for every position.

Only the 720 patches involve floating point, and they are always computed with NumPy in float64
on the CPU. Placing and bit-packing them is integer work, so the grid is bit-identical whether it
is assembled on the CPU or on a GPU.
"""
from __future__ import annotations

import math

import numpy as np
from tqdm.auto import tqdm

IMAGE_SIZE = 64
PATCH_RADIUS = 16
PATCH_SIZE = 2 * PATCH_RADIUS + 1
SPRITE_RADIUS = 15.5  # pixels at scale 1; < PATCH_RADIUS + 0.5, so no sprite is ever clipped

SHAPE_NAMES = ("square", "ellipse", "heart")
FACTOR_NAMES = ("shape", "scale", "orientation", "position_x", "position_y")
FACTORS_NUM_VALUES = (3, 6, 40, 32, 32)
SCALES = np.linspace(0.5, 1.0, 6)
ORIENTATIONS = np.linspace(0.0, 2 * np.pi, 40)  # as in dSprites: 0 and 2*pi are both on the grid
POSITIONS = np.linspace(0.0, 1.0, 32)
NUM_IMAGES = int(np.prod(FACTORS_NUM_VALUES))

# The heart in units of its bounding-disc radius: a square of half-diagonal d turned by 45 degrees,
# |u| + |v - c| <= d, plus two discs of radius d / sqrt(2) on the midpoints of its upper edges.
# Its height is d (1.5 + 1/sqrt 2); c puts the bounding box's centre at the origin, and d makes the
# farthest point (on a disc's rim) lie at distance 1.
_HEART_CENTRE_OVER_D = 1.0 - (1.5 + math.sqrt(0.5)) / 2.0
_HEART_D = 1.0 / (math.hypot(0.5, 0.5 + _HEART_CENTRE_OVER_D) + math.sqrt(0.5))
_HEART_C = _HEART_CENTRE_OVER_D * _HEART_D


def _inside_square(u, v):
    return np.maximum(np.abs(u), np.abs(v)) <= math.sqrt(0.5)


def _inside_ellipse(u, v):
    return u**2 + (v / 0.5) ** 2 <= 1.0


def _inside_heart(u, v):
    d, c, r2 = _HEART_D, _HEART_C, _HEART_D**2 / 2
    diamond = np.abs(u) + np.abs(v - c) <= d
    lobe_right = (u - d / 2) ** 2 + (v - c - d / 2) ** 2 <= r2
    lobe_left = (u + d / 2) ** 2 + (v - c - d / 2) ** 2 <= r2
    return diamond | lobe_right | lobe_left


_INSIDE = (_inside_square, _inside_ellipse, _inside_heart)

# Exact areas in units of (SPRITE_RADIUS * scale)^2, for tests and for the notebook.
SHAPE_AREAS = (2.0, math.pi * 0.5, (2.0 + math.pi / 2) * _HEART_D**2)


def sprite_masks(shapes, scales, orientations) -> np.ndarray:
    """Boolean patches (N, 33, 33): pixel on iff R(-theta) p / (R s) lies inside the unit shape.

    `shapes` are shape codes (0 square, 1 ellipse, 2 heart), `scales` real scale factors and
    `orientations` angles in radians (counter-clockwise); the three broadcast together.
    """
    shapes, scales, orientations = np.broadcast_arrays(
        np.asarray(shapes), np.asarray(scales, np.float64), np.asarray(orientations, np.float64)
    )
    shapes, scales, orientations = shapes.ravel(), scales.ravel(), orientations.ravel()
    if not np.isin(shapes, range(len(SHAPE_NAMES))).all():
        raise ValueError(f"shapes={np.unique(shapes).tolist()}: allowed codes 0 (square), 1 (ellipse), 2 (heart)")
    if not (scales > 0).all():
        raise ValueError(f"scales must be positive; got min {scales.min()}")
    offsets = np.arange(PATCH_SIZE, dtype=np.float64) - PATCH_RADIUS
    x = offsets[None, None, :]  # column offset, to the right
    y = -offsets[None, :, None]  # row offset, upwards
    cos = np.cos(orientations)[:, None, None]
    sin = np.sin(orientations)[:, None, None]
    radius = (SPRITE_RADIUS * scales)[:, None, None]
    u = (cos * x + sin * y) / radius
    v = (cos * y - sin * x) / radius
    masks = np.zeros((len(shapes), PATCH_SIZE, PATCH_SIZE), dtype=bool)
    for code, inside in enumerate(_INSIDE):
        chosen = shapes == code
        masks[chosen] = inside(u[chosen], v[chosen])
    return masks


def grid_sprites() -> np.ndarray:
    """The 720 patches of the grid, indexed by (shape, scale, orientation): shape (3, 6, 40, 33, 33)."""
    shape_idx, scale_idx, orient_idx = np.meshgrid(np.arange(3), np.arange(6), np.arange(40), indexing="ij")
    masks = sprite_masks(shape_idx, SCALES[scale_idx], ORIENTATIONS[orient_idx])
    return masks.reshape(3, 6, 40, PATCH_SIZE, PATCH_SIZE)


def compose_images(sprites: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """uint8 images (N, 64, 64): the patch of each row's (shape, scale, orientation) at its position.

    One fancy-indexed assignment for the whole batch: image n gets patch n at rows y_n .. y_n + 32
    and columns x_n .. x_n + 32.
    """
    shape, scale, orientation, pos_x, pos_y = factors.T
    offsets = np.arange(PATCH_SIZE)
    rows = pos_y[:, None, None] + offsets[None, :, None]
    cols = pos_x[:, None, None] + offsets[None, None, :]
    images = np.zeros((len(factors), IMAGE_SIZE, IMAGE_SIZE), dtype=np.uint8)
    images[np.arange(len(factors))[:, None, None], rows, cols] = sprites[shape, scale, orientation]
    return images


def compose_images_torch(sprites, factors):
    """`compose_images` on a torch device: the same integer indexing, so the same bits."""
    import torch

    shape, scale, orientation, pos_x, pos_y = factors.T
    offsets = torch.arange(PATCH_SIZE, device=factors.device)
    rows = pos_y[:, None, None] + offsets[None, :, None]
    cols = pos_x[:, None, None] + offsets[None, None, :]
    images = torch.zeros((len(factors), IMAGE_SIZE, IMAGE_SIZE), dtype=torch.uint8, device=factors.device)
    batch = torch.arange(len(factors), device=factors.device)[:, None, None]
    images[batch, rows, cols] = sprites[shape, scale, orientation]
    return images


def pack_bits_torch(images):
    """np.packbits(images, axis=-1) for a torch uint8 tensor of zeros and ones (big-endian bits)."""
    import torch

    weights = torch.tensor([128, 64, 32, 16, 8, 4, 2, 1], dtype=torch.uint8, device=images.device)
    return (images.reshape(*images.shape[:-1], -1, 8) * weights).sum(-1, dtype=torch.uint8)


def grid_factors(start: int, stop: int) -> np.ndarray:
    """Factors of the grid images with flat indices start .. stop - 1 (row-major over the factors)."""
    return np.stack(np.unravel_index(np.arange(start, stop), FACTORS_NUM_VALUES), axis=1)


def render_packed_grid(device="cpu", chunk: int = 4096, progress: bool = True):
    """All 737,280 images, bit-packed along rows: uint8 (737280, 64, 8), 377 MB.

    `device="cpu"` assembles with NumPy, `chunk` images at a time (small chunks keep the peak
    memory near the packed grid's size), and returns a NumPy array. A CUDA device assembles with
    torch there, 16 chunks at a time, and returns a tensor on it. Both give identical bits.
    """
    sprites = grid_sprites().astype(np.uint8)
    if str(device) == "cpu":
        packed = np.empty((NUM_IMAGES, IMAGE_SIZE, IMAGE_SIZE // 8), dtype=np.uint8)
        for start in tqdm(range(0, NUM_IMAGES, chunk), desc="rendering dSprites", disable=not progress):
            stop = min(start + chunk, NUM_IMAGES)
            packed[start:stop] = np.packbits(compose_images(sprites, grid_factors(start, stop)), axis=-1)
        return packed
    import torch

    chunk *= 16
    sprites_t = torch.from_numpy(sprites).to(device)
    factors = torch.from_numpy(grid_factors(0, NUM_IMAGES)).to(device)
    packed = torch.empty((NUM_IMAGES, IMAGE_SIZE, IMAGE_SIZE // 8), dtype=torch.uint8, device=device)
    for start in tqdm(range(0, NUM_IMAGES, chunk), desc="rendering dSprites", disable=not progress):
        packed[start:start + chunk] = pack_bits_torch(compose_images_torch(sprites_t, factors[start:start + chunk]))
    return packed
