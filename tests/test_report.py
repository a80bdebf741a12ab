"""The model report: literature ranges, run resolution, bad runs refused, the CLI end to end, the sweep
comparison page."""
import json
import re
import types

import nbformat
import numpy as np
import pandas as pd
import pytest
import torch

import course_lib.kit.report as report_module
from course_lib.kit.cli import main
from course_lib.kit.lecture_models import lecture_config, lecture_steps
from course_lib.kit.report import (comparison_page, geometry_summary, metrics_with_ranges, report_config, resolve_run,
                                   run_metadata, write_sweep_reports)
from course_lib.kit.sweep import RESULTS_TABLE
from course_lib.kit.zoo import read_manifest
from course_lib.profiles import get_profile
from course_lib.training import CHECKPOINT, CONFIG, TrainConfig, read_run_config


def test_metrics_are_placed_against_the_literature_ranges():
    table = pd.DataFrame({"metric": ["mig", "mig", "sap", "dci"], "score": ["score"] * 3 + ["completeness"],
                          "value": [0.01, 0.2, 0.5, 0.9], "seconds": [1.0] * 4})
    ranged = metrics_with_ranges(table.iloc[[0]])
    assert ranged["versus_literature"].item() == "below" and ranged["literature_low"].item() == 0.05
    verdicts = metrics_with_ranges(table)["versus_literature"].tolist()
    assert verdicts == ["below", "within", "above", "—"]  # DCI completeness has no range in the table


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "tiny"
    assert main(["train", "--method", "beta_vae", "--beta", "2", "--steps", "3", "--out", str(out),
                 "--device", "cpu"]) == 0
    return out


def test_resolve_run_from_a_directory_or_its_checkpoint(tiny_run, tmp_path):
    from_dir, from_checkpoint = resolve_run(tiny_run, device="cpu"), resolve_run(tiny_run / CHECKPOINT, device="cpu")
    assert from_dir.config == from_checkpoint.config and from_dir.config.hyperparameters == {"beta": 2.0}
    metadata = run_metadata(from_dir)
    assert metadata["steps"] == 3 and metadata["seed"] == 0 and metadata["versions"]["torch"]
    with pytest.raises(ValueError, match="neither a run directory nor a checkpoint"):
        resolve_run(tmp_path)


def test_report_config_is_the_zoos_model_unless_steps_or_an_unzooed_configuration_are_asked_for(monkeypatch):
    monkeypatch.delenv("COURSE_PRETRAINED", raising=False)
    zoo_beta_vae = lecture_config("beta_vae", {"beta": 4}, "lecture")
    assert zoo_beta_vae.slug() in read_manifest() and zoo_beta_vae.steps == lecture_steps("lecture")
    assert report_config(profile="lecture") == zoo_beta_vae  # the default: notebook 02's beta-VAE, loaded
    assert report_config("factor_vae", {"gamma": 40}, profile="lecture").slug() in read_manifest()
    lecture = get_profile("lecture")
    assert report_config("factor_vae", {"gamma": 20}, profile="lecture") == TrainConfig(
        "factor_vae", {"gamma": 20}, steps=lecture.train_steps)  # not in the zoo: trained at the profile's size
    assert report_config("factor_vae", profile="lecture").hyperparameters == {}  # its defaults
    assert report_config("beta_vae", {"beta": 4}, steps=300, profile="lecture") == TrainConfig(
        "beta_vae", {"beta": 4}, steps=300)
    assert report_config(profile="smoke").steps == get_profile("smoke").train_steps
    with pytest.raises(ValueError, match="beta"):
        report_config("beta_vae", {"beta": -1}, profile="lecture")


def test_read_run_config_gives_the_trained_configuration(tiny_run):
    config = read_run_config(tiny_run)
    assert config == TrainConfig(method="beta_vae", hyperparameters={"beta": 2.0}, steps=3)


@pytest.fixture
def no_notebook(monkeypatch):
    def execute_notebook(*args, **kwargs):
        raise AssertionError("the report notebook started although its input was refused")

    monkeypatch.setattr(report_module, "execute_notebook", execute_notebook)


