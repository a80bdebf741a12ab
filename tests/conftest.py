import numpy as np
import pytest

from course_lib.data import DSprites


@pytest.fixture(scope="session")
def dsprites():
    """The procedural grid, from the checkout's cache (rendered once if missing)."""
    return DSprites(progress=False)


@pytest.fixture
def rng():
    return np.random.RandomState(0)
