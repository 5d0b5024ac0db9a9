"""Accept pandas or Arrow tables and give results back in the same type."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa

from ..errors import SurveyfuseError

TableKind = Literal["pandas", "arrow"]


def as_pandas(data: Any, *, role: str) -> tuple[pd.DataFrame, TableKind]:
    """A pandas view of the user's table (never modified) and the kind it came as."""
    if isinstance(data, pd.DataFrame):
        return data, "pandas"
    if isinstance(data, (pa.Table, pa.RecordBatch)):
        return data.to_pandas(), "arrow"
    raise SurveyfuseError(
        "bad_argument",
        f"{role} must be a pandas DataFrame or a pyarrow Table, got {type(data).__name__}",
        argument=role,
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
