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
``->`` means implication. A comparison that involves a missing value is
counted as satisfied (nothing can be said about it).

Tolerance (see :class:`Tolerance` and docs/constraints.md): ``lhs == rhs``
holds when ``|lhs - rhs| <= abs + rel * (sum of |coef * value| over the terms
held in floating point)``; ``<=``, ``>=`` and ``!=`` allow the same slack, ``<``
and ``>`` are strict. The default ``rel = 1e-5`` covers the rounding of every
term to single precision (Stata ``float``, float32 Parquet, numbers printed
with 6 significant digits) whatever the column's dtype says now; terms held in
an integer dtype contribute no slack, so identities between integer columns
are exact.

Limits: a constraint is at most :data:`MAX_LENGTH` characters, nests
parentheses at most :data:`MAX_NESTING` deep and holds at most
:data:`MAX_COMPARISONS` comparisons (``constraint_too_long``,
``constraint_too_deep``), so that parsing and checking stay linear in its size.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Union

import numpy as np
import pandas as pd

from ..errors import SurveyfuseError

#: absolute slack of comparisons: what float64 sums of ordinary money amounts may lose
EQ_ATOL = 1e-6
#: relative slack, per unit of the terms' magnitudes: single-precision rounding of every term (2**-24 each,
#: about 6e-8) and 6-significant-digit text (5e-6 each) stay well inside it, as in numpy.isclose's rtol
EQ_RTOL = 1e-5
MAX_LENGTH = 20_000
MAX_NESTING = 64
MAX_COMPARISONS = 200

_SPACE = re.compile(r"\s*")
_TOKEN = re.compile(
    r"\s*(?:(?P<num>\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)"
    r"|(?P<str>\"[^\"]*\"|'[^']*')"
    r"|(?P<op>->|<=|>=|==|!=|<|>|\+|-|\*|/|\(|\)|&|\|)"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_.]*))"
)
_COMPARE = ("<=", ">=", "==", "!=", "<", ">")


@dataclass(frozen=True)
class Tolerance:
    """How far apart two sides may be and still count as equal.

    ``|lhs - rhs| <= abs + rel * scale``, where ``scale`` adds up ``|coef *
    value|`` over the terms stored in floating point (terms in an integer
    dtype are exact and add nothing). Scaling by the terms rather than by
    the result keeps the slack right when parts of opposite sign cancel.
    """

    abs: float = EQ_ATOL
    rel: float = EQ_RTOL

    @classmethod
    def parse(cls, value: Any, where: str = "tolerance") -> "Tolerance | None":
        """``None``, a :class:`Tolerance`, or ``{"abs": ..., "rel": ...}`` (missing keys: the default)."""
        if value is None or isinstance(value, Tolerance):
            return value
        if not isinstance(value, Mapping) or set(value) - {"abs", "rel"}:
            raise SurveyfuseError(
                "bad_argument", f"{where} must be {{\"abs\": number, \"rel\": number}}, got {value!r}", argument=where
            )
        out = {}
        for key in ("abs", "rel"):
            v = value.get(key)
            if v is None:
                continue
            if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) or not np.isfinite(v) or v < 0:
                raise SurveyfuseError(
                    "bad_argument", f"{where}.{key} must be a finite number >= 0, got {v!r}", argument=f"{where}.{key}"
                )
            out[key] = float(v)
        return cls(**out)

    def to_dict(self) -> dict[str, float]:
        return {"abs": self.abs, "rel": self.rel}


DEFAULT_TOLERANCE = Tolerance()
#: what float64 arithmetic itself may lose: a donor row off by more than this but within the
#: tolerance is rounding, and is repaired onto the identity
EXACT = Tolerance(abs=1e-9, rel=1e-12)


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
        return Linear(tuple((c, a * k) for c, a in self.coefs if a * k != 0.0), self.const * k)

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
    tolerance: Tolerance | None = None  # None: the set's tolerance

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
    pos = _SPACE.match(text, 0).end()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise _syntax_error(text, pos, f"unexpected character {text[pos]!r}")
        kind = m.lastgroup or ""
        value = m.group(kind)
        toks.append(_Tok(kind, value, m.start(kind)))
        pos = _SPACE.match(text, m.end()).end()
    toks.append(_Tok("end", "", len(text)))
    return toks


def _short(text: str, k: int = 60) -> str:
    return text if len(text) <= k else text[:k] + "..."


