from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from surveyfuse import ConstraintSet, SurveyfuseError, parse_constraint
from surveyfuse.constraints import EQ_ATOL, MAX_COMPARISONS, MAX_LENGTH, MAX_NESTING, BoolOp, Compare, Linear


def render(node) -> str:
    """The parsed tree in a canonical prefix form, so a test can say what a text must mean."""
    if isinstance(node, BoolOp):
        return f"{node.op}({render(node.left)}, {render(node.right)})"
    return f"{node.op}({_linear(node.lhs)}, {_linear(node.rhs)})"


def _linear(lin: Linear) -> str:
    if lin.text is not None:
        return repr(lin.text)
    terms = [f"{a:g}*{c}" for c, a in lin.coefs] + ([f"{lin.const:g}"] if lin.const or not lin.coefs else [])
    return " + ".join(terms)


ISSUE_EXAMPLES = [
    ("e00650 <= e00600", "<=(1*e00650, 1*e00600)"),
    ("earns >= 0", ">=(1*earns, 0)"),
    ("meddol == outpdol + drugdol + suppdol + inpdol", "==(1*meddol, 1*outpdol + 1*drugdol + 1*suppdol + 1*inpdol)"),
    ("(hours > 0) == (inlf == 1)", "iff(>(1*hours, 0), ==(1*inlf, 1))"),
    ("(MARS != 2) -> (e00200s == 0)", "implies(!=(1*MARS, 2), ==(1*e00200s, 0))"),
    ("a < 1 & b > 2 | c == 3", "or(and(<(1*a, 1), >(1*b, 2)), ==(1*c, 3))"),
    ("- - a >= -(b - 2*c)/4", ">=(1*a, -0.25*b + 0.5*c)"),
    ("((a)) + 1 > 0", ">(1*a + 1, 0)"),
    ("(region == 'west') != (x >= 0)", "xor(==(1*region, 'west'), >=(1*x, 0))"),
]


@pytest.mark.parametrize("text, tree", ISSUE_EXAMPLES)
def test_examples_parse_to_the_tree_they_mean(text, tree):
    parsed = parse_constraint(text)
    assert render(parsed.node) == tree
    assert isinstance(parsed.node, (Compare, BoolOp))


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
    # |a - b| <= 1e-6 + 1e-5 * (|a| + |b|): at 1.0 the slack is 2.1e-5
    cs = ConstraintSet(["a == b"])
    assert not cs.violating_rows({"a": np.array([1.0]), "b": np.array([1.0 + 2e-5])}).any()
    assert cs.violating_rows({"a": np.array([1.0]), "b": np.array([1.0 + 3e-5])}).all()
    assert not cs.violating_rows({"a": np.array([0.0]), "b": np.array([EQ_ATOL / 2])}).any()


def _float32_sum_rows(n: int, parts: int = 4, seed: int = 0) -> dict[str, np.ndarray]:
    """total == p0 + ... + p3 exactly in float64 (money with cents), then every column stored as float32."""
    g = np.random.default_rng(seed)
    cols = {f"p{i}": np.round(g.lognormal(8, 2.5, n) * (g.random(n) < 0.7), 2) for i in range(parts)}
    cols["total"] = sum(cols.values())
    return {k: v.astype(np.float32).astype(np.float64) for k, v in cols.items()}


def test_default_tolerance_holds_single_precision_sums_that_the_old_one_broke():
    data = _float32_sum_rows(20_000)
    text = "total == p0 + p1 + p2 + p3"
    old = ConstraintSet([text], tolerance={"abs": 1e-6, "rel": 1e-9})  # the former fixed rule
    assert old.violating_rows(data).mean() > 0.2  # most of the larger rows
    assert not ConstraintSet([text]).violating_rows(data).any()


def test_tolerance_scales_with_the_terms_when_parts_cancel():
    # net = gain - loss: float32 rounding of 1e8-sized parts can move a net of 1 by several units
    gain = np.array([1e8 + 4.0], dtype=np.float32).astype(np.float64)
    data = {"net": np.array([1.0]), "gain": gain, "loss": np.array([1e8 - 1.0])}
    assert not ConstraintSet(["net == gain - loss"]).violating_rows(data).any()
    data["net"] = np.array([1.0 + 0.01 * 1e8])  # 1% of the terms: a real error
    assert ConstraintSet(["net == gain - loss"]).violating_rows(data).all()


def test_integer_columns_are_exact_float_columns_get_slack():
    as_int = pd.DataFrame({"t": [1_000_001], "a": [500_000], "b": [500_000]})
    assert ConstraintSet(["t == a + b"]).violating_rows(as_int).all()  # off by one dollar: broken
    assert not ConstraintSet(["t == a + b"]).violating_rows(as_int.astype("float64")).any()
    nullable = as_int.astype("Int64")
    assert ConstraintSet(["t == a + b"]).violating_rows(nullable).all()


def test_tolerance_can_be_set_per_set_and_per_constraint():
    data = {"a": np.array([100.0]), "b": np.array([100.001])}
    assert not ConstraintSet(["a == b"]).violating_rows(data).any()
    assert ConstraintSet(["a == b"], tolerance={"abs": 0, "rel": 0}).violating_rows(data).all()
    own = ConstraintSet([{"constraint": "a == b", "tolerance": {"rel": 0}}, "a <= b"])
    assert own.texts == ["a == b", "a <= b"]
    assert own.violations(data)["a == b"].all()
    assert own.describe_tolerance() == {"abs": 1e-6, "rel": 1e-5, "constraints": {"a == b": {"abs": 1e-6, "rel": 0.0}}}


