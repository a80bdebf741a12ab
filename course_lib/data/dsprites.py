"""dSprites as a ground-truth dataset: the procedural grid (cached) or DeepMind's official file.

Factors (disentanglement_lib's order and sizes): shape 3, scale 6, orientation 40, position_x 32,
position_y 32 — 737,280 binary 64 x 64 images addressed by flat index in row-major factor order.
The grid is held bit-packed in memory (uint8 (N, 64, 8): 377 MB) and unpacked per batch.

Variants as in disentanglement_lib (Locatello et al. 2019):
  binary  the sprite, 1 channel;
  color   the sprite times an RGB colour drawn uniformly from [0.5, 1]^3 per image, 3 channels;
  noisy   min(sprite + U(0, 1) noise per pixel and channel, 1), 3 channels.
"""
from __future__ import annotations

import json
import os
import zipfile
from functools import lru_cache
from pathlib import Path

import numpy as np

from course_lib.checks import check_choice, check_writable_directory
from course_lib.data import dsprites_render as render
from course_lib.data.ground_truth import GroundTruthData
from course_lib.io import CHECKOUT, atomic_open, sha256_of_file, write_json_atomic
from course_lib.seeding import as_random_state

VARIANTS = ("binary", "color", "noisy")
CACHE_NAME = "dsprites_procedural_v1"  # bump the version whenever the renderer's output changes
OFFICIAL_FILE_NAME = "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz"


def default_data_dir() -> Path:
    """$COURSE_DATA_DIR, else the checkout's `data/` folder, else ~/.cache/course_kit."""
    if os.environ.get("COURSE_DATA_DIR"):
        return Path(os.environ["COURSE_DATA_DIR"])
    if (CHECKOUT / "pyproject.toml").is_file():
        return CHECKOUT / "data"
    return Path.home() / ".cache" / "course_kit"


def cache_paths(data_dir) -> tuple[Path, Path]:
    data_dir = Path(data_dir)
    return data_dir / f"{CACHE_NAME}.npy", data_dir / f"{CACHE_NAME}.json"


def _cache_is_valid(array_path: Path, manifest_path: Path) -> bool:
    if not (array_path.is_file() and manifest_path.is_file()):
        return False
    try:
        manifest = json.loads(manifest_path.read_text())
    except (OSError, ValueError):
        return False
    if not isinstance(manifest, dict):  # valid JSON of another shape ([1, 2], "x", null) is no manifest either
        return False
    return (manifest.get("size_bytes") == array_path.stat().st_size
            and manifest.get("sha256") == sha256_of_file(array_path))


def ensure_grid_cache(data_dir=None, progress: bool = True) -> Path:
    """Render the procedural grid into `data_dir` unless a cache with a matching checksum is there.

    The array is written atomically first, then its manifest (sha256 and size): a cache whose
    manifest is missing, stale, unreadable or not a mapping, or whose file is truncated, is rendered
    again. A valid cache may sit in a read-only folder; one to be rendered needs a writable `data_dir`.
    """
    data_dir = data_dir or default_data_dir()
    array_path, manifest_path = cache_paths(data_dir)
    if _cache_is_valid(array_path, manifest_path):
        return array_path
    check_writable_directory("data_dir", data_dir)  # before the render, not after it
    packed = render.render_packed_grid(progress=progress)
    with atomic_open(array_path, "wb") as handle:
        np.save(handle, packed, allow_pickle=False)
    write_json_atomic(
        manifest_path,
        {"sha256": sha256_of_file(array_path), "size_bytes": array_path.stat().st_size,
         "shape": list(packed.shape), "factors_num_values": list(render.FACTORS_NUM_VALUES)},
    )
    return array_path


