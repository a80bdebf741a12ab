"""Sweep analyses on constructed results tables whose answers are known."""
import itertools

import numpy as np
import pandas as pd
import pytest

from course_lib.analysis.sweep_results import (hyperparameter_transfer, metric_correlation, score_agreement,
                                               seed_spread, setting_overlaps, tc_by_regularisation, tc_trend,
                                               variance_explained)

METHODS = {"beta_vae": 0.2, "factor_vae": 0.5, "dip_vae_i": 0.8}


def results(seed_noise=0.0, value_effect=0.0, method_effect=1.0, seed=0):
    """A row per (method, value, seed): mig = method_effect * m + value_effect * v + seed_noise * noise."""
    rng = np.random.RandomState(seed)
    rows = []
    for (method, level), value, s in itertools.product(METHODS.items(), (1, 2, 4), (0, 1, 2)):
        rows.append({"method": method, "value": value, "seed": s, "status": "ok",
                     "mig.score": method_effect * level + value_effect * value + seed_noise * rng.randn(),
                     "elbo": -100 + 10 * level, "tc_mean": value * level, "tc_sampled": 0.1 * value})
    rows.append({"method": "vae", "value": None, "seed": 0, "status": "failed"})  # ignored
    return pd.DataFrame(rows)


def test_variance_explained_separates_objective_hyperparameter_and_seed():
    by_method = variance_explained(results(), ["mig.score"]).loc["MIG"]
    assert (by_method["objective"] == pytest.approx(1.0)
            and by_method["objective x hyperparameter"] == pytest.approx(1.0))
    by_value = variance_explained(results(method_effect=0.0, value_effect=1.0), ["mig.score"]).loc["MIG"]
    assert by_value["objective"] == pytest.approx(0.0) and by_value["objective x hyperparameter"] == pytest.approx(1.0)
    by_seed = variance_explained(results(method_effect=0.0, seed_noise=1.0), ["mig.score"]).loc["MIG"]
    assert by_seed["objective"] < 0.3 and by_seed["objective x hyperparameter"] < 0.7


def test_seed_spread_is_zero_without_seed_noise_and_reads_each_settings_seeds():
    exact = seed_spread(results(value_effect=1.0))
    assert len(exact) == 9 and (exact["seeds"] == 3).all() and (exact["range"] == 0).all()
    assert exact.loc[("factor_vae", 4), "median"] == pytest.approx(0.5 + 4)
    table = with_vae(results())  # the VAE's tc_mean over seeds 0, 1, 2: 0.5, 0.6, 0.7
    vae = seed_spread(table, "tc_mean").loc[("vae", 0)]
    assert list(vae) == pytest.approx([3, 0.5, 0.6, 0.7, 0.2])
    with pytest.raises(ValueError, match="'udr'"):
        seed_spread(table, "udr")


def test_setting_overlaps_finds_the_pairs_where_a_worse_setting_has_a_better_seed():
    table = pd.DataFrame([{"method": m, "value": v, "seed": s, "status": "ok", "mig.score": x}
                          for m, v, scores in (("a", 1, (0.50, 0.60, 0.70)), ("b", 1, (0.10, 0.20, 0.55)),
                                               ("c", 2, (0.00, 0.05, 0.08)))
                          for s, x in enumerate(scores)])
    pairs = setting_overlaps(table).set_index(["higher", "lower"])
    assert len(pairs) == 3  # ordered by median: a (0.6), b (0.2), c (0.05)
    assert pairs.loc[(("a", 1), ("b", 1)), "overlap"]  # b's best 0.55 beats a's worst 0.50
    assert pairs.loc[(("a", 1), ("b", 1)), "gap"] == pytest.approx(0.4)
    assert not pairs.loc[(("b", 1), ("c", 2)), "overlap"] and not pairs.loc[(("a", 1), ("c", 2)), "overlap"]
    exact = setting_overlaps(results(value_effect=1.0))  # no seed noise: no pair overlaps
    assert len(exact) == 36 and not exact["overlap"].any() and (exact["gap"] > 0).all()


