"""Topological disentanglement scores of a generative model (Zhou, Zelikman, Lu, Ng, Carlsson &
Ermon, "Evaluating the Disentanglement of Deep Generative Models through Manifold Topology",
ICLR 2021).

The idea: in a disentangled model, fixing one latent to different values cuts the data manifold
into *conditional submanifolds* that all look alike (they differ only in the value of one factor),
while fixing different latents gives submanifolds of different shapes. Topology compares shapes
without needing to know which factor is which:

  1. conditional submanifolds — `num_base` (paper: 1,000) shared base codes z ~ N(0, I); for each
     latent d and each of `num_values` (paper: 10) values v ~ N(0, 1), set z_d = v for every base
     code and decode: one cloud of images per (d, v);
  2. embedding — every decoded image goes through one fixed, seeded embedding to 64 numbers
     (`RandomConvEmbedding`; the paper uses an untrained VGG-16 cut to 64 outputs);
  3. RLTs — `n_draws` witness-complex RLTs per cloud (`course_lib.topology.rlt`, paper: 100 draws of
     64 landmarks, γ = 1/128); all clouds use the *same* landmark draws (common random numbers: the
     clouds share their base codes, so a latent that changes nothing gives identical RLTs);
  4. barycenters — the entropic Wasserstein barycenter of each cloud's RLTs, a distribution over
     hole counts (`rlt_barycenter`, POT);
  5. similarity — the Wasserstein distance between barycenters, averaged over value pairs, for every
     pair of latents (D × D; unsupervised) or every (latent, real factor) pair (D × K; supervised:
     the real factor's submanifolds fix one ground-truth factor of the dataset and draw the rest);
  6. spectral co-clustering of the similarity matrix (scikit-learn) for every cluster count; a
     co-cluster's score is its mean out-of-block distance minus its mean in-block distance, the
     count's score 10⁴ × the mean over co-clusters, and the reported score is that of the count
     whose blocks have the smallest variance. Higher is better: latents group into blocks that are
     alike inside and different across.

Differences from the public reference code, each deliberate:
  * W1 between barycenters is computed between *distributions over hole counts*, the paper's
    intent (`wasserstein="distributions"`, default). The reference code passes the two histograms
    to `scipy.stats.wasserstein_distance` as if their heights were samples, which ignores which hole
    count carries the mass (e₁ and e₃ are at distance 0); `wasserstein="heights"` reproduces that.
  * The embedding is a seeded random conv net (below), not VGG-16.
  * Barycenters are computed on the hole counts that carry mass (the barycenter's support lies
    there), with cost (i − j)² in hole counts and regularisation `reg` (default 0.5, raised when
    the support is wide enough for the Gibbs kernel to underflow).
  * The co-cluster variance is the mean over co-clusters of Var(in-block) + Var(out-of-block)
    distances (the reference divides standard deviations by block sizes); out-of-block is the
    "cross" of a block (its rows against other columns and its columns against other rows), as in
    the reference's first version; co-clusters without rows or columns are skipped.
  * The similarity passed to the co-clustering is 1 − d / max d (the reference uses 1 − d on
    distances that are far below 1), so the blocks are found from the same contrast at any scale.
"""
from __future__ import annotations

import dataclasses
import time
import warnings

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from course_lib.checks import check_choice, check_int, check_number
from course_lib.seeding import as_random_state
from course_lib.topology.rlt import ENGINES, check_n_jobs, rlts

__all__ = ["CoclusterScore", "RandomConvEmbedding", "SubmanifoldRLTs", "TopologicalScores", "WASSERSTEIN_MODES",
           "barycenter_distances", "cocluster_score", "embed_images", "factor_submanifold_rlts",
           "histogram_wasserstein", "latent_submanifold_codes", "latent_submanifold_rlts", "profile_settings",
           "rlt_barycenter", "similarity_from_distances", "topological_scores"]

WASSERSTEIN_MODES = ("distributions", "heights")
SCORE_SCALE = 1e4  # the paper reports 10^4 x the mean co-cluster difference


