"""Growing the pretrained zoo: the lecture notebooks' models trained far longer (on a GPU), then shipped.

`python -m course_lib zoo --grow STEPS [--seed S] [--device cuda]` (`grow`):

  1. trains every configuration of `lecture_models.zoo_configs(STEPS, S)` that the zoo lacks into the runs
     cache (`training.default_runs_dir()`), resuming what an earlier call left there, and starting a model
     that has no run there yet from its finished run at a younger age (`training.extend_younger_run`: the same
     model as one trained from scratch, so 10,000-step runs grow to 100,000 in 90,000 steps); on a GPU the models
     that can share one network train as one pack (`training.pack_groups`, `training.train_packed`: K
     separate runs to float rounding, each in its own run folder); on a CPU they train side by side in
     `workers` processes (default: one per core, each on its share of the cores; one progress bar counts the
     steps their checkpoints hold). The TopDis run is its
     base beta-VAE run until its delay: it starts from that run's checkpoint there (`training.fork_topdis`),
     so that only its own steps (persistent homology on the CPU) train eagerly;
  2. once every one has finished, retires the zoo's entries of that seed at other ages (`retire`): the
     notebooks load one age, and the zoo must stay below its 30 MB;
  3. exports each new run into the zoo (`zoo.add_run`: float16 weights, a log of at most 2,000 rows, the
     manifest's hashes and metrics).

`lecture_steps` then serves the new age to the notebooks. Nothing is retired before every new model has
trained, so a call that fails or is killed leaves the zoo as it was, and the next call resumes the runs.
`time_limit_minutes` (`--time-limit MINUTES`) is for machines lent by the hour: when it is up every run stops at its
next step with a checkpoint (`training.train`'s `deadline`), nothing is exported, and the same command
resumes them later (the models are the same as uninterrupted runs'). SIGINT or SIGTERM does the same before it
takes effect, whether it reaches the worker processes of a CPU grow too (a batch scheduler, Ctrl-C in a
terminal) or only this one (`kill PID`: it asks them to stop, `stopping.stop_with_parent`).
"""
from __future__ import annotations

import os
import shutil
import time
from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait
from multiprocessing import get_context
from pathlib import Path

from tqdm.auto import tqdm

from course_lib.checks import check_choice, check_int
from course_lib.device import CUDA_GRAPH_CHOICES, get_device
from course_lib.kit.lecture_models import zoo_configs
from course_lib.kit.zoo import add_run, read_manifest, write_manifest, zoo_dir
from course_lib.training import (CHECKPOINT, checkpoint_step, clear_run_directory, deadline_after, default_runs_dir,
                                 extend_younger_run, fork_topdis_at_delay, pack_groups, past, topdis_base_config, train,
                                 train_packed)
from course_lib.training.stopping import StopRequests, stop_reason, stop_with_parent

PROGRESS_SECONDS = 60.0  # how often the CPU grow's bar reads the runs' checkpoints (~20 ms each)
FORWARD_SECONDS = 1.0  # how soon a signal to a CPU grow reaches its worker processes


def retire(seed: int, keep_steps: int, root=None) -> list[str]:
    """Remove from the zoo at `root` the entries of `seed` that serve the notebooks at an age other than
    `keep_steps` (entries that are `zoo_configs` of their own age); the manifest first, then the folders.
    Returns the removed slugs."""
    root = Path(root or zoo_dir())
    manifest = read_manifest(root)
    ages = {entry["steps"] for entry in manifest.values() if entry["seed"] == seed and entry["steps"] != keep_steps}
    retired = {config.slug() for steps in ages for config in zoo_configs(steps, seed)} & set(manifest)
    if retired:
        write_manifest(root, [entry for slug, entry in manifest.items() if slug not in retired])
        for slug in retired:
            shutil.rmtree(root / slug, ignore_errors=True)
    return sorted(retired)


def _extend_younger_runs(configs: list, runs: Path) -> None:
    """Start each of `configs` that has no checkpoint under `runs` yet from its oldest finished younger run there
    (`training.extend_younger_run`)."""
    for config in configs:
        folder = runs / config.slug()
        if (folder / CHECKPOINT).is_file():
            continue
        if folder.is_dir():
            clear_run_directory(folder)  # a run killed before its first checkpoint: nothing in it to keep
        started = extend_younger_run(config, folder)
        if started:
            print(f"{config.slug()} continues {started[0].name} from its step {started[1]}")


def _steps_reached(configs: list, runs: Path, until: int | None) -> int:
    """The steps up to `until` (None: their end) that the checkpoints of `configs`' runs under `runs` hold, all
    together."""
    return sum(min(checkpoint_step(runs / config.slug(), config), until or config.steps) for config in configs)


def _train_alone(config, folder: Path, device: str, cuda_graph: str, until: int | None, deadline: float | None,
                 threads: int | None) -> None:
    """Train (or resume) one run, in a worker process on `threads` cores (none once the deadline has come or the
    process is asked to stop)."""
    if stop_reason(deadline):
        return
    if threads:
        import torch

        torch.set_num_threads(threads)
    train(config, folder, device, resume=True, progress=False, cuda_graph=cuda_graph, until=until, deadline=deadline)


