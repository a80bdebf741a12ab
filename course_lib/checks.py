"""Argument checks shared by the library: a bad value gets a ValueError that names it and what is allowed."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np


def check_positive_int(name: str, value, minimum: int = 1) -> int:
    """`value` as an int when it is an integer (not a bool) >= `minimum`, else a ValueError naming `name`."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name}={value!r} is not allowed; use an integer >= {minimum}")
    return int(value)


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