# ------------------------------------------------------------------------------------ embedding
class RandomConvEmbedding(nn.Module):
    """A fixed, seeded, untrained conv net: images (N, C, H, W) in [0, 1] → (N, 64) features.

    Zhou et al. embed images with an untrained VGG-16 cut to 64 outputs before computing RLTs, so
    that distances between images reflect local image structure rather than raw pixel overlap (two
    sprites that do not overlap are equally far apart in pixel space wherever they are). A random
    conv net keeps that property at a fraction of the cost: 2 × 2 average pooling, conv 5 × 5
    (16 channels, stride 2) + ReLU, conv 3 × 3 (32 channels, stride 2) + ReLU, 8 × 8 average pooling
    to a grid, and a random linear map to 64 numbers — about 0.4 M multiply-adds per 64 × 64 image
    (VGG-16 needs over 1,000 M; the kit's decoder 32 M), so embedding costs little next to decoding.
    Weights are He-normal from `torch.Generator().manual_seed(seed)`, biases zero: the same seed
    gives the same embedding on every machine with the same torch build. Random ReLU features
    approximate a fixed kernel on images (Rahimi & Recht 2007; Cho & Saul 2009), so nearby images
    stay nearby.
    """

    def __init__(self, num_channels: int = 1, out_dim: int = 64, seed: int = 0):
        super().__init__()
        check_int("num_channels", num_channels, 1)
        check_int("out_dim", out_dim, 1)
        self.net = nn.Sequential(
            nn.AvgPool2d(2),
            nn.Conv2d(num_channels, 16, 5, stride=2, padding=2), nn.ReLU(),
            nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.ReLU(),
            nn.AdaptiveAvgPool2d(8), nn.Flatten(),
            nn.Linear(32 * 8 * 8, out_dim),
        )
        generator = torch.Generator().manual_seed(int(seed))
        with torch.no_grad():
            for layer in self.net:
                if isinstance(layer, (nn.Conv2d, nn.Linear)):
                    fan_in = layer.weight[0].numel()
                    gain = 2.0 if isinstance(layer, nn.Conv2d) else 1.0
                    layer.weight.copy_(torch.randn(layer.weight.shape, generator=generator) * (gain / fan_in) ** 0.5)
                    layer.bias.zero_()
        self.requires_grad_(False)
        self.eval()

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images)


def embed_images(images, embedding=None, batch_size: int = 1024) -> np.ndarray:
    """float64 (N, E) features of images (N, C, H, W) in [0, 1] (default: RandomConvEmbedding(C))."""
    images = np.asarray(images, dtype=np.float32)
    if images.ndim != 4:
        raise ValueError(f"images has shape {images.shape}; expected (N, C, H, W)")
    embedding = embedding if embedding is not None else RandomConvEmbedding(images.shape[1])
    if not isinstance(embedding, nn.Module):
        return np.asarray(embedding(images), dtype=np.float64)
    parts = []
    with torch.no_grad():
        for start in range(0, len(images), batch_size):
            parts.append(embedding(torch.from_numpy(images[start:start + batch_size])).double().cpu().numpy())
    return np.concatenate(parts) if parts else np.zeros((0, 0))


# ----------------------------------------------------------------------------------- submanifolds
@dataclasses.dataclass
class SubmanifoldRLTs:
    """RLTs of conditional submanifolds, grouped: one group per latent (or per real factor).

    names        one name per group ("z0", ... or the dataset's factor names)
    values       per group, the values held fixed (latent values, or factor class indices)
    rlts         per group, (num_values, n_draws, i_max)
    barycenters  per group, (num_values, i_max): the Wasserstein barycenter of each set of RLTs
    settings     the arguments that produced them
    """

    names: list
    values: list
    rlts: list
    barycenters: list
    settings: dict

    def mean_rlts(self) -> list:
        """Per group, (num_values, i_max) mean RLTs (the Geometry Score's MRLT)."""
        return [r.mean(axis=1) for r in self.rlts]


