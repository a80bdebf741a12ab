"""Transfer of configurations across seeds, data sets and metrics (Locatello et al. 2019, Table 5): cases whose
answer is known, a brute-force cross-check, ties, invariance to monotone transforms, and the argument checks."""
import itertools
import math

import numpy as np
import pandas as pd
import pytest

from course_lib.analysis.transfer import (PAPER_TRANSFER, ScoreGrid, rank_agreement, score_grid, transfer_matrix,
                                          transfer_probability, transfer_table)

CELLS = [(False, False), (True, False), (False, True), (True, True)]  # (across data sets, across metrics)


def grid(scores, **labels) -> ScoreGrid:
    scores = np.asarray(scores, dtype=float)
    names = ("datasets", "metrics", "seeds", "configs")
    return ScoreGrid(scores, *(labels.get(n, tuple(range(k))) for n, k in zip(names, scores.shape)))


def permutation_seeds(size: int) -> np.ndarray:
    """(size!, size): every ranking of `size` configurations, one per seed."""
    return np.array(list(itertools.permutations(range(size))), dtype=float)


def brute_force(g: ScoreGrid, across_datasets: bool, across_metrics: bool, ties: str, with_itself=False) -> float:
    """The definition, enumerated: every source, every tied best, every target, every other configuration (or
    every configuration, the chosen one included, when `with_itself`)."""
    D, M, S, C = g.scores.shape
    tie = 0.5 if ties == "half" else 0.0
    values = []
    for d, m, r in itertools.product(range(D), range(M), range(S)):
        source = g.scores[d, m, r]
        best = np.flatnonzero(source == source.max())
        for e, n, q in itertools.product(range(D), range(M), range(S)):
            if q == r or (e != d) != across_datasets or (n != m) != across_metrics:
                continue
            target = g.scores[e, n, q]
            total = 0.0
            for chosen in best:
                for other in range(C):
                    if other != chosen or with_itself:
                        a, b = target[chosen], target[other]
                        total += 1.0 if a > b else tie if a == b else 0.0
            values.append(total / (len(best) * (C if with_itself else C - 1)))
    return float(np.mean(values))


def test_identical_rankings_transfer_every_time():
    ranking = np.array([3.0, 0.0, 5.0, 1.0, 4.0])
    # every data set and metric ranks alike, on a scale of its own (a strictly increasing transform)
    scores = np.stack([np.stack([np.stack([scale * ranking + shift] * 3) for scale, shift in ((1, 0), (0.01, 7))])
                       for _ in range(2)])
    g = grid(scores)
    for cell in CELLS:
        assert transfer_probability(g, *cell) == 1.0
    assert (transfer_table(g).to_numpy() == 1.0).all()
    assert np.allclose(rank_agreement(g).to_numpy(), 1.0) and np.allclose(rank_agreement(g, "kendall").to_numpy(), 1.0)


def test_reversed_rankings_never_transfer():
    ranking = np.arange(6.0)
    scores = np.stack([np.stack([np.stack([ranking] * 2)]), np.stack([np.stack([-ranking] * 2)])])  # 2 sets, 1 metric
    g = grid(scores, datasets=("A", "B"))
    assert transfer_probability(g, across_datasets=True) == 0.0
    assert transfer_probability(g) == 1.0  # within a data set the seeds agree
    matrix = transfer_matrix(g)
    assert matrix.loc["A", "A"] == matrix.loc["B", "B"] == 1.0 and matrix.loc["A", "B"] == matrix.loc["B", "A"] == 0.0
    agreement = rank_agreement(g).loc[0]
    assert agreement.loc["A", "B"] == pytest.approx(-1.0) and agreement.loc["A", "A"] == pytest.approx(1.0)