def _train(configs: list, runs: Path, device, cuda_graph: str, progress: bool, workers: int,
           until: int | None = None, deadline: float | None = None) -> None:
    """Train (or resume) `configs` into their folders under `runs`, up to `until` or the `deadline`: packed on a
    GPU, in `workers` processes on a CPU (packing gains nothing there: one model's step already fills a core)."""
    common = dict(resume=True, cuda_graph=cuda_graph, until=until, deadline=deadline)
    if device.type == "cuda":
        for group in pack_groups(configs):
            if past(deadline):
                return  # the packs not started wait for the next call (building and capturing one takes seconds)
            folders = [runs / config.slug() for config in group]
            if len(group) > 1:
                train_packed(group, folders, device, progress=progress, **common)
            else:
                train(group[0], folders[0], device, progress=progress, **common)
    elif workers == 1 or len(configs) < 2:
        for config in configs:
            if past(deadline):
                return
            train(config, runs / config.slug(), device, progress=progress, **common)
    else:
        threads = max(1, (os.cpu_count() or 1) // workers)
        total = sum(until or config.steps for config in configs)
        bar = tqdm(total=total, initial=_steps_reached(configs, runs, until), disable=not progress,
                   desc=f"grow ({workers} processes)", unit="step")
        context = get_context("spawn")
        stop_event = context.Event()
        with StopRequests() as stop, bar, ProcessPoolExecutor(min(workers, len(configs)), mp_context=context,
                                                              initializer=stop_with_parent,
                                                              initargs=(stop_event,)) as pool:
            pending = {pool.submit(_train_alone, config, runs / config.slug(), str(device), cuda_graph, until, deadline,
                                   threads) for config in configs}
            read = time.monotonic()
            while pending:  # the bar counts the steps the runs' checkpoints hold (one at least every 10 minutes)
                done, pending = wait(pending, timeout=FORWARD_SECONDS, return_when=FIRST_EXCEPTION)
                if stop.received is not None:
                    stop_event.set()  # the workers stop at the end of their step, with a checkpoint
                if time.monotonic() - read >= PROGRESS_SECONDS or not pending:
                    bar.update(_steps_reached(configs, runs, until) - bar.n)
                    read = time.monotonic()
                for future in done:
                    if (error := future.exception()) is not None:  # what has trained stays in its checkpoints
                        pool.shutdown(wait=False, cancel_futures=True)  # the runs not started: cancelled
                        raise error


def _fork_from_base(config, missing: list, runs: Path, device, cuda_graph: str, progress: bool, workers: int,
                    deadline: float | None) -> None:
    """Start the TopDis run `config` from its base run at the delay (`training.fork`), training the models
    up to there first, when its base is among `missing` and neither run has passed the delay (nor, when the
    `deadline` stopped them first: then a later call forks)."""
    base, folder = topdis_base_config(config), runs / config.slug()
    delay = config.hyperparameters["delay"]
    if (folder / CHECKPOINT).is_file() or base not in missing or delay == 0:
        return
    _train([c for c in missing if c.method != "topdis"], runs, device, cuda_graph, progress, workers, until=delay,
           deadline=deadline)
    fork_topdis_at_delay(runs / base.slug(), config, folder)  # not when the deadline stopped the base before


def grow(steps: int, seed: int = 0, runs=None, root=None, device="auto", cuda_graph: str = "auto",
         progress: bool = True, workers: int | None = None, time_limit_minutes: float | None = None) -> list[dict]:
    """Train the zoo's configurations at `steps` (of `seed`) that the zoo at `root` lacks, retire its other
    ages of `seed`, export the new runs; returns their manifest entries (none when the zoo already has them,
    or when `time_limit_minutes` ran out first: the runs stop with checkpoints and the next call resumes them).

    The TopDis run starts from its base run (the same run until its delay, `training.fork_topdis`): only its
    own steps train eagerly; everything else trains packed and captured on a GPU. `workers`: the processes
    that train on a CPU (default: one per core)."""
    configs = zoo_configs(steps, seed)  # checks steps and seed
    check_choice("cuda_graph", cuda_graph, CUDA_GRAPH_CHOICES)
    workers = check_int("workers", workers, 1, none_ok=True) or os.cpu_count() or 1
    deadline = deadline_after(time_limit_minutes)
    device = get_device(device)
    runs = Path(runs or default_runs_dir())
    missing = [config for config in configs if config.slug() not in read_manifest(root)]
    _extend_younger_runs(missing, runs)
    for config in missing:
        if config.method == "topdis":
            _fork_from_base(config, missing, runs, device, cuda_graph, progress, workers, deadline)
    if not past(deadline):  # else an unforked TopDis run would start from scratch
        _train(missing, runs, device, cuda_graph, progress, workers, deadline=deadline)  # GPU: TopDis packs alone
    reached = {config.slug(): checkpoint_step(runs / config.slug(), config) for config in missing}
    behind = {slug: step for slug, step in reached.items() if step < steps}
    if behind:
        print(f"the time limit stopped {len(behind)} of {len(missing)} runs (checkpoints under {runs}); the same "
              "command resumes them, and exports the zoo once every one has finished:")
        print("\n".join(f"  {slug}: step {step:,} of {steps:,}" for slug, step in behind.items()))
        return []
    if missing:
        retire(seed, steps, root)
    return [add_run(runs / config.slug(), root, device) for config in missing]
