"""Zhou et al.'s topological scores: Wasserstein distances with closed forms, barycenters,
co-clustering, the embedding, and constructed decoders whose ranking is known."""
import numpy as np
import ot
import pytest
import torch
from scipy.stats import norm, wasserstein_distance

from course_lib.data.ground_truth import GroundTruthData
from course_lib.models import conv_vae
from course_lib.topology.zhou import (RandomConvEmbedding, barycenter_distances, cocluster_score, embed_images,
                                      factor_submanifold_rlts, histogram_wasserstein, latent_submanifold_codes,
                                      rlt_barycenter, similarity_from_distances, topological_scores)
from course_lib.lab.topology_plots import plot_coclusters, plot_submanifold_barycenters

E = np.eye(6)  # e_k: all the time at k holes


# -------------------------------------------------------------------------------- Wasserstein
def test_w1_between_distributions_over_hole_counts_closed_forms():
    assert histogram_wasserstein(E[1], E[3]) == pytest.approx(2.0)  # move all mass by two holes
    assert histogram_wasserstein((E[0] + E[2]) / 2, E[1]) == pytest.approx(1.0)  # half the mass by one, each way
    assert histogram_wasserstein(0.25 * E[0] + 0.75 * E[4], E[0]) == pytest.approx(3.0)
    rng = np.random.RandomState(0)
    a, b = rng.dirichlet(np.ones(6)), rng.dirichlet(np.ones(6))
    holes = np.arange(6.0)
    assert histogram_wasserstein(a, b) == pytest.approx(ot.wasserstein_1d(holes, holes, a, b, p=1))
    assert histogram_wasserstein(a, b) == pytest.approx(ot.emd2(a, b, np.abs(holes[:, None] - holes[None])))


def test_w1_between_heights_is_the_reference_codes_and_blind_to_position():
    assert histogram_wasserstein(E[1], E[3], mode="heights") == 0.0  # same heights, different hole counts
    rng = np.random.RandomState(1)
    a, b = rng.dirichlet(np.ones(6)), rng.dirichlet(np.ones(6))
    assert histogram_wasserstein(a, b, mode="heights") == pytest.approx(wasserstein_distance(a, b))
    assert histogram_wasserstein(a, b, mode="heights") == pytest.approx(ot.wasserstein_1d(a, b))
    batch = histogram_wasserstein(np.stack([a, b])[:, None], np.stack([a, b])[None], mode="heights")
    assert batch.shape == (2, 2) and batch[0, 0] == 0 and batch[0, 1] == batch[1, 0]
    with pytest.raises(ValueError, match="mode='l2'"):
        histogram_wasserstein(a, b, mode="l2")


def test_barycenter_distances_average_over_value_pairs():
    rows = [np.stack([E[1], E[3]])]  # one group, two values
    columns = [np.stack([E[1]]), np.stack([E[0], E[2]])]
    np.testing.assert_allclose(barycenter_distances(rows, columns), [[(0 + 2) / 2, (1 + 1 + 3 + 1) / 4]])
    np.testing.assert_allclose(barycenter_distances(rows, columns, "heights"), [[0.0, 0.0]])


# -------------------------------------------------------------------------------- barycenters
def test_barycenter_of_diracs_sits_between_them():
    bary = rlt_barycenter(np.stack([E[1], E[3]]))
    assert np.argmax(bary) == 2 and bary.sum() == pytest.approx(1.0)
    assert bary[4:].sum() == 0  # no mass beyond the hole counts the RLTs use
    np.testing.assert_array_equal(rlt_barycenter(np.stack([E[0], E[0]])), E[0])
    spread = rlt_barycenter(np.stack([E[1], E[3]]), reg=2.0)
    assert spread[2] < bary[2]  # more regularisation, more blur


def test_barycenter_renormalises_rows_and_checks_input():
    bary = rlt_barycenter(np.stack([0.5 * E[2], 0.5 * E[2]]))  # half the time at >= i_max holes
    assert np.argmax(bary) == 2 and bary.sum() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="rlts has shape"):
        rlt_barycenter(E[1])
    with pytest.raises(ValueError, match="rlts has shape"):
        rlt_barycenter(-np.stack([E[1], E[2]]))


