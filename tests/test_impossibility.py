"""Locatello et al.'s Theorem 1: the entangling bijection keeps the distribution and mixes every coordinate."""
import numpy as np
import pytest
import scipy.stats as st
import torch

from course_lib.analysis.impossibility import (EntangledVAE, EntanglingMap, check_orthogonal, elbo_terms,
                                               energy_distance_test, finite_difference_jacobian, householder,
                                               kl_full_covariance, ks_tests, random_orthogonal)
from course_lib.lab.analysis_plots import plot_proof_stages
from course_lib.distributions import kl_to_standard_normal
from course_lib.lab.viz import plot_traversal_panels
from course_lib.models import mlp_vae
from course_lib.representation import encode

NUM = 100_000  # samples of the two-sample tests
MARGINALS = {
    "gaussian": [st.norm(), st.norm(), st.norm()],
    "shifted gaussian": [st.norm(2, 3), st.norm(-1, 0.5)],
    "uniform and exponential": [st.uniform(), st.expon(), st.uniform(-2, 4), st.expon(scale=3)],
    "skewed and heavy": [st.gamma(2.0), st.beta(2, 5), st.t(3), st.lognorm(0.8)],
}


@pytest.fixture(params=list(MARGINALS), ids=list(MARGINALS))
def entangler(request):
    return EntanglingMap(MARGINALS[request.param], alpha=0.3)


# --------------------------------------------------------------------------- the orthogonal matrix
@pytest.mark.parametrize("d", [2, 3, 5, 10])
@pytest.mark.parametrize("alpha", [0.01, 0.25, 0.49])
def test_householder_is_orthogonal_symmetric_and_has_no_zero_entry(d, alpha):
    a = householder(d, alpha)
    np.testing.assert_allclose(a.T @ a, np.eye(d), atol=1e-12)
    np.testing.assert_allclose(a, a.T)
    assert np.abs(a).min() > 1e-3
    v = np.r_[np.sqrt(alpha), np.full(d - 1, np.sqrt((1 - alpha) / (d - 1)))]
    np.testing.assert_allclose(a, np.eye(d) - 2 * np.outer(v, v))
    assert np.linalg.det(a) == pytest.approx(-1.0)  # a reflection


@pytest.mark.parametrize("alpha", [0, 0.5, -0.1, 0.7, True, "0.2", float("nan")])
def test_householder_rejects_alpha_outside_the_open_interval(alpha):
    with pytest.raises(ValueError, match=r"alpha=.*\(0, 0\.5\)"):
        householder(4, alpha)


@pytest.mark.parametrize("d", [1, 0, 2.5, True])
def test_householder_rejects_d_below_two(d):
    with pytest.raises(ValueError, match=r"d=.*>= 2"):
        householder(d, 0.25)


def test_random_orthogonal_is_orthogonal_and_reproducible():
    a = random_orthogonal(6, 3)
    np.testing.assert_allclose(a.T @ a, np.eye(6), atol=1e-12)
    np.testing.assert_array_equal(a, random_orthogonal(6, np.random.RandomState(3)))
    assert np.abs(a).min() > 0


def test_check_orthogonal_rejects_other_matrices():
    with pytest.raises(ValueError, match="not orthogonal"):
        check_orthogonal(2 * np.eye(3))
    with pytest.raises(ValueError, match="shape"):
        check_orthogonal(np.eye(3)[:2])


# --------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("marginals, match", [
    (st.norm(), "list of frozen"),
    ([st.norm()], "d=1"),
    ([st.norm(), st.poisson(3)], r"marginals\[1\]"),
    ([st.norm, st.norm()], r"marginals\[0\]"),
    ([st.norm(), "expon"], r"marginals\[1\]"),
])
def test_bad_marginals_are_rejected(marginals, match):
    with pytest.raises(ValueError, match=match):
        EntanglingMap(marginals)


