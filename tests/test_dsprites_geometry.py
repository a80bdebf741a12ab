"""The rendered sprites against what can be pinned about dSprites' geometry."""
import numpy as np
import pytest

from course_lib.data import dsprites_render as render

SQUARE, ELLIPSE, HEART = 0, 1, 2


def mask(shape, orientation, scale=1.0):
    return render.sprite_masks(shape, scale, orientation)[0]


@pytest.mark.parametrize("theta", [0.0, 0.3, 1.1, 2.0, 4.5])
def test_square_is_unchanged_by_a_quarter_turn(theta):
    assert np.array_equal(mask(SQUARE, theta), mask(SQUARE, theta + np.pi / 2))


@pytest.mark.parametrize("theta", [0.0, 0.3, 1.1, 2.0])
def test_ellipse_is_unchanged_by_a_half_turn_but_not_a_quarter_turn(theta):
    assert np.array_equal(mask(ELLIPSE, theta), mask(ELLIPSE, theta + np.pi))
    assert (mask(ELLIPSE, theta) != mask(ELLIPSE, theta + np.pi / 2)).sum() > 50


@pytest.mark.parametrize("theta", [0.0, 0.3, 1.1, 2.0])
def test_heart_is_changed_by_quarter_and_half_turns(theta):
    for turn in (np.pi / 2, np.pi):
        assert (mask(HEART, theta) != mask(HEART, theta + turn)).sum() > 20


def test_the_three_shapes_differ():
    masks = [mask(s, 0.7) for s in (SQUARE, ELLIPSE, HEART)]
    for a in range(3):
        for b in range(a + 1, 3):
            assert (masks[a] != masks[b]).sum() > 30


def test_heart_is_upright_at_orientation_zero():
    heart = mask(HEART, 0.0)
    rows = np.flatnonzero(heart.any(axis=1))
    widths = heart.sum(axis=1)
    assert widths[rows[-1]] <= 3, "the bottom of the heart is its tip"
    assert np.argmax(widths) < PATCH_CENTRE, "the widest rows (the lobes) are above the centre"
    top_row = heart[rows[0]].astype(int)
    assert np.count_nonzero(np.diff(top_row) == 1) == 2, "two lobes at the top"


PATCH_CENTRE = render.PATCH_RADIUS


@pytest.mark.parametrize("shape", [SQUARE, ELLIPSE, HEART])
def test_area_follows_the_closed_form_and_grows_with_scale(shape):
    areas = render.sprite_masks(shape, render.SCALES, 0.4).sum(axis=(1, 2))
    assert np.all(np.diff(areas) > 0)
    exact = render.SHAPE_AREAS[shape] * (render.SPRITE_RADIUS * render.SCALES) ** 2
    np.testing.assert_allclose(areas, exact, rtol=0.06)


def test_no_sprite_touches_the_patch_border():
    sprites = render.grid_sprites()
    border = sprites.copy()
    border[..., 1:-1, 1:-1] = False
    assert not border.any()


def test_square_at_orientation_zero_is_centred_on_its_position():
    factors = np.array([[SQUARE, 5, 0, x, y] for x in (0, 7, 31) for y in (0, 20, 31)])
    images = render.compose_images(render.grid_sprites().astype(np.uint8), factors)
    rows, cols = np.indices((64, 64)) + 0.5  # pixel centres
    for (_, _, _, x, y), image in zip(factors, images):
        mass = image.sum()
        assert (image * cols).sum() / mass == pytest.approx(16.5 + x)
        assert (image * rows).sum() / mass == pytest.approx(16.5 + y)


def test_centroid_moves_linearly_and_margins_are_equal_on_both_axes():
    sprites = render.grid_sprites().astype(np.uint8)
    for shape, scale, orientation in [(HEART, 3, 7), (ELLIPSE, 0, 22), (SQUARE, 5, 13)]:
        steps = np.arange(32)
        along_x = render.compose_images(sprites, np.array([[shape, scale, orientation, i, 9] for i in steps]))
        along_y = render.compose_images(sprites, np.array([[shape, scale, orientation, 9, i] for i in steps]))
        col_centroid = (along_x * np.arange(64)).sum(axis=(1, 2)) / along_x.sum(axis=(1, 2))
        row_centroid = (along_y * np.arange(64)[:, None]).sum(axis=(1, 2)) / along_y.sum(axis=(1, 2))
        np.testing.assert_allclose(np.diff(col_centroid), 1.0)
        np.testing.assert_allclose(np.diff(row_centroid), 1.0)
    # A shape symmetric under the transpose: swapping x and y transposes the image (equal margins).
    square = render.compose_images(sprites, np.array([[SQUARE, 5, 0, 3, 28], [SQUARE, 5, 0, 28, 3]]))
    assert np.array_equal(square[0].T, square[1])


def test_orientations_zero_and_two_pi_give_the_same_image_as_in_dsprites():
    sprites = render.grid_sprites()
    assert np.array_equal(sprites[:, :, 0], sprites[:, :, -1])


def test_bad_shape_and_scale_are_rejected():
    with pytest.raises(ValueError, match="shapes"):
        render.sprite_masks(3, 1.0, 0.0)
    with pytest.raises(ValueError, match="scales"):
        render.sprite_masks(0, -1.0, 0.0)