def test_tc_by_regularisation_and_score_agreement():
    tc = tc_by_regularisation(results())
    assert len(tc) == 9 and tc.set_index(["method", "value"]).loc[("factor_vae", 4), "tc_mean"] == pytest.approx(2.0)
    agreement = score_agreement(results(), unsupervised=["elbo"], supervised=["mig.score"])
    assert agreement.loc["elbo", "MIG"] == pytest.approx(1.0)  # elbo and MIG both follow the method
    assert metric_correlation(results(), ["mig.score", "elbo"]).loc["MIG", "elbo"] == pytest.approx(1.0)


def with_vae(table, tc_mean=0.5, tc_sampled=0.05):
    vae = [{"method": "vae", "value": None, "seed": s, "status": "ok", "tc_mean": tc_mean + 0.1 * s,
            "tc_sampled": tc_sampled, "mig.score": 0.0, "elbo": -90.0} for s in (0, 1, 2)]
    return pd.concat([table, pd.DataFrame(vae)], ignore_index=True)


def test_tc_trend_runs_from_the_plain_vae_where_the_table_has_it():
    alone = tc_trend(results()).set_index("method")  # tc_mean = value x level, tc_sampled = 0.1 value
    assert list(alone.index) == sorted(METHODS) and (alone["start"] == "1").all() and (alone["end"] == 4).all()
    assert alone.loc["factor_vae", "tc_mean_start"] == pytest.approx(0.5)
    assert alone.loc["factor_vae", "tc_mean_end"] == pytest.approx(2.0)
    assert alone.loc["dip_vae_i", "tc_sampled_end"] == pytest.approx(0.4)
    trend = tc_trend(with_vae(results())).set_index("method")
    assert "vae" not in trend.index and (trend["start"] == "VAE").all()
    np.testing.assert_allclose(trend["tc_mean_start"], 0.6)  # the VAE's median over its three seeds
    np.testing.assert_allclose(trend["tc_sampled_start"], 0.05)
    assert trend.loc["factor_vae", "tc_mean_end"] == pytest.approx(2.0)


def test_hyperparameter_transfer_is_perfect_without_seed_noise_and_not_with_it():
    exact = hyperparameter_transfer(results(value_effect=1.0), "mig.score")
    assert (exact["agreement"] == 1.0).all() and (exact["regret"] == 0.0).all()
    assert (exact["random_regret"] > 0).all() and (exact["num_seed_pairs"] == 6).all()
    noisy = hyperparameter_transfer(results(value_effect=0.0, seed_noise=1.0, seed=3), "mig.score")
    assert noisy["agreement"].mean() < 1.0 and (noisy["regret"] > 0).any()


def test_bad_columns_and_empty_tables():
    with pytest.raises(ValueError, match="not in the results table"):
        variance_explained(results(), ["dci.disentanglement"])
    with pytest.raises(ValueError, match="no finished model"):
        tc_by_regularisation(results().assign(status="failed"))


# --- notebook 13: the plan, UDR over seeds, chance levels, scale, figures -------------------------------------

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from course_lib.data import FactorGrid  # noqa: E402
from course_lib.analysis.sweep_results import age_change, scale_results, udr_by_group, variance_chance  # noqa: E402
from course_lib.kit.study import DESIGNS, StudyPlan, add_udr, run_study, spread_values, study_plan  # noqa: E402
from course_lib.lab.study_plots import (plot_ages, plot_by_method, plot_scale, plot_scores_against,  # noqa: E402
                                        plot_tc_by_regularisation, plot_variance_explained)
from course_lib.metrics.scores import column_label, downstream_columns  # noqa: E402
from course_lib.kit.sweep import Sweep
from course_lib.metrics.udr import udr  # noqa: E402
from course_lib.profiles import PROFILES  # noqa: E402

GRID_METRICS = {"beta_vae", "factor_vae"}  # the two scores that encode all 737,280 images per model


