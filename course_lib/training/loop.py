"""One training loop for every objective: seeded, logged, checkpointed atomically, resumable.

A run directory holds
  config.json      every argument, the library versions, the device and the seed
  log.csv          every named term of every step (vectors such as kl_per_latent as columns _0, _1, ...)
  checkpoint.pt    state dicts of the model, the objective (FactorVAE's discriminator), every optimiser,
                   the RNG states and the step; loaded with torch.load(weights_only=True)
  summary.json     written at the end: steps, wall time, steps per second, the last terms
  .lock            held (flock) while a process trains here: a second `train` into the folder is refused

The loop never branches on the method: it calls `objective(x, out, step)` and
`objective.auxiliary_step(out)` for all of them. Terms stay on the device and are checked for NaN
and inf, logged and checkpointed every `checkpoint_every` steps (and at least every 10 minutes, and before
Ctrl-C or SIGTERM take effect: `stopping`), so a GPU run is not synchronised every step. A non-finite term
stops training with an error that names it and its first step; the last good checkpoint is kept.

Randomness: the initial weights come from torch's global generator, seeded with the run's seed just
before they are built. Every random draw of a training step comes from one generator per run, the
batch sampler's (`GridBatchSampler.generator`, on the training device, seeded with the run's seed):
the batch, the reparameterisation's eps (`model(x, generator)`) and the objective's own draws
(FactorVAE's permutation, TopDis's second batch, latent and sign, via `objective.attach`), in that
order. A run's numbers thus depend on its seed alone, not on what else the process draws, which is
what lets `course_lib.training.packed` train K runs as one network with the same numbers as K separate runs.
The checkpoint keeps that generator's state ("rng": "sampler") and, as before, the global ones
("torch_cpu", "torch_cuda"), restored on loading so that a notebook continues after a loaded run as
after one it trained. (Runs trained before this design drew eps from the global generator: their
checkpoints load and resume, and newly trained runs have other numbers than those did.)

Nothing a user wrote is ever lost: `overwrite=True` deletes only the files a run writes (a folder
holding anything else is refused, and so are the root, home, current and checkout folders); a
resumed run's log is cut back to its checkpoint's step, so a run killed between a log flush and
its checkpoint logs every step once; a checkpoint's CRCs are verified before it is loaded.
"""
from __future__ import annotations

import csv
import dataclasses
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

import course_lib
from course_lib.checks import check_choice, check_int, check_number, check_writable_directory
from course_lib.data.torch_sampler import GridBatchSampler, generator_device_type
from course_lib.device import CUDA_GRAPH_CHOICES, PRECISIONS, check_batch_fits, forward_precision, get_device
from course_lib.io import CHECKOUT, LOCK_FILE, atomic_open, check_zip_integrity, directory_lock, write_json_atomic
from course_lib.models import conv_vae, mlp_vae
from course_lib.objectives import make_objective
from course_lib.seeding import check_seed, continuation_seed, seed_everything
from course_lib.training.graphed import GraphedStep, graph_available, set_capturable
from course_lib.training.stopping import CheckpointClock, StopRequests

ARCHITECTURES = ("conv", "mlp")
CHECKPOINT, CONFIG, LOG, SUMMARY = "checkpoint.pt", "config.json", "log.csv", "summary.json"
# Every file a run folder may hold: the run's own, `evaluate`'s metrics.csv and a sweep job's result.json.
RUN_FILES = (CONFIG, LOG, CHECKPOINT, SUMMARY, "metrics.csv", "result.json", LOCK_FILE)


class NonFiniteLossError(ValueError):
    """A training term became NaN or infinite."""


