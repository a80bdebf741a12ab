"""The training loop: it learns, it resumes exactly, it refuses what it must refuse."""
import json
import math
import pickle

import numpy as np
import pytest
import torch

from course_lib.data.torch_sampler import GridBatchSampler, unpack_bits
from course_lib.kit.runs import train_or_load, train_or_load_all
from course_lib.objectives import OBJECTIVES
from course_lib.objectives.beta_vae import BetaVAE
from course_lib.training import (CHECKPOINT, LOG, SUMMARY, NonFiniteLossError, TrainConfig, load_checkpoint, load_run,
                                 train, train_packed)

SMOKE = dict(steps=40, batch_size=16, checkpoint_every=10)


def small(method="beta_vae", **changes):
    return TrainConfig(method=method, **{**SMOKE, **changes})


@pytest.mark.parametrize("method", list(OBJECTIVES))
def test_every_objective_trains_on_dsprites_with_falling_loss(method, dsprites, tmp_path):
    run = train(small(method), tmp_path, device="cpu", dataset=dsprites, progress=False)
    log = run.log
    assert list(log["step"]) == list(range(1, 41))
    assert log["total"].iloc[-10:].mean() < 0.95 * log["total"].iloc[:5].mean()  # batch noise is ~2 %
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["config"]["method"] == method and config["seed"] == 0 and "torch" in config["versions"]


class Killed(Exception):
    pass


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs a CUDA GPU"))])
def test_a_killed_and_resumed_run_ends_with_the_same_parameters(device, dsprites, tmp_path, monkeypatch):
    """Bit for bit on the CPU; on CUDA too, since seed_everything makes cuDNN deterministic (eager here; a
    graphed run's resume is tests/test_graphed.py's)."""
    config = small("factor_vae", steps=20, checkpoint_every=5)  # two networks, two optimisers
    alone = train(config, tmp_path / "alone", device=device, dataset=dsprites, progress=False, cuda_graph="off")

    original = GridBatchSampler.sample
    calls = {"n": 0}

    def dies_at_step_13(self, batch_size):
        calls["n"] += 1
        if calls["n"] == 13:
            raise Killed
        return original(self, batch_size)

    monkeypatch.setattr(GridBatchSampler, "sample", dies_at_step_13)
    with pytest.raises(Killed):
        train(config, tmp_path / "killed", device=device, dataset=dsprites, progress=False, cuda_graph="off")
    monkeypatch.setattr(GridBatchSampler, "sample", original)
    assert torch.load(tmp_path / "killed" / CHECKPOINT, weights_only=True)["step"] == 10
    resumed = train(config, tmp_path / "killed", device=device, dataset=dsprites, resume=True, progress=False,
                    cuda_graph="off")

    for a, b in zip(alone.model.state_dict().values(), resumed.model.state_dict().values()):
        assert torch.equal(a, b)
    for a, b in zip(alone.objective.state_dict().values(), resumed.objective.state_dict().values()):
        assert torch.equal(a, b)
    assert (tmp_path / "alone" / LOG).read_text() == (tmp_path / "killed" / LOG).read_text()