@pytest.mark.parametrize("size", [3, 4])
def test_independent_rankings_give_the_closed_form(size):
    """Seeds that run through every ranking: the target ranking is uniform given the source, except that the
    source's own ranking (where its choice wins every comparison, rho = tau = 1) is never its target. Over all
    N = size! rankings the chosen configuration wins 1/2 on average and the mean correlation is 0, so over the
    N - 1 others p = (N/2 - 1) / (N - 1) and the mean correlation is -1 / (N - 1)."""
    rankings = permutation_seeds(size)
    n = len(rankings)
    g = grid(np.stack([rankings[None], rankings[None]]))  # 2 data sets with the same N seeds, 1 metric
    for across in (False, True):
        assert transfer_probability(g, across_datasets=across) == pytest.approx((n / 2 - 1) / (n - 1))
    for method in ("spearman", "kendall"):
        assert np.allclose(rank_agreement(g, method).to_numpy(), -1 / (n - 1))


def test_independent_random_scores_are_near_one_half():
    scores = np.random.default_rng(0).normal(size=(3, 2, 40, 6))
    table = transfer_table(grid(scores))
    assert np.allclose(table.to_numpy(), 0.5, atol=0.04)


def test_the_exact_average_equals_the_definition_enumerated():
    rng = np.random.default_rng(1)
    scores = rng.integers(0, 3, size=(3, 2, 3, 4)).astype(float)  # many ties, on the source and the target
    g = grid(scores)
    for cell, ties in itertools.product(CELLS, ("half", "loss")):
        assert transfer_probability(g, *cell, ties=ties) == pytest.approx(brute_force(g, *cell, ties))
    table = transfer_table(g, ties="loss")
    assert table.loc["different metric", "different data set"] == pytest.approx(brute_force(g, True, True, "loss"))
    # the other reading of "a random configuration" (any of the C, the chosen one included) is a rescaling
    for cell in CELLS:
        p, C = transfer_probability(g, *cell), g.scores.shape[-1]
        assert brute_force(g, *cell, "half", with_itself=True) == pytest.approx(((C - 1) * p + 0.5) / C)


def test_ties_are_documented_values():
    # all configurations tie everywhere: half a win each time, or none under the strict reading
    flat = grid(np.ones((2, 2, 2, 4)))
    assert transfer_probability(flat, True, True) == 0.5 and transfer_probability(flat, True, True, ties="loss") == 0.0
    # seed 0 has two configurations tied for the best: each is transferred with weight 1/2
    g = grid([[[[1.0, 1.0, 0.0], [0.0, 2.0, 1.0]]]])
    # seed 0 -> seed 1: config 0 wins 0 of 2, config 1 wins 2 of 2 -> 1/2; seed 1 -> seed 0: config 1 ties
    # config 0 and beats config 2 -> (1/2 + 1) / 2 = 3/4 with ties="half", 1/2 with ties="loss"
    assert transfer_probability(g) == pytest.approx((0.5 + 0.75) / 2)
    assert transfer_probability(g, ties="loss") == pytest.approx(0.5)


def test_a_constant_metric_has_no_ranking():
    scores = np.random.default_rng(2).normal(size=(2, 2, 3, 5))
    scores[:, 1] = 0.25  # metric 1 scores every model alike
    agreement = rank_agreement(grid(scores, metrics=("MIG", "flat")))
    assert agreement.loc["flat"].isna().all().all() and agreement.loc["MIG"].notna().all().all()


def test_strictly_increasing_transforms_of_a_metric_change_nothing():
    scores = np.random.default_rng(3).gamma(2.0, size=(3, 2, 3, 6)).round(1)  # rounded: ties included
    transformed = scores.copy()
    transformed[:, 0] = np.exp(3 * scores[:, 0])  # metric 0 rescaled non-linearly ...
    transformed[1, 1] = np.sqrt(scores[1, 1]) - 5  # ... and metric 1 on one data set only
    g, h = grid(scores), grid(transformed)
    for ties in ("half", "loss"):
        pd.testing.assert_frame_equal(transfer_table(g, ties), transfer_table(h, ties))
        pd.testing.assert_frame_equal(transfer_matrix(g, ties=ties), transfer_matrix(h, ties=ties))
    for method in ("spearman", "kendall"):
        pd.testing.assert_frame_equal(rank_agreement(g, method), rank_agreement(h, method))