def latent_submanifold_codes(num_latent: int, num_base: int = 1000, num_values: int = 10,
                             random_state=0) -> tuple[np.ndarray, np.ndarray]:
    """(base codes (num_base, D) ~ N(0, I), values (D, num_values) ~ N(0, 1), sorted per latent).

    The submanifold (d, v) is `base` with column d set to v (Zhou et al., Section 3)."""
    num_latent = check_int("num_latent", num_latent, 1)
    num_base, num_values = check_int("num_base", num_base, 3), check_int("num_values", num_values, 1)
    random_state = as_random_state(random_state)
    base = random_state.randn(num_base, num_latent).astype(np.float32)
    values = np.sort(random_state.randn(num_latent, num_values), axis=1).astype(np.float32)
    return base, values


def _channels_last_copy(module: nn.Module) -> nn.Module:
    """A copy of `module` whose convolutions run channels-last (on a CPU about 1.5-2x faster for the
    kit's deconvolutional decoder; the same numbers up to float rounding)."""
    import copy

    module = copy.deepcopy(module).eval().to(memory_format=torch.channels_last)
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d)):
            layer.register_forward_pre_hook(lambda _, args: (args[0].contiguous(memory_format=torch.channels_last),))
    return module


def _as_decode(decoder, num_latent, batch_size: int = 1024):
    """(decode function codes -> images in [0, 1], num_latent) from a VAE, a decoder module or a function."""
    from course_lib.representation import device_of

    if isinstance(decoder, nn.Module):
        if hasattr(decoder, "decoder"):  # a VAE: the Bernoulli means of its decoder
            num_latent = num_latent or getattr(decoder, "num_latent", None)
            decoder = decoder.decoder
        if num_latent is None:
            first = next((m for m in decoder.modules() if isinstance(m, nn.Linear)), None)
            num_latent = first.in_features if first is not None else None
        device, fast = device_of(decoder), _channels_last_copy(decoder)

        @torch.no_grad()
        def run(codes):
            return torch.cat([torch.sigmoid(fast(torch.as_tensor(codes[s:s + batch_size], device=device))).cpu()
                              for s in range(0, len(codes), batch_size)]).contiguous().numpy()
        return run, num_latent
    if not callable(decoder):
        raise ValueError(f"decoder={decoder!r} is not allowed; use a VAE (with .decoder), a decoder module "
                         "(codes -> logits) or a function codes (N, D) -> images (N, C, H, W) in [0, 1]")
    if num_latent is None:
        raise ValueError("num_latent=None is not allowed with a decoder function; give the number of latents")
    return decoder, num_latent


def _submanifold_rlts(clouds, names, values, settings, landmark_seed, progress, desc) -> SubmanifoldRLTs:
    """RLTs and barycenters for clouds[g][v] (each (num_base, E)), all with the same landmark draws."""
    group_rlts, group_barycenters = [], []
    bar = tqdm(total=sum(len(c) for c in clouds), desc=desc, disable=not progress)
    for group in clouds:
        sets = []
        for cloud in group:
            sets.append(rlts(cloud, n_landmarks=settings["n_landmarks"], gamma=settings["gamma"],
                             i_max=settings["i_max"], n_draws=settings["n_draws"], random_state=landmark_seed,
                             n_jobs=settings["n_jobs"], engine=settings["engine"], progress=False))
            bar.update()
        sets = np.stack(sets)
        group_rlts.append(sets)
        group_barycenters.append(np.stack([rlt_barycenter(s, reg=settings["reg"]) for s in sets]))
    bar.close()
    return SubmanifoldRLTs(list(names), list(values), group_rlts, group_barycenters, dict(settings))


def _settings(n_draws, n_landmarks, gamma, i_max, reg, n_jobs, engine, num_base, num_values):
    gamma = check_number("gamma", gamma, 0, low_open=True, none_ok=True, note=" (paper: 1/128)")
    reg = check_number("reg", reg, 0, low_open=True, note=" (entropic regularisation)")
    return {"n_draws": check_int("n_draws", n_draws, 1), "n_landmarks": check_int("n_landmarks", n_landmarks, 2),
            "gamma": gamma, "i_max": check_int("i_max", i_max, 2), "reg": reg,
            "n_jobs": check_n_jobs(n_jobs), "engine": check_choice("engine", engine, ENGINES),
            "num_base": check_int("num_base", num_base, 3), "num_values": check_int("num_values", num_values, 1)}