def test_a_run_stopped_at_its_deadline_resumes_as_if_never_stopped(dsprites, tmp_path, monkeypatch):
    """A machine lent by the hour: the run stops at the first step past `deadline`, with a checkpoint there
    (step 7 is no checkpoint step), and resuming gives the uninterrupted run bit for bit."""
    from course_lib.training import stopping

    config = small("factor_vae", steps=20, checkpoint_every=5)
    alone = train(config, tmp_path / "alone", device="cpu", dataset=dsprites, progress=False)
    calls = {"n": 0}

    def after_seven_steps(deadline):
        calls["n"] += 1
        return deadline is not None and calls["n"] >= 7

    monkeypatch.setattr(stopping, "past", after_seven_steps)
    stopped = train(config, tmp_path / "stopped", device="cpu", dataset=dsprites, progress=False, deadline=1e12)
    monkeypatch.undo()
    assert stopped.step == 7 and load_checkpoint(tmp_path / "stopped" / CHECKPOINT, config)["step"] == 7
    assert json.loads((tmp_path / "stopped" / SUMMARY).read_text())["steps_this_session"] == 7
    resumed = train(config, tmp_path / "stopped", device="cpu", dataset=dsprites, resume=True, progress=False)
    assert resumed.step == 20
    for a, b in zip(alone.model.state_dict().values(), resumed.model.state_dict().values()):
        assert torch.equal(a, b)
    assert (tmp_path / "alone" / LOG).read_text() == (tmp_path / "stopped" / LOG).read_text()
    # a deadline already passed: one step, then the checkpoint; a far one: the whole run
    assert train(small(steps=6), tmp_path / "now", device="cpu", dataset=dsprites, progress=False,
                 deadline=1.0).step == 1
    assert train(small(steps=6), tmp_path / "later", device="cpu", dataset=dsprites, progress=False,
                 deadline=4e9).step == 6
    with pytest.raises(ValueError, match="deadline=-1"):
        train(small(steps=6), tmp_path / "bad", device="cpu", dataset=dsprites, progress=False, deadline=-1)
    assert not (tmp_path / "bad").exists()


def test_same_seed_same_numbers(dsprites, tmp_path):
    first = train(small(steps=5), tmp_path / "a", device="cpu", dataset=dsprites, progress=False)
    second = train(small(steps=5), tmp_path / "b", device="cpu", dataset=dsprites, progress=False)
    third = train(small(steps=5, seed=1), tmp_path / "c", device="cpu", dataset=dsprites, progress=False)
    assert first.log.equals(second.log) and not first.log.equals(third.log)


@pytest.mark.parametrize("method, hyperparameters", [("factor_vae", {}), ("topdis", {"delay": 1})])
def test_a_run_draws_only_from_its_own_generator(method, hyperparameters, dsprites, tmp_path, monkeypatch):
    """Batches, eps, FactorVAE's permutation, TopDis's batch, latent and sign: all from the sampler's
    generator, so draws from torch's global generator between steps change nothing."""
    config = small(method, hyperparameters=hyperparameters, steps=4, checkpoint_every=2, architecture="mlp",
                   num_latent=3, batch_size=8)
    quiet = train(config, tmp_path / "quiet", device="cpu", dataset=dsprites, progress=False)
    original = GridBatchSampler.sample

    def noisy(self, batch_size):
        torch.rand(7), torch.randn(3), torch.randperm(5)  # someone else's draws, in the same process
        return original(self, batch_size)

    monkeypatch.setattr(GridBatchSampler, "sample", noisy)
    disturbed = train(config, tmp_path / "disturbed", device="cpu", dataset=dsprites, progress=False)
    assert (tmp_path / "quiet" / LOG).read_text() == (tmp_path / "disturbed" / LOG).read_text()
    for a, b in zip(quiet.model.state_dict().values(), disturbed.model.state_dict().values()):
        assert torch.equal(a, b)


def test_load_run_restores_the_trained_model(dsprites, tmp_path):
    run = train(small(steps=10), tmp_path, device="cpu", dataset=dsprites, progress=False)
    loaded = load_run(tmp_path, device="cpu")
    x = torch.from_numpy(dsprites.sample(8, 0)[1])
    assert loaded.step == 10 and torch.equal(run.model.encode_mean(x), loaded.model.encode_mean(x))


