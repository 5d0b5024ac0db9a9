"""Accept pandas or Arrow tables and give results back in the same type."""

from __future__ import annotations

import json
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa

from ..errors import SurveyfuseError

TableKind = Literal["pandas", "arrow"]


def as_pandas(data: Any, *, role: str) -> tuple[pd.DataFrame, TableKind]:
    """A pandas view of the user's table (never modified) and the kind it came as.

    Column names must be unique text; an Arrow table must convert to pandas
    (nested columns do, as objects; :func:`check_cell_columns` refuses those
    where a value is needed).
    """
    if isinstance(data, pd.DataFrame):
        frame, kind = data, "pandas"
    elif isinstance(data, (pa.Table, pa.RecordBatch)):
        _check_names(list(data.schema.names), role)
        try:
            frame, kind = data.to_pandas(), "arrow"
        except (pa.ArrowException, ValueError, TypeError, OverflowError) as exc:
            raise SurveyfuseError(
                "unsupported_column_type",
                f"the {role} table cannot be converted for imputation: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}",
                table=role,
            ) from None
    else:
        raise SurveyfuseError(
            "bad_argument",
            f"{role} must be a pandas DataFrame or a pyarrow Table, got {type(data).__name__}",
            argument=role,
        )
    _check_names([str(c) for c in frame.columns], role)
    return frame, kind


def _check_names(names: list[str], role: str) -> None:
    seen: set[str] = set()
    for c in names:
        if c in seen:
            raise SurveyfuseError(
                "duplicate_column", f"the {role} has two columns named '{c}'; rename one of them", column=c, table=role,
            )
        seen.add(c)


_NESTED = (list, tuple, dict, set, frozenset, np.ndarray)


def nested_kind(values: Any) -> str | None:
    """What a column holds if it is not table cells ("lists", "structs", ...), else None."""
    dtype = getattr(values, "dtype", None) if not isinstance(values, (pa.Array, pa.ChunkedArray)) else None
    arrow_type = values.type if isinstance(values, (pa.Array, pa.ChunkedArray)) else getattr(dtype, "pyarrow_dtype", None)
    if arrow_type is not None:
        return arrow_nested_kind(arrow_type)
    if dtype is not None and pd.api.types.is_object_dtype(dtype):
        for v in np.asarray(values, dtype=object):
            if isinstance(v, _NESTED):
                return {"dict": "structs or maps", "ndarray": "arrays"}.get(type(v).__name__, "lists")
    return None


def arrow_nested_kind(t: pa.DataType) -> str | None:
    if pa.types.is_dictionary(t):
        return arrow_nested_kind(t.value_type)
    if pa.types.is_struct(t):
        return "structs"
    if pa.types.is_map(t):
        return "maps"
    if pa.types.is_union(t):
        return "unions"
    if pa.types.is_nested(t):
        return "lists"
    return None


def check_cell_columns(frame: pd.DataFrame, columns: list[str], *, role: str, table: str) -> None:
    """Refuse ``columns`` that hold lists, structs or maps: they have no value to learn from or to draw."""
    for c in columns:
        kind = nested_kind(frame[c])
        if kind is not None:
            raise SurveyfuseError(
                "unsupported_column_type",
                f"{role} column '{c}' of the {table} holds {kind}; surveyfuse needs one number, category or "
                f"text per cell (unpack it into columns first)",
                column=c, table=table,
            )


def check_writable_columns(data: Any, fmt: str) -> None:
    """CSV and Stata files hold one value per cell (Stata: no durations): refuse such columns before writing."""
    if fmt not in ("csv", "dta"):
        return
    if isinstance(data, (pa.Table, pa.RecordBatch)):
        columns = [(name, data.column(i)) for i, name in enumerate(data.schema.names)]
    else:
        columns = [(str(c), data[c]) for c in data.columns]
    for name, values in columns:
        kind = nested_kind(values)
        if kind is None and fmt == "dta" and _is_duration(values):
            kind = "durations (timedelta)"
        if kind is not None:
            raise SurveyfuseError(
                "unsupported_column_type",
                f"column '{name}' holds {kind}, which a {'CSV' if fmt == 'csv' else 'Stata'} file cannot store; "
                f"drop or unpack it, or write Parquet",
                column=name, format=fmt,
            )