def _check_limits(text: str, toks: list[_Tok]) -> None:
    """Refuse sizes that would make parsing or checking deep or slow (stable codes, before any work)."""
    depth = 0
    for t in toks:
        if t.kind == "op" and t.value == "(":
            depth += 1
            if depth > MAX_NESTING:
                raise SurveyfuseError(
                    "constraint_too_deep",
                    f"constraint '{_short(text)}' nests parentheses more than {MAX_NESTING} deep "
                    f"(at position {t.pos}); write it as several constraints",
                    constraint=_short(text), position=t.pos, limit=MAX_NESTING,
                )
        elif t.kind == "op" and t.value == ")":
            depth = max(depth - 1, 0)
    comparisons = sum(1 for t in toks if t.kind == "op" and t.value in _COMPARE)
    if comparisons > MAX_COMPARISONS:
        raise SurveyfuseError(
            "constraint_too_long",
            f"constraint '{_short(text)}' holds {comparisons} comparisons, more than the {MAX_COMPARISONS} "
            f"allowed in one constraint; write it as several constraints",
            constraint=_short(text), comparisons=comparisons, limit=MAX_COMPARISONS,
        )


class _Parser:
    """Recursive descent; ``condition`` and ``expr`` are memoised by position, so the
    backtracking between a parenthesised condition and a parenthesised sum stays linear."""

    def __init__(self, text: str) -> None:
        if len(text) > MAX_LENGTH:
            raise SurveyfuseError(
                "constraint_too_long",
                f"constraint '{_short(text)}' is {len(text):,} characters long, more than the {MAX_LENGTH:,} allowed",
                constraint=_short(text), length=len(text), limit=MAX_LENGTH,
            )
        self.text = text
        self.toks = _tokenize(text)
        _check_limits(text, self.toks)
        self.i = 0
        self._memo: dict[tuple[str, int], tuple[Any, int] | SurveyfuseError] = {}

    def _memoised(self, rule: str, parse: Any) -> Any:
        key = (rule, self.i)
        hit = self._memo.get(key)
        if hit is None:
            try:
                hit = (parse(), self.i)
            except SurveyfuseError as exc:
                hit = exc
            self._memo[key] = hit
        if isinstance(hit, SurveyfuseError):
            raise hit
        node, self.i = hit
        return node

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
        return self._memoised("condition", self._condition)

    def _condition(self) -> Node:
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
        return self._memoised("expr", self._expr)

    def _expr(self) -> Linear:
        node = self.term()
        while True:
            t = self.accept("+", "-")
            if t is None:
                return node
            other = self.term()
            if node.text is not None or other.text is not None:
                raise _syntax_error(self.text, t.pos, "text cannot be added or subtracted")
            node = node.plus(other, 1.0 if t.value == "+" else -1.0)
            self._check_finite(node, t.pos)

    def term(self) -> Linear:
        node = self.factor()
        while True:
            t = self.accept("*", "/")
            if t is None:
                return node
            other = self.factor()
            if node.text is not None or other.text is not None:
                raise _syntax_error(self.text, t.pos, "text cannot be multiplied or divided")
            if other.coefs and node.coefs:
                raise _syntax_error(self.text, t.pos, "columns can only be multiplied by constants")
            if t.value == "/":
                if other.coefs:
                    raise _syntax_error(self.text, t.pos, "can only divide by a constant")
                if other.const == 0:
                    raise _syntax_error(self.text, t.pos, "division by zero")
                node = node.scaled(1.0 / other.const)
            elif other.coefs:
                node = other.scaled(node.const)
            else:
                node = node.scaled(other.const)
            self._check_finite(node, t.pos)

    def _check_finite(self, node: Linear, pos: int) -> None:
        if not (np.isfinite(node.const) and all(np.isfinite(a) for _, a in node.coefs)):
            raise _syntax_error(self.text, pos, "a coefficient overflows")

    def factor(self) -> Linear:
        negate = False
        while True:  # a run of unary minuses, without recursion
            t = self.accept("-")
            if t is None:
                break
            negate = not negate
            sign_at = t.pos
        node = self._primary()
        if negate:
            if node.text is not None:
                raise _syntax_error(self.text, sign_at, "text cannot be negated")
            node = node.scaled(-1.0)
        return node

    def _primary(self) -> Linear:
        t = self.tok
        if t.kind == "num":
            value = float(t.value)
            if not np.isfinite(value):
                raise _syntax_error(self.text, t.pos, f"number {t.value} is too large")
            self.i += 1
            return Linear(const=value)
        if t.kind == "str":
            self.i += 1
            return Linear(text=t.value[1:-1])
        if t.kind == "name" and t.value not in ("and", "or"):
            self.i += 1
            return Linear(coefs=((t.value, 1.0),))
        if self.accept("("):
            inner = self.expr()
            self.expect(")", "')'")
            return inner
        raise self.error("expected a column name, a number or '('")