def test_non_finite_term_stops_training_and_keeps_the_last_good_checkpoint(dsprites, tmp_path, monkeypatch):
    original = BetaVAE.regulariser

    def poisoned(self, x, out, step, terms):
        result = original(self, x, out, step, terms)
        return {**result, "total": result["total"] * (math.nan if step == 7 else 1.0)}

    monkeypatch.setattr(BetaVAE, "regulariser", poisoned)
    with pytest.raises(NonFiniteLossError, match=r"term 'total' is nan at step 7.*checkpoint \(step 5\) is kept.*"
                                                 r"--overwrite.*--resume"):
        train(small(steps=10, checkpoint_every=5), tmp_path, device="cpu", dataset=dsprites, progress=False)
    assert torch.load(tmp_path / CHECKPOINT, weights_only=True)["step"] == 5


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_truncated_foreign_and_pickled_checkpoints_are_rejected(dsprites, tmp_path):
    config = small(steps=5, checkpoint_every=5)
    train(config, tmp_path, device="cpu", dataset=dsprites, progress=False)
    path = tmp_path / CHECKPOINT
    with pytest.raises(ValueError, match="another configuration"):
        load_checkpoint(path, small("dip_vae_i", steps=5))
    with pytest.raises(ValueError, match="another configuration"):
        load_checkpoint(path, small(steps=5, num_latent=6))
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(ValueError, match="truncated or corrupt"):
        train(config, tmp_path, device="cpu", dataset=dsprites, resume=True, progress=False)
    with open(path, "wb") as handle:  # an arbitrary pickle is never executed
        pickle.dump(np.random.RandomState(0), handle)
    with pytest.raises(ValueError, match="truncated or corrupt"):
        load_checkpoint(path, config)


def test_a_run_directory_is_never_overwritten_unless_asked(dsprites, tmp_path):
    train(small(steps=5), tmp_path, device="cpu", dataset=dsprites, progress=False)
    before = (tmp_path / LOG).read_text()
    with pytest.raises(ValueError, match="is not empty"):
        train(small(steps=5, seed=3), tmp_path, device="cpu", dataset=dsprites, progress=False)
    with pytest.raises(ValueError, match="another configuration"):
        train(small(steps=5, seed=3), tmp_path, device="cpu", dataset=dsprites, resume=True, progress=False)
    assert (tmp_path / LOG).read_text() == before
    train(small(steps=5, seed=3), tmp_path, device="cpu", dataset=dsprites, overwrite=True, progress=False)
    assert (tmp_path / LOG).read_text() != before


@pytest.mark.parametrize("changes, message", [
    ({"method": "gan"}, "method='gan'"),
    ({"hyperparameters": {"beta": -1.0}}, "beta=-1.0"),
    ({"num_latent": 0}, "num_latent=0"),
    ({"batch_size": 1}, "batch_size=1"),
    ({"steps": 0}, "steps=0"),
    ({"lr": 0.0}, "lr=0.0"),
    ({"architecture": "resnet"}, "architecture='resnet'"),
    ({"variant": "scream"}, "variant='scream'"),
])
def test_bad_configuration_fails_before_anything_is_written(tmp_path, changes, message):
    with pytest.raises(ValueError, match=message):
        train(small(**changes), tmp_path / "run", device="cpu", progress=False)
    assert not (tmp_path / "run").exists()


def test_device_batches_match_the_numpy_grid_and_replay_from_state(dsprites):
    index = np.arange(0, dsprites.num_images, 997)
    torch.testing.assert_close(unpack_bits(torch.from_numpy(dsprites.packed_grid[index])),
                               torch.from_numpy(dsprites.binary_images_at(index)))
    sampler = GridBatchSampler(dsprites, "cpu", seed=5)
    state = sampler.state_dict()
    first = sampler.sample(32)
    sampler.load_state_dict(state)
    assert torch.equal(first, sampler.sample(32))
    sampler.load_state_dict(state)
    drawn = torch.randint(dsprites.num_images, (32,), generator=sampler.generator).numpy()
    np.testing.assert_array_equal(first[:, 0].numpy(), dsprites.binary_images_at(drawn))


