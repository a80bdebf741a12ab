"""Runs started from another run's checkpoint, so that no step is trained twice.

A TopDis run from its base run (`fork_topdis`). Until its `delay`, a TopDis run (Balabin et al. 2024) *is*
its base run: the same seed gives the same weights and batches, the topological term adds nothing to the
loss and draws nothing from the run's generator, and the TopDis terms it logs are constants
(`TopDis.INACTIVE`). So the base run's checkpoint at a step t <= delay is the TopDis run's at step t, once it
carries the TopDis configuration; `fork_topdis` writes it so, with the base's log up to t. The growing zoo
(course_lib.kit.grow) uses it to train the base's steps on a GPU, packed and captured in a CUDA graph, and
only TopDis's own steps eagerly (its persistent homology runs on the CPU). On a GPU a TopDis run trained from
its first step is eager throughout (it cannot be captured), while its forked base's steps were captured: the
two agree to float32 rounding (a captured step is the eager step's kernels, `training.graphed`), not bit for
bit as on the CPU: on a GPU, a TopDis run forked from its base (asked for beside it, or grown in the zoo) and
one asked for alone are two runs of the same configuration.

A run grown older (`extend_run`). Nothing in a step depends on how many steps the run will take (the
learning rate is constant; annealing and delays count from step 0 in their own hyperparameters), so a
finished run of N steps is, checkpoint and log, the same configuration with M > N steps at its step N.
`extend_younger_run` finds such a run beside a new run's folder: the runs cache (`kit.runs.train_or_load`),
a sweep's folder and the growing zoo use it, so that asking for more steps never retrains the first ones.
"""
from __future__ import annotations

import csv
import dataclasses
import json
from pathlib import Path

import torch

from course_lib.io import LOCK_FILE, atomic_open, directory_lock
from course_lib.objectives import TopDis
from course_lib.training.loop import (CHECKPOINT, CONFIG, LOG, TrainConfig, checkpoint_identity, checkpoint_step,
                                      clear_run_directory, load_checkpoint, prepare_run_directory, read_run_config,
                                      write_run_config)

FORKABLE_BASES = ("beta_vae", "beta_tcvae")  # FactorVAE's discriminator logs terms after TopDis's: not forked


def topdis_base_config(config: TrainConfig) -> TrainConfig:
    """The run that a TopDis configuration equals up to its delay: its base method with the base's beta, every
    other field the same."""
    if config.method != "topdis":
        raise ValueError(f"config.method={config.method!r} is not allowed; only a topdis run has a base run")
    base = config.hyperparameters.get("base", "beta_vae")
    if base not in FORKABLE_BASES:
        raise ValueError(f"base={base!r} is not allowed for a fork; use one of {FORKABLE_BASES}")
    beta = config.hyperparameters.get("beta")
    return dataclasses.replace(config, method=base, hyperparameters={} if beta is None else {"beta": beta})


def fork_topdis(base_dir, config: TrainConfig, out_dir) -> int:
    """Write the run folder `out_dir` of `config` (a TopDis configuration) from the checkpoint of its base run
    in `base_dir`; returns the step it starts from. `train(config, out_dir, resume=True)` then trains the rest.

    ValueError, before anything is written, when `base_dir` holds another run than `topdis_base_config(config)`,
    when its checkpoint has passed the delay, or when `out_dir` is not empty."""
    config = config.validate()
    base = topdis_base_config(config)
    base_dir, out_dir = Path(base_dir), Path(out_dir)
    if read_run_config(base_dir) != base:
        raise ValueError(f"base_dir={str(base_dir)!r} holds {read_run_config(base_dir).slug()}; the base run of "
                         f"{config.slug()} is {base.slug()}")
    state = load_checkpoint(base_dir / CHECKPOINT, base)
    delay = config.hyperparameters["delay"]
    if state["step"] > delay:
        raise ValueError(f"base_dir={str(base_dir)!r} is at step {state['step']}, past the delay {delay}: from there "
                         "the TopDis run differs from its base; train the base with until=delay first")
    torch.manual_seed(config.seed)
    _, objective = config.build("cpu")
    objective.base_objective.load_state_dict(state["objective"])
    state |= {"identity": checkpoint_identity(config), "objective": objective.state_dict()}
    with open(base_dir / LOG, newline="") as handle:
        header, *rows = list(csv.reader(handle))
    rows = [row + [f"{value:.6g}" for value in TopDis.INACTIVE.values()]
            for row in rows if int(row[0]) <= state["step"]]
    _write_started_run(out_dir, config, _device_of(base_dir), [header + list(TopDis.INACTIVE), *rows], state)
    return state["step"]


