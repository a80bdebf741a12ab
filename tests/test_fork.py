"""Stopping a run at a step (`until`), starting a TopDis run from its base's checkpoint and a run from its
younger self (training.fork)."""
import dataclasses
import json

import pytest
import torch

from course_lib.kit.runs import train_or_load_all
from course_lib.training import (CHECKPOINT, CONFIG, LOG, SUMMARY, TrainConfig, extend_run, extend_younger_run,
                                 fork_topdis, read_run_config, topdis_base_config, train, train_packed)

TOPDIS = TrainConfig("topdis", {"base": "beta_vae", "beta": 4, "gamma": 5, "delay": 6}, steps=9, checkpoint_every=4,
                     architecture="mlp")


def assert_same_checkpoint(first, second):
    """Bitwise the same run state: step, identity, weights, objective, Adam, every generator; and the same log."""
    a, b = (torch.load(folder / CHECKPOINT, map_location="cpu", weights_only=True) for folder in (first, second))
    assert (a["step"], a["identity"]) == (b["step"], b["identity"])
    assert a["rng"]["sampler"].pop("device_type") == b["rng"]["sampler"].pop("device_type") == "cpu"
    for part in ("model", "objective", "optimizers", "rng"):
        torch.testing.assert_close(a[part], b[part], rtol=0, atol=0)
    assert (first / LOG).read_text() == (second / LOG).read_text()


def test_a_run_stopped_at_a_step_resumes_as_if_never_stopped(dsprites, tmp_path):
    config = topdis_base_config(TOPDIS)
    stopped = train(config, tmp_path / "stopped", "cpu", dataset=dsprites, progress=False, until=6)
    assert stopped.step == 6  # 6 is no checkpoint step (every 4): a checkpoint is written there all the same
    assert torch.load(tmp_path / "stopped" / CHECKPOINT, weights_only=True)["step"] == 6
    assert train(config, tmp_path / "stopped", "cpu", resume=True, dataset=dsprites, progress=False, until=5).step == 6
    train(config, tmp_path / "stopped", "cpu", resume=True, dataset=dsprites, progress=False)
    train(config, tmp_path / "whole", "cpu", dataset=dsprites, progress=False)
    assert_same_checkpoint(tmp_path / "whole", tmp_path / "stopped")


def test_a_pack_stopped_at_a_step_resumes_as_if_never_stopped(dsprites, tmp_path):
    configs = [dataclasses.replace(topdis_base_config(TOPDIS), seed=seed) for seed in (0, 1)]
    stopped = [tmp_path / f"stopped{k}" for k in range(2)]
    assert [r.step for r in train_packed(configs, stopped, "cpu", dataset=dsprites, progress=False, until=3)] == [3, 3]
    train_packed(configs, stopped, "cpu", resume=True, dataset=dsprites, progress=False)
    train_packed(configs, [tmp_path / f"whole{k}" for k in range(2)], "cpu", dataset=dsprites, progress=False)
    for k in range(2):
        assert_same_checkpoint(tmp_path / f"whole{k}", stopped[k])


def test_a_forked_topdis_run_is_the_topdis_run_trained_from_scratch(dsprites, tmp_path):
    """The base's steps up to the delay are the TopDis run's steps: forked and resumed, the run is bitwise
    the one trained from scratch (weights, Adam, generators, and a log with TopDis's columns)."""
    train(topdis_base_config(TOPDIS), tmp_path / "base", "cpu", dataset=dsprites, progress=False, until=6)
    assert fork_topdis(tmp_path / "base", TOPDIS, tmp_path / "forked") == 6
    assert (tmp_path / "forked" / CONFIG).is_file()
    train(TOPDIS, tmp_path / "forked", "cpu", resume=True, dataset=dsprites, progress=False)
    train(TOPDIS, tmp_path / "scratch", "cpu", dataset=dsprites, progress=False)
    assert_same_checkpoint(tmp_path / "scratch", tmp_path / "forked")
    log = (tmp_path / "forked" / LOG).read_text().splitlines()
    assert log[0].endswith("topdis,topdis_latent,topdis_shift,topdis_points,topdis_cosine,topdis_projection")
    assert log[6].endswith(",0,-1,0,0,0,0") and not log[7].endswith(",0,-1,0,0,0,0")  # TopDis from step 7


