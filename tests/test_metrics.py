"""The six supervised metrics on representations whose verdict is known.

The lab is `FactorGrid` with dSprites' factor sizes (3, 6, 40, 32, 32): its observation is the factor
vector scaled to [0, 1], so an `encode` is any function of the factors.
"""
import numpy as np
import pandas as pd
import pytest

from course_lib.data import FactorGrid
from course_lib.metrics import (EncodedDataset, EvaluationStopped, beta_vae_score, dci, downstream, evaluate,
                                factor_vae_score, gaussian_total_correlation, mig, modularity_explicitness,
                                sample_factor_codes, sap)
from course_lib.metrics.constructed import constructed_representations
from course_lib.metrics.dci import completeness, disentanglement
from course_lib.metrics.modularity import modularity
from course_lib.metrics.utils import discrete_entropy, histogram_discretize

SIZES = (3, 6, 40, 32, 32)
GRID = FactorGrid(SIZES)
FAMILY = constructed_representations(SIZES, random_state=0)


def codes_of(name, num, seed):
    """(codes, factors) of `num` draws of a constructed representation."""
    return sample_factor_codes(GRID, FAMILY[name], num, np.random.RandomState(seed))


def train_test(name, num_train=2000, num_test=1000):
    return (*codes_of(name, num_train, 1), *codes_of(name, num_test, 2))


# --- MIG ----------------------------------------------------------------------------------------

def test_mig_of_perfect_codes_sits_at_the_twenty_bin_ceiling():
    codes, factors = codes_of("perfect", 10_000, 0)
    # a perfectly encoded factor keeps only H(bin(y)) of its H(y) nats after 20 equal-width bins
    ceiling = discrete_entropy(histogram_discretize(codes)) / discrete_entropy(factors)
    # exactly, for a uniform factor: the entropy of the bins' shares of the n values, over ln n; at most
    # ln 20 / ln n, reached when 20 divides n (40 values: 2 per bin; 32 values: 12 bins of 2, 8 of 1)
    exact = [discrete_entropy(histogram_discretize(np.arange(n)[:, None]))[0] / np.log(n) for n in SIZES]
    np.testing.assert_allclose(exact, [1, 1, np.log(20) / np.log(40), 0.850, 0.850], atol=5e-4)
    np.testing.assert_allclose(ceiling, exact, atol=0.01)
    score = mig(codes, factors)
    assert ceiling.mean() - 0.02 < score <= ceiling.mean()  # the rest is the plug-in MI's bias of a 2nd code


def test_mig_drops_for_rotated_and_vanishes_for_duplicated_codes():
    perfect = mig(*codes_of("perfect", 5000, 0))
    assert mig(*codes_of("rotated", 5000, 0)) < perfect / 3
    assert mig(*codes_of("duplicated", 5000, 0)) == pytest.approx(0.0, abs=1e-12)  # top two tie exactly
    constant = np.column_stack([codes_of("perfect", 5000, 0)[0], np.zeros(5000)])
    assert mig(constant, codes_of("perfect", 5000, 0)[1]) == pytest.approx(perfect)  # a dead dimension changes nothing


# --- SAP ----------------------------------------------------------------------------------------

def test_sap_continuous_mode_is_one_for_perfect_codes_of_factors():
    codes, factors = codes_of("perfect", 3000, 0)
    assert sap(codes, factors, codes, factors, continuous_factors=True) == pytest.approx(1.0, abs=0.01)
    values = np.random.RandomState(1).rand(500, 2)  # real-valued factors, as the mode is for
    codes = np.column_stack([values, np.zeros(500)]) @ np.diag([1.0, -3.0, 1.0])
    assert sap(codes, values, None, None, continuous_factors=True) == pytest.approx(1.0, abs=1e-3)
    with pytest.raises(ValueError, match="factors_train column 1 takes a single value"):
        sap(codes, np.column_stack([values[:, 0], np.ones(500)]), None, None, continuous_factors=True)


def test_sap_needs_two_code_dimensions_for_its_gap():
    codes, factors = codes_of("perfect", 200, 0)
    for continuous in (False, True):
        message = r"codes_train has shape \(200, 1\); expected \(N, D\) with N >= 2 and D >= 2"
        with pytest.raises(ValueError, match=message):
            sap(codes[:, :1], factors, codes[:, :1], factors, continuous_factors=continuous)