def test_spread_values_keeps_both_ends_and_spreads_evenly():
    assert spread_values("beta_vae", 2) == (1, 16)
    assert spread_values("beta_vae", 3) == (1, 4, 16)
    assert spread_values("factor_vae", 6) == (10, 20, 30, 40, 50, 100)
    assert spread_values("dip_vae_i", 1) == (10,)
    with pytest.raises(ValueError, match="num=7"):
        spread_values("beta_vae", 7)
    with pytest.raises(ValueError, match="method='vae'"):
        spread_values("vae", 2)


def test_study_plan_sizes_follow_the_profile(tmp_path):
    smoke, lecture, full = (study_plan(PROFILES[name], tmp_path / name, device="cpu", first_seed=3)
                            for name in ("smoke", "lecture", "full"))
    for plan, profile in ((smoke, "smoke"), (lecture, "lecture"), (full, "full")):
        jobs = plan.sweep.configs()
        assert {c.seed for c in jobs} == set(range(3, 3 + DESIGNS[profile].num_seeds))
        assert all(len(plan.sweep.values_of(m)) == PROFILES[profile].num_sweep_values for m in plan.sweep.methods)
        assert plan.scale_value in plan.sweep.values_of("beta_vae")  # its longest width-1 run is the main sweep's
        outs = {s.out for s in plan.scale_sweeps}
        assert len(outs) == len(plan.scale_sweeps) and plan.sweep.out not in outs
        assert all(s.steps < plan.sweep.steps and s.methods == ("beta_vae",) for s in plan.scale_sweeps)
        assert {s.width for s in plan.scale_sweeps} == set(DESIGNS[profile].widths)
    smoke_jobs = len(smoke.sweep.configs()) + sum(len(s.configs()) for s in smoke.scale_sweeps)
    assert smoke_jobs <= 12 and smoke.sweep.steps == 20 and smoke.sweep.num_train <= 500
    for plan in (smoke, lecture):  # on a CPU: no metric that encodes the whole grid
        assert not GRID_METRICS & set(plan.sweep.metrics) and "downstream" in plan.sweep.metrics
    assert lecture.sweep.steps <= 2000 and len(lecture.sweep.configs()) <= 24
    assert set(full.sweep.methods) == {"beta_vae", "annealed_vae", "factor_vae", "dip_vae_i", "dip_vae_ii",
                                       "beta_tcvae"}
    assert len(full.sweep.configs()) == 6 * 6 * 5 and full.sweep.steps == 300_000
    assert GRID_METRICS <= set(full.sweep.metrics) and full.sweep.num_train == 10_000
    with pytest.raises(ValueError, match="profile='lecture'"):
        study_plan("lecture", tmp_path)


def test_on_gpus_a_study_trains_packed_one_pack_per_gpu_and_is_the_same_study(tmp_path, monkeypatch):
    """The study's models train packed on CUDA (K = jobs / GPUs: one small model leaves a GPU waiting on kernel
    launches), one by one on a CPU; packing changes how they train, not which study it is, so a GPU finds the
    shipped lecture study too."""
    from course_lib.kit.study import plan_identity, shipped_study
    from course_lib.kit.sweep import default_pack

    cpu = study_plan(PROFILES["full"], tmp_path / "runs", device="cpu")
    assert default_pack(180, "cpu") == 1 and cpu.sweep.pack == 1 and {s.pack for s in cpu.scale_sweeps} == {1}
    monkeypatch.setattr("torch.cuda.is_available", lambda: True)
    monkeypatch.setattr("torch.cuda.device_count", lambda: 2)
    assert [default_pack(n, "cuda") for n in (1, 5, 180)] == [1, 3, 90]
    gpu = study_plan(PROFILES["full"], tmp_path / "runs", device="cuda")
    assert gpu.sweep.pack == 90 and [s.pack for s in gpu.scale_sweeps] == [3, 3, 3, 3]  # 5 seeds over 2 GPUs
    assert plan_identity(gpu) == plan_identity(cpu)
    lecture = PROFILES["lecture"]
    assert shipped_study(study_plan(lecture, tmp_path / "runs", device="cuda"), lecture) is not None
    with pytest.raises(ValueError, match="num_jobs=0 is not allowed"):
        default_pack(0, "cpu")


