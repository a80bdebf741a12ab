"""Argument checks shared by the library: a bad value gets a ValueError that names it and what is allowed."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np


def is_integer(value) -> bool:
    """True for a Python or numpy integer; False for a bool (True is no count) and for everything else."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def is_real(value) -> bool:
    """True for a Python or numpy int or float, nan and inf included; False for a bool and everything else."""
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


def _interval(low, high, low_open: bool, high_open: bool) -> str:
    if low is not None and high is not None:
        return f"in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
    if low is not None:
        return f"{'>' if low_open else '>='} {low}"
    if high is not None:
        return f"{'<' if high_open else '<='} {high}"
    return ""


def check_int(name: str, value, minimum: int | None = None, maximum: int | None = None, *,
              none_ok: bool = False, note: str = "") -> int | None:
    """`value` as an int when it is an integer (Python or numpy, never a bool) with minimum <= value <= maximum
    (a bound that is None does not bind); None passes when `none_ok`. Else a ValueError:
    "name=value is not allowed; use an integer >= minimum" (or "in [minimum, maximum]"), then `note`."""
    if value is None and none_ok:
        return None
    if not is_integer(value) or (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        allowed = " ".join(filter(None, ("an integer", _interval(minimum, maximum, False, False))))
        raise ValueError(f"{name}={value!r} is not allowed; use {'None or ' if none_ok else ''}{allowed}{note}")
    return int(value)


def check_number(name: str, value, minimum=None, maximum=None, *, low_open: bool = False, high_open: bool = False,
                 finite: bool = True, none_ok: bool = False, note: str = "") -> float | None:
    """`value` as a float when it is a real number (Python or numpy int or float, never a bool, never nan) within
    the bounds: minimum <= value (minimum < value when `low_open`), value <= maximum (< when `high_open`); a bound
    that is None does not bind. ±inf is refused unless `finite=False`; None passes when `none_ok`. Else a
    ValueError: "name=value is not allowed; use a positive finite number" (or "a finite number in (0, 1]", ...),
    then `note`."""
    if value is None and none_ok:
        return None
    fails = (not is_real(value) or np.isnan(value) or (finite and np.isinf(value))
             or (minimum is not None and (value <= minimum if low_open else value < minimum))
             or (maximum is not None and (value >= maximum if high_open else value > maximum)))
    if fails:
        kind = "finite number" if finite else "number"
        if minimum == 0 and low_open and maximum is None:  # the commonest bound has a word
            allowed = f"a positive {kind}"
        else:
            allowed = " ".join(filter(None, (f"a {kind}", _interval(minimum, maximum, low_open, high_open))))
        raise ValueError(f"{name}={value!r} is not allowed; use {'None or ' if none_ok else ''}{allowed}{note}")
    return float(value)


def check_choice(name: str, value, allowed):
    """`value` when it is one of `allowed` (a bool never is, though True == 1), else a ValueError:
    "name=value is not allowed; use one of allowed"."""
    try:
        ok = not isinstance(value, (bool, np.bool_)) and value in allowed
    except TypeError:  # an unhashable value asked of a set or dict
        ok = False
    if not ok:
        raise ValueError(f"{name}={value!r} is not allowed; use one of {tuple(allowed)}")
    return value


def check_bool(name: str, value) -> bool:
    """`value` as a bool when it is True or False (numpy's included), else a ValueError naming `name`."""
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name}={value!r} is not allowed; use True or False")
    return bool(value)


def check_writable_directory(name: str, path) -> Path:
    """`path` as a Path when it is a folder, or can be created as one, that we may write into; else a
    ValueError naming `name`. Creates nothing that stays: the only sure test of writing is to write, so
    a nameless temporary file is opened (and dropped) in the nearest folder that exists."""
    if not isinstance(path, (str, os.PathLike)) or str(path) == "":
        raise ValueError(f"{name}={path!r} is not allowed; give a folder path")
    path = Path(path)
    existing = path
    while not (existing.exists() or existing.is_symlink()):  # a dangling link blocks mkdir as a file does
        existing = existing.parent
    if existing == path and not path.is_dir():
        raise ValueError(f"{name}={str(path)!r} is a file, not a folder; give a folder path")
    if not existing.is_dir():
        raise ValueError(f"{name}={str(path)!r} cannot be created: {existing} is a file, not a folder")
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as error:
        raise ValueError(f"{name}={str(path)!r} is not allowed; {existing} is not writable "
                         f"({error.strerror or error}); choose a folder you can write to") from None
    return path
