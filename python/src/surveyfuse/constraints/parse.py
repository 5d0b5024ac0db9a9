"""The constraint language's grammar: text -> a tree of linear comparisons and conditions.

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
from dataclasses import dataclass
from typing import Any, Mapping, Union

import numpy as np

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


def short_text(text: str, k: int = 60) -> str:
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
                    f"constraint '{short_text(text)}' nests parentheses more than {MAX_NESTING} deep "
                    f"(at position {t.pos}); write it as several constraints",
                    constraint=short_text(text), position=t.pos, limit=MAX_NESTING,
                )
        elif t.kind == "op" and t.value == ")":
            depth = max(depth - 1, 0)
    comparisons = sum(1 for t in toks if t.kind == "op" and t.value in _COMPARE)
    if comparisons > MAX_COMPARISONS:
        raise SurveyfuseError(
            "constraint_too_long",
            f"constraint '{short_text(text)}' holds {comparisons} comparisons, more than the {MAX_COMPARISONS} "
            f"allowed in one constraint; write it as several constraints",
            constraint=short_text(text), comparisons=comparisons, limit=MAX_COMPARISONS,
        )


class _Parser:
    """Recursive descent; ``condition`` and ``expr`` are memoised by position, so the
    backtracking between a parenthesised condition and a parenthesised sum stays linear."""

    def __init__(self, text: str) -> None:
        if len(text) > MAX_LENGTH:
            raise SurveyfuseError(
                "constraint_too_long",
                f"constraint '{short_text(text)}' is {len(text):,} characters long, more than the {MAX_LENGTH:,} allowed",
                constraint=short_text(text), length=len(text), limit=MAX_LENGTH,
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
        return Constraint(body, _Parser(body).parse(), Tolerance.parse(text.get("tolerance"), f"tolerance of '{short_text(body)}'"))
    if not isinstance(text, str):
        raise SurveyfuseError("constraint_syntax", f"a constraint must be text, got {text!r}", constraint=str(text))
    return Constraint(text, _Parser(text).parse(), Tolerance.parse(tolerance))


def parse_expression(text: str) -> Linear | None:
    """Parse a linear expression of columns (``a + 2 * b - 100``), as the right side of a comparison.

    Returns None when ``text`` is not one numeric linear expression (a string
    literal, or a comparison after it); a malformed expression raises
    ``constraint_syntax`` like :func:`parse_constraint`.

    Examples
    --------
    >>> from surveyfuse.constraints import parse_expression
    >>> parse_expression("2 * a + b").coefs, parse_expression("a <= b")
    ((('a', 2.0), ('b', 1.0)), None)
    """
    parser = _Parser(text)
    node = parser.expr()
    if parser.tok.kind != "end" or not isinstance(node, Linear) or node.text is not None:
        return None
    return node
