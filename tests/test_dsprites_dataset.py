"""The dSprites dataset: grid addressing, cache, variants, the official file format, errors."""
import json

import numpy as np
import pytest
import torch

from course_lib.data import DSprites, GroundTruthData
from course_lib.data import dsprites as cache
from course_lib.data import dsprites_render as render
from course_lib.data import load_official_npz


def test_grid_has_dsprites_factors(dsprites):
    assert isinstance(dsprites, GroundTruthData)
    assert dsprites.factor_names == ("shape", "scale", "orientation", "position_x", "position_y")
    assert dsprites.factors_num_values == (3, 6, 40, 32, 32)
    assert dsprites.num_images == 737_280
    assert dsprites.observation_shape == (1, 64, 64)
    values = dsprites.factor_values
    np.testing.assert_allclose(values["scale"], [0.5, 0.6, 0.7, 0.8, 0.9, 1.0])
    assert values["orientation"][0] == 0 and values["orientation"][-1] == pytest.approx(2 * np.pi)
    assert list(values["shape"]) == ["square", "ellipse", "heart"]


def test_index_of_and_factors_at_are_inverse_and_row_major(dsprites, rng):
    index = rng.randint(dsprites.num_images, size=1000)
    factors = dsprites.factors_at(index)
    np.testing.assert_array_equal(dsprites.index_of(factors), index)
    shape, scale, orientation, x, y = factors.T
    np.testing.assert_array_equal(index, (((shape * 6 + scale) * 40 + orientation) * 32 + x) * 32 + y)


def test_in_memory_grid_is_bit_packed(dsprites):
    assert dsprites.packed_grid.nbytes == 737_280 * 64 * 8 <= 0.5 * 2**30


def test_cached_grid_equals_direct_rendering(dsprites, rng):
    factors = dsprites.sample_factors(2000, rng)
    direct = render.compose_images(render.grid_sprites().astype(np.uint8), factors)
    observations = dsprites.sample_observations_from_factors(factors, rng)
    np.testing.assert_array_equal(observations[:, 0], direct)


def test_torch_assembly_gives_the_same_bits_as_numpy(rng):
    factors = render.grid_factors(0, render.NUM_IMAGES)[rng.randint(render.NUM_IMAGES, size=3000)]
    sprites = render.grid_sprites().astype(np.uint8)
    expected = np.packbits(render.compose_images(sprites, factors), axis=-1)
    got = render.pack_bits_torch(render.compose_images_torch(torch.from_numpy(sprites), torch.from_numpy(factors)))
    np.testing.assert_array_equal(got.numpy(), expected)


def test_sample_factors_is_uniform_and_reproducible(dsprites):
    factors = dsprites.sample_factors(60_000, np.random.RandomState(1))
    for k, size in enumerate(dsprites.factors_num_values):
        counts = np.bincount(factors[:, k], minlength=size)
        expected = 60_000 / size
        assert np.all(np.abs(counts - expected) < 5 * np.sqrt(expected))
    np.testing.assert_array_equal(factors, dsprites.sample_factors(60_000, 1))


def test_variants_follow_disentanglement_lib(dsprites):
    factors = dsprites.sample_factors(200, 3)
    sprite = dsprites.sample_observations_from_factors(factors, 0)[:, 0] > 0.5
    color = DSprites("color", progress=False).sample_observations_from_factors(factors, np.random.RandomState(5))
    noisy = DSprites("noisy", progress=False).sample_observations_from_factors(factors, np.random.RandomState(5))
    assert color.shape == noisy.shape == (200, 3, 64, 64)
    for image, on in zip(color, sprite):
        assert np.all(image[:, ~on] == 0)
        rgb = image[:, on]
        assert np.all(rgb == rgb[:, :1]) and np.all((rgb >= 0.5) & (rgb <= 1.0))
    on3 = np.broadcast_to(sprite[:, None], noisy.shape)
    assert np.all(noisy[on3] == 1.0)
    background = noisy[~on3]
    assert background.min() >= 0 and background.max() < 1 and abs(background.mean() - 0.5) < 0.01
    again = DSprites("noisy", progress=False).sample_observations_from_factors(factors, np.random.RandomState(5))
    np.testing.assert_array_equal(noisy, again)


@pytest.mark.parametrize(
    "factors, message",
    [
        (np.zeros((4, 4), int), r"shape \(4, 4\)"),
        (np.zeros(5, int), r"shape \(5,\)"),
        (np.array([[0, 0, 0, 32, 0]]), "'position_x': allowed 0 .. 31"),
        (np.array([[-1, 0, 0, 0, 0]]), "'shape': allowed 0 .. 2"),
        (np.array([[0, 0.5, 0, 0, 0]]), "non-integer"),
    ],
)
def test_bad_factors_are_rejected_before_any_work(dsprites, factors, message):
    with pytest.raises(ValueError, match=message):
        dsprites.sample_observations_from_factors(factors, 0)


def test_bad_variant_and_index_are_rejected(dsprites):
    with pytest.raises(ValueError, match="variant='scream'.*binary"):
        DSprites("scream")
    with pytest.raises(ValueError, match="index 737280 is out of range"):
        dsprites.factors_at(np.array([0, 737_280]))


# --- the cache: rendered when missing, trusted only when its checksum matches ----------------------

