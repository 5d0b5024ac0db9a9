"""Read and write tables: Parquet, CSV, Feather, Stata ``.dta``.

Writes go to a temporary file in the target folder and are renamed into place
(:mod:`surveyfuse.data.atomic`), so a failed run never leaves a half-written output.

Stata files go through ReadStat (``pyreadstat``), the library R's ``haven``
uses, and keep what Stata users put in them, both ways:

* value labels: a column whose every value is labelled reads as an
  unordered ``Categorical`` of the labels (``ordered=True`` asks for
  ordered ones) and is written back with its original codes; a column with
  some labelled values (say ``-1 "refused"``) stays numeric and keeps its
  labels;
* variable labels and display formats;
* extended missing values ``.a`` to ``.z``: NaN carrying the letter in its
  payload, bit for bit haven's ``tagged_na()`` (see :func:`tagged_na`), so
  they survive row selection, copies and the R bridge and are written back
  (pandas' ``.loc[...] = value`` writes a plain NaN: set them through numpy).

Labels and formats travel in ``DataFrame.attrs[STATA_META]`` (and in an Arrow
table's schema metadata, see :func:`to_arrow`)::

    {"variable_labels": {col: text}, "value_labels": {col: {code: text}},
     "formats": {col: "%9.0g"}, "missing_by_row": {col: {row: letter}}}

``missing_by_row`` (keyed by the ``_row`` of a long output) carries the
extended missing values through Arrow, which has one null and no payloads.
"""

from __future__ import annotations

import json
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


def read_table(path: str | os.PathLike, *, role: str = "input", ordered: bool = False) -> pd.DataFrame:
    """Read a table for a given role ("donor", "recipient"), with clear errors.

    ``ordered``: Stata value labels become ordered categories (default unordered).
    """
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
        return read_stata(path, ordered=ordered)
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


def write_table(data: Any, path: str | os.PathLike, fmt: str | None = None, categorical: dict[str, list] | None = None,
                metadata: dict[str, dict] | None = None) -> Path:
    """Write atomically; ``data`` is a pandas DataFrame or an Arrow table.

    ``categorical`` (column -> levels) marks columns that Stata gets as
    labelled integers, ``metadata`` adds Stata labels and formats (see the
    module doc); other formats ignore both.
    """
    from .atomic import PendingOutput, unwritable
    from .frames import check_writable_columns

    path = Path(path)
    fmt = format_of(path, fmt)
    check_writable_columns(data, fmt)
    with PendingOutput(path) as pending:
        try:
            _write(data, pending.path, fmt, categorical or {}, metadata)
        except OSError as exc:
            raise unwritable(path, exc) from None
        except (ValueError, TypeError, NotImplementedError, pa.ArrowException, *_writer_errors(fmt)) as exc:
            # the format's writer refused the values (what check_writable_columns cannot foresee)
            raise SurveyfuseError(
                "unsupported_column_type",
                f"the output cannot be written as {fmt}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}",
                path=str(path), format=fmt,
            ) from None
        return pending.commit()


def _writer_errors(fmt: str) -> tuple[type[BaseException], ...]:
    """The writer library's own refusals (ReadStat's, say, for a number beyond Stata's range)."""
    if fmt != "dta":
        return ()
    import pyreadstat

    return (pyreadstat.ReadstatError,)


def _write(data: Any, path: Path, fmt: str, categorical: dict[str, list], metadata: dict[str, dict] | None) -> None:
    if fmt in ("parquet", "feather"):
        table = data if isinstance(data, pa.Table) else pa.Table.from_pandas(data, preserve_index=False)
        if fmt == "parquet":
            import pyarrow.parquet as pq

            pq.write_table(table, path)
        else:
            import pyarrow.feather as feather

            feather.write_feather(table, path)
        return
    if isinstance(data, pa.Table):
        metadata = merge_metadata(arrow_metadata(data), metadata)
        data = data.to_pandas()
    if fmt == "csv":
        data.to_csv(path, index=False)
        return
    write_stata(data, path, categorical, metadata)


STATA_META = "surveyfuse.stata"
_META_KEYS = ("variable_labels", "value_labels", "formats", "missing_by_row")
#: R's NA_real_; haven's tagged_na("a") puts the letter in byte 4 of it (little-endian)
_R_NA_BITS = np.uint64(0x7FF00000000007A2)
_TAG_SHIFT = np.uint64(32)
_TAG_MASK = np.uint64(0xFF) << _TAG_SHIFT
_LETTERS = "abcdefghijklmnopqrstuvwxyz"
#: labels of the long layout's own columns in a .dta file
_LONG_LABELS = {"_imp": "imputation number (0 = original data)", "_row": "recipient row (from 0)",
                "_id": "recipient row (from 1)"}


def tagged_na(letter: str) -> float:
    """Stata's extended missing value ``.letter`` as a NaN (haven's ``tagged_na(letter)``)."""
    if len(letter) != 1 or letter not in _LETTERS:
        raise SurveyfuseError("bad_data", f"'{letter}' is not a Stata missing-value letter (a to z)", value=letter)
    bits = _R_NA_BITS | (np.uint64(ord(letter)) << _TAG_SHIFT)
    return float(np.array([bits], dtype=np.uint64).view(np.float64)[0])