def _signed_permutation(rng, dims):
    return np.eye(dims)[rng.permutation(dims)] * rng.choice([-1.0, 1.0], dims)


def test_udr_by_group_compares_seeds_of_one_setting_only():
    """Group (a, 1): three models that are signed permutations of one code (UDR 0.9 with Lasso); group
    (a, 2): three random rotations of it; group (b, 1): a single model (no UDR); a failed row (no UDR)."""
    rng = np.random.RandomState(0)
    z = FactorGrid((6, 6, 6)).sample(600, rng)[1] - 2.5
    rows, posteriors = [], {}
    for value, transform in ((1, _signed_permutation), (2, lambda r, d: np.linalg.qr(r.randn(d, d))[0])):
        for seed in range(3):
            run_dir = f"a-{value}-{seed}"
            rows.append({"method": "a", "value": value, "seed": seed, "status": "ok", "run_dir": run_dir})
            posteriors[run_dir] = (z @ transform(rng, 3), np.full((600, 3), -4.0))
    rows += [{"method": "b", "value": 1, "seed": 0, "status": "ok", "run_dir": "b"},
             {"method": "a", "value": 1, "seed": 9, "status": "failed", "run_dir": "broken"}]
    posteriors["b"] = posteriors["a-1-0"]
    table = pd.DataFrame(rows)
    scores = udr_by_group(table, posteriors)
    np.testing.assert_allclose(scores[:3], 0.9, atol=0.01)
    assert (scores[3:6] < 0.85).all()
    assert np.isnan(scores[6]) and np.isnan(scores[7])
    # the same numbers as udr() on the group alone: other groups never enter a model's score
    alone = udr([posteriors[f"a-2-{s}"][0] for s in range(3)], [posteriors[f"a-2-{s}"][1] for s in range(3)])
    np.testing.assert_allclose(scores[3:6], alone["model_scores"])
    with pytest.raises(ValueError, match="no entry for run_dir"):
        udr_by_group(table, {k: v for k, v in posteriors.items() if k != "a-1-0"})


def test_variance_chance_is_the_mean_share_of_groups_that_explain_nothing():
    table = results()  # 27 models in 3 objectives x 3 values
    chance = variance_chance(table)
    assert chance == {"objective": pytest.approx(2 / 26), "objective x hyperparameter": pytest.approx(8 / 26)}
    rng = np.random.RandomState(1)
    shares = [variance_explained(table.assign(**{"mig.score": rng.randn(len(table))}), ["mig.score"]).loc["MIG"]
              for _ in range(400)]
    mean = pd.DataFrame(shares).mean()
    assert mean["objective"] == pytest.approx(chance["objective"], abs=0.02)
    assert mean["objective x hyperparameter"] == pytest.approx(chance["objective x hyperparameter"], abs=0.03)


def test_labels_and_downstream_columns():
    columns = ["downstream.logistic_regression_efficiency", "mig.score", "downstream.boosted_trees_5000",
               "downstream.logistic_regression_100", "downstream.boosted_trees_100",
               "downstream.logistic_regression_5000", "downstream.boosted_trees_efficiency"]
    assert downstream_columns(pd.DataFrame(columns=columns)) == [
        "downstream.boosted_trees_100", "downstream.boosted_trees_5000", "downstream.boosted_trees_efficiency",
        "downstream.logistic_regression_100", "downstream.logistic_regression_5000",
        "downstream.logistic_regression_efficiency"]
    assert [column_label(c) for c in ("mig.score", "tc_sampled", "downstream.boosted_trees_5000",
                                      "downstream.logistic_regression_efficiency", "other")] == [
        "MIG", "TC (sampled)", "GBT acc. (5,000)", "LR efficiency", "other"]


