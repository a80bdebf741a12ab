"""The objectives against closed forms, identities and constructed cases with known answers."""
import math

import pytest
import torch
from torch import nn

from course_lib.distributions import (bernoulli_reconstruction, covariance, gaussian_log_density, kl_to_standard_normal,
                                      permute_dims)
from course_lib.models import GaussianVAE, conv_vae
from course_lib.objectives import OBJECTIVES, STUDY_SWEEPS, make_objective
from course_lib.objectives.annealed_vae import capacity
from course_lib.objectives.beta_tcvae import kl_decomposition, log_importance_weights
from course_lib.objectives.dip_vae import dip_penalty
from course_lib.objectives.factor_vae import density_ratio_tc, fit_density_ratio


@pytest.fixture(autouse=True)
def seeded():
    torch.manual_seed(0)


def test_analytic_kl_equals_monte_carlo():
    mean, log_var = torch.tensor([[0.5, -1.0, 2.0]]), torch.tensor([[0.3, -0.7, 0.0]])
    z = mean + torch.exp(0.5 * log_var) * torch.randn(400_000, 3)
    samples = gaussian_log_density(z, mean, log_var) - gaussian_log_density(z, torch.zeros(1), torch.zeros(1))
    monte_carlo, standard_error = samples.mean(0), samples.std(0) / math.sqrt(len(z))
    analytic = kl_to_standard_normal(mean, log_var)[0]
    assert torch.all((monte_carlo - analytic).abs() < 4 * standard_error)


class FixedEncoder(nn.Module):
    num_latent = 2

    def forward(self, x):
        return (torch.tensor([1.5, -2.0]).expand(len(x), 2),
                torch.tensor([math.log(0.25), math.log(4.0)]).expand(len(x), 2))


def test_reparameterised_sample_has_the_posterior_moments():
    vae = GaussianVAE(FixedEncoder(), nn.Linear(2, 1))
    z = vae(torch.zeros(200_000, 1))["z"]
    torch.testing.assert_close(z.mean(0), torch.tensor([1.5, -2.0]), atol=0.02, rtol=0)
    torch.testing.assert_close(z.var(0), torch.tensor([0.25, 4.0]), atol=0.0, rtol=0.02)


def test_bernoulli_reconstruction_is_the_summed_negative_log_likelihood():
    logits, x = torch.randn(4, 1, 8, 8), (torch.rand(4, 1, 8, 8) > 0.5).float()
    p = torch.sigmoid(logits)
    expected = -(x * p.log() + (1 - x) * (1 - p).log()).flatten(1).sum(1)
    torch.testing.assert_close(bernoulli_reconstruction(logits, x), expected)


def test_permute_dims_shuffles_columns_and_breaks_dependence():
    a = torch.randn(20_000)
    z = torch.stack([a, 0.9 * a + 0.1 * torch.randn(20_000), -a], dim=1)
    shuffled = permute_dims(z)
    torch.testing.assert_close(shuffled.sort(0).values, z.sort(0).values)  # each column keeps its values
    assert torch.corrcoef(z.T)[0, 1] > 0.99
    off_diagonal = torch.corrcoef(shuffled.T) - torch.eye(3)
    assert off_diagonal.abs().max() < 0.05


def whiten(x):
    centred = x - x.mean(0)
    return centred @ torch.linalg.inv(torch.linalg.cholesky(covariance(centred))).T


def test_dip_penalties_vanish_when_the_moments_match():
    mean = whiten(torch.randn(500, 4, dtype=torch.float64) @ torch.randn(4, 4, dtype=torch.float64))
    torch.testing.assert_close(covariance(mean), torch.eye(4, dtype=torch.float64), atol=1e-10, rtol=0)
    out = {"mean": mean, "log_var": torch.full((500, 4), math.log(0.25), dtype=torch.float64)}
    i_terms = make_objective("dip_vae_i", lambda_od=10.0).regulariser(None, out, 0, {"reconstruction": 0, "kl": 0})
    assert i_terms["dip_off_diagonal"] < 1e-8 and i_terms["dip_diagonal"] < 1e-8
    # DIP-II targets Cov[mu] + E[diag Sigma]: with Cov[mu] = 0.75 I and Sigma = 0.25 I it is the identity.
    out["mean"] = mean * math.sqrt(0.75)
    ii_terms = make_objective("dip_vae_ii", lambda_od=10.0).regulariser(None, out, 0, {"reconstruction": 0, "kl": 0})
    assert ii_terms["dip_off_diagonal"] < 1e-8 and ii_terms["dip_diagonal"] < 1e-8


