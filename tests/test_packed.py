"""Packed multi-model training: K packed models are K separate runs, and their folders are ordinary runs."""
import dataclasses
import json
import shutil

import pytest
import torch

import course_lib.training.packed as packed_module
from course_lib.data.torch_sampler import GridBatchSampler
from course_lib.objectives.beta_vae import BetaVAE
from course_lib.training import (CHECKPOINT, CONFIG, LOG, SUMMARY, NonFiniteLossError, TrainConfig, load_run, stopping,
                                 train, train_packed)
from course_lib.training.packed import PackedVAE, pack_groups, pack_state_dicts, unpack_state_dict

SMALL = dict(steps=6, batch_size=8, checkpoint_every=2, num_latent=4)


def trio(architecture, third="vae"):
    """Two seeds of beta-VAE (other betas, other learning rates) and a third method, as one pack."""
    return [TrainConfig("beta_vae", {"beta": 4}, seed=0, architecture=architecture, **SMALL),
            TrainConfig("beta_vae", {"beta": 8}, seed=1, lr=3e-4, architecture=architecture, **SMALL),
            TrainConfig(third, seed=2, architecture=architecture, **SMALL)]


def built(configs):
    models = []
    for config in configs:
        torch.manual_seed(config.seed)
        models.append(config.build("cpu")[0])
    return models