def scale_rows():
    rows = []
    for steps, width in ((250, 1), (500, 1), (500, 2)):
        for seed in (0, 1):
            rows.append({"method": "beta_vae", "value": 4, "seed": seed, "steps": steps, "width": width,
                         "status": "ok", "mig.score": steps / 1000 + width / 10, "elbo": -steps})
    return pd.DataFrame(rows)


def test_scale_results_take_the_main_sweeps_matching_runs():
    main = pd.DataFrame([{"method": m, "value": v, "seed": s, "steps": 1000, "width": 1, "status": "ok",
                          "mig.score": 0.5, "elbo": -1000} for m in ("beta_vae", "dip_vae_i") for v in (1, 4)
                         for s in (0, 1)])
    table = scale_results(main, [scale_rows()], value=4)
    assert len(table) == 2 + 6 and set(table["method"]) == {"beta_vae"} and set(table["value"]) == {4}
    assert list(table[table["width"] == 1]["steps"]) == [250, 250, 500, 500, 1000, 1000]
    figure = plot_scale(table, "steps", ["mig.score", "elbo"], {"width": 1})
    assert [ax.get_title() for ax in figure.axes] == ["MIG", "ELBO"]
    assert figure.axes[0].get_xlabel() == "training steps"
    np.testing.assert_allclose(figure.axes[0].lines[0].get_ydata(), [0.35, 0.6, 0.5])  # medians at 250, 500, 1000
    assert plot_scale(table, "width", ["mig.score"], {"steps": 500}).axes[0].get_xlabel() == "width multiplier"
    with pytest.raises(ValueError, match="x='seed'"):
        plot_scale(table, "seed", ["mig.score"])
    plt.close("all")


def test_age_change_pairs_each_settings_seeds_across_its_youngest_and_oldest_age():
    scores = {("a", 4): ((0.1, 0.2, 0.3), (0.5, 0.6, 0.7, 0.9)),  # seed 3 only at the older age: not paired
              ("b", 4): ((0.1, 0.5, 0.3), (0.1, 0.4, 0.35)),
              ("vae", None): ((0.2, 0.2, 0.2), (0.1, 0.1, 0.1)),
              ("c", 1): ((0.3, 0.3), ())}  # one age only: left out
    table = pd.DataFrame([{"method": m, "value": v, "seed": s, "steps": steps, "status": "ok", "mig.score": x}
                          for (m, v), ages in scores.items() for steps, row in zip((100, 200), ages)
                          for s, x in enumerate(row)])
    changes = age_change(table).set_index(["method", "value"])
    assert list(changes.index) == [("a", 4), ("b", 4), ("vae", 0)]  # the VAE's value filled as 0
    assert (changes["young"] == 100).all() and (changes["old"] == 200).all()
    a, b, vae = (changes.loc[key] for key in changes.index)
    assert [a["median_young"], a["median_old"], a["median_change"]] == pytest.approx([0.2, 0.65, 0.4])
    assert a["paired_seeds"] == 3 and a["rose"] == 3 and a["beyond_seed_range"]  # moved 0.45 > range 0.2
    assert b["median_change"] == pytest.approx(0.0) and b["rose"] == 1 and not b["beyond_seed_range"]
    assert vae["median_change"] == pytest.approx(-0.1) and vae["rose"] == 0 and vae["beyond_seed_range"]
    assert age_change(table[table["steps"] == 100]).empty
    with pytest.raises(ValueError, match="'steps'"):
        age_change(table.drop(columns="steps"))
    figure = plot_ages(table)
    ax = figure.axes[0]
    assert ax.get_ylabel() == "MIG" and [t.get_text() for t in ax.get_xticklabels()] == ["a\n4", "b\n4", "vae\n0"]
    assert [text.get_text() for text in ax.get_legend().get_texts()] == ["100 steps", "200 steps"]
    seed_lines = [line for line in ax.lines if line.get_linewidth() == 1]
    assert len(seed_lines) == 3 + 3 + 3  # one per paired seed
    np.testing.assert_allclose(seed_lines[0].get_ydata(), [0.1, 0.5])
    medians = [line.get_ydata()[0] for line in ax.lines if line.get_linewidth() == 3]
    np.testing.assert_allclose(medians, [0.2, 0.65, 0.3, 0.35, 0.2, 0.1])
    with pytest.raises(ValueError, match="two ages"):
        plot_ages(table[table["steps"] == 200])
    older = table.assign(steps=table["steps"].where((table["method"] != "b") | (table["steps"] == 100), 300))
    assert list(age_change(older)["old"]) == [200, 300, 200]
    legend = plot_ages(older).axes[0].get_legend()
    assert [text.get_text() for text in legend.get_texts()] == ["younger", "older"]  # the ages differ by setting
    third = table[table["steps"] == 200].assign(steps=400, **{"mig.score": lambda t: t["mig.score"] + 1})
    three_ages = pd.concat([table, third.drop(third.index[0])])  # seed 0 of setting a is missing at 400 steps
    assert list(age_change(three_ages)["old"]) == [400, 400, 400]  # the youngest and the oldest age
    ax = plot_ages(three_ages).axes[0]
    assert [text.get_text() for text in ax.get_legend().get_texts()] == ["100 steps", "200 steps", "400 steps"]
    seed_lines = [line for line in ax.lines if line.get_linewidth() == 1]
    np.testing.assert_allclose(seed_lines[0].get_xdata(), [-0.3, 0.0])  # seed 0 of a: its two ages only
    np.testing.assert_allclose(seed_lines[1].get_ydata(), [0.2, 0.6, 1.6])  # seed 1 of a through all three
    medians = [line.get_ydata()[0] for line in ax.lines if line.get_linewidth() == 3]
    np.testing.assert_allclose(medians[:3], [0.2, 0.65, 1.7])  # a at 400 steps: seeds 1-3 (1.6, 1.7, 1.9)
    plt.close("all")