def test_train_or_load_all_starts_a_topdis_run_from_its_base_asked_for_beside_it(dsprites, tmp_path, capsys):
    """Notebook 11 asks for a beta-VAE and its TopDis run at once: the base trains to the delay, the TopDis run
    starts there and trains only its own 3 steps, and both are bitwise the runs trained from scratch. Asked for
    alone, or once its base has finished, a TopDis run trains all its steps."""
    base = topdis_base_config(TOPDIS)
    base_run, topdis_run = train_or_load_all([base, TOPDIS], tmp_path / "runs", "cpu", dsprites, progress=False)
    assert (base_run.step, topdis_run.step) == (9, 9)
    assert json.loads((topdis_run.directory / SUMMARY).read_text())["steps_this_session"] == 3
    train(base, tmp_path / "base", "cpu", dataset=dsprites, progress=False)
    train(TOPDIS, tmp_path / "topdis", "cpu", dataset=dsprites, progress=False)
    assert_same_checkpoint(tmp_path / "base", base_run.directory)
    assert_same_checkpoint(tmp_path / "topdis", topdis_run.directory)

    alone = train_or_load_all([TOPDIS], tmp_path / "alone", "cpu", dsprites, progress=False)[0]
    assert json.loads((alone.directory / SUMMARY).read_text())["steps_this_session"] == 9
    train_or_load_all([base], tmp_path / "late", "cpu", dsprites, progress=False)
    late = train_or_load_all([base, TOPDIS], tmp_path / "late", "cpu", dsprites, progress=False)[1]
    assert json.loads((late.directory / SUMMARY).read_text())["steps_this_session"] == 9
    assert f"{base.slug()} is past step 6: {TOPDIS.slug()} trains from its first step" in capsys.readouterr().out
    assert_same_checkpoint(tmp_path / "topdis", late.directory)


def test_a_fork_is_refused_before_anything_is_written(dsprites, tmp_path):
    base = topdis_base_config(TOPDIS)
    assert base == dataclasses.replace(TOPDIS, method="beta_vae", hyperparameters={"beta": 4})
    train(base, tmp_path / "past", "cpu", dataset=dsprites, progress=False, until=7)
    with pytest.raises(ValueError, match="past the delay 6"):
        fork_topdis(tmp_path / "past", TOPDIS, tmp_path / "a")
    other = dataclasses.replace(base, hyperparameters={"beta": 16})
    train(other, tmp_path / "other", "cpu", dataset=dsprites, progress=False, until=2)
    with pytest.raises(ValueError, match="the base run of"):
        fork_topdis(tmp_path / "other", TOPDIS, tmp_path / "b")
    with pytest.raises(ValueError, match="base='factor_vae' is not allowed"):
        topdis_base_config(TrainConfig("topdis", {"base": "factor_vae", "delay": 6}, steps=9))
    with pytest.raises(ValueError, match="config.method='beta_vae'"):
        topdis_base_config(base)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
    train(base, tmp_path / "base", "cpu", dataset=dsprites, progress=False, until=4)
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "notes.txt").write_text("a user's file")
    with pytest.raises(ValueError, match="not empty"):
        fork_topdis(tmp_path / "base", TOPDIS, tmp_path / "used")
    assert sorted(p.name for p in (tmp_path / "used").iterdir()) == ["notes.txt"]
    with pytest.raises(ValueError, match="until=10"):
        train(base, tmp_path / "c", "cpu", dataset=dsprites, progress=False, until=10)


@pytest.mark.parametrize("config", [topdis_base_config(TOPDIS), TOPDIS,
                                    TrainConfig("factor_vae", {"gamma": 10}, steps=9, checkpoint_every=4,
                                                architecture="mlp")], ids=lambda config: config.method)