def test_sap_discrete_mode_known_answers():
    binary = FactorGrid((2, 2, 2))  # a one-feature linear SVM separates two classes perfectly
    codes, factors = sample_factor_codes(binary, lambda x: x, 2000, np.random.RandomState(0))
    assert sap(codes, factors, codes, factors) == pytest.approx(0.5, abs=0.02)  # accuracy 1 vs chance 0.5
    perfect, rotated = sap(*train_test("perfect")), sap(*train_test("rotated"))
    assert rotated < perfect / 2 and sap(*train_test("duplicated")) == 0.0


# --- DCI ----------------------------------------------------------------------------------------

def test_dci_closed_forms_on_importance_matrices():
    assert disentanglement(np.eye(3)) == pytest.approx(1.0) and completeness(np.eye(3)) == pytest.approx(1.0)
    assert disentanglement(np.ones((3, 3))) == pytest.approx(0.0, abs=1e-9)
    # one code matters equally for both factors, the other for nothing: D = 0; each factor in one code: C = 1
    one_code = np.array([[1.0, 1.0], [0.0, 0.0]])
    assert disentanglement(one_code) == pytest.approx(0.0, abs=1e-9)
    assert completeness(one_code) == pytest.approx(1.0, abs=1e-9)
    # rows weighted by importance: a perfect row (weight 2/3) and a uniform row (weight 1/3)
    assert disentanglement(np.array([[2.0, 0.0], [0.5, 0.5]])) == pytest.approx(2 / 3, abs=1e-9)


def test_dci_perfect_rotated_and_constant_dimensions():
    perfect = dci(*train_test("perfect"))
    assert perfect["disentanglement"] > 0.98 and perfect["completeness"] > 0.98
    assert perfect["informativeness_test"] > 0.98
    rotated = dci(*train_test("rotated"))
    assert rotated["disentanglement"] < 0.5 and rotated["completeness"] < 0.5
    codes_train, factors_train, codes_test, factors_test = train_test("perfect")
    padded = dci(np.column_stack([codes_train, np.ones(len(codes_train))]), factors_train,
                 np.column_stack([codes_test, np.ones(len(codes_test))]), factors_test)
    assert padded["disentanglement"] == pytest.approx(perfect["disentanglement"], abs=1e-6)  # no weight


def test_dci_fast_estimator_agrees_with_disentanglement_libs():
    small = FactorGrid((3, 4, 5))
    mixing = np.array([[1.0, 0.3, 0.0], [0.0, 1.0, 0.5], [0.2, 0.0, 1.0], [0.0, 0.0, 0.0]])
    encode = lambda x: x @ mixing.T + 0.02 * np.sin(40 * x @ np.ones((3, 4)))  # noqa: E731
    arrays = (*sample_factor_codes(small, encode, 1000, np.random.RandomState(0)),
              *sample_factor_codes(small, encode, 500, np.random.RandomState(1)))
    fast, reference = dci(*arrays), dci(*arrays, estimator="sklearn")
    for score in ("disentanglement", "completeness"):
        assert fast[score] == pytest.approx(reference[score], abs=0.05)
    assert fast["informativeness_test"] == pytest.approx(reference["informativeness_test"], abs=0.05)


# --- modularity and explicitness ----------------------------------------------------------------

def test_modularity_closed_forms():
    assert modularity(np.eye(3)) == pytest.approx(1.0)
    assert modularity(np.array([[1.0, 0.5]])) == pytest.approx(1 - 0.25)  # delta = 0.5^2 / (1 * (K-1))
    assert modularity(np.array([[1.0, 1.0]])) == pytest.approx(0.0)
    assert modularity(np.array([[1.0, 0.0], [0.0, 0.0]])) == pytest.approx(0.5)  # an empty code scores 0


def test_rotation_keeps_explicitness_but_costs_modularity():
    perfect = modularity_explicitness(*train_test("perfect"))
    rotated = modularity_explicitness(*train_test("rotated"))
    assert perfect["modularity"] > 0.99 and rotated["modularity"] < 0.8
    for result in (perfect, rotated):  # a linear read-out does not care about a rotation
        assert result["explicitness_test"] > 0.95
    assert abs(perfect["explicitness_test"] - rotated["explicitness_test"]) < 0.01


# --- BetaVAE and FactorVAE scores ---------------------------------------------------------------

