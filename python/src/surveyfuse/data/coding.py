"""Is a predictor coded the same way in the donor and the recipient?

A model learned on the donor's coding of a predictor says nothing about rows
coded otherwise, and nothing fails: an unseen category is "no information",
so every recipient row silently gets predictor-blind draws. The usual causes
are mundane: one survey read with its Stata value labels ("single",
"joint") and the other as bare codes (1, 2); category spellings that differ
("North" / "north"); a wave that adds a category.

:func:`check_predictor_coding` compares each recipient predictor with what
the donor taught the :class:`~surveyfuse.data.features.FeatureEncoder`:

* no recipient value is a donor category, or the two sides are of different
  kinds (categories against numbers): ``predictor_coding`` error, naming the
  column and showing values of both sides;
* some recipient categories are not donor categories: a warning with the
  share of rows and examples (those rows carry no information for that
  predictor; the run goes on).

A numeric predictor held as text is refused too: numbers with thousands
separators ("21,900") or words only, with the fix in the message. Cells
that are not numbers among numbers are left to the numeric reader, which
names the first such row (``non_numeric``). In the donor, numbers stored as
text are refused when a variable is inferred (see
:func:`surveyfuse.data.types.infer_variable`).
"""

from __future__ import annotations

import warnings
from typing import Any, Sequence

import numpy as np
import pandas as pd

from ..errors import SurveyfuseError, SurveyfuseWarning
from .types import Kind, Variable, encode_discrete, is_text_dtype

#: how many values an error or warning shows
EXAMPLES = 4


def check_predictor_coding(variables: Sequence[Variable], frame: pd.DataFrame, *, table: str = "recipient") -> list[str]:
    """Raise ``predictor_coding`` or warn (and return the warnings) for each predictor of ``frame``
    whose values do not match the donor's coding in ``variables``."""
    messages: list[str] = []
    for var in variables:
        if var.name not in frame.columns:
            continue
        series = frame[var.name]
        present = series.dropna()
        if present.empty:
            continue
        if var.kind == Kind.CATEGORICAL:
            message = _check_categories(var, series, present, table)
        else:
            message = _check_numeric(var, series, present, table)
        if message:
            warnings.warn(SurveyfuseWarning("predictor_coding", message), stacklevel=3)
            messages.append(message)
    return messages


def _check_categories(var: Variable, series: pd.Series, present: pd.Series, table: str) -> str | None:
    codes = encode_discrete(present, var)
    unseen = codes < 0
    if not unseen.any():
        return None
    levels = list(var.levels or ())
    values = _examples(present[unseen])
    if unseen.all():
        numbers = _all_numbers(present)
        donor_text = all(isinstance(v, str) for v in levels)
        if numbers and donor_text:
            hint = ("the donor has labels and the recipient bare codes: read both surveys with their value labels "
                    "(or both without), or recode one to the other")
        elif donor_text and not numbers:
            hint = "the category spellings differ: recode one survey's values to the other's (see 'harmonise' in the spec)"
        else:
            hint = "recode one survey's values to the other's"
        raise SurveyfuseError(
            "predictor_coding",
            f"predictor '{var.name}' is coded differently in the donor and the {table}: the donor's categories are "
            f"{_show(levels)}, the {table} has {values}; no {table} value is a donor category, so the predictor would "
            f"carry no information for any row. {hint[0].upper()}{hint[1:]}",
            column=var.name, table=table, donor_values=[str(v) for v in levels[:EXAMPLES]],
            values=[str(v) for v in pd.unique(present[unseen])[:EXAMPLES]],
        )
    share = float(unseen.mean())
    near = _case_matches(present[unseen], levels)
    extra = f" (differing only in case or spaces from donor categories: {_show(near)})" if near else ""
    return (f"predictor '{var.name}': {int(unseen.sum())} {table} rows ({share:.1%} of those with a value) have "
            f"categories the donor never has: {values}{extra}; for these rows '{var.name}' carries no information")


def _check_numeric(var: Variable, series: pd.Series, present: pd.Series, table: str) -> str | None:
    if not is_text_dtype(series.dtype):
        return None
    if isinstance(series.dtype, pd.CategoricalDtype) and _all_numbers(pd.Series(series.cat.categories)):
        return None  # numeric codes held as a category: their values are the numbers
    plain = pd.to_numeric(pd.Series(np.asarray(present, dtype=object)), errors="coerce").notna().to_numpy()
    if plain.all():
        return None  # plain numbers as text ("21900") convert exactly
    separated = pd.to_numeric(present.astype(str).str.replace(",", "", regex=False).str.strip(),
                              errors="coerce").notna().to_numpy()
    rescued = separated & ~plain  # numbers once the thousands separators go ("21,900")
    if not rescued.any() and plain.any():
        return None  # numbers with cells that are not: the numeric reader names the first (non_numeric)
    as_text = bool(rescued.any()) and separated.mean() >= 0.9
    donor = f" (values {var.lower:g} to {var.upper:g})" if var.lower is not None else ""
    fix = ("Convert it to numbers, removing the thousands separators (R: readr::parse_number(); "
           "pandas: pd.to_numeric(s.str.replace(',', '')))" if as_text else
           "If it is a category in both surveys, declare it in 'categorical' and code both the same way")
    raise SurveyfuseError(
        "predictor_coding",
        f"predictor '{var.name}' is a number in the donor{donor} but {'numbers stored as text' if as_text else 'text'} "
        f"in the {table}: {_examples(present)}. {fix}",
        column=var.name, table=table, values=[str(v) for v in pd.unique(present)[:EXAMPLES]],
    )


def _all_numbers(values: pd.Series) -> bool:
    return bool(pd.to_numeric(pd.Series(np.asarray(values, dtype=object)), errors="coerce").notna().all())


def _case_matches(values: pd.Series, levels: list[Any]) -> list[str]:
    folded = {str(v).strip().casefold(): v for v in levels}
    return [str(v) for v in pd.unique(values) if str(v).strip().casefold() in folded][:EXAMPLES]


def _examples(values: pd.Series) -> str:
    return _show(list(pd.unique(values)))


def _show(values: list[Any]) -> str:
    shown = ", ".join(repr(v) if isinstance(v, str) else f"{v:g}" if isinstance(v, float) else str(v)
                      for v in values[:EXAMPLES])
    return shown + (f", ... ({len(values)} distinct)" if len(values) > EXAMPLES else "")


__all__ = ["check_predictor_coding"]