def latent_submanifold_rlts(decoder, num_latent: int | None = None, *, num_base: int = 1000, num_values: int = 10,
                            n_draws: int = 100, n_landmarks: int = 64, gamma: float | None = 1 / 128,
                            i_max: int = 100, reg: float = 0.5, embedding=None, random_state=0, n_jobs: int = 1,
                            engine: str = "numpy", progress: bool = True) -> SubmanifoldRLTs:
    """RLTs of the model's conditional submanifolds: one group per latent, one cloud per fixed value.

    decoder: a VAE (its `.decoder` and Bernoulli means are used), a decoder module (codes -> logits)
    or a function codes (N, D) float32 -> images (N, C, H, W) in [0, 1] (then give num_latent).
    """
    settings = _settings(n_draws, n_landmarks, gamma, i_max, reg, n_jobs, engine, num_base, num_values)
    decode_fn, num_latent = _as_decode(decoder, num_latent)
    num_latent = check_int("num_latent", num_latent, 1)
    random_state = as_random_state(random_state)
    code_seed, landmark_seed = (int(s) for s in random_state.randint(2**31, size=2))
    base, values = latent_submanifold_codes(num_latent, num_base, num_values, code_seed)
    clouds = []
    for d in tqdm(range(num_latent), desc="decoding submanifolds", disable=not progress, leave=False):
        codes = np.repeat(base[None], num_values, axis=0)  # (V, B, D)
        codes[:, :, d] = values[d][:, None]
        images = np.asarray(decode_fn(codes.reshape(-1, num_latent)), dtype=np.float32)
        embedded = embed_images(images, embedding)
        clouds.append(list(embedded.reshape(num_values, num_base, -1)))
    names = [f"z{d}" for d in range(num_latent)]
    return _submanifold_rlts(clouds, names, list(values), {**settings, "seed": code_seed},
                             landmark_seed, progress, "RLTs of latent submanifolds")


def factor_submanifold_rlts(dataset, *, num_base: int = 1000, num_values: int = 10, n_draws: int = 100,
                            n_landmarks: int = 64, gamma: float | None = 1 / 128, i_max: int = 100,
                            reg: float = 0.5, embedding=None, random_state=0, n_jobs: int = 1,
                            engine: str = "numpy", progress: bool = True) -> SubmanifoldRLTs:
    """RLTs of the dataset's real conditional submanifolds: one group per ground-truth factor.

    `num_base` factor vectors are drawn once (`dataset.sample_factors`); for factor k and each of up
    to `num_values` of its classes (evenly spread over its range; the paper uses every class), the
    k-th column is set to that class and the observations are rendered and embedded.
    """
    settings = _settings(n_draws, n_landmarks, gamma, i_max, reg, n_jobs, engine, num_base, num_values)
    random_state = as_random_state(random_state)
    factor_seed, landmark_seed = (int(s) for s in random_state.randint(2**31, size=2))
    render_state = np.random.RandomState(factor_seed)
    base = dataset.sample_factors(num_base, render_state)
    clouds, values = [], []
    for k, count in enumerate(dataset.factors_num_values):
        classes = np.unique(np.round(np.linspace(0, count - 1, min(count, num_values))).astype(int))
        group = []
        for c in classes:
            factors = base.copy()
            factors[:, k] = c
            group.append(embed_images(dataset.sample_observations_from_factors(factors, render_state), embedding))
        clouds.append(group)
        values.append(classes)
    return _submanifold_rlts(clouds, list(dataset.factor_names), values, {**settings, "seed": factor_seed},
                             landmark_seed, progress, "RLTs of real submanifolds")


