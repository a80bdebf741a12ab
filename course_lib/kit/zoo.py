"""The pretrained zoo (`data/pretrained/`): the `lecture` profile's models, shipped with the kit so that a
lecturer gets every figure of notebooks 01-12 in minutes instead of training them first.

Each entry is a folder named by its run slug (`TrainConfig.slug()`), holding

  model.pt      the model's state dict in float16 (`torch.save`; read back with `weights_only=True`)
  rng.pt        the random generators' states at the end of training, so that a notebook continues
                after an installed run exactly as after one it trained itself
  config.json   the run's configuration, device and library versions (as the run directory has it)
  log.csv.gz    the training log, for the notebooks' training curves: every logged term per step, or for a
                run longer than LOG_ROWS steps, the mean of each block of consecutive steps (its `step` the
                block's last), so that a 300,000-step run ships 2,000 rows, not 300,000 (`thin_log`)

and `manifest.json` states the models' age against the study's 300,000 steps (`age_statement`) and lists
every entry with the CLI command that trains it, the commit it was exported
at, the SHA-256 of each of its four files and the size of its `model.pt`, and two metrics of the
shipped weights (MIG and DCI disentanglement at `CHECK_SIZES`, seed 0) that `tests/test_zoo.py`
recomputes. `manifest.json.sha256` holds the manifest's own SHA-256 (`sha256sum -c` reads it). A file
that differs from its recorded sum is refused with a message that names it, before anything is written.

`install(config, directory)` is what `kit.runs.train_or_load` calls before training: when the runs
cache has no checkpoint of `config` and the zoo has an entry for it, it writes a finished run
directory there from the zoo (the weights in float32 again; a freshly initialised objective, since
FactorVAE's discriminator is not shipped: it is not part of the representation) and says so. Delete
the run directory and the entry's folder, or set COURSE_PRETRAINED=0, to train instead. A damaged
manifest is reported and ignored (every model is then trained); a damaged entry is refused.
`add_run` exports a finished run into the zoo (`python -m course_lib zoo --add RUN_DIR ...`).
"""
from __future__ import annotations

import dataclasses
import gzip
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from course_lib.checks import check_int
from course_lib.io import (CHECKOUT, atomic_open, check_sha256, checkout_commit, directory_lock, sha256_of_file,
                           write_json_atomic, write_text_atomic)
from course_lib.kit.flags import cli_command

MANIFEST, MANIFEST_SUM = "manifest.json", "manifest.json.sha256"
WEIGHTS, RNG_FILE, CONFIG_FILE, LOG_FILE = "model.pt", "rng.pt", "config.json", "log.csv.gz"
ENTRY_FILES = (WEIGHTS, RNG_FILE, CONFIG_FILE, LOG_FILE)
CHECK_SIZES = {"num_train": 1000, "num_test": 500}  # the manifest's metric sizes (seconds per model on a CPU)
SIZE_LIMIT_BYTES = 30 * 2**20  # the whole zoo stays below 30 MB
LOG_ROWS = 2_000  # rows of a shipped training log at most


def zoo_dir() -> Path:
    """$COURSE_PRETRAINED_DIR, else the checkout's data/pretrained."""
    if os.environ.get("COURSE_PRETRAINED_DIR"):
        return Path(os.environ["COURSE_PRETRAINED_DIR"])
    return CHECKOUT / "data" / "pretrained"


def read_manifest(root=None) -> dict:
    """{slug: entry} of the zoo at `root` (default `zoo_dir()`); empty when there is no zoo.

    ValueError naming the file when the manifest differs from its recorded SHA-256 or is not a zoo's."""
    root = Path(root or zoo_dir())
    path = root / MANIFEST
    if not path.is_file():
        return {}
    recorded = (root / MANIFEST_SUM).read_text().split()[0] if (root / MANIFEST_SUM).is_file() else ""
    check_sha256(path, recorded)
    try:
        models = json.loads(path.read_text())["models"]
        return {entry["slug"]: entry | {"files": dict(entry["files"])} for entry in models}
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError(f"{path} is not a zoo manifest ({type(error).__name__}: {error})") from None


