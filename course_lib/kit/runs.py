"""The runs cache: every notebook gets its trained models through `train_or_load`, which installs a
model from the pretrained zoo when it can, reuses a finished run, resumes a partial one, continues a
younger run of the same configuration, and trains the rest, under `training.default_runs_dir()`
($COURSE_RUNS_DIR or the checkout's `runs/`). `train_or_load_all` does it for several models, on a GPU
training the ones that need it as packs first (`train_unfinished_packed`, which sweeps use too).
"""
from __future__ import annotations

from pathlib import Path

from course_lib.device import get_device
from course_lib.kit.zoo import install
from course_lib.training import (CHECKPOINT, CONFIG, FORKABLE_BASES, NonFiniteLossError, Run, TrainConfig,
                                 UnusableRunError, checkpoint_step, default_runs_dir, extend_younger_run,
                                 fork_topdis_at_delay, pack_groups, read_config_file, topdis_base_config, train,
                                 train_packed)


def train_or_load(config: TrainConfig, root=None, device="auto", dataset=None, progress: bool = True,
                  deadline: float | None = None) -> Run:
    """The finished run of `config` under `root` (default `default_runs_dir()`), training it if needed.

    A configuration that the pretrained zoo holds (`course_lib.kit.zoo`) is installed from it first.
    A finished run with the same configuration is loaded; a partial one is resumed; without either, a
    finished run of the same configuration at fewer steps is continued (`training.extend_younger_run`: the
    model is the one trained from scratch); a run folder that is unusable (another configuration, a damaged
    checkpoint) is replaced. `deadline` (a `time.time()`): training stops there with a checkpoint, and the
    run returned is unfinished (`run.step < config.steps`); calling again resumes it.
    """
    directory = Path(root or default_runs_dir()) / config.slug()
    _install_or_extend(config, directory)
    common = dict(device=device, dataset=dataset, progress=progress, deadline=deadline)
    try:
        return train(config, directory, resume=True, **common)
    except UnusableRunError as error:
        print(f"{directory}: {error}; training it again")
        return train(config, directory, overwrite=True, **common)


def train_or_load_all(configs: list[TrainConfig], root=None, device="auto", dataset=None, progress: bool = True,
                      pack: bool | None = None) -> list[Run]:
    """`train_or_load` for each of `configs`, in order. A TopDis run whose base run is among `configs` starts from
    it at its delay (`start_topdis_from_base`), so their shared steps train once. With `pack` (None: on CUDA) the
    ones that still need training then train as packs (`train_unfinished_packed`): on a GPU K small models cost
    about one model's kernel launches, and each packed run is the separate run to float rounding."""
    if not isinstance(configs, (list, tuple)) or not all(isinstance(config, TrainConfig) for config in configs):
        raise ValueError(f"configs={configs!r:.200} is not allowed; give a list of TrainConfig")
    configs = [config.validate() for config in configs]  # every one, before any training
    root = Path(root or default_runs_dir())
    for config in configs:
        start_topdis_from_base(config, configs, root, device, dataset, progress)
    if pack is None:
        pack = get_device(device).type == "cuda"
    if pack:
        note = train_unfinished_packed(configs, [root / config.slug() for config in configs], device, dataset,
                                       progress)
        if note:
            print(note)
    return [train_or_load(config, root, device, dataset, progress) for config in configs]


def start_topdis_from_base(config: TrainConfig, configs: list[TrainConfig], root: Path, device="auto", dataset=None,
                           progress: bool = True) -> bool:
    """Until its delay a TopDis run is its base run (`training.fork`): when `configs` asks for that base run too
    and the TopDis run has no checkpoint yet, train (or install, or continue) the base to the delay and start the
    TopDis run from there. Whether it did; a base already past the delay (or a TopDis run without a forkable base
    or an explicit delay) leaves the TopDis run to train from its first step."""
    hyperparameters = config.hyperparameters
    if (config.method != "topdis" or hyperparameters.get("base", "beta_vae") not in FORKABLE_BASES
            or "delay" not in hyperparameters):
        return False
    base, delay = topdis_base_config(config), hyperparameters["delay"]
    folder, base_dir = root / config.slug(), root / base.slug()
    install(config, folder)
    if base not in configs or delay == 0 or (folder / CHECKPOINT).is_file():
        return False
    _install_or_extend(base, base_dir)
    if _unfinished_and_resumable(base, base_dir) and checkpoint_step(base_dir, base) < delay:
        train(base, base_dir, device, resume=True, dataset=dataset, progress=progress, until=delay)
    try:
        return fork_topdis_at_delay(base_dir, config, folder)  # says so when the base is past the delay
    except UnusableRunError:  # a damaged base run: `train_or_load` replaces it
        return False


def train_unfinished_packed(configs: list[TrainConfig], directories: list, device="auto", dataset=None,
                            progress: bool = False, deadline: float | None = None) -> str | None:
    """Install each of `configs` from the zoo or continue a younger run into its folder (as `train_or_load`
    does), then train the unfinished ones whose folders are empty or resumable as packs (`training.pack_groups`,
    `training.train_packed`). Never raises for a pack: returns None, or a line saying which pack could not train
    (its runs are left to train alone). A run whose loss turns NaN stops with its last good checkpoint and the
    others finish; training it again (`train_or_load`) reports its error. `deadline` as in `train_or_load`."""
    pending = []
    for config, directory in zip(configs, map(Path, directories)):
        try:
            _install_or_extend(config, directory)
        except Exception:  # e.g. a damaged zoo file: `train_or_load` raises it again for this run, with the fix
            continue
        if _unfinished_and_resumable(config, directory) and all(directory != d for _, d in pending):
            pending.append((config, directory))
    notes = []
    for group in pack_groups([config for config, _ in pending]):
        if len(group) < 2:
            continue
        folders = [next(d for c, d in pending if c is config) for config in group]
        try:
            train_packed(group, folders, device, resume=True, dataset=dataset, progress=progress, deadline=deadline)
        except NonFiniteLossError:
            pass
        except Exception as error:  # e.g. out of memory
            notes.append(f"a pack of {len(group)} failed ({type(error).__name__}: {error}); they train alone")
    return "; ".join(notes) or None


def _install_or_extend(config: TrainConfig, directory: Path) -> None:
    """Start an empty run folder the cheap way: from data/pretrained when the zoo holds the configuration (it says
    so), else from a finished younger run of it beside the folder (`training.extend_younger_run`, said here)."""
    install(config, directory)
    started = extend_younger_run(config, directory)
    if started:
        print(f"{config.slug()}: continues {started[0].name} from its step {started[1]:,}")


def _unfinished_and_resumable(config: TrainConfig, directory: Path) -> bool:
    """Whether `directory` is empty or holds a usable, unfinished run of `config` (an unusable folder is left to
    `train_or_load`, which replaces it)."""
    try:
        if (directory / CONFIG).is_file() and read_config_file(directory / CONFIG) != config:
            return False
        return checkpoint_step(directory, config) < config.steps
    except UnusableRunError:
        return False
