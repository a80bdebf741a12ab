"""Plotting helpers shared by the notebooks: image grids, factor sweeps and factor histograms.

Images are channel-first arrays (N, C, H, W) with values in [0, 1], C = 1 (grey) or 3 (RGB), as the
ground-truth datasets return them. Every plotting function returns its matplotlib Figure; a notebook
shows it with `plt.show()`.
"""
from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np

from course_lib.checks import check_int, check_number

MAX_SWEEP_STEPS = 10  # the default number of steps of a factor sweep


def _check_images(images) -> np.ndarray:
    if hasattr(images, "detach"):  # a torch tensor, possibly on a GPU
        images = images.detach().cpu().numpy()
    images = np.asarray(images)
    if images.ndim != 4:
        raise ValueError(f"images has shape {images.shape}; expected 4 dimensions (N, C, H, W), channel-first")
    if images.shape[1] not in (1, 3):
        raise ValueError(f"images has {images.shape[1]} channels (shape {images.shape}); "
                         "allowed: 1 (grey) or 3 (RGB), on axis 1")
    if len(images) == 0:
        raise ValueError(f"images has shape {images.shape}; expected at least one image")
    if images.dtype.kind not in "biuf":
        raise ValueError(f"images has dtype {images.dtype}; expected numbers in [0, 1]")
    low, high = images.min(), images.max()
    if not (low >= 0 and high <= 1):  # also catches NaN
        raise ValueError(f"images has values in [{low:.3g}, {high:.3g}]; allowed: [0, 1] (clip or rescale first)")
    return images


def _check_labels(name: str, labels, expected: int, meaning: str):
    if labels is None:
        return None
    if isinstance(labels, str) or len(labels) != expected:
        got = repr(labels) if isinstance(labels, str) else f"{len(labels)} entries"
        raise ValueError(f"{name} has {got}; expected a sequence of {expected} strings, {meaning}")
    return [str(label) for label in labels]