def test_figures_are_labelled():
    table = results(value_effect=0.1).assign(hyperparameter="beta")
    figure = plot_tc_by_regularisation(table)
    assert len(figure.axes) == 3 and all(ax.get_ylabel() == "Gaussian TC (nats)" for ax in figure.axes)
    assert figure.axes[0].get_xlabel() == "beta" and figure.axes[0].get_legend() is not None
    figure = plot_tc_by_regularisation(with_vae(table, tc_mean=0.5))  # the VAE: a reference on every panel
    assert [ax.get_title() for ax in figure.axes] == list(METHODS)
    dashed = [line for line in figure.axes[1].lines if line.get_linestyle() == "--"]
    assert [line.get_label() for line in dashed] == ["plain VAE, mean code", "plain VAE, sampled code"]
    np.testing.assert_allclose(dashed[0].get_ydata(), [0.6, 0.6])
    ax = plot_variance_explained(variance_explained(table, ["mig.score"]), variance_chance(table))
    assert ax.get_xlabel().startswith("share") and len(ax.patches) == 3
    figure = plot_scores_against(table, ["elbo", "tc_sampled"], "mig.score")
    assert [a.get_xlabel() for a in figure.axes] == ["ELBO", "TC (sampled)"]
    rho = table[["elbo", "mig.score"]].corr("spearman").iloc[0, 1]
    assert figure.axes[0].get_title() == f"Spearman ρ = {rho:.2f}" and 0.5 < rho < 1
    figure = plot_by_method(table, ["mig.score"])
    assert len(figure.axes[0].collections) == 9 and figure.axes[0].get_ylabel() == "MIG"
    plt.close("all")


