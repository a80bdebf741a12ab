"""Tests for course_lib.lab.viz on small fake ground-truth datasets (no dSprites needed)."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from course_lib.data import GroundTruthData  # noqa: E402
from course_lib.lab import viz


class Toy(GroundTruthData):
    """Three factors; the image's row k holds factor k's class scaled into [0, 1]."""

    factor_names = ("side", "level", "angle")
    factors_num_values = (2, 5, 12)

    def __init__(self, channels=1):
        self.channels = channels

    @property
    def observation_shape(self):
        return (self.channels, 3, 4)

    @property
    def factor_values(self):
        return {"side": np.array(["left", "right"]), "level": np.linspace(0.0, 1.0, 5),
                "angle": np.arange(12) * 30}

    def sample_observations_from_factors(self, factors, random_state):
        factors = self.check_factors(factors)
        rows = factors / (np.asarray(self.factors_num_values) - 1)  # (N, 3) in [0, 1]
        images = np.repeat(rows[:, None, :, None], 4, axis=3)
        return np.repeat(images, self.channels, axis=1).astype(np.float32)


class DSpritesSized(Toy):
    factor_names = ("shape", "scale", "orientation", "position_x", "position_y")
    factors_num_values = (3, 6, 40, 32, 32)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def visible_image_axes(fig):
    return [ax for ax in fig.axes if ax.get_visible() and ax.images]


# factor_sweep_factors ------------------------------------------------------------------------------

@pytest.mark.parametrize("dataset", [Toy(), DSpritesSized()], ids=["toy", "dsprites-sized"])
def test_sweep_changes_only_its_own_factor_and_spans_its_range(dataset):
    sizes = dataset.factors_num_values
    base = np.array(sizes) // 2
    sweeps = viz.factor_sweep_factors(dataset, base)
    num_factors = len(sizes)
    assert sweeps.shape == (num_factors, min(10, max(sizes)), num_factors)
    assert np.issubdtype(sweeps.dtype, np.integer)
    for k in range(num_factors):
        changed = sweeps[k] != base
        assert not np.delete(changed, k, axis=1).any(), f"row {k} changes a factor other than {k}"
        assert changed[:, k].any()
        column = sweeps[k, :, k]
        assert column[0] == 0 and column[-1] == sizes[k] - 1
        assert np.all(np.diff(column) >= 0)
        expected_distinct = min(sizes[k], sweeps.shape[1])
        assert len(np.unique(column)) == expected_distinct  # every class, or S distinct ones


def test_sweep_steps_are_evenly_spaced():
    sweeps = viz.factor_sweep_factors(DSpritesSized(), [0, 0, 0, 0, 0], num_steps=4)
    np.testing.assert_array_equal(sweeps[2, :, 2], [0, 13, 26, 39])
    np.testing.assert_array_equal(sweeps[0, :, 0], [0, 1, 1, 2])


@pytest.mark.parametrize("base, num_steps, message", [
    ([0, 0], None, r"base_factors has shape \(2,\); expected \(3,\)"),
    ([[0, 0, 0]], None, r"base_factors has shape \(1, 3\)"),
    ([0, 5, 0], None, r"base_factors: .* out of range for 'level': allowed 0 .. 4"),
    ([0, 0, 0], 1, r"num_steps=1 is not allowed; use an integer >= 2"),
    ([0, 0, 0], 2.5, r"num_steps=2.5 is not allowed"),
])
def test_sweep_rejects_bad_input(base, num_steps, message):
    with pytest.raises(ValueError, match=message):
        viz.factor_sweep_factors(Toy(), base, num_steps)


# show_images ---------------------------------------------------------------------------------------

def test_show_images_draws_exactly_the_grey_pixels():
    images = np.random.RandomState(0).uniform(size=(5, 1, 6, 7)).astype(np.float32)
    fig = viz.show_images(images, ncols=2, titles=list("abcde"), row_labels=["r0", "r1", "r2"])
    assert len(fig.axes) == 6  # 3 rows x 2 columns, the last cell empty
    drawn = [ax for ax in fig.axes if ax.images]
    assert len(drawn) == 5 and not fig.axes[5].images and not fig.axes[5].axison
    for ax, image, title in zip(drawn, images, "abcde"):
        np.testing.assert_array_equal(ax.images[0].get_array(), image[0])
        assert ax.images[0].get_clim() == (0, 1)
        assert ax.get_title() == title
        assert list(ax.get_xticks()) == [] and list(ax.get_yticks()) == []
    assert [fig.axes[i].get_ylabel() for i in (0, 2, 4)] == ["r0", "r1", "r2"]


def test_show_images_draws_rgb_channel_last():
    images = np.random.RandomState(1).uniform(size=(3, 3, 4, 5))
    fig = viz.show_images(images)
    assert len(fig.axes) == 3  # fewer images than ncols: one row of 3
    for ax, image in zip(fig.axes, images):
        np.testing.assert_array_equal(ax.images[0].get_array(), image.transpose(1, 2, 0))


@pytest.mark.parametrize("kwargs, message", [
    (dict(images=np.zeros((2, 8, 8))), r"images has shape \(2, 8, 8\); expected 4 dimensions"),
    (dict(images=np.zeros((2, 2, 8, 8))), r"images has 2 channels .* allowed: 1 \(grey\) or 3 \(RGB\)"),
    (dict(images=np.zeros((2, 8, 8, 3))), r"images has 8 channels"),
    (dict(images=np.zeros((0, 1, 8, 8))), r"expected at least one image"),
    (dict(images=np.full((1, 1, 2, 2), 255.0)), r"images has values in \[255, 255\]; allowed: \[0, 1\]"),
    (dict(images=np.full((1, 1, 2, 2), np.nan)), r"allowed: \[0, 1\]"),
    (dict(images=np.zeros((2, 1, 4, 4)), titles=["one"]), r"titles has 1 entries; expected .* 2 strings"),
    (dict(images=np.zeros((2, 1, 4, 4)), titles="ab"), r"titles has 'ab'"),
    (dict(images=np.zeros((4, 1, 4, 4)), ncols=2, row_labels=["a"]), r"row_labels has 1 entries; expected .* 2"),
    (dict(images=np.zeros((2, 1, 4, 4)), ncols=0), r"ncols=0 is not allowed"),
    (dict(images=np.zeros((2, 1, 4, 4)), cell_size=-1), r"cell_size=-1 is not allowed"),
])
def test_show_images_rejects_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        viz.show_images(**kwargs)


# plot_factor_sweeps --------------------------------------------------------------------------------

@pytest.mark.parametrize("channels", [1, 3])
def test_factor_sweep_plot_shows_the_sweep_once_per_class(channels):
    dataset = Toy(channels)
    base = np.array([1, 2, 3])
    fig = viz.plot_factor_sweeps(dataset, base, random_state=0, num_steps=6)
    rows = [fig.axes[k * 6:(k + 1) * 6] for k in range(3)]
    assert [row[0].get_ylabel() for row in rows] == list(dataset.factor_names)
    sweeps = viz.factor_sweep_factors(dataset, base, 6)
    expected_titles = [["left", "right"], ["0", "0.25", "0.5", "0.75", "1"], ["0", "60", "120", "210", "270", "330"]]
    for k, row in enumerate(rows):
        shown = [(s, ax) for s, ax in enumerate(row) if ax.get_visible()]
        assert [ax.get_title() for _, ax in shown] == expected_titles[k]
        classes = sweeps[k, [s for s, _ in shown], k]
        assert len(np.unique(classes)) == len(classes) == min(6, dataset.factors_num_values[k])
        observations = dataset.sample_observations_from_factors(sweeps[k, [s for s, _ in shown]], 0)
        for (_, ax), observation in zip(shown, observations):
            drawn = ax.images[0].get_array()
            np.testing.assert_array_equal(drawn, observation[0] if channels == 1 else observation.transpose(1, 2, 0))


# plot_factor_histograms ----------------------------------------------------------------------------

def test_histogram_bars_are_the_empirical_frequencies():
    dataset = Toy()
    factors = dataset.sample_factors(50, np.random.RandomState(3))
    fig = viz.plot_factor_histograms(dataset, factors)
    charts = [ax for ax in fig.axes if ax.patches]
    assert len(charts) == 3
    for k, ax in enumerate(charts):
        size = dataset.factors_num_values[k]
        heights = [bar.get_height() for bar in ax.patches]
        np.testing.assert_allclose(heights, np.bincount(factors[:, k], minlength=size) / 50)
        assert np.isclose(sum(heights), 1.0)
        (uniform,) = ax.get_lines()
        np.testing.assert_allclose(uniform.get_ydata(), 1 / size)
        assert ax.get_xlabel() and ax.get_ylabel() == "frequency"
    assert [t.get_text() for t in charts[0].get_xticklabels()] == ["left", "right"]


@pytest.mark.parametrize("factors, message", [
    (np.zeros((4, 2), int), r"factors has shape \(4, 2\); expected \(N, 3\)"),
    (np.array([[0, 0, 12]]), r"out of range for 'angle'"),
    (np.zeros((0, 3), int), r"factors has no rows"),
])
def test_histogram_rejects_bad_factors(factors, message):
    with pytest.raises(ValueError, match=message):
        viz.plot_factor_histograms(Toy(), factors)


# titles and axis names (a projector needs both) -------------------------------------------------------

def test_image_grids_take_a_figure_title():
    images = np.random.RandomState(2).uniform(size=(4, 1, 5, 5))
    assert viz.show_images(images, title="A strip")._suptitle.get_text() == "A strip"
    assert viz.show_images(images)._suptitle is None  # no title asked, none drawn
    fig = viz.plot_reconstructions(images, images, num=4, title="Inputs and reconstructions")
    assert fig._suptitle.get_text() == "Inputs and reconstructions"
    assert [fig.axes[i].get_ylabel() for i in (0, 4)] == ["input", "reconstruction"]
    fig = viz.plot_traversals(images.reshape(2, 2, 1, 5, 5), order=[1, 0], kl=np.array([0.5, 2.0]), title="T")
    assert fig._suptitle.get_text() == "T" and fig.axes[0].get_ylabel() == "z1\nKL 2.00"
    titled = viz.show_images(images, titles=list("abcd"))
    assert all(ax.title.get_fontsize() >= 11 for ax in titled.axes)
    plt.close("all")


def test_loss_curves_name_both_axes():
    import pandas as pd

    log = pd.DataFrame({"step": [1, 2, 3], "total": [3.0, 2.0, 1.0], "kl": [0.1, 0.2, 0.3]})
    fig = viz.plot_loss_curves(log, ("total", "kl"))
    assert [(ax.get_xlabel(), ax.get_ylabel(), ax.get_title()) for ax in fig.axes] == [
        ("training step", "nats per image", "total"), ("training step", "nats per image", "kl")]
    assert viz.plot_loss_curves(log, ("kl",), ylabel="nats").axes[0].get_ylabel() == "nats"
    plt.close("all")


def test_metric_heatmaps_name_their_axes():
    import pandas as pd

    from course_lib.lab.metric_comparison import plot_matrix, plot_rank_correlation, plot_score_table
    from course_lib.metrics.scores import rank_correlation

    table = pd.DataFrame(np.random.RandomState(4).uniform(size=(4, 3)), index=list("abcd"),
                         columns=["MIG", "SAP", "DCI D"])
    ax = plot_score_table(table, title="t")
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("metric (score)", "representation")
    assert plot_score_table(table, row_label="model").get_ylabel() == "model"
    ax = plot_rank_correlation(rank_correlation(table))
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("metric", "metric")
    ax = plot_rank_correlation(rank_correlation(table), row_label="unsupervised score", col_label="task")
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("task", "unsupervised score")
    _, ax = plt.subplots()
    plot_matrix(np.arange(6).reshape(3, 2), ax, "m", col_labels=["x", "y"])
    assert (ax.get_xlabel(), ax.get_ylabel(), ax.get_title()) == ("factor", "code dimension", "m")
    assert all(text.get_fontsize() >= 9 for text in ax.texts)
    plt.close("all")