def test_the_matrix_averages_to_the_table():
    g = grid(np.random.default_rng(4).normal(size=(3, 2, 2, 5)), datasets=("binary", "color", "noisy"))
    matrix, table = transfer_matrix(g), transfer_table(g)
    off_diagonal = matrix.to_numpy()[~np.eye(3, dtype=bool)]
    assert off_diagonal.mean() == pytest.approx(table.loc["same metric", "different data set"])
    assert np.diag(matrix).mean() == pytest.approx(table.loc["same metric", "same data set"])
    per_metric = [transfer_matrix(g, metric=m) for m in g.metrics]
    pd.testing.assert_frame_equal(matrix, sum(per_metric) / len(per_metric))


def test_a_grid_that_cannot_fill_a_cell_leaves_it_empty():
    table = transfer_table(grid(np.random.default_rng(5).normal(size=(1, 1, 2, 3))))
    assert table.loc["same metric", "same data set"] == table.loc["same metric", "same data set"]  # not NaN
    assert table.drop(index="same metric", columns="same data set").isna().all().all()
    assert table.shape == PAPER_TRANSFER.shape and list(table.index) == list(PAPER_TRANSFER.index)


def test_the_papers_numbers():
    assert PAPER_TRANSFER.loc["same metric", "same data set"] == 0.807
    assert PAPER_TRANSFER.loc["same metric", "different data set"] == 0.593
    assert PAPER_TRANSFER.loc["different metric", "different data set"] == 0.549
    assert (PAPER_TRANSFER.to_numpy() > 0.5).all()


def model_table(rng, datasets=("binary", "color"), seeds=(0, 1), methods=("beta_vae", "dip_vae_i"), values=(1, 4, 16)):
    rows = [{"dataset": d, "method": m, "value": v, "seed": s, "mig.score": rng.random(), "sap.score": rng.random()}
            for d, m, v, s in itertools.product(datasets, methods, values, seeds)]
    return pd.DataFrame(rows)


def test_score_grid_reads_a_table_in_any_row_order():
    rng = np.random.default_rng(6)
    table = model_table(rng)
    g = score_grid(table, ["mig.score", "sap.score"])
    assert g.scores.shape == (2, 2, 2, 6) and g.datasets == ("binary", "color") and g.seeds == (0, 1)
    assert g.configs[:2] == (("beta_vae", 1), ("beta_vae", 4))
    row = table[(table["dataset"] == "color") & (table["method"] == "dip_vae_i") & (table["value"] == 4)
                & (table["seed"] == 1)].iloc[0]
    assert g.scores[1, 1, 1, g.configs.index(("dip_vae_i", 4))] == row["sap.score"]
    shuffled = score_grid(table.sample(frac=1, random_state=0), ["mig.score", "sap.score"])
    reordered = shuffled.subset(configs=g.configs, datasets=g.datasets)
    assert np.array_equal(reordered.scores[:, :, list(shuffled.seeds).index(0)], g.scores[:, :, 0])
    single = score_grid(table[table["method"] == "beta_vae"], "mig.score", config="value")
    assert single.configs == (1, 4, 16) and single.metrics == ("mig.score",)


def test_score_grid_refuses_an_incomplete_or_repeated_or_failed_grid():
    table = model_table(np.random.default_rng(7))
    with pytest.raises(ValueError, match=r"lacks 1 models of the full grid.*\('color', 1, \('dip_vae_i', 16\)\)"):
        score_grid(table.iloc[:-1], ["mig.score"])
    with pytest.raises(ValueError, match="repeat a"):
        score_grid(pd.concat([table, table.iloc[:1]]), ["mig.score"])
    failed = table.assign(**{"mig.score": table["mig.score"].where(table.index != 5)})
    with pytest.raises(ValueError, match=r"scores\['binary', 'mig.score', seed 1, \('beta_vae', 16\)\] = nan"):
        score_grid(failed, ["mig.score"])
    with pytest.raises(ValueError, match=r"table lacks the columns \['dci.disentanglement'\]"):
        score_grid(table, ["dci.disentanglement"])


