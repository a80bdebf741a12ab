"""UDR (Duan et al. 2020): known answers on constructed posteriors."""
import numpy as np
import pytest
import scipy.stats

from course_lib.data import FactorGrid
from course_lib.metrics.udr import relative_strength, similarity_matrix, udr, udr_score


def full_factorial(levels: int, dims: int) -> np.ndarray:
    """Every combination of `levels` values in `dims` columns: different columns are exactly uncorrelated
    (also in rank), so a matching latent's similarity has no sampling noise beside it."""
    grid = np.stack(np.meshgrid(*[np.arange(levels, dtype=float)] * dims, indexing="ij"), -1).reshape(-1, dims)
    return grid - grid.mean(0)


def posteriors(codes, log_var=-4.0):
    return codes, np.full_like(codes, log_var)


def test_relative_strength_closed_forms():
    assert relative_strength(np.eye(4)) == pytest.approx(1.0)
    assert relative_strength(-np.eye(3)[[2, 0, 1]]) == pytest.approx(1.0)  # a signed permutation
    assert relative_strength(np.ones((4, 4))) == pytest.approx(1 / 4)
    assert relative_strength(np.array([[1.0, 0.0], [0.0, 0.0]])) == pytest.approx(0.5)  # empty row/column count 0
    assert relative_strength(np.zeros((0, 3))) == 0.0


# On standardised codes Lasso(alpha = 0.1) shrinks a perfect coefficient 1 to 0.9, and S(R) is not scale
# invariant: a signed permutation scores 0.9 with Lasso (disentanglement_lib's choice), 1 with Spearman.
@pytest.mark.parametrize("correlation, agreement", [("lasso", 0.9), ("spearman", 1.0)])
def test_permuted_and_flipped_copies_agree_rotated_ones_do_not(correlation, agreement):
    rng = np.random.RandomState(0)
    z = full_factorial(6, 4) * [2.0, 1.0, 1.0, 0.5]
    permuted = -3 * z[:, [2, 0, 3, 1]]
    rotation = np.linalg.qr(rng.randn(4, 4))[0]
    means = [z, permuted, z @ rotation]
    result = udr(means, [np.full_like(m, -4.0) for m in means], correlation=correlation)
    assert result["pairwise"][0, 1] == pytest.approx(agreement, abs=1e-6)
    assert result["pairwise"][0, 2] < 0.8 * agreement
    assert result["model_scores"][2] < result["model_scores"][0]


def test_similarity_matrix_spearman_is_invariant_to_monotone_maps():
    rng = np.random.RandomState(1)
    a = rng.randn(500, 2)
    between = scipy.stats.spearmanr(a[:, 0], a[:, 1]).statistic  # the sample's own small correlation
    np.testing.assert_allclose(similarity_matrix(a, np.exp(a[:, ::-1]), "spearman"),
                               [[between, 1], [1, between]], atol=1e-12)


def test_uninformative_latents_are_filtered_by_their_kl():
    z = full_factorial(8, 3)
    n = len(z)
    collapsed = np.column_stack([z, np.zeros(n)])  # a 4th latent at the prior: mean 0, log variance 0
    log_vars = np.column_stack([np.full((n, 3), -4.0), np.zeros(n)])
    noise = np.random.RandomState(2).randn(n)  # the same 4th latent, informative and unmatched: it counts
    result = udr([collapsed, collapsed, np.column_stack([z, noise])], [log_vars, log_vars, np.full((n, 4), -4.0)],
                 correlation="spearman")
    assert result["pairwise"][0, 1] == pytest.approx(1.0, abs=1e-9)  # the collapsed latent is left out
    assert result["pairwise"][0, 2] < 0.98  # the extra informative latent matches nothing in model 0


@pytest.mark.parametrize("correlation", ["lasso", "spearman"])
def test_a_collapsed_latent_that_still_carries_a_factor_takes_nothing_from_the_informative_ones(correlation):
    """Duan et al. / disentanglement_lib zero the uninformative latents before the regression: a collapsed latent
    (KL ~ 5e-5) whose tiny mean follows factor 0 must not win the Lasso's coefficient from the informative copy.
    UDR with it equals UDR without it, and two models with the factors in another order agree (about 0.9 here:
    the Lasso shrinks; it was 0.45 when the collapsed latent competed)."""
    factors = np.random.RandomState(0).randn(1000, 2)
    first = np.column_stack([0.01 * factors[:, 0], factors])  # collapsed, f0, f1
    second = np.column_stack([factors[:, 1], factors[:, 0], 0.01 * factors[:, 0]])  # f1, f0, collapsed
    log_vars = [np.column_stack([np.zeros(1000), np.full((1000, 2), -4.0)]),
                np.column_stack([np.full((1000, 2), -4.0), np.zeros(1000)])]
    with_collapsed = udr([first, second], log_vars, correlation=correlation)["pairwise"]
    without = udr([first[:, 1:], second[:, :2]], [log_vars[0][:, 1:], log_vars[1][:, :2]],
                  correlation=correlation)["pairwise"]
    np.testing.assert_allclose(with_collapsed, without, atol=1e-9)
    assert with_collapsed[0, 1] > 0.85 and with_collapsed[1, 0] > 0.85


def test_udr_score_encodes_the_same_draws_for_every_model():
    grid = FactorGrid((4, 5, 6))
    encoders = [lambda x: posteriors(x * [1, 2, 3]), lambda x: posteriors(-x[:, ::-1]),
                lambda x: posteriors(x[:, [1, 0, 2]]),
                lambda x: posteriors(x @ np.array([[1, 1, 0], [1, -1, 0], [0, 0, 1]]))]
    scores = udr_score(grid, encoders, random_state=0, num_points=300)["model_scores"]
    np.testing.assert_allclose(scores[:3], 0.9, atol=0.01)  # the median over the other three models
    assert scores[3] < 0.75


@pytest.mark.parametrize("call, message", [
    (lambda: udr([np.zeros((5, 2))], [np.zeros((5, 2))]), "M >= 2 models"),
    (lambda: udr([np.zeros((5, 2))] * 2, [np.zeros((5, 3))] * 2), "same N observations"),
    (lambda: udr([np.ones((5, 2))] * 2, [np.zeros((5, 2))] * 2, correlation="pearson"), "correlation='pearson'"),
])
def test_bad_input(call, message):
    with pytest.raises(ValueError, match=message):
        call()
