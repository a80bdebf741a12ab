import pytest

import pandas as pd

from course_lib.lab.notice import notice, span, strongest, trend


def test_trend_names_the_direction_and_tolerates_ties():
    assert trend(0.1, 0.2) == "rises"
    assert trend(0.2, 0.1, down="drops") == "drops"
    assert trend(0.1, 0.1005, tol=0.001) == "stays level"
    with pytest.raises(ValueError, match="before=nan is not allowed"):
        trend(float("nan"), 1.0)
    with pytest.raises(ValueError, match="tol=-1 is not allowed"):
        trend(0, 1, tol=-1)


def test_span_formats_a_range_or_a_single_value():
    assert span([0.7, 0.2, 0.5]) == "0.20–0.70"
    assert span([0.301, 0.299], ".1f") == "0.3"
    with pytest.raises(ValueError):
        span([])


def test_notice_renders_a_bulleted_markdown_list():
    text = notice(["a", "b"], note="*(lecture)*")
    assert text.splitlines() == ["**What to notice.** *(lecture)*", "", "* a", "* b"]
    with pytest.raises(ValueError):
        notice([])


def test_strongest_lists_the_largest_entries_once_per_pair():
    rho = pd.DataFrame([[1, -0.8, 0.1], [-0.8, 1, float("nan")], [0.1, float("nan"), 1]],
                       index=list("abc"), columns=list("abc"))
    assert strongest(rho, 5) == ["a – b: ρ = -0.80", "a – c: ρ = 0.10"]
    table = pd.DataFrame([[0.2, -0.5]], index=["x"], columns=["u", "v"])
    assert strongest(table, 1, symbol="r") == ["x – v: r = -0.50"]
    with pytest.raises(ValueError, match="count=0 is not allowed"):
        strongest(table, 0)