class UnusableRunError(ValueError):
    """A run folder whose checkpoint cannot continue this configuration: damaged, or another configuration's."""


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
    precision: str = "float32"  # the network's forward arithmetic; "bfloat16" autocasts it (device.forward_precision)

    def validate(self) -> "TrainConfig":
        """Raise ValueError for any bad field, before any work; build the objective to check it."""
        for name, minimum in (("steps", 1), ("batch_size", 2), ("num_latent", 1), ("checkpoint_every", 1),
                              ("width", 1)):
            object.__setattr__(self, name, check_int(name, getattr(self, name), minimum))  # numpy ints as int
        lr = check_number("lr", self.lr, 0, low_open=True)
        if not isinstance(self.lr, (int, float)):  # a numpy float as a float, for the config's JSON
            object.__setattr__(self, "lr", lr)
        check_choice("architecture", self.architecture, ARCHITECTURES)
        check_choice("precision", self.precision, PRECISIONS)
        if self.width != 1 and self.architecture != "conv":
            raise ValueError(f"width={self.width} is not allowed for architecture={self.architecture!r}; "
                             f"only conv scales")
        check_seed(self.seed)
        if not isinstance(self.hyperparameters, dict):
            raise ValueError(f"hyperparameters={self.hyperparameters!r} is not allowed; use a mapping of the "
                             "objective's arguments, e.g. {'beta': 4}")
        make_objective(self.method, self.num_latent, **self.hyperparameters)
        from course_lib.data import VARIANTS

        check_choice("variant", self.variant, VARIANTS)
        return self

    def slug(self) -> str:
        """A directory name that identifies the run, e.g. beta_vae-beta4-conv-binary-z10-b64-lr0.0001-steps2000-seed0
        (a bfloat16 run: ...-lr0.0001-bf16-steps2000-seed0)."""
        hyper = "".join(f"-{k}{v}" for k, v in sorted(self.hyperparameters.items()))
        architecture = self.architecture + (f"x{self.width}" if self.width != 1 else "")
        precision = "-bf16" if self.precision == "bfloat16" else ""
        return (f"{self.method}{hyper}-{architecture}-{self.variant}-z{self.num_latent}-b{self.batch_size}"
                f"-lr{self.lr:g}{precision}-steps{self.steps}-seed{self.seed}")

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