@lru_cache(maxsize=2)
def _load_packed(array_path: Path) -> np.ndarray:
    packed = np.load(array_path, allow_pickle=False)
    expected = (render.NUM_IMAGES, render.IMAGE_SIZE, render.IMAGE_SIZE // 8)
    if packed.shape != expected or packed.dtype != np.uint8:
        raise ValueError(f"cache {array_path} holds {packed.dtype}{packed.shape}; expected uint8{expected}")
    packed.setflags(write=False)  # shared between instances
    return packed


def _read_npy_member_in_chunks(archive: zipfile.ZipFile, member: str, rows_per_chunk: int):
    """Yield (header shape, chunk) pairs from an .npy inside an .npz without inflating it whole."""
    with archive.open(member) as stream:
        version = np.lib.format.read_magic(stream)
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran_order, dtype = read_header(stream)
        if fortran_order or dtype.hasobject or len(shape) == 0:
            raise ValueError(f"{member}: expected a C-ordered numeric array, got dtype {dtype}, shape {shape}")
        row_items = int(np.prod(shape[1:]))
        for start in range(0, shape[0], rows_per_chunk):
            rows = min(rows_per_chunk, shape[0] - start)
            buffer = stream.read(rows * row_items * dtype.itemsize)
            if len(buffer) != rows * row_items * dtype.itemsize:
                raise ValueError(f"{member}: truncated at row {start}")
            yield shape, np.frombuffer(buffer, dtype).reshape(rows, *shape[1:])


def load_official_npz(path) -> tuple[np.ndarray, tuple[int, ...]]:
    """Packed images and factor sizes from DeepMind's dSprites npz (or a smaller file in its format).

    The file must hold `imgs` (N, 64, 64) of zeros and ones and `latents_classes` (N, 6) whose
    columns are colour (always 0), shape, scale, orientation, x, y, listed in row-major grid order.
    The factor sizes are read from the classes, so a reduced grid in the same format loads too.
    Only plain arrays are read (never the pickled `metadata`).
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"official_npz={str(path)!r} does not exist; download {OFFICIAL_FILE_NAME} into data/")
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile as error:
        raise ValueError(f"official_npz={str(path)!r} is not an npz (zip) file: {error}") from None
    with archive:
        members = set(archive.namelist())
        missing = {"imgs.npy", "latents_classes.npy"} - members
        if missing:
            raise ValueError(f"official_npz={str(path)!r} lacks {sorted(missing)}; it holds {sorted(members)}")
        with archive.open("latents_classes.npy") as stream:
            classes = np.lib.format.read_array(stream, allow_pickle=False)
        if classes.ndim != 2 or classes.shape[1] != 6 or classes.shape[0] == 0:
            raise ValueError(f"official_npz: latents_classes has shape {classes.shape}; expected (N, 6)")
        if np.any(classes[:, 0] != 0):
            raise ValueError("official_npz: latents_classes column 0 (colour) must be 0 everywhere")
        sizes = tuple(int(s) for s in classes[:, 1:].max(axis=0) + 1)
        grid = np.stack(np.unravel_index(np.arange(int(np.prod(sizes))), sizes), axis=1)
        if grid.shape != classes[:, 1:].shape or np.any(grid != classes[:, 1:]):
            raise ValueError(f"official_npz: latents_classes are not the full grid {sizes} in row-major order")
        packed = np.empty((len(classes), render.IMAGE_SIZE, render.IMAGE_SIZE // 8), np.uint8)
        filled = 0
        for shape, chunk in _read_npy_member_in_chunks(archive, "imgs.npy", rows_per_chunk=8192):
            if tuple(shape) != (len(classes), render.IMAGE_SIZE, render.IMAGE_SIZE):
                raise ValueError(f"official_npz: imgs has shape {shape}; expected ({len(classes)}, 64, 64)")
            if chunk.max(initial=0) > 1 or chunk.min(initial=0) < 0:
                raise ValueError("official_npz: imgs must hold only 0 and 1")
            packed[filled:filled + len(chunk)] = np.packbits(chunk.astype(np.uint8), axis=-1)
            filled += len(chunk)
    packed.setflags(write=False)
    return packed, sizes


class DSprites(GroundTruthData):
    """dSprites with disentanglement_lib's interface, channel-first observations in [0, 1].

    Parameters
    ----------
    variant : "binary" | "color" | "noisy"
    official_npz : path of DeepMind's npz to use instead of the procedural grid (same interface).
    data_dir : where the procedural cache lives (default: `default_data_dir()`).
    progress : show a progress bar when the cache has to be rendered.
    """

    factor_names = render.FACTOR_NAMES

    def __init__(self, variant: str = "binary", official_npz=None, data_dir=None, progress: bool = True):
        self.variant = check_choice("variant", variant, VARIANTS)
        if official_npz is not None:
            self._packed, self._num_values = load_official_npz(official_npz)
            self.source = str(official_npz)
        else:
            self._packed = _load_packed(ensure_grid_cache(data_dir, progress=progress))
            self._num_values = render.FACTORS_NUM_VALUES
            self.source = "procedural"

    @property
    def factors_num_values(self) -> tuple[int, ...]:
        return self._num_values

    @property
    def observation_shape(self) -> tuple[int, int, int]:
        return (1 if self.variant == "binary" else 3, render.IMAGE_SIZE, render.IMAGE_SIZE)

    @property
    def deterministic(self) -> bool:
        """Binary sprites are a function of the factors; the colour and noise variants draw randomness."""
        return self.variant == "binary"

    @property
    def num_images(self) -> int:
        return len(self._packed)

    @property
    def packed_grid(self) -> np.ndarray:
        """The read-only bit-packed grid, uint8 (num_images, 64, 8): row bits of every image."""
        return self._packed

    @property
    def factor_values(self) -> dict[str, np.ndarray]:
        """The physical value of every class of every factor (shape gives names)."""
        if self._num_values != render.FACTORS_NUM_VALUES:  # a reduced official-format file: indices only
            return super().factor_values
        values = (np.array(render.SHAPE_NAMES), render.SCALES, render.ORIENTATIONS, render.POSITIONS, render.POSITIONS)
        return dict(zip(self.factor_names, values))

    def index_of(self, factors) -> np.ndarray:
        """Flat grid index of each row of factors (row-major, the last factor fastest)."""
        factors = self.check_factors(factors)
        return np.ravel_multi_index(tuple(factors.T), self._num_values)

    def factors_at(self, index) -> np.ndarray:
        """(N, K) factors of flat grid indices (the inverse of `index_of`)."""
        index = np.asarray(index)
        if index.ndim != 1 or (index.size and not np.issubdtype(index.dtype, np.integer)):
            raise ValueError(f"index must be a 1-D integer array; got dtype {index.dtype}, shape {index.shape}")
        if index.size and (index.min() < 0 or index.max() >= self.num_images):
            bad = index[(index < 0) | (index >= self.num_images)][0]
            raise ValueError(f"index {bad} is out of range: allowed 0 .. {self.num_images - 1}")
        return np.stack(np.unravel_index(index, self._num_values), axis=1).astype(np.int64)

    def binary_images_at(self, index) -> np.ndarray:
        """uint8 (N, 64, 64) sprites of flat grid indices, unpacked from the bit-packed grid."""
        return np.unpackbits(self._packed[index], axis=-1)

    def sample_observations_from_factors(self, factors, random_state) -> np.ndarray:
        sprites = self.binary_images_at(self.index_of(factors))[:, None].astype(np.float32)
        if self.variant == "binary":
            return sprites
        random_state = as_random_state(random_state)
        rgb = np.repeat(sprites, 3, axis=1)
        if self.variant == "color":
            return rgb * random_state.uniform(0.5, 1.0, size=(len(rgb), 3, 1, 1)).astype(np.float32)
        return np.minimum(rgb + random_state.uniform(0.0, 1.0, size=rgb.shape).astype(np.float32), 1.0)
