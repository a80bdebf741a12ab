"""The pretrained zoo (`data/pretrained/`): the `lecture` profile's models, shipped with the kit so that a
lecturer gets every figure of notebooks 01-12 in minutes instead of training them first.

Each entry is a folder named by its run slug (`TrainConfig.slug()`), holding

  model.pt      the model's state dict in float16 (`torch.save`; read back with `weights_only=True`)
  rng.pt        the random generators' states at the end of training, so that a notebook continues
                after an installed run exactly as after one it trained itself
  config.json   the run's configuration, device and library versions (as the run directory has it)
  log.csv.gz    the training log (every logged term per step), for the notebooks' training curves

and `manifest.json` lists every entry with the CLI command that trains it, the commit it was exported
at, the SHA-256 and size of its `model.pt`, and two metrics of the shipped weights (MIG and DCI
disentanglement at `CHECK_SIZES`, seed 0) that `tests/test_zoo.py` recomputes.

`install(config, directory)` is what `training.train_or_load` calls before training: when the runs
cache has no checkpoint of `config` and the zoo has an entry for it, it writes a finished run
directory there from the zoo (the weights in float32 again; a freshly initialised objective, since
FactorVAE's discriminator is not shipped: it is not part of the representation) and says so. Delete
the run directory and the entry's folder, or set COURSE_PRETRAINED=0, to train instead.
`add_run` exports a finished run into the zoo (`python -m course_lib zoo add RUN_DIR ...`).
"""
from __future__ import annotations

import dataclasses
import gzip
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import torch

from course_lib.io import atomic_open, sha256_of_file, write_json_atomic

MANIFEST = "manifest.json"
WEIGHTS, RNG_FILE, CONFIG_FILE, LOG_FILE = "model.pt", "rng.pt", "config.json", "log.csv.gz"
CHECK_SIZES = {"num_train": 1000, "num_test": 500}  # the manifest's metric sizes (seconds per model on a CPU)
SIZE_LIMIT_BYTES = 30 * 2**20  # the whole zoo stays below 30 MB


def zoo_dir() -> Path:
    """$COURSE_PRETRAINED_DIR, else the checkout's data/pretrained."""
    if os.environ.get("COURSE_PRETRAINED_DIR"):
        return Path(os.environ["COURSE_PRETRAINED_DIR"])
    return Path(__file__).resolve().parents[1] / "data" / "pretrained"


def read_manifest(root=None) -> dict:
    """{slug: entry} of the zoo at `root` (default `zoo_dir()`); empty when there is no zoo."""
    path = Path(root or zoo_dir()) / MANIFEST
    return {entry["slug"]: entry for entry in json.loads(path.read_text())["models"]} if path.is_file() else {}


def cli_command(config) -> str:
    """The `python -m course_lib train ...` command line that trains `config` (a TrainConfig)."""
    from course_lib.cli import HYPERPARAMETER_FLAGS

    flags = {name: flag for flag, (name, _) in HYPERPARAMETER_FLAGS.items()}
    parts = ["python -m course_lib train", f"--method {config.method}"]
    parts += [f"{flags[name]} {value}" for name, value in sorted(config.hyperparameters.items())]
    parts += [f"--steps {config.steps}", f"--seed {config.seed}", f"--batch-size {config.batch_size}",
              f"--lr {config.lr:g}", f"--num-latent {config.num_latent}", f"--architecture {config.architecture}",
              f"--width {config.width}", f"--variant {config.variant}", f"--checkpoint-every {config.checkpoint_every}",
              f"--out runs/{config.slug()}"]
    return " ".join(parts)


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).resolve().parents[1],
                              capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


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
    from course_lib.training import TrainConfig

    folder = Path(root or zoo_dir()) / entry["slug"]
    if sha256_of_file(folder / WEIGHTS) != entry["sha256"]:
        raise ValueError(f"{folder / WEIGHTS} does not match the manifest's sha256; the zoo entry is damaged")
    config = TrainConfig(**json.loads((folder / CONFIG_FILE).read_text())["config"]).validate()
    model, _ = config.build(device)
    model.load_state_dict(torch.load(folder / WEIGHTS, map_location=device, weights_only=True))
    return config, model.eval()


