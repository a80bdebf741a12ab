"""The models that the lecture notebooks train (or load from the zoo), configured exactly as those notebooks do.

Notebook 08 compares the metrics over the models of notebooks 02-06, and must not depend on those having
run first: it asks `kit.runs.train_or_load` for each configuration of `lecture_models`. At `lecture` every
one of them is in the pretrained zoo (`data/pretrained`, `tests/test_lecture_models.py` checks it), so they
are installed from it, not trained; at `smoke` they train in seconds; at `full` they are the zoo's too once it
is at least `FULL_MIN_ZOO_STEPS` old (`full` then computes at the papers' sizes on them, and trains only what the
zoo lacks, e.g. the rest of a six-value sweep, at the zoo's age), else they train for the study's 300,000 steps.

`lecture_config` is the one place that says how a lecture notebook trains a model at a profile (its steps,
seed and checkpoint interval: the zoo serves a model only for its exact configuration); every notebook
builds its configurations with it. Their steps are `lecture_steps`: the zoo's age at `lecture` (and `full`)
where the zoo serves the notebooks' seed (models grown by `zoo --grow`, far older than a lecture could train),
else the profile's `train_steps` (so `COURSE_PRETRAINED=0` trains at the profile's own sizes).
`zoo_configs(steps, seed)` lists every configuration the zoo must hold to serve the notebooks at that age.
Each notebook's own constants (its hyperparameter values) are repeated here, with the notebook named,
because the notebooks are the teaching text; `tests/test_lecture_models.py` holds the two in step through
the zoo, whose entries carry exactly the configurations the notebooks ask `train_or_load` for.
"""
from __future__ import annotations

import dataclasses
import os

import numpy as np

from course_lib.checks import check_int
from course_lib.kit.zoo import read_manifest
from course_lib.objectives import STUDY_SWEEPS
from course_lib.profiles import get_profile
from course_lib.seeding import check_seed
from course_lib.training import TrainConfig

ANNEALED_STUDY_GAMMA = 1000.0  # notebook 03: the study's (and the paper's) weight of the capacity penalty
ANNEALED_SHORT_GAMMA = 30.0  # notebook 03: runs shorter than 100,000 steps stall with gamma = 1000
TCVAE_BETA = 6  # notebook 05
TOPDIS = {"base": "beta_vae", "beta": 4, "gamma": 5}  # notebook 11: on top of notebook 02's beta = 4 ...
TOPDIS_STEPS = 2_000  # ... for the last half of the run, at most this many steps (each costs ~0.2 s of CPU)
FULL_MIN_ZOO_STEPS = 100_000  # `full` loads the zoo from this age on (issue 17's floor; the study: 300,000)
MAP_CHANGES = {"architecture": "mlp", "num_latent": 2}  # notebook 01's 2-D VAE (notebook 12 maps its latent plane)


@dataclasses.dataclass(frozen=True)
class LectureModel:
    """One trained model of a lecture notebook: the notebook that trains it and its configuration."""

    notebook: str
    config: TrainConfig

    @property
    def label(self) -> str:
        """A short name, e.g. 'beta_vae beta=4' (as `metric_comparison.run_label`)."""
        from course_lib.lab.metric_comparison import run_label

        return run_label(self.config)


def spread(values, count: int) -> list:
    """`count` values spread evenly over `values`, from the first to the last (duplicates dropped), as
    notebooks 02 and 06 pick `P.num_sweep_values` points of the study's sweeps."""
    picks = np.unique(np.round(np.linspace(0, len(values) - 1, count)).astype(int))
    return [values[i] for i in picks]


def lecture_steps(profile=None, seed: int = 0) -> int:
    """The steps of the lecture notebooks' models at `profile` and `seed`: the zoo's age, i.e. the oldest age at
    which the zoo holds every one of `zoo_configs` for `seed`, when the zoo is used (COURSE_PRETRAINED is not 0,
    the manifest reads) and the profile is `lecture`, or `full` with a zoo at least `FULL_MIN_ZOO_STEPS` old
    (training the study's 300,000 steps live is not what most `full` notebooks are about); else
    `profile.train_steps`."""
    P, seed = get_profile(profile), check_seed(seed)
    if P.name == "smoke" or os.environ.get("COURSE_PRETRAINED", "1") == "0":
        return P.train_steps
    try:
        manifest = read_manifest()
    except ValueError:
        return P.train_steps  # a damaged manifest: install() reports it, and the notebooks train
    ages = sorted({entry["steps"] for entry in manifest.values() if entry["seed"] == seed}, reverse=True)
    age = next((steps for steps in ages if all(config.slug() in manifest for config in zoo_configs(steps, seed))),
               None)
    if age is None or (P.name == "full" and age < FULL_MIN_ZOO_STEPS):
        return P.train_steps
    return age


