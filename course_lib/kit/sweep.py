"""Sweeps: a grid of (method, hyperparameter value, seed) jobs, each trained and evaluated, on Dask.

Locatello et al. 2019 trained every method at six values of its hyperparameter with many seeds and
evaluated each model with every metric. A `Sweep` describes such a grid; `run_sweep` sends one job
per model to a `dask.distributed` cluster (a LocalCluster sized to the machine, or an existing
scheduler's address) and gathers one table. A job trains into `OUT/<run slug>/` (resuming a partial
run, or continuing the same configuration's finished run at fewer steps in OUT: the same sweep with more
`steps` trains only the new steps, and its models are the ones trained from scratch), evaluates the mean
representation with `course_lib.metrics.evaluate`, adds unsupervised scores (rate, distortion, ELBO,
Gaussian TC of the mean and the sampled code) and writes `result.json` atomically. A rerun skips every
job whose `result.json` says ok, and redoes one whose `result.json` is damaged (its row's `note` says
so); a failing job writes its error there and the others go on. A `deadline` (`--time-limit MINUTES`, for
machines lent for a while or batch jobs with a wall-clock limit) stops every job's training there with a
checkpoint, its scoring before the next metric, and starts no training or scoring after it: those rows say
"stopped", they write no result.json, and the same sweep run again resumes them. SIGINT or SIGTERM (Ctrl-C, a
batch scheduler) stops the sweep the same way, then takes effect (`workers_stop_on_signals`): the workers catch
them (`StopTrainingOnSignals`, on the kit's cluster or one of your own), and the sweep asks its workers to stop
when only it receives one.

`pack=K` (`--pack K`) trains the jobs K at a time as one network (course_lib.training.packed: the same numbers
as separate runs, far more model-steps per second on a GPU, where a single small model leaves the
device idle); each pack is one Dask task, so Dask still spreads the packs over GPUs and workers, and
every job still gets its own run folder and result.json. A pack that cannot train together (a run
folder of another configuration, a device out of memory) leaves its jobs to train one by one.
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import threading
import time
import traceback
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
from distributed.diagnostics.plugin import WorkerPlugin
from tqdm.auto import tqdm

from course_lib.checks import check_choice, check_int, check_number, check_writable_directory, is_real
from course_lib.device import PRECISIONS, check_device_name, get_device
from course_lib.io import write_json_atomic, write_text_atomic
from course_lib.metrics import ALL_METRICS, METRICS, EvaluationStopped
from course_lib.objectives import OBJECTIVES, STUDY_SWEEPS
from course_lib.seeding import check_seed
from course_lib.training import TrainConfig, pack_groups
from course_lib.training.stopping import StopRequests, WorkerStopSignals, ask_to_stop, stop_reason

RESULT, RESULTS_TABLE = "result.json", "results.csv"
STOPPED = "stopped"  # the status of a job that the deadline or a signal stopped


@dataclasses.dataclass(frozen=True)
class Sweep:
    """The grid: every method x its swept hyperparameter's values x seeds, at `steps` training steps.

    `values` maps a method to the values of its hyperparameter (STUDY_SWEEPS names it), or is one
    list used for every method; None takes the study's six values. The plain VAE has no
    hyperparameter: one job per seed.
    """

    methods: tuple = tuple(STUDY_SWEEPS)
    values: dict | list | None = None
    seeds: tuple = (0,)
    steps: int = 300_000
    out: str = "runs/sweep"
    metrics: tuple = METRICS
    num_train: int = 10_000
    num_test: int = 5_000
    device: str = "auto"
    width: int = 1  # the conv VAE's width multiplier (the scale study); 1 is the study's network
    pack: int = 1  # jobs trained together as one packed network (course_lib.training.packed); 1: one by one
    precision: str = "float32"  # the networks' forward arithmetic (TrainConfig.precision)

    @classmethod
    def from_yaml(cls, path, **overrides) -> Sweep:
        """A sweep from a YAML mapping with the field names above; `overrides` (not None) win."""
        import yaml

        try:
            spec = yaml.safe_load(Path(path).read_text()) or {}
        except (OSError, UnicodeDecodeError) as error:
            raise ValueError(f"config={str(path)!r} cannot be read: {error}") from None
        except yaml.YAMLError as error:  # a MarkedYAMLError says where, and often what it was reading there
            mark, opened = getattr(error, "problem_mark", None), getattr(error, "context_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            since = f" ({error.context} from line {opened.line + 1})" if opened and error.context else ""
            raise ValueError(f"config={str(path)!r} is not valid YAML{where}: "
                             f"{getattr(error, 'problem', None) or error}{since}") from None
        allowed = [f.name for f in dataclasses.fields(cls)]
        if not isinstance(spec, dict):
            raise ValueError(f"config={str(path)!r} must hold a mapping with keys from {allowed}; got {spec!r:.200}")
        unknown = [key for key in spec if key not in allowed]
        if unknown:
            raise ValueError(f"config={str(path)!r} has unknown keys {unknown}; allowed: {allowed}")
        spec.update({key: value for key, value in overrides.items() if value is not None})
        return cls(**{key: tuple(value) if isinstance(value, list) and key != "values" else value
                      for key, value in spec.items()})

    def values_of(self, method: str) -> tuple:
        """The swept values of `method`'s hyperparameter; (None,) for the VAE, which has none."""
        if method == "vae":
            return (None,)
        if isinstance(self.values, dict):
            return tuple(self.values.get(method, STUDY_SWEEPS[method][1]))
        return tuple(self.values) if self.values is not None else STUDY_SWEEPS[method][1]

    def validate(self) -> Sweep:
        """Raise ValueError naming the first bad field; every check needs no training."""
        for name, allowed in (("methods", tuple(OBJECTIVES)), ("metrics", ALL_METRICS)):
            chosen = getattr(self, name)
            if not isinstance(chosen, (list, tuple)) or not chosen or any(c not in allowed for c in chosen):
                raise ValueError(f"{name}={chosen!r} is not allowed; give a list from {allowed}")
        if isinstance(self.values, dict):
            stray = [m for m in self.values if m not in self.methods or m not in STUDY_SWEEPS]
            if stray:
                raise ValueError(f"values names {stray}, which methods={self.methods!r} does not sweep; name only "
                                 f"listed methods that have a hyperparameter: {tuple(STUDY_SWEEPS)}")
            lists = {f"values[{m!r}]": numbers for m, numbers in self.values.items()}
        else:
            lists = {} if self.values is None else {"values": self.values}
        for name, numbers in lists.items():
            if (not isinstance(numbers, (list, tuple)) or not numbers
                    or not all(is_real(v) for v in numbers)):
                raise ValueError(f"{name}={numbers!r} is not allowed; give a list of numbers such as [1, 4]")
        if not isinstance(self.seeds, (list, tuple)) or not self.seeds:
            raise ValueError(f"seeds={self.seeds!r} is not allowed; give a list of seeds such as [0, 1, 2]")
        for seed in self.seeds:
            check_seed(seed)
        for name, minimum in (("steps", 1), ("num_train", 2), ("num_test", 2), ("width", 1), ("pack", 1)):
            check_int(name, getattr(self, name), minimum)
        check_choice("precision", self.precision, PRECISIONS)
        check_device_name(self.device)  # the form only: whether it exists is for the machine the jobs run on
        check_writable_directory("out", self.out)
        return self

    def configs(self) -> list[TrainConfig]:
        """One validated TrainConfig per job; a bad field or hyperparameter value raises here, before any job."""
        self.validate()
        configs = []
        for method in self.methods:
            for value in self.values_of(method):
                hyperparameters = {} if value is None else {STUDY_SWEEPS[method][0]: value}
                for seed in self.seeds:
                    configs.append(TrainConfig(method=method, hyperparameters=hyperparameters, steps=self.steps,
                                               seed=check_seed(seed), width=self.width,
                                               precision=self.precision).validate())
        return configs


