"""One training loop for every objective: seeded, logged, checkpointed atomically, resumable.

A run directory holds
  config.json      every argument, the library versions, the device and the seed
  log.csv          every named term of every step (vectors such as kl_per_latent as columns _0, _1, ...)
  checkpoint.pt    state dicts of the model, the objective (FactorVAE's discriminator), every optimiser,
                   the RNG states and the step; loaded with torch.load(weights_only=True)
  summary.json     written at the end: steps, wall time, steps per second, the last terms

The loop never branches on the method: it calls `objective(x, out, step)` and
`objective.auxiliary_step(out)` for all of them. Terms stay on the device and are checked for NaN
and inf, logged and checkpointed every `checkpoint_every` steps, so a GPU run is not synchronised
every step. A non-finite term stops training with an error that names it and its first step; the
last good checkpoint is kept.
"""
from __future__ import annotations

import csv
import dataclasses
import io
import json
import platform
import shutil
import time
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

import course_lib
from course_lib.data.torch_sampler import GridBatchSampler
from course_lib.device import get_device
from course_lib.io import atomic_open, write_json_atomic
from course_lib.models import conv_vae, mlp_vae
from course_lib.objectives import make_objective
from course_lib.seeding import check_seed, seed_everything

ARCHITECTURES = ("conv", "mlp")
CHECKPOINT, CONFIG, LOG, SUMMARY = "checkpoint.pt", "config.json", "log.csv", "summary.json"


