"""bfloat16 training (`TrainConfig.precision`): the network's forward pass in bfloat16 autocast, the rest float32.

A bfloat16 run is another run than the float32 one (its own slug and checkpoint identity), it resumes exactly, its
terms stay within bfloat16's rounding of the float32 run's, and packs never mix the two.
"""
import dataclasses

import pytest
import torch

from course_lib.device import forward_precision
from course_lib.kit.flags import cli_command
from course_lib.kit.study import plan_identity, study_plan
from course_lib.kit.sweep import Sweep
from course_lib.profiles import get_profile
from course_lib.training import LOG, TrainConfig, checkpoint_identity, load_checkpoint, train, train_packed
from course_lib.training.packed import check_pack, pack_groups

SMALL = dict(steps=4, batch_size=8, checkpoint_every=2, num_latent=4)


def first_terms(run_dir):
    import pandas as pd

    return pd.read_csv(run_dir / LOG).iloc[0]


def test_bfloat16_is_part_of_what_a_run_is_and_float32_names_stay_as_they_were():
    fp32 = TrainConfig("beta_vae", {"beta": 4}, steps=2000)
    bf16 = TrainConfig("beta_vae", {"beta": 4}, steps=2000, precision="bfloat16")
    assert fp32.slug() == "beta_vae-beta4-conv-binary-z10-b64-lr0.0001-steps2000-seed0"  # the zoo's names
    assert bf16.slug() == "beta_vae-beta4-conv-binary-z10-b64-lr0.0001-bf16-steps2000-seed0"
    assert "precision" not in checkpoint_identity(fp32) and '"precision": "bfloat16"' in checkpoint_identity(bf16)
    assert "--precision" not in cli_command(fp32) and "--precision bfloat16" in cli_command(bf16)
    plan = study_plan(get_profile("smoke"), "/tmp/plan", device="cpu")
    bf16_plan = dataclasses.replace(plan, sweep=dataclasses.replace(plan.sweep, precision="bfloat16"))
    assert "precision" not in plan_identity(plan)["sweep"]  # the shipped studies' manifests stay valid
    assert plan_identity(bf16_plan) != plan_identity(plan)


@pytest.mark.parametrize("make", [lambda: TrainConfig(precision="float16").validate(),
                                  lambda: Sweep(precision="half").validate(),
                                  lambda: forward_precision("cpu", "fp16")])
def test_another_precision_is_refused_by_name(make):
    allowed = r"is not allowed; use one of \('float32', 'bfloat16'\)"
    with pytest.raises(ValueError, match=r"precision='(float16|half|fp16)' " + allowed):
        make()


def test_the_layers_compute_in_bfloat16_and_the_outputs_are_float32():
    torch.manual_seed(0)
    model, _ = TrainConfig(**SMALL).build("cpu")
    x = (torch.rand(8, 1, 64, 64) > 0.5).float()
    seen = []
    model.encoder.features[0].register_forward_hook(lambda module, inputs, output: seen.append(output.dtype))
    outputs = {}
    for precision in ("float32", "bfloat16"):
        with forward_precision("cpu", precision):
            outputs[precision] = model(x, torch.Generator().manual_seed(1))
    assert seen == [torch.float32, torch.bfloat16]
    assert all(value.dtype == torch.float32 for out in outputs.values() for value in out.values())
    fp32, bf16 = outputs["float32"]["logits"], outputs["bfloat16"]["logits"]
    assert not torch.equal(fp32, bf16)
    torch.testing.assert_close(bf16, fp32, rtol=0.05, atol=0.05)  # bfloat16 keeps 8 bits of mantissa