def unsupervised_scores(model, dataset, num: int, seed: int) -> dict[str, float]:
    """Rate, distortion and ELBO (nats per image) and the Gaussian TC of the mean and sampled codes."""
    from course_lib.analysis.rate_distortion import rate_distortion
    from course_lib.analysis.tc_analysis import mean_and_sampled_tc
    from course_lib.representation import encode

    _, observations = dataset.sample(num, np.random.RandomState(seed))
    scores = rate_distortion(model, observations, seed=seed)
    tc = mean_and_sampled_tc(*encode(model, observations), random_state=seed)
    return {"rate": scores["rate"], "distortion": scores["distortion"], "elbo": scores["elbo"],
            "num_active": scores["num_active"], "tc_mean": tc["mean"], "tc_sampled": tc["sampled"]}


def evaluate_run(run, sweep: Sweep, deadline: float | None = None) -> dict[str, float]:
    """Every requested metric ("metric.score" keys) and the unsupervised scores of a trained run. At the `deadline`
    or when this process is asked to stop, it stops before the next metric (`metrics.EvaluationStopped`)."""
    from course_lib.data import DSprites
    from course_lib.metrics import evaluate
    from course_lib.representation import mean_code_function

    dataset = DSprites(run.config.variant, progress=False)
    table = evaluate(dataset, mean_code_function(run.model), metrics=sweep.metrics, random_state=run.config.seed,
                     num_train=sweep.num_train, num_test=sweep.num_test, num_variance_estimate=sweep.num_train,
                     progress=False, stop=lambda: stop_reason(deadline) is not None)
    scores = {f"{metric}.{score}": value for metric, score, value in table[["metric", "score", "value"]].itertuples(
        index=False)}
    return scores | unsupervised_scores(run.model, dataset, sweep.num_train, run.config.seed)