@pytest.mark.parametrize("variant", ["color", "noisy"])
def test_device_batches_of_the_variants(dsprites, variant):
    from course_lib.data import DSprites

    batch = GridBatchSampler(DSprites(variant, progress=False), "cpu", seed=0).sample(64)
    assert batch.shape == (64, 3, 64, 64) and batch.min() >= 0 and batch.max() <= 1
    if variant == "color":
        on = batch.amax(1) > 0
        colours = batch.permute(0, 2, 3, 1)[on]
        assert colours.min() >= 0.5
    else:
        assert 0.45 < batch[batch < 1].mean() < 0.55  # the uniform-noise background


def test_train_or_load_reuses_a_finished_run_and_replaces_a_broken_one(dsprites, tmp_path):
    config = small(steps=6, checkpoint_every=3)
    first = train_or_load(config, tmp_path, device="cpu", dataset=dsprites, progress=False)
    assert first.directory == tmp_path / config.slug()
    summary = (first.directory / SUMMARY).read_text()
    again = train_or_load(config, tmp_path, device="cpu", dataset=dsprites, progress=False)
    assert (first.directory / SUMMARY).read_text() == summary  # loaded, not trained again
    for a, b in zip(first.model.parameters(), again.model.parameters()):
        assert torch.equal(a, b)
    checkpoint = first.directory / CHECKPOINT
    checkpoint.write_bytes(checkpoint.read_bytes()[:100])
    rebuilt = train_or_load(config, tmp_path, device="cpu", dataset=dsprites, progress=False)
    for a, b in zip(first.model.parameters(), rebuilt.model.parameters()):
        assert torch.equal(a, b)  # retrained from the same seed


def test_train_or_load_continues_a_younger_run_of_the_configuration(dsprites, tmp_path, capsys):
    """Asking the runs cache for more steps trains only the new ones: the model is the run from scratch."""
    young, config = small(steps=4, checkpoint_every=2), small(steps=7, checkpoint_every=3)
    train_or_load(young, tmp_path / "cache", device="cpu", dataset=dsprites, progress=False)
    grown = train_or_load(config, tmp_path / "cache", device="cpu", dataset=dsprites, progress=False)
    assert f"{config.slug()}: continues {young.slug()} from its step 4" in capsys.readouterr().out
    assert json.loads((grown.directory / SUMMARY).read_text())["steps_this_session"] == 3
    scratch = train_or_load(config, tmp_path / "scratch", device="cpu", dataset=dsprites, progress=False)
    for (name, a), b in zip(grown.model.state_dict().items(), scratch.model.state_dict().values()):
        assert torch.equal(a, b), name


@pytest.mark.parametrize("pack", [True, False])
def test_train_or_load_all_trains_what_is_unfinished_packed_and_loads_the_rest(dsprites, tmp_path, pack):
    """Three models asked for at once, one already trained: with `pack` (the GPU's default) the other two train as
    one pack, without it one by one; either way the runs are the ones `train_or_load` gives alone, in order."""
    configs = [small(seed=0, steps=5), small("vae", seed=1, steps=5), small(seed=2, steps=5, lr=3e-4)]
    done = train_or_load(configs[0], tmp_path / "cache", device="cpu", dataset=dsprites, progress=False)
    summary = (done.directory / SUMMARY).read_text()
    runs = train_or_load_all(configs, tmp_path / "cache", device="cpu", dataset=dsprites, progress=False, pack=pack)
    assert [run.config for run in runs] == configs and (done.directory / SUMMARY).read_text() == summary
    sizes = [json.loads((run.directory / SUMMARY).read_text()).get("pack_size") for run in runs[1:]]
    assert sizes == ([2, 2] if pack else [None, None])
    for config, run in zip(configs, runs):
        alone = train_or_load(config, tmp_path / "alone", device="cpu", dataset=dsprites, progress=False)
        torch.testing.assert_close(run.model.state_dict(), alone.model.state_dict())  # a grouped conv sums in
        assert run.step == alone.step == 5  # another order: equal to float rounding
    with pytest.raises(ValueError, match="configs=.* is not allowed; give a list of TrainConfig"):
        train_or_load_all(configs[0], tmp_path / "cache", device="cpu")
    with pytest.raises(ValueError, match="beta=-1"):  # checked before the first model trains
        train_or_load_all([small(seed=5), small(hyperparameters={"beta": -1})], tmp_path / "bad", device="cpu",
                          dataset=dsprites)
    assert not (tmp_path / "bad").exists()


