"""Growing the zoo (course_lib.kit.grow): train the notebooks' models at a new age, retire the old age, export."""
import dataclasses
import json
import os
import shutil
import signal
import threading

import pytest
import torch

from course_lib.kit import grow as grow_module
from course_lib.kit import zoo
from course_lib.kit.grow import grow, retire
from course_lib.kit.lecture_models import lecture_steps, zoo_configs
from course_lib.training import CHECKPOINT, LOG, SUMMARY, TrainConfig, load_checkpoint, load_run, train

SHIPPED_AGE = lecture_steps("lecture")  # the shipped zoo's age


def _some_configs(steps, seed=0):
    """Three of the zoo's configurations (two beta-VAEs and the TopDis run), to keep the test short."""
    return [c for c in zoo_configs(steps, seed) if c.method in ("beta_vae", "topdis")]


@pytest.fixture
def zoo_copy(tmp_path, monkeypatch):
    root = tmp_path / "zoo"
    shutil.copytree(zoo.zoo_dir(), root)
    monkeypatch.setattr(grow_module, "zoo_configs", _some_configs)
    monkeypatch.setattr(zoo, "CHECK_SIZES", {"num_train": 200, "num_test": 100})  # the manifest's metrics, smaller
    return root


def test_grow_trains_the_missing_models_retires_their_old_age_and_exports(zoo_copy, tmp_path, capsys):
    before = zoo.read_manifest(zoo_copy)
    entries = grow(8, runs=tmp_path / "runs", root=zoo_copy, device="cpu", progress=True, workers=2)
    bars = capsys.readouterr().err
    assert "8/8 [" in bars  # the two beta-VAEs up to TopDis's delay (4 steps each), in steps
    assert "24/24 [" in bars  # then the three runs (TopDis forked at 4) up to 8 steps each
    after = zoo.read_manifest(zoo_copy)
    grown, old = {c.slug() for c in _some_configs(8)}, {c.slug() for c in _some_configs(SHIPPED_AGE)}
    assert {e["slug"] for e in entries} == grown and {e["steps"] for e in entries} == {8}
    assert set(after) == (set(before) - old) | grown  # the other notebooks' models are kept
    assert not any((zoo_copy / slug).exists() for slug in old)
    for config in _some_configs(8):  # each served exactly as its run trained it
        run = load_run(tmp_path / "runs" / config.slug(), "cpu")
        assert run.step == 8
        installed = tmp_path / "installed" / config.slug()
        assert zoo.install(config, installed, root=zoo_copy)
        assert (installed / LOG).read_text().splitlines()[1:] == (run.directory / LOG).read_text().splitlines()[1:]
    topdis = next(c for c in _some_configs(8) if c.method == "topdis")
    summary = json.loads((tmp_path / "runs" / topdis.slug() / SUMMARY).read_text())
    assert summary["steps_this_session"] == 4  # forked from the beta-VAE at its delay: only TopDis's steps trained
    beta_vae = _some_configs(8)[0]  # trained in a worker process: the model one process trains, to float rounding
    alone = train(beta_vae, tmp_path / "alone", "cpu", progress=False)
    grown = load_run(tmp_path / "runs" / beta_vae.slug(), "cpu")
    for name, weight in alone.model.state_dict().items():
        torch.testing.assert_close(grown.model.state_dict()[name], weight, msg=name)
    checkpoints = {p: p.stat().st_mtime_ns for p in (tmp_path / "runs").rglob(CHECKPOINT)}
    assert grow(8, runs=tmp_path / "runs", root=zoo_copy, device="cpu", progress=False) == []  # nothing left
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "runs").rglob(CHECKPOINT)} == checkpoints


def test_a_grow_out_of_time_stops_with_checkpoints_exports_nothing_and_resumes(zoo_copy, tmp_path, monkeypatch,
                                                                              capsys):
    """A machine lent for a while: once the time is up the run in training stops at its next step with a
    checkpoint, no other starts, the zoo stays as it was, and the same call later finishes the very runs
    (TopDis still forked from its base at the delay)."""
    from course_lib.training import stopping

    manifest, runs = (zoo_copy / zoo.MANIFEST).read_bytes(), tmp_path / "runs"
    calls = {"n": 0}

    def up_at_the_third_look(deadline):  # the clock, asked before each run and after each step
        calls["n"] += 1
        return deadline is not None and calls["n"] >= 3

    monkeypatch.setattr(stopping, "past", up_at_the_third_look)
    monkeypatch.setattr(grow_module, "past", up_at_the_third_look)
    assert grow(8, runs=runs, root=zoo_copy, device="cpu", progress=False, workers=1, time_limit_minutes=60) == []
    assert (zoo_copy / zoo.MANIFEST).read_bytes() == manifest
    base, other, topdis = _some_configs(8)  # base: the beta = 4 run that TopDis starts from
    assert load_run(runs / base.slug(), "cpu").step == 2  # stopped after its second step, a checkpoint there
    said = capsys.readouterr().out
    assert "stopped 3 of 3 runs" in said and f"{base.slug()}: step 2 of 8" in said
    assert f"{other.slug()}: step 0 of 8" in said
    assert not (runs / other.slug() / CHECKPOINT).exists() and not (runs / topdis.slug() / CHECKPOINT).exists()
    entries = grow(8, runs=runs, root=zoo_copy, device="cpu", progress=False, workers=1)
    assert {e["slug"] for e in entries} == {c.slug() for c in (base, other, topdis)}
    assert json.loads((runs / topdis.slug() / SUMMARY).read_text())["steps_this_session"] == 4  # forked at 4
    alone = train(base, tmp_path / "alone", "cpu", progress=False)
    for name, weight in alone.model.state_dict().items():
        assert torch.equal(load_run(runs / base.slug(), "cpu").model.state_dict()[name], weight), name