def _read_result(path: Path) -> tuple[dict, str | None]:
    """(an earlier job's result or {}, a note when that result was damaged and the job must be redone)."""
    if not path.is_file():
        return {}, None
    try:
        previous = json.loads(path.read_text())
        if isinstance(previous, dict):
            return previous, None
        problem = f"holds {type(previous).__name__}, not a result"
    except (OSError, ValueError) as error:  # ValueError: truncated JSON or bytes that are not UTF-8
        problem = f"{type(error).__name__}: {error}"
    return {}, f"the earlier {path} was damaged ({problem}); the job was run again"


def run_job(config: TrainConfig, sweep: Sweep, threads: int | None = None, note: str | None = None,
            deadline: float | None = None) -> dict:
    """Train (or resume) and evaluate one model; its row of the results table. Never raises.

    `note`: how the job came to run (e.g. its pack failed), kept in the row. `deadline` (a `time.time()`):
    training stops there with a checkpoint, and a job that has not finished training and scoring by then is
    "stopped" (scoring stops before its next metric; no result.json: running it again resumes it); so is a job
    that this process is asked to stop (`stopping.ask_to_stop`)."""
    import torch

    from course_lib.kit.runs import train_or_load

    if threads:
        torch.set_num_threads(threads)
    sweep = dataclasses.replace(sweep, device=job_device(sweep.device))  # this worker's GPU
    directory = Path(sweep.out) / config.slug()
    done = directory / RESULT
    previous, damaged = _read_result(done)
    if previous.get("status") == "ok":
        return previous
    hyperparameter = next(iter(config.hyperparameters.items()), (None, None))
    row = {"method": config.method, "hyperparameter": hyperparameter[0], "value": hyperparameter[1],
           "seed": config.seed, "steps": config.steps, "width": config.width, "run_dir": str(directory)}
    notes = [text for text in (damaged, note) if text]
    row |= {"note": "; ".join(notes)} if notes else {}
    start = time.perf_counter()
    stopped_where = None  # where a deadline or a stop request stopped the job
    try:
        run = None if stop_reason(deadline) else train_or_load(config, root=sweep.out, device=sweep.device,
                                                                progress=False, deadline=deadline)
        step = 0 if run is None else run.step
        if step < config.steps or stop_reason(deadline):
            stopped_where = ("before it started" if run is None else "before scoring" if step == config.steps
                             else f"at step {step:,} of {config.steps:,}")
        else:
            row |= {"status": "ok", "error": None} | evaluate_run(run, sweep, deadline)
    except EvaluationStopped as stopped:
        stopped_where = f"while scoring, {stopped}"
    except Exception as error:  # a failed job is recorded, never fatal to the sweep
        row |= {"status": "failed", "error": f"{type(error).__name__}: {error}",
                "traceback": traceback.format_exc()}
    if stopped_where is not None:  # no result.json: the same sweep resumes it
        notes.append(f"{stop_reason(deadline)} stopped it {stopped_where}; run the sweep again to resume it")
        return row | {"status": STOPPED, "error": None, "note": "; ".join(notes),
                      "seconds": time.perf_counter() - start}
    row["seconds"] = time.perf_counter() - start
    directory.mkdir(parents=True, exist_ok=True)
    write_json_atomic(done, row)
    return row


