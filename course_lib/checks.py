"""Argument checks shared by the library: a bad value gets a ValueError that names it and what is allowed."""
from __future__ import annotations

import numpy as np


def check_positive_int(name: str, value, minimum: int = 1) -> int:
    """`value` as an int when it is an integer (not a bool) >= `minimum`, else a ValueError naming `name`."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name}={value!r} is not allowed; use an integer >= {minimum}")
    return int(value)
