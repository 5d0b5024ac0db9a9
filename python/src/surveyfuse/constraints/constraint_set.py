"""The set of a task's constraints: check data against them, count violations, repair draws, screen donors."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd

from ..errors import SurveyfuseError
from .evaluate import as_float, evaluate_node, exact_columns, n_rows
from .parse import DEFAULT_TOLERANCE, EXACT, Constraint, Tolerance, parse_constraint, short_text
from .repair import largest_violation, project, repair_target, take_rows


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
                    f"constraint '{short_text(c.text)}' names column '{unknown[0]}', which is neither a predictor "
                    f"nor in the block",
                    constraint=short_text(c.text),
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
        n = n_rows(data)
        out = {}
        for c in self.constraints:
            holds, known = evaluate_node(c.node, data, n, tolerance or self.tolerance_of(c), exact)
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
        n = n_rows(data)
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
        return ConstraintReport(n_rows(data), {k: int(v.sum()) for k, v in viol.items()})

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
        n = n_rows(data)
        if exact is None:
            exact = exact_columns(data, self.columns())
        mutable = {c for c in mutable if c in data}
        integer = set(integer) & mutable
        for c in mutable:
            data[c] = np.array(as_float(data[c], c), dtype=np.float64)  # a writable copy
        changed_rows: dict[str, np.ndarray] = {}
        for _ in range(rounds):
            changed = False
            for c in self.constraints:
                tol = tolerance or self.tolerance_of(c)
                holds, known = evaluate_node(c.node, data, n, tol, exact)
                bad = known & ~holds
                if not bad.any():
                    continue
                target = repair_target(c.node, data, n, bad, tol, exact)
                if target is None:
                    continue
                node, rows = target
                moved = project(node, data, rows, mutable, integer)
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
        n = n_rows(data)
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
            sub = {c: take_rows(v, idx) for c, v in view.items()}
            before = {c: as_float(sub[c], c) for c in mutable}
            self.repair(sub, mutable, integer, tolerance=EXACT, exact=exact)
            held = ~self.violating_rows(sub, exact=exact)  # a repair that broke something else is undone
            moved = np.zeros(len(idx), dtype=bool)
            for c in mutable:
                moved |= ~((sub[c] == before[c]) | (np.isnan(sub[c]) & np.isnan(before[c])))
            moved &= held
            repaired_rows[idx[moved]] = True
            for c in mutable:
                full = as_float(view[c], c).copy()
                full[idx[moved]] = sub[c][moved]
                values[c] = full
        dropped: dict[str, dict[str, Any]] = {}
        for c in self.constraints:
            mask = broken[c.text]
            if mask.any():
                dropped[c.text] = {"rows": int(mask.sum()), "weight_share": float(w[mask].sum() / total_w),
                                   **largest_violation(c.node, view, n, mask, self.tolerance_of(c), exact)}
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
