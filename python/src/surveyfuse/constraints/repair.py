"""Repair by projection: move a row onto a violated linear comparison, changing only the imputed columns."""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import pandas as pd

from .evaluate import evaluate_comparison, excess, linear_values
from .parse import DEFAULT_TOLERANCE, EQ_ATOL, Compare, Linear, Node, Tolerance


def take_rows(values: Any, idx: np.ndarray) -> Any:
    """Rows ``idx`` of a column, keeping its dtype (which says whether it is exact)."""
    if isinstance(values, pd.Series):
        return values.iloc[idx].reset_index(drop=True)
    return np.asarray(values)[idx]


def largest_violation(node: Node, data: Mapping[str, Any], n: int, mask: np.ndarray, tol: Tolerance,
                       exact: frozenset[str]) -> dict[str, Any]:
    """The row among ``mask`` furthest from meeting the constraint: how far, absolutely and per unit of its terms."""
    target = repair_target(node, data, n, mask, tol, exact)
    if target is None:
        return {"largest_violation": None, "largest_relative": None, "largest_row": int(np.flatnonzero(mask)[0])}
    compare, rows = target
    amount, size = excess(compare, data, n, exact)
    amount = np.where(rows, amount, np.nan)
    if not np.isfinite(amount).any():
        return {"largest_violation": None, "largest_relative": None, "largest_row": int(np.flatnonzero(rows)[0])}
    j = int(np.nanargmax(amount))
    return {
        "largest_violation": float(amount[j]),
        "largest_relative": float(amount[j] / size[j]) if size[j] > 0 else None,
        "largest_row": j,
    }




def repair_target(node: Node, data: Mapping[str, Any], n: int, bad: np.ndarray, tol: Tolerance = DEFAULT_TOLERANCE,
                   exact: frozenset[str] | None = None) -> tuple[Compare, np.ndarray] | None:
    if isinstance(node, Compare):
        return node, bad
    if node.op == "implies" and isinstance(node.right, Compare):
        return node.right, bad
    if node.op == "and":
        for side in (node.left, node.right):
            if isinstance(side, Compare):
                holds, known = evaluate_comparison(side, data, n, tol, exact)
                rows = bad & known & ~holds
                if rows.any():
                    return side, rows
    return None


def project(node: Compare, data: dict[str, np.ndarray], rows: np.ndarray, mutable: set[str],
             integer: set[str]) -> np.ndarray | None:
    """Move ``rows`` onto one comparison; returns the rows whose values changed (None: cannot)."""
    if node.lhs.text is not None or node.rhs.text is not None or node.op == "!=":
        return None
    diff = node.lhs.plus(node.rhs, -1.0)  # the constraint reads: diff OP 0
    cols = [(c, a) for c, a in diff.coefs if c in mutable]
    if not cols:
        return None
    value = linear_values(diff, data, len(rows))[rows]
    if node.op in ("<=", "<"):
        target = np.minimum(value, 0.0)
    elif node.op in (">=", ">"):
        target = np.maximum(value, 0.0)
    else:
        target = np.zeros_like(value)
    shift = target - value  # change needed in diff
    if node.op in ("<", ">"):
        shift = shift + np.sign(shift) * EQ_ATOL * 10
    parts = np.column_stack([data[c][rows] for c, _ in cols])
    coefs = np.array([a for _, a in cols])
    lone = _lone_total(diff, cols) if node.op == "==" else None
    with np.errstate(over="ignore", invalid="ignore"):
        if lone is not None:
            # total == a + b + ...: the total alone moves, so the parts (and their zeros) stay
            new = parts.copy()
            new[:, lone] += shift / coefs[lone]
        elif node.op == "==" and (np.all(coefs > 0) or np.all(coefs < 0)):
            new = _rescale(parts, coefs, shift)
        else:
            new = parts + shift[:, None] * coefs[None, :] / float(coefs @ coefs)
        for j, (c, a) in enumerate(cols):
            if c in integer:
                new[:, j] = np.rint(new[:, j])
        if node.op == "==":
            _settle_remainder(new, coefs, parts @ coefs + shift, [c in integer for c, _ in cols])
    # a row whose repair overflows keeps its values (and stays counted as broken)
    usable = np.isfinite(new).all(axis=1) & np.isfinite(value)
    moved = usable & ~(new == parts).all(axis=1)
    idx = np.flatnonzero(rows)[moved]
    for j, (c, _) in enumerate(cols):
        data[c][idx] = new[moved, j]
    out = np.zeros(len(rows), dtype=bool)
    out[idx] = True
    return out


def _lone_total(diff: Linear, cols: list[tuple[str, float]]) -> int | None:
    """Index in ``cols`` of the one mutable column whose sign differs from every other term (a total)."""
    signs = [np.sign(a) for _, a in diff.coefs]
    for j, (c, a) in enumerate(cols):
        if len(signs) > 1 and signs.count(np.sign(a)) == 1:
            return j
    return None


def _rescale(parts: np.ndarray, coefs: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """Scale same-signed parts so that coefs @ parts moves by ``shift``; keeps shares and zeros."""
    current = parts @ coefs
    goal = current + shift
    out = parts.copy()
    ok = (current != 0) & (np.sign(goal) == np.sign(current)) | (goal == 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(current != 0, goal / current, 0.0)
    out[ok] = parts[ok] * ratio[ok, None]
    # parts all zero (or of the wrong sign): spread evenly
    rest = ~ok
    if rest.any():
        k = parts.shape[1]
        out[rest] = (goal[rest] / float(coefs.sum()))[:, None] * np.ones(k)[None, :]
    return out


def _settle_remainder(new: np.ndarray, coefs: np.ndarray, goal: np.ndarray, is_integer: list[bool]) -> None:
    """After rounding, give what is left of an equality to its largest unit-coefficient part.

    A part that may hold fractions takes it; when every part is a whole
    number, the remainder is rounded so that they stay whole.
    """
    resid = goal - new @ coefs
    if not np.any(np.abs(resid) > EQ_ATOL):
        return
    unit = [j for j, a in enumerate(coefs) if abs(a) == 1.0]
    fractional = [j for j in unit if not is_integer[j]]
    candidates = fractional or unit or list(range(len(coefs)))
    sub = np.abs(new[:, candidates])
    pick = np.asarray(candidates)[np.argmax(sub, axis=1)]
    idx = np.arange(new.shape[0])
    step = resid / coefs[pick]
    if not fractional:
        step = np.where(np.asarray(is_integer)[pick], np.rint(step), step)
    new[idx, pick] += step
