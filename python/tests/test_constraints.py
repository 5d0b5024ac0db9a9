from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from surveyfuse import ConstraintSet, SurveyfuseError, parse_constraint
from surveyfuse.constraints import EQ_ATOL

ISSUE_EXAMPLES = [
    "e00650 <= e00600",
    "earns >= 0",
    "meddol == outpdol + drugdol + suppdol + inpdol",
    "(hours > 0) == (inlf == 1)",
    "(MARS != 2) -> (e00200s == 0)",
]


@pytest.mark.parametrize("text", ISSUE_EXAMPLES)
def test_issue_examples_parse(text):
    assert parse_constraint(text).text == text


def test_columns_and_linear_arithmetic():
    c = parse_constraint("2*a - (b + c)/2 >= 3 - d")
    assert c.columns == {"a", "b", "c", "d"}
    data = {"a": np.array([2.0, 1.0]), "b": np.array([0.0, 2.0]), "c": np.array([0.0, 2.0]), "d": np.array([0.0, 0.0])}
    # row 0: 4 >= 3 holds; row 1: 2 - 2 = 0 >= 3 fails
    assert ConstraintSet([c.text]).violating_rows(data).tolist() == [False, True]


@pytest.mark.parametrize(
    "text, position",
    [("e00650 <=", 9), ("a <== b", 4), ("a * b > 0", 2), ("(a > 0) == 3", 8), ("a $ b", 2), ("a <= b c", 7), ("", 0)],
)
def test_syntax_errors_point_at_token(text, position):
    with pytest.raises(SurveyfuseError) as info:
        parse_constraint(text)
    assert info.value.code == "constraint_syntax"
    assert info.value.context["position"] == position
    assert f"position {position}" in info.value.message


def test_unknown_column_is_named():
    with pytest.raises(SurveyfuseError) as info:
        ConstraintSet(["x <= y"]).validate_columns(["x"])
    assert info.value.code == "constraint_unknown_column" and info.value.context["column"] == "y"


def test_iff_implication_and_missing_values():
    cs = ConstraintSet(["(hours > 0) == (inlf == 1)", "(MARS != 2) -> (s == 0)"])
    data = pd.DataFrame({
        "hours": [10, 0, 5, 0, np.nan],
        "inlf": [1, 0, 0, 1, 1],
        "MARS": [1, 2, 2, 1, 1],
        "s": [0, 7, 0, 3, 0],
    })
    viol = cs.violations(data)
    assert viol["(hours > 0) == (inlf == 1)"].tolist() == [False, False, True, True, False]  # NaN: unknown, not counted
    assert viol["(MARS != 2) -> (s == 0)"].tolist() == [False, False, False, True, False]
    report = cs.check(data)
    assert report.violations == {"(hours > 0) == (inlf == 1)": 2, "(MARS != 2) -> (s == 0)": 1}
    assert not report.ok


def test_equality_tolerance_is_documented_value():
    cs = ConstraintSet(["a == b"])
    assert not cs.violating_rows({"a": np.array([1.0]), "b": np.array([1.0 + EQ_ATOL / 2])}).any()
    assert cs.violating_rows({"a": np.array([1.0]), "b": np.array([1.0 + 10 * EQ_ATOL])}).all()


def test_text_comparison_for_categories():
    cs = ConstraintSet(["(region == 'west') -> (x >= 0)"])
    data = {"region": np.array(["west", "south", "west"], dtype=object), "x": np.array([-1.0, -1.0, 2.0])}
    assert cs.violating_rows(data).tolist() == [True, False, False]


def test_repair_keeps_shares_and_integers():
    cs = ConstraintSet(["t == a + b", "a >= 0", "b >= 0", "(m != 2) -> (b == 0)"])
    data = {
        "t": np.array([100.0, 101.0, 50.0]),
        "a": np.array([30.0, 10.0, 20.0]),
        "b": np.array([30.0, 20.0, 20.0]),
        "m": np.array([2, 2, 1]),
    }
    repaired = cs.repair(data, mutable=["a", "b"], integer=["a", "b"])
    assert cs.check(data).ok
    assert data["a"][0] == 50 and data["b"][0] == 50  # equal shares kept
    assert data["a"][1] + data["b"][1] == 101 and float(data["a"][1]).is_integer()
    assert data["b"][2] == 0 and data["a"][2] == 50
    assert repaired["t == a + b"] == 3


def test_repair_never_touches_immutable_columns():
    cs = ConstraintSet(["x <= y"])
    data = {"x": np.array([5.0]), "y": np.array([1.0])}
    cs.repair(data, mutable=["x"])
    assert data["y"][0] == 1.0 and data["x"][0] <= 1.0 + EQ_ATOL


def test_repair_moves_an_imputed_total_not_its_parts():
    # the implication pins b to 0; the total must follow its parts instead of pulling b back up
    cs = ConstraintSet(["t == a + b", "(m != 2) -> (b == 0)", "a >= 0", "b >= 0"])
    data = {"t": np.array([90.0, 100.0]), "a": np.array([40.0, 60.0]), "b": np.array([30.0, 30.0]), "m": np.array([1, 2])}
    cs.repair(data, mutable=["t", "a", "b"], integer=["t", "a", "b"])
    assert cs.check(data).ok
    assert data["b"].tolist() == [0.0, 30.0] and data["a"].tolist() == [40.0, 60.0]
    assert data["t"].tolist() == [40.0, 90.0]