def run_pack(configs: list[TrainConfig], sweep: Sweep, threads: int | None = None,
             deadline: float | None = None) -> list[dict]:
    """Train the pack's unfinished jobs as one network (`kit.runs.train_unfinished_packed`), then evaluate each
    job with `run_job` (which finds its run trained); the rows of the results table. Never raises: when the
    pack cannot train, each job trains alone in `run_job` and its row's note says why. `deadline` as in
    `run_job`."""
    import torch

    from course_lib.kit.runs import train_unfinished_packed

    if threads:
        torch.set_num_threads(threads)
    sweep = dataclasses.replace(sweep, device=job_device(sweep.device))  # this worker's GPU
    directories = [Path(sweep.out) / config.slug() for config in configs]
    pending = [k for k, folder in enumerate(directories) if _read_result(folder / RESULT)[0].get("status") != "ok"]
    note = None if stop_reason(deadline) else train_unfinished_packed(
        [configs[k] for k in pending], [directories[k] for k in pending], sweep.device, deadline=deadline)
    return [run_job(config, sweep, note=note if k in pending else None, deadline=deadline)
            for k, config in enumerate(configs)]


def default_workers(device: str) -> int:
    """One worker per GPU on CUDA, else one per CPU core."""
    if get_device(device).type == "cuda":
        import torch

        return torch.cuda.device_count()
    return os.cpu_count() or 1


def job_device(device: str) -> str:
    """Where a job on a Dask worker trains: `device`, except that "cuda" or "auto" on a machine with several GPUs
    gives worker i of the local cluster (`default_workers`: one per GPU) GPU i mod the GPUs, not all of them GPU 0.
    Outside a worker, or on a worker not named by its index (a cluster of your own), `device` as given."""
    import torch

    if check_device_name(device) not in ("auto", "cuda") or not torch.cuda.is_available() \
            or torch.cuda.device_count() < 2:
        return device
    from distributed import get_worker

    try:
        index = int(get_worker().name)
    except (ValueError, TypeError):  # not on a worker (ValueError), or a worker named otherwise
        return device
    return f"cuda:{index % torch.cuda.device_count()}"


