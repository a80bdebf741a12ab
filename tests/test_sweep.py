"""Sweeps: the grid, resumption, failures recorded, one table; on an in-process Dask cluster."""
import json

import pandas as pd
import pytest

import course_lib.sweep as sweep_module
from course_lib.cli import main
from course_lib.sweep import RESULT, RESULTS_TABLE, Sweep, run_sweep


def tiny(out, **fields):
    return Sweep(**{"methods": ("vae", "beta_vae"), "values": [1, 4], "seeds": (0,), "steps": 2, "out": str(out),
                    "metrics": ("mig",), "num_train": 64, "num_test": 32, "device": "cpu", **fields})


def test_the_grid_is_methods_times_values_times_seeds():
    configs = Sweep(methods=("vae", "beta_vae", "factor_vae"), values={"factor_vae": [10, 20, 30]},
                    seeds=(0, 1), steps=5).configs()
    assert len(configs) == 2 * (1 + 6 + 3)  # vae: no hyperparameter; beta_vae: the study's six betas
    assert {c.hyperparameters["beta"] for c in configs if c.method == "beta_vae"} == {1, 2, 4, 6, 8, 16}
    assert {c.seed for c in configs} == {0, 1}


@pytest.mark.parametrize("fields, message", [
    ({"methods": ("gan",)}, "methods=\\('gan',\\) is not allowed"),
    ({"metrics": ("irs",)}, "metrics=\\('irs',\\) is not allowed"),
    ({"values": [-1]}, "beta=-1"),
    ({"seeds": ()}, "seeds=\\(\\) is not allowed"),
    ({"steps": 0}, "steps=0"),
])
def test_a_bad_sweep_fails_before_any_job(tmp_path, fields, message):
    with pytest.raises(ValueError, match=message):
        run_sweep(tiny(tmp_path / "sweep", **fields), processes=False, workers=1, progress=False)
    assert not (tmp_path / "sweep").exists() or not any((tmp_path / "sweep").iterdir())


def test_sweep_trains_evaluates_skips_finished_jobs_and_records_failures(tmp_path, monkeypatch):
    sweep = tiny(tmp_path / "sweep")
    evaluate_run = sweep_module.evaluate_run

    def flaky(run, sweep):
        if run.config.hyperparameters.get("beta") == 4:
            raise RuntimeError("evaluation exploded")
        return evaluate_run(run, sweep)

    monkeypatch.setattr(sweep_module, "evaluate_run", flaky)
    table = run_sweep(sweep, processes=False, workers=1, progress=False)
    assert len(table) == 3 and list(table["status"]).count("failed") == 1
    failed = table.set_index("value").loc[4]
    assert failed["error"] == "RuntimeError: evaluation exploded"
    ok = table[table["status"] == "ok"]
    assert ok["mig.score"].between(0, 1).all() and ok["elbo"].lt(0).all() and ok["rate"].ge(0).all()
    assert {"tc_mean", "tc_sampled", "num_active"} <= set(table.columns)
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "sweep" / RESULTS_TABLE), table, check_dtype=False)

    monkeypatch.setattr(sweep_module, "evaluate_run", evaluate_run)
    stamps = {run_dir: (sweep_module.Path(run_dir) / RESULT).stat().st_mtime_ns for run_dir in ok["run_dir"]}
    again = run_sweep(sweep, processes=False, workers=1, progress=False)
    assert (again["status"] == "ok").all()  # the failed job ran again and now succeeds
    assert all((sweep_module.Path(d) / RESULT).stat().st_mtime_ns == t for d, t in stamps.items())  # skipped
    pd.testing.assert_series_equal(again.set_index("run_dir").loc[list(stamps), "mig.score"],
                                   table.set_index("run_dir").loc[list(stamps), "mig.score"])


def test_cli_sweep_from_yaml_with_flag_overrides(tmp_path):
    config = tmp_path / "sweep.yaml"
    config.write_text("methods: [beta_vae]\nvalues: [2]\nseeds: [3]\nsteps: 2\nmetrics: [mig]\n"
                      "num_train: 64\nnum_test: 32\ndevice: cpu\n")
    out = tmp_path / "out"
    assert main(["sweep", "--config", str(config), "--out", str(out), "--workers", "1"]) == 0
    (result,) = out.glob(f"*/{RESULT}")
    row = json.loads(result.read_text())
    assert row["method"] == "beta_vae" and row["value"] == 2 and row["seed"] == 3 and row["status"] == "ok"
    assert "beta_vae-beta2-" in result.parent.name