def na_tags(values: np.ndarray) -> np.ndarray:
    """The letter of each tagged NaN in a float64 array ('' elsewhere)."""
    values = np.ascontiguousarray(values, dtype=np.float64)
    bits = values.view(np.uint64)
    code = ((bits & _TAG_MASK) >> _TAG_SHIFT).astype(np.int64)
    tagged = np.isnan(values) & (code >= ord("a")) & (code <= ord("z"))
    out = np.full(values.shape, "", dtype=object)
    out[tagged] = [chr(c) for c in code[tagged]]
    return out


def stata_metadata(frame: pd.DataFrame, columns: list[str] | None = None) -> dict[str, dict]:
    """The Stata labels and formats recorded on ``frame`` (only ``columns``, when given)."""
    meta = frame.attrs.get(STATA_META) or {}
    keep = set(frame.columns if columns is None else columns)
    return {k: {c: v for c, v in (meta.get(k) or {}).items() if c in keep} for k in _META_KEYS}


def merge_metadata(*metas: dict[str, dict] | None) -> dict[str, dict]:
    """Later entries win, column by column."""
    out: dict[str, dict] = {k: {} for k in _META_KEYS}
    for meta in metas:
        for k in _META_KEYS:
            out[k].update((meta or {}).get(k) or {})
    return out


def to_arrow(frame: pd.DataFrame) -> pa.Table:
    """An Arrow table of ``frame`` whose schema metadata carries its Stata labels and its
    extended missing values by row (Arrow's null has no payload to carry them in)."""
    meta = stata_metadata(frame)
    by_row = meta["missing_by_row"]
    for c in frame.columns:
        if pd.api.types.is_float_dtype(frame[c].dtype):
            tags = na_tags(frame[c].to_numpy(dtype=np.float64))
            rows = np.flatnonzero(tags != "")
            if rows.size:
                by_row[str(c)] = {str(r): tags[r] for r in rows}
    table = pa.Table.from_pandas(frame, preserve_index=False)
    if any(meta.values()):
        table = table.replace_schema_metadata({**(table.schema.metadata or {}), STATA_META.encode(): json.dumps(meta).encode()})
    return table


def arrow_metadata(table: pa.Table) -> dict[str, dict]:
    raw = (table.schema.metadata or {}).get(STATA_META.encode())
    return merge_metadata(json.loads(raw)) if raw else merge_metadata()


def read_stata(path: Path, ordered: bool = False) -> pd.DataFrame:
    """A ``.dta`` file with its labels, formats and extended missing values (see the module doc)."""
    import pyreadstat

    frame, meta = pyreadstat.read_dta(str(path), user_missing=True, dates_as_pandas_datetime=True)
    for col in (meta.missing_user_values or {}):
        raw = frame[col].to_numpy(dtype=object)
        letter = np.array([isinstance(v, str) for v in raw])
        values = np.array([np.nan if isinstance(v, str) or v is None else v for v in raw], dtype=np.float64)
        values[letter] = [tagged_na(v) for v in raw[letter]]
        frame[col] = values
    value_labels: dict[str, dict] = {}
    for col, labels in (meta.variable_value_labels or {}).items():
        if col not in frame.columns or not labels:
            continue
        value_labels[col] = {_code_key(k): str(v) for k, v in labels.items()}
        values = pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype=np.float64)
        seen = np.unique(values[~np.isnan(values)])
        names = [str(labels[k]) for k in sorted(labels)]
        if all(v in labels for v in seen) and len(set(names)) == len(names):
            codes = sorted(labels)
            index = {k: i for i, k in enumerate(codes)}
            cat_codes = np.array([index[v] if not np.isnan(v) else -1 for v in values], dtype=np.int64)
            frame[col] = pd.Categorical.from_codes(cat_codes, categories=names, ordered=ordered)
    frame.attrs[STATA_META] = {
        "variable_labels": {c: str(v) for c, v in (meta.column_names_to_labels or {}).items() if v},
        "value_labels": value_labels,
        "formats": dict(meta.original_variable_types or {}),
        "missing_by_row": {},
    }
    return frame


def _code_key(value: Any) -> str:
    """Value-label codes as JSON keys ("1", "2.5"): Arrow metadata and the R bridge are JSON."""
    value = float(value)
    return str(int(value)) if value.is_integer() else repr(value)