def test_beta_vae_score_perfect_chance_and_its_failure_mode():
    def score(name):
        return beta_vae_score(GRID, FAMILY[name], np.random.RandomState(0), num_train=300, num_eval=200,
                              progress=False)["eval_accuracy"]
    assert score("perfect") == 1.0
    assert score("noise only") < 0.35  # chance is 1/5
    assert score("missing factor") > 0.97  # factor 0 is not encoded at all, yet the score is ~100 %


def test_factor_vae_score_perfect_rotated_and_pruned_dimensions():
    def score(encode, **kwargs):
        return factor_vae_score(GRID, encode, np.random.RandomState(0), num_train=300, num_eval=200,
                                num_variance_estimate=2000, progress=False, **kwargs)
    perfect = score(lambda x: np.column_stack([x, np.full(len(x), 0.5)]))  # plus a collapsed dimension
    assert perfect == {"train_accuracy": 1.0, "eval_accuracy": 1.0, "num_active_dims": 5}
    assert score(FAMILY["rotated"])["eval_accuracy"] < 0.9
    assert score(FAMILY["perfect"], threshold=10.0) == {"train_accuracy": 0.0, "eval_accuracy": 0.0,
                                                        "num_active_dims": 0}
    # at threshold 0 the collapsed dimension still takes no votes (before: its 0/0 won every vote, accuracy ~0.3)
    assert score(lambda x: np.column_stack([x, np.full(len(x), 0.5)]), threshold=0.0) == perfect


# --- sampling, caching and evaluate -------------------------------------------------------------

def test_sample_factor_codes_draws_in_disentanglement_libs_batches():
    codes, factors = sample_factor_codes(GRID, FAMILY["perfect"], 40, np.random.RandomState(3), batch_size=16)
    random_state = np.random.RandomState(3)
    expected = np.concatenate([GRID.sample_factors(n, random_state) for n in (16, 16, 8)])
    np.testing.assert_array_equal(factors, expected)
    np.testing.assert_allclose(codes, GRID.sample_observations_from_factors(expected))


def test_encoded_dataset_encodes_each_image_once_and_changes_no_number():
    calls = []

    def counting_encode(x):
        calls.append(len(x))
        return x @ np.array([[1.0, 0.3, 0.0], [0.0, 1.0, 0.5], [0.2, 0.0, 1.0]])

    small = FactorGrid((3, 4, 5))
    cached = evaluate(small, counting_encode, metrics=("mig", "factor_vae", "dci"), random_state=7, num_train=200,
                      num_test=100, num_variance_estimate=200, progress=False)
    assert sum(calls) == 60  # the 3 x 4 x 5 grid, once
    direct = evaluate(small, counting_encode, metrics=("mig", "factor_vae", "dci"), random_state=7, num_train=200,
                      num_test=100, num_variance_estimate=200, cache_codes=False, progress=False)
    assert sum(calls) > 10_000  # without the cache every draw is encoded
    np.testing.assert_allclose(cached["value"], direct["value"])
    lazy = EncodedDataset(small, counting_encode)
    lazy.sample_observations_from_factors(np.array([[0, 0, 0], [0, 0, 0], [1, 2, 3]]))
    assert lazy.num_encoded == 2


def test_encoding_the_whole_grid_stops_between_batches_and_goes_on_later():
    """At the study's sizes `evaluate` first encodes all 737,280 dSprites images (minutes on a CPU): a stop signal
    waits for one batch, the codes made are kept, and the next call encodes only the rest."""
    small = FactorGrid((3, 4, 5))  # 60 images, batches of 8
    asked = []
    grid = EncodedDataset(small, lambda x: x, batch_size=8, progress=False)
    grid.encode_all(stop=lambda: asked.append(1) or len(asked) > 3)
    assert grid.num_encoded == 3 * 8
    grid.encode_all()
    assert grid.num_encoded == 60
    np.testing.assert_array_equal(grid.sample_observations_from_factors(small.factors_at(np.arange(60))),
                                  small.sample_observations_from_factors(small.factors_at(np.arange(60))))
    encoded = []
    with pytest.raises(EvaluationStopped, match="before its first metric"):  # evaluate's stop reaches the encoding
        evaluate(small, lambda x: encoded.append(len(x)) or x, metrics=("factor_vae",), num_train=50, num_test=20,
                 num_variance_estimate=50, progress=False, stop=lambda: True)
    assert encoded == []  # not one image: before, the whole grid was encoded first