# ------------------------------------------------------------------------------ co-clustering
def test_cocluster_score_recovers_planted_blocks():
    labels = np.array([0, 0, 1, 1, 1, 2])
    distances = np.where(labels[:, None] == labels[None, :], 0.1, 1.0)
    result = cocluster_score(distances, random_state=0)
    assert result.n_clusters == 3
    assert len(set(zip(result.row_labels, labels))) == 3  # the planted partition, up to names
    assert result.score == pytest.approx(1e4 * 0.9)
    assert list(result.table["n_clusters"]) == [2, 3, 4, 5, 6]
    flat = cocluster_score(np.ones((4, 4)), random_state=0)
    assert flat.score == pytest.approx(0.0)


def test_cocluster_score_on_rectangular_and_bad_input():
    distances = np.array([[0.0, 1.0], [1.0, 0.0], [0.1, 0.9]])
    result = cocluster_score(distances, random_state=0)
    assert result.n_clusters == 2 and result.score > 0
    assert result.row_labels[0] == result.row_labels[2] != result.row_labels[1]
    with pytest.raises(ValueError, match="cluster_counts"):
        cocluster_score(distances, cluster_counts=[3])
    with pytest.raises(ValueError, match="distances has shape"):
        cocluster_score(np.ones(4))
    np.testing.assert_array_equal(similarity_from_distances(np.zeros((2, 2))), np.ones((2, 2)))


# ---------------------------------------------------------------------------------- embedding
def squares(xs, size=64, side=8):
    images = np.zeros((len(xs), 1, size, size), np.float32)
    for i, x in enumerate(xs):
        images[i, 0, 28:28 + side, x:x + side] = 1
    return images


def test_embedding_is_seeded_and_sees_small_moves_as_small():
    images = squares([10, 12, 40])
    a, b = embed_images(images, RandomConvEmbedding(seed=0)), embed_images(images, RandomConvEmbedding(seed=0))
    np.testing.assert_array_equal(a, b)
    assert a.shape == (3, 64) and a.dtype == np.float64
    assert not np.allclose(a, embed_images(images, RandomConvEmbedding(seed=1)))
    # in pixel space the three squares are pairwise equally far apart (no overlap); embedded, a 2-pixel move is small
    assert np.linalg.norm(a[0] - a[1]) < 0.5 * np.linalg.norm(a[0] - a[2])
    assert embed_images(np.zeros((2, 3, 64, 64))).shape == (2, 64)  # colour images get a 3-channel net


def test_latent_submanifold_codes():
    base, values = latent_submanifold_codes(4, num_base=50, num_values=3, random_state=0)
    assert base.shape == (50, 4) and values.shape == (4, 3) and np.all(np.diff(values, axis=1) >= 0)
    again = latent_submanifold_codes(4, num_base=50, num_values=3, random_state=0)
    np.testing.assert_array_equal(base, again[0])


# ------------------------------------------------------------------------- constructed decoders
def features(a, b):
    """Factor a -> angle on a circle, factor b -> position on a segment; as (N, 1, 1, 3) 'images'."""
    angle, position = 2 * np.pi * norm.cdf(a), 2 * norm.cdf(b)
    return np.stack([np.cos(angle), np.sin(angle), position], 1)[:, None, None, :].astype(np.float32)


def disentangled(z):
    return features(z[:, 0], z[:, 1])


ROTATION = np.array([[1.0, 1.0], [-1.0, 1.0]]) / np.sqrt(2)


def mixed(z):
    rotated = z @ ROTATION.T
    return features(rotated[:, 0], rotated[:, 1])


class CircleAndSegment(GroundTruthData):
    """Two ground-truth factors: an angle (100 classes around a circle) and a position (100 on a segment)."""

    factor_names = ("angle", "position")
    factors_num_values = (100, 100)
    observation_shape = (1, 1, 3)

    def sample_observations_from_factors(self, factors, random_state):
        factors = self.check_factors(factors)
        return features(norm.ppf((factors[:, 0] + 0.5) / 100), norm.ppf((factors[:, 1] + 0.5) / 100))


def flatten(images):
    return images.reshape(len(images), -1)