def test_width_scales_the_conv_vae_and_names_the_run():
    wide = TrainConfig(steps=1, width=2)
    assert wide.slug().startswith("beta_vae-convx2-binary") and "x" not in TrainConfig(steps=1).slug().split("-")[1]
    model, _ = wide.build("cpu")
    narrow, _ = TrainConfig(steps=1).build("cpu")
    assert model.encoder.features[0].out_channels == 2 * narrow.encoder.features[0].out_channels == 64
    assert model.decoder(torch.zeros(3, 10)).shape == (3, 1, 64, 64)
    with pytest.raises(ValueError, match="width=0"):
        TrainConfig(width=0).validate()
    with pytest.raises(ValueError, match="only conv scales"):
        TrainConfig(width=2, architecture="mlp").validate()


def cuda_generator_state(seed: int) -> torch.Tensor:
    """What a CUDA generator's get_state() returns: its Philox seed and offset, 16 bytes."""
    return torch.tensor([seed, 0], dtype=torch.int64).view(torch.uint8)


def as_if_trained_on_a_gpu(checkpoint, labelled: bool = True):
    """Rewrite a CPU run's checkpoint with the generator states a GPU run writes (older ones: without the label),
    and its config.json's device."""
    config = json.loads((checkpoint.parent / "config.json").read_text())
    (checkpoint.parent / "config.json").write_text(json.dumps({**config, "device": "cuda"}))
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    state["rng"]["sampler"] = {"generator": cuda_generator_state(0)} | ({"device_type": "cuda"} if labelled else {})
    state["rng"]["torch_cuda"] = [cuda_generator_state(1), cuda_generator_state(2)]
    torch.save(state, checkpoint)


@pytest.mark.parametrize("labelled", [True, False])
def test_a_run_from_another_type_of_device_loads_and_continues_reproducibly(labelled, dsprites, tmp_path, capsys):
    """A GPU-grown zoo on a laptop, a CPU zoo on a GPU: the generator states cannot cross (before: RuntimeError
    'Expected a CPUGeneratorImplState of size 5056 but found the input RNG state size to be 16')."""
    config = TrainConfig("beta_vae", {"beta": 4}, steps=4, batch_size=8, checkpoint_every=2, num_latent=4)
    finished = train(config, tmp_path / "finished", device="cpu", dataset=dsprites, progress=False)
    as_if_trained_on_a_gpu(tmp_path / "finished" / CHECKPOINT, labelled)
    loaded = train(config, tmp_path / "finished", device="cpu", dataset=dsprites, progress=False, resume=True)
    for name, weight in finished.model.state_dict().items():
        assert torch.equal(weight, loaded.model.state_dict()[name])
    assert "continues" not in capsys.readouterr().out  # a finished run is only loaded
    assert json.loads((tmp_path / "finished" / "config.json").read_text())["device"] == "cuda"
    continued = []
    for name in ("a", "b"):
        train(config, tmp_path / name, device="cpu", dataset=dsprites, progress=False, until=2)
        as_if_trained_on_a_gpu(tmp_path / name / CHECKPOINT, labelled)
        continued.append(train(config, tmp_path / name, device="cpu", dataset=dsprites, progress=False, resume=True))
    assert "on cpu the run continues from step 2 with its generator seeded from (seed 0, step 2)" in \
        capsys.readouterr().out
    assert json.loads((tmp_path / "a" / "config.json").read_text())["device"] == "cuda, then cpu"  # trained_on
    weights = [run.model.state_dict() for run in continued]
    assert all(torch.equal(weights[0][name], weights[1][name]) for name in weights[0])  # reproducible
    assert not all(torch.equal(weights[0][name], finished.model.state_dict()[name]) for name in weights[0])