def default_pack(num_jobs: int, device: str) -> int:
    """How many jobs train as one packed network by default: on CUDA the jobs split evenly over the GPUs (one pack
    per GPU, K = ceil(jobs / GPUs): one small model leaves a GPU waiting on kernel launches); elsewhere 1 (a CPU
    core is already busy with one model's step)."""
    num_jobs = check_int("num_jobs", num_jobs, 1)
    return -(-num_jobs // default_workers(device)) if get_device(device).type == "cuda" else 1


def _restore_environment(saved: dict) -> None:
    """Put back the environment variables that changed since `saved` was taken (and drop the new ones)."""
    for name in set(os.environ) - set(saved):
        del os.environ[name]
    os.environ.update({name: value for name, value in saved.items() if os.environ.get(name) != value})


class StopTrainingOnSignals(WorkerPlugin):
    """In every worker process of a Dask cluster, SIGINT and SIGTERM (Ctrl-C in a terminal, a batch scheduler
    ending the job) stop the training under way with a checkpoint, and the worker's jobs come back "stopped"
    (`stopping.WorkerStopSignals`: a Dask task runs outside the main thread, where signals land).

    Each sweep registers its own copy (`name`: the kit's prefix and a unique suffix), and a process keeps the
    handlers while any copy is set up in it: two sweeps sharing your cluster, the first to finish takes its copy
    away and the other's jobs still stop on a signal."""

    PREFIX = "course-kit-stop-training-on-signals"
    _copies_here = 0  # copies set up in this process (in-process workers share it)
    _signals: WorkerStopSignals | None = None

    def __init__(self):
        self.name = f"{self.PREFIX}-{uuid.uuid4().hex}"

    def setup(self, worker) -> None:
        cls = StopTrainingOnSignals
        if cls._copies_here == 0:
            cls._signals = WorkerStopSignals()
            cls._signals.install()  # setup runs in the worker process's main thread; in-process workers: nothing
        cls._copies_here += 1

    def teardown(self, worker) -> None:
        cls = StopTrainingOnSignals
        cls._copies_here -= 1
        if cls._copies_here == 0:
            cls._signals.uninstall()
            cls._signals = None


@contextlib.contextmanager
def workers_stop_on_signals(stop: StopRequests, client):
    """While inside, SIGINT and SIGTERM stop the training of every worker of the Dask `client` with a checkpoint,
    wherever they land: in a worker (`StopTrainingOnSignals`, a copy registered for the time inside) or only here,
    where `stop` caught it (`kill PID`, Ctrl-C in a notebook): then every worker is asked to stop within 0.2 s
    (`ask_to_stop`). A sweep's jobs then stop as at a time limit. Leaving withdraws the request and its copy of the
    plugin, so a cluster of your own is as it was. Outside the main thread (no signals: the study's sweeps) it does
    nothing; the caller in the main thread does it."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    plugin = StopTrainingOnSignals()
    client.register_plugin(plugin)
    done = threading.Event()

    def forward() -> None:
        while not done.wait(0.2):
            if stop.received is not None:
                client.run(ask_to_stop, on_error="ignore")  # a worker that cannot take it is gone already
                return

    watcher = threading.Thread(target=forward, name="forward-stop-requests", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        done.set()
        watcher.join()
        if stop.received is not None:
            client.run(ask_to_stop, False, on_error="ignore")  # your own cluster or in-process workers train again
        client.unregister_worker_plugin(plugin.name)


@contextlib.contextmanager
def training_cluster(workers: int, processes: bool = True, dashboard_address: str | None = None):
    """A dask LocalCluster of `workers` single-threaded workers for training jobs, closed on exit, which also
    gives this process back its environment: the nanny writes OMP_NUM_THREADS=1 & co. for its workers into this
    process's environment too (dask PR 6681), which every later subprocess would inherit.

    Dask's nanny sets MALLOC_TRIM_THRESHOLD_=65536 in its workers so that they hand freed memory back to the
    OS. Setting it freezes glibc's adaptive mmap threshold at 128 KiB: every activation buffer of every
    training step is then mmap'ed, zero-filled by page faults and unmapped again: the study's conv VAE trained at
    6.5 instead of 14.2 steps/s (one thread, 1,500 steps, 2-core CPU). Here the workers keep glibc's default."""
    import dask
    from distributed import LocalCluster

    environment = dict(os.environ)
    try:
        with dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}):
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=processes,
                                   dashboard_address=dashboard_address)
        try:
            yield cluster
        finally:
            nanny = logging.getLogger("distributed.nanny")
            level = nanny.level
            nanny.setLevel(logging.ERROR)  # "worker process still alive after 4 s, killing": a slow exit, not an error
            try:
                cluster.close()
            finally:
                nanny.setLevel(level)
    finally:
        _restore_environment(environment)


