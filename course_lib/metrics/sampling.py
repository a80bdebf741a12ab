"""Drawing (codes, factors) samples as disentanglement_lib does, and encoding each image at most once.

`encode` is any function from a batch of observations (N, *observation_shape) to codes (N, D),
e.g. `course_lib.representation.mean_code_function(model)` (the mean of q(z|x), as in the study).
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
from tqdm.auto import tqdm

from course_lib.checks import check_int
from course_lib.data import GroundTruthData
from course_lib.seeding import as_random_state

Encode = Callable[[np.ndarray], np.ndarray]


def encode_checked(encode: Encode, observations: np.ndarray) -> np.ndarray:
    """encode(observations) as a float64 (N, D) array, or a ValueError saying what `encode` returned."""
    codes = np.asarray(encode(observations), dtype=np.float64)
    if codes.ndim != 2 or len(codes) != len(observations) or codes.shape[1] < 1:
        raise ValueError(f"encode returned shape {codes.shape} for {len(observations)} observations; "
                         "expected (N, D)")
    if not np.isfinite(codes).all():
        raise ValueError("encode returned NaN or infinite codes")
    return codes


def sample_factor_codes(dataset: GroundTruthData, encode: Encode, num: int, random_state,
                        batch_size: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """(codes (num, D), factors (num, K)) for `num` fresh factor draws, in batches of `batch_size`.

    disentanglement_lib's `generate_batch_factor_code`: drawing in batches of 16 (the study's size)
    consumes the random state exactly as it does, so the same seed gives the same factors.
    """
    num = check_int("num", num, 2)
    batch_size = check_int("batch_size", batch_size, 1)
    random_state = as_random_state(random_state)
    codes, factors = [], []
    for start in range(0, num, batch_size):
        batch_factors, observations = dataset.sample(min(batch_size, num - start), random_state)
        codes.append(encode_checked(encode, observations))
        factors.append(batch_factors)
    return np.concatenate(codes), np.concatenate(factors)


class EncodedDataset(GroundTruthData):
    """A deterministic grid dataset whose "observations" are the codes of its images.

    Each image is encoded at most once: codes are cached by flat grid index, filled on demand or
    all at once by `encode_all()` (cheaper when a metric needs more draws than the grid has images,
    as the BetaVAE and FactorVAE scores do on dSprites). Pass it to a metric with `identity`.
    """

    def __init__(self, dataset: GroundTruthData, encode: Encode, batch_size: int = 4096, progress: bool = True):
        if not (getattr(dataset, "deterministic", False) and hasattr(dataset, "index_of")):
            raise ValueError(f"dataset={dataset!r} is not allowed: codes can be cached only for a deterministic "
                             "dataset addressed by grid index (e.g. DSprites('binary'))")
        self.dataset, self.encode = dataset, encode
        self.batch_size = check_int("batch_size", batch_size, 1)
        self.progress = progress
        self.num_images = int(np.prod(dataset.factors_num_values))
        self._codes: np.ndarray | None = None
        self._known = np.zeros(self.num_images, dtype=bool)

    factor_names = property(lambda self: self.dataset.factor_names)
    factors_num_values = property(lambda self: self.dataset.factors_num_values)

    @property
    def observation_shape(self) -> tuple[int, ...]:
        return () if self._codes is None else self._codes.shape[1:]

    @property
    def num_encoded(self) -> int:
        """How many distinct images have been encoded so far."""
        return int(self._known.sum())

    def _encode_indices(self, indices: np.ndarray, stop: Callable[[], bool] | None = None) -> None:
        chunks = range(0, len(indices), self.batch_size)
        for start in tqdm(chunks, desc="encoding", disable=not self.progress or len(chunks) < 20, leave=False):
            if stop is not None and stop():
                return
            chunk = indices[start:start + self.batch_size]
            observations = self.dataset.sample_observations_from_factors(self.dataset.factors_at(chunk), None)
            codes = encode_checked(self.encode, observations)
            if self._codes is None:
                self._codes = np.zeros((self.num_images, codes.shape[1]), dtype=np.float64)
            self._codes[chunk] = codes
            self._known[chunk] = True

    def encode_all(self, stop: Callable[[], bool] | None = None) -> EncodedDataset:
        """Encode every image of the grid not encoded yet (in grid order); returns self. `stop` is asked before
        each batch: once it says True the rest is left (the codes made are kept: the next call goes on)."""
        self._encode_indices(np.flatnonzero(~self._known), stop)
        return self

    def sample_observations_from_factors(self, factors, random_state=None) -> np.ndarray:
        indices = self.dataset.index_of(factors)
        missing = np.unique(indices[~self._known[indices]])
        if missing.size:
            self._encode_indices(missing)
        return self._codes[indices]


def identity(codes: np.ndarray) -> np.ndarray:
    """The `encode` to pair with an `EncodedDataset`, whose observations already are codes."""
    return codes