def parse_constraint(text: Any, tolerance: Any = None) -> Constraint:
    """Parse one constraint, raising ``constraint_syntax`` that points at the token.

    ``text`` is the constraint, or ``{"constraint": text, "tolerance": {"abs":
    ..., "rel": ...}}`` for one that needs its own tolerance.

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
    if isinstance(text, Mapping):
        unknown = sorted(set(map(str, text)) - {"constraint", "tolerance"})
        if unknown or not isinstance(text.get("constraint"), str):
            raise SurveyfuseError(
                "constraint_syntax",
                f"a constraint given as an object needs 'constraint' (its text) and may have 'tolerance', got {dict(text)!r}",
                constraint=str(dict(text)),
            )
        body = text["constraint"]
        return Constraint(body, _Parser(body).parse(), Tolerance.parse(text.get("tolerance"), f"tolerance of '{_short(body)}'"))
    if not isinstance(text, str):
        raise SurveyfuseError("constraint_syntax", f"a constraint must be text, got {text!r}", constraint=str(text))
    return Constraint(text, _Parser(text).parse(), Tolerance.parse(tolerance))


# --- evaluation ---------------------------------------------------------------
def _linear_values(lin: Linear, data: Mapping[str, Any], n: int) -> np.ndarray:
    if lin.text is not None:
        return np.full(n, lin.text, dtype=object)
    out = np.full(n, lin.const, dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        for col, a in lin.coefs:
            out = out + a * _as_float(data[col], col)
    return out


def _as_float(values: Any, col: str) -> np.ndarray:
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
            term = a * _as_float(data[col], col)
            values = values + term
            if not (col in exact if exact is not None else _is_exact(data[col])):
                scale = scale + np.abs(term)
    return values, scale


def _numeric_sides(node: Compare, data: Mapping[str, Any], n: int, exact: frozenset[str] | None):
    lhs, ls = _side(node.lhs, data, n, exact)
    rhs, rs = _side(node.rhs, data, n, exact)
    scale = ls + rs
    return lhs, rhs, np.where(np.isfinite(scale), scale, 0.0)  # an infinite value earns no slack


def _compare(node: Compare, data: Mapping[str, Any], n: int, tol: Tolerance = DEFAULT_TOLERANCE,
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


def _excess(node: Compare, data: Mapping[str, Any], n: int, exact: frozenset[str] | None) -> tuple[np.ndarray, np.ndarray]:
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
    return _linear_values(lin, data, n).astype(object)


def _evaluate(node: Node, data: Mapping[str, Any], n: int, tol: Tolerance = DEFAULT_TOLERANCE,
              exact: frozenset[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Three-valued logic: (value, known)."""
    if isinstance(node, Compare):
        return _compare(node, data, n, tol, exact)
    lv, lk = _evaluate(node.left, data, n, tol, exact)
    rv, rk = _evaluate(node.right, data, n, tol, exact)
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


@dataclass
class DonorScreen:
    """What :meth:`ConstraintSet.screen` found in a donor.

    ``keep`` is False where a row breaks a constraint by more than the
    tolerance; ``values`` holds the repaired columns (float64, every row, the
    unrepaired rows unchanged) and ``repaired_rows`` the rows that moved.
    """

    keep: np.ndarray
    repaired_rows: np.ndarray
    values: dict[str, np.ndarray]
    report: dict[str, Any]