def check_columns(frame: pd.DataFrame, columns: list[str], *, role: str, table: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise SurveyfuseError(
            "missing_column",
            f"{role} column '{missing[0]}' is not in the {table} (it has {len(frame.columns)} columns: "
            f"{_preview(frame.columns)})",
            column=missing[0],
            table=table,
        )


def _preview(cols: Any, k: int = 8) -> str:
    cols = [str(c) for c in cols]
    return ", ".join(cols[:k]) + (", ..." if len(cols) > k else "")


def long_output(
    recipient: Any,
    kind: TableKind,
    block: dict[str, pd.Series],
    draws: int,
    row_offset: int = 0,
    include: bool = False,
    imputed: Any = None,
) -> Any:
    """Recipient rows repeated per draw, the imputed block, ``_imp`` and ``_row``.

    Ordered by ``_imp`` then ``_row``; the recipient's columns keep their
    values and types (Arrow in, Arrow out). With ``include`` the original
    recipient rows come first as ``_imp == 0``, with the ``imputed`` columns
    missing (other ``block`` entries, such as ``_off_support``, keep their
    per-row value): the layout of mice's ``complete(action = "long",
    include = TRUE)`` and of Stata's ``mi import flong``.
    """
    n = len(recipient) if kind == "pandas" else recipient.num_rows
    first = 0 if include else 1
    copies = draws + 1 - first
    index = np.tile(np.arange(n), copies)
    imp = np.repeat(np.arange(first, draws + 1, dtype=np.int64), n)
    rows = index.astype(np.int64) + row_offset
    if include:
        missing = set(block) if imputed is None else set(imputed)
        block = {name: _with_original_rows(series, n, name in missing) for name, series in block.items()}
    if kind == "pandas":
        out = recipient.take(index).reset_index(drop=True)
        for name, series in block.items():
            out[name] = series.reset_index(drop=True)
        out["_imp"] = imp
        out["_row"] = rows
        return out
    table = recipient.take(pa.array(index)) if n else recipient.slice(0, 0)
    if isinstance(table, pa.RecordBatch):
        table = pa.Table.from_batches([table])
    for name, series in block.items():
        table = table.append_column(name, pa.Array.from_pandas(series))
    table = table.append_column("_imp", pa.array(imp))
    table = table.append_column("_row", pa.array(rows))
    return table


#: dtypes that cannot hold a missing value, and the nullable dtype that can
_NULLABLE = {"b": "boolean", "i": "Int64", "u": "Int64"}


def _with_original_rows(series: pd.Series, n: int, missing: bool) -> pd.Series:
    """``series`` (draw-major, ``draws * n``) preceded by the ``n`` rows of draw 0.

    Draw 0 is the original data: missing for an imputed column, else the
    value of the first draw (the same in every draw).
    """
    series = series.reset_index(drop=True)
    head = series.iloc[:n]
    if missing:
        kind = getattr(series.dtype, "kind", "O")
        if kind in _NULLABLE and not isinstance(series.dtype, pd.CategoricalDtype):
            series = series.astype(_NULLABLE[kind])
            head = series.iloc[:n]
        head = head.where(np.zeros(n, dtype=bool))
    return pd.concat([head, series], ignore_index=True)
def _is_duration(values: Any) -> bool:
    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        return pa.types.is_duration(values.type) or pa.types.is_interval(values.type)
    dtype = getattr(values, "dtype", None)
    return dtype is not None and (pd.api.types.is_timedelta64_dtype(dtype) or isinstance(dtype, (pd.PeriodDtype, pd.IntervalDtype)))


#: key of the long output's metadata (pandas ``attrs``, Arrow schema metadata) on how its imputations nest
NESTING_KEY = "surveyfuse"


def mark_nesting(out: Any, method: str | None, nested: int | None) -> Any:
    """Record on a long output which method drew it and how its imputations nest in donor resamples
    (``nested``: ``M`` when imputation ``d`` comes from resample ``d mod M``, else None), so that the
    fused-file rule of :func:`surveyfuse.pool` can check, or take, its ``resamples``."""
    info = {"method": method, "nested_resamples": nested}
    if isinstance(out, pd.DataFrame):
        out.attrs[NESTING_KEY] = info
        return out
    if isinstance(out, pa.Table):
        return out.replace_schema_metadata({**(out.schema.metadata or {}), NESTING_KEY.encode(): json.dumps(info).encode()})
    return out


def read_nesting(table: Any) -> dict[str, Any] | None:
    """What :func:`mark_nesting` recorded on ``table``, or None (a table read from a file, or rebuilt)."""
    info = None
    if isinstance(table, pd.DataFrame):
        info = table.attrs.get(NESTING_KEY)
    elif isinstance(table, pa.Table) and NESTING_KEY.encode() in (table.schema.metadata or {}):
        try:
            info = json.loads(table.schema.metadata[NESTING_KEY.encode()])
        except ValueError:
            return None
    return dict(info) if isinstance(info, dict) and "nested_resamples" in info else None