def test_evaluate_gives_each_metric_its_own_random_state():
    both = evaluate(GRID, FAMILY["rotated"], metrics=("sap", "mig"), random_state=5, num_train=500, num_test=200,
                    progress=False)
    alone = evaluate(GRID, FAMILY["rotated"], metrics="mig", random_state=5, num_train=500, num_test=200,
                     progress=False)
    assert list(both["metric"]) == ["sap", "mig"] and set(both.columns) == {"metric", "score", "value", "seconds"}
    assert both.set_index("metric").loc["mig", "value"] == alone["value"].item()


def test_evaluate_asks_stop_before_each_metric_and_stops_there():
    """A sweep's stop signal waits for one metric at most: `stop` is asked before each one; once it says True,
    `EvaluationStopped` names the metrics done; a `stop` that never says True changes no number."""
    asked = []

    def after_the_first():
        asked.append(len(asked))
        return len(asked) > 1

    kwargs = dict(metrics=("mig", "sap", "dci"), random_state=5, num_train=300, num_test=100, progress=False)
    with pytest.raises(EvaluationStopped, match="after mig") as stopped:
        evaluate(GRID, FAMILY["rotated"], stop=after_the_first, **kwargs)
    assert stopped.value.done == ("mig",) and asked == [0, 1]
    with pytest.raises(EvaluationStopped, match="before its first metric"):
        evaluate(GRID, FAMILY["rotated"], stop=lambda: True, **kwargs)
    pd.testing.assert_frame_equal(
        evaluate(GRID, FAMILY["rotated"], stop=lambda: False, **kwargs).drop(columns="seconds"),
        evaluate(GRID, FAMILY["rotated"], **kwargs).drop(columns="seconds"))


# --- bad input ----------------------------------------------------------------------------------

CODES, FACTORS = np.random.RandomState(0).randn(50, 3), np.random.RandomState(0).randint(3, size=(50, 2))