class NonFiniteLossError(RuntimeError):
    """A training term became NaN or infinite."""


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a run. Defaults are the study's (Locatello et al. 2019)."""

    method: str = "beta_vae"
    hyperparameters: dict = dataclasses.field(default_factory=dict)
    steps: int = 300_000
    batch_size: int = 64
    lr: float = 1e-4
    num_latent: int = 10
    architecture: str = "conv"
    variant: str = "binary"
    seed: int = 0
    checkpoint_every: int = 1000
    width: int = 1  # channel / hidden-size multiplier of the conv VAE (the scale study); 1 is the study's

    def validate(self) -> "TrainConfig":
        """Raise ValueError for any bad field, before any work; build the objective to check it."""
        for name, minimum in (("steps", 1), ("batch_size", 2), ("num_latent", 1), ("checkpoint_every", 1), ("width", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise ValueError(f"{name}={value!r} is not allowed; use an integer >= {minimum}")
        if not (isinstance(self.lr, (int, float)) and 0 < self.lr < float("inf")):
            raise ValueError(f"lr={self.lr!r} is not allowed; use a positive number")
        if self.architecture not in ARCHITECTURES:
            raise ValueError(f"architecture={self.architecture!r} is not allowed; use one of {ARCHITECTURES}")
        if self.width != 1 and self.architecture != "conv":
            raise ValueError(f"width={self.width} is not allowed for architecture={self.architecture!r}; only conv scales")
        check_seed(self.seed)
        make_objective(self.method, self.num_latent, **self.hyperparameters)
        from course_lib.data import VARIANTS

        if self.variant not in VARIANTS:
            raise ValueError(f"variant={self.variant!r} is not allowed; use one of {VARIANTS}")
        return self

    def slug(self) -> str:
        """A directory name that identifies the run, e.g. beta_vae-beta4-conv-binary-z10-b64-lr0.0001-steps2000-seed0."""
        hyper = "".join(f"-{k}{v}" for k, v in sorted(self.hyperparameters.items()))
        architecture = self.architecture + (f"x{self.width}" if self.width != 1 else "")
        return (f"{self.method}{hyper}-{architecture}-{self.variant}-z{self.num_latent}-b{self.batch_size}"
                f"-lr{self.lr:g}-steps{self.steps}-seed{self.seed}")

    def build(self, device):
        """(model, objective) on `device`, freshly initialised from the current torch RNG."""
        channels = 1 if self.variant == "binary" else 3
        if self.architecture == "conv":
            model = conv_vae(self.num_latent, channels, self.width)
        else:
            model = mlp_vae(self.num_latent, (channels, 64, 64))
        objective = make_objective(self.method, self.num_latent, **self.hyperparameters)
        return model.to(device), objective.to(device)


@dataclasses.dataclass
class Run:
    """A trained (or partly trained) model with its objective, configuration and log."""

    directory: Path
    config: TrainConfig
    model: torch.nn.Module
    objective: torch.nn.Module
    step: int

    @property
    def log(self):
        import pandas as pd

        return pd.read_csv(self.directory / LOG)


def _rng_states(sampler) -> dict:
    states = {"torch_cpu": torch.get_rng_state(), "sampler": sampler.state_dict()}
    if torch.cuda.is_available():
        states["torch_cuda"] = torch.cuda.get_rng_state_all()
    return states


def _set_rng_states(states: dict, sampler) -> None:
    torch.set_rng_state(states["torch_cpu"])
    sampler.load_state_dict(states["sampler"])
    if "torch_cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["torch_cuda"])


def _optimizers(model_optimizer, objective) -> dict:
    return {"model": model_optimizer, **objective.optimizers}


def _identity(config: TrainConfig) -> dict:
    """What a checkpoint must match to be resumed or loaded into this configuration."""
    identity = {"method": config.method, "architecture": config.architecture, "num_latent": config.num_latent,
                "variant": config.variant, "hyperparameters": config.hyperparameters}
    return identity | ({"width": config.width} if config.width != 1 else {})  # the study's width: as before


def save_checkpoint(path: Path, step, config, model, objective, model_optimizer, sampler) -> None:
    state = {
        "step": step,
        "identity": json.dumps(_identity(config), sort_keys=True),
        "model": model.state_dict(),
        "objective": objective.state_dict(),
        "optimizers": {name: opt.state_dict() for name, opt in _optimizers(model_optimizer, objective).items()},
        "rng": _rng_states(sampler),
    }
    with atomic_open(path, "wb") as handle:
        torch.save(state, handle)


def load_checkpoint(path: Path, config: TrainConfig, device) -> dict:
    """The checkpoint's state, loaded without unpickling code; ValueError when corrupt or foreign."""
    try:
        state = torch.load(path, map_location=device, weights_only=True)
    except Exception as error:  # truncated zip, bad magic number, unsupported type: all mean unusable
        raise ValueError(f"checkpoint {path} is truncated or corrupt ({type(error).__name__}: {error})") from None
    expected = json.dumps(_identity(config), sort_keys=True)
    if state.get("identity") != expected:
        raise ValueError(f"checkpoint {path} was written by another configuration: {state.get('identity')}; "
                         f"this run is {expected}")
    return state


def _versions() -> dict:
    return {"course_lib": course_lib.__version__, "torch": torch.__version__, "numpy": np.__version__,
            "python": platform.python_version()}


def _prepare_directory(out_dir: Path, config: TrainConfig, resume: bool, overwrite: bool) -> bool:
    """Create or clear the run directory; return whether a checkpoint should be resumed."""
    if out_dir.exists() and any(out_dir.iterdir()):
        if overwrite:
            shutil.rmtree(out_dir)
        elif not resume:
            raise ValueError(f"out_dir={str(out_dir)!r} is not empty; pass resume=True (--resume) to continue it "
                             "or overwrite=True (--overwrite) to start again")
        elif (out_dir / CONFIG).is_file():
            saved = json.loads((out_dir / CONFIG).read_text())["config"]
            if saved != dataclasses.asdict(config):
                raise ValueError(f"out_dir={str(out_dir)!r} holds a run with another configuration: {saved}")
    out_dir.mkdir(parents=True, exist_ok=True)
    return resume and (out_dir / CHECKPOINT).is_file()


def _flatten_terms(terms: dict) -> tuple[list[str], torch.Tensor]:
    names, values = [], []
    for name, value in terms.items():
        value = value.detach().reshape(-1).float()
        names += [name] if value.numel() == 1 else [f"{name}_{i}" for i in range(value.numel())]
        values.append(value)
    return names, torch.cat(values)


def _flush(rows: list, steps: list, columns: list, log_path: Path) -> dict:
    """Check the buffered rows for non-finite values, append them to the log, return the last row."""
    table = torch.stack(rows).cpu().numpy()
    bad = ~np.isfinite(table)
    if bad.any():
        row, column = np.argwhere(bad)[0]
        raise NonFiniteLossError(f"term {columns[column]!r} is {table[row, column]} at step {steps[row]}; "
                                 "training stopped, the last good checkpoint is kept")
    new_file = not log_path.is_file()
    with open(log_path, "a", newline="") as handle:
        writer = csv.writer(handle)
        if new_file:
            writer.writerow(["step", *columns])
        for step, values in zip(steps, table):
            writer.writerow([step, *(f"{v:.6g}" for v in values)])
    return {name: float(value) for name, value in zip(columns, table[-1])}


def _truncate_log(log_path: Path, last_step: int) -> None:
    """Drop log rows written after the checkpoint (a run killed between a log flush and its checkpoint)."""
    if not log_path.is_file():
        return
    lines = log_path.read_text().splitlines(keepends=True)
    kept = [lines[0]] + [line for line in lines[1:] if int(line.split(",", 1)[0]) <= last_step]
    with atomic_open(log_path, "w") as handle:
        handle.write("".join(kept))


def train(config: TrainConfig, out_dir, device="auto", resume: bool = False, overwrite: bool = False,
          dataset=None, progress: bool = True) -> Run:
    """Train `config` into `out_dir`. `dataset` defaults to dSprites of `config.variant`."""
    config = config.validate()
    device = get_device(device)
    out_dir = Path(out_dir)
    resuming = _prepare_directory(out_dir, config, resume, overwrite)
    if dataset is None:
        from course_lib.data import DSprites

        dataset = DSprites(config.variant, progress=progress)

    seed_everything(config.seed)
    model, objective = config.build(device)
    # The fused kernel updates every parameter in one launch on a GPU; same arithmetic, same state dict.
    model_optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, fused=device.type == "cuda")
    sampler = GridBatchSampler(dataset, device, config.seed)
    if hasattr(objective, "attach"):  # an objective that decodes or draws batches of its own (TopDis)
        objective.attach(model, sampler)
    start_step = 0
    if resuming:
        state = load_checkpoint(out_dir / CHECKPOINT, config, device)
        model.load_state_dict(state["model"])
        objective.load_state_dict(state["objective"])
        _set_rng_states(state["rng"], sampler)  # a reloaded run leaves the generators as training left them
        if state["step"] >= config.steps:  # finished (or installed from the pretrained zoo): nothing to resume
            return Run(out_dir, config, model.eval(), objective, state["step"])
        for name, optimizer in _optimizers(model_optimizer, objective).items():
            optimizer.load_state_dict(state["optimizers"][name])
        start_step = state["step"]
        _truncate_log(out_dir / LOG, start_step)
    else:
        write_json_atomic(out_dir / CONFIG, {"config": dataclasses.asdict(config), "device": str(device),
                                             "seed": config.seed, "versions": _versions()})

    model.train()
    rows, row_steps, columns, last_terms = [], [], None, {}
    clock = time.perf_counter()
    bar = tqdm(range(start_step + 1, config.steps + 1), desc=f"{config.method} ({device})", disable=not progress,
               initial=start_step, total=config.steps)
    for step in bar:
        x = sampler.sample(config.batch_size)
        out = model(x)
        terms = objective(x, out, step)
        model_optimizer.zero_grad(set_to_none=True)
        terms["total"].backward()
        model_optimizer.step()
        terms.update(objective.auxiliary_step(out))
        names, values = _flatten_terms(terms)
        columns = columns or names
        rows.append(values)
        row_steps.append(step)
        if step % config.checkpoint_every == 0 or step == config.steps:
            last_terms = _flush(rows, row_steps, columns, out_dir / LOG)
            save_checkpoint(out_dir / CHECKPOINT, step, config, model, objective, model_optimizer, sampler)
            bar.set_postfix(loss=f"{last_terms['total']:.1f}")
            rows, row_steps = [], []
    elapsed = time.perf_counter() - clock
    steps_run = config.steps - start_step
    if steps_run:  # a finished run that is only reloaded keeps the summary of the session that trained it
        write_json_atomic(out_dir / SUMMARY, {
            "steps": config.steps, "steps_this_session": steps_run, "seconds_this_session": round(elapsed, 2),
            "steps_per_second": round(steps_run / elapsed, 2), "device": str(device), "last_terms": last_terms})
    model.eval()
    return Run(out_dir, config, model, objective, config.steps)


def load_run(run_dir, device="auto") -> Run:
    """A finished or partial run, rebuilt from its config and checkpoint (weights only)."""
    run_dir = Path(run_dir)
    if not (run_dir / CONFIG).is_file() or not (run_dir / CHECKPOINT).is_file():
        raise ValueError(f"run_dir={str(run_dir)!r} holds no run (needs {CONFIG} and {CHECKPOINT})")
    config = TrainConfig(**json.loads((run_dir / CONFIG).read_text())["config"]).validate()
    device = get_device(device)
    model, objective = config.build(device)
    state = load_checkpoint(run_dir / CHECKPOINT, config, device)
    model.load_state_dict(state["model"])
    objective.load_state_dict(state["objective"])
    model.eval()
    return Run(run_dir, config, model, objective, state["step"])


def default_runs_dir() -> Path:
    """$COURSE_RUNS_DIR, else the checkout's `runs/` folder, else ~/.cache/course_kit/runs."""
    import os

    if os.environ.get("COURSE_RUNS_DIR"):
        return Path(os.environ["COURSE_RUNS_DIR"])
    checkout = Path(__file__).resolve().parents[1]
    return checkout / "runs" if (checkout / "pyproject.toml").is_file() else Path.home() / ".cache/course_kit/runs"


def train_or_load(config: TrainConfig, root=None, device="auto", dataset=None, progress: bool = True) -> Run:
    """The finished run of `config` under `root` (default `default_runs_dir()`), training it if needed.

    A configuration that the pretrained zoo holds (`course_lib.zoo`) is installed from it first.
    A finished run with the same configuration is loaded; a partial one is resumed; anything
    unusable there (another configuration, a corrupt checkpoint) is replaced.
    """
    from course_lib.zoo import install

    directory = Path(root or default_runs_dir()) / config.slug()
    install(config, directory)  # from data/pretrained when the cache lacks it (it says so)
    try:
        return train(config, directory, device=device, resume=True, dataset=dataset, progress=progress)
    except ValueError:
        return train(config, directory, device=device, overwrite=True, dataset=dataset, progress=progress)
