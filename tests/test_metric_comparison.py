import json

import matplotlib
import numpy as np
import pandas as pd
import pytest

from course_lib.data import FactorGrid
from course_lib.lab.metric_comparison import (SubGrid, evaluate_many, factor_vae_vote_matrix, finished_runs,
                                              plot_matrix, plot_rank_correlation, plot_score_table, run_label)
from course_lib.metrics.scores import DISENTANGLEMENT_SCORES, SCORES, rank_correlation, wide_scores
from course_lib.metrics import evaluate
from course_lib.training import TrainConfig

matplotlib.use("Agg")


@pytest.fixture
def small_grid():
    return FactorGrid((3, 4, 5))


def perfect(x):
    return np.asarray(x, dtype=np.float64)


def test_wide_scores_picks_the_main_score_of_each_metric(small_grid):
    long = evaluate(small_grid, perfect, metrics=("mig", "dci", "modularity"), num_train=300, num_test=150,
                    progress=False)
    row = wide_scores(long)
    assert list(row.index) == ["MIG", "DCI D", "Modularity", "DCI C", "DCI I", "Explicitness"]  # SCORES' order
    dci_d = long.query("metric == 'dci' and score == 'disentanglement'").value.item()
    assert row["DCI D"] == dci_d


def test_evaluate_many_orders_perfect_above_noise(small_grid):
    noise = np.random.RandomState(0)
    encoders = {"perfect": perfect, "noise": lambda x: noise.randn(len(x), 3)}
    wide, long = evaluate_many(small_grid, encoders, num_train=400, num_test=200, num_variance_estimate=400)
    assert list(wide.index) == ["perfect", "noise"] and list(wide.columns) == list(SCORES.values())
    assert set(long.representation) == {"perfect", "noise"}
    assert wide.loc["perfect", "BetaVAE"] == 1.0 and wide.loc["perfect", "FactorVAE"] == 1.0
    for column in ("MIG", "DCI D", "FactorVAE"):
        assert wide.loc["perfect", column] > wide.loc["noise", column] + 0.5
    with pytest.raises(ValueError, match="encoders is empty"):
        evaluate_many(small_grid, {})


def test_rank_correlation_known_answers():
    table = pd.DataFrame({"a": [1, 2, 3, 4], "b": [10, 20, 30, 40], "c": [4, 3, 2, 1], "d": [5, 5, 5, 5]})
    correlation = rank_correlation(table)
    assert correlation.loc["a", "b"] == pytest.approx(1) and correlation.loc["a", "c"] == pytest.approx(-1)
    assert np.isnan(correlation.loc["a", "d"])  # a constant score has no ranking
    assert list(rank_correlation(table, ["c", "a", "zz"]).columns) == ["c", "a"]  # unknown columns dropped
    with pytest.raises(ValueError, match="at least 3"):
        rank_correlation(table.iloc[:2])


def test_vote_matrix_of_a_perfect_code_is_diagonal(small_grid):
    votes = factor_vae_vote_matrix(small_grid, perfect, 200, 0, num_variance_estimate=500)
    assert votes.shape == (3, 3) and votes.sum() == 200
    assert np.count_nonzero(votes - np.diag(np.diag(votes))) == 0
    # a dimension below the threshold gets no votes
    scaled = factor_vae_vote_matrix(small_grid, lambda x: x * np.array([1.0, 1e-4, 1.0]), 100, 0,
                                    num_variance_estimate=500)
    assert scaled[1].sum() == 0 and scaled.sum() == 100


def test_subgrid_maps_to_the_parent_grid(small_grid):
    sub = SubGrid(FactorGrid((3, 8, 10)), (1, 2, 3))
    assert sub.factors_num_values == (3, 4, 4) and sub.deterministic
    factors = sub.sample_factors(50, 0)
    np.testing.assert_array_equal(sub.parent_factors(factors), factors * np.array([1, 2, 3]))
    np.testing.assert_array_equal(sub.factors_at(sub.index_of(factors)), factors)
    np.testing.assert_allclose(sub.sample_observations_from_factors(factors),
                               FactorGrid((3, 8, 10)).sample_observations_from_factors(factors * [1, 2, 3]))
    np.testing.assert_array_equal(sub.factor_values["factor_2"], [0, 3, 6, 9])
    long = evaluate(sub, perfect, metrics=("beta_vae", "mig"), num_train=50, num_test=20, progress=False)
    assert long.query("metric == 'beta_vae' and score == 'eval_accuracy'").value.item() == 1.0
    with pytest.raises(ValueError, match="steps="):
        SubGrid(small_grid, (1, 1))
    with pytest.raises(ValueError, match="at least 2 values"):
        SubGrid(small_grid, (1, 1, 5))


def _fake_run(root, config, finished=True, steps=None, name=None):
    directory = root / (name or config.slug())
    directory.mkdir()
    (directory / "config.json").write_text(json.dumps({"config": {
        **{k: getattr(config, k) for k in ("method", "hyperparameters", "steps", "batch_size", "lr", "num_latent",
                                          "architecture", "variant", "seed", "checkpoint_every")}}}))
    (directory / "checkpoint.pt").write_bytes(b"")
    if finished:
        (directory / "summary.json").write_text(json.dumps({"steps": steps or config.steps}))
    return directory


def test_finished_runs_filters_and_deduplicates(tmp_path):
    beta = TrainConfig("beta_vae", {"beta": 4}, steps=20)
    _fake_run(tmp_path, beta)
    _fake_run(tmp_path, beta, name="an-old-slug-of-the-same-config")
    _fake_run(tmp_path, TrainConfig("vae", steps=20), finished=False)  # still training
    _fake_run(tmp_path, TrainConfig("vae", steps=30))  # another step count
    _fake_run(tmp_path, TrainConfig("vae", steps=20, architecture="mlp", num_latent=2))
    _fake_run(tmp_path, TrainConfig("annealed_vae", {"c_max": 10, "gamma": 30.0, "annealing_steps": 15}, steps=20))
    (tmp_path / "not-a-run").mkdir()
    found = finished_runs(20, tmp_path)
    assert list(found) == ["annealed_vae c_max=10 gamma=30", "beta_vae beta=4"]
    assert found["beta_vae beta=4"].name == "an-old-slug-of-the-same-config"  # the first in name order
    assert "vae" in finished_runs(20, tmp_path, architecture=None, num_latent=None)
    assert finished_runs(20, tmp_path / "missing") == {}
    with pytest.raises(ValueError, match="steps=0"):
        finished_runs(0, tmp_path)


def test_run_label():
    assert run_label(TrainConfig("vae")) == "vae"
    assert run_label(TrainConfig("dip_vae_i", {"lambda_od": 5})) == "dip_vae_i lambda_od=5"


def test_plots_draw_without_error():
    table = pd.DataFrame(np.random.RandomState(0).rand(4, 6), columns=list(DISENTANGLEMENT_SCORES),
                         index=list("abcd"))
    assert plot_score_table(table, title="t").get_title() == "t"
    assert plot_rank_correlation(rank_correlation(table)) is not None
    import matplotlib.pyplot as plt

    _, ax = plt.subplots()
    plot_matrix(np.arange(6).reshape(3, 2), ax, "m", col_labels=["x", "y"])
    assert [t.get_text() for t in ax.texts][:2] == ["0.00", "1.00"]
    plt.close("all")