def test_a_bfloat16_run_resumes_exactly_and_stays_near_the_float32_run(dsprites, tmp_path):
    config = TrainConfig("beta_vae", {"beta": 4}, precision="bfloat16", **SMALL)
    whole = train(config, tmp_path / "whole", device="cpu", dataset=dsprites, progress=False)
    train(config, tmp_path / "parts", device="cpu", dataset=dsprites, progress=False, until=2)
    resumed = train(config, tmp_path / "parts", device="cpu", dataset=dsprites, progress=False, resume=True)
    for name, weight in whole.model.state_dict().items():
        assert torch.equal(weight, resumed.model.state_dict()[name]), name
    assert load_checkpoint(tmp_path / "whole" / "checkpoint.pt", config)["model"]["encoder.head.weight"].dtype \
        == torch.float32  # the weights and Adam's state stay float32
    fp32 = TrainConfig("beta_vae", {"beta": 4}, **SMALL)
    train(fp32, tmp_path / "fp32", device="cpu", dataset=dsprites, progress=False)
    bf16_terms, fp32_terms = first_terms(tmp_path / "whole"), first_terms(tmp_path / "fp32")
    assert bf16_terms["reconstruction"] != fp32_terms["reconstruction"]  # the loop did compute in bfloat16
    assert bf16_terms["reconstruction"] == pytest.approx(fp32_terms["reconstruction"], rel=0.01)
    assert bf16_terms["kl"] == pytest.approx(fp32_terms["kl"], rel=0.05, abs=0.05)


def test_packs_hold_one_precision_and_a_bfloat16_pack_is_its_separate_runs_to_bfloat16_rounding(dsprites, tmp_path):
    configs = [TrainConfig("beta_vae", {"beta": 4}, seed=0, precision="bfloat16", **SMALL),
               TrainConfig("vae", seed=1, precision="bfloat16", **SMALL)]
    mixed = [*configs, TrainConfig("vae", seed=1, **SMALL)]
    assert [[c.precision for c in group] for group in pack_groups(mixed)] == [["bfloat16"] * 2, ["float32"]]
    with pytest.raises(ValueError, match=r"configs\[2\]\.precision='float32' differs from configs\[0\]\.precision"):
        check_pack(mixed, [tmp_path / name for name in "abc"])
    train_packed(configs, [tmp_path / "p0", tmp_path / "p1"], device="cpu", dataset=dsprites, progress=False)
    for k, config in enumerate(configs):
        train(config, tmp_path / f"s{k}", device="cpu", dataset=dsprites, progress=False)
        packed, alone = first_terms(tmp_path / f"p{k}"), first_terms(tmp_path / f"s{k}")
        assert packed["total"] == pytest.approx(alone["total"], rel=0.01)  # step 1: the same weights and batch


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_a_graphed_bfloat16_run_matches_the_eager_one_and_resumes_exactly(dsprites, tmp_path):
    """Autocast inside a captured CUDA graph: the same kernels as eager bfloat16 steps, and a killed run continues."""
    config = TrainConfig("factor_vae", precision="bfloat16", steps=20, batch_size=16, checkpoint_every=5)
    runs = {choice: train(config, tmp_path / choice, device="cuda", dataset=dsprites, progress=False,
                          cuda_graph=choice) for choice in ("off", "on")}
    first = [runs[choice].log.iloc[0]["total"] for choice in ("off", "on")]
    assert first[0] == pytest.approx(first[1], rel=1e-3)  # step 1: same weights, batch and kernels
    train(config, tmp_path / "parts", device="cuda", dataset=dsprites, progress=False, cuda_graph="on", until=10)
    resumed = train(config, tmp_path / "parts", device="cuda", dataset=dsprites, progress=False, cuda_graph="on",
                    resume=True)
    for a, b in zip(runs["on"].model.state_dict().values(), resumed.model.state_dict().values()):
        assert torch.equal(a, b)


def test_a_float64_model_keeps_float64_outputs():
    torch.manual_seed(0)
    model = TrainConfig(**SMALL).build("cpu")[0].double()
    out = model(torch.rand(2, 1, 64, 64, dtype=torch.float64))
    assert {value.dtype for value in out.values()} == {torch.float64}
