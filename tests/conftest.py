import time
from pathlib import Path

import numpy as np
import pytest

from course_lib.data import DSprites
from course_lib.training import CONFIG


@pytest.fixture(scope="session")
def dsprites():
    """The procedural grid, from the checkout's cache (rendered once if missing)."""
    return DSprites(progress=False)


@pytest.fixture
def rng():
    return np.random.RandomState(0)


def wait_until_training(root, runs: int = 1) -> None:
    """Block until `runs` run folders under `root` have started training (each writes its config then), for at
    most 5 minutes, then a second more: a test that signals training then finds steps done."""
    deadline = time.monotonic() + 300
    while len(list(Path(root).glob(f"*/{CONFIG}"))) < runs and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1.0)


@pytest.fixture(name="wait_until_training")
def wait_until_training_fixture():
    """`wait_until_training` for the tests (conftest.py is not imported by name)."""
    return wait_until_training