def test_a_generator_state_goes_only_to_a_generator_of_its_device_type(dsprites):
    sampler, other = GridBatchSampler(dsprites, "cpu", seed=0), GridBatchSampler(dsprites, "cpu", seed=1)
    assert sampler.state_dict()["device_type"] == "cpu"
    assert other.load_state_dict({"generator": sampler.generator.get_state()})  # an older checkpoint's: by size
    assert torch.equal(other.sample(8), sampler.sample(8))
    before = other.generator.get_state()
    assert not other.load_state_dict({"generator": cuda_generator_state(5), "device_type": "cuda"})
    assert torch.equal(other.generator.get_state(), before)


def test_a_checkpoint_from_a_machine_with_more_gpus_restores_the_gpus_there_are(monkeypatch):
    from course_lib.training.loop import restore_global_rng_states

    restored = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "set_rng_state", lambda state, index: restored.append(index))
    restore_global_rng_states({"torch_cpu": torch.get_rng_state(), "torch_cuda": [cuda_generator_state(0)] * 2})
    assert restored == [0]


def test_a_pack_continues_runs_from_another_type_of_device_as_train_does(dsprites, tmp_path):
    """`zoo --grow` on a GPU continues the CPU's younger runs as one pack."""
    configs = [TrainConfig("beta_vae", {"beta": 4}, seed=seed, steps=4, batch_size=8, checkpoint_every=2, num_latent=4)
               for seed in (0, 1)]
    for place in ("packed", "alone"):
        for k, config in enumerate(configs):
            train(config, tmp_path / place / str(k), device="cpu", dataset=dsprites, progress=False, until=2)
            as_if_trained_on_a_gpu(tmp_path / place / str(k) / CHECKPOINT)
    packed = train_packed(configs, [tmp_path / "packed" / str(k) for k in range(2)], device="cpu", dataset=dsprites,
                          progress=False, resume=True)
    for k, config in enumerate(configs):
        alone = train(config, tmp_path / "alone" / str(k), device="cpu", dataset=dsprites, progress=False, resume=True)
        torch.testing.assert_close(packed[k].model.state_dict(), alone.model.state_dict())
        assert json.loads((tmp_path / "packed" / str(k) / "config.json").read_text())["device"] == "cuda, then cpu"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_a_cpu_run_loads_and_continues_on_the_gpu_and_back(dsprites, tmp_path, capsys):
    """The CPU-trained zoo on a GPU (before: 'RNG state is wrong size'), and a GPU run continued on the CPU."""
    config = TrainConfig("beta_vae", {"beta": 4}, steps=4, batch_size=8, checkpoint_every=2, num_latent=4)
    finished = train(config, tmp_path / "finished", device="cpu", dataset=dsprites, progress=False)
    loaded = train(config, tmp_path / "finished", device="cuda", dataset=dsprites, progress=False, resume=True)
    for name, weight in finished.model.state_dict().items():
        assert torch.equal(weight, loaded.model.state_dict()[name].cpu())
    train(config, tmp_path / "moved", device="cpu", dataset=dsprites, progress=False, until=2)
    train(config, tmp_path / "moved", device="cuda", dataset=dsprites, progress=False, resume=True, until=3)
    train(config, tmp_path / "moved", device="cpu", dataset=dsprites, progress=False, resume=True)
    out = capsys.readouterr().out
    assert "on cuda the run continues from step 2" in out and "on cpu the run continues from step 3" in out
    assert json.loads((tmp_path / "moved" / "config.json").read_text())["device"] == "cpu, then cuda"
    from course_lib.kit.lecture_models import lecture_steps, zoo_configs

    zoo_model = zoo_configs(lecture_steps("lecture"))[0]  # the shipped zoo, trained on a CPU, as notebooks load it
    run = train_or_load(zoo_model, root=tmp_path / "runs", device="cuda", dataset=dsprites, progress=False)
    assert run.step == zoo_model.steps and next(run.model.parameters()).is_cuda
