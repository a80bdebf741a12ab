"""Notebook 13's study, run: what each profile trains, on one Dask cluster, and UDR over its seeds.

  study_plan / run_study  what each profile trains (the main sweep + beta-VAE's scale sweeps), on one Dask cluster
  add_udr / add_udr_flavours
                          every finished run encoded on shared draws, then UDR among the seeds of its group
                          (Lasso; or both the Lasso and the Spearman flavour)
  export_study / shipped_study
                          a finished study's two tables (UDR included, run folders left out) written beside
                          the zoo with a manifest (the plan, the commit, each table's SHA-256), and read back
                          for the plan that made them, so that notebook 13 shows a study in minutes instead
                          of training it (`python -m course_lib study --profile P --export` makes them)

The key results computed from the table it returns are `course_lib.analysis.sweep_results`; the figures,
`course_lib.lab.study_plots`.
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd

from course_lib.analysis.sweep_results import GROUP, SCALE_METHOD, ok_models, scale_results, udr_by_group
from course_lib.checks import check_choice, check_int
from course_lib.io import CHECKOUT, atomic_open, checkout_commit, sha256_of_file, write_json_atomic
from course_lib.kit.sweep import STOPPED, Sweep, default_pack
from course_lib.metrics import ALL_METRICS
from course_lib.objectives import STUDY_SWEEPS
from course_lib.seeding import as_random_state, check_seed


def spread_values(method: str, num: int) -> tuple:
    """`num` of the study's six values of `method`'s hyperparameter, evenly spread, both ends included."""
    check_choice("method", method, STUDY_SWEEPS)
    values = STUDY_SWEEPS[method][1]
    num = check_int("num", num, 1, len(values))
    if num == 1:
        return (values[len(values) // 2],)
    return tuple(values[int(i)] for i in np.round(np.linspace(0, len(values) - 1, num)))


@dataclasses.dataclass(frozen=True)
class StudyDesign:
    """What a profile's study covers; the sizes that scale with the profile come from `Profile`."""

    methods: tuple  # the objectives of the main sweep
    num_seeds: int  # seeds per (method, value): Duan et al.'s UDR compares these models
    steps_divisor: int  # main sweep steps = profile.train_steps // steps_divisor
    metrics: tuple
    num_train: int  # draws per metric (and the larger downstream training size)
    num_test: int
    widths: tuple  # conv VAE widths of the scale study (1 = the study's network)
    udr_points: int  # shared observations on which UDR compares models (the study: 1,000)
    scale_seeds: int  # seeds per point of the scale study (its longest width-1 point has the main sweep's)


CHEAP_METRICS = ("mig", "sap", "dci", "modularity", "downstream")  # none encodes the whole 737,280-image grid
DESIGNS = {
    # CI: proves every cell runs (11 jobs of <= 20 steps); the numbers mean nothing. DCI is left out: its
    # boosted trees (one multi-class ensemble per factor) are the slowest part of a tiny job.
    "smoke": StudyDesign(("beta_vae", "dip_vae_i"), 2, 1, ("mig", "sap", "modularity", "downstream"), 200, 100,
                         (1, 2), 200, 1),
    # 2-core CPU: 18 + 6 models of 1,000 steps or fewer; the BetaVAE and FactorVAE scores (which encode all
    # 737,280 images, ~2.5 min per model) are left out, and the metrics use half the study's draws.
    "lecture": StudyDesign(("beta_vae", "beta_tcvae", "dip_vae_i"), 2, 2, CHEAP_METRICS, 5_000, 2_500, (1, 2),
                           1_000, 2),
    # The paper's design on dSprites (six objectives x six values, 300,000 steps, every metric at its sizes),
    # with 5 seeds where the paper had 50: for GPUs or a cluster (`scheduler`).
    "full": StudyDesign(tuple(STUDY_SWEEPS), 5, 1, ALL_METRICS, 10_000, 5_000, (1, 2, 4), 1_000, 5),
}