def test_mismatched_matrix_and_points_are_rejected():
    with pytest.raises(ValueError, match=r"3 marginals"):
        EntanglingMap([st.norm()] * 3, matrix=np.eye(2))
    with pytest.raises(ValueError, match="not orthogonal"):
        EntanglingMap([st.norm()] * 2, matrix=[[1, 1], [0, 1]])
    with pytest.raises(ValueError, match="alpha="):
        EntanglingMap([st.norm()] * 2, alpha=0.5)
    f = EntanglingMap([st.uniform(), st.expon()])
    with pytest.raises(ValueError, match=r"u has shape \(4, 3\).*\(N, 2\)"):
        f(np.zeros((4, 3)))
    with pytest.raises(ValueError, match=r"u\[:, 1\].*outside the support"):
        f(np.array([[0.5, -1.0]]))
    with pytest.raises(ValueError, match="non-finite"):
        f.inverse(np.array([0.5, np.nan]))
    with pytest.raises(ValueError, match="num="):
        f.sample(0, 0)


# --------------------------------------------------------------------------- the theorem's two claims
def test_f_of_z_has_the_distribution_of_z(entangler):
    """Empirical CDFs within the DKW band, and KS (per coordinate and on random projections) and the
    energy-distance test do not reject, on 10^5 samples of f(z) against an independent sample of z."""
    rs = np.random.RandomState(0)
    fz = entangler(entangler.sample(NUM, rs))
    z = entangler.sample(NUM, rs)
    band = np.sqrt(np.log(2 / 1e-6) / (2 * NUM))  # DKW: P(sup |F_N - F| > band) <= 1e-6
    for i, marginal in enumerate(entangler.marginals):
        values = np.sort(fz[:, i])
        empirical = np.arange(1, NUM + 1) / NUM
        assert np.abs(empirical - marginal.cdf(values)).max() < band
    p_values = ks_tests(z, fz, num_projections=10, random_state=1)
    all_p = np.concatenate([p_values["dimensions"], p_values["projections"]])
    # Bonferroni at level 0.1 %: under the theorem the p-values are uniform, so a fixed seed fails with
    # probability 0.001; a wrong map (a lost dependence, a wrong marginal) gives p-values near 0 at 10^5 samples
    assert all_p.min() > 0.001 / len(all_p)
    assert energy_distance_test(z, fz, random_state=2, num_permutations=100, max_points=1000)["p_value"] > 0.01


def test_the_two_sample_checks_have_power_against_lost_independence():
    """A comonotone copy has exactly the right marginals but the wrong joint: only the joint tests see it."""
    rs = np.random.RandomState(0)
    f = EntanglingMap([st.uniform(), st.uniform()])
    z = f.sample(NUM, rs)
    u = rs.uniform(size=NUM)
    dependent = np.column_stack([u, u])
    p_values = ks_tests(z, dependent, num_projections=10, random_state=1)
    assert p_values["dimensions"].min() > 0.001
    assert p_values["projections"].min() < 1e-10
    assert energy_distance_test(z, dependent, random_state=2, num_permutations=100, max_points=500)["p_value"] < 0.02


def test_every_jacobian_entry_is_non_zero_and_matches_finite_differences(entangler):
    rs = np.random.RandomState(1)
    u = entangler.sample(2000, rs)
    jac = entangler.jacobian(u)
    assert jac.shape == (2000, entangler.d, entangler.d)
    assert np.all(np.abs(jac) > 0) and np.all(np.isfinite(jac))
    for point, analytic in zip(u[:20], jac[:20]):
        numeric = finite_difference_jacobian(entangler, point)
        np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-7 * np.abs(analytic).max())
    np.testing.assert_allclose(entangler.jacobian(u[0]), jac[0])


def test_inverse_undoes_f_to_1e_8(entangler):
    rs = np.random.RandomState(2)
    u = entangler.sample(20_000, rs)
    np.testing.assert_allclose(entangler.inverse(entangler(u)), u, rtol=1e-8, atol=1e-8)
    np.testing.assert_allclose(entangler(entangler.inverse(u)), u, rtol=1e-8, atol=1e-8)
    np.testing.assert_allclose(entangler(entangler(u)), u, rtol=1e-8, atol=1e-8)  # Householder: A^2 = I
    single = u[0]
    assert entangler(single).shape == (entangler.d,)


def test_inverse_with_a_general_rotation_uses_the_transpose():
    f = EntanglingMap([st.expon(), st.gamma(3.0), st.uniform()], matrix=random_orthogonal(3, 0))
    u = f.sample(5000, 4)
    np.testing.assert_allclose(f.inverse(f(u)), u, rtol=1e-8, atol=1e-8)
    assert np.abs(f(f(u)) - u).max() > 0.1  # not an involution


