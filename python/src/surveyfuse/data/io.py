"""Read and write tables: Parquet, CSV, Feather, Stata ``.dta``.

Writes go to a temporary file in the target folder and are renamed into place
(:mod:`surveyfuse.atomic`), so a failed run never leaves a half-written output.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from ..errors import SurveyfuseError

READ_FORMATS = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".feather": "feather", ".arrow": "feather", ".dta": "dta"}
WRITE_FORMATS = ("parquet", "csv", "feather", "dta")

_STATA_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,31}$")
_STATA_RESERVED = {
    "_all", "_b", "byte", "_coef", "_cons", "double", "float", "if", "in", "int", "long", "_n", "_N",
    "_pi", "_pred", "_rc", "_skip", "strL", "using", "with",
}


def format_of(path: str | os.PathLike, explicit: str | None = None) -> str:
    if explicit:
        if explicit not in WRITE_FORMATS:
            raise SurveyfuseError(
                "unsupported_format",
                f"format '{explicit}' is not supported; choose one of: {', '.join(WRITE_FORMATS)}",
                format=explicit,
            )
        return explicit
    ext = Path(path).suffix.lower()
    if ext not in READ_FORMATS:
        raise SurveyfuseError(
            "unsupported_format",
            f"file '{path}' has extension '{ext or '(none)'}'; surveyfuse reads and writes "
            f"{', '.join(sorted(READ_FORMATS))}",
            path=str(path),
        )
    return READ_FORMATS[ext]


def read_table(path: str | os.PathLike, *, role: str = "input") -> pd.DataFrame:
    """Read a table for a given role ("donor", "recipient"), with clear errors."""
    path = Path(path)
    fmt = format_of(path)
    if not path.exists():
        raise SurveyfuseError("file_not_found", f"{role} file '{path}' does not exist", path=str(path), role=role)
    try:
        if fmt == "parquet":
            import pyarrow.parquet as pq

            return _validated(pq.read_table(path)).to_pandas()
        if fmt == "feather":
            import pyarrow.feather as feather

            return _validated(feather.read_table(path, memory_map=False)).to_pandas()
        if fmt == "csv":
            return pd.read_csv(path)
        return pd.read_stata(path, convert_categoricals=True)
    except SurveyfuseError:
        raise
    except Exception as exc:  # the reader's own message says what is wrong with the file
        raise SurveyfuseError(
            "file_unreadable",
            f"{role} file '{path}' could not be read as {fmt}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}",
            path=str(path),
            role=role,
            format=fmt,
        ) from None


def _validated(table: pa.Table) -> pa.Table:
    """A damaged file can decode into invalid buffers (bad offsets, broken UTF-8) that fail only when
    used; a full validation finds them while the error can still name the file."""
    table.validate(full=True)
    return table


def check_stata_names(columns: list[str]) -> None:
    for c in columns:
        if not _STATA_NAME.match(str(c)) or str(c) in _STATA_RESERVED:
            raise SurveyfuseError(
                "invalid_stata_name",
                f"column '{c}' is not a valid Stata name (letters, digits and _, at most 32 characters, "
                f"not starting with a digit, not a reserved word); rename it before writing .dta",
                column=str(c),
            )


def write_table(data: Any, path: str | os.PathLike, fmt: str | None = None, categorical: dict[str, list] | None = None) -> Path:
    """Write atomically; ``data`` is a pandas DataFrame or an Arrow table.

    ``categorical`` (column -> levels) marks columns that Stata gets as
    labelled integers; other formats ignore it.
    """
    from ..atomic import PendingOutput, unwritable
    from .frames import check_writable_columns

    path = Path(path)
    fmt = format_of(path, fmt)
    check_writable_columns(data, fmt)
    with PendingOutput(path) as pending:
        try:
            _write(data, pending.path, fmt, categorical or {})
        except OSError as exc:
            raise unwritable(path, exc) from None
        except (ValueError, TypeError, NotImplementedError, pa.ArrowException) as exc:
            # the format's writer refused the values (what check_writable_columns cannot foresee)
            raise SurveyfuseError(
                "unsupported_column_type",
                f"the output cannot be written as {fmt}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}",
                path=str(path), format=fmt,
            ) from None
        return pending.commit()


def _write(data: Any, path: Path, fmt: str, categorical: dict[str, list]) -> None:
    if fmt in ("parquet", "feather"):
        table = data if isinstance(data, pa.Table) else pa.Table.from_pandas(data, preserve_index=False)
        if fmt == "parquet":
            import pyarrow.parquet as pq

            pq.write_table(table, path)
        else:
            import pyarrow.feather as feather

            feather.write_feather(table, path)
        return
    frame = data.to_pandas() if isinstance(data, pa.Table) else data
    if fmt == "csv":
        frame.to_csv(path, index=False)
        return
    write_stata(frame, path, categorical)


def write_stata(frame: pd.DataFrame, path: Path, categorical: dict[str, list] | None = None) -> None:
    """Stata 118 file; text categoricals become labelled integers (value labels).

    Numeric categoricals (MARS = 1..4) keep their codes unlabelled.
    """
    check_stata_names([str(c) for c in frame.columns])
    for col, levels in (categorical or {}).items():
        if col in frame.columns and not isinstance(frame[col].dtype, pd.CategoricalDtype):
            present = [v for v in pd.unique(frame[col].dropna())]
            extra = sorted((v for v in present if v not in set(levels)), key=str)
            frame = frame.assign(**{col: pd.Categorical(frame[col], categories=list(levels) + extra)})
    out = pd.DataFrame(index=frame.index)
    labels: dict[str, dict[int, str]] = {}
    for c in frame.columns:
        s = frame[c]
        if isinstance(s.dtype, pd.CategoricalDtype):
            cats = list(s.cat.categories)
            codes = s.cat.codes.astype("float64").replace(-1, np.nan)
            if all(_is_int_like(v) for v in cats):
                # numeric categories keep their own values; a label equal to the value adds nothing
                out[c] = codes.map(lambda k, cats=cats: np.nan if np.isnan(k) else int(float(cats[int(k)])))
            else:
                out[c] = codes + 1
                labels[c] = {i + 1: str(v) for i, v in enumerate(cats)}
        elif pd.api.types.is_bool_dtype(s.dtype):
            out[c] = s.astype("int8")
        elif pd.api.types.is_string_dtype(s.dtype) or pd.api.types.is_object_dtype(s.dtype):
            out[c] = s.astype(object).where(s.notna(), "").astype(str)
        else:
            out[c] = s
    out = out.reset_index(drop=True)
    out.to_stata(path, write_index=False, version=118, value_labels=labels or None)


def _is_int_like(v: Any) -> bool:
    try:
        return float(v) == int(float(v))
    except (TypeError, ValueError):
        return False