def age_statement(models, why: str | None = None) -> str:
    """What a manifest says of its models' age: their steps against the study's (Locatello et al.), and where
    younger ones are explained (`why`; default: the zoo's section of the README and how to grow it)."""
    from course_lib.training import TrainConfig

    ages, study = sorted({entry["steps"] for entry in models}), TrainConfig.steps
    said = " and ".join(f"{steps:,}" for steps in ages)
    if ages and ages[-1] >= study:
        return f"{said} steps of training; the study trains {study:,} (Locatello et al., 2019)"
    why = why or f"why, and how to grow them (`make grow-zoo STEPS={study} DEVICE=cuda`), README.md, 'The shipped age'"
    return f"{said} steps of training, younger than the study's {study:,} (Locatello et al., 2019): {why}"


def write_manifest(root, models) -> None:
    """Write `manifest.json` (the models' age, entries sorted by slug) and then its SHA-256 beside it."""
    root, models = Path(root), sorted(models, key=lambda entry: entry["slug"])
    write_json_atomic(root / MANIFEST, {"age": age_statement(models), "check_sizes": CHECK_SIZES, "models": models})
    write_text_atomic(root / MANIFEST_SUM, f"{sha256_of_file(root / MANIFEST)}  {MANIFEST}\n")


def check_entry(entry: dict, root=None) -> Path:
    """The entry's folder, once each of its files matches the manifest's SHA-256; ValueError naming a file."""
    folder = Path(root or zoo_dir()) / entry["slug"]
    for name in ENTRY_FILES:
        try:
            check_sha256(folder / name, entry["files"].get(name, ""))
        except ValueError as error:
            raise ValueError(f"{error}; the zoo entry is damaged: restore it (git checkout -- {folder}) or set "
                             "COURSE_PRETRAINED=0 to train this model instead") from None
    return folder


def check_metrics(model, variant: str = "binary", device="cpu") -> dict:
    """MIG and DCI disentanglement of a model's mean codes at `CHECK_SIZES`, seed 0 (the manifest's figures)."""
    from course_lib.data import DSprites
    from course_lib.metrics import evaluate
    from course_lib.representation import mean_code_function

    table = evaluate(DSprites(variant, progress=False), mean_code_function(model.to(device)), metrics=("mig", "dci"),
                     random_state=0, progress=False, **CHECK_SIZES).set_index(["metric", "score"])["value"]
    return {"mig": float(table[("mig", "score")]), "dci_disentanglement": float(table[("dci", "disentanglement")])}


def load_model(entry: dict, root=None, device="cpu"):
    """(TrainConfig, model in float32 and eval mode) of a manifest entry; refuses a file whose hash differs."""
    from course_lib.training import read_config_file

    folder = check_entry(entry, root)
    config = read_config_file(folder / CONFIG_FILE)
    model, _ = config.build(device)
    model.load_state_dict(torch.load(folder / WEIGHTS, map_location=device, weights_only=True))
    return config, model.eval()


