"""The zoo's compared models over seeds, shipped as results: Locatello et al. (2019) found that the random seed
moves a model's disentanglement scores as much as the objective and its hyperparameter do.

`python -m course_lib zoo --seed-results N` (`seed_results`) takes the configurations of notebooks 02-06 that
notebook 08 and the study compare (`SEED_METHODS`: the plain VAE, beta-VAE, FactorVAE, beta-TCVAE and DIP-VAE-I
at the notebooks' values, `lecture_models.zoo_configs`) at the zoo's age, for seeds 0 .. N-1; beta-TCVAE at
beta = 1 is left out, because its objective is the plain VAE's (-ELBO + 0 TC, with no randomness of its own), so
its seeds are the VAE's (`tests/test_seeds.py` trains both and finds one model). `BEYOND_THE_ZOO` adds
beta-TCVAE at beta = 10 (the end of Locatello et al.'s range, as in the lecture study), so that three objectives
have three values each: beta-VAE 1, 4, 16 and beta-TCVAE 1, 6, 10 (the VAE is beta = 1 of both), DIP-VAE-I 1, 5,
50. Seed 0 of a zoo configuration is the zoo's own model where the zoo holds that age (installed, not trained);
the others train and every one is scored as a sweep job scores (`sweep.run_sweep` with these jobs: on Dask,
packed on a GPU; the metrics of the lecture study at its sizes and the unsupervised scores), and UDR compares the
seeds of each configuration (both flavours, the lecture study's draws). The table has the columns of the study's
results, so notebook 13's key results read it (`study_or_seed_results`). It is shipped beside the zoo, without
weights (the zoo stays under 30 MB): `data/pretrained/seeds/seeds-STEPS.csv` and a manifest with the settings,
the configurations of seed 0, the commit and the table's SHA-256 (`shipped_seed_results` checks it); `seed_rows`
reads one configuration's seeds from the table nearest to its age (`nearest_seed_age`; the report sets its model
among them), and `every_shipped_seed_result` all ages together (a table at an older age continues the younger
one's runs, so notebook 13 follows each seed as it trains on).
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pandas as pd

from course_lib.checks import check_choice, check_int
from course_lib.io import CHECKOUT, atomic_open, checkout_commit, sha256_of_file, write_json_atomic
from course_lib.kit.lecture_models import lecture_steps, zoo_configs
from course_lib.kit.study import (CHEAP_METRICS, DESIGNS, MACHINE_COLUMNS, SHIPPED_STUDY_DIR, StudyPlan,
                                  add_udr_flavours, shipped_study, study_results)
from course_lib.kit.sweep import STOPPED, Sweep, default_pack, run_sweep
from course_lib.kit.zoo import age_statement
from course_lib.training import TrainConfig, deadline_after, default_runs_dir

SEED_METHODS = ("vae", "beta_vae", "factor_vae", "beta_tcvae", "dip_vae_i")
SAME_AS_THE_VAE = ("beta_tcvae", {"beta": 1})  # notebook 05's reference: -ELBO + (beta - 1) TC is the VAE's loss
BEYOND_THE_ZOO = (("beta_tcvae", {"beta": 10}),)  # trained like the zoo's model of that method, at another value
SEEDS_DIR = CHECKOUT / "data" / "pretrained" / "seeds"
SEED_COMMAND = "python -m course_lib zoo --seed-results"
SEED_AGE_REASON = "why this age, and what it shows: README.md, 'Seeds as results'"


def seed_configs(steps: int, num_seeds: int) -> list[TrainConfig]:
    """The zoo's conv configurations of `SEED_METHODS` at `steps` but `SAME_AS_THE_VAE`, then `BEYOND_THE_ZOO`
    (each the zoo's configuration of its method with the other hyperparameters), for seeds 0 .. num_seeds-1
    (seed by seed)."""
    num_seeds = check_int("num_seeds", num_seeds, 1)
    configs = []
    for seed in range(num_seeds):
        compared = [config for config in zoo_configs(steps, seed)
                    if config.method in SEED_METHODS and config.architecture == "conv"
                    and (config.method, config.hyperparameters) != SAME_AS_THE_VAE]
        like = {config.method: config for config in compared}
        configs += compared + [dataclasses.replace(like[method], hyperparameters=dict(hyperparameters))
                               for method, hyperparameters in BEYOND_THE_ZOO]
    return configs


def _files(directory: Path, steps: int) -> tuple[Path, Path]:
    stem = Path(directory) / f"seeds-{steps}"
    return stem.with_suffix(".csv"), stem.with_suffix(".json")


def seed_results(num_seeds: int = 5, steps: int | None = None, runs=None, device="auto", workers: int | None = None,
                 metrics=CHEAP_METRICS, num_train: int = DESIGNS["lecture"].num_train,
                 num_test: int = DESIGNS["lecture"].num_test, directory=SEEDS_DIR, progress: bool = True,
                 time_limit_minutes: float | None = None) -> pd.DataFrame:
    """Train (or install, resume, or continue from fewer steps) and score `seed_configs(steps, num_seeds)` under
    `runs`/seeds, ship the table to `directory`; returns it. `steps`: default the zoo's age (`lecture_steps`).
    `time_limit_minutes`: when it is up every run stops with a checkpoint and nothing is shipped (the table's rows
    say "stopped"); the same call later resumes them."""
    steps = lecture_steps("lecture") if steps is None else check_int("steps", steps, 1)
    deadline = deadline_after(time_limit_minutes)
    configs = seed_configs(steps, num_seeds)
    sweep = Sweep(methods=SEED_METHODS, seeds=tuple(range(num_seeds)), steps=steps, metrics=tuple(metrics),
                  num_train=num_train, num_test=num_test, device=str(device), pack=default_pack(len(configs), device),
                  out=str(Path(runs or default_runs_dir()) / "seeds"))
    table = run_sweep(sweep, workers=workers, progress=progress, jobs=configs, deadline=deadline)
    if (table["status"] == STOPPED).any():
        return table
    if (table["status"] == "ok").all():
        table = add_udr_flavours(table, num_points=DESIGNS["lecture"].udr_points, device=device)
    export_seed_results(table, sweep, directory)
    return table


def export_seed_results(table: pd.DataFrame, sweep: Sweep, directory=SEEDS_DIR) -> Path:
    """Write the table (without the machine's columns) and then its manifest, each atomically."""
    if "status" not in table or not (table["status"] == "ok").all():
        failed = [] if "status" not in table else table.loc[table["status"] != "ok", "run_dir"].tolist()
        raise ValueError(f"table has jobs that did not finish ({failed}); rerun seed_results, which resumes them")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    csv, manifest = _files(directory, sweep.steps)
    with atomic_open(csv, "w") as handle:
        table.drop(columns=[c for c in MACHINE_COLUMNS if c in table]).to_csv(handle, index=False)
    settings = {k: v for k, v in dataclasses.asdict(sweep).items() if k not in ("out", "device", "pack", "values")}
    write_json_atomic(manifest, {"age": age_statement([{"steps": sweep.steps}], why=SEED_AGE_REASON),
                                 "settings": json.loads(json.dumps(settings, default=list)),
                                 "configurations": [config.slug() for config in seed_configs(sweep.steps, 1)],
                                 "commit": checkout_commit(),
                                 "command": f"{SEED_COMMAND} {len(sweep.seeds)} --steps {sweep.steps}",
                                 "files": {csv.name: sha256_of_file(csv)}})
    return manifest


def shipped_seed_results(steps: int | None = None, directory=SEEDS_DIR) -> pd.DataFrame | None:
    """The shipped table at `steps` (default: the zoo's age), or None when none is shipped; ValueError when the
    table's SHA-256 differs from its manifest's (a damaged file)."""
    steps = lecture_steps("lecture") if steps is None else check_int("steps", steps, 1)
    csv, manifest = _files(Path(directory), steps)
    if not manifest.is_file():
        return None
    expected = json.loads(manifest.read_text())["files"].get(csv.name)
    if not csv.is_file() or sha256_of_file(csv) != expected:
        raise ValueError(f"{csv} does not match {manifest.name}'s SHA-256: the shipped seed results are damaged; "
                         f"restore them (git checkout -- {Path(directory)}) or rerun `zoo --seed-results`")
    return pd.read_csv(csv)


def shipped_seed_ages(directory=SEEDS_DIR) -> list[int]:
    """The ages (training steps) at which a seed table is shipped in `directory`, youngest first."""
    names = (path.stem.removeprefix("seeds-") for path in Path(directory).glob("seeds-*.json"))
    return sorted(int(name) for name in names if name.isdigit())


def every_shipped_seed_result(directory=SEEDS_DIR) -> pd.DataFrame | None:
    """The shipped seed tables of every age, one below the other (their `steps` column tells the ages apart), or
    None when none is shipped: the same seeds at several ages, for how training longer moves the scores."""
    tables = [shipped_seed_results(age, directory) for age in shipped_seed_ages(directory)]
    return pd.concat(tables, ignore_index=True) if tables else None


def nearest_seed_age(steps: int, directory=SEEDS_DIR) -> int | None:
    """The age of the shipped seed table nearest to `steps` (itself where shipped; the older of two as near), or None
    when none is shipped: how far the seed moves the scores, told on models as close in age as are shipped."""
    steps = check_int("steps", steps, 1)
    ages = shipped_seed_ages(directory)
    return min(ages, key=lambda age: (abs(age - steps), -age)) if ages else None


def seed_rows(config: TrainConfig, directory=SEEDS_DIR) -> pd.DataFrame | None:
    """The rows of `config`'s configuration (every seed of it) in the shipped seed table nearest to its age (their
    `steps` column says which), or None when no table is shipped or it does not hold that configuration (e.g.
    another architecture or value)."""
    age = nearest_seed_age(config.steps, directory)
    if age is None:
        return None
    if dataclasses.replace(config, seed=0, steps=age).slug() not in {c.slug() for c in seed_configs(age, 1)}:
        return None  # not one of the compared configurations
    table = shipped_seed_results(age, directory)
    value = next(iter(config.hyperparameters.values()), None)
    rows = table[(table["method"] == config.method)
                 & (table["value"].isna() if value is None else table["value"] == value)]
    return rows.reset_index(drop=True) if len(rows) else None


STUDY_SOURCES = ("auto", "plan", "zoo_seeds")


def study_or_seed_results(plan: StudyPlan, profile, seed: int = 0, device="auto", scheduler: str | None = None,
                          train: bool | None = None, source: str = "auto", directory=SEEDS_DIR,
                          study_directory=SHIPPED_STUDY_DIR) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """(results, scale results, a line saying where they came from) for notebook 13.

    The scale results are always the plan's (`study.study_results`: shipped, or trained when `train`). The results
    of the key results are, by `source`: "plan", the plan's main sweep; "zoo_seeds", the shipped seed table of
    the oldest models (the zoo's compared models over seeds: older models and more seeds than a lecture plan
    trains; a study of its own, so it need not be at the zoo's present age, unlike notebook 08's and the
    report's comparisons with the zoo's models); "auto", the seed table where one is shipped and the plan's
    study is loaded rather than trained, else the plan's.
    """
    check_choice("source", source, STUDY_SOURCES)
    ages = shipped_seed_ages(directory)
    seeds = shipped_seed_results(max(ages), directory) if source != "plan" and ages else None
    if source == "zoo_seeds" and seeds is None:
        raise ValueError(f"source='zoo_seeds' needs a seed table, and none is shipped in {directory}; make it "
                         f"with `{SEED_COMMAND} 5`, or use source='plan'")
    use_seeds = seeds is not None and (source == "zoo_seeds"
                                       or (not train and shipped_study(plan, profile, study_directory) is not None))
    results, scale, note = study_results(plan, profile, seed, device, scheduler, train, study_directory)
    if not use_seeds:
        return results, scale, note
    num_seeds = seeds["seed"].nunique()
    return seeds, scale, (f"the shipped seed table of the zoo's compared models: {len(seeds)} models "
                          f"({seeds.groupby(['method', 'value'], dropna=False).ngroups} settings x {num_seeds} seeds, "
                          f"{seeds['steps'].iloc[0]:,} steps), made by `{SEED_COMMAND} {num_seeds} --steps "
                          f"{seeds['steps'].iloc[0]}` "
                          f"({Path(directory).name}/); the scale rows: {note}")
