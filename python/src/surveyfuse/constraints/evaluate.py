"""Evaluate parsed constraints on columns: three-valued truth (holds, known) per row, within a tolerance.

A comparison that involves a missing value is unknown and counts as
satisfied; the slack of a comparison scales with its terms held in floating
point (see :class:`~surveyfuse.constraints.parse.Tolerance`).
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd

from .parse import DEFAULT_TOLERANCE, Compare, Linear, Node, Tolerance


def linear_values(lin: Linear, data: Mapping[str, Any], n: int) -> np.ndarray:
    """The value of a linear expression on each of ``n`` rows (float64; a string literal repeated)."""
    if lin.text is not None:
        return np.full(n, lin.text, dtype=object)
    out = np.full(n, lin.const, dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        for col, a in lin.coefs:
            out = out + a * as_float(data[col], col)
    return out


def as_float(values: Any, col: str) -> np.ndarray:
    if isinstance(values, pd.Series) and not isinstance(values.dtype, np.dtype):
        values = pd.to_numeric(values, errors="coerce").astype("float64").to_numpy(na_value=np.nan)
    arr = np.asarray(values)
    if arr.dtype.kind in "biuf":
        return arr.astype(np.float64)
    if arr.dtype.kind in "mM":  # dates and durations as numbers; NaT is missing, not the smallest integer
        return np.where(np.isnat(arr), np.nan, arr.view(np.int64).astype(np.float64))
    return pd.to_numeric(pd.Series(arr), errors="coerce").to_numpy(dtype=np.float64)


def _is_exact(values: Any) -> bool:
    """Integer and boolean dtypes hold their values exactly: their terms get no slack."""
    dtype = getattr(values, "dtype", None)
    if dtype is None:
        dtype = np.asarray(values).dtype
    return bool(pd.api.types.is_integer_dtype(dtype) or pd.api.types.is_bool_dtype(dtype))


def exact_columns(data: Mapping[str, Any] | pd.DataFrame, columns: Iterable[str] | None = None) -> frozenset[str]:
    """The columns of ``data`` (among ``columns``) stored in an integer or boolean dtype."""
    names = list(data.keys()) if columns is None else [c for c in columns if c in data]
    return frozenset(c for c in names if _is_exact(data[c]))


def _side(lin: Linear, data: Mapping[str, Any], n: int, exact: frozenset[str] | None) -> tuple[np.ndarray, np.ndarray]:
    """A linear side's values and the magnitude of its inexact terms (what rounding can have moved)."""
    values = np.full(n, lin.const, dtype=np.float64)
    scale = np.zeros(n, dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):  # huge values overflow to inf: they then hold nothing
        for col, a in lin.coefs:
            term = a * as_float(data[col], col)
            values = values + term
            if not (col in exact if exact is not None else _is_exact(data[col])):
                scale = scale + np.abs(term)
    return values, scale


def _numeric_sides(node: Compare, data: Mapping[str, Any], n: int, exact: frozenset[str] | None):
    lhs, ls = _side(node.lhs, data, n, exact)
    rhs, rs = _side(node.rhs, data, n, exact)
    scale = ls + rs
    return lhs, rhs, np.where(np.isfinite(scale), scale, 0.0)  # an infinite value earns no slack


def evaluate_comparison(node: Compare, data: Mapping[str, Any], n: int, tol: Tolerance = DEFAULT_TOLERANCE,
             exact: frozenset[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(holds, known) boolean arrays for one comparison."""
    textual = node.lhs.text is not None or node.rhs.text is not None
    if textual:
        lhs = _object_side(node.lhs, data, n)
        rhs = _object_side(node.rhs, data, n)
        known = ~(pd.isna(lhs) | pd.isna(rhs))
        eq = np.array([str(a) == str(b) for a, b in zip(lhs, rhs)], dtype=bool)
        return (eq if node.op == "==" else ~eq), known
    lhs, rhs, scale = _numeric_sides(node, data, n, exact)
    known = ~(np.isnan(lhs) | np.isnan(rhs))
    slack = tol.abs + tol.rel * scale
    with np.errstate(invalid="ignore", over="ignore"):
        holds = {
            "<=": lhs <= rhs + slack,
            ">=": lhs >= rhs - slack,
            "==": np.abs(lhs - rhs) <= slack,
            "!=": np.abs(lhs - rhs) > slack,
            "<": lhs < rhs,
            ">": lhs > rhs,
        }[node.op]
    return holds, known


def excess(node: Compare, data: Mapping[str, Any], n: int, exact: frozenset[str] | None) -> tuple[np.ndarray, np.ndarray]:
    """How far each row is from meeting a numeric comparison, and the size of all its terms."""
    if node.lhs.text is not None or node.rhs.text is not None:
        return np.full(n, np.nan), np.full(n, np.nan)
    lhs, rhs, _ = _numeric_sides(node, data, n, exact)
    _, _, size = _numeric_sides(node, data, n, frozenset())
    with np.errstate(invalid="ignore", over="ignore"):
        diff = lhs - rhs
        amount = {
            "==": np.abs(diff), "<=": np.maximum(diff, 0.0), "<": np.maximum(diff, 0.0),
            ">=": np.maximum(-diff, 0.0), ">": np.maximum(-diff, 0.0), "!=": np.zeros(n),
        }[node.op]
    return amount, size


def _object_side(lin: Linear, data: Mapping[str, Any], n: int) -> np.ndarray:
    if lin.text is not None:
        return np.full(n, lin.text, dtype=object)
    if len(lin.coefs) == 1 and lin.coefs[0][1] == 1.0 and lin.const == 0.0:
        return np.asarray(data[lin.coefs[0][0]], dtype=object)
    return linear_values(lin, data, n).astype(object)


def evaluate_node(node: Node, data: Mapping[str, Any], n: int, tol: Tolerance = DEFAULT_TOLERANCE,
              exact: frozenset[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Three-valued logic: (value, known) boolean arrays for a comparison or a condition."""
    if isinstance(node, Compare):
        return evaluate_comparison(node, data, n, tol, exact)
    lv, lk = evaluate_node(node.left, data, n, tol, exact)
    rv, rk = evaluate_node(node.right, data, n, tol, exact)
    if node.op == "and":
        return lv & rv, (lk & rk) | (lk & ~lv) | (rk & ~rv)
    if node.op == "or":
        return lv | rv, (lk & rk) | (lk & lv) | (rk & rv)
    if node.op == "implies":
        return ~lv | rv, (lk & rk) | (lk & ~lv) | (rk & rv)
    if node.op == "iff":
        return lv == rv, lk & rk
    if node.op == "xor":
        return lv != rv, lk & rk
    raise AssertionError(node.op)


def n_rows(data: Mapping[str, Any] | pd.DataFrame) -> int:
    """Rows of a frame or of a dict of columns."""
    if isinstance(data, pd.DataFrame):
        return len(data)
    return len(next(iter(data.values()))) if data else 0
