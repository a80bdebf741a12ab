"""Sweeps: the grid, resumption, failures recorded, one table; on an in-process Dask cluster."""
import importlib
import json
import os
import signal
import threading

from pathlib import Path

import pandas as pd
import pytest

import course_lib.kit.sweep as sweep_module
from course_lib.kit.cli import main
from course_lib.kit.sweep import RESULT, RESULTS_TABLE, Sweep, in_table_order, run_job, run_sweep, training_cluster
from course_lib.training import TrainConfig, checkpoint_step, read_run_config, stopping


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


@pytest.mark.parametrize("jobs", [[], ["vae"], "vae"])
def test_bad_jobs_fail_before_any_job(tmp_path, jobs):
    with pytest.raises(ValueError, match="jobs="):
        run_sweep(tiny(tmp_path / "sweep"), processes=False, workers=1, progress=False, jobs=jobs)
    assert not (tmp_path / "sweep").exists()


def test_sweep_trains_evaluates_skips_finished_jobs_and_records_failures(tmp_path, monkeypatch):
    sweep = tiny(tmp_path / "sweep")
    evaluate_run = sweep_module.evaluate_run

    def flaky(run, sweep, deadline):
        if run.config.hyperparameters.get("beta") == 4:
            raise RuntimeError("evaluation exploded")
        return evaluate_run(run, sweep, deadline)

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

    damaged = sweep_module.Path(ok["run_dir"].iloc[0]) / RESULT  # e.g. a job killed while a disk filled up
    damaged.write_text(damaged.read_text()[:40])
    redone = run_sweep(sweep, processes=False, workers=1, progress=False).set_index("run_dir")
    assert (redone["status"] == "ok").all()
    assert redone.loc[str(damaged.parent), "note"].startswith(f"the earlier {damaged} was damaged (JSONDecodeError")
    assert redone["note"].isna().sum() == 2  # only the damaged job says so
    assert json.loads(damaged.read_text())["status"] == "ok"
    assert pd.read_csv(tmp_path / "sweep" / RESULTS_TABLE)["note"].notna().sum() == 1