def test_dip_penalty_closed_form_and_defaults():
    cov = torch.tensor([[2.0, 0.5], [0.5, 1.0]])
    off, diag = dip_penalty(cov, lambda_od=3.0, lambda_d=7.0)
    assert off.item() == pytest.approx(3.0 * 2 * 0.25) and diag.item() == pytest.approx(7.0 * 1.0)
    assert make_objective("dip_vae_i", lambda_od=2.0).lambda_d == 20.0
    assert make_objective("dip_vae_ii", lambda_od=2.0).lambda_d == 2.0


def test_annealed_capacity_rises_linearly_then_holds():
    assert [capacity(t, 25.0, 100) for t in (0, 50, 100, 400)] == [0.0, 12.5, 25.0, 25.0]
    objective = make_objective("annealed_vae", c_max=10.0, gamma=1000.0, annealing_steps=10)
    terms = {"reconstruction": torch.tensor(3.0), "kl": torch.tensor(4.0)}
    assert objective.regulariser(None, None, 5, terms)["total"].item() == pytest.approx(3.0 + 1000.0 * 1.0)


# --- beta-TCVAE: a finite dataset of Gaussian posteriors with correlated means ---------------------

N, D, SIGMA = 512, 3, 0.2
MIXING = torch.tensor([[1.0, 0.0, 0.0], [0.9, 0.44, 0.0], [0.5, 0.3, 0.8]])


def mixture():
    generator = torch.Generator().manual_seed(1)
    mean = torch.randn(N, D, generator=generator) @ MIXING.T
    return mean, torch.full((N, D), math.log(SIGMA**2))


def exact_total_correlation(z, mean, log_var):
    """E over the given z of log q(z) - sum_d log q(z_d), with q the mixture over all N posteriors."""
    pairwise = gaussian_log_density(z[:, None], mean[None], log_var[None])
    log_q = torch.logsumexp(pairwise.sum(2), 1) - math.log(N)
    log_q_marginals = (torch.logsumexp(pairwise, 1) - math.log(N)).sum(1)
    return (log_q - log_q_marginals).mean()


def test_with_the_whole_dataset_as_its_batch_mws_gives_every_term_exactly():
    """MI, TC and dimension-wise KL against the three computed from the whole mixture q(z) (not from their sum,
    which is E[log q(z|x) - log p(z)] whatever the estimates of log q(z) and log q(z_d) are)."""
    mean, log_var = mixture()
    z = mean + SIGMA * torch.randn(N, D, generator=torch.Generator().manual_seed(3))
    pairwise = gaussian_log_density(z[:, None], mean[None], log_var[None])  # log q(z_nd | x_m)
    log_q = torch.logsumexp(pairwise.sum(2), 1) - math.log(N)
    log_q_marginals = (torch.logsumexp(pairwise, 1) - math.log(N)).sum(1)
    exact = {"mutual_information": (gaussian_log_density(z, mean, log_var).sum(1) - log_q).mean(),
             "total_correlation": (log_q - log_q_marginals).mean(),
             "dimensionwise_kl": (log_q_marginals - gaussian_log_density(z, 0 * z, 0 * z).sum(1)).mean()}
    estimate = kl_decomposition(z, mean, log_var, N, "mws")
    for name, value in exact.items():
        torch.testing.assert_close(estimate[name], value, atol=1e-4, rtol=0)
    assert exact["mutual_information"] > 1 and exact["total_correlation"] > 0.5 and exact["dimensionwise_kl"] > 0.01


def test_mws_is_exact_when_the_batch_is_the_whole_dataset():
    mean, log_var = mixture()
    z = mean + SIGMA * torch.randn(N, D)
    estimate = kl_decomposition(z, mean, log_var, N, "mws")["total_correlation"]
    torch.testing.assert_close(estimate, exact_total_correlation(z, mean, log_var), atol=1e-5, rtol=0)


def test_both_estimators_approach_the_exact_tc_as_the_batch_grows():
    mean, log_var = mixture()
    samples = (mean[:, None] + SIGMA * torch.randn(N, 64, D)).reshape(-1, D)  # 64 draws per posterior
    exact = exact_total_correlation(samples, mean, log_var).item()
    assert exact > 0.5  # the correlated means make a clearly dependent q(z)
    for estimator in ("mws", "mss"):
        errors = []
        for batch_size in (16, 64, 256, 512):
            estimates = []
            for _ in range(120 if batch_size < 256 else 30):
                rows = torch.randperm(N)[:batch_size]
                z = mean[rows] + SIGMA * torch.randn(batch_size, D)
                estimates.append(kl_decomposition(z, mean[rows], log_var[rows], N, estimator)["total_correlation"])
            errors.append(abs(torch.stack(estimates).mean().item() - exact))
        # MSS is noisy at small batches, so compare the large batches with both small ones.
        assert errors[2] < min(errors[:2]) and errors[3] < 0.03, (estimator, errors)