def write_stata(frame: pd.DataFrame, path: Path, categorical: dict[str, list] | None = None,
                metadata: dict[str, dict] | None = None) -> None:
    """Stata 118 file (Stata 14 and later) with value labels, variable labels, formats and
    extended missing values.

    ``metadata`` adds to the labels recorded on ``frame`` (see the module doc).
    Text categoricals become labelled integers (with their original codes
    when the labels came from a Stata file); numeric categoricals (MARS = 1..4)
    keep their codes.
    """
    import pyreadstat

    check_stata_names([str(c) for c in frame.columns])
    meta = merge_metadata(stata_metadata(frame), metadata)
    for col, levels in (categorical or {}).items():
        if col in frame.columns and not isinstance(frame[col].dtype, pd.CategoricalDtype):
            present = [v for v in pd.unique(frame[col].dropna())]
            extra = sorted((v for v in present if v not in set(levels)), key=str)
            frame = frame.assign(**{col: pd.Categorical(frame[col], categories=list(levels) + extra)})
    frame = frame.reset_index(drop=True)
    out = pd.DataFrame(index=frame.index)
    labels: dict[str, dict[float, str]] = {}
    missing: dict[str, list[str]] = {}
    text: set[str] = set()
    by_row = meta["missing_by_row"]
    rows = frame["_row"].to_numpy() if "_row" in frame.columns and by_row else None
    for c in frame.columns:
        s = frame[c]
        known = {float(k): v for k, v in (meta["value_labels"].get(c) or {}).items()}
        if isinstance(s.dtype, pd.CategoricalDtype):
            out[c], labels_c = _stata_codes(s, known)
            if labels_c:
                labels[c] = labels_c
            continue
        if known and pd.api.types.is_numeric_dtype(s.dtype):
            labels[c] = known
        if pd.api.types.is_bool_dtype(s.dtype):
            out[c] = s.astype("float64").to_numpy(na_value=np.nan) if s.isna().any() else s.astype("int8")
        elif pd.api.types.is_datetime64_any_dtype(s.dtype):
            out[c] = _stata_dates(s)
        elif pd.api.types.is_string_dtype(s.dtype) or pd.api.types.is_object_dtype(s.dtype):
            out[c] = s.astype(object).where(s.notna(), "").astype(str)
            text.add(c)
        elif pd.api.types.is_integer_dtype(s.dtype):
            out[c] = _stata_integers(s)
        else:
            values = s.to_numpy(dtype=np.float64, na_value=np.nan)
            tags = na_tags(values)
            if rows is not None and c in by_row:
                lookup = by_row[c]
                tags = np.array([t or lookup.get(str(r), "") for t, r in zip(tags, rows)], dtype=object)
            if (tags != "").any():
                mixed = values.astype(object)
                mixed[tags != ""] = tags[tags != ""]
                out[c] = mixed
                missing[c] = sorted(set(tags[tags != ""]))
            else:
                out[c] = values
    variable_labels = {c: meta["variable_labels"].get(c) or _LONG_LABELS.get(c) for c in out.columns}
    formats = {c: f for c, f in meta["formats"].items() if c in out.columns and _format_fits(f, c in text)}
    pyreadstat.write_dta(
        out, str(path), version=14, column_labels={c: v for c, v in variable_labels.items() if v} or None,
        variable_value_labels=labels or None, missing_user_values=missing or None, variable_format=formats or None,
    )


def _stata_codes(s: pd.Series, known: dict[float, str]) -> tuple[np.ndarray, dict[float, str]]:
    """Codes and value labels of a categorical: the file's own codes where the labels came from one."""
    cats = list(s.cat.categories)
    codes = s.cat.codes.to_numpy()
    if all(_is_int_like(v) for v in cats):
        # numeric categories keep their own values; a label equal to the value adds nothing
        values = np.array([float(cats[k]) if k >= 0 else np.nan for k in codes])
        return values, {}
    by_label = {v: k for k, v in known.items()}
    mapping: dict[str, float] = {}
    next_code = max([0.0, *known]) + 1
    for cat in cats:
        if str(cat) in by_label:
            mapping[str(cat)] = by_label[str(cat)]
        else:
            mapping[str(cat)] = next_code
            next_code += 1
    per_cat = np.array([mapping[str(c)] for c in cats] + [np.nan])
    values = per_cat[np.where(codes >= 0, codes, len(cats))]
    out_labels = {**known, **{code: label for label, code in mapping.items()}}
    return values, out_labels


def _stata_integers(s: pd.Series) -> np.ndarray:
    """Stata has no 64-bit integers: int32 where the values fit, else double (NaN for missing)."""
    values = s.to_numpy(dtype=np.float64, na_value=np.nan)
    finite = values[~np.isnan(values)]
    if s.isna().any() or (finite.size and (finite.min() < -2147483647 or finite.max() > 2147483620)):
        return values
    return values.astype(np.int32)


def _stata_dates(s: pd.Series) -> Any:
    """Dates at midnight without a time zone as Stata dates (%td); other times as %tc."""
    idx = pd.DatetimeIndex(s)
    if idx.tz is None and (idx[~idx.isna()] == idx[~idx.isna()].normalize()).all():
        return pd.Series([None if pd.isna(v) else v.date() for v in idx], dtype=object)
    return idx.tz_convert(None) if idx.tz is not None else idx


def _format_fits(fmt: Any, text: bool) -> bool:
    """A display format read from a file, kept while it fits the column's type (dates get theirs from their type)."""
    if not isinstance(fmt, str) or not fmt.startswith("%") or fmt.startswith("%t"):
        return False
    return fmt.endswith("s") == text


def _is_int_like(v: Any) -> bool:
    try:
        return float(v) == int(float(v))
    except (TypeError, ValueError):
        return False