@pytest.mark.parametrize("tolerance", [{"rel": -1}, {"abs": float("nan")}, {"rel": "small"}, {"relative": 1e-3}, 0.1])
def test_bad_tolerance_is_refused(tolerance):
    with pytest.raises(SurveyfuseError) as info:
        ConstraintSet(["a == b"], tolerance=tolerance)
    assert info.value.code == "bad_argument"


@pytest.mark.parametrize(
    "text, code",
    [
        ("(" * (MAX_NESTING + 1) + "a" + ")" * (MAX_NESTING + 1) + " > 0", "constraint_too_deep"),
        ("(" * 5000 + "a >= 0" + ")" * 5000, "constraint_too_deep"),
        (" & ".join(["a > 0"] * (MAX_COMPARISONS + 1)), "constraint_too_long"),
        ("a + " * (MAX_LENGTH // 4) + "a > 0", "constraint_too_long"),
        ("a <= 1e999", "constraint_syntax"),
        ("-'west' == region", "constraint_syntax"),
        ("2 * 'west' == region", "constraint_syntax"),
    ],
)
def test_limits_and_nonsense_are_refused_with_codes(text, code):
    with pytest.raises(SurveyfuseError) as info:
        parse_constraint(text)
    assert info.value.code == code
    assert len(info.value.message) < 400  # names the constraint without echoing all of it


def test_constraints_at_the_limits_parse_and_evaluate():
    data = {"a": np.array([1.0, -1.0])}
    deep = "(" * MAX_NESTING + "a" + ")" * MAX_NESTING + " > 0"
    chain = " & ".join(["a > 0"] * MAX_COMPARISONS)
    for text in (deep, chain, "- " * 3000 + "- a < 0"):
        assert ConstraintSet([text]).violating_rows(data).tolist() == [False, True], text[:20]


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


def test_repair_accepts_read_only_arrays_and_leaves_them_alone():
    # pandas copy-on-write hands out read-only views; qrf's draws reached repair that way
    a = pd.Series([1.0, 2.0]).to_numpy()
    assert not a.flags.writeable
    data = {"t": np.array([5.0, 5.0]), "a": a, "b": np.array([1.0, 1.0])}
    ConstraintSet(["t == a + b"]).repair(data, mutable=["a", "b"])
    assert a.tolist() == [1.0, 2.0]
    assert (data["a"] + data["b"]).tolist() == [5.0, 5.0]


def test_integer_total_of_fractional_parts_stays_whole():
    cs = ConstraintSet(["t == a + b"])
    data = {"t": np.array([10.0]), "a": np.array([3.3]), "b": np.array([4.4])}
    cs.repair(data, mutable=["t", "a", "b"], integer=["t"])
    assert float(data["t"][0]).is_integer()
    assert data["t"][0] == pytest.approx(data["a"][0] + data["b"][0], abs=1e-9)


def test_screen_repairs_rounding_and_leaves_out_real_violations():
    donor = pd.DataFrame({
        "t": np.array([300.0, 300.00001, 303.0, 10.0], dtype=np.float64),
        "a": [100.0, 100.0, 100.0, 4.0],
        "b": [200.0, 200.0, 200.0, 6.0],
        "w": [1.0, 1.0, 2.0, 1.0],
    })
    cs = ConstraintSet(["t == a + b", "a >= 0"])
    screen = cs.screen(donor, mutable=["t", "a", "b"], weights=donor["w"].to_numpy())
    assert screen.keep.tolist() == [True, True, False, True]
    assert screen.repaired_rows.tolist() == [False, True, False, False]
    assert screen.values["t"][1] == 300.0  # the total moved onto its parts
    assert donor["t"][1] == 300.00001  # the caller's table is untouched
    report = screen.report
    assert report["repaired"] == {"t == a + b": 1} and report["dropped_rows"] == 1
    dropped = report["dropped"]["t == a + b"]
    assert dropped["rows"] == 1 and dropped["weight_share"] == pytest.approx(2 / 5)
    assert dropped["largest_violation"] == pytest.approx(3.0) and dropped["largest_row"] == 2
    assert dropped["largest_relative"] == pytest.approx(3.0 / 603.0)
    assert report["tolerance"] == {"abs": 1e-6, "rel": 1e-5}


def test_screen_moves_only_mutable_columns_and_skips_rows_out_of_use():
    donor = {"t": np.array([300.00001, 300.00001]), "a": np.array([100.0, 100.0]), "b": np.array([200.0, 200.0])}
    screen = ConstraintSet(["t == a + b"]).screen(donor, mutable=["a", "b"], rows=np.array([True, False]))
    assert screen.repaired_rows.tolist() == [True, False]
    assert screen.values["a"][0] + screen.values["b"][0] == pytest.approx(300.00001, abs=1e-9)
    assert screen.values["a"][0] / screen.values["b"][0] == pytest.approx(0.5)  # shares kept
    assert "t" not in screen.values
