"""Rake donor weights so the donor's weighted predictor margins match the recipient's.

This is StatMatch's ``harmonize.x`` idea: before fusing, make the two surveys
agree on what they both measure. Iterative proportional fitting over the
margins of the chosen predictors: categorical ones level by level, numeric
ones in ``bins`` classes cut at the recipient's weighted quantiles. The
result is the donor weight closest (in the raking sense, i.e. multiplicative)
to the original that reproduces every margin.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..data.types import infer_variable, numeric_values
from ..errors import SurveyfuseError


def _classes(donor: pd.Series, recipient: pd.Series, wr: np.ndarray, categorical: bool, bins: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
    if categorical:
        d = donor.astype(str).where(donor.notna(), "<missing>").to_numpy()
        r = recipient.astype(str).where(recipient.notna(), "<missing>").to_numpy()
        levels = sorted(set(r))
        return d, r, levels
    dv = numeric_values(donor, role="raking column")
    rv = numeric_values(recipient, role="raking column")
    ok = ~np.isnan(rv)
    order = np.argsort(rv[ok])
    cw = np.cumsum(wr[ok][order]) / wr[ok].sum()
    cuts = np.unique([rv[ok][order][min(np.searchsorted(cw, q), ok.sum() - 1)] for q in np.linspace(0, 1, bins + 1)[1:-1]])
    d = np.where(np.isnan(dv), -1, np.searchsorted(cuts, dv, side="right")).astype(str)
    r = np.where(np.isnan(rv), -1, np.searchsorted(cuts, rv, side="right")).astype(str)
    return d, r, sorted(set(r))


def rake(
    donor: pd.DataFrame,
    recipient: pd.DataFrame,
    columns: list[str],
    donor_weights: np.ndarray,
    recipient_weights: np.ndarray,
    *,
    categorical: list[str] | None = None,
    bins: int = 5,
    max_iter: int = 200,
    tol: float = 1e-6,
) -> tuple[np.ndarray, dict[str, Any]]:
    """New donor weights whose margins of ``columns`` match the recipient's.

    Parameters
    ----------
    donor, recipient : DataFrame
        The two surveys (harmonised).
    columns : list of str
        Predictors to rake on.
    donor_weights, recipient_weights : array
        Current weights, one per row.
    categorical : list of str, optional
        Columns raked level by level (numeric ones are cut into ``bins``
        classes at the recipient's weighted quantiles).
    bins : int
        Classes per numeric column.
    max_iter, tol : int, float
        Iterative proportional fitting stops after ``max_iter`` rounds or when
        no margin is off by more than ``tol``.

    Returns
    -------
    weights : ndarray
        New donor weights, with the recipient's total.
    report : dict
        ``columns``, ``iterations``, and each column's largest margin gap before
        (``max_gap_before``) and after (``max_gap_after``).

    Examples
    --------
    >>> import numpy as np
    >>> import surveyfuse as sf
    >>> donor, recipient = sf.datasets.make_surveys(n_donor=400, n_recipient=200, seed=0)
    >>> w, report = sf.rake(donor, recipient, ["married"], donor["weight"], recipient["weight"])
    >>> share = lambda frame, wt: float(np.average(frame["married"] == "yes", weights=wt))
    >>> round(share(donor, w), 4) == round(share(recipient, recipient["weight"]), 4)
    True
    """
    wd = np.asarray(donor_weights, float).copy()
    wr = np.asarray(recipient_weights, float)
    categorical = set(categorical or [])
    margins = []
    for col in columns:
        for table, name in ((donor, "donor"), (recipient, "recipient")):
            if col not in table.columns:
                raise SurveyfuseError("missing_column", f"raking column '{col}' is not in the {name}", column=col, table=name)
        is_cat = col in categorical or infer_variable(donor[col]).kind.value in ("categorical", "binary")
        d, r, levels = _classes(donor[col], recipient[col], wr, is_cat, bins)
        target = np.array([wr[r == lv].sum() for lv in levels]) / wr.sum()
        for lv, t in zip(levels, target):
            if t > 0 and not (d == lv).any():
                raise SurveyfuseError(
                    "rake_failed",
                    f"cannot rake on '{col}': the recipient has {'level' if is_cat else 'class'} '{lv}' "
                    f"({t:.1%} of its weight) but the donor has no such row",
                    column=col, level=lv,
                )
        margins.append((col, d, levels, target))

    def discrepancy(w: np.ndarray) -> dict[str, float]:
        return {col: float(np.abs(np.array([w[d == lv].sum() for lv in levels]) / w.sum() - target).max())
                for col, d, levels, target in margins}

    before = discrepancy(wd)
    wd *= wr.sum() / wd.sum()
    converged = False
    for iteration in range(1, max_iter + 1):
        for col, d, levels, target in margins:
            total = wd.sum()
            for lv, t in zip(levels, target):
                m = d == lv
                cur = wd[m].sum() / total
                if cur > 0:
                    wd[m] *= t / cur
            # donor rows in classes the recipient lacks get no weight
            wd[~np.isin(d, levels)] = 0.0
        if max(discrepancy(wd).values(), default=0.0) < tol:
            converged = True
            break
    after = discrepancy(wd)
    if not converged:
        raise SurveyfuseError(
            "rake_failed",
            f"raking did not converge in {max_iter} iterations (largest margin gap {max(after.values()):.2%}); "
            f"the margins may contradict each other, try fewer columns or bins",
            columns=columns,
        )
    return wd, {"columns": columns, "iterations": iteration, "max_gap_before": before, "max_gap_after": after,
                "weight_ratio_range": [float(np.min(wd[wd > 0] / np.asarray(donor_weights, float)[wd > 0])),
                                       float(np.max(wd[wd > 0] / np.asarray(donor_weights, float)[wd > 0]))]}