def thin_log(log: pd.DataFrame, max_rows: int = LOG_ROWS) -> pd.DataFrame:
    """`log` (a `step` column, then terms) in at most `max_rows` rows: blocks of b = ceil(len / max_rows)
    consecutive rows, each replaced by its terms' mean and stamped with its last step (a shorter last block
    where b does not divide the length). A log of at most `max_rows` rows is returned as it is."""
    max_rows = check_int("max_rows", max_rows, 1)
    block = -(-len(log) // max_rows)
    if block <= 1:
        return log
    blocks = np.arange(len(log)) // block
    terms = log.drop(columns="step").groupby(blocks).mean()
    return pd.concat([log["step"].groupby(blocks).last(), terms], axis=1).reset_index(drop=True)


def add_run(run_dir, root=None, device="cpu") -> dict:
    """Export a finished run into the zoo at `root` and record it in the manifest; returns the entry."""
    from course_lib.training import CHECKPOINT, CONFIG, LOG, load_checkpoint, load_run

    run = load_run(run_dir, device=device)
    if run.step != run.config.steps:
        raise ValueError(f"run_dir={str(run_dir)!r} stopped at step {run.step} of {run.config.steps}; "
                         "only finished runs go into the zoo")
    root = Path(root or zoo_dir())
    folder = root / run.config.slug()
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_open(folder / WEIGHTS, "wb") as handle:
        torch.save({k: v.half() if v.is_floating_point() else v for k, v in run.model.state_dict().items()}, handle)
    with atomic_open(folder / RNG_FILE, "wb") as handle:
        torch.save(load_checkpoint(Path(run_dir) / CHECKPOINT, run.config)["rng"], handle)
    saved = json.loads((Path(run_dir) / CONFIG).read_text())
    write_json_atomic(folder / CONFIG_FILE, {**saved, "config": dataclasses.asdict(run.config)})
    log = thin_log(pd.read_csv(Path(run_dir) / LOG)).to_csv(index=False, float_format="%.6g")
    with atomic_open(folder / LOG_FILE, "wb") as handle, gzip.GzipFile(fileobj=handle, mode="wb", mtime=0) as packed:
        packed.write(log.encode())
    entry = {"slug": run.config.slug(), "method": run.config.method, "hyperparameters": run.config.hyperparameters,
             "steps": run.config.steps, "seed": run.config.seed, "command": cli_command(run.config),
             "trained_on": saved.get("device"), "versions": saved.get("versions"), "commit": checkout_commit(),
             "bytes": (folder / WEIGHTS).stat().st_size,
             "files": {name: sha256_of_file(folder / name) for name in ENTRY_FILES}}
    entry["metrics"] = check_metrics(load_model(entry, root, device)[1], run.config.variant, device)
    write_manifest(root, {**read_manifest(root), entry["slug"]: entry}.values())
    total = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
    if total > SIZE_LIMIT_BYTES:
        raise ValueError(f"the zoo at {root} holds {total / 2**20:.1f} MB; "
                         f"the limit is {SIZE_LIMIT_BYTES / 2**20:.0f} MB")
    return entry


def install(config, directory, root=None) -> bool:
    """Write the zoo's run of `config` into `directory` when that holds no checkpoint and the zoo has it.

    The run directory gets the zoo's config.json and log, and a checkpoint with the weights, a freshly
    initialised objective (seeded by the run's seed), the generators' states and the finished step.
    Returns whether it did. Every file of the entry is checked before anything is written; the run
    folder is locked meanwhile, and its checkpoint is written last, so an interrupted install is
    simply done again."""
    from course_lib.training import CHECKPOINT, CONFIG, LOG, checkpoint_identity, clear_run_directory

    directory = Path(directory)
    if (directory / CHECKPOINT).is_file() or os.environ.get("COURSE_PRETRAINED", "1") == "0":
        return False
    try:
        entry = read_manifest(root).get(config.slug())
    except ValueError as error:
        print(f"the pretrained zoo is not used: {error}; restore it with git checkout -- {zoo_dir()}")
        return False
    if entry is None:
        return False
    with torch.random.fork_rng():  # building networks draws random numbers: keep the caller's generators
        saved, model = load_model(entry, root)
        torch.manual_seed(config.seed)
        _, objective = config.build("cpu")
    if saved != config:
        return False  # the same slug, another configuration (e.g. checkpoint_every): train it
    folder = Path(root or zoo_dir()) / entry["slug"]
    generators = torch.load(folder / RNG_FILE, weights_only=True)
    log = gzip.decompress((folder / LOG_FILE).read_bytes())
    with directory_lock(directory, "run folder"):
        if (directory / CHECKPOINT).is_file():
            return False
        clear_run_directory(directory)  # a run killed before its first checkpoint: nothing to keep
        write_text_atomic(directory / CONFIG, (folder / CONFIG_FILE).read_text())
        with atomic_open(directory / LOG, "wb") as handle:
            handle.write(log)
        with atomic_open(directory / CHECKPOINT, "wb") as handle:
            torch.save({"step": config.steps, "identity": checkpoint_identity(config), "model": model.state_dict(),
                        "objective": objective.state_dict(), "rng": generators}, handle)
    print(f"{config.slug()}: loaded from the pretrained zoo ({folder}), trained by `{entry['command']}`; "
          "set COURSE_PRETRAINED=0 (or delete that folder) to train it here instead")
    return True