def in_table_order(table: pd.DataFrame) -> pd.DataFrame:
    """The rows by method, then by the hyperparameter's value and the seed as numbers (beta 4 before 16, seed 2
    before 10; the plain VAE's missing value last), renumbered."""
    def key(column: pd.Series) -> pd.Series:
        return column.astype(str) if column.name == "method" else pd.to_numeric(column, errors="coerce")

    return table.sort_values(["method", "value", "seed"], key=key, na_position="last").reset_index(drop=True)


def run_sweep(sweep: Sweep, scheduler: str | None = None, workers: int | None = None,
              processes: bool = True, progress: bool = True, jobs: list | None = None,
              deadline: float | None = None) -> pd.DataFrame:
    """Run every job of `sweep` on Dask and write `OUT/results.csv`; returns the table (a row per job).

    `scheduler`: the address of a running dask scheduler; None starts a LocalCluster of `workers`
    single-threaded workers (default: one per core, or per GPU). Finished jobs are skipped.
    `jobs`: the TrainConfigs to train and score with the sweep's settings (None: `sweep.configs()`, its grid).
    `deadline` (a `time.time()`, e.g. `training.deadline_after(minutes)`): jobs that it stops are "stopped" rows
    (`run_job`); running the sweep again resumes them. SIGINT or SIGTERM here stops the jobs in the same way
    (`workers_stop_on_signals`, on the kit's cluster or yours); the table is written, then the signal takes effect.
    """
    from distributed import Client, as_completed

    from course_lib.data import ensure_grid_cache

    if jobs is None:
        configs = sweep.configs()
    elif isinstance(jobs, (list, tuple)) and jobs and all(isinstance(job, TrainConfig) for job in jobs):
        configs = [job.validate() for job in jobs]
        sweep.validate()
    else:
        raise ValueError(f"jobs={jobs!r:.200} is not allowed; give a non-empty list of TrainConfig (or None)")
    deadline = check_number("deadline", deadline, 0, none_ok=True)
    if scheduler is None:  # the jobs run here: the device must exist here, before anything is written
        workers = workers or default_workers(sweep.device)
    Path(sweep.out).mkdir(parents=True, exist_ok=True)
    ensure_grid_cache(progress=progress)  # rendered once here, not by every worker at the same time
    threads = max(1, (os.cpu_count() or 1) // workers) if scheduler is None else None
    rows = []
    cluster = training_cluster(workers, processes) if scheduler is None else contextlib.nullcontext(scheduler)
    with StopRequests() as stop, cluster as where, Client(where) as client, workers_stop_on_signals(stop, client):
        if sweep.pack == 1:
            futures = [client.submit(run_job, config, sweep, threads, deadline=deadline, key=f"job-{config.slug()}",
                                     pure=False) for config in configs]
        else:
            futures = [client.submit(run_pack, pack, sweep, threads, deadline=deadline, key=f"pack-{pack[0].slug()}",
                                     pure=False) for pack in pack_groups(configs, sweep.pack)]
        with tqdm(total=len(configs), desc="sweep", disable=not progress) as bar:
            for future in as_completed(futures):
                done = future.result() if sweep.pack > 1 else [future.result()]  # a pack's rows, or a job's row
                rows.extend(done)
                bar.update(len(done))
        table = in_table_order(pd.DataFrame(rows).drop(columns="traceback", errors="ignore"))
        write_text_atomic(Path(sweep.out) / RESULTS_TABLE, table.to_csv(index=False))
    return table
