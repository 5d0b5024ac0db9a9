"""Make declared identities hold by construction, repair the rest, report.

A generator that outputs ``e00600`` and ``e00650`` freely breaks
``e00650 <= e00600`` on some draws however well it is trained. Instead the
model learns a reparametrised block in which the identity cannot break:

* ``a <= b`` between non-negative block columns: the model learns the share
  ``a / b`` in [0, 1]; ``a = share * b`` on the way back;
* ``t == a + b + c``: the model learns the parts in levels and the total is
  their sum (``sums="parts"``, the default), so every part keeps its own zero
  mode and tail and the sum is exact, rounding included. With
  ``sums="shares"`` and non-negative columns the model learns the total and
  stick-breaking shares ``a / t``, ``b / (t - a)`` and the last part is what
  is left (``c = t - a - b``); that last part absorbs every error of the
  shares, which on long-tailed money blocks drew it far into its tail
  (bench_deep), hence the default. Models saved before the choice existed
  load with their old rule (``"legacy"``: shares, or for signed parts the
  last part as the difference);
* ``condition -> v == 0`` (an indicator, a predictor or a category gating a
  value): ``v`` is set to 0 wherever the condition holds.

Whatever declared constraint is not of these forms (or could not be used
because a column already plays a role) is repaired afterwards by the
projection of :meth:`ConstraintSet.repair`; :meth:`ConstraintLayer.restore`
reports which constraints held by construction and how many rows were
repaired.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ...constraints import Compare, ConstraintSet, evaluate_node
from ...data.features import Features
from ...data.types import Kind, Variable
from .encoding import ColumnSpec


@dataclass
class _Share:
    child: int
    parent: int
    text: str


@dataclass
class _Sum:
    total: int
    parts: list[int]
    shares: bool  # stick-breaking shares (all non-negative) or difference only
    text: str
    from_parts: bool = False  # the total is the sum of the parts (then ``shares`` is False)

    @property
    def children(self) -> list[int]:
        """Columns this relation computes."""
        return [self.total] if self.from_parts else self.parts if self.shares else self.parts[-1:]

    @property
    def inputs(self) -> set[int]:
        """Columns it computes them from."""
        return set(self.parts) if self.from_parts else {self.total} | (set() if self.shares else set(self.parts[:-1]))


@dataclass
class _Gate:
    target: int
    text: str


def _nonneg(v: Variable) -> bool:
    return not v.kind.is_discrete and v.lower is not None and v.lower >= 0


SUM_MODES = ("parts", "shares", "legacy")


class ConstraintLayer:
    """Reparametrises the block so declared identities hold by construction."""

    def __init__(self, sums: str = "parts") -> None:
        if sums not in SUM_MODES:
            raise ValueError(f"sums must be one of {SUM_MODES}, got {sums!r}")
        self.sums_mode = sums

    def fit(self, variables: list[Variable], constraints: ConstraintSet | None) -> "ConstraintLayer":
        self.variables = list(variables)
        self.texts = list(constraints.texts) if constraints is not None else []
        # each constraint as declared, with its own tolerance, and the set's: the repair after the
        # network's draws decides what holds as the run does (a spec's tolerance included)
        self.specs = ([{"constraint": c.text, "tolerance": c.tolerance.to_dict()} if c.tolerance is not None else c.text
                       for c in constraints] if constraints is not None else [])
        self.tolerance = constraints.tolerance.to_dict() if constraints is not None else None
        self._plan()
        return self

    def _plan(self) -> None:
        names = [v.name for v in self.variables]
        index = {n: i for i, n in enumerate(names)}
        numeric = {i for i, v in enumerate(self.variables) if not v.kind.is_discrete}
        derived: set[int] = set()  # columns computed from others (each at most once)
        self.shares: list[_Share] = []
        self.sums: list[_Sum] = []
        self.gates: list[_Gate] = []
        self.by_construction: list[str] = []
        cs = ConstraintSet(self.texts)
        for c in cs:
            node = c.node
            if isinstance(node, Compare) and node.op in ("<=", ">=", "<", ">", "=="):
                diff = node.lhs.plus(node.rhs, -1.0)
                coefs = dict(diff.coefs)
                if diff.const != 0.0 or not coefs or any(col not in index for col in coefs):
                    continue
                if any(index[col] not in numeric for col in coefs) or any(abs(a) != 1.0 for a in coefs.values()):
                    continue
                if node.op == "==":
                    plus = [index[col] for col, a in coefs.items() if a > 0]
                    minus = [index[col] for col, a in coefs.items() if a < 0]
                    total, parts = (plus[0], minus) if len(plus) == 1 else (minus[0], plus) if len(minus) == 1 else (None, [])
                    if total is None or len(parts) < 2:
                        continue
                    all_pos = all(_nonneg(self.variables[i]) for i in [total, *parts])
                    if self.sums_mode == "parts" or (self.sums_mode == "shares" and not all_pos):
                        if total in derived or any(self._depends(p, [total]) for p in parts):
                            continue
                        self.sums.append(_Sum(total, parts, False, c.text, from_parts=True))
                        derived.add(total)
                        self.by_construction.append(c.text)
                        continue
                    if any(p in derived for p in parts) or total in derived or self._depends(total, parts):
                        continue
                    self.sums.append(_Sum(total, parts, all_pos, c.text))
                    derived.update(parts if all_pos else parts[-1:])
                    self.by_construction.append(c.text)
                elif len(coefs) == 2 and node.op in ("<=", ">="):
                    small_name = [col for col, a in coefs.items() if (a > 0) == (node.op == "<=")][0]
                    big_name = [col for col in coefs if col != small_name][0]
                    child, parent = index[small_name], index[big_name]
                    if child in derived or not (_nonneg(self.variables[child]) and _nonneg(self.variables[parent])):
                        continue
                    if self._depends(parent, [child]):
                        continue
                    self.shares.append(_Share(child, parent, c.text))
                    derived.add(child)
                    self.by_construction.append(c.text)
            elif not isinstance(node, Compare) and node.op == "implies" and isinstance(node.right, Compare):
                r = node.right
                diff = r.lhs.plus(r.rhs, -1.0)
                if r.op == "==" and diff.const == 0.0 and len(diff.coefs) == 1 and diff.coefs[0][0] in index:
                    target = index[diff.coefs[0][0]]
                    if target in numeric and not (node.left.columns() & {names[target]}):
                        self.gates.append(_Gate(target, c.text))
                        self.by_construction.append(c.text)
        gated = {g.target for g in self.gates}
        for r in self.sums:
            if not r.from_parts and r.parts[-1] in gated:
                free = [p for p in r.parts if p not in gated]
                if free and (r.shares or not self._depends(free[-1], [q for q in r.parts if q != free[-1]])):
                    r.parts = [p for p in r.parts if p != free[-1]] + [free[-1]]
        self._remainders = {r.total if r.from_parts else r.parts[-1] for r in self.sums}
        self._order()

    def _depends(self, col: int, on: list[int]) -> bool:
        """Would making ``on`` depend on ``col`` close a cycle (col already derived from them)?"""
        parents = {s.child: [s.parent] for s in self.shares}
        for s in self.sums:
            for p in s.children:
                parents.setdefault(p, []).extend(q for q in s.inputs if q != p)
        stack, seen = [col], set()
        while stack:
            c = stack.pop()
            if c in on:
                return True
            if c in seen:
                continue
            seen.add(c)
            stack.extend(parents.get(c, []))
        return False

    def _order(self) -> None:
        """Relations ordered so every parent is final before its children are computed."""
        rel: list[Any] = [*self.shares, *self.sums]
        done_children: set[int] = set()
        children_of = {id(r): ({r.child} if isinstance(r, _Share) else set(r.children)) for r in rel}
        all_children = set().union(*children_of.values()) if rel else set()
        ordered: list[Any] = []
        while rel:
            for r in rel:
                inputs = {r.parent} if isinstance(r, _Share) else r.inputs
                if not (inputs & (all_children - done_children)):
                    ordered.append(r)
                    done_children |= children_of[id(r)]
                    rel.remove(r)
                    break
            else:  # pragma: no cover - cycles are refused in _plan
                ordered.extend(rel)
                break
        self.relations = ordered

    # ------------------------------------------------------------------ columns the model sees
    def model_specs(self) -> list[ColumnSpec]:
        """What the encoder models per column: shares replace the derived parts."""
        share_cols = {s.child for s in self.shares} | {p for s in self.sums if s.shares for p in s.parts[:-1]}
        specs = []
        for i, v in enumerate(self.variables):
            if i in share_cols:
                specs.append(ColumnSpec(v.name, "numeric", lower=0.0, upper=1.0, share=True))
            elif v.kind.is_discrete:
                specs.append(ColumnSpec(v.name, "discrete", n_levels=v.n_levels))
            elif v.kind == Kind.COUNT:
                specs.append(ColumnSpec(v.name, "count", integer=True, lower=v.lower, upper=v.upper))
            else:
                specs.append(ColumnSpec(v.name, "numeric", integer=v.integer, lower=v.lower, upper=v.upper,
                                        zero_mass=v.kind in (Kind.ZERO_INFLATED, Kind.SIGNED)))
        return specs

    def to_model(self, Y: np.ndarray) -> np.ndarray:
        """Donor block -> model columns (parts replaced by shares)."""
        Y = np.asarray(Y, dtype=np.float64)
        M = Y.copy()
        for r in self.relations:
            if isinstance(r, _Share):
                M[:, r.child] = _ratio(Y[:, r.child], Y[:, r.parent])
            elif r.from_parts:
                M[:, r.total] = 0.0
            elif r.shares:
                remaining = Y[:, r.total].copy()
                for p in r.parts[:-1]:
                    M[:, p] = _ratio(Y[:, p], remaining)
                    remaining = remaining - Y[:, p]
                M[:, r.parts[-1]] = 0.0
            else:
                M[:, r.parts[-1]] = 0.0
        return M

    def _relations(self, M: np.ndarray) -> np.ndarray:
        """Model columns -> block values, computing derived parts in dependency order."""
        Y = np.asarray(M, dtype=np.float64).copy()
        rnd = [v.integer for v in self.variables]
        for i, v in enumerate(self.variables):
            if not v.kind.is_discrete and v.integer:
                Y[:, i] = np.rint(Y[:, i])
        for r in self.relations:
            if isinstance(r, _Share):
                val = np.clip(M[:, r.child], 0.0, 1.0) * Y[:, r.parent]
                Y[:, r.child] = np.rint(val) if rnd[r.child] else val
            elif r.from_parts:  # left to right, as the declared identity adds them
                total = Y[:, r.parts[0]].copy()
                for p in r.parts[1:]:
                    total = total + Y[:, p]
                Y[:, r.total] = total
            elif r.shares:
                remaining = Y[:, r.total].copy()
                for p in r.parts[:-1]:
                    val = np.clip(M[:, p], 0.0, 1.0) * remaining
                    val = np.rint(val) if rnd[p] else val
                    Y[:, p] = np.minimum(val, remaining)
                    remaining = remaining - Y[:, p]
                Y[:, r.parts[-1]] = remaining
            else:
                Y[:, r.parts[-1]] = Y[:, r.total] - Y[:, r.parts[:-1]].sum(axis=1)
        return Y

    def restore(self, M: np.ndarray, X: Features | None = None, *, repair: bool = True) -> tuple[np.ndarray, dict[str, Any]]:
        """Model columns -> block in Y coding, identities holding; and a report.

        Gates act in model space (a gated share or free value becomes 0) and
        the relations are recomputed, so a gated part of a sum moves into the
        sum's remainder instead of breaking it.
        """
        M = np.asarray(M, dtype=np.float64).copy()
        Y = self._relations(M)
        report: dict[str, Any] = {"by_construction": list(self.by_construction), "gated": {}, "repaired": {}}
        if not self.texts or len(Y) == 0:
            return Y, report
        if self.gates:
            data = self._data(Y, X)
            late: list[tuple[int, np.ndarray]] = []
            for g in self.gates:
                node = ConstraintSet([g.text]).constraints[0].node
                value, known = evaluate_node(node.left, data, len(Y))
                hit = value & known & (Y[:, g.target] != 0)
                report["gated"][g.text] = int(hit.sum())
                if g.target in self._remainders:
                    late.append((g.target, hit))
                else:
                    M[hit, g.target] = 0.0
            Y = self._relations(M)
            for target, hit in late:  # a remainder that had to stay one: the repair below restores the sum
                Y[hit, target] = 0.0
        data = self._data(Y, X)
        if repair:
            cs = self.constraint_set()
            mutable = [v.name for v in self.variables if not v.kind.is_discrete]
            if cs.violating_rows(data).any():
                report["repaired"] = cs.repair(data, mutable)
                for i, v in enumerate(self.variables):
                    if not v.kind.is_discrete:
                        Y[:, i] = data[v.name]
            report["violations_after"] = int(cs.violating_rows(self._data(Y, X)).sum())
        return Y, report

    def _data(self, Y: np.ndarray, X: Features | None) -> dict[str, np.ndarray]:
        """Columns by name for constraint evaluation: predictors as the user sees them, block decoded."""
        data: dict[str, np.ndarray] = {}
        if X is not None:
            enc = X.encoder
            for j, v in enumerate(enc.numeric_):
                data[v.name] = X.numeric[:, j]
            for j, v in enumerate(enc.categorical_):
                codes = X.codes[:, j]
                levels = np.asarray(list(v.levels or ()) + [None], dtype=object)
                data[v.name] = levels[np.where(codes >= 0, codes, len(levels) - 1)]
        for i, v in enumerate(self.variables):
            if v.kind.is_discrete:
                levels = np.asarray(list(v.levels or ()), dtype=object)
                codes = np.clip(np.rint(Y[:, i]), 0, max(len(levels) - 1, 0)).astype(np.int64)
                data[v.name] = levels[codes] if len(levels) else Y[:, i]
            else:
                data[v.name] = Y[:, i].astype(np.float64).copy()
        return data

    def constraint_set(self) -> ConstraintSet:
        """The declared constraints with their tolerances (the plan itself needs only their texts)."""
        return ConstraintSet(self.specs, self.tolerance)

    # ------------------------------------------------------------------ persistence
    def get_state(self) -> dict[str, Any]:
        return {"variables": [v.to_json() for v in self.variables], "constraints": list(self.specs),
                "tolerance": self.tolerance, "sums": self.sums_mode}

    @classmethod
    def from_state(cls, meta: dict[str, Any]) -> "ConstraintLayer":
        variables = [Variable.from_json(v) for v in meta["variables"]]
        cs = ConstraintSet(meta["constraints"], meta.get("tolerance"))  # older files: texts, the default tolerance
        return cls(meta.get("sums", "legacy")).fit(variables, cs)


def _ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(b > 0, a / np.where(b > 0, b, 1.0), 0.0)
    return np.clip(r, 0.0, 1.0)