# ------------------------------------------------------------------------- barycenters, distances
def rlt_barycenter(rlts_, reg: float = 0.5, max_iter: int = 5000, tol: float = 1e-6) -> np.ndarray:
    """The entropic Wasserstein barycenter (i_max,) of a set of RLTs (n, i_max) (POT's ot.barycenter).

    Each RLT is a distribution over hole counts (rows are renormalised when some time was spent at
    i_max holes or more; a row with no recorded time puts its mass on the last count). The cost is
    (i − j)² in hole counts and the barycenter is computed by iterative Bregman projections
    (Benamou et al. 2015) on the counts 0 .. k that carry mass (it cannot put mass elsewhere), with
    regularisation max(reg, k² / 600) so that exp(−cost / reg) stays representable.
    """
    import ot

    array = np.asarray(rlts_, dtype=np.float64)
    if array.ndim != 2 or len(array) == 0 or (array < 0).any() or not np.isfinite(array).all():
        raise ValueError(f"rlts has shape {array.shape}; expected (n, i_max) non-negative RLTs from rlts()")
    i_max = array.shape[1]
    totals = array.sum(axis=1, keepdims=True)
    array = np.where(totals > 0, array / np.where(totals > 0, totals, 1), np.eye(1, i_max, i_max - 1))
    support = int(np.flatnonzero(array.any(axis=0)).max()) + 1
    result = np.zeros(i_max)
    if support == 1:  # every draw saw no hole at all
        result[0] = 1.0
        return result
    counts = np.arange(support, dtype=np.float64)
    cost = (counts[:, None] - counts[None, :]) ** 2
    reg = max(float(reg), (support - 1) ** 2 / 600)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # slow convergence is reported by the tolerance, not by a warning per call
        bary = ot.barycenter(array[:, :support].T, cost, reg, method="sinkhorn", numItermax=max_iter, stopThr=tol)
    bary = np.clip(np.nan_to_num(bary), 0, None)
    result[:support] = bary / bary.sum()
    return result


def histogram_wasserstein(a, b, mode: str = "distributions") -> np.ndarray:
    """W1 between histograms over hole counts, broadcast over leading axes: a (..., i_max), b (..., i_max).

    "distributions" (the paper's intent): the distributions over hole counts 0 .. i_max − 1 with
    masses a and b; on the integers W1 = Σ_k |A(k) − B(k)| with A, B the cumulative sums.
    "heights" (the reference code): W1 between the empirical distributions of the i_max heights
    a_0 .. a_{i_max−1} and b_0 .. (as scipy.stats.wasserstein_distance(a, b)); with equal sample
    counts it is the mean absolute difference of the sorted heights — blind to *where* the mass is.
    """
    check_choice("mode", mode, WASSERSTEIN_MODES)
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape[-1] != b.shape[-1]:
        raise ValueError(f"histograms have {a.shape[-1]} and {b.shape[-1]} bins; they must match")
    if mode == "distributions":
        return np.abs(np.cumsum(a, axis=-1) - np.cumsum(b, axis=-1))[..., :-1].sum(axis=-1)
    return np.abs(np.sort(a, axis=-1) - np.sort(b, axis=-1)).mean(axis=-1)


def barycenter_distances(rows: list, columns: list, mode: str = "distributions") -> np.ndarray:
    """(len(rows), len(columns)): mean W1 between every barycenter of a row group and of a column group.

    rows, columns: lists of (num_values, i_max) barycenters (`SubmanifoldRLTs.barycenters`)."""
    result = np.zeros((len(rows), len(columns)))
    for i, a in enumerate(rows):
        for j, b in enumerate(columns):
            result[i, j] = histogram_wasserstein(a[:, None, :], b[None, :, :], mode).mean()
    return result


def similarity_from_distances(distances) -> np.ndarray:
    """1 − d / max d (all ones when every distance is 0): the non-negative matrix to co-cluster."""
    distances = np.asarray(distances, dtype=np.float64)
    top = distances.max()
    return np.ones_like(distances) if top <= 0 else 1.0 - distances / top


# ---------------------------------------------------------------------------------- co-clustering
@dataclasses.dataclass
class CoclusterScore:
    """The co-clustering score of a distance matrix.

    score          10⁴ × mean over co-clusters of (out-of-block − in-block mean distance), at the
                   cluster count whose blocks have the smallest variance
    n_clusters     that count; row_labels / column_labels: its co-cluster of every row / column
    variance       mean over co-clusters of Var(in-block) + Var(out-of-block) distances
    table          every count tried: n_clusters, score, variance
    """

    score: float
    n_clusters: int
    variance: float
    row_labels: np.ndarray
    column_labels: np.ndarray
    table: pd.DataFrame


