"""Render "What to notice" cells from the run's own numbers, so that no prose quotes a stale figure.

`notice` joins a heading and bullet points into Markdown; `trend` and `span` give the words that must follow
the numbers ("rises"/"falls", "0.2–0.7"), so a sentence stays true whatever the run produced.
"""
from __future__ import annotations

from typing import Iterable

import numpy as np

from course_lib.checks import check_int, check_number

__all__ = ["notice", "trend", "span", "strongest"]


def trend(before: float, after: float, up: str = "rises", down: str = "falls", same: str = "stays level",
          tol: float = 0.0) -> str:
    """The word for the change from `before` to `after`: `up`, `down`, or `same` within `tol` (absolute)."""
    before, after = check_number("before", before), check_number("after", after)
    tol = check_number("tol", tol, minimum=0)
    if abs(after - before) <= tol:
        return same
    return up if after > before else down


def span(values: Iterable[float], fmt: str = ".2f") -> str:
    """'lo–hi' for the values (or a single number when they agree at this precision)."""
    array = np.asarray(list(values), dtype=float).ravel()
    if array.size == 0:
        raise ValueError("span needs at least one value")
    lo, hi = format(np.nanmin(array), fmt), format(np.nanmax(array), fmt)
    return lo if lo == hi else f"{lo}–{hi}"


def notice(items: Iterable[str], heading: str = "**What to notice.**", note: str = "") -> str:
    """Markdown: the heading (with an optional note, e.g. the profile it is meaningful at), then one bullet per item."""
    items = [str(item) for item in items]
    if not items:
        raise ValueError("notice needs at least one item")
    head = f"{heading} {note}".strip()
    return "\n".join([head, ""] + [f"* {item}" for item in items])


def strongest(matrix, count: int = 3, symbol: str = "ρ") -> list[str]:
    """The `count` entries of a (row x column) DataFrame largest in absolute value, as 'row – column: ρ = v'.

    A square matrix with the same labels on both axes (a correlation matrix) counts each pair once and skips
    its diagonal. NaN entries are skipped.
    """
    count = check_int("count", count, 1)
    values = np.asarray(matrix, dtype=float)
    keep = np.isfinite(values)
    if values.shape[0] == values.shape[1] and list(matrix.index) == list(matrix.columns):
        keep &= np.triu(np.ones(values.shape, dtype=bool), 1)
    rows, cols = np.nonzero(keep)
    order = np.argsort(-np.abs(values[rows, cols]), kind="stable")[:count]
    return [f"{matrix.index[rows[i]]} – {matrix.columns[cols[i]]}: {symbol} = {values[rows[i], cols[i]]:.2f}"
            for i in order]