def add_run(run_dir, root=None, device="cpu") -> dict:
    """Export a finished run into the zoo at `root` and record it in the manifest; returns the entry."""
    from course_lib.training import CHECKPOINT, CONFIG, LOG, load_run

    run = load_run(run_dir, device=device)
    if run.step != run.config.steps:
        raise ValueError(f"run_dir={str(run_dir)!r} stopped at step {run.step} of {run.config.steps}; "
                         "only finished runs go into the zoo")
    root = Path(root or zoo_dir())
    folder = root / run.config.slug()
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_open(folder / WEIGHTS, "wb") as handle:
        torch.save({k: v.half() if v.is_floating_point() else v for k, v in run.model.state_dict().items()}, handle)
    checkpoint = torch.load(Path(run_dir) / CHECKPOINT, map_location="cpu", weights_only=True)
    with atomic_open(folder / RNG_FILE, "wb") as handle:
        torch.save(checkpoint["rng"], handle)
    saved = json.loads((Path(run_dir) / CONFIG).read_text())
    write_json_atomic(folder / CONFIG_FILE, {**saved, "config": dataclasses.asdict(run.config)})
    with atomic_open(folder / LOG_FILE, "wb") as handle, gzip.GzipFile(fileobj=handle, mode="wb", mtime=0) as packed:
        packed.write((Path(run_dir) / LOG).read_bytes())
    entry = {"slug": run.config.slug(), "method": run.config.method, "hyperparameters": run.config.hyperparameters,
             "steps": run.config.steps, "seed": run.config.seed, "command": cli_command(run.config),
             "trained_on": saved.get("device"), "versions": saved.get("versions"), "commit": _commit(),
             "bytes": (folder / WEIGHTS).stat().st_size, "sha256": sha256_of_file(folder / WEIGHTS)}
    entry["metrics"] = check_metrics(load_model(entry, root, device)[1], run.config.variant, device)
    models = {**read_manifest(root), entry["slug"]: entry}
    write_json_atomic(root / MANIFEST, {"check_sizes": CHECK_SIZES, "models": sorted(models.values(),
                                                                                       key=lambda e: e["slug"])})
    total = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
    if total > SIZE_LIMIT_BYTES:
        raise ValueError(f"the zoo at {root} holds {total / 2**20:.1f} MB; "
                         f"the limit is {SIZE_LIMIT_BYTES / 2**20:.0f} MB")
    return entry


def install(config, directory, root=None) -> bool:
    """Write the zoo's run of `config` into `directory` when that holds no checkpoint and the zoo has it.

    The run directory gets the zoo's config.json and log, and a checkpoint with the weights, a freshly
    initialised objective (seeded by the run's seed), the generators' states and the finished step.
    Returns whether it did."""
    from course_lib.training import CHECKPOINT, CONFIG, LOG, _identity

    directory = Path(directory)
    entry = read_manifest(root).get(config.slug())
    if entry is None or (directory / CHECKPOINT).is_file() or os.environ.get("COURSE_PRETRAINED", "1") == "0":
        return False
    with torch.random.fork_rng():  # building networks draws random numbers: keep the caller's generators
        saved, model = load_model(entry, root)
        torch.manual_seed(config.seed)
        _, objective = config.build("cpu")
    if dataclasses.asdict(saved) != dataclasses.asdict(config):
        return False  # the same slug, another configuration (e.g. checkpoint_every): train it
    folder = Path(root or zoo_dir()) / entry["slug"]
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
    shutil.copyfile(folder / CONFIG_FILE, staging / CONFIG)
    (staging / LOG).write_bytes(gzip.decompress((folder / LOG_FILE).read_bytes()))
    generators = torch.load(folder / RNG_FILE, weights_only=True)
    torch.save({"step": config.steps, "identity": json.dumps(_identity(config), sort_keys=True),
                "model": model.state_dict(), "objective": objective.state_dict(), "rng": generators},
               staging / CHECKPOINT)
    if directory.exists():
        shutil.rmtree(directory)  # a run killed before its first checkpoint: nothing to keep
    staging.rename(directory)
    print(f"{config.slug()}: loaded from the pretrained zoo ({folder}), trained by `{entry['command']}`; "
          "set COURSE_PRETRAINED=0 (or delete that folder) to train it here instead")
    return True