def test_importance_weights_are_normalised():
    for estimator in ("mws", "mss"):
        weights = log_importance_weights(8, 100, estimator).exp()
        torch.testing.assert_close(weights.sum(1), torch.ones(8))
    n, m = 100, 3  # B = 4: own posterior 1/N, the next one (cyclically) (N - M)/(NM), the other two 1/M
    rest, nxt = 1 / m, (n - m) / (n * m)
    expected = torch.tensor([[1 / n, nxt, rest, rest], [rest, 1 / n, nxt, rest], [rest, rest, 1 / n, nxt],
                             [nxt, rest, rest, 1 / n]])
    torch.testing.assert_close(log_importance_weights(4, n, "mss").exp(), expected)
    with pytest.raises(ValueError, match="batch_size"):
        log_importance_weights(8, 4, "mss")


# --- FactorVAE's discriminator --------------------------------------------------------------------

def test_factor_vae_discriminator_learns_the_total_correlation_of_dependent_codes():
    objective = make_objective("factor_vae", num_latent=2, gamma=10.0)
    optimizer = objective.optimizers["discriminator"]
    assert optimizer.defaults["lr"] == 1e-4 and optimizer.defaults["betas"] == (0.5, 0.9)  # Kim & Mnih's
    for group in optimizer.param_groups:
        group["lr"] = 1e-3  # only to keep the test short

    def dependent_codes():
        a = torch.randn(128, 1)
        return {"z": torch.cat([a, a + 0.1 * torch.randn(128, 1)], dim=1)}

    for _ in range(80):
        logged = objective.auxiliary_step(dependent_codes())
    assert logged["discriminator_accuracy"] > 0.85
    terms = {"reconstruction": torch.tensor(0.0), "kl": torch.tensor(0.0)}
    assert objective.regulariser(None, dependent_codes(), 0, terms)["total_correlation"] > 0.5


def test_fit_density_ratio_recovers_the_closed_form_tc_of_a_correlated_gaussian():
    rho = 0.8  # TC = -1/2 log(1 - rho^2) = 0.511 nats
    cholesky = torch.linalg.cholesky(torch.tensor([[1.0, rho], [rho, 1.0]]))
    generator = torch.Generator().manual_seed(1)
    critic, estimates = fit_density_ratio(lambda n: torch.randn(n, 2, generator=generator) @ cholesky.T,
                                          num_latent=2, steps=600, seed=0)
    assert estimates.shape == (600,) and abs(estimates[0]) < 0.2  # an untrained critic sees no dependence
    fresh = torch.randn(20000, 2, generator=generator) @ cholesky.T
    with torch.no_grad():
        assert density_ratio_tc(critic, fresh).item() == pytest.approx(-0.5 * math.log(1 - rho**2), abs=0.1)
        # on samples of prod_j q(z_j) the mean log ratio is -KL(prod_j q || q) = -1.27 nats here: negative
        assert density_ratio_tc(critic, torch.randn(20000, 2, generator=generator)).item() < -0.5


# --- the common interface -------------------------------------------------------------------------

@pytest.mark.parametrize("method", list(OBJECTIVES))
def test_every_objective_returns_named_terms_and_gradients(method):
    model = conv_vae(num_latent=4)
    x = (torch.rand(8, 1, 64, 64) > 0.8).float()
    out = model(x)
    terms = make_objective(method, num_latent=4, **({"dataset_size": 100} if method == "beta_tcvae" else {}))(x, out, 3)
    assert {"total", "reconstruction", "kl", "elbo", "kl_per_latent"} <= set(terms)
    torch.testing.assert_close(terms["kl"], terms["kl_per_latent"].sum())
    terms["total"].backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


def test_study_sweeps_cover_every_method_but_the_vae():
    assert set(STUDY_SWEEPS) == set(OBJECTIVES) - {"vae"}
    assert STUDY_SWEEPS["beta_vae"] == ("beta", (1, 2, 4, 6, 8, 16))


@pytest.mark.parametrize("method, kwargs, message", [
    ("gan", {}, "method='gan' is not allowed"),
    ("beta_vae", {"beta": -1.0}, "beta=-1.0"),
    ("beta_vae", {"gamma": 1.0}, r"does not take \['gamma'\]"),
    ("annealed_vae", {"c_max": -5.0}, "c_max=-5.0"),
    ("factor_vae", {"gamma": float("nan")}, "gamma=nan"),
    ("dip_vae_i", {"lambda_od": -2.0}, "lambda_od=-2.0"),
    ("beta_tcvae", {"estimator": "exact"}, "estimator='exact'"),
])
def test_bad_hyperparameters_are_rejected(method, kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_objective(method, **kwargs)


def test_bad_latent_size_is_rejected():
    with pytest.raises(ValueError, match="num_latent=0"):
        conv_vae(num_latent=0)
