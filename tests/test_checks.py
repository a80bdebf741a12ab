"""The library's argument checks (course_lib.checks): what each accepts, what it refuses, and that the
refusal names the parameter, the value and what is allowed."""
import math
import re

import numpy as np
import pytest

from course_lib.checks import check_bool, check_choice, check_int, check_number, is_integer, is_real


# ------------------------------------------------------------------------------------- predicates
@pytest.mark.parametrize("value, integer, real", [
    (3, True, True), (np.int64(3), True, True), (np.uint8(3), True, True), (-2, True, True),
    (3.0, False, True), (np.float32(0.5), False, True), (math.nan, False, True), (math.inf, False, True),
    (True, False, False), (np.bool_(True), False, False), ("3", False, False), (None, False, False),
    ([3], False, False), (np.array(3), False, False), (1 + 0j, False, False),
])
def test_the_predicates_know_integers_and_reals_and_refuse_bools(value, integer, real):
    assert is_integer(value) is integer
    assert is_real(value) is real


# ------------------------------------------------------------------------------------- check_int
@pytest.mark.parametrize("value, minimum, maximum", [
    (1, 1, None), (0, 0, None), (np.int64(5), 2, None), (np.int32(7), None, 7), (-4, None, None), (3, 3, 3),
])
def test_check_int_accepts_integers_in_range_as_python_ints(value, minimum, maximum):
    result = check_int("n", value, minimum, maximum)
    assert result == value and type(result) is int


