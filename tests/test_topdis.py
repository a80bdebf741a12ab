"""TopDis (Balabin et al. 2024): the Gaussian-preserving shift, the latent sampler, the gradient
orthogonalisation against known answers, and training on dSprites with each base."""
import math

import numpy as np
import pytest
import torch
from scipy import stats
from torch import nn

from course_lib.data.torch_sampler import GridBatchSampler
from course_lib.models import mlp_vae
from course_lib.objectives import make_objective
from course_lib.objectives.topdis import (TopDis, cdf_shift, gradient_cosine, latent_probabilities,
                                          projection_coefficient, shift_latent, shift_rtd_per_latent)
from course_lib.training import CHECKPOINT, LOG, TrainConfig, train


@pytest.fixture(autouse=True)
def seeded():
    torch.manual_seed(0)


# ------------------------------------------------------------------------------ the shift
@pytest.mark.parametrize("shift", [1 / 8, -1 / 8, 0.3])
def test_cdf_shift_moves_every_kept_value_by_exactly_c_in_the_cdf(shift):
    values = 3.0 + 2.0 * torch.randn(10_000, dtype=torch.float64)
    moved, keep = cdf_shift(values, shift)
    mean, std = values.mean(), values.std()
    before = torch.special.ndtr((values[keep] - mean) / std)
    after = torch.special.ndtr((moved - mean) / std)
    torch.testing.assert_close(after - before, torch.full_like(before, shift), atol=1e-12, rtol=0)
    assert keep.double().mean().item() == pytest.approx(1 - abs(shift), abs=0.015)  # the dropped rows: |C| of them


@pytest.mark.parametrize("shift", [1 / 8, -1 / 8])
def test_cdf_shift_preserves_the_standard_normal(shift):
    """Shifted N(0, 1) values have the N(0, 1) density on their range: N(0, 1) truncated at Φ⁻¹(|C|)."""
    values = torch.randn(200_000, dtype=torch.float64)
    moved, _ = cdf_shift(values, shift)
    standardised = ((moved - values.mean()) / values.std()).numpy()
    cut = stats.norm.ppf(abs(shift))
    low, high = (cut, np.inf) if shift > 0 else (-np.inf, -cut)
    assert stats.kstest(standardised, stats.truncnorm(low, high).cdf).pvalue > 0.01
    # the shifted sample is not just any normal-looking sample: it misses exactly the dropped tail
    assert (standardised > cut).all() if shift > 0 else (standardised < -cut).all()


def test_shift_latent_changes_one_coordinate_of_the_kept_rows():
    z = torch.randn(64, 5)
    original, shifted = shift_latent(z, 2, 1 / 8)
    assert len(original) == len(shifted) < 64
    torch.testing.assert_close(shifted[:, [0, 1, 3, 4]], original[:, [0, 1, 3, 4]], rtol=0, atol=0)
    assert (shifted[:, 2] > original[:, 2]).all()  # a positive shift in the CDF moves every value up
    assert all((row == z).all(1).any() for row in original)  # kept rows are rows of z


