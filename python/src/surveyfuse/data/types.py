"""Variable kinds, inferred from the donor and overridable by the user.

The kind decides how a backend models a variable and how its draws are turned
back into the user's values:

==============  ==========================================================
kind            rule (first match wins)
==============  ==========================================================
categorical     declared in ``categorical``, or text / category dtype
binary          bool dtype, or numeric with values in {0, 1} only
count           integers, all >= 0, at most 20 distinct values
signed          numeric with negative values
zero_inflated   numeric, >= 0, at least 5% exact zeros
continuous      everything else numeric
==============  ==========================================================

A text column whose values are at least 90% numbers (also once thousands
separators are removed: "21,900") is refused (``non_numeric``, naming the
first bad row) unless declared categorical: it is almost surely a numeric
column with a typo or stored as text, and guessing would silently change its
meaning.

Numeric columns whose donor values are all whole numbers are flagged
``integer``: draws are rounded and the original integer dtype restored.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import Enum
from typing import Any

import numpy as np
import pandas as pd

from ..errors import SurveyfuseError, row_label

COUNT_MAX_LEVELS = 20
ZERO_INFLATED_SHARE = 0.05
#: a text column with at least this share of numbers is taken as numeric with bad values
MOSTLY_NUMERIC = 0.9


class Kind(str, Enum):
    CONTINUOUS = "continuous"
    ZERO_INFLATED = "zero_inflated"
    SIGNED = "signed"
    COUNT = "count"
    BINARY = "binary"
    CATEGORICAL = "categorical"

    @property
    def is_discrete(self) -> bool:
        """Coded as 0..L-1 over ``levels`` rather than as a number."""
        return self in (Kind.BINARY, Kind.CATEGORICAL)


@dataclass(frozen=True)
class Variable:
    """What the donor taught us about one column.

    ``levels`` (discrete kinds only) are the original values in code order.
    ``lower`` / ``upper`` are the donor's observed range (numeric kinds).
    ``dtype`` is the original dtype's name, restored on output.
    """

    name: str
    kind: Kind
    dtype: str
    integer: bool = False
    levels: tuple[Any, ...] | None = None
    lower: float | None = None
    upper: float | None = None

    @property
    def n_levels(self) -> int:
        return len(self.levels) if self.levels is not None else 0

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["kind"] = self.kind.value
        if self.levels is not None:
            out["levels"] = [_json_scalar(v) for v in self.levels]
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Variable":
        data = dict(data)
        data["kind"] = Kind(data["kind"])
        if data.get("levels") is not None:
            data["levels"] = tuple(data["levels"])
        return cls(**data)


def _json_scalar(v: Any) -> Any:
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating,)):
        return float(v)
    if isinstance(v, (np.bool_,)):
        return bool(v)
    return v


def is_text_dtype(dtype: Any) -> bool:
    return (
        isinstance(dtype, pd.CategoricalDtype)
        or pd.api.types.is_object_dtype(dtype)
        or pd.api.types.is_string_dtype(dtype)
    )


def numeric_values(series: pd.Series, *, role: str = "column") -> np.ndarray:
    """A numeric column as float64 with NaN for missing; a clear error for text.

    The error names the column and the first offending row.
    """
    if pd.api.types.is_bool_dtype(series.dtype):
        return series.astype("float64").to_numpy()
    if pd.api.types.is_numeric_dtype(series.dtype):
        return series.astype("float64").to_numpy(na_value=np.nan)
    converted = pd.to_numeric(series, errors="coerce")
    bad = converted.isna() & series.notna()
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise SurveyfuseError(
            "non_numeric",
            f"{role} '{series.name}' must be numeric, but row {row_label(row)} holds {series.iloc[row]!r}; "
            f"declare it in 'categorical' if it is a category",
            column=series.name,
            row=row,
            value=str(series.iloc[row]),
        )
    return converted.astype("float64").to_numpy()


def infer_variable(series: pd.Series, *, categorical: bool = False) -> Variable:
    """Infer a :class:`Variable` from the donor's values of one column."""
    name = str(series.name)
    dtype = str(series.dtype)
    non_null = series.dropna()
    if not categorical and is_text_dtype(series.dtype) and not isinstance(series.dtype, pd.CategoricalDtype):
        _refuse_mostly_numeric_text(series, non_null)
    if categorical or is_text_dtype(series.dtype):
        if isinstance(series.dtype, pd.CategoricalDtype):
            levels = tuple(_json_scalar(v) for v in series.cat.categories)
        else:
            levels = tuple(sorted({_json_scalar(v) for v in non_null}, key=_level_sort_key))
        return Variable(name, Kind.CATEGORICAL, dtype, levels=levels)
    if pd.api.types.is_bool_dtype(series.dtype):
        return Variable(name, Kind.BINARY, dtype, levels=(False, True))
    values = numeric_values(series)
    values = values[~np.isnan(values)]
    if values.size == 0:
        return Variable(name, Kind.CONTINUOUS, dtype, lower=None, upper=None)
    if not np.all(np.isfinite(values)):
        raise SurveyfuseError(
            "bad_data", f"column '{name}' holds infinite values", column=name
        )
    integer = bool(np.all(values == np.round(values)))
    lower, upper = float(values.min()), float(values.max())
    unique = np.unique(values)
    if set(unique.tolist()) <= {0.0, 1.0}:
        return Variable(name, Kind.BINARY, dtype, integer=True, levels=(0, 1), lower=lower, upper=upper)
    if integer and lower >= 0 and unique.size <= COUNT_MAX_LEVELS:
        kind = Kind.COUNT
    elif lower < 0:
        kind = Kind.SIGNED
    elif np.mean(values == 0) >= ZERO_INFLATED_SHARE:
        kind = Kind.ZERO_INFLATED
    else:
        kind = Kind.CONTINUOUS
    return Variable(name, kind, dtype, integer=integer, lower=lower, upper=upper)