def _block_statistics(distances, row_labels, column_labels, n_clusters) -> tuple[float, float]:
    differences, variances = [], []
    for c in range(n_clusters):
        rows, cols = row_labels == c, column_labels == c
        if not rows.any() or not cols.any():
            continue
        inside = distances[np.ix_(rows, cols)].ravel()
        outside = np.concatenate([distances[np.ix_(rows, ~cols)].ravel(), distances[np.ix_(~rows, cols)].ravel()])
        if outside.size == 0:
            continue
        differences.append(outside.mean() - inside.mean())
        variances.append(inside.var() + outside.var())
    if not differences:
        return 0.0, np.inf
    return SCORE_SCALE * float(np.mean(differences)), float(np.mean(variances))


def cocluster_score(distances, cluster_counts=None, random_state=0) -> CoclusterScore:
    """Spectral co-clustering (Dhillon 2001; scikit-learn) of 1 − d / max d for every cluster count.

    distances: (R, C) non-negative. cluster_counts: default 2 .. min(R, C). Ties in variance go to
    the smaller count. The same random_state seeds every count's k-means.
    """
    from sklearn.cluster import SpectralCoclustering
    from sklearn.exceptions import ConvergenceWarning

    distances = np.asarray(distances, dtype=np.float64)
    if distances.ndim != 2 or min(distances.shape) < 2 or not np.isfinite(distances).all() or (distances < 0).any():
        raise ValueError(f"distances has shape {distances.shape}; expected a finite non-negative (R, C) matrix "
                         "with R, C >= 2")
    largest = min(distances.shape)
    counts = list(range(2, largest + 1)) if cluster_counts is None else [int(k) for k in cluster_counts]
    if not counts or any(k < 2 or k > largest for k in counts):
        raise ValueError(f"cluster_counts={cluster_counts!r} is not allowed; use counts in [2, {largest}]")
    seed = int(as_random_state(random_state).randint(2**31))
    similarity = similarity_from_distances(distances) + 1e-9  # no all-zero row or column
    rows, labels = [], {}
    for k in counts:
        with warnings.catch_warnings():  # k-means finds fewer distinct clusters when latents coincide: expected
            warnings.simplefilter("ignore", ConvergenceWarning)
            model = SpectralCoclustering(n_clusters=k, random_state=seed).fit(similarity)
        score, variance = _block_statistics(distances, model.row_labels_, model.column_labels_, k)
        rows.append({"n_clusters": k, "score": score, "variance": variance})
        labels[k] = (model.row_labels_, model.column_labels_)
    table = pd.DataFrame(rows)
    best = table.sort_values(["variance", "n_clusters"], kind="stable").iloc[0]
    k = int(best["n_clusters"])
    return CoclusterScore(float(best["score"]), k, float(best["variance"]), labels[k][0], labels[k][1], table)