def assert_adam_weights_close(a: dict, b: dict, max_move: float):
    """Two state dicts of weights trained by Adam from the same start, with sums taken in another order (one batched
    matmul against one per model): equal to float32 tolerance, except where Adam's step m / (sqrt(v) + eps) is
    ill-conditioned. A gradient that is a sum cancelling to within rounding of 0 can take either sign, and there the
    step, about lr either way, amplifies a difference in the last bit to one of up to 2 lr: measured once in a few
    dozen runs, 1 element of 65,536 off by 7.7e-5 (lr 1e-4). Such elements must be rare and within `max_move`
    (2 lr x steps); a real difference (a wrong learning rate, a batch of another model) moves most of them."""
    assert a.keys() == b.keys()
    for name in a:
        x, y = a[name], b[name]
        if not x.is_floating_point():
            torch.testing.assert_close(x, y, rtol=0, atol=0)
            continue
        off = ~torch.isclose(x, y, rtol=1.3e-6, atol=1e-5)  # assert_close's float32 tolerance
        assert off.sum() <= max(1, x.numel() // 10_000), f"{name}: {int(off.sum())} of {x.numel()} elements differ"
        assert (x - y).abs().max() <= max_move, f"{name}: a weight moved {(x - y).abs().max():.3g} > {max_move:.3g}"


def assert_same_run(first, second, exact: bool):
    """Two run folders hold the same run: weights, optimiser and generator states, log, config. Not `exact`: the
    same to float tolerance (`assert_adam_weights_close` for the weights)."""
    a, b = (torch.load(run / CHECKPOINT, map_location="cpu", weights_only=True) for run in (first, second))
    compare = torch.testing.assert_close if not exact else lambda x, y: torch.testing.assert_close(x, y, rtol=0, atol=0)
    assert a["step"] == b["step"] and a["identity"] == b["identity"]
    config = json.loads((first / CONFIG).read_text())["config"]
    for part in ("model", "objective"):  # the objective's: FactorVAE's discriminator
        if exact:
            compare(a[part], b[part])
        else:
            assert_adam_weights_close(a[part], b[part], max_move=2 * config["lr"] * a["step"])
    compare(a["optimizers"], b["optimizers"])  # Adam's step, exp_avg, exp_avg_sq and hyperparameters
    assert torch.equal(a["rng"]["sampler"]["generator"], b["rng"]["sampler"]["generator"])  # the same draws
    assert torch.equal(a["rng"]["torch_cpu"], b["rng"]["torch_cpu"])
    if exact:
        assert (first / LOG).read_text() == (second / LOG).read_text()
    else:
        import pandas as pd

        pd.testing.assert_frame_equal(pd.read_csv(first / LOG), pd.read_csv(second / LOG), rtol=1e-4, atol=1e-6)
    assert json.loads((first / CONFIG).read_text()) == json.loads((second / CONFIG).read_text())


# ------------------------------------------------------------------------------ the packed network
@pytest.mark.parametrize("architecture", ["conv", "mlp"])
def test_pack_and_unpack_are_an_exact_round_trip(architecture):
    models = built(trio(architecture))
    states = [model.state_dict() for model in models]
    packed = pack_state_dicts(models[0], states)
    if architecture == "conv":
        assert packed["encoder.features.0.weight"].shape == (3 * 32, 1, 4, 4)  # groups=3, one block per model
        assert packed["decoder.net.5.weight"].shape == (3 * 64, 64, 4, 4)  # transposed: (in, out / groups, ...)
    assert packed["encoder.head.weight"].shape == (3, 8, 256)  # (K, out, in) for a batched matmul
    for model, state, unpacked in zip(models, states, unpack_state_dict(models[0], packed, 3)):
        assert list(unpacked) == list(state)
        for key in state:
            assert torch.equal(unpacked[key], state[key])
            assert unpacked[key].untyped_storage().nbytes() == state[key].untyped_storage().nbytes()  # own storage
        model.load_state_dict(unpacked)  # strict: loads into the ordinary model


@pytest.mark.parametrize("architecture", ["conv", "mlp"])
def test_a_packed_forward_and_gradient_equal_separate_ones(architecture, dsprites):
    models = built(trio(architecture))
    batches = [GridBatchSampler(dsprites, "cpu", seed).sample(8) for seed in (3, 4, 5)]
    alone = [model(x, torch.Generator().manual_seed(10 + k)) for k, (model, x) in enumerate(zip(models, batches))]
    packed = PackedVAE(models)
    out = packed(torch.cat(batches, dim=1), [torch.Generator().manual_seed(10 + k) for k in range(3)])
    for k, separate in enumerate(alone):
        torch.testing.assert_close(packed.member_output(out, k), separate)
    # the gradient of the summed losses reaches each model as the gradient of its own loss
    losses = [(o["logits"] ** 2).mean() * (k + 1) for k, o in enumerate(alone)]
    expected = [torch.autograd.grad(loss, list(model.parameters())) for loss, model in zip(losses, models)]
    sum((packed.member_output(out, k)["logits"] ** 2).mean() * (k + 1) for k in range(3)).backward()
    for model, gradients in zip(models, expected):
        torch.testing.assert_close([p.grad for p in model.parameters()], list(gradients))


def test_models_of_different_architectures_do_not_pack():
    with pytest.raises(ValueError, match=r"models\[1\] differs from models\[0\]"):
        PackedVAE(built([TrainConfig(num_latent=4), TrainConfig(num_latent=5)]))


# ------------------------------------------------------------------------------ packed training
ON_CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.mark.parametrize("architecture, third, device", [
    ("mlp", "vae", "cpu"), ("conv", "vae", "cpu"),
    pytest.param("conv", "factor_vae", "cuda", marks=ON_CUDA),  # CUDA generators: batches, eps, the permutation
])
def test_packed_runs_equal_separately_trained_runs(architecture, third, device, dsprites, tmp_path):
    configs = trio(architecture, third=third)
    for k, config in enumerate(configs):
        train(config, tmp_path / f"alone{k}", device=device, dataset=dsprites, progress=False)
    runs = train_packed(configs, [tmp_path / f"packed{k}" for k in range(3)], device=device, dataset=dsprites,
                        progress=False)
    for k, run in enumerate(runs):
        assert_same_run(tmp_path / f"alone{k}", run.directory, exact=False)
        summary = json.loads((run.directory / SUMMARY).read_text())
        assert summary["steps"] == 6 and summary["pack_size"] == 3 and summary["last_terms"]["total"] > 0
        loaded = load_run(run.directory, device=device)
        assert loaded.step == 6 and loaded.config == configs[k]
        torch.testing.assert_close(loaded.model.state_dict(), run.model.state_dict(), rtol=0, atol=0)


def test_the_float_tolerance_of_packed_runs_still_tells_another_run_apart(dsprites, tmp_path):
    """`assert_adam_weights_close` forgives a rare weight that Adam moved the other way, not another run: the same
    model from the same start trained at another learning rate is refused."""
    config = TrainConfig("beta_vae", {"beta": 4}, architecture="mlp", **SMALL)
    runs = {name: train(changed, tmp_path / name, device="cpu", dataset=dsprites, progress=False).model.state_dict()
            for name, changed in (("run", config), ("again", config), ("lr", dataclasses.replace(config, lr=2e-4)))}
    assert_adam_weights_close(runs["run"], runs["again"], max_move=2 * config.lr * config.steps)
    with pytest.raises(AssertionError, match="elements differ"):
        assert_adam_weights_close(runs["run"], runs["lr"], max_move=2 * config.lr * config.steps)


class Killed(Exception):
    pass


def kill_at_call(monkeypatch, owner, name, call):
    """Make owner.name raise Killed at its `call`-th call (1-based)."""
    original, calls = getattr(owner, name), {"n": 0}

    def dies(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == call:
            raise Killed
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, dies)


def test_a_killed_pack_resumes_packed_or_alone_as_if_never_killed(dsprites, tmp_path, monkeypatch):
    configs = trio("mlp", third="factor_vae")  # a discriminator, its optimiser and its permutation draws
    folders = [tmp_path / f"killed{k}" for k in range(3)]
    whole = train_packed(configs, [tmp_path / f"whole{k}" for k in range(3)], device="cpu", dataset=dsprites,
                         progress=False)
    kill_at_call(monkeypatch, GridBatchSampler, "sample", 3 * 4 + 1)  # three batches a step: dies in step 5
    with pytest.raises(Killed):
        train_packed(configs, folders, device="cpu", dataset=dsprites, progress=False)
    monkeypatch.undo()
    assert all(torch.load(f / CHECKPOINT, weights_only=True)["step"] == 4 for f in folders)
    shutil.copytree(folders[2], tmp_path / "alone2")

    train_packed(configs, folders, device="cpu", dataset=dsprites, resume=True, progress=False)
    for run, folder in zip(whole, folders):
        assert_same_run(run.directory, folder, exact=True)

    # one run of the killed pack, resumed by the ordinary loop: its own Adam and generator continue
    train(configs[2], tmp_path / "alone2", device="cpu", dataset=dsprites, resume=True, progress=False)
    train(configs[2], tmp_path / "separate2", device="cpu", dataset=dsprites, progress=False)
    assert_same_run(tmp_path / "separate2", tmp_path / "alone2", exact=False)


def test_a_pack_stopped_at_its_deadline_resumes_as_if_never_stopped(dsprites, tmp_path, monkeypatch):
    configs = trio("mlp")
    folders = [tmp_path / f"stopped{k}" for k in range(3)]
    whole = train_packed(configs, [tmp_path / f"whole{k}" for k in range(3)], device="cpu", dataset=dsprites,
                         progress=False)
    calls = {"n": 0}

    def after_three_steps(deadline):
        calls["n"] += 1
        return deadline is not None and calls["n"] >= 3

    monkeypatch.setattr(stopping, "past", after_three_steps)
    runs = train_packed(configs, folders, device="cpu", dataset=dsprites, progress=False, deadline=1e12)
    monkeypatch.undo()
    assert [run.step for run in runs] == [3, 3, 3]  # step 3 is no checkpoint step: saved for the deadline
    assert all(torch.load(f / CHECKPOINT, weights_only=True)["step"] == 3 for f in folders)
    train_packed(configs, folders, device="cpu", dataset=dsprites, resume=True, progress=False)
    for run, folder in zip(whole, folders):
        assert_same_run(run.directory, folder, exact=True)


def test_runs_left_behind_by_a_kill_between_checkpoints_catch_up(dsprites, tmp_path, monkeypatch):
    configs = trio("mlp")
    folders = [tmp_path / f"killed{k}" for k in range(3)]
    whole = train_packed(configs, [tmp_path / f"whole{k}" for k in range(3)], device="cpu", dataset=dsprites,
                         progress=False)
    kill_at_call(monkeypatch, packed_module, "save_checkpoint", 3 + 2)  # step 4: run 0 saved, run 1 not
    with pytest.raises(Killed):
        train_packed(configs, folders, device="cpu", dataset=dsprites, progress=False)
    monkeypatch.undo()
    assert [torch.load(f / CHECKPOINT, weights_only=True)["step"] for f in folders] == [4, 2, 2]
    train_packed(configs, folders, device="cpu", dataset=dsprites, resume=True, progress=False)
    for run, folder in zip(whole, folders):
        assert_same_run(run.directory, folder, exact=False)
        assert [int(row.split(",")[0]) for row in (folder / LOG).read_text().splitlines()[1:]] == list(range(1, 7))


def test_a_run_that_diverges_leaves_the_pack_and_the_others_finish(dsprites, tmp_path, monkeypatch):
    original = BetaVAE.regulariser

    def poisoned(self, x, out, step, terms):
        result = original(self, x, out, step, terms)
        return {**result, "total": result["total"] * (float("nan") if self.beta == 8 and step == 3 else 1.0)}

    monkeypatch.setattr(BetaVAE, "regulariser", poisoned)
    configs, folders = trio("mlp"), [tmp_path / f"run{k}" for k in range(3)]
    with pytest.raises(NonFiniteLossError, match=r"1 of 3 packed runs stopped.*run1.*'total' is nan at step 3"):
        train_packed(configs, folders, device="cpu", dataset=dsprites, progress=False)
    steps = [torch.load(f / CHECKPOINT, weights_only=True)["step"] for f in folders]
    assert steps == [6, 2, 6] and not (folders[1] / SUMMARY).exists()
    monkeypatch.undo()
    train(configs[2], tmp_path / "alone2", device="cpu", dataset=dsprites, progress=False)
    assert_same_run(tmp_path / "alone2", folders[2], exact=False)  # the NaN never reached another model


@pytest.mark.parametrize("change, message", [
    ({"batch_size": 4}, r"configs\[1\].batch_size=4 differs from configs\[0\].batch_size=8"),
    ({"architecture": "conv"}, r"configs\[1\].architecture='conv' differs"),
    ({"num_latent": 3}, r"configs\[1\].num_latent=3 differs"),
    ({"steps": 8}, r"configs\[1\].steps=8 differs"),
    ({"checkpoint_every": 3}, r"configs\[1\].checkpoint_every=3 differs"),
    ({"variant": "color"}, r"configs\[1\].variant='color' differs"),
    ({"lr": -1.0}, r"lr=-1.0 is not allowed"),
])
def test_configurations_that_cannot_pack_are_refused_before_any_work(change, message, tmp_path):
    first = TrainConfig(architecture="mlp", **SMALL)
    second = TrainConfig(**{**first.__dict__, "seed": 1, **change})
    with pytest.raises(ValueError, match=message):
        train_packed([first, second], [tmp_path / "a", tmp_path / "b"], device="cpu", progress=False)
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("configs, folders, message", [
    ([], [], r"configs=\[\] is not allowed"),
    ([TrainConfig()], ["a", "b"], r"out_dirs=.* one folder per configuration \(1\)"),
    ([TrainConfig(), TrainConfig(seed=1)], ["a", "a"], r"out_dirs\[1\]='.*a' is also out_dirs\[0\]"),
    ([TrainConfig()], [" "], r"out_dirs\[0\]=' ' is not allowed"),
])
def test_bad_packs_are_refused_with_the_parameter_named(configs, folders, message, tmp_path):
    with pytest.raises(ValueError, match=message):
        train_packed(configs, [str(tmp_path / f) if f.strip() else f for f in folders], device="cpu", progress=False)
    assert not any(tmp_path.iterdir())


def test_a_pack_that_cannot_fit_in_memory_is_refused_before_any_folder_exists(tmp_path, dsprites, monkeypatch):
    monkeypatch.setattr("course_lib.device.available_bytes", lambda device: 2**20)  # 1 MiB
    with pytest.raises(ValueError, match=r"batch_size=8 needs about .* GiB on cpu for 3 models"):
        train_packed(trio("mlp"), [tmp_path / str(k) for k in range(3)], device="cpu", dataset=dsprites,
                     progress=False)
    assert not tmp_path.joinpath("0").exists()


def test_pack_groups_keep_one_network_and_one_capture_per_group():
    conv = ([TrainConfig("beta_vae", {"beta": b}, steps=10) for b in (1, 4, 16)]
            + [TrainConfig("factor_vae", {"gamma": 40}, steps=10)])
    topdis = TrainConfig("topdis", {"base": "beta_vae", "beta": 4, "gamma": 5, "delay": 5}, steps=10)
    mlp = TrainConfig("vae", {}, steps=10, architecture="mlp", num_latent=2)
    longer = TrainConfig("beta_vae", {"beta": 2}, steps=20)
    configs = [conv[0], topdis, conv[1], mlp, conv[2], longer, conv[3]]
    # TopDis shares the conv network but not the CUDA graph (it trains eagerly): a pack of its own
    assert pack_groups(configs) == [conv, [topdis], [mlp], [longer]]
    assert pack_groups(configs, size=3) == [conv[:3], conv[3:], [topdis], [mlp], [longer]]
    for bad in (0, -2, 1.5):
        with pytest.raises(ValueError, match="size="):
            pack_groups(configs, size=bad)