def show_images(images, ncols: int = 8, titles=None, row_labels=None, cell_size: float = 1.2, title: str | None = None):
    """A grid of images, `ncols` per row, with optional per-image titles, per-row labels and a figure title."""
    images = _check_images(images)
    ncols = min(check_int("ncols", ncols, 1), len(images))
    check_number("cell_size", cell_size, 0, low_open=True, note=" of inches")
    nrows = math.ceil(len(images) / ncols)
    titles = _check_labels("titles", titles, len(images), "one per image")
    row_labels = _check_labels("row_labels", row_labels, nrows, "one per row")
    figsize = (ncols * cell_size + (1.2 if row_labels else 0),
               nrows * cell_size * (1.25 if titles else 1) + (0.45 if title else 0))
    fig, axes = plt.subplots(nrows, ncols, figsize=figsize, squeeze=False, layout="constrained")
    for index, ax in enumerate(axes.flat):
        if index >= len(images):
            ax.axis("off")
            continue
        image = images[index]
        if image.shape[0] == 1:
            ax.imshow(image[0], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        else:
            ax.imshow(image.transpose(1, 2, 0), interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        if titles:
            ax.set_title(titles[index], fontsize=11)
    for row, label in enumerate(row_labels or ()):
        axes[row, 0].set_ylabel(label, rotation=0, ha="right", va="center", fontsize=11)
    if title:
        fig.suptitle(title, fontsize=12)
    return fig


def factor_sweep_factors(dataset, base_factors, num_steps=None) -> np.ndarray:
    """int (K, S, K): row k is `base_factors` with factor k stepping through its classes.

    Factor k takes S evenly spaced class indices from its first to its last class (rounded), so a
    factor with fewer than S classes shows each class in turn, repeated. S defaults to
    min(MAX_SWEEP_STEPS, the largest number of classes).
    """
    sizes = np.asarray(dataset.factors_num_values)
    base = np.asarray(base_factors)
    if base.shape != sizes.shape:
        raise ValueError(f"base_factors has shape {base.shape}; expected ({len(sizes)},), "
                         f"one class index per factor of {tuple(dataset.factor_names)}")
    try:
        base = dataset.check_factors(base[None])[0]
    except ValueError as error:
        raise ValueError(f"base_factors: {error}") from None
    if num_steps is None:
        num_steps = max(2, min(MAX_SWEEP_STEPS, int(sizes.max())))
    num_steps = check_int("num_steps", num_steps, 2)
    steps = np.rint(np.linspace(0, sizes - 1, num_steps)).astype(np.int64)  # (S, K)
    sweeps = np.tile(base, (len(sizes), num_steps, 1))
    diagonal = np.arange(len(sizes))
    sweeps[diagonal, :, diagonal] = steps.T
    return sweeps


def _format_value(value) -> str:
    return f"{value:.3g}" if isinstance(value, (float, np.floating)) else str(value)


def plot_factor_sweeps(dataset, base_factors, random_state, num_steps: int = 10):
    """One row per factor in which only that factor varies, images titled with its physical value.

    A class that a row repeats (a factor with fewer classes than `num_steps`) is drawn once, at the
    first column it occupies, so every row spans the factor's range left to right.
    """
    sweeps = factor_sweep_factors(dataset, base_factors, num_steps)
    num_factors, num_steps = sweeps.shape[:2]
    images = dataset.sample_observations_from_factors(sweeps.reshape(-1, num_factors), random_state)
    diagonal = np.arange(num_factors)
    classes = sweeps[diagonal, :, diagonal]  # (K, S): the class of the varying factor
    values = dataset.factor_values
    titles = [_format_value(values[name][c]) for name, row in zip(dataset.factor_names, classes) for c in row]
    fig = show_images(images, ncols=num_steps, titles=titles, row_labels=dataset.factor_names)
    repeated = np.zeros_like(classes, dtype=bool)
    repeated[:, 1:] = classes[:, 1:] == classes[:, :-1]
    for ax in np.asarray(fig.axes)[repeated.ravel()]:
        ax.set_visible(False)
    return fig


def plot_factor_histograms(dataset, factors):
    """One bar chart per factor: empirical class frequencies, with the uniform 1/n as a dashed line."""
    factors = dataset.check_factors(factors)
    if len(factors) == 0:
        raise ValueError("factors has no rows; expected at least one sample")
    names, sizes = dataset.factor_names, dataset.factors_num_values
    values = dataset.factor_values
    ncols = min(3, len(names))
    nrows = math.ceil(len(names) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 3.2 * nrows), squeeze=False, layout="constrained")
    for ax in axes.flat[len(names):]:
        ax.axis("off")
    for k, (ax, name, size) in enumerate(zip(axes.flat, names, sizes)):
        frequencies = np.bincount(factors[:, k], minlength=size) / len(factors)
        ax.bar(np.arange(size), frequencies, width=0.8, color="tab:blue", label="empirical")
        ax.axhline(1 / size, color="tab:red", linestyle="--", linewidth=1.5, label="uniform 1/n")
        if name in values and np.asarray(values[name]).dtype.kind == "U":
            ax.set_xticks(np.arange(size), values[name])
        ax.set(title=f"{name} ({size} classes)", xlabel="class index", ylabel="frequency",
               ylim=(0, 1.3 * max(frequencies.max(), 1 / size)))
    axes.flat[0].legend(loc="upper right", fontsize=9)
    fig.suptitle(f"Factor frequencies in {len(factors):,} samples")
    return fig


# --- trained models ---------------------------------------------------------------------------------

def plot_reconstructions(observations, reconstructions, num: int = 8, title: str | None = None):
    """Originals (top row) above their reconstructions (bottom row)."""
    originals, rebuilt = _check_images(observations)[:num], _check_images(reconstructions)[:num]
    return show_images(np.concatenate([originals, rebuilt]), ncols=len(originals),
                       row_labels=["input", "reconstruction"], title=title)


def plot_traversals(traversals, order, kl=None, title: str | None = None):
    """A grid of decoded traversals (D, S, C, H, W): one row per latent, labelled with its index and KL."""
    traversals = np.asarray(traversals)
    labels = [f"z{d}" + (f"\nKL {kl[d]:.2f}" if kl is not None else "") for d in order]
    return show_images(traversals.reshape(-1, *traversals.shape[2:]), ncols=traversals.shape[1], row_labels=labels,
                       title=title)


def traversal_gif(path, traversals, seconds_per_frame: float = 0.1) -> None:
    """An animated GIF: each frame shows every latent's image at one step, sweeping back and forth."""
    import imageio.v3 as iio

    from course_lib.io import atomic_open

    traversals = np.asarray(traversals)  # (D, S, C, H, W)
    num_latents, num_steps, channels, height, width = traversals.shape
    # frame s: the D images at step s side by side, (H, D * W, C)
    frames = traversals.transpose(1, 3, 0, 4, 2).reshape(num_steps, height, num_latents * width, channels)
    frames = np.concatenate([frames, frames[-2:0:-1]])  # back again without repeating the ends: a seamless loop
    frames = (255 * frames).round().astype(np.uint8)
    if frames.shape[-1] == 1:
        frames = frames[..., 0]
    with atomic_open(path, "wb") as handle:
        handle.write(iio.imwrite("<bytes>", frames, extension=".gif", duration=seconds_per_frame * 1000, loop=0))


def plot_kl_per_latent(log):
    """KL of each latent against the training step, from a run's log (columns kl_per_latent_<d>)."""
    columns = [c for c in log.columns if c.startswith("kl_per_latent_")]
    fig, ax = plt.subplots(figsize=(7, 4), layout="constrained")
    for column in columns:
        ax.plot(log["step"], log[column], label=f"z{column.rsplit('_', 1)[1]}")
    ax.set(xlabel="training step", ylabel="KL(q(z_d|x) || p(z_d)) (nats)", title="KL per latent during training")
    ax.legend(ncol=2, fontsize=10)
    return fig


def plot_loss_curves(log, terms=("total", "reconstruction", "kl"), ylabel: str = "nats per image"):
    """One panel per logged term against the training step (every term of the kit's objectives is in nats)."""
    missing = [t for t in terms if t not in log.columns]
    if missing:
        raise ValueError(f"terms {missing} are not in the log; it has {list(log.columns)}")
    fig, axes = plt.subplots(1, len(terms), figsize=(4.2 * len(terms), 3.4), squeeze=False, layout="constrained")
    for ax, term in zip(axes[0], terms):
        ax.plot(log["step"], log[term])
        ax.set(xlabel="training step", ylabel=ylabel, title=term)
    return fig


def plot_traversal_panels(panels: dict, title: str = ""):
    """Traversal grids of several models side by side, one row per KL rank, grey columns between models.

    panels maps a model's name to (traversals (D, S, C, H, W), order, kl) as returned by
    `course_lib.representation.latent_traversals` and `kl_per_latent`; each row is labelled
    "z<latent> <KL>" for every model, in the order of the panels.
    """
    if not panels:
        raise ValueError("panels={} is not allowed; give at least one model's (traversals, order, kl)")
    grids = [np.asarray(traversals) for traversals, _, _ in panels.values()]
    if len({g.shape for g in grids}) != 1:
        raise ValueError(f"panels have traversals of shapes {[g.shape for g in grids]}; they must all be equal")
    num_latent, num_steps = grids[0].shape[:2]
    gap = np.full_like(grids[0][:, :1], 0.5)
    pieces = [piece for grid in grids for piece in (grid, gap)][:-1]
    grid = np.concatenate(pieces, axis=1)
    labels = ["  |  ".join(f"z{order[r]} {kl[order[r]]:.2f}" for _, order, kl in panels.values())
              for r in range(num_latent)]
    fig = show_images(grid.reshape(-1, *grid.shape[2:]), ncols=grid.shape[1], row_labels=labels, cell_size=0.7)
    for column in range(num_steps, grid.shape[1], num_steps + 1):
        for ax in fig.axes[column::grid.shape[1]]:
            ax.set_visible(False)
    fig.suptitle(title + ("\n" if title else "") + "   ·   ".join(panels))
    return fig