class ConstraintSet:
    """Parsed constraints: check data against them, count and repair violations.

    Parameters
    ----------
    texts : list of str or dict
        Constraints in the constraint language (:func:`parse_constraint`), or
        ``{"constraint": ..., "tolerance": ...}`` objects.
    tolerance : Tolerance or dict, optional
        The set's default (``{"abs": ..., "rel": ...}``; ``None`` for
        :data:`DEFAULT_TOLERANCE`).

    Examples
    --------
    >>> import pandas as pd
    >>> from surveyfuse import ConstraintSet
    >>> cs = ConstraintSet(["qualified <= dividends", "dividends >= 0"])
    >>> data = pd.DataFrame({"dividends": [10.0, 5.0, 0.0], "qualified": [4.0, 6.0, 0.0]})
    >>> cs.check(data).to_dict()["violations"]
    {'qualified <= dividends': 1, 'dividends >= 0': 0}
    """

    def __init__(self, texts: Iterable[Any] | str | None = None, tolerance: Any = None) -> None:
        if isinstance(texts, (str, Mapping)):
            texts = [texts]
        self.tolerance = Tolerance.parse(tolerance) or DEFAULT_TOLERANCE
        self.constraints = [parse_constraint(t) for t in (texts or [])]

    def __len__(self) -> int:
        return len(self.constraints)

    def __iter__(self):
        return iter(self.constraints)

    @property
    def texts(self) -> list[str]:
        return [c.text for c in self.constraints]

    def tolerance_of(self, c: Constraint) -> Tolerance:
        """The tolerance that decides whether ``c`` holds: its own, else the set's.

        Examples
        --------
        >>> from surveyfuse import ConstraintSet
        >>> cs = ConstraintSet(["a <= b", {"constraint": "b <= c", "tolerance": {"abs": 0.5, "rel": 0}}])
        >>> cs.tolerance_of(cs.constraints[0]), cs.tolerance_of(cs.constraints[1])
        (Tolerance(abs=1e-06, rel=1e-05), Tolerance(abs=0.5, rel=0.0))
        """
        return c.tolerance or self.tolerance

    def describe_tolerance(self) -> dict[str, Any]:
        """The set's tolerance, and each constraint that has its own (for run reports).

        Examples
        --------
        >>> from surveyfuse import ConstraintSet
        >>> ConstraintSet(["a <= b", {"constraint": "b <= c", "tolerance": {"abs": 0.5, "rel": 0}}]).describe_tolerance()
        {'abs': 1e-06, 'rel': 1e-05, 'constraints': {'b <= c': {'abs': 0.5, 'rel': 0.0}}}
        """
        out: dict[str, Any] = self.tolerance.to_dict()
        own = {c.text: c.tolerance.to_dict() for c in self.constraints if c.tolerance is not None}
        if own:
            out["constraints"] = own
        return out

    def columns(self) -> set[str]:
        """Every column the constraints name.

        Examples
        --------
        >>> from surveyfuse import ConstraintSet
        >>> sorted(ConstraintSet(["total == a + b", "a >= 0"]).columns())
        ['a', 'b', 'total']
        """
        return set().union(*[c.columns for c in self.constraints]) if self.constraints else set()

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
                    f"constraint '{_short(c.text)}' names column '{unknown[0]}', which is neither a predictor "
                    f"nor in the block",
                    constraint=_short(c.text),
                    column=unknown[0],
                )
        return self

    def violations(self, data: Mapping[str, Any] | pd.DataFrame, tolerance: Tolerance | None = None,
                   exact: frozenset[str] | None = None) -> dict[str, np.ndarray]:
        """Boolean mask per constraint text: True where a row breaks it.

        ``tolerance`` replaces every constraint's own; ``exact`` names the
        columns whose terms get no slack (default: those of integer dtype).

        Examples
        --------
        >>> from surveyfuse import ConstraintSet
        >>> ConstraintSet(["a <= b"]).violations({"a": [1, 3], "b": [2, 2]})["a <= b"].tolist()
        [False, True]
        """
        n = _n_rows(data)
        out = {}
        for c in self.constraints:
            holds, known = _evaluate(c.node, data, n, tolerance or self.tolerance_of(c), exact)
            out[c.text] = known & ~holds
        return out

    def violating_rows(self, data: Mapping[str, Any] | pd.DataFrame, tolerance: Tolerance | None = None,
                       exact: frozenset[str] | None = None) -> np.ndarray:
        """True for each row that breaks at least one constraint.

        Examples
        --------
        >>> from surveyfuse import ConstraintSet
        >>> ConstraintSet(["a <= b", "a >= 0"]).violating_rows({"a": [1, 3, -1], "b": [2, 2, 2]}).tolist()
        [False, True, True]
        """
        n = _n_rows(data)
        bad = np.zeros(n, dtype=bool)
        for mask in self.violations(data, tolerance, exact).values():
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
        data: dict[str, Any],
        mutable: Iterable[str],
        integer: Iterable[str] = (),
        rounds: int = 20,
        tolerance: Tolerance | None = None,
        exact: frozenset[str] | None = None,
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
        Cycling over the set handles overlapping constraints. The mutable
        columns of ``data`` are replaced by repaired float64 copies (the
        arrays passed in are never written to, so read-only ones are fine);
        ``tolerance`` (default: each constraint's own) decides what counts as
        broken. Returns how many rows each constraint had changed.

        Examples
        --------
        >>> import numpy as np
        >>> from surveyfuse import ConstraintSet
        >>> data = {"a": np.array([1.0, 3.0]), "b": np.array([2.0, 2.0])}
        >>> ConstraintSet(["a <= b"]).repair(data, mutable=["a"]), data["a"].tolist()
        ({'a <= b': 1}, [1.0, 2.0])
        """
        n = _n_rows(data)
        if exact is None:
            exact = exact_columns(data, self.columns())
        mutable = {c for c in mutable if c in data}
        integer = set(integer) & mutable
        for c in mutable:
            data[c] = np.array(_as_float(data[c], c), dtype=np.float64)  # a writable copy
        changed_rows: dict[str, np.ndarray] = {}
        for _ in range(rounds):
            changed = False
            for c in self.constraints:
                tol = tolerance or self.tolerance_of(c)
                holds, known = _evaluate(c.node, data, n, tol, exact)
                bad = known & ~holds
                if not bad.any():
                    continue
                target = _repair_target(c.node, data, n, bad, tol, exact)
                if target is None:
                    continue
                node, rows = target
                moved = _project(node, data, rows, mutable, integer)
                if moved is not None and moved.any():
                    changed_rows[c.text] = changed_rows.get(c.text, np.zeros(n, bool)) | moved
                    changed = True
            if not changed:
                break
        return {k: int(v.sum()) for k, v in changed_rows.items()}

    def screen(
        self,
        data: Mapping[str, Any] | pd.DataFrame,
        mutable: Iterable[str],
        integer: Iterable[str] = (),
        weights: np.ndarray | None = None,
        rows: np.ndarray | None = None,
    ) -> DonorScreen:
        """Check donor rows: repair those that miss an identity by rounding only, flag the rest.

        A row that breaks a constraint by more than the tolerance is to be
        left out (``keep`` False), with counts, weight shares and the largest
        violation per constraint in the report. A row that holds within the
        tolerance but not exactly is moved onto the identity by the same
        projection the draws get (``mutable`` columns only); where that would
        break another constraint the row keeps its values. ``rows`` limits the
        check to rows still in use; ``weights`` give the shares.

        Examples
        --------
        A total off by a cent (float32 rounding of 120,000) is repaired, one
        off by 3 is left out:

        >>> import pandas as pd
        >>> from surveyfuse import ConstraintSet
        >>> donor = pd.DataFrame({"a": [100000.0, 2.0, 5.0], "b": [20000.0, 3.0, 1.0], "total": [120000.01, 5.0, 9.0]})
        >>> found = ConstraintSet(["total == a + b"]).screen(donor, mutable=["a", "b", "total"])
        >>> found.keep.tolist(), found.repaired_rows.tolist(), found.values["total"].tolist()
        ([True, True, False], [True, False, False], [120000.0, 5.0, 9.0])
        """
        n = _n_rows(data)
        rows = np.ones(n, dtype=bool) if rows is None else np.asarray(rows, dtype=bool)
        w = np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64)
        total_w = float(w[rows].sum()) or 1.0
        view = {c: data[c] for c in self.columns() if c in data} or {"_": np.zeros(n)}  # keeps the row count
        exact = exact_columns(view)
        broken = {k: m & rows for k, m in self.violations(view, exact=exact).items()}
        drop = np.zeros(n, dtype=bool)
        for mask in broken.values():
            drop |= mask
        off = self.violations(view, tolerance=EXACT, exact=exact)
        candidates = rows & ~drop
        inexact = np.zeros(n, dtype=bool)
        for mask in off.values():
            inexact |= mask
        candidates &= inexact
        mutable = [c for c in mutable if c in view]
        values: dict[str, np.ndarray] = {}
        repaired_rows = np.zeros(n, dtype=bool)
        if candidates.any() and mutable:
            idx = np.flatnonzero(candidates)
            sub = {c: _take(v, idx) for c, v in view.items()}
            before = {c: _as_float(sub[c], c) for c in mutable}
            self.repair(sub, mutable, integer, tolerance=EXACT, exact=exact)
            held = ~self.violating_rows(sub, exact=exact)  # a repair that broke something else is undone
            moved = np.zeros(len(idx), dtype=bool)
            for c in mutable:
                moved |= ~((sub[c] == before[c]) | (np.isnan(sub[c]) & np.isnan(before[c])))
            moved &= held
            repaired_rows[idx[moved]] = True
            for c in mutable:
                full = _as_float(view[c], c).copy()
                full[idx[moved]] = sub[c][moved]
                values[c] = full
        dropped: dict[str, dict[str, Any]] = {}
        for c in self.constraints:
            mask = broken[c.text]
            if mask.any():
                dropped[c.text] = {"rows": int(mask.sum()), "weight_share": float(w[mask].sum() / total_w),
                                   **_largest_violation(c.node, view, n, mask, self.tolerance_of(c), exact)}
        report = {
            "tolerance": self.describe_tolerance(),
            "exact_columns": sorted(exact),
            "rows_checked": int(rows.sum()),
            "repaired": {c.text: int((off[c.text] & repaired_rows).sum()) for c in self.constraints
                         if (off[c.text] & repaired_rows).any()},
            "repaired_rows": int(repaired_rows.sum()),
            "dropped": dropped,
            "dropped_rows": int(drop.sum()),
            "dropped_weight_share": float(w[drop].sum() / total_w),
        }
        return DonorScreen(keep=~drop, repaired_rows=repaired_rows, values=values, report=report)


def _take(values: Any, idx: np.ndarray) -> Any:
    """Rows ``idx`` of a column, keeping its dtype (which says whether it is exact)."""
    if isinstance(values, pd.Series):
        return values.iloc[idx].reset_index(drop=True)
    return np.asarray(values)[idx]


def _largest_violation(node: Node, data: Mapping[str, Any], n: int, mask: np.ndarray, tol: Tolerance,
                       exact: frozenset[str]) -> dict[str, Any]:
    """The row among ``mask`` furthest from meeting the constraint: how far, absolutely and per unit of its terms."""
    target = _repair_target(node, data, n, mask, tol, exact)
    if target is None:
        return {"largest_violation": None, "largest_relative": None, "largest_row": int(np.flatnonzero(mask)[0])}
    compare, rows = target
    amount, size = _excess(compare, data, n, exact)
    amount = np.where(rows, amount, np.nan)
    if not np.isfinite(amount).any():
        return {"largest_violation": None, "largest_relative": None, "largest_row": int(np.flatnonzero(rows)[0])}
    j = int(np.nanargmax(amount))
    return {
        "largest_violation": float(amount[j]),
        "largest_relative": float(amount[j] / size[j]) if size[j] > 0 else None,
        "largest_row": j,
    }


def _n_rows(data: Mapping[str, Any] | pd.DataFrame) -> int:
    if isinstance(data, pd.DataFrame):
        return len(data)
    return len(next(iter(data.values()))) if data else 0


def _repair_target(node: Node, data: Mapping[str, Any], n: int, bad: np.ndarray, tol: Tolerance = DEFAULT_TOLERANCE,
                   exact: frozenset[str] | None = None) -> tuple[Compare, np.ndarray] | None:
    if isinstance(node, Compare):
        return node, bad
    if node.op == "implies" and isinstance(node.right, Compare):
        return node.right, bad
    if node.op == "and":
        for side in (node.left, node.right):
            if isinstance(side, Compare):
                holds, known = _compare(side, data, n, tol, exact)
                rows = bad & known & ~holds
                if rows.any():
                    return side, rows
    return None


def _project(node: Compare, data: dict[str, np.ndarray], rows: np.ndarray, mutable: set[str],
             integer: set[str]) -> np.ndarray | None:
    """Move ``rows`` onto one comparison; returns the rows whose values changed (None: cannot)."""
    if node.lhs.text is not None or node.rhs.text is not None or node.op == "!=":
        return None
    diff = node.lhs.plus(node.rhs, -1.0)  # the constraint reads: diff OP 0
    cols = [(c, a) for c, a in diff.coefs if c in mutable]
    if not cols:
        return None
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