def test_a_grow_continues_the_younger_runs_it_finds(zoo_copy, tmp_path, capsys):
    """Runs finished at 3 steps grow to 8 from their checkpoints (`extend_run`): the models are the 8-step runs
    trained from scratch; the TopDis run, whose delay differs at 3 steps, still forks from its grown base."""
    runs = tmp_path / "runs"
    base, other, topdis = _some_configs(8)
    for config in (base, other):
        train(dataclasses.replace(config, steps=3), runs / dataclasses.replace(config, steps=3).slug(), "cpu",
              progress=False)
    (runs / other.slug()).mkdir()
    (runs / other.slug() / ".lock").touch()  # a run killed before its first checkpoint
    grow(8, runs=runs, root=zoo_copy, device="cpu", progress=False, workers=1)
    said = capsys.readouterr().out
    assert f"{base.slug()} continues {dataclasses.replace(base, steps=3).slug()} from its step 3" in said
    assert f"{other.slug()} continues" in said and f"{topdis.slug()} continues" not in said
    assert json.loads((runs / topdis.slug() / SUMMARY).read_text())["steps_this_session"] == 4  # forked at 4
    alone = train(other, tmp_path / "alone", "cpu", progress=False)
    for name, weight in alone.model.state_dict().items():
        assert torch.equal(load_run(runs / other.slug(), "cpu").model.state_dict()[name], weight), name


def test_a_failed_grow_leaves_the_zoo_as_it_was(zoo_copy, tmp_path, monkeypatch):
    manifest = (zoo_copy / zoo.MANIFEST).read_bytes()

    def failing_train(config, *args, **kwargs):
        raise RuntimeError(f"killed while training {config.method}")

    monkeypatch.setattr(grow_module, "train", failing_train)
    with pytest.raises(RuntimeError, match="killed"):
        grow(8, runs=tmp_path / "runs", root=zoo_copy, device="cpu", progress=False, workers=1)
    assert (zoo_copy / zoo.MANIFEST).read_bytes() == manifest
    assert all((zoo_copy / c.slug() / zoo.WEIGHTS).is_file() for c in _some_configs(SHIPPED_AGE))


@pytest.mark.parametrize("who", ["the command", "the command and its workers"])
def test_sigterm_to_a_cpu_grow_stops_its_worker_processes_with_checkpoints_then_acts(tmp_path, dsprites, who,
                                                                                   wait_until_training):
    """`kill PID` of `zoo --grow` on a CPU reaches the command only: it asks its worker processes to stop (an event,
    not a second signal). A batch scheduler signals them all: each worker stops on its own signal and lives on, so
    the pool never kills a sibling that is still finishing its step. Either way each run checkpoints the step it
    finished, then SIGTERM does what it did before (here: recorded)."""
    import multiprocessing

    configs = [TrainConfig("beta_vae", architecture="mlp", num_latent=3, batch_size=8, seed=seed, steps=10**6,
                           checkpoint_every=10**6) for seed in (0, 1)]
    runs = tmp_path / "runs"
    others = set(multiprocessing.active_children())

    def signal_once_both_train():
        wait_until_training(runs, 2)
        if who == "the command and its workers":
            for worker in set(multiprocessing.active_children()) - others:
                os.kill(worker.pid, signal.SIGTERM)
        os.kill(os.getpid(), signal.SIGTERM)

    received = []
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: received.append(signum))
    try:
        threading.Thread(target=signal_once_both_train, daemon=True).start()
        grow_module._train(configs, runs, torch.device("cpu"), "off", progress=False, workers=2)
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert received == [signal.SIGTERM]
    for config in configs:
        step = load_checkpoint(runs / config.slug() / CHECKPOINT, config)["step"]
        logged = [int(row.split(",")[0]) for row in (runs / config.slug() / LOG).read_text().splitlines()[1:]]
        assert 0 < step < 10**6 and logged == list(range(1, step + 1))


def test_retire_removes_only_the_notebooks_models_of_other_ages(zoo_copy):
    assert retire(seed=1, keep_steps=8, root=zoo_copy) == []  # no entry of seed 1
    assert retire(seed=0, keep_steps=SHIPPED_AGE, root=zoo_copy) == []  # the age kept
    removed = retire(seed=0, keep_steps=8, root=zoo_copy)
    assert removed == sorted(c.slug() for c in _some_configs(SHIPPED_AGE))
    assert not set(removed) & set(zoo.read_manifest(zoo_copy))


def test_grow_refuses_bad_arguments_before_any_work(tmp_path):
    for kwargs, match in (({"steps": 0}, "steps=0"), ({"steps": 10, "seed": -1}, "seed=-1"),
                          ({"steps": 10, "cuda_graph": "maybe"}, "cuda_graph="),
                          ({"steps": 10, "workers": 0}, "workers=0"),
                          ({"steps": 10, "time_limit_minutes": 0}, "time_limit_minutes=0")):
        with pytest.raises(ValueError, match=match):
            grow(runs=tmp_path / "runs", device="cpu", **kwargs)
    assert not (tmp_path / "runs").exists()
