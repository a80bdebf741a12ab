"""The parameterised model report (`notebooks/report.py`) and the pieces it is made of.

A report is about one trained model, named by a run directory, a checkpoint inside one, or a
configuration (method, hyperparameters, seed, steps) that is trained or loaded from the runs cache.
`write_report` executes the report notebook with papermill and exports it as `reports/<name>.html`;
`write_sweep_reports` writes one report per finished run of a sweep plus a comparison page.
`geometry_summary` condenses notebook 12's latent geometry into the report's figures; the
topological scores come from `course_lib.topology.topological_scores` at `profile_settings` sizes.
"""
from __future__ import annotations

import dataclasses
import html
import json
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from course_lib.analysis.geometry import (geodesic, jacobian, magnification_factor, mean_decoder, metric_from_jacobian,
                                          rank_statistics)
from course_lib.checks import check_writable_directory
from course_lib.device import get_device
from course_lib.io import write_text_atomic
from course_lib.kit.lecture_models import lecture_config
from course_lib.kit.runner import NOTEBOOKS_DIR, check_out_dir, execute_notebook
from course_lib.kit.runs import train_or_load
from course_lib.kit.zoo import read_manifest
from course_lib.profiles import get_profile
from course_lib.seeding import as_random_state
from course_lib.training import CHECKPOINT, CONFIG, SUMMARY, TrainConfig, load_run, read_run_config

REPORT_NOTEBOOK = NOTEBOOKS_DIR / "report.py"

# Indicative spread (roughly the middle half) of each score over the study's dSprites models, read off
# Locatello et al. 2019's per-method score distributions (their Figure 13). Read them as orientation,
# not as exact figures: they come from 300,000-step models with the study's sample sizes.
LITERATURE_RANGES = {
    ("beta_vae", "eval_accuracy"): (0.70, 0.90), ("factor_vae", "eval_accuracy"): (0.55, 0.80),
    ("mig", "score"): (0.05, 0.30), ("sap", "score"): (0.01, 0.07),
    ("dci", "disentanglement"): (0.10, 0.50), ("modularity", "modularity"): (0.80, 0.95),
}


def run_directory(run) -> Path:
    """The run directory that `run` names (the directory, or a checkpoint inside it), its config.json
    checked: a ValueError naming the folder or the file when either is not a run's."""
    path = Path(run)
    directory = path.parent if path.is_file() else path
    if not (directory / CONFIG).is_file() or not (directory / CHECKPOINT).is_file():
        raise ValueError(f"run={str(run)!r} is neither a run directory nor a checkpoint inside one "
                         f"(needs {CONFIG} and {CHECKPOINT})")
    read_run_config(directory)
    return directory


def report_config(method: str = "beta_vae", hyperparameters: dict | None = None, seed: int = 0,
                  steps: int | None = None, profile=None) -> TrainConfig:
    """The configuration a report is about. `hyperparameters` None: beta = 4 for the beta-VAE (notebook 02's,
    which the zoo holds), else the method's defaults. `steps` None: the lecture notebooks' model of that
    configuration when the pretrained zoo holds it at `profile` (as old as the zoo's models), else the
    profile's `train_steps`."""
    if hyperparameters is None:
        hyperparameters = {"beta": 4} if method == "beta_vae" else {}
    if steps is None:
        zoo_model = lecture_config(method, hyperparameters, profile, seed)
        try:
            if zoo_model.slug() in read_manifest():
                return zoo_model
        except ValueError:
            pass  # a damaged zoo manifest: the report trains its model (train_or_load reports the damage)
        steps = get_profile(profile).train_steps
    return TrainConfig(method=method, hyperparameters=dict(hyperparameters), steps=steps, seed=seed).validate()


def resolve_run(run=None, method: str = "beta_vae", hyperparameters: dict | None = None, seed: int = 0,
                steps: int | None = None, device="auto", runs_dir=None, profile=None):
    """The model to report on: `run` (a run directory or a checkpoint file in one), else the run of
    `report_config(method, hyperparameters, seed, steps, profile)`, installed from the zoo or trained when the
    runs cache does not hold it yet."""
    if run is not None:
        return load_run(run_directory(run), device=device)
    return train_or_load(report_config(method, hyperparameters, seed, steps, profile), root=runs_dir, device=device)


def metrics_with_ranges(table: pd.DataFrame) -> pd.DataFrame:
    """`evaluate`'s table with the literature's indicative range beside each disentanglement score."""
    ranges = [LITERATURE_RANGES.get((m, s)) for m, s in zip(table["metric"], table["score"])]
    low = [r[0] if r else float("nan") for r in ranges]
    high = [r[1] if r else float("nan") for r in ranges]
    verdict = ["—" if r is None else "below" if v < r[0] else "above" if v > r[1] else "within"
               for v, r in zip(table["value"], ranges)]
    return table.assign(literature_low=low, literature_high=high, versus_literature=verdict)


@dataclasses.dataclass
class GeometrySummary:
    """The report's latent-geometry section (Shukla et al. 2019's questions, in brief).

    table            one row of figures: directions the decoder uses, image speed, magnification,
                     how much longer straight latent lines are than geodesics
    singular_values  (N, d) singular values of J at N encoded images
    geodesics        the `GeodesicResult` of the pairs; `pairs` (P, 2) their image indices
    """

    table: pd.Series
    singular_values: np.ndarray
    geodesics: object
    pairs: np.ndarray