def test_standard_normal_marginals_reduce_f_to_the_matrix():
    f = EntanglingMap.standard_normal(5, alpha=0.1)
    u = np.random.RandomState(3).randn(1000, 5) * 3
    np.testing.assert_allclose(f(u), u @ f.matrix.T, atol=1e-10)
    np.testing.assert_allclose(f.inverse(u), u @ f.matrix, atol=1e-10)
    np.testing.assert_allclose(f.jacobian(u), np.broadcast_to(f.matrix, (1000, 5, 5)), atol=1e-9)


def test_tails_and_support_edges_stay_finite():
    f = EntanglingMap([st.norm(), st.uniform(), st.expon()])
    edges = np.array([[-45.0, 0.0, 0.0], [45.0, 1.0, 800.0], [-8.0, 1e-12, 1e-300], [8.0, 1 - 1e-12, 40.0]])
    with np.errstate(divide="raise", invalid="raise", over="raise"):
        out = f(edges)
    assert np.all(np.isfinite(out)) and np.all(np.isfinite(f.to_gaussian(edges)))
    assert np.abs(f.to_gaussian(edges)).max() <= 37.0
    # In the tails the round trip is limited by what a double can resolve: a uniform coordinate mapped to
    # 1 - 1e-10 keeps only 6 digits of its distance to 1. Points whose images stay resolvable:
    moderate = np.array([[-4, 1e-5, 1e-10], [4, 1 - 1e-5, 20]])
    np.testing.assert_allclose(f.inverse(f(moderate)), moderate, rtol=1e-6, atol=1e-12)


def test_stages_follow_the_proof(entangler):
    u = entangler.sample(3000, 5)
    stages = entangler.stages(u)
    np.testing.assert_allclose(stages["gaussian"], entangler.to_gaussian(u))
    np.testing.assert_allclose(stages["uniform"], entangler.to_uniform(u), atol=1e-9)
    np.testing.assert_allclose(stages["mixed"], stages["gaussian"] @ entangler.matrix.T)
    np.testing.assert_allclose(stages["f(z)"], entangler(u))
    assert stages["uniform"].min() >= 0 and stages["uniform"].max() <= 1


def test_plot_proof_stages_draws_six_panels():
    import matplotlib.pyplot as plt

    fig = plot_proof_stages(EntanglingMap([st.expon(), st.norm()]), random_state=0, num_points=300)
    assert len(fig.axes) == 6
    plt.close(fig)
    with pytest.raises(ValueError, match="d = 2"):
        plot_proof_stages(EntanglingMap([st.norm()] * 3), random_state=0)


# --------------------------------------------------------------------------- the trained-model side
@pytest.fixture(scope="module")
def vae_and_data():
    torch.manual_seed(0)
    model = mlp_vae(num_latent=4, observation_shape=(1, 8, 8), hidden=32).eval()
    with torch.no_grad():  # spread the posterior variances so the rotation has something to mix
        model.encoder.head.bias[4:] = torch.tensor([-3.0, -1.0, 0.0, 0.5])
    x = (np.random.RandomState(0).uniform(size=(300, 1, 8, 8)) > 0.5).astype(np.float32)
    return model, x