def test_a_packed_sweep_gives_the_unpacked_sweeps_results(tmp_path):
    alone = run_sweep(tiny(tmp_path / "alone"), processes=False, workers=1, progress=False)
    packed = run_sweep(tiny(tmp_path / "packed", pack=2), processes=False, workers=1, progress=False)
    assert len(packed) == 3 and (packed["status"] == "ok").all() and "note" not in packed
    summaries = [json.loads((sweep_module.Path(d) / "summary.json").read_text()) for d in packed["run_dir"]]
    assert [s.get("pack_size") for s in summaries] == [2, None, 2]  # beta 1 and the VAE trained as one pack
    numbers = [c for c in alone.columns if alone[c].dtype.kind == "f" and c != "seconds"]
    assert {"mig.score", "elbo", "rate", "tc_sampled"} <= set(numbers)
    pd.testing.assert_frame_equal(packed[numbers], alone[numbers], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("pack", [1, 2], ids=["alone", "packed"])
def test_a_sweep_with_more_steps_continues_its_younger_runs(tmp_path, pack):
    """The same sweep at 4 steps after 2 trains only steps 3 and 4 of each model, and its table is the table of
    the 4-step sweep from scratch."""
    run_sweep(tiny(tmp_path / "sweep", pack=pack), processes=False, workers=1, progress=False)
    grown = run_sweep(tiny(tmp_path / "sweep", pack=pack, steps=4), processes=False, workers=1, progress=False)
    scratch = run_sweep(tiny(tmp_path / "scratch", pack=pack, steps=4), processes=False, workers=1, progress=False)
    sessions = [json.loads((sweep_module.Path(d) / "summary.json").read_text())["steps_this_session"]
                for d in grown["run_dir"]]
    assert len(grown) == 3 and (grown["status"] == "ok").all() and sessions == [2, 2, 2]
    numbers = [c for c in grown.columns if grown[c].dtype.kind == "f" and c != "seconds"]
    pd.testing.assert_frame_equal(grown[numbers], scratch[numbers], rtol=0, atol=0)


GOOD_YAML = "methods: [beta_vae]\nvalues: [2]\nseeds: [0]\nsteps: 2\nmetrics: [mig]\nnum_train: 64\nnum_test: 32\n"


@pytest.mark.parametrize("line, message", [
    ("seeds: 5", "seeds=5 is not allowed; give a list of seeds"),
    ("seeds: [0, -1]", "seed=-1 is not allowed"),
    ("values: {beta_vae: 4}", "values['beta_vae']=4 is not allowed; give a list of numbers"),
    ("values: {factor_vae: [10]}", "values names ['factor_vae'], which methods=('beta_vae',) does not sweep"),
    ("values: 4", "values=4 is not allowed"),
    ("values: [1, yes]", "values=[1, True] is not allowed"),
    ("methods: beta_vae", "methods='beta_vae' is not allowed; give a list from"),
    ("methods: [gan]", "methods=('gan',) is not allowed"),
    ("metrics: [irs]", "metrics=('irs',) is not allowed"),
    ("steps: 0", "steps=0 is not allowed"),
    ("num_train: -5", "num_train=-5 is not allowed"),
    ("num_test: 1.5", "num_test=1.5 is not allowed"),
    ("width: 0", "width=0 is not allowed"),
    ("pack: 0", "pack=0 is not allowed"),
    ("device: gpu", "device='gpu' is not allowed; use one of"),
    ("values: [-1]", "beta=-1"),
    ("colour: red", "has unknown keys ['colour']"),
    ("methods: [beta_vae\nseeds: [1]", "not valid YAML at line 10, column 6: expected ',' or ']', but got ':' "
                                        "(while parsing a flow sequence from line 9)"),
    ("steps: 2\n  seeds: [1]", "not valid YAML at line 10"),
])
def test_a_bad_sweep_file_is_one_line_from_the_cli_before_any_job(tmp_path, capsys, line, message):
    config = tmp_path / "sweep.yaml"
    config.write_text(GOOD_YAML + "device: cpu\n" + line + "\n")
    out = tmp_path / "out"
    assert main(["sweep", "--config", str(config), "--out", str(out), "--workers", "1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and "Traceback" not in err, err
    assert not out.exists()


@pytest.mark.parametrize("text, message", [(None, "cannot be read"), ("- beta_vae\n", "must hold a mapping")])
def test_a_missing_or_shapeless_sweep_file_is_named(tmp_path, text, message):
    config = tmp_path / "sweep.yaml"
    if text is not None:
        config.write_text(text)
    with pytest.raises(ValueError, match=f"config='{config}' {message}"):
        Sweep.from_yaml(config)


def test_a_sweep_refuses_an_out_it_cannot_write(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="out=.*file' is a file, not a folder"):
        tiny(tmp_path / "file").configs()


def test_cli_sweep_from_yaml_with_flag_overrides(tmp_path):
    config = tmp_path / "sweep.yaml"
    config.write_text("methods: [beta_vae]\nvalues: [2]\nseeds: [3]\nsteps: 2\nmetrics: [mig]\n"
                      "num_train: 64\nnum_test: 32\ndevice: cpu\n")
    out = tmp_path / "out"
    environment = dict(os.environ)
    assert main(["sweep", "--config", str(config), "--out", str(out), "--workers", "1"]) == 0
    assert dict(os.environ) == environment  # Dask's nanny sets OMP_NUM_THREADS=1 & co. in this process
    (result,) = out.glob(f"*/{RESULT}")
    row = json.loads(result.read_text())
    assert row["method"] == "beta_vae" and row["value"] == 2 and row["seed"] == 3 and row["status"] == "ok"
    assert "beta_vae-beta2-" in result.parent.name


def test_a_local_sweep_on_a_missing_gpu_is_refused_before_its_folder_exists(tmp_path, monkeypatch):
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    with pytest.raises(ValueError, match="asks for CUDA but no CUDA GPU is available"):
        run_sweep(tiny(tmp_path / "sweep", device="cuda"), processes=False, progress=False)
    assert not (tmp_path / "sweep").exists()


def test_training_workers_keep_glibcs_adaptive_malloc_and_this_process_its_environment(monkeypatch):
    """Dask's nanny sets MALLOC_TRIM_THRESHOLD_=65536 in its workers, which halves CPU training (glibc then mmaps
    every activation buffer of every step); the kit's training cluster drops only that one of its settings. The
    nanny writes its settings into this process's environment too: once the cluster closes they are gone."""
    from distributed import Client

    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    saved = dict(os.environ)
    try:
        with training_cluster(1) as cluster, Client(cluster) as client:
            (worker,) = client.run(lambda: {key: os.environ.get(key) for key in ("MALLOC_TRIM_THRESHOLD_",
                                                                                 "OMP_NUM_THREADS")}).values()
        after = dict(os.environ)
    finally:
        sweep_module._restore_environment(saved)  # whatever happened, the next tests get their environment
    assert worker == {"MALLOC_TRIM_THRESHOLD_": None, "OMP_NUM_THREADS": "1"}
    assert after == saved  # dask 2026's nanny writes OMP_NUM_THREADS=1 & co. here; the cluster's exit took them back


def test_on_a_machine_with_several_gpus_each_local_worker_trains_on_its_own(monkeypatch, tmp_path):
    """default_workers starts one worker per GPU; job_device gives worker i GPU i (before: every job on GPU 0)."""
    import distributed
    import torch

    from course_lib.kit.sweep import job_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert job_device("cuda") == "cuda"  # not on a worker
    worker = type("Worker", (), {"name": 0})()
    monkeypatch.setattr(distributed, "get_worker", lambda: worker)
    for name, expected in ((0, "cuda:0"), (1, "cuda:1"), (3, "cuda:1")):
        worker.name = name
        assert job_device("auto") == job_device("cuda") == expected
    worker.name = "gpu-a"  # a cluster of your own, its workers named otherwise: the device as given
    assert (job_device("auto"), job_device("cuda")) == ("auto", "cuda")
    assert job_device("cpu") == "cpu" and job_device("cuda:0") == "cuda:0"  # an explicit choice stays
    recorded = []
    monkeypatch.setattr("course_lib.kit.runs.train_or_load",
                        lambda config, root, device, progress, deadline: recorded.append(device))
    worker.name = 1
    run_job(TrainConfig("vae", steps=2), Sweep(methods=("vae",), steps=2, out=str(tmp_path), device="cuda"))
    assert recorded == ["cuda:1"]


def test_a_sweep_out_of_time_stops_with_a_checkpoint_writes_no_result_and_resumes(tmp_path, monkeypatch):
    """A machine lent for a while: at the deadline the job in training stops with a checkpoint, no other job
    starts, no result.json says "ok" (or anything); the same sweep later finishes, with the numbers of a sweep
    that was never stopped."""
    from course_lib.training import stopping

    calls = {"n": 0}

    def up_at_the_fourth_look(deadline):  # the clock: before the job, then after each step
        calls["n"] += 1
        return deadline is not None and calls["n"] >= 4

    monkeypatch.setattr(stopping, "past", up_at_the_fourth_look)
    sweep = tiny(tmp_path / "sweep", steps=6, values=[4])  # two jobs: the VAE and beta-VAE beta = 4
    table = run_sweep(sweep, processes=False, workers=1, progress=False, deadline=1e12)
    monkeypatch.undo()
    assert (table["status"] == "stopped").all() and table["error"].isna().all()
    notes = sorted(table["note"])
    assert notes == ["the time limit stopped it at step 3 of 6; run the sweep again to resume it",
                     "the time limit stopped it before it started; run the sweep again to resume it"]
    started = sweep_module.Path(table.loc[table["note"].str.contains("step 3"), "run_dir"].item())
    assert checkpoint_step(started, read_run_config(started)) == 3  # the checkpoint at the stop
    assert not list((tmp_path / "sweep").glob(f"*/{RESULT}"))
    assert sorted(p.name for p in (tmp_path / "sweep").iterdir()) == sorted([started.name, RESULTS_TABLE])

    finished = run_sweep(sweep, processes=False, workers=1, progress=False)
    never_stopped = run_sweep(tiny(tmp_path / "alone", steps=6, values=[4]), processes=False, workers=1, progress=False)
    assert (finished["status"] == "ok").all()
    numbers = [c for c in finished.columns if finished[c].dtype.kind == "f" and c != "seconds"]
    pd.testing.assert_frame_equal(finished[numbers], never_stopped[numbers], rtol=0, atol=0)


def test_a_stop_while_scoring_waits_for_one_metric_writes_no_result_and_the_rerun_scores_it(tmp_path, monkeypatch):
    """Before, a job already scoring when a signal came scored to the end (21 s at the seed table's sizes, minutes at
    the study's); now it stops before its next metric, "stopped" without result.json, and the same sweep scores it
    with the numbers of a sweep never stopped."""
    evaluate_module = importlib.import_module("course_lib.metrics.evaluate")  # the package's `evaluate` is the function
    run_metric = evaluate_module._run_metric

    def signal_after_mig(name, *args):
        scores = run_metric(name, *args)
        if name == "mig":
            stopping.ask_to_stop()  # what a worker's SIGTERM does (`WorkerStopSignals`)
        return scores

    sweep = tiny(tmp_path / "sweep", values=[4], metrics=("mig", "sap"))  # two jobs, one at a time
    monkeypatch.setattr(evaluate_module, "_run_metric", signal_after_mig)
    try:
        table = run_sweep(sweep, processes=False, workers=1, progress=False)
    finally:
        stopping.ask_to_stop(False)
        monkeypatch.undo()
    assert (table["status"] == "stopped").all()
    assert sorted(table["note"]) == [
        "a stop signal stopped it before it started; run the sweep again to resume it",
        "a stop signal stopped it while scoring, after mig; run the sweep again to resume it"]
    assert not list((tmp_path / "sweep").glob(f"*/{RESULT}"))
    finished = run_sweep(sweep, processes=False, workers=1, progress=False)
    never_stopped = run_sweep(tiny(tmp_path / "alone", values=[4], metrics=("mig", "sap")), processes=False,
                              workers=1, progress=False)
    assert (finished["status"] == "ok").all()
    numbers = [c for c in finished.columns if finished[c].dtype.kind == "f" and c != "seconds"]
    assert {"mig.score", "sap.score"} <= set(numbers)
    pd.testing.assert_frame_equal(finished[numbers], never_stopped[numbers], rtol=0, atol=0)


def test_a_packed_sweep_past_its_deadline_starts_nothing(tmp_path):
    with pytest.raises(ValueError, match="deadline=-1 is not allowed"):
        run_sweep(tiny(tmp_path / "sweep"), processes=False, workers=1, progress=False, deadline=-1)
    assert not (tmp_path / "sweep").exists()
    table = run_sweep(tiny(tmp_path / "sweep", pack=2), processes=False, workers=1, progress=False, deadline=1.0)
    assert (table["status"] == "stopped").all() and table["note"].str.contains("before it started").all()
    assert [p.name for p in (tmp_path / "sweep").iterdir()] == [RESULTS_TABLE]


def test_the_results_table_orders_values_and_seeds_as_numbers_not_as_text():
    rows = pd.DataFrame({"method": ["vae", "beta_vae", "beta_vae", "beta_vae", "beta_vae", "beta_tcvae"],
                         "value": [None, 16.0, 4.0, 4.0, 16.0, 10.0], "seed": [0, 2, 10, 2, 10, 0]})
    ordered = in_table_order(rows)
    assert list(zip(ordered["method"], ordered["value"].fillna(-1), ordered["seed"])) == [
        ("beta_tcvae", 10, 0), ("beta_vae", 4, 2), ("beta_vae", 4, 10), ("beta_vae", 16, 2), ("beta_vae", 16, 10),
        ("vae", -1, 0)]  # as text, 16 came before 4 and seed 10 before 2
    assert list(ordered.index) == list(range(6))


def signal_once_training_started(out, pid_of, signum: int, wait_until_training) -> None:
    """Send `signum` to the process `pid_of()` names, from a thread, once the first job under `out` trains."""
    def watch():
        wait_until_training(out)
        os.kill(pid_of(), signum)
    threading.Thread(target=watch, daemon=True).start()


def assert_stopped_by_a_signal(table):
    """The job under way stopped at a step with its checkpoint there, the queued one before it started; no
    result.json."""
    notes = sorted(table["note"])
    assert (table["status"] == "stopped").all() and len(notes) == 2, notes
    assert notes[1] == "a stop signal stopped it before it started; run the sweep again to resume it"
    step = int(notes[0].removeprefix("a stop signal stopped it at step ").split(" of ")[0].replace(",", ""))
    started = Path(table.loc[table["note"] == notes[0], "run_dir"].item())
    assert 0 < step < 1_000 and checkpoint_step(started, read_run_config(started)) == step
    assert not list(started.parent.glob(f"*/{RESULT}"))


def test_sigterm_to_the_sweep_stops_its_workers_jobs_with_checkpoints_writes_the_table_then_acts(tmp_path,
                                                                                              wait_until_training):
    """`kill PID` of a sweep: only this process gets SIGTERM, and it asks its workers to stop (here in-process
    ones, whose tasks run in threads): the job under way checkpoints, the queued one does not start, the table is
    written, then SIGTERM does what it did before (here: recorded); the request is withdrawn afterwards."""
    received = []
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: received.append(signum))
    try:
        sweep = tiny(tmp_path / "sweep", steps=1_000, values=[4])
        signal_once_training_started(sweep.out, os.getpid, signal.SIGTERM, wait_until_training)
        table = run_sweep(sweep, processes=False, workers=1, progress=False)
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert received == [signal.SIGTERM]
    assert_stopped_by_a_signal(table)
    assert pd.read_csv(tmp_path / "sweep" / RESULTS_TABLE)["status"].eq("stopped").all()
    assert stopping.stop_reason(None) is None  # this process trains again


def test_sigterm_to_a_worker_of_your_own_cluster_stops_its_jobs_with_checkpoints_it_lives_on_and_is_as_before(
        tmp_path, wait_until_training):
    """A batch scheduler signals every process of the job, the workers too, whose tasks run outside their main
    thread: before, the worker died and its job lost up to CHECKPOINT_SECONDS of training. A cluster of your own
    (`--scheduler`) gets the kit's worker plugin for the sweep only: afterwards SIGTERM kills its worker again."""
    from distributed import Client, LocalCluster

    sweep = tiny(tmp_path / "sweep", steps=1_000, values=[4])
    saved = dict(os.environ)
    try:
        with LocalCluster(n_workers=1, threads_per_worker=1, dashboard_address=None) as cluster, \
                Client(cluster) as client:
            (pid,) = client.run(os.getpid).values()
            signal_once_training_started(sweep.out, lambda: pid, signal.SIGTERM, wait_until_training)
            table = run_sweep(sweep, scheduler=cluster.scheduler_address, progress=False)
            assert list(client.run(os.getpid).values()) == [pid]  # the same worker process, not a restarted one
            assert list(client.run(signal.getsignal, signal.SIGTERM).values()) == [signal.SIG_DFL]
            assert kit_plugins(client) == []
    finally:
        sweep_module._restore_environment(saved)  # the nanny writes OMP_NUM_THREADS=1 & co. into this process
    assert_stopped_by_a_signal(table)


def kit_plugins(client) -> list[str]:
    """The names of the kit's stop-on-signals plugins registered on the client's cluster."""
    prefix = sweep_module.StopTrainingOnSignals.PREFIX
    return [name for name in client.run_on_scheduler(lambda dask_scheduler: list(dask_scheduler.worker_plugins))
            if name.startswith(prefix)]


def stops_on_sigterm() -> bool:
    """In a worker: whether SIGTERM asks its training to stop (`WorkerStopSignals`' handler)."""
    handler = signal.getsignal(signal.SIGTERM)
    return isinstance(getattr(handler, "__self__", None), stopping.WorkerStopSignals)


def test_two_sweeps_sharing_your_cluster_the_first_to_end_leaves_the_others_workers_stopping_on_signals():
    """Two sweeps on one cluster of your own (`--scheduler`), the second started while the first runs: before, the
    second used the first's plugin, and when the first ended its workers died on SIGTERM again while the second's
    jobs trained. Each has its own copy now; the handlers go with the last."""
    from distributed import Client, LocalCluster

    saved = dict(os.environ)
    try:
        with LocalCluster(n_workers=1, threads_per_worker=1, dashboard_address=None) as cluster, \
                Client(cluster) as client, stopping.StopRequests() as stop:
            first = sweep_module.workers_stop_on_signals(stop, client)
            second = sweep_module.workers_stop_on_signals(stop, client)
            first.__enter__()
            second.__enter__()  # not nested in the first: it ends after it
            assert list(client.run(stops_on_sigterm).values()) == [True] and len(kit_plugins(client)) == 2
            first.__exit__(None, None, None)
            assert list(client.run(stops_on_sigterm).values()) == [True] and len(kit_plugins(client)) == 1
            second.__exit__(None, None, None)
            assert list(client.run(signal.getsignal, signal.SIGTERM).values()) == [signal.SIG_DFL]
            assert kit_plugins(client) == []
    finally:
        sweep_module._restore_environment(saved)
