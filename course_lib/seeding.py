"""Seeds and random states.

The kit follows disentanglement_lib: functions that draw random numbers take a `random_state`, a
`numpy.random.RandomState`. For convenience an int seed or a `numpy.random.Generator` is accepted
too and converted by `as_random_state` (a Generator's bit generator is shared, not copied).
"""
from __future__ import annotations

import os
import random

import numpy as np

from course_lib.checks import check_int

MAX_SEED = 2**32 - 1


def check_seed(seed) -> int:
    """`seed` as an int when it is an integer numpy's RandomState takes: 0 <= seed <= MAX_SEED."""
    return check_int("seed", seed, 0, MAX_SEED)


def as_random_state(random_state) -> np.random.RandomState:
    """RandomState from a RandomState (itself), a Generator (shared stream) or an int seed."""
    if isinstance(random_state, np.random.RandomState):
        return random_state
    if isinstance(random_state, np.random.Generator):
        return np.random.RandomState(random_state.bit_generator)
    if random_state is None:
        raise ValueError("random_state=None is not allowed; pass a seed or a numpy RandomState")
    return np.random.RandomState(check_seed(random_state))


def continuation_seed(seed: int, step: int) -> int:
    """A seed for a run's generator at `step` from the run's seed (NumPy's SeedSequence mixes the two): for a run
    that continues on another type of device than its checkpoint's, whose generator state it cannot take."""
    return int(np.random.SeedSequence([check_seed(seed), check_int("step", step, 0)]).generate_state(1)[0])


def seed_everything(seed: int) -> np.random.RandomState:
    """Seed Python, NumPy and (when installed) PyTorch on every device; return a RandomState(seed).

    cuDNN is put in deterministic mode so that the same seed gives the same numbers on the same
    device. Across devices (CPU vs GPU) floating-point results may still differ in the last bits.
    """
    seed = check_seed(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)
    random.seed(seed)
    np.random.seed(seed)
    try:
        import torch
    except ImportError:  # the data layer works without torch
        return np.random.RandomState(seed)
    torch.manual_seed(seed)  # seeds every CUDA device too
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
    return np.random.RandomState(seed)