@pytest.fixture
def counted_renders(monkeypatch):
    """Replace the 6-second renderer with a small deterministic one and count its calls."""
    calls = []

    def fake_render(progress=True):
        calls.append(1)
        return np.arange(4096, dtype=np.uint8).reshape(8, 64, 8)

    monkeypatch.setattr(render, "render_packed_grid", fake_render)
    return calls


def test_cache_is_rendered_once_then_reused(tmp_path, counted_renders):
    path = cache.ensure_grid_cache(tmp_path, progress=False)
    assert cache.ensure_grid_cache(tmp_path, progress=False) == path
    assert len(counted_renders) == 1
    manifest = json.loads(path.with_suffix(".json").read_text())
    assert manifest["sha256"] == cache.sha256_of_file(path)


@pytest.mark.parametrize("damage", ["flip_byte", "truncate", "drop_manifest", "garble_manifest", "[1, 2]", "null",
                                    '"text"'])
def test_damaged_cache_is_detected_and_rendered_again(tmp_path, counted_renders, damage):
    path = cache.ensure_grid_cache(tmp_path, progress=False)
    good = path.read_bytes()
    manifest = path.with_suffix(".json")
    if damage == "flip_byte":
        path.write_bytes(good[:-1] + bytes([good[-1] ^ 1]))
    elif damage == "truncate":
        path.write_bytes(good[: len(good) // 2])
    elif damage == "drop_manifest":
        manifest.unlink()
    elif damage == "garble_manifest":
        manifest.write_text("{not json")
    else:  # valid JSON of the wrong shape
        manifest.write_text(damage)
    cache.ensure_grid_cache(tmp_path, progress=False)
    assert len(counted_renders) == 2
    assert path.read_bytes() == good


def test_interrupted_render_leaves_no_file(tmp_path, monkeypatch):
    def broken_render(progress=True):
        raise KeyboardInterrupt

    monkeypatch.setattr(render, "render_packed_grid", broken_render)
    with pytest.raises(KeyboardInterrupt):
        cache.ensure_grid_cache(tmp_path, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_cache_on_disk_matches_its_manifest(dsprites):
    path, manifest_path = cache.cache_paths(cache.default_data_dir())
    manifest = json.loads(manifest_path.read_text())
    assert manifest["shape"] == [737_280, 64, 8] and manifest["factors_num_values"] == [3, 6, 40, 32, 32]


# --- DeepMind's official file: same format, a reduced grid written by the test ---------------------

SMALL_GRID = (3, 2, 2, 2, 2)


def write_official_format(path, images=None, classes=None, **overrides):
    grid = np.stack(np.unravel_index(np.arange(np.prod(SMALL_GRID)), SMALL_GRID), axis=1)
    if classes is None:
        classes = np.concatenate([np.zeros((len(grid), 1), int), grid], axis=1)
    if images is None:
        images = np.random.RandomState(0).randint(0, 2, size=(len(classes), 64, 64)).astype(np.uint8)
    arrays = {"imgs": images, "latents_classes": classes, "latents_values": classes.astype(float),
              "metadata": np.array({"date": "April 2017"}, dtype=object)}  # pickled, as in the real file
    arrays.update(overrides)
    np.savez_compressed(path, **{k: v for k, v in arrays.items() if v is not None})
    return images


def test_official_format_loads_with_the_same_interface(tmp_path, rng):
    path = tmp_path / cache.OFFICIAL_FILE_NAME
    images = write_official_format(path)
    data = DSprites(official_npz=path)
    assert data.factors_num_values == SMALL_GRID and data.num_images == 48
    factors = data.sample_factors(30, rng)
    observations = data.sample_observations_from_factors(factors, rng)
    np.testing.assert_array_equal(observations[:, 0], images[data.index_of(factors)])
    color = DSprites("color", official_npz=path).sample_observations_from_factors(factors, rng)
    assert color.shape == (30, 3, 64, 64)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"imgs": None}, r"lacks \['imgs.npy'\]"),
        ({"imgs": np.full((48, 64, 64), 2, np.uint8)}, "only 0 and 1"),
        ({"imgs": np.zeros((48, 32, 32), np.uint8)}, "expected \\(48, 64, 64\\)"),
        ({"latents_classes": np.zeros((48, 5), int)}, r"expected \(N, 6\)"),
        ({"latents_classes": np.ones((48, 6), int)}, "colour"),
    ],
)
def test_malformed_official_file_is_rejected(tmp_path, change, message):
    path = tmp_path / "bad.npz"
    write_official_format(path, **change)
    with pytest.raises(ValueError, match=message):
        load_official_npz(path)


def test_official_file_out_of_grid_order_is_rejected(tmp_path):
    grid = np.stack(np.unravel_index(np.arange(48), SMALL_GRID), axis=1)[::-1]
    path = tmp_path / "shuffled.npz"
    write_official_format(path, classes=np.concatenate([np.zeros((48, 1), int), grid], axis=1))
    with pytest.raises(ValueError, match="row-major"):
        load_official_npz(path)


def test_missing_or_non_zip_official_file_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="official_npz=.*does not exist"):
        DSprites(official_npz=tmp_path / "absent.npz")
    not_zip = tmp_path / "junk.npz"
    not_zip.write_bytes(b"not a zip file")
    with pytest.raises(ValueError, match="not an npz"):
        load_official_npz(not_zip)