@pytest.mark.parametrize("call, message", [
    (lambda: mig(CODES[:, :1], FACTORS), r"codes has shape \(50, 1\); expected \(N, D\) with N >= 2 and D >= 2"),
    (lambda: mig(np.where(np.eye(50, 3) > 0, np.nan, CODES), FACTORS), r"codes\[0, 0\] = nan"),
    (lambda: mig(CODES, FACTORS[:40]), r"factors has shape \(40, 2\); expected \(50, K\)"),
    (lambda: mig(CODES, np.column_stack([FACTORS[:, 0], np.zeros(50, int)])), "column 1 takes a single value"),
    (lambda: mig(CODES, FACTORS.astype(float)), "dtype float64"),
    (lambda: sap(CODES, FACTORS, CODES[:, :2], FACTORS), "train and test disagree"),
    (lambda: dci(CODES, FACTORS, CODES, FACTORS, estimator="xgboost"), "estimator='xgboost' is not allowed"),
    (lambda: evaluate(GRID, FAMILY["perfect"], metrics=("mig", "irs")), r"metrics=\('mig', 'irs'\)"),
    (lambda: factor_vae_score(GRID, FAMILY["perfect"], 0, threshold=-1.0), "threshold=-1.0"),
    (lambda: beta_vae_score(GRID, lambda x: x[:, :0], 0, num_train=2, num_eval=2), "encode returned shape"),
])
def test_bad_input_is_named(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_huge_codes_give_the_same_scale_free_scores_and_sap_refuses_them():
    """Codes times 1e300 (finite, but their squares overflow): every score that a rescaling of the codes
    cannot change stays the same; SAP, whose SVMs depend on the scale and hang near 1e80, refuses at once."""
    codes_train, factors_train, codes_test, factors_test = train_test("rotated", 600, 300)
    huge_train, huge_test = codes_train * 1e300, codes_test * 1e300
    assert modularity_explicitness(huge_train, factors_train, huge_test, factors_test) == pytest.approx(
        modularity_explicitness(codes_train, factors_train, codes_test, factors_test), rel=1e-9)
    # the logistic regression's optimum is found to its solver's tolerance, and the standardised codes agree to
    # 1e-15, not bitwise: a few of the 1,500 test predictions (300 points x 5 factors) may change (3 do here)
    assert downstream(huge_train, factors_train, huge_test, factors_test, sizes=(50, 300)) == pytest.approx(
        downstream(codes_train, factors_train, codes_test, factors_test, sizes=(50, 300)), abs=0.005)
    assert gaussian_total_correlation(huge_train) == pytest.approx(gaussian_total_correlation(codes_train), rel=1e-9)
    assert mig(huge_train, factors_train) == pytest.approx(mig(codes_train, factors_train), rel=1e-9)
    assert dci(huge_train, factors_train, huge_test, factors_test) == pytest.approx(
        dci(codes_train, factors_train, codes_test, factors_test), rel=1e-9)
    with pytest.raises(ValueError, match=r"codes reach .*e\+300.*beyond 1e\+06: standardise the codes first"):
        sap(huge_train, factors_train, huge_test, factors_test)
    assert 0 <= sap(codes_train, factors_train, codes_test, factors_test) <= 1


def test_cli_evaluates_a_trained_run_into_its_directory(tmp_path, capsys):
    from course_lib.kit.cli import main

    run = tmp_path / "run"
    assert main(["train", "--method", "beta_vae", "--steps", "2", "--out", str(run), "--device", "cpu"]) == 0
    arguments = ["evaluate", "--run", str(run), "--metrics", "mig", "sap", "--num-train", "100", "--num-test", "50",
                 "--device", "cpu"]
    assert main(arguments) == 0
    table = pd.read_csv(run / "metrics.csv")
    assert list(table["metric"]) == ["mig", "sap"] and table["value"].between(0, 1).all()
    assert main(arguments[:3] + ["--metrics", "irs"]) == 2
    assert "metrics=('irs',) is not allowed" in capsys.readouterr().err


def test_a_split_factor_costs_completeness_not_disentanglement():
    codes_train, factors_train, codes_test, factors_test = train_test("split factor")
    assert codes_train.shape[1] == 6  # orientation (40 values) became (cos, sin) in place
    np.testing.assert_allclose(codes_train[:, 2] ** 2 + codes_train[:, 3] ** 2, 1.0)
    split = dci(codes_train, factors_train, codes_test, factors_test)
    assert split["disentanglement"] > 0.95 and split["completeness"] < 0.95
    assert mig(codes_train, factors_train) < mig(*codes_of("perfect", 2000, 1)) - 0.1


def test_downstream_accuracy_and_sample_efficiency():
    perfect = downstream(*train_test("perfect"), sizes=(100, 2000), predictors=("boosted_trees",))
    assert perfect["boosted_trees_2000"] > 0.98  # trees read a perfect code exactly
    assert perfect["boosted_trees_2000"] > perfect["boosted_trees_100"]
    assert perfect["boosted_trees_efficiency"] == pytest.approx(perfect["boosted_trees_100"]
                                                                / perfect["boosted_trees_2000"])
    noise = downstream(*train_test("noise only", 1000, 500), sizes=(100, 1000), predictors=("logistic_regression",))
    assert noise["logistic_regression_1000"] < 0.3 and set(noise) == {"logistic_regression_100",
                                                                      "logistic_regression_1000",
                                                                      "logistic_regression_efficiency"}
    with pytest.raises(ValueError, match="sizes=\\(100, 5000\\) is not allowed"):
        downstream(*train_test("perfect"), sizes=(100, 5000))
    with pytest.raises(ValueError, match="sizes=\\(4, 100\\) is not allowed; use sizes in \\[5, 2000\\]"):
        downstream(*train_test("perfect"), sizes=(4, 100))  # fewer codes than the cross-validation's folds
    table = evaluate(GRID, FAMILY["perfect"], metrics="downstream", num_train=200, num_test=100, progress=False)
    assert set(table["score"]) >= {"logistic_regression_100", "boosted_trees_200"}


def test_downstream_logistic_regression_reads_32_ordered_classes_off_one_axis():
    """A perfect code of one 32-valued factor (a position): a multinomial logistic regression separates 32
    intervals of one axis only with large weights, so its C is chosen by cross-validation (a fixed C = 1 on
    these standardised codes scores 0.22)."""
    factors = np.random.RandomState(0).randint(0, 32, size=(1500, 1))
    codes = factors.astype(float)
    scores = downstream(codes[:1000], factors[:1000], codes[1000:], factors[1000:], sizes=(100, 1000),
                        predictors=("logistic_regression",))
    assert scores["logistic_regression_1000"] > 0.98
    assert 0.5 < scores["logistic_regression_100"] < scores["logistic_regression_1000"]  # ~3 codes per class