def geometry_summary(model, means, num_jacobians: int = 64, num_pairs: int = 4, n_points: int = 16,
                     max_steps: int = 200, random_state=0) -> GeometrySummary:
    """The pullback metric G = JᵀJ of the model's Bernoulli-mean decoder at `num_jacobians` of the mean
    codes `means` (N, d), and 16-point geodesics between `num_pairs` random pairs of them
    (`course_lib.analysis.geometry`; notebook 12 explains every figure)."""
    means = np.asarray(means)
    if means.ndim != 2 or len(means) < 2:
        raise ValueError(f"means has shape {means.shape}; expected (N, d) codes of at least 2 images")
    decoder = mean_decoder(model)
    J = jacobian(decoder, means[:num_jacobians])
    stats = rank_statistics(J, rtol=0.01)
    pairs = as_random_state(random_state).choice(len(means), size=(num_pairs, 2), replace=False)
    result = geodesic(decoder, means[pairs[:, 0]], means[pairs[:, 1]], n_points, max_steps=max_steps)
    table = pd.Series({
        "directions with s > 1 % of s₁ (mean over codes)": stats["mean_rank"],
        "largest image speed s₁ (pixels per latent unit, median)": float(np.median(stats["singular_values"][:, 0])),
        "magnification ½ log det G (median)": float(np.median(magnification_factor(metric_from_jacobian(J)))),
        "straight line / geodesic length (median over pairs)": float(np.median(result.ratio)),
        "geodesics converged": bool(result.converged)}, name="value")
    return GeometrySummary(table, stats["singular_values"], result, pairs)


def run_metadata(run) -> dict:
    """The run's configuration, versions, device, seed and training time, from its JSON files."""
    config = json.loads((run.directory / CONFIG).read_text())
    summary_path = run.directory / SUMMARY
    summary = json.loads(summary_path.read_text()) if summary_path.is_file() else {}
    return {"run directory": str(run.directory), "method": run.config.method,
            "hyperparameters": run.config.hyperparameters, "steps": run.step, "seed": run.config.seed,
            "trained on": summary.get("device", config.get("device")),
            "training seconds (last session)": summary.get("seconds_this_session"),
            "steps per second": summary.get("steps_per_second"), "versions": config.get("versions")}


def write_report(out_dir="reports", name: str | None = None, profile=None, device="auto", **parameters) -> Path:
    """Execute the report notebook with `parameters` (run=..., or method=..., hyperparameters=..., ...)
    and write `out_dir/<name>.html` (and the executed `.ipynb`); return the HTML path.

    Bad parameters raise ValueError before the notebook starts; RuntimeError when the notebook fails
    (its partial HTML is still written)."""
    out_dir = check_writable_directory("out_dir", out_dir)
    get_device(device)
    if parameters.get("run") is not None:
        directory = run_directory(parameters["run"])
    else:  # the configuration the notebook would train: checked here, with the notebook's defaults
        directory = None
        config = report_config(parameters.get("method", "beta_vae"), parameters.get("hyperparameters"),
                               parameters.get("seed", 0), parameters.get("steps"), profile)
    if name is None:
        name = directory.name if directory is not None else f"report-{config.slug()}"
    check_out_dir(out_dir, [name])
    out_dir.mkdir(parents=True, exist_ok=True)
    values = {"profile": profile, "device": device, **{k: (str(v) if isinstance(v, Path) else v)
                                                       for k, v in parameters.items()}}
    with tempfile.TemporaryDirectory(dir=out_dir, prefix=".report-") as scratch:
        result = execute_notebook(REPORT_NOTEBOOK, Path(scratch), values, timeout_s=24 * 3600)
        for suffix in (".html", ".ipynb"):
            produced = Path(scratch) / f"{REPORT_NOTEBOOK.stem}{suffix}"
            if produced.is_file():
                produced.replace(out_dir / f"{name}{suffix}")
    if result.status != "ok":
        raise RuntimeError(f"the report on {name} failed: {result.error} (see {out_dir / name}.html)")
    return out_dir / f"{name}.html"


def comparison_page(results: pd.DataFrame, report_links: dict, title: str) -> str:
    """A standalone HTML page: the sweep's results table, each row linked to its model's report."""
    table = results.copy()
    table.insert(0, "report", [f'<a href="{html.escape(report_links[r])}">report</a>' if r in report_links else ""
                               for r in table["run_dir"]])
    body = table.drop(columns=["run_dir"]).to_html(index=False, escape=False, float_format=lambda v: f"{v:.3f}",
                                                  na_rep="")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            "<style>body{font-family:sans-serif;margin:2em} table{border-collapse:collapse} "
            "td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}</style></head>"
            f"<body><h1>{html.escape(title)}</h1>{body}</body></html>")


def write_sweep_reports(sweep_dir, out_dir="reports", profile=None, device="auto") -> Path:
    """One report per finished run of a sweep (its results.csv) and `out_dir/<sweep>-comparison.html`."""
    from course_lib.kit.sweep import RESULTS_TABLE

    sweep_dir, out_dir = Path(sweep_dir), Path(out_dir)
    if not (sweep_dir / RESULTS_TABLE).is_file():
        raise ValueError(f"sweep_dir={str(sweep_dir)!r} has no {RESULTS_TABLE}; run the sweep first")
    results = pd.read_csv(sweep_dir / RESULTS_TABLE)
    finished = results.loc[results["status"] == "ok", "run_dir"]
    for run_dir in finished:  # every run checked before the first report starts
        run_directory(run_dir)
    links = {}
    for run_dir in finished:
        links[run_dir] = write_report(out_dir, run=run_dir, profile=profile, device=device).name
    page = out_dir / f"{sweep_dir.name}-comparison.html"
    write_text_atomic(page, comparison_page(results, links, f"Sweep {sweep_dir.name}"))
    return page