@pytest.mark.parametrize("config_json, message", [
    (None, "is neither a run directory nor a checkpoint inside one"),
    ("{not json", "config.json is not readable JSON"),
    ("[1, 2]", 'config.json holds no "config" mapping'),
    ('{"config": [1]}', 'config.json holds no "config" mapping'),
    ('{"config": {"method": "beta_vae", "colour": 1}}', "config.json: unknown keys \\['colour'\\]"),
    ('{"config": {"steps": -1}}', "config.json: steps=-1 is not allowed"),
    ('{"config": {"hyperparameters": [4]}}', "config.json: hyperparameters=\\[4\\] is not allowed"),
    ('{"config": {"method": ["beta_vae"]}}', "config.json: method=\\['beta_vae'\\] is not allowed"),
    ('{"config": {"method": "gan"}}', "config.json: method='gan' is not allowed"),
])
def test_report_refuses_a_folder_that_is_not_a_good_run_before_starting(tmp_path, capsys, no_notebook,
                                                                         config_json, message):
    run, out = tmp_path / "run", tmp_path / "reports"
    run.mkdir()
    if config_json is not None:
        (run / CONFIG).write_text(config_json)
        (run / CHECKPOINT).write_bytes(b"")
    assert main(["report", "--run", str(run), "--out", str(out), "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err
    assert re.search(message, err), err
    assert not out.exists()


def test_report_refuses_a_bad_configuration_before_starting(tmp_path, capsys, no_notebook):
    assert main(["report", "--method", "gan", "--out", str(tmp_path / "reports")]) == 2
    assert "method='gan' is not allowed" in capsys.readouterr().err


def test_sweep_reports_check_every_run_before_the_first_report(tiny_run, tmp_path, no_notebook):
    sweep = tmp_path / "sweep"
    sweep.mkdir()
    pd.DataFrame({"status": ["ok", "ok"], "run_dir": [str(tiny_run), str(tmp_path / "gone")]}).to_csv(
        sweep / RESULTS_TABLE, index=False)
    with pytest.raises(ValueError, match="gone'? is neither a run directory"):
        write_sweep_reports(sweep, out_dir=tmp_path / "reports", device="cpu")


def test_a_report_on_a_checkpoint_is_named_after_its_run(tiny_run, tmp_path, monkeypatch):
    def execute_notebook(source, scratch, parameters, timeout_s):  # writes what papermill would, at once
        (scratch / "report.html").write_text(json.dumps(parameters))
        return types.SimpleNamespace(status="ok", error=None)

    monkeypatch.setattr(report_module, "execute_notebook", execute_notebook)
    page = report_module.write_report(tmp_path, run=tiny_run / CHECKPOINT, device="cpu")
    assert page == tmp_path / "tiny.html" and json.loads(page.read_text())["run"] == str(tiny_run / CHECKPOINT)


def test_a_report_never_writes_over_a_notebook_that_no_run_executed(tiny_run, tmp_path, capsys, no_notebook):
    """`report --name 01_vae --out notebooks` would have written the executed report over the course's notebook."""
    mine = tmp_path / "01_vae.ipynb"
    mine.write_text(nbformat.writes(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(42)")])))
    saved = mine.read_bytes()
    assert main(["report", "--run", str(tiny_run), "--name", "01_vae", "--out", str(tmp_path), "--device", "cpu"]) == 2
    assert "holds ['01_vae.ipynb'], which are not notebooks a run executed" in capsys.readouterr().err
    assert mine.read_bytes() == saved


def test_cli_report_writes_the_html_named_after_the_run(tiny_run, tmp_path):
    assert main(["report", "--run", str(tiny_run), "--profile", "smoke", "--device", "cpu",
                 "--out", str(tmp_path)]) == 0
    page = (tmp_path / "tiny.html").read_text()
    assert "data:image/png;base64" in page and "literature_low" in page and "beta_vae" in page
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_comparison_page_links_finished_runs_to_their_reports():
    results = pd.DataFrame({"method": ["vae", "beta_vae"], "status": ["ok", "failed"], "mig.score": [0.1, None],
                            "run_dir": ["runs/a", "runs/b"]})
    page = comparison_page(results, {"runs/a": "a.html"}, "Sweep <x>")
    assert page.count('<a href="a.html">report</a>') == 1 and "Sweep &lt;x&gt;" in page and "0.100" in page


class _NearlyLinearVAE(torch.nn.Module):
    """A 'model' whose decoder logits are A z with tiny A: sigmoid(A z) ≈ 1/2 + A z / 4, nearly linear."""

    def __init__(self, matrix):
        super().__init__()
        self.decoder = torch.nn.Linear(matrix.shape[1], matrix.shape[0], bias=False, dtype=torch.float64)
        with torch.no_grad():
            self.decoder.weight.copy_(torch.as_tensor(matrix))


def test_geometry_summary_of_a_nearly_linear_decoder_has_the_closed_form_figures():
    rs = np.random.RandomState(0)
    matrix = 1e-3 * rs.randn(50, 3)
    means = rs.randn(20, 3)
    summary = geometry_summary(_NearlyLinearVAE(matrix), means, num_jacobians=8, num_pairs=3, random_state=0)
    s1 = np.linalg.svd(matrix / 4, compute_uv=False)[0]  # the sigmoid's slope at 0 is 1/4
    assert summary.singular_values.shape == (8, 3)
    assert summary.table["directions with s > 1 % of s₁ (mean over codes)"] == 3
    assert summary.table["largest image speed s₁ (pixels per latent unit, median)"] == pytest.approx(s1, rel=1e-3)
    assert summary.table["straight line / geodesic length (median over pairs)"] == pytest.approx(1.0, abs=1e-4)
    assert summary.pairs.shape == (3, 2) and len(set(summary.pairs.ravel())) == 6


def test_geometry_summary_refuses_too_few_codes():
    with pytest.raises(ValueError, match="means has shape"):
        geometry_summary(_NearlyLinearVAE(np.ones((4, 2))), np.zeros((1, 2)))


def test_topology_sizes_reach_the_papers_at_full_and_shrink_with_the_profile():
    from course_lib.profiles import get_profile
    from course_lib.topology.zhou import profile_settings

    paper = {"num_base": 1000, "num_values": 10, "n_draws": 100, "n_landmarks": 64, "gamma": 1 / 128}
    assert profile_settings(get_profile("full").num_samples) == paper
    lecture = profile_settings(get_profile("lecture").num_samples)
    assert lecture == {"num_base": 250, "num_values": 5, "n_draws": 20, "n_landmarks": 62, "gamma": 1 / 128}
    with pytest.raises(ValueError, match="num_samples=0"):
        profile_settings(0)