def _refuse_mostly_numeric_text(series: pd.Series, non_null: pd.Series) -> None:
    """A text column whose values are nearly all numbers is a numeric column with typos,
    or with thousands separators ("21,900"): either way, guessing a category would be wrong."""
    if non_null.empty:
        return
    parsed = pd.to_numeric(non_null, errors="coerce")
    share = float(parsed.notna().mean())
    if MOSTLY_NUMERIC <= share < 1.0:
        numeric_values(series, role="column")  # raises non_numeric naming the first bad row
    if share >= MOSTLY_NUMERIC:
        return
    separated = pd.to_numeric(non_null.astype(str).str.replace(",", "", regex=False).str.strip(), errors="coerce")
    if float(separated.notna().mean()) >= MOSTLY_NUMERIC:
        row = int(np.flatnonzero((series.notna() & pd.to_numeric(series, errors="coerce").isna()).to_numpy())[0])
        examples = ", ".join(repr(str(v)) for v in pd.unique(non_null)[:3])
        raise SurveyfuseError(
            "non_numeric",
            f"column '{series.name}' holds numbers stored as text with thousands separators ({examples}, first at "
            f"row {row_label(row)}); convert it to numbers (R: readr::parse_number(); pandas: "
            f"pd.to_numeric(s.str.replace(',', ''))), or declare it in 'categorical' if it is a category",
            column=series.name, row=row, value=str(series.iloc[row]),
        )


def _level_sort_key(v: Any) -> tuple[int, Any]:
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return (0, v)
    return (1, str(v))


def encode_discrete(series: pd.Series, var: Variable) -> np.ndarray:
    """Codes 0..L-1 for a discrete variable; -1 for missing or unseen values."""
    assert var.levels is not None
    lookup = {_json_scalar(v): i for i, v in enumerate(var.levels)}
    # dict lookup treats 1, 1.0 and True alike, so numeric levels survive NaN-induced floats
    mapped = pd.Series(series.to_numpy(dtype=object)).map(lambda v: lookup.get(v, -1) if _hashable(v) else -1)
    return mapped.to_numpy(dtype=np.int64)


def _hashable(v: Any) -> bool:
    try:
        hash(v)
    except TypeError:
        return False
    return True


def decode_values(values: np.ndarray, var: Variable) -> pd.Series:
    """Turn one variable's draws (float codes or numbers) back into user values."""
    if var.kind.is_discrete:
        assert var.levels is not None
        codes = np.clip(np.rint(values), 0, var.n_levels - 1).astype(np.int64)
        if var.dtype == "category":
            return pd.Series(pd.Categorical.from_codes(codes, categories=list(var.levels)), name=var.name)
        out = np.asarray(var.levels, dtype=object)[codes]
        return pd.Series(out, name=var.name).astype(_restorable_dtype(var.dtype, out))
    out = values.astype(np.float64)
    if var.integer:
        out = np.rint(out)
    return pd.Series(out, name=var.name).astype(_restorable_dtype(var.dtype, out))


def _restorable_dtype(dtype: str, values: np.ndarray) -> str:
    try:
        pd.Series(values[:1]).astype(dtype)
        return dtype
    except (TypeError, ValueError):
        return "object"