@pytest.mark.parametrize("value, minimum, maximum, message", [
    (0, 1, None, "n=0 is not allowed; use an integer >= 1"),
    (-1, 0, None, "n=-1 is not allowed; use an integer >= 0"),
    (8, None, 7, "n=8 is not allowed; use an integer <= 7"),
    (4, 1, 3, "n=4 is not allowed; use an integer in [1, 3]"),
    (True, 0, None, "n=True is not allowed; use an integer >= 0"),
    (False, None, None, "n=False is not allowed; use an integer"),
    (np.bool_(True), 0, None, f"n={np.bool_(True)!r} is not allowed; use an integer >= 0"),
    (2.0, 1, None, "n=2.0 is not allowed; use an integer >= 1"),
    (2.5, 1, None, "n=2.5 is not allowed; use an integer >= 1"),
    ("3", 1, None, "n='3' is not allowed; use an integer >= 1"),
    (None, 1, None, "n=None is not allowed; use an integer >= 1"),
    (np.int64(0), 1, None, f"n={np.int64(0)!r} is not allowed; use an integer >= 1"),
])
def test_check_int_refuses_with_a_message_naming_name_value_and_range(value, minimum, maximum, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        check_int("n", value, minimum, maximum)


def test_check_int_lets_none_through_only_when_asked_and_appends_its_note():
    assert check_int("limit", None, 1, none_ok=True) is None
    assert check_int("limit", 2, 1, none_ok=True) == 2
    with pytest.raises(ValueError, match=re.escape("limit=0 is not allowed; use None or an integer >= 1")):
        check_int("limit", 0, 1, none_ok=True)
    with pytest.raises(ValueError, match=re.escape("width=0 is not allowed; use an integer >= 1 (1 is the study's)")):
        check_int("width", 0, 1, note=" (1 is the study's)")


def test_check_int_with_minimum_zero_says_so_rather_than_positive():
    assert check_int("delay", 0, 0) == 0
    with pytest.raises(ValueError, match=r"delay=-1 is not allowed; use an integer >= 0$"):
        check_int("delay", -1, 0)


# ------------------------------------------------------------------------------------- check_number
@pytest.mark.parametrize("value, kwargs", [
    (0, dict(minimum=0)), (0.5, dict(minimum=0, maximum=1, low_open=True, high_open=True)),
    (1, dict(minimum=0, maximum=1)), (np.float32(2.5), dict(minimum=0)), (np.int64(3), dict(minimum=0, low_open=True)),
    (-7.0, dict()), (math.inf, dict(minimum=0, finite=False)),
])
def test_check_number_accepts_reals_in_range_as_floats(value, kwargs):
    result = check_number("x", value, **kwargs)
    assert result == float(value) and type(result) is float


@pytest.mark.parametrize("value, kwargs, message", [
    (0, dict(minimum=0, low_open=True), "x=0 is not allowed; use a positive finite number"),
    (0, dict(minimum=0, low_open=True, finite=False), "x=0 is not allowed; use a positive number"),
    (-1, dict(minimum=-1, low_open=True, finite=False), "x=-1 is not allowed; use a number > -1"),
    (-0.1, dict(minimum=0), "x=-0.1 is not allowed; use a finite number >= 0"),
    (1, dict(minimum=0, maximum=1, low_open=True, high_open=True), "x=1 is not allowed; use a finite number in (0, 1)"),
    (1.5, dict(minimum=0, maximum=1, high_open=True), "x=1.5 is not allowed; use a finite number in [0, 1)"),
    (2, dict(maximum=1), "x=2 is not allowed; use a finite number <= 1"),
    (2, dict(maximum=1, high_open=True), "x=2 is not allowed; use a finite number < 1"),
    (math.inf, dict(minimum=0), "x=inf is not allowed; use a finite number >= 0"),
    (-math.inf, dict(), "x=-inf is not allowed; use a finite number"),
    (math.nan, dict(minimum=0), "x=nan is not allowed; use a finite number >= 0"),
    (math.nan, dict(finite=False), "x=nan is not allowed; use a number"),
    (-math.inf, dict(minimum=0, finite=False), "x=-inf is not allowed; use a number >= 0"),
    (True, dict(minimum=0), "x=True is not allowed; use a finite number >= 0"),
    (np.bool_(False), dict(), f"x={np.bool_(False)!r} is not allowed; use a finite number"),
    ("1", dict(minimum=0), "x='1' is not allowed; use a finite number >= 0"),
    (None, dict(minimum=0), "x=None is not allowed; use a finite number >= 0"),
    ([1.0], dict(), "x=[1.0] is not allowed; use a finite number"),
    (1 + 0j, dict(), "x=(1+0j) is not allowed; use a finite number"),
])
def test_check_number_refuses_with_a_message_naming_name_value_and_range(value, kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        check_number("x", value, **kwargs)


def test_check_number_lets_none_through_only_when_asked_and_appends_its_note():
    assert check_number("gamma", None, 0, low_open=True, none_ok=True) is None
    with pytest.raises(ValueError,
                       match=re.escape("gamma=-1 is not allowed; use None or a positive finite number (paper)")):
        check_number("gamma", -1, 0, low_open=True, none_ok=True, note=" (paper)")


# ------------------------------------------------------------------------------------- check_choice, check_bool
def test_check_choice_accepts_members_and_names_the_allowed_ones():
    assert check_choice("mode", "min", ("min", "max")) == "min"
    assert check_choice("engine", "numpy", {"numpy": 1, "gudhi": 2}) == "numpy"
    with pytest.raises(ValueError, match=re.escape("mode='mean' is not allowed; use one of ('min', 'max')")):
        check_choice("mode", "mean", ("min", "max"))
    with pytest.raises(ValueError, match=re.escape("engine='x' is not allowed; use one of ('numpy', 'gudhi')")):
        check_choice("engine", "x", {"numpy": 1, "gudhi": 2})


def test_check_choice_refuses_bools_that_equal_a_member_and_unhashable_values():
    assert check_choice("dim", 1, (0, 1, 2)) == 1
    with pytest.raises(ValueError, match=re.escape("dim=True is not allowed; use one of (0, 1, 2)")):
        check_choice("dim", True, (0, 1, 2))
    with pytest.raises(ValueError, match=re.escape("method=['vae'] is not allowed; use one of ('vae',)")):
        check_choice("method", ["vae"], {"vae": None})


def test_check_bool_accepts_only_true_and_false():
    assert check_bool("rotate", True) is True
    assert check_bool("rotate", np.bool_(False)) is False
    for value in (1, 0, "yes", None):
        with pytest.raises(ValueError, match=re.escape(f"rotate={value!r} is not allowed; use True or False")):
            check_bool("rotate", value)