def test_run_study_and_add_udr_on_trained_runs(tmp_path):
    """A tiny plan end to end on an in-process Dask cluster: the main sweep, a scale sweep, UDR over seeds."""
    common = {"metrics": ("mig",), "num_train": 64, "num_test": 32, "device": "cpu"}
    plan = StudyPlan(Sweep(methods=("beta_vae",), values=[2, 4], seeds=(0, 1), steps=3, out=str(tmp_path / "main"),
                           **common),
                     (Sweep(methods=("beta_vae",), values=[2], seeds=(0,), steps=2, out=str(tmp_path / "scale"),
                            **common),), scale_value=2, udr_points=50)
    main, scale = run_study(plan, workers=1, processes=False, progress=False)
    assert len(main) == 4 and (main["status"] == "ok").all()
    assert sorted(scale["steps"]) == [2, 3, 3] and set(scale["value"]) == {2}
    scored = add_udr(main, num_points=plan.udr_points, device="cpu")
    assert scored["udr"].between(0, 1).all()
    pairs = scored.groupby("value")["udr"].agg(["min", "max"])
    assert (pairs["max"] - pairs["min"] < 0.05).all()  # two seeds: each one's UDR is its similarity to the other
    bad = StudyPlan(plan.sweep, (Sweep(methods=("beta_vae",), values=[-1], out=str(tmp_path / "bad")),), 2, 50)
    with pytest.raises(ValueError, match="beta=-1"):
        run_study(bad, workers=1, processes=False, progress=False)
    assert not (tmp_path / "bad").exists()


def test_a_shipped_study_round_trips_for_its_plan_only_and_refuses_damage(tmp_path):
    from course_lib.kit.study import export_study, shipped_study, study_results

    profile = PROFILES["smoke"]
    plan = study_plan(profile, tmp_path / "runs", first_seed=0)
    table = results(seed_noise=0.1)
    main = table.assign(run_dir=[f"/machine/run{i}" for i in range(len(table))], udr=np.linspace(0, 1, len(table)))
    scale = main.head(3).assign(steps=[5, 10, 20], width=1)
    shipped_dir = tmp_path / "study"
    assert shipped_study(plan, profile, shipped_dir) is None  # nothing shipped yet
    with pytest.raises(ValueError, match="no udr column"):
        export_study(plan, profile, table, scale, directory=shipped_dir)
    manifest = export_study(plan, profile, main, scale, directory=shipped_dir)
    loaded_main, loaded_scale = shipped_study(plan, profile, shipped_dir)
    expected = main.drop(columns="run_dir")  # where a job ran on the exporting machine is not shipped
    pd.testing.assert_frame_equal(loaded_main, expected.reset_index(drop=True), check_dtype=False)
    assert len(loaded_scale) == 3 and "run_dir" not in loaded_scale
    loaded, _, source = study_results(plan, profile, directory=shipped_dir)  # no training: it is shipped
    assert len(loaded) == len(main) and "shipped smoke study" in source
    other_seed = study_plan(profile, tmp_path / "runs", first_seed=7)
    assert shipped_study(other_seed, profile, shipped_dir) is None  # another plan: train it instead
    csv = manifest.with_suffix(".csv")
    csv.write_text(csv.read_text().replace("beta_vae", "beta_vaX", 1))
    with pytest.raises(ValueError, match="does not match .* SHA-256: the shipped study is damaged"):
        shipped_study(plan, profile, shipped_dir)


def test_the_shipped_lecture_study_is_the_one_notebook_13_asks_for(tmp_path):
    """At `lecture` with seed 0 notebook 13 loads the shipped study (seconds) instead of training 24 models (an
    hour and more on a CPU): the shipped plan is exactly today's, every job finished, UDR is there."""
    from course_lib.kit.study import shipped_study

    profile = PROFILES["lecture"]
    plan = study_plan(profile, tmp_path / "runs", first_seed=0)
    shipped = shipped_study(plan, profile)
    assert shipped is not None, "data/pretrained/study holds no study for today's lecture plan: re-export it"
    main, scale = shipped
    assert len(main) == len(plan.sweep.configs()) == 18 and (main["status"] == "ok").all()
    assert main["udr"].between(0, 1).all() and main["udr_spearman"].notna().all()
    assert sorted(set(zip(scale["width"], scale["steps"]))) == [(1, 250), (1, 500), (1, 1000), (2, 500)]
    assert shipped_study(study_plan(profile, tmp_path / "runs", first_seed=1), profile) is None