def global_rng_states() -> dict:
    """The states of torch's global generators: "torch_cpu", and "torch_cuda" (every GPU) when there is one."""
    states = {"torch_cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        states["torch_cuda"] = torch.cuda.get_rng_state_all()
    return states


def restore_global_rng_states(states: dict) -> None:
    """torch's global generators as `states` holds them: the CPU's, and the GPUs' that this machine has (a
    checkpoint written where there were more GPUs, or none, restores what it can)."""
    torch.set_rng_state(states["torch_cpu"])
    if "torch_cuda" in states and torch.cuda.is_available():
        for index, state in enumerate(states["torch_cuda"][:torch.cuda.device_count()]):
            torch.cuda.set_rng_state(state, index)


def continue_generator(sampler, state: dict, config: TrainConfig, step: int, out_dir) -> None:
    """The run's generator as its checkpoint left it, to continue training at `step`. A checkpoint written on
    another type of device (a run trained on a CPU continuing on a GPU, or back) holds another algorithm's
    state, which no generator here can take: the generator is then seeded from (seed, step) and the run says
    so. Such a continuation is reproducible, but its draws are not those an uninterrupted run would make."""
    if not sampler.load_state_dict(state):
        sampler.generator.manual_seed(continuation_seed(config.seed, step))
        print(f"{out_dir}: its checkpoint's generator is a {generator_device_type(state)} generator; "
              f"on {sampler.device} the run continues from step {step} with its generator seeded from "
              f"(seed {config.seed}, step {step})")


def run_optimizers(model_optimizer, objective) -> dict:
    """Every optimiser of a run by the name its checkpoint uses: "model" and the objective's own."""
    return {"model": model_optimizer, **objective.optimizers}


def checkpoint_identity(config: TrainConfig) -> str:
    """What a checkpoint must match to be resumed or loaded into this configuration (a JSON string)."""
    identity = {"method": config.method, "architecture": config.architecture, "num_latent": config.num_latent,
                "variant": config.variant, "hyperparameters": config.hyperparameters}
    identity |= {"width": config.width} if config.width != 1 else {}  # the study's width: as before
    identity |= {"precision": config.precision} if config.precision != "float32" else {}  # likewise
    return json.dumps(identity, sort_keys=True)


def save_checkpoint(path: Path, step, config, model, objective, model_optimizer, sampler, global_states) -> None:
    """Write the run's state atomically; "rng" holds the sampler's generator and `global_states`."""
    state = {
        "step": step,
        "identity": checkpoint_identity(config),
        "model": model.state_dict(),
        "objective": objective.state_dict(),
        "optimizers": {name: opt.state_dict() for name, opt in run_optimizers(model_optimizer, objective).items()},
        "rng": {**global_states, "sampler": sampler.state_dict()},
    }
    with atomic_open(path, "wb") as handle:
        torch.save(state, handle)


def load_checkpoint(path: Path, config: TrainConfig) -> dict:
    """The checkpoint's state on the CPU, CRC-checked and loaded without unpickling code.

    Everything stays on the CPU: `load_state_dict` copies weights and optimiser states to the
    model's device, and the generators' states must be CPU byte tensors whatever the device.
    UnusableRunError when damaged or written by another configuration."""
    try:
        check_zip_integrity(path)
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # truncated zip, bad CRC, bad magic number, unsupported type: all mean unusable
        raise UnusableRunError(f"checkpoint {path} is truncated or corrupt ({type(error).__name__}: {error})") from None
    expected = checkpoint_identity(config)
    if state.get("identity") != expected:
        raise UnusableRunError(f"checkpoint {path} was written by another configuration: {state.get('identity')}; "
                               f"this run is {expected}")
    return state


def checkpoint_step(run_dir, config: TrainConfig) -> int:
    """The step of the checkpoint of `config`'s run in `run_dir`, 0 without one (UnusableRunError when damaged)."""
    path = Path(run_dir) / CHECKPOINT
    return load_checkpoint(path, config)["step"] if path.is_file() else 0


def write_run_config(out_dir: Path, config: TrainConfig, device) -> None:
    """config.json: every field of `config`, the device, the seed and the library versions."""
    versions = {"course_lib": course_lib.__version__, "torch": torch.__version__, "numpy": np.__version__,
                "python": platform.python_version()}
    write_json_atomic(out_dir / CONFIG, {"config": dataclasses.asdict(config), "device": str(device),
                                         "seed": config.seed, "versions": versions})


def record_device(out_dir: Path, device) -> None:
    """Add `device` to the devices config.json says the run trained on ("cpu, then cuda"), when it is new there:
    a run continued on another type of device (the zoo grown on a GPU from CPU runs) says where its steps ran."""
    saved = json.loads((out_dir / CONFIG).read_text())
    devices = str(saved.get("device", "")).split(", then ")
    if str(device) not in devices:
        write_json_atomic(out_dir / CONFIG, {**saved, "device": ", then ".join([*filter(None, devices), str(device)])})


def write_summary(out_dir: Path, config: TrainConfig, steps_run: int, elapsed: float, device, last_terms: dict,
                  **extra) -> None:
    """summary.json of a session that trained `steps_run` steps in `elapsed` seconds (and `extra` keys)."""
    write_json_atomic(out_dir / SUMMARY, {
        "steps": config.steps, "steps_this_session": steps_run, "seconds_this_session": round(elapsed, 2),
        "steps_per_second": round(steps_run / elapsed, 2), "device": str(device), "last_terms": last_terms, **extra})


def _written_by_a_run(path: Path) -> bool:
    """A run's file, or the temporary file of one that an interrupted atomic write left behind."""
    temporary = path.name.startswith(tuple(f".{name}." for name in RUN_FILES)) and path.name.endswith(".tmp")
    return path.is_file() and (path.name in RUN_FILES or temporary)


def check_overwritable(out_dir) -> Path:
    """`out_dir` as a Path when `overwrite=True` may clear it, else a ValueError that says why not."""
    resolved = Path(out_dir).resolve()
    protected = {Path("/"), Path.home().resolve(), Path.cwd().resolve(), CHECKOUT}
    if resolved in protected:
        raise ValueError(f"out_dir={str(out_dir)!r} is {resolved}: overwrite never clears the root, home, current "
                         "or checkout folder; give the run its own folder")
    foreign = sorted(p.name for p in resolved.iterdir() if not _written_by_a_run(p)) if resolved.is_dir() else []
    if foreign:
        raise ValueError(f"out_dir={str(out_dir)!r} holds files that a run does not write ({', '.join(foreign[:5])}); "
                         "overwrite only clears run folders: move them, or choose another folder")
    return Path(out_dir)


def clear_run_directory(out_dir) -> None:
    """Delete what a run wrote in `out_dir` (not its lock); refuse a folder that is not a run's."""
    for path in check_overwritable(out_dir).iterdir():
        if path.name != LOCK_FILE:
            path.unlink()


def prepare_run_directory(out_dir: Path, config: TrainConfig, resume: bool, overwrite: bool) -> bool:
    """Check or clear the locked run directory; return whether a checkpoint should be resumed."""
    if any(p.name != LOCK_FILE for p in out_dir.iterdir()):
        if overwrite:
            clear_run_directory(out_dir)
        elif not resume:
            raise ValueError(f"out_dir={str(out_dir)!r} is not empty; pass resume=True (--resume) to continue it "
                             "or overwrite=True (--overwrite) to start again")
        elif (out_dir / CONFIG).is_file():
            saved = read_config_file(out_dir / CONFIG)
            if saved != config:
                raise UnusableRunError(f"out_dir={str(out_dir)!r} holds a run with another configuration: {saved}")
    for interrupted in out_dir.glob(".*.tmp"):  # an atomic write that a kill interrupted; we hold the lock
        interrupted.unlink()
    return resume and (out_dir / CHECKPOINT).is_file()


def read_config_file(path) -> TrainConfig:
    """The validated TrainConfig that a run's config.json holds ({"config": {field: value}, ...}).

    UnusableRunError naming the file when it is not JSON, holds no "config" mapping, or holds keys or
    values that TrainConfig does not allow."""
    try:
        saved = json.loads(Path(path).read_text())
    except (OSError, ValueError) as error:  # ValueError: bad JSON or bytes that are not UTF-8
        raise UnusableRunError(f"{path} is not readable JSON: {error}") from None
    fields = saved.get("config") if isinstance(saved, dict) else None
    if not isinstance(fields, dict):
        raise UnusableRunError(f'{path} holds no "config" mapping of training arguments; `train` writes one')
    allowed = [field.name for field in dataclasses.fields(TrainConfig)]
    unknown = sorted(set(fields) - set(allowed))
    if unknown:
        raise UnusableRunError(f'{path}: unknown keys {unknown} in "config"; allowed: {allowed}')
    try:
        return TrainConfig(**fields).validate()
    except (TypeError, ValueError) as error:  # TypeError: e.g. an argument the objective does not take
        raise UnusableRunError(f"{path}: {error}") from None


def read_run_config(run_dir) -> TrainConfig:
    """The TrainConfig of the run in `run_dir`, which must hold config.json and checkpoint.pt."""
    run_dir = Path(run_dir)
    if not (run_dir / CONFIG).is_file() or not (run_dir / CHECKPOINT).is_file():
        raise ValueError(f"run_dir={str(run_dir)!r} holds no run (needs {CONFIG} and {CHECKPOINT})")
    return read_config_file(run_dir / CONFIG)


def flatten_terms(terms: dict) -> tuple[list[str], torch.Tensor]:
    """(column names, one vector of values) of a step's terms; a vector term gives columns name_0, name_1, ..."""
    names, values = [], []
    for name, value in terms.items():
        value = value.detach().reshape(-1).float()
        names += [name] if value.numel() == 1 else [f"{name}_{i}" for i in range(value.numel())]
        values.append(value)
    return names, torch.cat(values)


def flush_log(rows: list, steps: list, columns: list, log_path: Path) -> dict:
    """Check the buffered rows for non-finite values, append them to the log, return the last row."""
    table = torch.stack(rows).cpu().numpy()
    bad = ~np.isfinite(table)
    if bad.any():
        row, column = np.argwhere(bad)[0]
        kept = steps[0] - 1
        raise NonFiniteLossError(
            f"term {columns[column]!r} is {table[row, column]} at step {steps[row]}; training stopped in "
            f"{log_path.parent}, where the last good checkpoint (step {kept}) is kept. Lower the learning rate or "
            "the objective's weight (e.g. beta), then rerun with --overwrite to start again"
            + (" or --resume to continue from that checkpoint" if kept else ""))
    new_file = not log_path.is_file()
    with open(log_path, "a", newline="") as handle:
        writer = csv.writer(handle)
        if new_file:
            writer.writerow(["step", *columns])
        for step, values in zip(steps, table):
            writer.writerow([step, *(f"{v:.6g}" for v in values)])
    return {name: float(value) for name, value in zip(columns, table[-1])}


def truncate_log(log_path: Path, last_step: int) -> None:
    """Keep the log's complete rows up to `last_step`, the checkpoint's: a run killed between a log flush
    and its checkpoint (or in the middle of a row) then logs every step once. Step 0: no log at all."""
    if not log_path.is_file():
        return
    if last_step == 0:
        log_path.unlink()
        return
    with open(log_path, newline="") as handle:
        header, *rows = list(csv.reader(handle)) or [[]]
    kept = [row for row in rows if len(row) == len(header) and row[0].isdigit() and int(row[0]) <= last_step]
    with atomic_open(log_path, "w") as handle:
        csv.writer(handle).writerows([header, *kept])


def train(config: TrainConfig, out_dir, device="auto", resume: bool = False, overwrite: bool = False,
          dataset=None, progress: bool = True, cuda_graph: str = "auto", until: int | None = None,
          deadline: float | None = None) -> Run:
    """Train `config` into `out_dir`. `dataset` defaults to dSprites of `config.variant`.

    `resume`: continue from the folder's checkpoint; `overwrite`: delete what a run wrote there and
    start again. The folder is locked while training: a second `train` into it is refused.
    `until`: stop after that step with a checkpoint there (None: `config.steps`); resuming continues it.
    `deadline`: a `time.time()` after which the run stops at its next step, with a checkpoint there (for
    machines lent by the hour); resuming continues it exactly, so where it stopped changes nothing.
    Ctrl-C (a notebook's interrupt) or SIGTERM stops it the same way before they take effect, and a checkpoint
    is written at least every 10 minutes (course_lib.training.stopping).
    `cuda_graph`: "auto" replays each step as one captured CUDA graph on a GPU when the objective allows
    it (course_lib.training.graphed; the same numbers to float32 rounding, several times faster), "on"
    requires it, "off" trains eagerly. It is how a run is computed, not what it is: not in the config."""
    config = config.validate()
    check_choice("cuda_graph", cuda_graph, CUDA_GRAPH_CHOICES)
    until = check_int("until", config.steps if until is None else until, 1, config.steps)
    deadline = check_number("deadline", deadline, 0, none_ok=True)
    if not str(out_dir).strip():
        raise ValueError(f"out_dir={str(out_dir)!r} is not allowed; name the run's folder")
    out_dir = check_writable_directory("out_dir", out_dir)
    if overwrite:
        check_overwritable(out_dir)  # before the lock file is made: nothing is written into a refused folder
    device = get_device(device)
    graphed = use_cuda_graph(cuda_graph, device, config)
    dataset = dataset if dataset is not None else default_dataset(config, progress)
    check_memory(config, dataset, device)
    with directory_lock(out_dir, "run folder"):
        return _train_locked(config, out_dir, device, resume, overwrite, dataset, progress, graphed, until, deadline)


def default_dataset(config: TrainConfig, progress: bool = True):
    """dSprites of `config.variant` (rendered into the cache the first time)."""
    from course_lib.data import DSprites

    return DSprites(config.variant, progress=progress)


def check_memory(config: TrainConfig, dataset, device, copies: int = 1) -> None:
    """ValueError before any work when `copies` runs of `config` cannot train side by side on `device`."""
    with torch.random.fork_rng():  # a model for the estimate only: the caller's generators stay as they are
        model, _ = config.build("cpu")
    check_batch_fits(model, dataset.observation_shape, config.batch_size, device, copies=copies,
                     resident_bytes=dataset.packed_grid.nbytes if device.type == "cuda" else 0)


def make_step_function(model, objective, optimizer, sampler, batch_size: int, precision: str = "float32"):
    """One training step of the run: draw a batch, forward (in `precision`), backward, Adam, the objective's own
    update. `step_function(step)` returns (term names, the terms as one vector); `step` may be a device tensor
    (the step count of a captured CUDA graph, course_lib.training.graphed)."""
    def step_function(step):
        x = sampler.sample(batch_size)
        with forward_precision(x.device, precision):
            out = model(x, sampler.generator)
        terms = objective(x, out, step)
        optimizer.zero_grad(set_to_none=True)
        terms["total"].backward()
        optimizer.step()
        terms.update(objective.auxiliary_step(out))
        return flatten_terms(terms)

    return step_function


def use_cuda_graph(cuda_graph: str, device, config: TrainConfig) -> bool:
    """Resolve `cuda_graph` for `config` on `device` ("auto": on CUDA when its objective can be captured; "on":
    required, a ValueError otherwise; "off"), before any work."""
    check_choice("cuda_graph", cuda_graph, CUDA_GRAPH_CHOICES)
    objective = make_objective(config.method, config.num_latent, **config.hyperparameters)
    if cuda_graph == "on" and not graph_available(device, objective):
        why = f"device {device} is not CUDA" if device.type != "cuda" else f"{objective.name} cannot be captured"
        raise ValueError(f"cuda_graph='on' is not allowed here: {why}; use 'auto' or 'off'")
    return cuda_graph != "off" and graph_available(device, objective)


def _train_locked(config: TrainConfig, out_dir: Path, device, resume: bool, overwrite: bool, dataset,
                  progress: bool, graphed: bool, until: int, deadline: float | None) -> Run:
    resuming = prepare_run_directory(out_dir, config, resume, overwrite)
    seed_everything(config.seed)
    model, objective = config.build(device)
    # The fused kernel updates every parameter in one launch on a GPU; same arithmetic, same state dict.
    model_optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, fused=device.type == "cuda")
    sampler = GridBatchSampler(dataset, device, config.seed)  # its generator: every random draw of a step
    objective.attach(model, sampler)
    start_step = 0
    if resuming:
        state = load_checkpoint(out_dir / CHECKPOINT, config)
        model.load_state_dict(state["model"])
        objective.load_state_dict(state["objective"])
        restore_global_rng_states(state["rng"])  # a reloaded run leaves the generators as training left them
        if state["step"] >= until:  # finished (or installed from the pretrained zoo, or at `until`): nothing to do
            sampler.load_state_dict(state["rng"]["sampler"])  # where this device's generator can take it
            return Run(out_dir, config, model.eval(), objective, state["step"])
        continue_generator(sampler, state["rng"]["sampler"], config, state["step"], out_dir)
        record_device(out_dir, device)
        for name, optimizer in run_optimizers(model_optimizer, objective).items():
            optimizer.load_state_dict(state["optimizers"][name])
        set_capturable(run_optimizers(model_optimizer, objective).values(), False)  # whatever the checkpoint's run used
        start_step = state["step"]
    else:
        write_run_config(out_dir, config, device)

    truncate_log(out_dir / LOG, start_step)
    model.train()
    rows, row_steps, columns, last_terms = [], [], None, {}
    clock = time.perf_counter()
    bar = tqdm(range(start_step + 1, until + 1), desc=f"{config.method} ({device})", disable=not progress,
               initial=start_step, total=config.steps)
    step_function = make_step_function(model, objective, model_optimizer, sampler, config.batch_size,
                                       config.precision)
    if graphed:
        step_function = GraphedStep(step_function, run_optimizers(model_optimizer, objective).values(),
                                    [sampler.generator], device)
    step, checkpoints = start_step, CheckpointClock(config.checkpoint_every, until)
    with StopRequests(deadline) as stop:  # the deadline, Ctrl-C or SIGTERM: a checkpoint at the end of the step
        for step in bar:
            names, values = step_function(step)
            columns = columns or names
            rows.append(values)
            row_steps.append(step)
            stopping = stop.requested()
            if checkpoints.due(step, stopping):
                last_terms = flush_log(rows, row_steps, columns, out_dir / LOG)
                save_checkpoint(out_dir / CHECKPOINT, step, config, model, objective, model_optimizer, sampler,
                                global_rng_states())
                checkpoints.saved()
                bar.set_postfix(loss=f"{last_terms['total']:.1f}")
                rows, row_steps = [], []
            if stopping:
                break
        bar.close()
        elapsed = time.perf_counter() - clock
        steps_run = step - start_step
        if steps_run:  # a finished run that is only reloaded keeps the summary of the session that trained it
            write_summary(out_dir, config, steps_run, elapsed, device, last_terms)
    model.eval()
    return Run(out_dir, config, model, objective, step)


def load_run(run_dir, device="auto") -> Run:
    """A finished or partial run, rebuilt from its config and checkpoint (weights only)."""
    run_dir = Path(run_dir)
    config = read_run_config(run_dir)
    device = get_device(device)
    model, objective = config.build(device)
    state = load_checkpoint(run_dir / CHECKPOINT, config)
    model.load_state_dict(state["model"])
    objective.load_state_dict(state["objective"])
    model.eval()
    return Run(run_dir, config, model, objective, state["step"])


def default_runs_dir() -> Path:
    """$COURSE_RUNS_DIR, else the checkout's `runs/` folder, else ~/.cache/course_kit/runs."""
    import os

    if os.environ.get("COURSE_RUNS_DIR"):
        return Path(os.environ["COURSE_RUNS_DIR"])
    return CHECKOUT / "runs" if (CHECKOUT / "pyproject.toml").is_file() else Path.home() / ".cache/course_kit/runs"