@pytest.mark.parametrize("call, message", [
    (lambda g: transfer_probability(g, ties="random"), "ties='random' is not allowed; use one of ('half', 'loss')"),
    (lambda g: transfer_probability(g, across_datasets=1), "across_datasets=1 is not allowed; use True or False"),
    (lambda g: rank_agreement(g, method="pearson"),
     "method='pearson' is not allowed; use one of ('spearman', 'kendall')"),
    (lambda g: transfer_matrix(g, metric="DCI"), "metrics='DCI' is not allowed; use one of (0,)"),
    (lambda g: transfer_probability(g, across_metrics=True), "across_metrics=True needs at least 2 metrics"),
    (lambda g: transfer_table(g.scores), "grid=ndarray is not allowed; give a ScoreGrid"),
    (lambda g: transfer_probability(g.subset(configs=g.configs[:1])), "at least 2 configurations"),
])
def test_bad_arguments_are_named(call, message):
    g = grid(np.random.default_rng(8).normal(size=(2, 1, 2, 3)))
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        call(g)


def test_one_seed_is_refused_and_labels_are_checked():
    with pytest.raises(ValueError, match="needs at least 2 seeds"):
        transfer_table(grid(np.zeros((2, 2, 1, 3))))
    with pytest.raises(ValueError, match="seeds=\\(0, 0\\) is not allowed; give 2 distinct labels"):
        ScoreGrid(np.zeros((1, 1, 2, 3)), ("A",), ("m",), (0, 0), (1, 2, 3))
    with pytest.raises(ValueError, match="use \\(datasets, metrics, seeds, configurations\\)"):
        ScoreGrid(np.zeros((2, 3)), ("A",), ("m",), (0,), (1, 2, 3))
    assert math.isclose(transfer_probability(grid(np.zeros((1, 1, 2, 3)))), 0.5)


def test_the_lab_designs_and_their_scores_cache(tmp_path):
    """The notebook's driver: every profile's grid validates; scored models are cached and never retrained."""
    import types

    from course_lib.lab.transfer_lab import DESIGNS, config_label, score_models, transfer_configs
    from course_lib.models import mlp_vae

    for name, design in DESIGNS.items():
        configs = transfer_configs(design, first_seed=3)
        assert len(configs) == design.num_models == len({c.slug() for c in configs}), name
        assert {c.variant for c in configs} == {"binary", "color", "noisy"} and min(c.seed for c in configs) == 3
    design = DESIGNS["smoke"]
    chosen = [c for c in transfer_configs(design) if c.method == "beta_vae" and c.seed == 0][:2]
    trained = []

    def fake_train(configs, dataset):  # untrained models: the driver is under test, not the training
        assert {config.variant for config in configs} == {dataset.variant}  # one call per data set
        trained.extend(config.slug() for config in configs)
        return [types.SimpleNamespace(model=mlp_vae(config.num_latent, dataset.observation_shape))
                for config in configs]

    table = score_models(chosen, design, tmp_path / "scores.csv", train_fn=fake_train, progress=False)
    assert trained == [c.slug() for c in chosen] and list(table["slug"]) == trained
    assert {"dataset", "method", "value", "seed", "MIG", "SAP", "seconds"} <= set(table.columns)
    again = score_models(chosen[::-1], design, tmp_path / "scores.csv", train_fn=None, progress=False)
    assert len(trained) == 2 and list(again["slug"]) == trained[::-1]  # read from the cache, in the order asked
    assert config_label(("beta_vae", 4)) == "β-VAE β=4" and config_label(("dip_vae_i", 50)) == "DIP-VAE-I λ=50"