def test_latents_are_drawn_in_proportion_to_the_decoder_weights_that_read_them():
    decoder = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    with torch.no_grad():
        decoder[0].weight.copy_(torch.tensor([[3.0, 0.0, 1.0], [4.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]))
    torch.testing.assert_close(latent_probabilities(decoder), torch.tensor([5 / 6, 0.0, 1 / 6], dtype=torch.float64))


def test_shifting_an_unused_latent_changes_nothing_and_scores_zero(dsprites):
    model = small_model()
    with torch.no_grad():
        model.decoder.net[0].weight[:, 1] = 0  # the decoder ignores latent 1
    scores = shift_rtd_per_latent(model, dsprites.sample(24, 0)[1])
    assert scores.shape == (4,) and scores[1].item() == 0.0
    assert (scores[[0, 2, 3]] > 0).all()


# ------------------------------------------------------------------------------ orthogonalisation
def test_projection_coefficient_known_answers():
    g = [torch.tensor([1.0, 2.0]), torch.tensor([[3.0]]), None]
    minus = [-2 * t if t is not None else None for t in g]
    assert projection_coefficient(minus, g).item() == pytest.approx(-2.0)  # g_t - c g_r = 0
    assert projection_coefficient(g, g).item() == 0.0  # no conflict: unchanged
    orthogonal = [torch.tensor([2.0, -1.0]), torch.tensor([[0.0]]), torch.tensor([5.0])]
    assert projection_coefficient(orthogonal, g).item() == 0.0
    assert gradient_cosine(minus, g).item() == pytest.approx(-1.0)
    rs = np.random.RandomState(0)
    for _ in range(20):
        t, r = torch.tensor(rs.randn(6)), torch.tensor(rs.randn(6))
        c = projection_coefficient([t], [r])
        assert torch.dot(t - c * r, r).item() >= -1e-12


def small_model():
    return mlp_vae(num_latent=4, observation_shape=(1, 64, 64), hidden=32)


def model_gradient(model, loss):
    return torch.cat([g.flatten() for g in torch.autograd.grad(loss, list(model.parameters()), retain_graph=True)])


@pytest.mark.parametrize("factor, expected", [(-2.0, 0.0), (3.0, 3.0)])
def test_a_topological_term_against_reconstruction_is_projected_out(factor, expected, dsprites):
    """With L_TD = factor · reconstruction / gamma, the step's gradient is ∇L_base + (factor or 0) ∇rec."""
    model, objective = small_model(), TopDis(num_latent=4, delay=0, gamma=2.0)
    objective.attach(model)
    objective.topological_loss = lambda x, out: (factor / 2.0 * objective.base_objective(x, out, 1)["reconstruction"],
                                                 {"topdis_latent": 0.0})
    x = torch.as_tensor(dsprites.sample(16, 0)[1])
    out = model(x)
    terms = objective(x, out, 1)
    base = objective.base_objective(x, out, 1)
    reconstruction = model_gradient(model, base["reconstruction"])
    orthogonalised = model_gradient(model, terms["total"]) - model_gradient(model, base["total"])
    torch.testing.assert_close(orthogonalised, expected * reconstruction, atol=1e-4 * reconstruction.norm(), rtol=1e-4)
    assert terms["total"].item() == pytest.approx((base["total"] + factor * base["reconstruction"]).item(), rel=1e-6)
    assert terms["topdis_projection"].item() == pytest.approx(min(factor, 0.0), abs=1e-5)


def test_the_orthogonalised_topological_gradient_never_opposes_reconstruction(dsprites):
    model = small_model()
    sampler = GridBatchSampler(dsprites, "cpu", 0)
    for gamma in (1.0, 50.0):
        objective = TopDis(num_latent=4, delay=0, gamma=gamma)
        objective.attach(model, sampler)
        for step in range(1, 4):
            x = sampler.sample(32)
            out = model(x)
            terms = objective(x, out, step)
            base = objective.base_objective(x, out, step)
            reconstruction = model_gradient(model, base["reconstruction"])
            topological = model_gradient(model, terms["total"]) - model_gradient(model, base["total"])
            assert terms["topdis"].item() > 0 and topological.norm() > 0
            assert torch.dot(topological, reconstruction).item() >= -1e-5 * topological.norm() * reconstruction.norm()


# ------------------------------------------------------------------------------ the objective
def test_terms_are_zero_before_the_delay_and_logged_after(dsprites):
    model = small_model()
    objective = make_objective("topdis", 4, delay=2, gamma=5.0)
    objective.attach(model, GridBatchSampler(dsprites, "cpu", 0))
    x = torch.as_tensor(dsprites.sample(32, 0)[1])
    names = None
    for step in (1, 2, 3):
        terms = objective(x, model(x), step)
        names = names or list(terms)
        assert list(terms) == names  # the same columns every step (the log needs them)
        if step <= 2:
            assert terms["topdis"].item() == 0 and terms["topdis_latent"].item() == -1
        else:
            assert terms["topdis"].item() > 0 and 0 <= terms["topdis_latent"].item() < 4
            assert abs(terms["topdis_shift"].item()) == pytest.approx(1 / 8)
            assert 4 <= terms["topdis_points"].item() <= 32


def test_without_a_sampler_the_current_batch_is_used_and_without_a_model_it_refuses(dsprites):
    model, objective = small_model(), make_objective("topdis", 4, delay=0)
    x = torch.as_tensor(dsprites.sample(16, 0)[1])
    with pytest.raises(RuntimeError, match="attach"):
        objective(x, model(x), 1)
    objective.attach(model)
    assert objective(x, model(x), 1)["topdis"].item() > 0


@pytest.mark.parametrize("hyperparameters, match", [
    ({"base": "dip_vae_i"}, "base='dip_vae_i'"),
    ({"base": "factor_vae", "beta": 4.0}, "beta=4.0"),
    ({"base": "beta_vae", "factor_gamma": 10.0}, "factor_gamma=10.0"),
    ({"gamma": -1.0}, "gamma=-1.0"),
    ({"delay": -1}, "delay=-1"),
    ({"shift": 1.5}, "shift=1.5"),
    ({"num_bars": 0}, "num_bars=0"),
    ({"orthogonalize": "yes"}, "orthogonalize='yes'"),
    ({"lambda_od": 1.0}, "lambda_od"),
])
def test_bad_hyperparameters_raise_value_errors_that_name_them(hyperparameters, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig("topdis", hyperparameters).validate()


def test_hyperparameters_and_run_name():
    objective = make_objective("topdis", 10, base="beta_tcvae", beta=6.0, delay=100)
    assert objective.hyperparameters()["beta"] == 6.0 and objective.hyperparameters()["base"] == "beta_tcvae"
    factor = make_objective("topdis", 10, base="factor_vae", factor_gamma=40.0, gamma=6.0).hyperparameters()
    assert factor["factor_gamma"] == 40.0 and factor["gamma"] == 6.0
    config = TrainConfig("topdis", {"base": "factor_vae", "factor_gamma": 40, "delay": 10, "gamma": 5})
    assert config.slug().startswith("topdis-basefactor_vae-delay10-factor_gamma40-gamma5-conv")


# ------------------------------------------------------------------------------ training
@pytest.mark.parametrize("base, parameter", [("beta_vae", {"beta": 4.0}), ("beta_tcvae", {"beta": 6.0}),
                                             ("factor_vae", {"factor_gamma": 40.0})])
def test_topdis_trains_on_dsprites_with_each_base(base, parameter, dsprites, tmp_path):
    config = TrainConfig("topdis", {"base": base, "delay": 4, "gamma": 5.0, **parameter}, steps=10, batch_size=16,
                         checkpoint_every=5)
    run = train(config, tmp_path, device="cpu", dataset=dsprites, progress=False)
    log = run.log
    assert np.isfinite(log.to_numpy()).all()
    assert (log["topdis"].iloc[:4] == 0).all() and (log["topdis"].iloc[4:] > 0).all()
    assert set(log["topdis_latent"].iloc[4:]) <= set(range(10))
    if base == "factor_vae":
        assert "discriminator_accuracy" in log and "total_correlation" in log
    weight = {"beta_vae": 4.0, "beta_tcvae": 1.0, "factor_vae": 1.0}[base]
    regulariser = {"beta_vae": 0.0, "beta_tcvae": 5.0, "factor_vae": 40.0}[base] * log.get("total_correlation", 0.0)
    expected = log["reconstruction"] + weight * log["kl"] + regulariser + 5.0 * log["topdis"]
    np.testing.assert_allclose(log["total"], expected, atol=0.05)  # the logged total is L_base + γ L_TD (6 digits)


class Killed(Exception):
    pass


def test_a_killed_and_resumed_topdis_run_ends_with_the_same_parameters(dsprites, tmp_path, monkeypatch):
    """The second batch comes from the run's sampler and the latent from torch's CPU generator: both resume."""
    config = TrainConfig("topdis", {"delay": 2, "gamma": 5.0}, steps=8, batch_size=8, checkpoint_every=4,
                         architecture="mlp", num_latent=4)
    alone = train(config, tmp_path / "alone", device="cpu", dataset=dsprites, progress=False)
    original, calls = GridBatchSampler.sample, {"n": 0}

    def dies_at_step_6(self, batch_size):  # steps 1-2 draw one batch each, later steps two
        calls["n"] += 1
        if calls["n"] == 2 + 2 * 3 + 1:
            raise Killed
        return original(self, batch_size)

    monkeypatch.setattr(GridBatchSampler, "sample", dies_at_step_6)
    with pytest.raises(Killed):
        train(config, tmp_path / "killed", device="cpu", dataset=dsprites, progress=False)
    monkeypatch.setattr(GridBatchSampler, "sample", original)
    assert torch.load(tmp_path / "killed" / CHECKPOINT, weights_only=True)["step"] == 4
    resumed = train(config, tmp_path / "killed", device="cpu", dataset=dsprites, resume=True, progress=False)
    for a, b in zip(alone.model.state_dict().values(), resumed.model.state_dict().values()):
        assert torch.equal(a, b)
    assert (tmp_path / "alone" / LOG).read_text() == (tmp_path / "killed" / LOG).read_text()
    assert math.isfinite(resumed.log["topdis"].iloc[-1])