@dataclasses.dataclass(frozen=True)
class StudyPlan:
    """The main sweep (analyses 1-5) and the extra beta-VAE sweeps of the scale study (analysis 6).

    The scale study trains beta-VAE at `scale_value` (one of the main sweep's betas) for steps/4 and
    steps/2 at width 1 and, at steps/2, at the other widths; its longest width-1 run is the main
    sweep's. Every sweep writes under `out`, so a rerun skips finished jobs.
    """

    sweep: Sweep
    scale_sweeps: tuple
    scale_value: float
    udr_points: int


def study_plan(profile, out, device: str = "auto", first_seed: int = 0) -> StudyPlan:
    """The plan for a `course_lib.profiles.Profile`: values from `num_sweep_values`, steps from `train_steps`; on
    CUDA each sweep trains packed, one pack per GPU (`sweep.default_pack`)."""
    if getattr(profile, "name", None) not in DESIGNS:
        raise ValueError(f"profile={profile!r} is not allowed; pass a Profile named one of {tuple(DESIGNS)}")
    design = DESIGNS[profile.name]
    first_seed = check_seed(first_seed)
    seeds = tuple(check_seed(first_seed + i) for i in range(design.num_seeds))
    steps = max(4, profile.train_steps // design.steps_divisor)
    values = {method: list(spread_values(method, profile.num_sweep_values)) for method in design.methods
              if method in STUDY_SWEEPS}
    out = Path(out)
    common = dict(metrics=design.metrics, num_train=design.num_train, num_test=design.num_test, device=str(device))
    sweep = Sweep(methods=design.methods, values=values, seeds=seeds, steps=steps, out=str(out), **common)
    scale_value = values[SCALE_METHOD][len(values[SCALE_METHOD]) // 2]
    points = [(steps // 4, 1), (steps // 2, 1)] + [(steps // 2, width) for width in design.widths if width != 1]
    scale_sweeps = tuple(Sweep(methods=(SCALE_METHOD,), values=[scale_value], seeds=seeds[:design.scale_seeds],
                               steps=s, width=w,
                               out=str(out / f"scale-steps{s}-x{w}"), **common) for s, w in points)
    sweep, *scale_sweeps = (dataclasses.replace(s, pack=default_pack(len(s.configs()), device))
                            for s in (sweep, *scale_sweeps))  # packed on a GPU
    return StudyPlan(sweep, tuple(scale_sweeps), scale_value, design.udr_points)


def run_study(plan: StudyPlan, scheduler: str | None = None, workers: int | None = None, processes: bool = True,
              progress: bool = True, deadline: float | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(main results, scale results): every sweep of `plan` through `run_sweep` on one Dask cluster.

    `scheduler`: a running scheduler's address; None starts one LocalCluster of `workers` single-threaded
    workers (default: one per core, or per GPU) for all sweeps, so workers start (and import torch) once.
    The sweeps are submitted together (one thread each), so no worker idles while another sweep finishes;
    only the main sweep shows a progress bar. `deadline` (a `time.time()`), SIGINT or SIGTERM stop every job with
    a checkpoint ("stopped" rows, as in `run_sweep`); the same call resumes them.
    """
    from concurrent.futures import ThreadPoolExecutor

    from distributed import Client

    from course_lib.kit.sweep import default_workers, run_sweep, training_cluster, workers_stop_on_signals
    from course_lib.training.stopping import StopRequests

    sweeps = (plan.sweep, *plan.scale_sweeps)
    for sweep in sweeps:
        sweep.configs()  # every sweep is valid before anything starts
    cluster = contextlib.nullcontext(scheduler)
    if scheduler is None:
        workers = workers or default_workers(plan.sweep.device)
        cluster = training_cluster(workers, processes, dashboard_address=":0")  # any free port: no clash with another
    with StopRequests() as stop, cluster as where, ThreadPoolExecutor(max_workers=len(sweeps)) as pool:
        address = where if isinstance(where, str) else where.scheduler_address
        with Client(address) as client, workers_stop_on_signals(stop, client):  # the sweeps' threads get none
            tables = list(pool.map(lambda item: run_sweep(item[1], scheduler=address, deadline=deadline,
                                                          progress=progress and item[0] == 0), enumerate(sweeps)))
    return tables[0], scale_results(tables[0], tables[1:], plan.scale_value)


def encode_runs(results: pd.DataFrame, num_points: int = 1_000, random_state=0, device="auto", dataset=None) -> dict:
    """{run_dir: (means, log_vars)} of every finished run of `results`, loaded (weights only) and encoded on the same
    `num_points` draws of `dataset` (default: binary dSprites): what UDR compares."""
    from course_lib.data import DSprites
    from course_lib.representation import encode
    from course_lib.training import load_run

    num_points = check_int("num_points", num_points, 2)
    dataset = dataset if dataset is not None else DSprites("binary", progress=False)
    _, observations = dataset.sample(num_points, as_random_state(random_state))
    return {run_dir: encode(load_run(run_dir, device).model, observations) for run_dir in ok_models(results)["run_dir"]}


def add_udr(results: pd.DataFrame, num_points: int = 1_000, random_state=0, device="auto", dataset=None,
            group=GROUP, **udr_kwargs) -> pd.DataFrame:
    """`results` with a `udr` column: `encode_runs`, then `udr_by_group` (`udr_kwargs`: e.g. correlation)."""
    posteriors = encode_runs(results, num_points, random_state, device, dataset)
    udr_kwargs.setdefault("random_state", random_state)
    return results.assign(udr=udr_by_group(results, posteriors, group, **udr_kwargs))


def add_udr_flavours(results: pd.DataFrame, num_points: int = 1_000, random_state=0, device="auto") -> pd.DataFrame:
    """`results` with both of disentanglement_lib's UDR flavours on the same draws: `udr` (Lasso similarities, the
    study's) and `udr_spearman` (Spearman correlations, notebook 13's Exercise 3)."""
    posteriors = encode_runs(results, num_points, random_state, device)
    return results.assign(udr=udr_by_group(results, posteriors, random_state=random_state),
                          udr_spearman=udr_by_group(results, posteriors, correlation="spearman",
                                                    random_state=random_state))


# ------------------------------------------------------------------------------------- a shipped study
SHIPPED_STUDY_DIR = CHECKOUT / "data" / "pretrained" / "study"
MACHINE_COLUMNS = ("run_dir", "error", "note")  # where and how a job ran on the machine that trained it


def plan_identity(plan: StudyPlan) -> dict:
    """What makes two plans the same study: every sweep's fields but where and how it trains (output folder,
    device, packing: packed runs are the separate runs to float rounding), and UDR's draws."""
    def fields(sweep):  # float32, the default precision, is left out as before the field existed
        return {k: v for k, v in dataclasses.asdict(sweep).items()
                if k not in ("out", "device", "pack") and not (k == "precision" and v == "float32")}

    identity = {"sweep": fields(plan.sweep), "scale_sweeps": [fields(s) for s in plan.scale_sweeps],
                "scale_value": plan.scale_value, "udr_points": plan.udr_points}
    return json.loads(json.dumps(identity, default=list))  # tuples as lists, as the manifest stores them


def _study_files(directory: Path, profile_name: str) -> tuple[Path, Path, Path]:
    stem = Path(directory) / f"study-{profile_name}"
    return stem.with_suffix(".csv"), Path(f"{stem}-scale.csv"), stem.with_suffix(".json")


def export_study(plan: StudyPlan, profile, results: pd.DataFrame, scale: pd.DataFrame, seed: int = 0,
                 directory=SHIPPED_STUDY_DIR) -> Path:
    """Write `results` (the main sweep with its `udr` column) and `scale` for `profile` beside the zoo, each
    atomically, then the manifest (written last: a study is shipped only once its tables are whole)."""
    if "udr" not in results:
        raise ValueError("results has no udr column; "
                         "pass add_udr(main, ...) so that the shipped study needs no run folder")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    main_csv, scale_csv, manifest = _study_files(directory, profile.name)
    for table, path in ((results, main_csv), (scale, scale_csv)):
        with atomic_open(path, "w") as handle:
            table.drop(columns=[c for c in MACHINE_COLUMNS if c in table]).to_csv(handle, index=False)
    write_json_atomic(manifest, {"profile": profile.name, "seed": seed, "plan": plan_identity(plan),
                                 "commit": checkout_commit(),
                                 "command": f"python -m course_lib study --profile {profile.name} "
                                            f"--seed {seed} --export",
                                 "files": {path.name: sha256_of_file(path) for path in (main_csv, scale_csv)}})
    return manifest


def shipped_study(plan: StudyPlan, profile, directory=SHIPPED_STUDY_DIR) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    """(results with UDR, scale results) shipped for `profile` and exactly this plan; None when none is shipped
    (or it was made by another plan, e.g. another seed: then the study must be trained). A table whose SHA-256
    differs from the manifest's raises ValueError: the shipped study is damaged."""
    main_csv, scale_csv, manifest = _study_files(Path(directory), profile.name)
    if not manifest.is_file():
        return None
    entry = json.loads(manifest.read_text())
    if entry.get("plan") != plan_identity(plan):
        return None
    for path in (main_csv, scale_csv):
        if not path.is_file() or sha256_of_file(path) != entry["files"].get(path.name):
            raise ValueError(f"{path} does not match {manifest.name}'s SHA-256: "
                             f"the shipped study is damaged; restore it "
                             f"(git checkout -- {Path(directory)}) or train the study (train_sweep=True)")
    return pd.read_csv(main_csv), pd.read_csv(scale_csv)


def study_results(plan: StudyPlan, profile, seed: int = 0, device="auto", scheduler: str | None = None,
                  train: bool | None = None, directory=SHIPPED_STUDY_DIR, workers: int | None = None,
                  deadline: float | None = None) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """(results with UDR, scale results, a line saying where they came from) for notebook 13: the study shipped
    for exactly this plan unless `train` is True (None: train only when none is shipped), else `run_study` on
    one Dask cluster and `add_udr_flavours` (finished jobs under the plan's folder are loaded, not retrained).
    `deadline` as in `run_study`: a study it stopped gets no UDR (its rows say "stopped")."""
    shipped = None if train else shipped_study(plan, profile, directory)
    if shipped is not None:
        results, scale = shipped
        return results, scale, (f"the shipped {profile.name} study: {len(results)} + {len(scale)} models, trained by "
                                 f"`python -m course_lib study --profile {profile.name} --seed {seed} --export` "
                                 f"({Path(directory).name}/); train_sweep=True trains it here")
    main, scale = run_study(plan, scheduler=scheduler, workers=workers, processes=True, deadline=deadline)
    jobs = pd.concat([main, scale]).drop_duplicates("run_dir")
    stopped = int((jobs["status"] == STOPPED).sum())
    if stopped:
        return main, scale, (f"{stopped} of {len(jobs)} jobs stopped before they finished (their notes say where); "
                             "the same command resumes them")
    results = add_udr_flavours(main, num_points=plan.udr_points, random_state=seed, device=device)
    failed = jobs[jobs["status"] != "ok"]
    note = (f"{len(jobs)} models trained here, {len(jobs) - len(failed)} ok (finished jobs are loaded, not retrained); "
            f"the jobs' own time: {jobs['seconds'].sum() / 60:.1f} worker-minutes")
    return results, scale, note + "".join(f"\nfailed: {row.run_dir}: {row.error}" for row in failed.itertuples())