def _config(method: str, hyperparameters: dict | None, steps: int, seed: int, **changes) -> TrainConfig:
    settings = dict(steps=steps, checkpoint_every=max(1, steps // 4), seed=seed) | changes
    return TrainConfig(method, dict(hyperparameters or {}), **settings)


def lecture_config(method: str, hyperparameters: dict | None = None, profile=None, seed: int = 0,
                   **changes) -> TrainConfig:
    """The configuration a lecture notebook trains `method` with at `profile`: `lecture_steps(profile, seed)`
    steps, `seed`, and a checkpoint every quarter of the run. The zoo serves a model only for its exact
    configuration (checkpoint interval included), so every notebook asks through here; `changes` (e.g.
    architecture, num_latent) override fields for a notebook's own models."""
    return _config(method, hyperparameters, lecture_steps(profile, seed), seed, **changes)


def lecture_models(profile=None, seed: int = 0) -> list[LectureModel]:
    """The trained models of notebooks 02-06 at `profile` (a name, a Profile, or None: $COURSE_PROFILE)
    and `seed`, in notebook order; each configuration once (notebook 02's beta = 1 is notebook 01's VAE)."""
    P = get_profile(profile)
    return _models(lecture_steps(P, seed), P.num_sweep_values, seed)


def _models(steps: int, num_values: int, seed: int) -> list[LectureModel]:
    def config(method, hyperparameters=None):
        return _config(method, hyperparameters, steps, seed)

    models = []
    for beta in spread(STUDY_SWEEPS["beta_vae"][1], num_values):  # 02: the beta sweep
        models.append(LectureModel("02_beta_vae", config("vae") if beta == 1 else config("beta_vae", {"beta": beta})))
    c_max = STUDY_SWEEPS["annealed_vae"][1][1]  # 03: 10 nats
    annealing = {"c_max": c_max, "annealing_steps": max(1, 3 * steps // 4)}
    short_gamma = ANNEALED_STUDY_GAMMA if steps >= 100_000 else ANNEALED_SHORT_GAMMA
    for gamma in dict.fromkeys((short_gamma, ANNEALED_STUDY_GAMMA)):  # the section's run, then Exercise 3's
        models.append(LectureModel("03_annealed_vae", config("annealed_vae", {**annealing, "gamma": gamma})))
    models.append(LectureModel("04_factor_vae", config("factor_vae", {"gamma": STUDY_SWEEPS["factor_vae"][1][3]})))
    for beta in (1, TCVAE_BETA):  # 05: the reference and the section's model
        models.append(LectureModel("05_beta_tcvae", config("beta_tcvae", {"beta": beta})))
    lambdas = spread(STUDY_SWEEPS["dip_vae_i"][1], num_values)  # 06
    for lam in lambdas:
        models.append(LectureModel("06_dip_vae", config("dip_vae_i", {"lambda_od": lam})))
    models.append(LectureModel("06_dip_vae", config("dip_vae_ii", {"lambda_od": lambdas[-1]})))
    return models


def topdis_delay(steps: int) -> int:
    """The step after which notebook 11's TopDis run adds its term: the last min(steps / 2, TOPDIS_STEPS) steps
    (persistent homology on the CPU costs ~0.2 s a step, so a 100,000-step run cannot afford 50,000 of them)."""
    steps = check_int("steps", steps, 1)
    return steps - min(steps // 2, TOPDIS_STEPS)


def zoo_configs(steps: int, seed: int = 0) -> list[TrainConfig]:
    """Every configuration the zoo holds to serve the lecture notebooks with `steps`-step models of `seed`:
    notebooks 02-06 (`lecture_models`), notebook 01's 2-D VAE and notebook 11's TopDis run."""
    steps, seed = check_int("steps", steps, 1), check_seed(seed)
    configs = [m.config for m in _models(steps, get_profile("lecture").num_sweep_values, seed)]
    return configs + [_config("vae", None, steps, seed, **MAP_CHANGES),
                      _config("topdis", {**TOPDIS, "delay": topdis_delay(steps)}, steps, seed)]


def select(models: list[LectureModel], limit: int | None) -> list[LectureModel]:
    """At most `limit` of `models`, spread evenly over the list (so over the notebooks); None: all."""
    limit = check_int("limit", limit, 1, none_ok=True)
    if limit is None or len(models) <= limit:
        return list(models)
    return [models[i] for i in np.unique(np.round(np.linspace(0, len(models) - 1, limit)).astype(int))]
