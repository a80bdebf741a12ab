"""The runs cache: every notebook gets its trained models through `train_or_load`, which installs a
model from the pretrained zoo when it can, reuses a finished run, resumes a partial one, continues a
younger run of the same configuration, and trains the rest, under `training.default_runs_dir()`
($COURSE_RUNS_DIR or the checkout's `runs/`).
"""
from __future__ import annotations

from pathlib import Path

from course_lib.kit.zoo import install
from course_lib.training import Run, TrainConfig, UnusableRunError, default_runs_dir, extend_younger_run, train


def train_or_load(config: TrainConfig, root=None, device="auto", dataset=None, progress: bool = True) -> Run:
    """The finished run of `config` under `root` (default `default_runs_dir()`), training it if needed.

    A configuration that the pretrained zoo holds (`course_lib.kit.zoo`) is installed from it first.
    A finished run with the same configuration is loaded; a partial one is resumed; without either, a
    finished run of the same configuration at fewer steps is continued (`training.extend_younger_run`: the
    model is the one trained from scratch); a run folder that is unusable (another configuration, a damaged
    checkpoint) is replaced.
    """
    directory = Path(root or default_runs_dir()) / config.slug()
    install(config, directory)  # from data/pretrained when the cache lacks it (it says so)
    started = extend_younger_run(config, directory)
    if started:
        print(f"{config.slug()}: continues {started[0].name} from its step {started[1]:,}")
    try:
        return train(config, directory, device=device, resume=True, dataset=dataset, progress=progress)
    except UnusableRunError as error:
        print(f"{directory}: {error}; training it again")
        return train(config, directory, device=device, overwrite=True, dataset=dataset, progress=progress)