def profile_settings(num_samples: int) -> dict:
    """Zhou et al.'s sizes scaled to a profile's `num_samples` (notebook 10 and the model report).

    The paper's 1,000 base codes, 10 values per latent and 100 draws of 64 landmarks at γ = 1/128 are
    reached from 40,000 samples on (`full`); `lecture` (10,000) uses 250 base codes, 5 values and 20
    draws of 62 landmarks (about a minute per model on a 2-core CPU), `smoke` the smallest sizes that
    still run every step."""
    num_samples = check_int("num_samples", num_samples, 1)
    num_base = int(np.clip(num_samples // 40, 40, 1000))
    return {"num_base": num_base, "num_values": int(np.clip(num_samples // 2000, 2, 10)),
            "n_draws": int(np.clip(num_samples // 500, 3, 100)), "n_landmarks": int(np.clip(num_base // 4, 10, 64)),
            "gamma": 1 / 128}


# ---------------------------------------------------------------------------------- entry point
@dataclasses.dataclass
class TopologicalScores:
    """Zhou et al.'s scores of one model, with everything needed to draw them."""

    unsupervised: CoclusterScore
    supervised: CoclusterScore | None
    latent_distances: np.ndarray  # (D, D)
    factor_distances: np.ndarray | None  # (D, K)
    latents: SubmanifoldRLTs
    factors: SubmanifoldRLTs | None
    seconds: dict

    def summary(self) -> dict:
        """The two scores and their cluster counts, as a flat dict (for a table)."""
        out = {"unsupervised": self.unsupervised.score, "unsupervised_clusters": self.unsupervised.n_clusters}
        if self.supervised is not None:
            out.update(supervised=self.supervised.score, supervised_clusters=self.supervised.n_clusters)
        return out


def topological_scores(decoder, dataset=None, *, num_latent: int | None = None, num_base: int = 1000,
                       num_values: int = 10, n_draws: int = 100, n_landmarks: int = 64,
                       gamma: float | None = 1 / 128, i_max: int = 100, reg: float = 0.5,
                       wasserstein: str = "distributions", embedding=None, factor_rlts: SubmanifoldRLTs | None = None,
                       random_state=0, n_jobs: int = 1, engine: str = "numpy",
                       progress: bool = True) -> TopologicalScores:
    """Zhou et al.'s unsupervised (and, with a dataset, supervised) topological scores of a decoder.

    decoder       a VAE, a decoder module or a function codes -> images (see latent_submanifold_rlts)
    dataset       a ground-truth dataset for the supervised score (None: unsupervised only)
    num_base      points per submanifold (paper: 1,000); num_values: values per latent (paper: 10)
    n_draws, n_landmarks, gamma, i_max   RLT settings (paper: 100, 64, 1/128, 100)
    reg           entropic regularisation of the barycenters (cost: squared hole-count difference)
    wasserstein   "distributions" (paper's intent, default) or "heights" (the reference code's)
    embedding     images -> features (default: RandomConvEmbedding with seed 0, fixed across models)
    factor_rlts   precomputed `factor_submanifold_rlts(dataset, ...)` to share between models (it must
                  have the same num_base, i_max and landmark settings)
    random_state  int or RandomState: base codes, values, landmark draws and co-clustering
    """
    check_choice("wasserstein", wasserstein, WASSERSTEIN_MODES)
    settings = _settings(n_draws, n_landmarks, gamma, i_max, reg, n_jobs, engine, num_base, num_values)
    random_state = as_random_state(random_state)
    latent_seed, factor_seed, cluster_seed = (int(s) for s in random_state.randint(2**31, size=3))
    if factor_rlts is not None:
        theirs = {k: factor_rlts.settings.get(k) for k in ("num_base", "i_max", "n_landmarks", "gamma")}
        ours = {k: settings[k] for k in theirs}
        if theirs != ours:
            raise ValueError(f"factor_rlts was computed with {theirs}; these scores use {ours}")
    seconds = {}
    clock = time.perf_counter()
    latents = latent_submanifold_rlts(decoder, num_latent, embedding=embedding, random_state=latent_seed,
                                      progress=progress, **{k: settings[k] for k in (
                                          "num_base", "num_values", "n_draws", "n_landmarks", "gamma", "i_max",
                                          "reg", "n_jobs", "engine")})
    seconds["latent_rlts"] = time.perf_counter() - clock
    factors = factor_rlts
    if factors is None and dataset is not None:
        clock = time.perf_counter()
        factors = factor_submanifold_rlts(dataset, embedding=embedding, random_state=factor_seed, progress=progress,
                                          **{k: settings[k] for k in ("num_base", "num_values", "n_draws",
                                                                      "n_landmarks", "gamma", "i_max", "reg",
                                                                      "n_jobs", "engine")})
        seconds["factor_rlts"] = time.perf_counter() - clock
    clock = time.perf_counter()
    latent_distances = barycenter_distances(latents.barycenters, latents.barycenters, wasserstein)
    unsupervised = cocluster_score(latent_distances, random_state=cluster_seed)
    supervised = factor_distances = None
    if factors is not None:
        factor_distances = barycenter_distances(latents.barycenters, factors.barycenters, wasserstein)
        supervised = cocluster_score(factor_distances, random_state=cluster_seed)
    seconds["scores"] = time.perf_counter() - clock
    return TopologicalScores(unsupervised, supervised, latent_distances, factor_distances, latents, factors, seconds)