def fork_topdis_at_delay(base_dir, config: TrainConfig, out_dir) -> bool:
    """Start the TopDis run `config` in `out_dir` (a folder without a checkpoint: whatever a killed start left there
    is cleared) from its base run in `base_dir` when the base's checkpoint is exactly at the delay
    (`fork_topdis`); whether it did. Not yet there: nothing happens; past it: said, and the TopDis run will
    train from its first step."""
    base, delay = topdis_base_config(config), config.hyperparameters["delay"]
    base_dir, out_dir = Path(base_dir), Path(out_dir)
    base_step = checkpoint_step(base_dir, base)
    if base_step != delay:
        if base_step > delay:
            print(f"{base.slug()} is past step {delay}: {config.slug()} trains from its first step")
        return False
    if out_dir.is_dir():
        clear_run_directory(out_dir)
    fork_topdis(base_dir, config, out_dir)
    return True


def extend_run(short_dir, config: TrainConfig, out_dir) -> int:
    """Write the run folder `out_dir` of `config` from the finished run in `short_dir` of the same configuration
    with fewer steps (the checkpoint interval may differ: it changes no step): its checkpoint, with Adam's
    state and the generators', and its whole log; returns the step it starts from. `train(config, out_dir,
    resume=True)` then trains the rest, and the run is the one trained from scratch at `config.steps`.

    ValueError, before anything is written, when `short_dir` holds another configuration, one no younger,
    an unfinished run, a run without its optimiser's state (one installed from the pretrained zoo), or when
    `out_dir` is not empty."""
    config = config.validate()
    short_dir, out_dir = Path(short_dir), Path(out_dir)
    short = read_run_config(short_dir)
    same = dataclasses.replace(short, steps=config.steps, checkpoint_every=config.checkpoint_every) == config
    if not same or short.steps >= config.steps:
        raise ValueError(f"short_dir={str(short_dir)!r} holds {short.slug()}; extend_run needs {config.slug()} "
                         "at fewer steps")
    state = load_checkpoint(short_dir / CHECKPOINT, short)
    if state["step"] != short.steps or "optimizers" not in state:
        why = (f"stopped at step {state['step']} of {short.steps}" if state["step"] != short.steps else
               "has no optimiser state (a model installed from the pretrained zoo)")
        raise ValueError(f"short_dir={str(short_dir)!r} {why}: only a finished, trained run can be extended")
    with open(short_dir / LOG, newline="") as handle:
        rows = list(csv.reader(handle))
    _write_started_run(out_dir, config, _device_of(short_dir), rows, state)
    return state["step"]


def extend_younger_run(config: TrainConfig, out_dir) -> tuple[Path, int] | None:
    """Start the run of `config` in an empty (or missing) `out_dir` from the oldest run of the same configuration
    at fewer steps beside it (a folder of `out_dir.parent` whose name differs only in the steps) that
    `extend_run` accepts; returns (that folder, the step it starts from), or None when `out_dir` holds anything
    or no younger run there can be extended (unfinished, damaged, installed from the zoo without Adam's state)."""
    out_dir = Path(out_dir)
    if out_dir.is_dir() and any(p.name != LOCK_FILE for p in out_dir.iterdir()):
        return None
    younger = [folder for folder in out_dir.parent.glob(config.slug().replace(f"-steps{config.steps}-", "-steps*-"))
               if 0 <= _configured_steps(folder) < config.steps]
    for folder in sorted(younger, key=_configured_steps, reverse=True):
        try:
            return folder, extend_run(folder, config, out_dir)
        except ValueError:  # this age cannot be extended (UnusableRunError included): the next one
            continue
    return None


def _configured_steps(run_dir: Path) -> int:
    """The steps that the run in `run_dir` is configured for (-1 when it holds no run)."""
    try:
        return read_run_config(run_dir).steps
    except ValueError:
        return -1


def _device_of(run_dir: Path) -> str:
    """The device the run in `run_dir` was trained on, as its config.json says."""
    return json.loads((run_dir / CONFIG).read_text()).get("device", "cpu")


def _write_started_run(out_dir: Path, config: TrainConfig, device: str, log_rows: list, state: dict) -> None:
    """The folder of a run of `config` at the checkpoint `state`, with `log_rows` (header first) as its log;
    refused when `out_dir` is not empty or a run began there meanwhile."""
    if out_dir.is_dir() and any(p.name != LOCK_FILE for p in out_dir.iterdir()):  # before anything is written
        raise ValueError(f"out_dir={str(out_dir)!r} is not empty; a run started from another's checkpoint needs a "
                         "new run folder")
    out_dir.mkdir(parents=True, exist_ok=True)
    with directory_lock(out_dir, "run folder"):
        prepare_run_directory(out_dir, config, resume=False, overwrite=False)  # a run that began meanwhile: refused
        write_run_config(out_dir, config, device)
        with atomic_open(out_dir / LOG, "w") as handle:
            csv.writer(handle).writerows(log_rows)
        with atomic_open(out_dir / CHECKPOINT, "wb") as handle:  # last: the folder is a run only once it is whole
            torch.save(state, handle)
