"""Notebook 14's companion: Locatello et al.'s transfer experiment in miniature, on the three dSprites variants.

`TransferDesign` (one per profile, `DESIGNS`) says what to train: a few objectives x hyperparameter values x
seeds, each on binary, colour and noisy dSprites (`course_lib.data.DSprites`). `transfer_configs` turns it
into `TrainConfig`s; `score_models` trains each, scores its mean representation with `evaluate` and keeps a
table with a row per model (one column per score, labelled as in `course_lib.metrics.scores`), cached in a
CSV so that a rerun only loads it. The analysis itself is `course_lib.analysis.transfer`; the `plot_*`
functions draw the notebook's figures.

The `lecture` models are deliberately tiny (the MLP VAE, a few hundred steps at a raised learning rate):
36 of them have to train in minutes on a 2-core CPU, where the study trained each for 300,000 steps.
Their scores are small and noisy; what the notebook can show with them is how the analysis works and
how far a toy grid is from the paper's, not the paper's numbers.
"""
from __future__ import annotations

import dataclasses
import itertools
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from course_lib.analysis.transfer import PAPER_TRANSFER
from course_lib.checks import check_choice
from course_lib.data import VARIANTS, DSprites
from course_lib.io import write_text_atomic
from course_lib.lab.metric_comparison import annotated_heatmap
from course_lib.metrics import evaluate
from course_lib.metrics.scores import wide_scores
from course_lib.objectives import STUDY_SWEEPS
from course_lib.representation import mean_code_function
from course_lib.seeding import check_seed
from course_lib.training import TrainConfig, train

DATASET_LABELS = {"binary": "dSprites", "color": "Color-dSprites", "noisy": "Noisy-dSprites"}  # the paper's names
METHOD_LABELS = {"vae": "VAE", "beta_vae": "β-VAE", "annealed_vae": "AnnealedVAE", "factor_vae": "FactorVAE",
                 "dip_vae_i": "DIP-VAE-I", "dip_vae_ii": "DIP-VAE-II", "beta_tcvae": "β-TCVAE"}
HYPERPARAMETER_LABELS = {"beta": "β", "c_max": "C", "gamma": "γ", "lambda_od": "λ"}
KEY_COLUMNS = ("dataset", "method", "value", "seed")


@dataclasses.dataclass(frozen=True)
class TransferDesign:
    """What one profile trains: every method x its values x seeds, on every dSprites variant."""

    values: dict  # method -> its hyperparameter's values (the hyperparameter is STUDY_SWEEPS')
    num_seeds: int
    steps: int
    architecture: str
    lr: float
    batch_size: int
    metrics: tuple  # evaluate's metric names
    num_train: int  # metric draws: training and test
    num_test: int
    keep_runs: bool  # keep the trained models in the runs cache (else each is deleted once it is scored)
    variants: tuple = VARIANTS

    @property
    def num_models(self) -> int:
        return sum(len(v) for v in self.values.values()) * self.num_seeds * len(self.variants)


# The paper: six objectives x six values x 50 seeds on each of seven data sets, 300,000 steps of the conv VAE.
DESIGNS = {
    # CI: every cell runs (24 models of 4 steps at batch 16, two cheap metrics); the numbers mean nothing.
    "smoke": TransferDesign({"beta_vae": (1, 16), "dip_vae_i": (1, 50)}, num_seeds=2, steps=4, architecture="mlp",
                            lr=1e-3, batch_size=16, metrics=("mig", "sap"), num_train=200, num_test=100,
                            keep_runs=False),
    # 2-core CPU: 36 models of 250 steps of the MLP VAE at batch 32 and lr 1e-3 (the study: the conv VAE, batch 64,
    # lr 1e-4), three metrics at a fifth of the study's draws. An MLP colour model with its Adam state is ~78 MB,
    # so the runs are not kept: their scores are cached instead.
    "lecture": TransferDesign({"beta_vae": (1, 4, 16), "dip_vae_i": (1, 5, 50)}, num_seeds=2, steps=250,
                              architecture="mlp", lr=1e-3, batch_size=32, metrics=("mig", "sap", "dci"),
                              num_train=2_000, num_test=1_000, keep_runs=False),
    # GPU: the study's network, learning rate and steps, its six values and six metrics, 5 seeds (the paper: 50).
    "full": TransferDesign({"beta_vae": STUDY_SWEEPS["beta_vae"][1], "dip_vae_i": STUDY_SWEEPS["dip_vae_i"][1]},
                           num_seeds=5, steps=300_000, architecture="conv", lr=1e-4, batch_size=64,
                           metrics=("beta_vae", "factor_vae", "mig", "sap", "dci", "modularity"), num_train=10_000,
                           num_test=5_000, keep_runs=True),
}