def test_a_run_grown_older_is_the_run_trained_from_scratch_at_its_age(config, dsprites, tmp_path):
    """A finished 7-step run, extended to 9 steps and resumed, is bitwise the 9-step run: weights, Adam (both of
    FactorVAE's optimisers), every generator (TopDis draws from it after its delay) and the log. The checkpoint
    interval may differ (the zoo's grows with the steps)."""
    young = dataclasses.replace(config, steps=7, checkpoint_every=3)
    train(young, tmp_path / "young", "cpu", dataset=dsprites, progress=False)
    assert extend_run(tmp_path / "young", config, tmp_path / "grown") == 7
    assert read_run_config(tmp_path / "grown") == config
    train(config, tmp_path / "grown", "cpu", resume=True, dataset=dsprites, progress=False)
    train(config, tmp_path / "scratch", "cpu", dataset=dsprites, progress=False)
    assert_same_checkpoint(tmp_path / "scratch", tmp_path / "grown")


def test_extending_a_run_is_refused_before_anything_is_written(dsprites, tmp_path):
    config = topdis_base_config(TOPDIS)  # 9 steps
    young = dataclasses.replace(config, steps=7)
    train(young, tmp_path / "unfinished", "cpu", dataset=dsprites, progress=False, until=5)
    train(young, tmp_path / "young", "cpu", dataset=dsprites, progress=False)
    refusals = [("unfinished", config, "stopped at step 5 of 7"),
                ("young", young, "at fewer steps"),  # no younger than itself
                ("young", dataclasses.replace(config, hyperparameters={"beta": 16}), "at fewer steps")]
    for source, target, message in refusals:
        with pytest.raises(ValueError, match=message):
            extend_run(tmp_path / source, target, tmp_path / "out")
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="is not empty"):
        extend_run(tmp_path / "young", config, tmp_path / "busy")
    assert [p.name for p in (tmp_path / "busy").iterdir()] == ["notes.txt"]
    state = torch.load(tmp_path / "young" / CHECKPOINT, weights_only=True)
    del state["optimizers"]  # what a model installed from the pretrained zoo keeps
    torch.save(state, tmp_path / "young" / CHECKPOINT)
    with pytest.raises(ValueError, match="has no optimiser state"):
        extend_run(tmp_path / "young", config, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_new_run_continues_the_oldest_younger_run_beside_it_that_can_be_extended(dsprites, tmp_path):
    """Beside the 9-step folder: finished runs at 3 and 5 steps, one of 7 stopped at step 6, one of 8 whose
    checkpoint is damaged, and the 12-step run (older). The 9-step run continues the 5-step one and is bitwise
    the 9-step run from scratch; a folder that holds anything, or no younger run at all, gives None."""
    config = topdis_base_config(TOPDIS)  # 9 steps
    runs = tmp_path / "runs"
    for steps in (3, 5, 12):
        train(dataclasses.replace(config, steps=steps), runs / dataclasses.replace(config, steps=steps).slug(), "cpu",
              dataset=dsprites, progress=False)
    stopped = dataclasses.replace(config, steps=7)
    train(stopped, runs / stopped.slug(), "cpu", dataset=dsprites, progress=False, until=6)
    damaged = dataclasses.replace(config, steps=8)
    train(damaged, runs / damaged.slug(), "cpu", dataset=dsprites, progress=False)
    (runs / damaged.slug() / CHECKPOINT).write_bytes((runs / damaged.slug() / CHECKPOINT).read_bytes()[:200])
    other = dataclasses.replace(config, steps=4, seed=1)  # another seed: another configuration
    train(other, runs / other.slug(), "cpu", dataset=dsprites, progress=False)

    assert extend_younger_run(config, runs / config.slug()) == (runs / dataclasses.replace(config, steps=5).slug(), 5)
    train(config, runs / config.slug(), "cpu", resume=True, dataset=dsprites, progress=False)
    train(config, tmp_path / "scratch", "cpu", dataset=dsprites, progress=False)
    assert_same_checkpoint(tmp_path / "scratch", runs / config.slug())
    assert extend_younger_run(config, runs / config.slug()) is None  # it holds a run now
    assert extend_younger_run(dataclasses.replace(config, steps=2), tmp_path / "runs" / "two") is None  # none younger
