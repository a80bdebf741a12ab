"""The zoo's compared models over seeds (course_lib.kit.seeds): the configurations, the scored table, its shipping,
and notebook 13's choice between it and the study plan's sweep."""
import dataclasses
import json

import pandas as pd
import pytest
import torch

from course_lib.kit import seeds as seeds_module
from course_lib.kit.lecture_models import lecture_steps, zoo_configs
from course_lib.kit.seeds import (SAME_AS_THE_VAE, SEED_COMMAND, SEED_METHODS, every_shipped_seed_result,
                                  export_seed_results, nearest_seed_age, seed_configs, seed_results, seed_rows,
                                  shipped_seed_ages, shipped_seed_results, study_or_seed_results)
from course_lib.kit.study import export_study, study_plan
from course_lib.profiles import PROFILES
from course_lib.training import TrainConfig, train


def test_seed_configs_are_the_zoos_compared_models_and_a_third_tcvae_value_for_every_seed():
    configs = seed_configs(10_000, 3)
    per_seed = [c for c in zoo_configs(10_000, 0) if c.method in SEED_METHODS and c.architecture == "conv"
                and (c.method, c.hyperparameters) != SAME_AS_THE_VAE]
    assert len(per_seed) == 8 and len(configs) == 27  # VAE, beta-VAE x2, FactorVAE, beta-TCVAE, DIP-VAE-I x3; + 1
    assert ("beta_tcvae", {"beta": 6}) in [(c.method, c.hyperparameters) for c in per_seed]
    assert configs[:8] == per_seed  # seed 0: exactly the zoo's entries, which the table installs, not retrains
    tcvae = next(c for c in per_seed if c.method == "beta_tcvae")
    assert configs[8] == dataclasses.replace(tcvae, hyperparameters={"beta": 10})  # trained as the zoo's beta = 6
    assert configs[8].slug() not in {c.slug() for c in zoo_configs(10_000, 0)}
    values = {}
    for config in configs[:9]:
        values.setdefault(config.method, set()).update(config.hyperparameters.values())
    assert values["beta_tcvae"] | {1} == {1, 6, 10} and len(values["dip_vae_i"]) == len(values["beta_vae"] | {1}) == 3
    for seed in (1, 2):
        assert [c.seed for c in configs[9 * seed:9 * (seed + 1)]] == [seed] * 9
        assert [c.slug().replace(f"seed{seed}", "seed0") for c in configs[9 * seed:9 * (seed + 1)]] == \
            [c.slug() for c in configs[:9]]
    with pytest.raises(ValueError, match="num_seeds=0"):
        seed_configs(10_000, 0)


def test_beta_tcvae_at_beta_1_trains_the_plain_vaes_model(tmp_path, dsprites):
    """Why the seed table leaves it out: -ELBO + 0 TC, with no randomness of its own, is the VAE's run."""
    config = TrainConfig("vae", {}, steps=3, batch_size=8, checkpoint_every=3, seed=5)
    tcvae = dataclasses.replace(config, method=SAME_AS_THE_VAE[0], hyperparameters=dict(SAME_AS_THE_VAE[1]))
    models = [train(c, tmp_path / c.method, "cpu", dataset=dsprites, progress=False).model for c in (config, tcvae)]
    first, second = (m.state_dict() for m in models)
    assert first.keys() == second.keys()
    for name in first:
        torch.testing.assert_close(first[name], second[name], rtol=1e-6, atol=1e-7)
    moved = train(dataclasses.replace(tcvae, hyperparameters={"beta": 6}), tmp_path / "beta6", "cpu",
                  dataset=dsprites, progress=False).model.state_dict()
    assert any(not torch.allclose(first[name], moved[name]) for name in first)  # the TC weight does change the run


