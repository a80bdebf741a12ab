"""The model report: literature ranges, run resolution, the CLI end to end, the sweep comparison page."""
import pandas as pd
import pytest

from course_lib.cli import main
from course_lib.report import comparison_page, metrics_with_ranges, resolve_run, run_metadata
from course_lib.training import CHECKPOINT


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