def design_for(profile) -> TransferDesign:
    """The design of a `course_lib.profiles.Profile` (by its name)."""
    return DESIGNS[check_choice("profile", getattr(profile, "name", profile), tuple(DESIGNS))]


def transfer_configs(design: TransferDesign, first_seed: int = 0) -> list[TrainConfig]:
    """One validated TrainConfig per model of the design: variant x method x value x seed."""
    seeds = [check_seed(check_seed(first_seed) + i) for i in range(design.num_seeds)]
    return [TrainConfig(method=method, hyperparameters={STUDY_SWEEPS[method][0]: value}, steps=design.steps,
                        batch_size=design.batch_size, lr=design.lr, architecture=design.architecture,
                        variant=variant, seed=seed).validate()
            for variant in design.variants for method, values in design.values.items()
            for value, seed in itertools.product(values, seeds)]


def _score(config: TrainConfig, run, dataset, design: TransferDesign) -> dict:
    table = evaluate(dataset, mean_code_function(run.model), metrics=design.metrics, random_state=config.seed,
                     num_train=design.num_train, num_test=design.num_test, num_variance_estimate=design.num_train,
                     progress=False)
    (value,) = config.hyperparameters.values()
    return {"dataset": config.variant, "method": config.method, "value": value, "seed": config.seed,
            "steps": config.steps, "slug": config.slug(), **wide_scores(table).to_dict()}


def score_models(configs, design: TransferDesign, cache, train_fn=None, device="auto",
                 progress: bool = True) -> pd.DataFrame:
    """A row per model: dataset, method, value, seed, steps, slug, seconds and its scores (MIG, SAP, DCI D, ...).

    `cache`: a CSV file of rows already scored with the same metric settings; a model found there is not
    trained again, and the file is rewritten (atomically) after each new model, so an interrupted run
    resumes (rows of other metric settings are dropped then). `train_fn(configs, dataset=...) -> [Run]` trains
    or loads the models of one data set that are not scored yet (notebook 14 passes the runs cache,
    `course_lib.kit.runs.train_or_load_all`, at `full`: on a GPU they train as one pack); their `seconds` share
    its time evenly. None trains each model in a temporary folder that is deleted once the model is scored.
    """
    cache = Path(cache)
    settings = json.dumps({"metrics": list(design.metrics), "num_train": design.num_train,
                           "num_test": design.num_test})
    rows = {}
    if cache.is_file():
        found = pd.read_csv(cache)
        if "settings" in found and "slug" in found:
            rows = {row["slug"]: row for row in found[found["settings"] == settings].to_dict("records")}
    with tqdm(total=len(configs), initial=sum(config.slug() in rows for config in configs), desc="models",
              disable=not progress) as bar:
        for variant in dict.fromkeys(config.variant for config in configs):
            todo = [config for config in configs if config.variant == variant and config.slug() not in rows]
            if not todo:
                continue
            dataset = DSprites(variant, progress=False)  # opened once per data set: it checks its cache's checksum
            start = time.perf_counter()
            runs = train_fn(todo, dataset=dataset) if train_fn is not None else [None] * len(todo)
            shared = (time.perf_counter() - start) / len(todo)
            for config, run in zip(todo, runs):
                start = time.perf_counter()
                if run is None:
                    with tempfile.TemporaryDirectory(prefix="transfer-") as folder:
                        run = train(config, folder, device=device, dataset=dataset, progress=False)
                        row = _score(config, run, dataset, design)
                else:
                    row = _score(config, run, dataset, design)
                rows[config.slug()] = {**row, "seconds": shared + time.perf_counter() - start, "settings": settings}
                cache.parent.mkdir(parents=True, exist_ok=True)
                write_text_atomic(cache, pd.DataFrame(list(rows.values())).to_csv(index=False))
                bar.update()
    wanted = [rows[config.slug()] for config in configs]
    return pd.DataFrame(wanted).drop(columns="settings")


def config_label(config) -> str:
    """'β-VAE β=4' for ("beta_vae", 4): a configuration of `score_grid(..., config=("method", "value"))`."""
    method, value = config
    symbol = HYPERPARAMETER_LABELS.get(STUDY_SWEEPS.get(method, ("",))[0], "")
    return f"{METHOD_LABELS.get(method, method)} {symbol}={value:g}"