def test_seed_results_scores_every_seed_and_ships_a_checked_table(tmp_path, monkeypatch):
    monkeypatch.setattr(seeds_module, "zoo_configs",  # two of the compared models, to keep the test short
                        lambda steps, seed: [c for c in zoo_configs(steps, seed) if c.method in ("vae", "factor_vae")])
    monkeypatch.setattr(seeds_module, "BEYOND_THE_ZOO", (("factor_vae", {"gamma": 20}),))
    shipped = tmp_path / "shipped"
    common = dict(steps=4, runs=tmp_path, device="cpu", workers=1, metrics=("mig",), num_train=100, num_test=50,
                  directory=shipped, progress=False)
    out_of_time = seed_results(2, time_limit_minutes=1e-9, **common)  # up before the first job: nothing trains
    assert (out_of_time["status"] == "stopped").all() and len(out_of_time) == 6 and not shipped.exists()
    table = seed_results(2, **common)
    assert sorted(zip(table["method"], table["value"].fillna(0), table["seed"])) == [
        ("factor_vae", 20, 0), ("factor_vae", 20, 1), ("factor_vae", 40, 0), ("factor_vae", 40, 1), ("vae", 0, 0),
        ("vae", 0, 1)]
    assert (table["status"] == "ok").all() and table["mig.score"].between(0, 1).all()
    assert table["rate"].notna().all() and table["tc_mean"].notna().all()  # the unsupervised scores too
    assert table["udr"].between(0, 1).all() and table["udr_spearman"].between(0, 1).all()  # two seeds: UDR defined
    read = shipped_seed_results(steps=4, directory=shipped)
    pd.testing.assert_frame_equal(read, table.drop(columns=["run_dir", "error"]).reset_index(drop=True),
                                  check_dtype=False)
    assert shipped_seed_results(steps=8, directory=shipped) is None  # nothing shipped at that age
    manifest = json.loads((shipped / "seeds-4.json").read_text())
    assert manifest["command"] == f"{SEED_COMMAND} 2 --steps 4"
    assert manifest["configurations"] == [c.slug() for c in seed_configs(4, 1)] and len(manifest["configurations"]) == 3
    assert manifest["age"] == "4 steps of training, younger than the study's 300,000 (Locatello et al., 2019): " \
        "why this age, and what it shows: README.md, 'Seeds as results'"
    csv = shipped / "seeds-4.csv"
    csv.write_text(csv.read_text().replace("factor_vae", "beta_vae", 1))
    with pytest.raises(ValueError, match="damaged"):
        shipped_seed_results(steps=4, directory=shipped)
    failed = table.assign(status=["ok", "failed", "ok", "ok", "ok", "ok"])
    with pytest.raises(ValueError, match="did not finish"):
        export_seed_results(failed, seeds_module.Sweep(steps=4, out=str(tmp_path)), tmp_path / "other")
    assert not (tmp_path / "other").exists()


def _study_rows(methods, seeds, steps):
    rows = [{"method": m, "hyperparameter": "beta", "value": v, "seed": s, "steps": steps, "width": 1, "status": "ok",
             "mig.score": 0.1 * v + 0.01 * s, "udr": 0.5, "udr_spearman": 0.5, "run_dir": f"/machine/{m}{v}-{s}"}
            for m in methods for v in (1, 4) for s in seeds]
    return pd.DataFrame(rows)


def test_notebook_13_reads_the_seed_table_only_where_it_is_shipped_and_the_plan_is_loaded(tmp_path):
    profile = PROFILES["smoke"]
    plan = study_plan(profile, tmp_path / "runs", first_seed=0)
    study_dir, seeds_dir = tmp_path / "study", tmp_path / "seeds"
    main = _study_rows(["beta_vae"], (0, 1), plan.sweep.steps)
    export_study(plan, profile, main, main.head(2), directory=study_dir)
    with pytest.raises(ValueError, match="source=.zoo_seeds. needs a seed table"):
        study_or_seed_results(plan, profile, source="zoo_seeds", directory=seeds_dir, study_directory=study_dir)
    with pytest.raises(ValueError, match="source='zoo' is not allowed"):
        study_or_seed_results(plan, profile, source="zoo", directory=seeds_dir, study_directory=study_dir)
    results, scale, note = study_or_seed_results(plan, profile, directory=seeds_dir, study_directory=study_dir)
    assert len(results) == 4 and "shipped smoke study" in note  # auto, no seed table: the plan's

    zoo_age = lecture_steps("lecture")
    table = _study_rows(["beta_vae", "dip_vae_i"], range(5), zoo_age)
    export_seed_results(table, seeds_module.Sweep(steps=zoo_age, seeds=tuple(range(5)), out=str(tmp_path)), seeds_dir)
    results, scale, note = study_or_seed_results(plan, profile, directory=seeds_dir, study_directory=study_dir)
    assert len(results) == 20 and sorted(results["seed"].unique()) == [0, 1, 2, 3, 4] and len(scale) == 2
    assert f"20 models (4 settings x 5 seeds, {zoo_age:,} steps)" in note
    assert f"zoo --seed-results 5 --steps {zoo_age}`" in note  # the command that remakes it, at any zoo age
    assert "run_dir" not in results  # shipped without the machine's columns
    plans = study_or_seed_results(plan, profile, source="plan", directory=seeds_dir, study_directory=study_dir)[0]
    pd.testing.assert_frame_equal(plans, main.drop(columns="run_dir"), check_dtype=False)
    older = _study_rows(["beta_vae"], range(3), 3 * zoo_age)  # older models than the zoo's: the notebook reads them
    export_seed_results(older, seeds_module.Sweep(steps=3 * zoo_age, seeds=(0, 1, 2), out=str(tmp_path)), seeds_dir)
    assert shipped_seed_ages(seeds_dir) == [zoo_age, 3 * zoo_age]
    note = study_or_seed_results(plan, profile, directory=seeds_dir, study_directory=study_dir)[2]
    assert f"6 models (2 settings x 3 seeds, {3 * zoo_age:,} steps)" in note


