"""The constraint language: parse once, check per row, repair by projection.

Grammar (whitespace ignored)::

    constraint  := condition [ "->" condition ]
    condition   := conjunct { ("|" | "or") conjunct }
    conjunct    := atom { ("&" | "and") atom }
    atom        := "(" condition ")" [ ("==" | "!=") "(" condition ")" ]
                 | comparison
    comparison  := expr ("<=" | ">=" | "==" | "!=" | "<" | ">") expr
    expr        := term { ("+" | "-") term }
    term        := factor { ("*" | "/") NUMBER } | NUMBER "*" factor
    factor      := NAME | NUMBER | STRING | "-" factor | "(" expr ")"

Arithmetic is linear: columns may be scaled by constants and added, never
multiplied together. ``(a) == (b)`` between conditions means "if and only if",
``->`` means implication. Equalities hold within
``EQ_ATOL + EQ_RTOL * max(|lhs|, |rhs|)``; ``<=`` and ``>=`` allow the same
slack; ``<`` and ``>`` are strict. A comparison that involves a missing value
is counted as satisfied (nothing can be said about it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Union

import numpy as np
import pandas as pd

from .errors import SurveyfuseError

EQ_ATOL = 1e-6
EQ_RTOL = 1e-9

_TOKEN = re.compile(
    r"\s*(?:(?P<num>\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)"
    r"|(?P<str>\"[^\"]*\"|'[^']*')"
    r"|(?P<op>->|<=|>=|==|!=|<|>|\+|-|\*|/|\(|\)|&|\|)"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_.]*))"
)
_COMPARE = ("<=", ">=", "==", "!=", "<", ">")


# --- AST --------------------------------------------------------------------
@dataclass(frozen=True)
class Linear:
    """sum(coef * column) + const, or a string literal (for categories)."""

    coefs: tuple[tuple[str, float], ...] = ()
    const: float = 0.0
    text: str | None = None

    def columns(self) -> set[str]:
        return {c for c, _ in self.coefs}

    def scaled(self, k: float) -> "Linear":
        return Linear(tuple((c, a * k) for c, a in self.coefs), self.const * k)

    def plus(self, other: "Linear", sign: float = 1.0) -> "Linear":
        merged: dict[str, float] = dict(self.coefs)
        for c, a in other.coefs:
            merged[c] = merged.get(c, 0.0) + sign * a
        return Linear(tuple((c, a) for c, a in merged.items() if a != 0.0), self.const + sign * other.const)


@dataclass(frozen=True)
class Compare:
    lhs: Linear
    op: str
    rhs: Linear

    def columns(self) -> set[str]:
        return self.lhs.columns() | self.rhs.columns()


@dataclass(frozen=True)
class BoolOp:
    op: str  # "and", "or", "iff", "xor", "implies"
    left: "Node"
    right: "Node"

    def columns(self) -> set[str]:
        return self.left.columns() | self.right.columns()


Node = Union[Compare, BoolOp]


@dataclass(frozen=True)
class Constraint:
    text: str
    node: Node

    @property
    def columns(self) -> set[str]:
        return self.node.columns()


# --- parser -----------------------------------------------------------------
@dataclass
class _Tok:
    kind: str
    value: str
    pos: int


def _syntax_error(text: str, pos: int, what: str) -> SurveyfuseError:
    pointer = " " * pos + "^"
    return SurveyfuseError(
        "constraint_syntax",
        f"constraint '{text}': {what} at position {pos}\n  {text}\n  {pointer}",
        constraint=text,
        position=pos,
    )


def _tokenize(text: str) -> list[_Tok]:
    toks: list[_Tok] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            start = pos + (len(text[pos:]) - len(text[pos:].lstrip()))
            raise _syntax_error(text, start, f"unexpected character {text[start]!r}")
        kind = m.lastgroup or ""
        value = m.group(kind)
        toks.append(_Tok(kind, value, m.start(kind)))
        pos = m.end()
    toks.append(_Tok("end", "", len(text)))
    return toks


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.toks = _tokenize(text)
        self.i = 0

    # helpers
    @property
    def tok(self) -> _Tok:
        return self.toks[self.i]

    def accept(self, *values: str) -> _Tok | None:
        t = self.tok
        if (t.kind == "op" and t.value in values) or (t.kind == "name" and t.value in values):
            self.i += 1
            return t
        return None

    def expect(self, value: str, what: str) -> _Tok:
        t = self.accept(value)
        if t is None:
            raise self.error(f"expected {what}")
        return t

    def error(self, what: str) -> SurveyfuseError:
        t = self.tok
        found = "end of constraint" if t.kind == "end" else repr(t.value)
        return _syntax_error(self.text, t.pos, f"{what}, found {found}")

    # grammar
    def parse(self) -> Node:
        if self.tok.kind == "end":
            raise self.error("expected a condition")
        node = self.condition()
        if self.accept("->"):
            node = BoolOp("implies", node, self.condition())
        if self.tok.kind != "end":
            raise self.error("expected end of constraint or an operator")
        return node

    def condition(self) -> Node:
        node = self.conjunct()
        while self.accept("|", "or"):
            node = BoolOp("or", node, self.conjunct())
        return node

    def conjunct(self) -> Node:
        node = self.atom()
        while self.accept("&", "and"):
            node = BoolOp("and", node, self.atom())
        return node

    def atom(self) -> Node:
        if self.tok.kind == "op" and self.tok.value == "(":
            saved = self.i
            try:
                self.i += 1
                inner = self.condition()
                self.expect(")", "')'")
            except SurveyfuseError:
                self.i = saved  # not a parenthesised condition: an arithmetic group
            else:
                nxt = self.tok
                if nxt.kind == "op" and nxt.value in ("==", "!="):
                    after = self.toks[self.i + 1]
                    if after.kind == "op" and after.value == "(":
                        save2 = self.i
                        self.i += 1
                        try:
                            self.i += 1
                            other = self.condition()
                            self.expect(")", "')'")
                            return BoolOp("iff" if nxt.value == "==" else "xor", inner, other)
                        except SurveyfuseError:
                            self.i = save2
                            raise _syntax_error(
                                self.text, nxt.pos, "a condition in parentheses can only be compared with another one"
                            )
                if nxt.kind == "op" and nxt.value in _COMPARE:
                    raise _syntax_error(self.text, nxt.pos, "a condition in parentheses cannot be compared with a number")
                return inner
        return self.comparison()

    def comparison(self) -> Compare:
        lhs = self.expr()
        t = self.tok
        if not (t.kind == "op" and t.value in _COMPARE):
            raise self.error("expected a comparison (<=, >=, ==, !=, <, >)")
        self.i += 1
        rhs = self.expr()
        if (lhs.text is not None or rhs.text is not None) and t.value not in ("==", "!="):
            raise _syntax_error(self.text, t.pos, "text can only be compared with == or !=")
        return Compare(lhs, t.value, rhs)

    def expr(self) -> Linear:
        node = self.term()
        while True:
            t = self.accept("+", "-")
            if t is None:
                return node
            other = self.term()
            if node.text is not None or other.text is not None:
                raise _syntax_error(self.text, t.pos, "text cannot be added or subtracted")
            node = node.plus(other, 1.0 if t.value == "+" else -1.0)

    def term(self) -> Linear:
        node = self.factor()
        while True:
            t = self.accept("*", "/")
            if t is None:
                return node
            other = self.factor()
            if other.coefs and node.coefs:
                raise _syntax_error(self.text, t.pos, "columns can only be multiplied by constants")
            if t.value == "/":
                if other.coefs or other.text is not None:
                    raise _syntax_error(self.text, t.pos, "can only divide by a constant")
                if other.const == 0:
                    raise _syntax_error(self.text, t.pos, "division by zero")
                node = node.scaled(1.0 / other.const)
            elif other.coefs:
                node = other.scaled(node.const)
            else:
                node = node.scaled(other.const)

    def factor(self) -> Linear:
        t = self.tok
        if t.kind == "num":
            self.i += 1
            return Linear(const=float(t.value))
        if t.kind == "str":
            self.i += 1
            return Linear(text=t.value[1:-1])
        if t.kind == "name" and t.value not in ("and", "or"):
            self.i += 1
            return Linear(coefs=((t.value, 1.0),))
        if self.accept("-"):
            return self.factor().scaled(-1.0)
        if self.accept("("):
            inner = self.expr()
            self.expect(")", "')'")
            return inner
        raise self.error("expected a column name, a number or '('")


def parse_constraint(text: str) -> Constraint:
    """Parse one constraint, raising ``constraint_syntax`` that points at the token.

    The language: comparisons (``<= >= == != < >``) between linear
    expressions of columns, conditions combined with ``&`` / ``and`` and
    ``|`` / ``or``, and implications ``(condition) -> (condition)`` (see the
    user guide's constraint page).

    Examples
    --------
    >>> from surveyfuse import parse_constraint
    >>> sorted(parse_constraint("e00650 <= e00600").columns)
    ['e00600', 'e00650']
    >>> try:
    ...     parse_constraint("e00650 <= ")
    ... except Exception as exc:
    ...     print(exc.code)
    constraint_syntax
    """
    if not isinstance(text, str):
        raise SurveyfuseError("constraint_syntax", f"a constraint must be text, got {text!r}", constraint=str(text))
    return Constraint(text, _Parser(text).parse())


# --- evaluation ---------------------------------------------------------------
def _linear_values(lin: Linear, data: Mapping[str, Any], n: int) -> np.ndarray:
    if lin.text is not None:
        return np.full(n, lin.text, dtype=object)
    out = np.full(n, lin.const, dtype=np.float64)
    for col, a in lin.coefs:
        out = out + a * _as_float(data[col], col)
    return out


def _as_float(values: Any, col: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.dtype.kind in "biuf":
        return arr.astype(np.float64)
    return pd.to_numeric(pd.Series(arr), errors="coerce").to_numpy(dtype=np.float64)


def _compare(node: Compare, data: Mapping[str, Any], n: int) -> tuple[np.ndarray, np.ndarray]:
    """(holds, known) boolean arrays for one comparison."""
    textual = node.lhs.text is not None or node.rhs.text is not None
    if textual:
        lhs = _object_side(node.lhs, data, n)
        rhs = _object_side(node.rhs, data, n)
        known = ~(pd.isna(lhs) | pd.isna(rhs))
        eq = np.array([str(a) == str(b) for a, b in zip(lhs, rhs)], dtype=bool)
        return (eq if node.op == "==" else ~eq), known
    lhs = _linear_values(node.lhs, data, n)
    rhs = _linear_values(node.rhs, data, n)
    known = ~(np.isnan(lhs) | np.isnan(rhs))
    tol = EQ_ATOL + EQ_RTOL * np.maximum(np.abs(lhs), np.abs(rhs))
    with np.errstate(invalid="ignore"):
        holds = {
            "<=": lhs <= rhs + tol,
            ">=": lhs >= rhs - tol,
            "==": np.abs(lhs - rhs) <= tol,
            "!=": np.abs(lhs - rhs) > tol,
            "<": lhs < rhs,
            ">": lhs > rhs,
        }[node.op]
    return holds, known


def _object_side(lin: Linear, data: Mapping[str, Any], n: int) -> np.ndarray:
    if lin.text is not None:
        return np.full(n, lin.text, dtype=object)
    if len(lin.coefs) == 1 and lin.coefs[0][1] == 1.0 and lin.const == 0.0:
        return np.asarray(data[lin.coefs[0][0]], dtype=object)
    return _linear_values(lin, data, n).astype(object)


def _evaluate(node: Node, data: Mapping[str, Any], n: int) -> tuple[np.ndarray, np.ndarray]:
    """Three-valued logic: (value, known)."""
    if isinstance(node, Compare):
        return _compare(node, data, n)
    lv, lk = _evaluate(node.left, data, n)
    rv, rk = _evaluate(node.right, data, n)
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


@dataclass
class ConstraintReport:
    """Rows that break each constraint; ``to_dict`` is what run summaries print."""

    n_rows: int
    violations: dict[str, int] = field(default_factory=dict)
    repaired: dict[str, int] = field(default_factory=dict)

    @property
    def total_violations(self) -> int:
        return sum(self.violations.values())

    @property
    def ok(self) -> bool:
        return self.total_violations == 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows_checked": self.n_rows,
            "violations": dict(self.violations),
            "repaired": dict(self.repaired),
            "ok": self.ok,
        }


class ConstraintSet:
    """Parsed constraints: check data against them, count and repair violations.

    Parameters
    ----------
    texts : list of str
        Constraints in the constraint language (:func:`parse_constraint`).

    Examples
    --------
    >>> import pandas as pd
    >>> from surveyfuse import ConstraintSet
    >>> cs = ConstraintSet(["qualified <= dividends", "dividends >= 0"])
    >>> data = pd.DataFrame({"dividends": [10.0, 5.0, 0.0], "qualified": [4.0, 6.0, 0.0]})
    >>> cs.check(data).to_dict()["violations"]
    {'qualified <= dividends': 1, 'dividends >= 0': 0}
    """

    def __init__(self, texts: Iterable[str] | None = None) -> None:
        self.constraints = [parse_constraint(t) for t in (texts or [])]

    def __len__(self) -> int:
        return len(self.constraints)

    def __iter__(self):
        return iter(self.constraints)

    @property
    def texts(self) -> list[str]:
        return [c.text for c in self.constraints]

    def validate_columns(self, known: Iterable[str]) -> "ConstraintSet":
        """Refuse a constraint naming a column outside ``known`` (``constraint_unknown_column``); returns self.

        Examples
        --------
        >>> from surveyfuse import ConstraintSet
        >>> try:
        ...     ConstraintSet(["a <= b"]).validate_columns(["a"])
        ... except Exception as exc:
        ...     print(exc.code, exc.context["column"])
        constraint_unknown_column b
        """
        known = set(known)
        for c in self.constraints:
            unknown = sorted(c.columns - known)
            if unknown:
                raise SurveyfuseError(
                    "constraint_unknown_column",
                    f"constraint '{c.text}' names column '{unknown[0]}', which is neither a predictor "
                    f"nor in the block",
                    constraint=c.text,
                    column=unknown[0],
                )
        return self

    def violations(self, data: Mapping[str, Any] | pd.DataFrame) -> dict[str, np.ndarray]:
        """Boolean mask per constraint text: True where a row breaks it.

        Examples
        --------
        >>> from surveyfuse import ConstraintSet
        >>> ConstraintSet(["a <= b"]).violations({"a": [1, 3], "b": [2, 2]})["a <= b"].tolist()
        [False, True]
        """
        n = _n_rows(data)
        out = {}
        for c in self.constraints:
            holds, known = _evaluate(c.node, data, n)
            out[c.text] = known & ~holds
        return out

    def violating_rows(self, data: Mapping[str, Any] | pd.DataFrame) -> np.ndarray:
        """True for each row that breaks at least one constraint.

        Examples
        --------
        >>> from surveyfuse import ConstraintSet
        >>> ConstraintSet(["a <= b", "a >= 0"]).violating_rows({"a": [1, 3, -1], "b": [2, 2, 2]}).tolist()
        [False, True, True]
        """
        n = _n_rows(data)
        bad = np.zeros(n, dtype=bool)
        for mask in self.violations(data).values():
            bad |= mask
        return bad

    def check(self, data: Mapping[str, Any] | pd.DataFrame) -> ConstraintReport:
        """Count the rows breaking each constraint: a report with ``ok``, ``violations`` and ``to_dict()``.

        Examples
        --------
        >>> from surveyfuse import ConstraintSet
        >>> ConstraintSet(["a <= b"]).check({"a": [1, 3], "b": [2, 2]}).ok
        False
        """
        viol = self.violations(data)
        return ConstraintReport(_n_rows(data), {k: int(v.sum()) for k, v in viol.items()})

    def repair(
        self,
        data: dict[str, np.ndarray],
        mutable: Iterable[str],
        integer: Iterable[str] = (),
        rounds: int = 20,
    ) -> dict[str, int]:
        """Move rows onto violated linear constraints, changing only ``mutable`` columns.

        Each violated comparison (or the consequent of an implication whose
        condition holds) is fixed by a small change of its mutable columns:
        a bound is clipped; an equality whose mutable parts share a sign is
        met by rescaling those parts proportionally (shares and zeros are
        kept, so ``total == a + b`` keeps a's share of the total); when the
        total itself is imputed, it alone moves to equal the sum of its parts;
        anything else takes the smallest Euclidean step. Columns in ``integer`` stay
        whole numbers, the rounding remainder going to the largest part.
        Cycling over the set handles overlapping constraints. ``data`` is
        modified in place; returns how many rows each constraint had changed.

        Examples
        --------
        >>> import numpy as np
        >>> from surveyfuse import ConstraintSet
        >>> data = {"a": np.array([1.0, 3.0]), "b": np.array([2.0, 2.0])}
        >>> ConstraintSet(["a <= b"]).repair(data, mutable=["a"]), data["a"].tolist()
        ({'a <= b': 1}, [1.0, 2.0])
        """
        mutable = set(mutable)
        integer = set(integer) & mutable
        changed_rows: dict[str, np.ndarray] = {}
        n = _n_rows(data)
        for _ in range(rounds):
            changed = False
            for c in self.constraints:
                holds, known = _evaluate(c.node, data, n)
                bad = known & ~holds
                if not bad.any():
                    continue
                target = _repair_target(c.node, data, n, bad)
                if target is None:
                    continue
                node, rows = target
                if _project(node, data, rows, mutable, integer):
                    changed_rows[c.text] = changed_rows.get(c.text, np.zeros(n, bool)) | rows
                    changed = True
            if not changed:
                break
        return {k: int(v.sum()) for k, v in changed_rows.items()}


def _n_rows(data: Mapping[str, Any] | pd.DataFrame) -> int:
    if isinstance(data, pd.DataFrame):
        return len(data)
    return len(next(iter(data.values()))) if data else 0


def _repair_target(node: Node, data: Mapping[str, Any], n: int, bad: np.ndarray) -> tuple[Compare, np.ndarray] | None:
    if isinstance(node, Compare):
        return node, bad
    if node.op == "implies" and isinstance(node.right, Compare):
        return node.right, bad
    if node.op == "and":
        for side in (node.left, node.right):
            if isinstance(side, Compare):
                holds, known = _compare(side, data, n)
                rows = bad & known & ~holds
                if rows.any():
                    return side, rows
    return None


def _project(node: Compare, data: dict[str, np.ndarray], rows: np.ndarray, mutable: set[str], integer: set[str]) -> bool:
    if node.lhs.text is not None or node.rhs.text is not None or node.op == "!=":
        return False
    diff = node.lhs.plus(node.rhs, -1.0)  # the constraint reads: diff OP 0
    cols = [(c, a) for c, a in diff.coefs if c in mutable]
    if not cols:
        return False
    value = _linear_values(diff, data, len(rows))[rows]
    if node.op in ("<=", "<"):
        target = np.minimum(value, 0.0)
    elif node.op in (">=", ">"):
        target = np.maximum(value, 0.0)
    else:
        target = np.zeros_like(value)
    shift = target - value  # change needed in diff
    if node.op in ("<", ">"):
        shift = shift + np.sign(shift) * EQ_ATOL * 10
    parts = np.column_stack([np.asarray(data[c], dtype=np.float64)[rows] for c, _ in cols])
    coefs = np.array([a for _, a in cols])
    lone = _lone_total(diff, cols) if node.op == "==" else None
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
    for j, (c, _) in enumerate(cols):
        arr = data[c]
        arr[rows] = new[:, j]
    return True


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
    """After rounding, give what is left of an equality to its largest unit-coefficient part."""
    resid = goal - new @ coefs
    if not np.any(np.abs(resid) > EQ_ATOL):
        return
    candidates = [j for j, a in enumerate(coefs) if abs(a) == 1.0] or list(range(len(coefs)))
    sub = np.abs(new[:, candidates])
    pick = np.asarray(candidates)[np.argmax(sub, axis=1)]
    idx = np.arange(new.shape[0])
    new[idx, pick] += resid / coefs[pick]