def test_entangled_vae_is_f_of_encoder_and_decoder_of_f_inverse(vae_and_data):
    model, x = vae_and_data
    a = householder(4, 0.2)
    entangled = EntangledVAE(model, a)
    means, log_vars = encode(model, x)
    new_means, new_log_vars = encode(entangled, x)
    np.testing.assert_allclose(new_means, means @ a.T, atol=1e-5)
    with torch.no_grad():
        mean, cov = entangled.posterior(torch.from_numpy(x))
        np.testing.assert_allclose(cov.numpy(), a @ (np.exp(log_vars)[:, :, None] * a.T[None]), rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(np.exp(new_log_vars), np.diagonal(cov.numpy(), axis1=1, axis2=2), rtol=1e-4)
        z = torch.randn(50, 4)
        np.testing.assert_allclose(entangled.decoder(z @ torch.tensor(a, dtype=torch.float32).T).numpy(),
                                   model.decoder(z).numpy(), atol=1e-5)
        out = entangled(torch.from_numpy(x[:7]))
    assert out["z"].shape == (7, 4) and out["logits"].shape == (7, 1, 8, 8) and out["covariance"].shape == (7, 4, 4)
    with torch.no_grad():
        marginal = EntangledVAE(model, a, posterior="marginal").posterior(torch.from_numpy(x[:5]))[1]
        mean_field = EntangledVAE(model, a, posterior="mean_field").posterior(torch.from_numpy(x[:5]))[1]
    np.testing.assert_allclose(marginal.numpy(), np.stack([np.diag(np.diag(c)) for c in cov[:5].numpy()]), rtol=1e-6)
    precision = np.linalg.inv(cov[:5].double().numpy())
    np.testing.assert_allclose(mean_field.numpy(), np.stack([np.diag(1 / np.diag(p)) for p in precision]), rtol=1e-4)
    variances = [np.diagonal(c.numpy(), axis1=1, axis2=2) for c in (mean_field, marginal)]
    narrower = variances[0] <= variances[1] + 1e-7
    assert np.all(narrower)  # mean-field variances never exceed the marginal ones


def test_entangled_vae_rejects_bad_matrices(vae_and_data):
    model, _ = vae_and_data
    with pytest.raises(ValueError, match="4 latents"):
        EntangledVAE(model, householder(3))
    with pytest.raises(ValueError, match="not orthogonal"):
        EntangledVAE(model, 2 * np.eye(4))
    with pytest.raises(ValueError, match=r"posterior='diag'.*mean_field"):
        EntangledVAE(model, np.eye(4), posterior="diag")


def test_full_covariance_kl_matches_the_diagonal_formula_and_is_rotation_invariant():
    rs = np.random.RandomState(0)
    mean, log_var = torch.from_numpy(rs.randn(20, 5)), torch.from_numpy(rs.randn(20, 5))
    kl = kl_full_covariance(mean, torch.diag_embed(log_var.exp()))
    np.testing.assert_allclose(kl.numpy(), kl_to_standard_normal(mean, log_var).sum(1).numpy(), rtol=1e-12)
    a = torch.from_numpy(random_orthogonal(5, 1))
    rotated = kl_full_covariance(mean @ a.T, a @ torch.diag_embed(log_var.exp()) @ a.T)
    np.testing.assert_allclose(rotated.numpy(), kl.numpy(), rtol=1e-10)


def test_elbo_is_the_same_for_the_entangled_model(vae_and_data):
    model, x = vae_and_data
    base = elbo_terms(model, x, num_samples=20, seed=0)
    entangled = elbo_terms(EntangledVAE(model, random_orthogonal(4, 2)), x, num_samples=20, seed=1)
    np.testing.assert_allclose(entangled["kl"], base["kl"], rtol=1e-5)
    difference = entangled["reconstruction"] - base["reconstruction"]
    assert abs(difference.mean()) < 4 * difference.std() / np.sqrt(len(x))  # equal up to Monte Carlo error
    np.testing.assert_allclose(base["elbo"], base["reconstruction"] - base["kl"])
    with pytest.raises(ValueError, match="num_samples="):
        elbo_terms(model, x, num_samples=0)


def test_two_sample_helpers_reject_mismatched_shapes():
    with pytest.raises(ValueError, match="same d"):
        ks_tests(np.zeros((5, 2)), np.zeros((5, 3)))
    with pytest.raises(ValueError, match="same d"):
        energy_distance_test(np.zeros((5, 2)), np.zeros((5, 3)), random_state=0)


def test_plot_traversal_panels_puts_models_side_by_side():
    import matplotlib.pyplot as plt

    traversals = np.random.RandomState(0).uniform(size=(3, 4, 1, 8, 8))
    order, kl = np.array([2, 0, 1]), np.array([0.1, 0.2, 0.3])
    fig = plot_traversal_panels({"a": (traversals, order, kl), "b": (traversals, order, kl)}, "title")
    assert len(fig.axes) == 3 * 9 and sum(ax.get_visible() for ax in fig.axes) == 3 * 8
    assert "z2 0.30  |  z2 0.30" in fig.axes[0].get_ylabel()
    plt.close(fig)
    with pytest.raises(ValueError, match="panels"):
        plot_traversal_panels({})
    with pytest.raises(ValueError, match="shapes"):
        plot_traversal_panels({"a": (traversals, order, kl), "b": (traversals[:, :2], order, kl)})