def test_seed_rows_are_one_configurations_seeds_of_the_shipped_table(tmp_path):
    configs = seed_configs(8, 3)
    rows = [{"method": c.method, "hyperparameter": next(iter(c.hyperparameters), None),
             "value": next(iter(c.hyperparameters.values()), None), "seed": c.seed, "steps": 8, "status": "ok",
             "mig.score": 0.01 * c.seed} for c in configs]
    assert seed_rows(configs[1], tmp_path) is None  # nothing shipped
    export_seed_results(pd.DataFrame(rows), seeds_module.Sweep(steps=8, seeds=(0, 1, 2), out=str(tmp_path)), tmp_path)
    beta4 = seed_rows(dataclasses.replace(configs[1], seed=7), tmp_path)  # any seed of it: all its seeds
    assert configs[1].hyperparameters == {"beta": 4}
    assert list(beta4["method"]) == ["beta_vae"] * 3 and list(beta4["value"]) == [4] * 3
    assert list(beta4["seed"]) == [0, 1, 2] and list(beta4["mig.score"]) == pytest.approx([0.0, 0.01, 0.02])
    vae = seed_rows(configs[0], tmp_path)
    assert list(vae["method"]) == ["vae"] * 3 and vae["value"].isna().all()
    assert seed_rows(dataclasses.replace(configs[1], hyperparameters={"beta": 8}), tmp_path) is None  # not in it
    older = seed_rows(dataclasses.replace(configs[1], steps=16), tmp_path)  # older models: the nearest table's seeds
    assert list(older["steps"]) == [8] * 3 and list(older["seed"]) == [0, 1, 2]
    assert seed_rows(dataclasses.replace(configs[1], architecture="mlp"), tmp_path) is None


def test_the_nearest_seed_table_is_the_models_own_age_else_the_closest(tmp_path):
    assert nearest_seed_age(100, tmp_path) is None and every_shipped_seed_result(tmp_path) is None  # nothing shipped
    for age in (60, 10, 20):
        export_seed_results(pd.DataFrame([{"status": "ok", "steps": age}]),
                            seeds_module.Sweep(steps=age, seeds=(0,), out="x"), tmp_path)
    assert list(every_shipped_seed_result(tmp_path)["steps"]) == [10, 20, 60]  # every age, youngest first
    assert [nearest_seed_age(steps, tmp_path) for steps in (1, 10, 14, 15, 16, 20, 39, 40, 41, 100_000)] == [
        10, 10, 10, 20, 20, 20, 20, 60, 60, 60]  # 15 and 40 lie halfway: the older table
    with pytest.raises(ValueError, match="steps"):
        nearest_seed_age(0, tmp_path)


def test_the_shipped_seed_table_is_the_zoos_compared_models_over_five_seeds(tmp_path):
    """What notebook 13 (sweep_source auto) reads at `lecture`, and notebook 08 and the report where it is the table
    nearest to their models' age: every seed of every configuration, scored, with UDR among each one's seeds."""
    assert shipped_seed_ages(), "data/pretrained/seeds holds no table: run zoo --seed-results 5"
    age = max(shipped_seed_ages())
    table = shipped_seed_results(age)
    expected = {(c.method, next(iter(c.hyperparameters.values()), None), c.seed) for c in seed_configs(age, 5)}
    found = {(m, None if pd.isna(v) else v, s) for m, v, s in zip(table["method"], table["value"], table["seed"])}
    assert len(table) == 45 and found == expected
    assert (table["status"] == "ok").all() and (table["steps"] == age).all()
    assert json.loads((seeds_module.SEEDS_DIR / f"seeds-{age}.json").read_text())["age"].startswith(f"{age:,} steps")
    assert table["mig.score"].between(0, 1).all() and table["udr"].between(0, 1).all()
    assert table["udr_spearman"].between(0, 1).all()
    lecture = PROFILES["lecture"]
    results, _, note = study_or_seed_results(study_plan(lecture, tmp_path / "runs", first_seed=0), lecture)
    assert len(results) == 45 and "seed table" in note  # notebook 13 at `lecture` reads it


def test_the_cli_passes_the_seed_tables_steps_and_refuses_them_alone(monkeypatch, tmp_path, capsys):
    from course_lib.kit.cli import main

    calls = []
    monkeypatch.setattr(seeds_module, "seed_results", lambda num_seeds, **kwargs: calls.append((num_seeds, kwargs)) or
                        pd.DataFrame({"seed": range(num_seeds), "status": "ok"}))
    assert main(["zoo", "--seed-results", "3", "--steps", "20000", "--runs", str(tmp_path), "--device", "cpu",
                 "--time-limit", "9"]) == 0
    assert calls == [(3, {"steps": 20000, "runs": str(tmp_path), "device": "cpu", "workers": None,
                          "time_limit_minutes": 9.0})]
    monkeypatch.setattr("course_lib.kit.grow.grow", lambda *args, **kwargs: calls.append("grow") or [])
    assert main(["zoo", "--grow", "100", "--steps", "20000"]) == 2 and calls[1:] == []  # refused before growing
    assert "--steps 20000 is not allowed without --seed-results" in capsys.readouterr().err