def plot_variants(num: int = 6, random_state=0):
    """`num` random images of each dSprites variant, a row each, labelled with the paper's names."""
    from course_lib.lab.viz import show_images

    images = [DSprites(variant, progress=False).sample(num, random_state)[1] for variant in VARIANTS]
    rgb = [np.repeat(x, 3, axis=1) if x.shape[1] == 1 else x for x in images]
    return show_images(np.concatenate(rgb), ncols=num, row_labels=[DATASET_LABELS[v] for v in VARIANTS],
                       title="The three data sets: one factor grid, three ways to draw it")


def plot_config_scores(grid, title: str = ""):
    """Per metric, every configuration's score on each data set: the mean over seeds (line) and each seed (dots).

    Lines of the same shape mean rankings that transfer."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(grid.metrics), figsize=(4.6 * len(grid.metrics), 4.2), squeeze=False,
                             layout="constrained")
    x = np.arange(len(grid.configs))
    for m, (metric, ax) in enumerate(zip(grid.metrics, axes[0])):
        for d, dataset in enumerate(grid.datasets):
            scores = grid.scores[d, m]  # (seeds, configurations)
            line, = ax.plot(x, scores.mean(axis=0), marker="o", lw=2, label=DATASET_LABELS.get(dataset, dataset))
            ax.plot(np.broadcast_to(x, scores.shape).ravel(), scores.ravel(), ".", color=line.get_color(), alpha=0.5)
        ax.set_xticks(x, [config_label(c) for c in grid.configs], rotation=45, ha="right")
        ax.set(title=metric, ylabel="score (higher is better)")
        ax.grid(alpha=0.3)
    axes[0, 0].legend(title="data set (dots: seeds)")
    fig.suptitle(title or "Every configuration on every data set", fontsize=13)
    return fig


def plot_dataset_matrices(frames: dict, title: str, cbar_label: str, vmin: float, vmax: float, cmap: str = "RdBu_r"):
    """One annotated (data set x data set) heatmap per entry of `frames` (label -> DataFrame), side by side."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(frames), figsize=(4.6 * len(frames), 4.0), squeeze=False, layout="constrained")
    for k, (ax, (label, frame)) in enumerate(zip(axes[0], frames.items())):
        names = [DATASET_LABELS.get(d, d) for d in frame.index]
        annotated_heatmap(frame.to_numpy(dtype=float), ax, cmap=cmap, vmin=vmin, vmax=vmax, cbar_label=cbar_label,
                          xticklabels=[DATASET_LABELS.get(d, d) for d in frame.columns], yticklabels=names)
        ax.set(title=label, xlabel=frame.columns.name or "", ylabel=(frame.index.name or "") if k == 0 else "")
        ax.tick_params(axis="x", labelrotation=30)
        ax.tick_params(axis="y", labelleft=k == 0)  # the rows are the same data sets in every panel
    fig.suptitle(title, fontsize=13)
    return fig


def plot_transfer_table(table: pd.DataFrame, paper: pd.DataFrame = PAPER_TRANSFER, title: str = ""):
    """The four cells of `transfer_table` beside the paper's (Table 5), as bars, with chance (1/2) marked."""
    import matplotlib.pyplot as plt

    cells = [(row, col) for row in table.index for col in table.columns]
    x = np.arange(len(cells))
    fig, ax = plt.subplots(figsize=(8.5, 4.4), layout="constrained")
    for offset, (name, frame) in zip((-0.2, 0.2), (("this grid", table), ("Locatello et al. 2019", paper))):
        values = [100 * frame.loc[row, col] for row, col in cells]
        bars = ax.bar(x + offset, values, width=0.38, label=name)
        ax.bar_label(bars, fmt="%.0f %%", fontsize=10, bbox={"facecolor": "white", "edgecolor": "none", "pad": 0.5})
    ax.axhline(50, color="black", ls="--", lw=1.2, label="chance (random choice)", zorder=0)
    ax.set_xticks(x, [f"{row}\n{col}" for row, col in cells])
    ax.set(ylim=(0, 122), yticks=range(0, 101, 20), ylabel="P(transferred beats random) (%)",
           title=title or "Does the best configuration on the source beat a random one on the target?")
    ax.legend(loc="upper center", ncols=3, fontsize=10)
    return fig
