import os

import numpy as np
import pytest
import torch

from course_lib.device import check_batch_fits, get_device, training_bytes
from course_lib.profiles import PROFILES, get_profile
from course_lib.seeding import as_random_state, seed_everything


def test_seed_everything_makes_every_generator_repeat():
    def draw():
        return np.random.rand(3), torch.rand(3), seed_everything.__globals__["random"].random()

    seed_everything(7)
    first = draw()
    seed_everything(7)
    second = draw()
    np.testing.assert_array_equal(first[0], second[0])
    assert torch.equal(first[1], second[1]) and first[2] == second[2]
    assert os.environ["PYTHONHASHSEED"] == "7"


def test_seed_everything_returns_the_seeded_random_state():
    np.testing.assert_array_equal(seed_everything(3).randint(100, size=5),
                                  np.random.RandomState(3).randint(100, size=5))


@pytest.mark.parametrize("seed", [-1, 2**32, 1.5, "0", True])
def test_bad_seeds_are_rejected(seed):
    with pytest.raises(ValueError, match="seed="):
        seed_everything(seed)


def test_as_random_state_accepts_seed_state_and_generator():
    state = np.random.RandomState(4)
    assert as_random_state(state) is state
    np.testing.assert_array_equal(as_random_state(4).rand(3), np.random.RandomState(4).rand(3))
    generator = np.random.default_rng(0)
    shared = as_random_state(generator)
    shared.rand(10)
    replay = np.random.default_rng(0)
    replay.random(10)  # the RandomState advanced the generator's own stream
    assert generator.bit_generator.state == replay.bit_generator.state
    with pytest.raises(ValueError, match="random_state=None"):
        as_random_state(None)


def test_get_device():
    assert get_device("cpu") == torch.device("cpu")
    assert get_device("auto") == torch.device("cuda" if torch.cuda.is_available() else "cpu")
    assert get_device(torch.device("cpu")) == torch.device("cpu")
    with pytest.raises(ValueError, match="device='tpu' is not allowed"):
        get_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA GPU"):
            get_device("cuda")


def test_profiles_table_and_environment_default(monkeypatch):
    assert set(PROFILES) == {"smoke", "lecture", "full"}
    assert PROFILES["smoke"].num_samples < PROFILES["lecture"].num_samples < PROFILES["full"].num_samples
    monkeypatch.setenv("COURSE_PROFILE", "full")
    assert get_profile().name == "full" and get_profile("smoke").name == "smoke"
    monkeypatch.delenv("COURSE_PROFILE")
    assert get_profile().name == "lecture"
    with pytest.raises(ValueError, match="profile='huge'.*smoke"):
        get_profile("huge")
    monkeypatch.setenv("COURSE_PROFILE", "huge")
    with pytest.raises(ValueError, match=r"\$COURSE_PROFILE='huge'"):
        get_profile()


def test_training_bytes_of_a_linear_layer_is_its_closed_form():
    layer = torch.nn.Linear(3, 2)  # 8 float32 parameters; 2 float32 outputs per sample
    assert training_bytes(layer, (3,), batch_size=10) == 4 * 8 * 4 + 2 * 10 * 2 * 4


def test_a_batch_beyond_the_memory_is_refused_with_the_largest_that_fits(monkeypatch):
    layer = torch.nn.Linear(3, 2)
    monkeypatch.setattr("course_lib.device.available_bytes", lambda device: 128 + 16 * 100)  # room for 100
    check_batch_fits(layer, (3,), 100, "cpu")
    with pytest.raises(ValueError, match=r"batch_size=101 needs about .* GiB on cpu, .*use batch_size <= 100"):
        check_batch_fits(layer, (3,), 101, "cpu")