SETTINGS = dict(num_base=150, num_values=3, n_draws=6, n_landmarks=24, gamma=1 / 8, embedding=flatten,
                progress=False)


@pytest.fixture(scope="module")
def real_factors():
    return factor_submanifold_rlts(CircleAndSegment(), random_state=1,
                                   **{k: v for k, v in SETTINGS.items() if k != "num_base"}, num_base=150)


def test_independent_latents_score_better_than_mixed_ones(real_factors):
    """Fixing the angle latent leaves a segment (no hole), fixing the position latent a circle (one hole):
    two latents of different topology. Rotating the latents makes every slice a similar arc."""
    good = topological_scores(disentangled, num_latent=2, factor_rlts=real_factors, random_state=0, **SETTINGS)
    bad = topological_scores(mixed, num_latent=2, factor_rlts=real_factors, random_state=0, **SETTINGS)
    assert good.unsupervised.score > bad.unsupervised.score + 2000
    assert good.supervised.score > bad.supervised.score
    # the disentangled model's latents match the real factors: z0 (angle fixed) ~ angle, z1 ~ position
    assert np.argmin(good.factor_distances[0]) == 0 and np.argmin(good.factor_distances[1]) == 1
    assert good.latent_distances[0, 0] == pytest.approx(0.0) and good.latent_distances[0, 1] > 0.5
    assert set(good.summary()) == {"unsupervised", "unsupervised_clusters", "supervised", "supervised_clusters"}


def test_both_wasserstein_modes_and_reproducibility(real_factors):
    paper = topological_scores(disentangled, num_latent=2, factor_rlts=real_factors, random_state=3, **SETTINGS)
    again = topological_scores(disentangled, num_latent=2, factor_rlts=real_factors, random_state=3, **SETTINGS)
    heights = topological_scores(disentangled, num_latent=2, factor_rlts=real_factors, random_state=3,
                                 wasserstein="heights", **SETTINGS)
    np.testing.assert_array_equal(paper.latent_distances, again.latent_distances)
    assert paper.unsupervised.score == again.unsupervised.score
    np.testing.assert_array_equal(paper.latents.barycenters[1], heights.latents.barycenters[1])
    assert not np.allclose(paper.latent_distances, heights.latent_distances)
    with pytest.raises(ValueError, match="wasserstein='paper'"):
        topological_scores(disentangled, num_latent=2, wasserstein="paper", **SETTINGS)


def test_a_trained_style_vae_and_dsprites_run_end_to_end(dsprites):
    torch.manual_seed(0)
    model = conv_vae(4).eval()
    small = dict(num_base=12, num_values=2, n_draws=2, n_landmarks=6, progress=False)
    result = topological_scores(model, dsprites, random_state=0, **small)
    assert result.latent_distances.shape == (4, 4) and result.factor_distances.shape == (4, 5)
    assert result.factors.names == list(dsprites.factor_names) and len(result.factors.values[0]) == 2
    assert result.latents.rlts[0].shape == (2, 2, 100)
    assert np.isfinite(result.unsupervised.score) and np.isfinite(result.supervised.score)
    result_decoder = topological_scores(model.decoder, random_state=0, **small)  # a bare decoder module
    np.testing.assert_allclose(result_decoder.latent_distances, result.latent_distances)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plot_coclusters(result.factor_distances, result.supervised, result.latents.names, result.factors.names)
    plot_submanifold_barycenters(result.latents, [0, 1])
    plt.close("all")


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="num_latent=None"):
        topological_scores(disentangled, **SETTINGS)
    with pytest.raises(ValueError, match="decoder=3"):
        topological_scores(3, **SETTINGS)
    with pytest.raises(ValueError, match="n_draws=0"):
        topological_scores(disentangled, num_latent=2, **{**SETTINGS, "n_draws": 0})
    with pytest.raises(ValueError, match="reg=0"):
        topological_scores(disentangled, num_latent=2, **{**SETTINGS, "reg": 0})


def test_factor_rlts_must_match_the_settings(real_factors):
    with pytest.raises(ValueError, match="factor_rlts was computed with"):
        topological_scores(disentangled, num_latent=2, factor_rlts=real_factors, **{**SETTINGS, "num_base": 100})
