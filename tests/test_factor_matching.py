import matplotlib
import numpy as np
import pandas as pd
import pytest

from course_lib.analysis.factor_matching import (kl_onset_steps, match_latents_to_factors,
                                                 normalized_mutual_information, smoothed_kl_per_latent)
from course_lib.lab.analysis_plots import plot_encoding_order

matplotlib.use("Agg")


def independent_factors(rng, n=20_000, sizes=(3, 6, 10)):
    return np.stack([rng.randint(size, size=n) for size in sizes], axis=1)


def test_nmi_is_one_for_a_copied_factor_and_near_zero_for_independent_ones(rng):
    factors = independent_factors(rng)
    # latent 0 copies factor 2 (up to noise smaller than a bin), latent 1 copies factor 0, latent 2 is noise
    codes = np.stack([factors[:, 2] + 0.01 * rng.randn(len(factors)), -3.0 * factors[:, 0],
                      rng.randn(len(factors))], axis=1)
    nmi = normalized_mutual_information(codes, factors, num_bins=20)
    assert nmi.shape == (3, 3)
    assert nmi[0, 2] == pytest.approx(1.0, abs=1e-9) and nmi[1, 0] == pytest.approx(1.0, abs=1e-9)
    off = np.ones_like(nmi, dtype=bool)
    off[0, 2] = off[1, 0] = False
    assert nmi[off].max() < 0.01  # independent pairs: only the small positive bias of the plug-in estimate
    # columns of codes permuted -> rows of NMI permuted the same way
    np.testing.assert_allclose(normalized_mutual_information(codes[:, [2, 0, 1]], factors), nmi[[2, 0, 1]])


def test_nmi_of_a_coarse_code_is_the_fraction_of_entropy_kept(rng):
    # a code that only says whether a uniform 4-class factor is < 2 keeps log 2 of log 4 nats: NMI = 1/2
    factors = np.repeat(np.arange(4), 5000)[:, None]
    codes = (factors >= 2).astype(float)
    assert normalized_mutual_information(codes, factors)[0, 0] == pytest.approx(0.5, abs=1e-12)


def test_nmi_of_constant_code_or_factor_is_zero(rng):
    factors = np.column_stack([rng.randint(5, size=1000), np.zeros(1000, int)])
    codes = np.column_stack([np.full(1000, 2.5), factors[:, 0].astype(float)])
    nmi = normalized_mutual_information(codes, factors)
    assert nmi[0, 0] == 0 and nmi[1, 1] == 0 and nmi[1, 0] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="same N"):
        normalized_mutual_information(codes[:10], factors)


def test_match_latents_to_factors_known_matrix():
    nmi = np.array([[0.1, 0.7, 0.2], [0.5, 0.5, 0.0], [0.0, 0.05, 0.9]])
    table = match_latents_to_factors(nmi, ["a", "b", "c"], kl=np.array([2.0, 0.01, 0.5]), kl_threshold=0.1)
    assert list(table["factor"]) == ["b", "a", "c"]  # a tie goes to the first factor
    np.testing.assert_allclose(table["nmi"], [0.7, 0.5, 0.9])
    assert list(table["runner_up"]) == ["c", "b", "b"]
    np.testing.assert_allclose(table["gap"], [0.5, 0.0, 0.85])
    assert list(table["active"]) == [True, False, True]
    assert match_latents_to_factors(nmi, ["a", "b", "c"])["active"].all()
    with pytest.raises(ValueError, match="factor names"):
        match_latents_to_factors(nmi, ["a", "b"])
    with pytest.raises(ValueError, match="kl has shape"):
        match_latents_to_factors(nmi, ["a", "b", "c"], kl=[1.0])


def ramp_log(onsets, steps=100, slope=0.1):
    """A run log whose latent d has KL 0 until step onsets[d], then rises by `slope` nats a step."""
    step = np.arange(1, steps + 1)
    data = {"step": step, "total": np.zeros(steps)}
    for d, onset in enumerate(onsets):
        data[f"kl_per_latent_{d}"] = np.clip((step - onset) * slope, 0, None)
    return pd.DataFrame(data)


def test_kl_onset_steps_known_answers():
    log = ramp_log([10, 50, 1000, 30])  # latent 2 never switches on
    onsets = kl_onset_steps(log, threshold=0.5)  # KL = 0.1 (step - onset) >= 0.5 from step onset + 5 on
    np.testing.assert_array_equal(onsets.to_numpy(), [15, 55, np.nan, 35])
    assert list(onsets.index) == [0, 1, 2, 3]
    # a trailing mean over w steps of a ramp lags it by (w - 1) / 2 steps: 2 steps for w = 5
    np.testing.assert_array_equal(kl_onset_steps(log, 0.5, smooth=5).to_numpy(), [17, 57, np.nan, 37])
    # a single spike crosses without smoothing and not with it
    spiky = ramp_log([1000])
    spiky.loc[20, "kl_per_latent_0"] = 3.0
    assert kl_onset_steps(spiky, 1.0).iloc[0] == 21 and np.isnan(kl_onset_steps(spiky, 1.0, smooth=5).iloc[0])
    with pytest.raises(ValueError, match="threshold"):
        kl_onset_steps(log, 0)
    with pytest.raises(ValueError, match="no kl_per_latent"):
        kl_onset_steps(log[["step", "total"]], 0.5)


def test_smoothed_kl_orders_latents_numerically():
    log = ramp_log(range(12))  # 12 latents: kl_per_latent_10 must come after _9, not after _1
    assert list(smoothed_kl_per_latent(log).columns) == list(range(12))


def test_plot_encoding_order_handles_no_active_latent():
    log = ramp_log([10, 1000])
    matches = match_latents_to_factors(np.array([[0.9, 0.1], [0.2, 0.3]]), ["x", "y"], kl=np.array([5.0, 0.0]))
    fig = plot_encoding_order(log, matches, threshold=0.5, capacity=lambda step: step / 10, factor_names=["x", "y"])
    assert "z0 → x" in " ".join(t.get_text() for t in fig.axes[1].texts)
    silent = match_latents_to_factors(np.zeros((2, 2)), ["x", "y"], kl=np.zeros(2))
    assert plot_encoding_order(ramp_log([1000, 1000]), silent, threshold=0.5) is not None
    matplotlib.pyplot.close("all")
