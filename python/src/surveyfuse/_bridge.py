"""The R package's private entry point: tables as raw column buffers, entry points that return plain Python types.

Not a public API: only r-package/R/python.R calls it, and it changes with the R package.

Why not reticulate's converters: reticulate 1.28 cannot convert numpy 2 arrays
or pandas frames, and its ``r_to_py`` turns ``NA_character_`` into ``"NA"``, a
logical NA into TRUE and ``NA_integer_`` into -2147483648. So the R package
sends every column as raw little-endian bytes plus a type tag, and every entry
point here returns only ``str``, ``int``, ``float``, ``bool``, ``None``,
``list``, ``dict`` and ``bytearray`` (``bytes`` would stay a Python object in R).

Wire format of a table (a dict)::

    meta    JSON text: {"nrow": n, "columns": [{"name", "type", "levels"?, "ordered"?, "tz"?}]}
    values  list of bytearray, one per column
    masks   list of bytearray, one per column: one byte per row, 1 = missing
            (used for character columns, whose NA cannot live in the values)

Column types and their pandas form (R -> Python):

=========  ===================================  ======================================
type       values buffer                        pandas dtype
=========  ===================================  ======================================
double     float64; R's NA is a NaN             float64, NaN = missing
integer    int32; -2**31 is NA                  nullable ``Int64`` (pd.NA = missing)
logical    int32; -2**31 is NA                  nullable ``boolean``
character  UTF-8, each string NUL-terminated    object, str or None
factor     int32 codes 1..L; -2**31 is NA       Categorical with the R levels in order
date       float64 days since 1970-01-01        datetime64[s], NaT = missing
datetime   float64 seconds since the epoch      datetime64[us, tz] (tz "UTC" if unset)
=========  ===================================  ======================================

A column may also carry ``label`` (variable label), ``labels`` (value labels of
a numeric column, ``{code: label}``) and ``format`` (a Stata display format):
what haven keeps on a column. They become ``DataFrame.attrs`` in the core's
Stata convention (see :mod:`surveyfuse.data.io`) and come back the same way.
A double's bits cross unchanged, so haven's tagged NAs (Stata's ``.a`` to
``.z``) stay tagged both ways.

Python -> R picks the type from the dtype: any integer dtype becomes
``integer`` when every value fits R's 32-bit integers, else ``double``; bool /
boolean -> ``logical``; Categorical -> ``factor``; datetime at midnight and
without a time zone (also when empty or all missing) -> ``date``, other datetimes -> ``datetime``; text ->
``character``. Missing numbers are sent with R's NA bit pattern, so R reads NA
(never NaN) without a mask.

Errors: every entry point catches :class:`SurveyfuseError` and returns
``{"error": {"code", "message", "context"}}``, so R raises a condition of class
``surveyfuse_error_<code>``. Anything else is a bug and propagates. Messages
are worded for R: rows count from 1 (``context["row"]`` too) and arguments
carry R's names (``m`` for draws). :class:`SurveyfuseWarning` s raised during
a call come back in the answer's ``"core_warnings"`` (``[{"code", "message"}]``)
for R to signal.
"""

from __future__ import annotations

import functools
import itertools
import json
import warnings
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from ._version import __version__
from .data.io import STATA_META, merge_metadata, na_tags
from .errors import ERROR_CODES, ROW_BASE, SurveyfuseError, SurveyfuseWarning, row_label

R_NA_INT = np.int32(-(2**31))
#: R's NA_real_ is a NaN with payload 1954; sending it lets R read NA, not NaN
R_NA_REAL = np.array([0x7FF00000000007A2], dtype=np.uint64).view(np.float64)[0]
_INT32_MIN, _INT32_MAX = -(2**31) + 1, 2**31 - 1
_SECONDS_PER_DAY = 86400


# ---------------------------------------------------------------------- decode (R -> pandas)
def decode_table(payload: dict[str, Any]) -> pd.DataFrame:
    """Build a pandas DataFrame from the R side's column buffers."""
    meta = json.loads(payload["meta"]) if isinstance(payload["meta"], str) else payload["meta"]
    n = int(meta["nrow"])
    values = list(payload.get("values") or [])
    masks = list(payload.get("masks") or [])
    columns: dict[str, Any] = {}
    stata = merge_metadata()
    for i, col in enumerate(meta["columns"]):
        mask = masks[i] if i < len(masks) else None
        columns[col["name"]] = _decode_column(col, values[i], mask, n)
        for key, field in (("label", "variable_labels"), ("labels", "value_labels"), ("format", "formats")):
            if col.get(key):
                stata[field][col["name"]] = col[key]
    frame = pd.DataFrame(columns, index=pd.RangeIndex(n)) if columns else pd.DataFrame(index=pd.RangeIndex(n))
    if any(stata.values()):
        frame.attrs[STATA_META] = stata
    return frame


def _decode_column(col: dict[str, Any], buf: Any, mask: Any, n: int) -> Any:
    kind = col["type"]
    name = col["name"]
    if kind == "double":
        return _frombuffer(buf, np.float64, n, name).copy()
    if kind in ("integer", "logical", "factor"):
        raw = _frombuffer(buf, np.int32, n, name)
        na = raw == R_NA_INT
        if kind == "integer":
            return pd.arrays.IntegerArray(raw.astype(np.int64), na)
        if kind == "logical":
            return pd.arrays.BooleanArray(raw != 0, na)
        levels = list(col.get("levels") or [])
        codes = np.where(na, -1, raw.astype(np.int64) - 1)
        return pd.Categorical.from_codes(codes, categories=levels, ordered=bool(col.get("ordered", False)))
    if kind == "character":
        data = bytes(buf)
        parts = data.split(b"\0")[:-1] if data else []
        if len(parts) != n:
            raise SurveyfuseError("bad_data", f"column '{name}': expected {n} strings, got {len(parts)}", column=name)
        out = np.array([p.decode("utf-8") for p in parts], dtype=object)
        if mask is not None and len(mask):
            out[np.frombuffer(bytes(mask), dtype=np.uint8).astype(bool)] = None
        return out
    if kind == "date":
        days = _frombuffer(buf, np.float64, n, name)
        miss = np.isnan(days)
        secs = (np.floor(np.where(miss, 0.0, days)) * _SECONDS_PER_DAY).astype(np.int64)
        out = secs.astype("datetime64[s]")
        out[miss] = np.datetime64("NaT")
        return out
    if kind == "datetime":
        secs = _frombuffer(buf, np.float64, n, name)
        miss = np.isnan(secs)
        us = np.round(np.where(miss, 0.0, secs) * 1e6).astype(np.int64).astype("datetime64[us]")
        us[miss] = np.datetime64("NaT")
        return pd.DatetimeIndex(us).tz_localize("UTC").tz_convert(col.get("tz") or "UTC")
    raise SurveyfuseError("bad_data", f"column '{name}' has unsupported type '{kind}'", column=name, type=kind)


def _frombuffer(buf: Any, dtype: Any, n: int, name: str) -> np.ndarray:
    arr = np.frombuffer(memoryview(buf), dtype=np.dtype(dtype).newbyteorder("<"))
    if arr.size != n:
        raise SurveyfuseError("bad_data", f"column '{name}': expected {n} values, got {arr.size}", column=name)
    return arr


# ---------------------------------------------------------------------- encode (pandas -> R)
def encode_table(frame: Any) -> dict[str, Any]:
    """Column buffers for R from a pandas DataFrame (or a pyarrow Table)."""
    if not isinstance(frame, pd.DataFrame):
        frame = frame.to_pandas()
    cols, values, masks = [], [], []
    stata = frame.attrs.get(STATA_META) or {}
    for name in frame.columns:
        meta, buf, mask = _encode_column(str(name), frame[name])
        for key, field in (("label", "variable_labels"), ("labels", "value_labels"), ("format", "formats")):
            value = (stata.get(field) or {}).get(name)
            if value:
                meta[key] = value
        cols.append(meta)
        values.append(buf)
        masks.append(mask)
    return {"meta": json.dumps({"nrow": int(len(frame)), "columns": cols}), "values": values, "masks": masks}


def _encode_column(name: str, s: pd.Series) -> tuple[dict[str, Any], bytearray, bytearray]:
    dtype = s.dtype
    empty = bytearray()
    if isinstance(dtype, pd.CategoricalDtype):
        codes = s.cat.codes.to_numpy().astype(np.int32) + 1
        codes[codes == 0] = R_NA_INT
        levels = [str(v) for v in dtype.categories]
        return {"name": name, "type": "factor", "levels": levels, "ordered": bool(dtype.ordered)}, _le(codes, "<i4"), empty
    if pd.api.types.is_bool_dtype(dtype):
        na = s.isna().to_numpy()
        vals = s.to_numpy(dtype=np.int32, na_value=0) if na.any() else s.to_numpy().astype(np.int32)
        vals[na] = R_NA_INT
        return {"name": name, "type": "logical"}, _le(vals, "<i4"), empty
    if pd.api.types.is_integer_dtype(dtype):
        na = s.isna().to_numpy()
        vals = s.to_numpy(dtype=np.float64, na_value=np.nan) if na.any() else s.to_numpy()
        ok = vals[~na]
        if ok.size == 0 or (ok.min() >= _INT32_MIN and ok.max() <= _INT32_MAX):
            out = np.where(na, 0, vals).astype(np.int32)
            out[na] = R_NA_INT
            return {"name": name, "type": "integer"}, _le(out, "<i4"), empty
        out = np.asarray(vals, dtype=np.float64)
        out[na] = R_NA_REAL
        return {"name": name, "type": "double"}, _le(out, "<f8"), empty
    if pd.api.types.is_datetime64_any_dtype(dtype):
        tz = getattr(dtype, "tz", None)
        idx = pd.DatetimeIndex(s)
        na = idx.isna()
        secs = idx.as_unit("us").asi8.astype(np.float64) / 1e6
        if tz is None and np.all(np.mod(secs[~na], _SECONDS_PER_DAY) == 0):
            days = secs / _SECONDS_PER_DAY
            days[na] = R_NA_REAL
            return {"name": name, "type": "date"}, _le(days, "<f8"), empty
        secs[na] = R_NA_REAL
        return {"name": name, "type": "datetime", "tz": str(tz) if tz is not None else "UTC"}, _le(secs, "<f8"), empty
    if pd.api.types.is_numeric_dtype(dtype):
        vals = s.to_numpy(dtype=np.float64, na_value=np.nan).copy()
        # keep the bits of NaNs that came from R (NA, haven's tagged NAs) and turn the others into R's NA
        plain = np.isnan(vals) & (vals.view(np.uint64) != R_NA_REAL.view(np.uint64)) & (na_tags(vals) == "")
        vals[plain] = R_NA_REAL
        return {"name": name, "type": "double"}, _le(vals, "<f8"), empty
    # text (object / string): anything non-missing is sent as its str()
    obj = s.to_numpy(dtype=object, na_value=None)
    na = pd.isna(obj)
    texts = ["" if m else (v if isinstance(v, str) else str(v)) for v, m in zip(obj, na)]
    if any("\0" in t for t in texts):
        row = next(i for i, t in enumerate(texts) if "\0" in t)
        raise SurveyfuseError("bad_data", f"column '{name}' row {row_label(row)} holds a NUL character, which R strings cannot hold",
                              column=name, row=row)
    data = bytearray("\0".join(texts).encode("utf-8"))
    if texts:
        data += b"\0"
    return {"name": name, "type": "character"}, data, bytearray(na.astype(np.uint8).tobytes())


def _le(arr: np.ndarray, dtype: str) -> bytearray:
    return bytearray(np.ascontiguousarray(arr, dtype=np.dtype(dtype)).tobytes())


# ---------------------------------------------------------------------- entry points for R
def _entry(func: Callable[..., Any]) -> Callable[..., Any]:
    """Run an entry point in R's wording: SurveyfuseError becomes an error dict R maps to
    a condition class, warnings are collected into the answer (when it is a dict)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        token = ROW_BASE.set(1)
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", SurveyfuseWarning)
                result = func(*args, **kwargs)
        except SurveyfuseError as exc:
            err = exc.to_dict()
            if isinstance(err["context"].get("row"), int):
                err["context"]["row"] += 1
            return {"error": err}
        finally:
            ROW_BASE.reset(token)
        seen = [w.message for w in caught if isinstance(w.message, SurveyfuseWarning)]
        for w in caught:
            if not isinstance(w.message, SurveyfuseWarning):
                warnings.showwarning(w.message, w.category, w.filename, w.lineno)
        if seen and isinstance(result, dict):
            result["core_warnings"] = [{"code": w.code, "message": w.message} for w in seen]
        return result

    return wrapper


def _strings(x: Any) -> list[str] | None:
    """R sends a length-one character vector as a str; the core wants lists."""
    if x is None:
        return None
    if isinstance(x, str):
        return [x]
    return [str(v) for v in x]


def _int_or_none(x: Any, what: str) -> int | None:
    if x is None:
        return None
    if isinstance(x, float) and x.is_integer():
        return int(x)
    return x


def _params(x: Any) -> dict[str, Any]:
    if x is None:
        return {}
    if isinstance(x, str):
        return json.loads(x)
    return dict(x)


#: fitted imputers by handle; R holds the handle and a model file to reload from
_MODELS: dict[str, Any] = {}
_HANDLES = itertools.count(1)


def _long_result(table: pd.DataFrame, report: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"table": encode_table(table), "report": json.dumps(report or {}, default=str)}


@_entry
def version() -> str:
    return __version__


@_entry
def error_codes() -> dict[str, str]:
    return dict(ERROR_CODES)


@_entry
def methods() -> dict[str, Any]:
    from .methods import DEFAULT_METHOD, available_methods

    return {"methods": available_methods(), "default": DEFAULT_METHOD}


@_entry
def method_parameters(name: str) -> dict[str, str]:
    """Method ``name``'s parameters (name, default, expected, description) as JSON: defaults mix types and nulls."""
    from .methods import parameter_table

    return {"json": json.dumps(parameter_table(str(name)))}


@_entry
def roundtrip(payload: dict[str, Any]) -> dict[str, Any]:
    """Decode and re-encode a table: the R tests check that nothing changes."""
    return encode_table(decode_table(payload))


@_entry
def describe(payload: dict[str, Any]) -> dict[str, str]:
    """The pandas dtype of each decoded column (for tests and debugging)."""
    frame = decode_table(payload)
    return {str(c): str(frame[c].dtype) for c in frame.columns}


def _imputer(block, predictors, method, params, categorical, weights, constraints, seed, tolerance=None, strict=False):
    from .evaluate.auto import make_imputer

    return make_imputer(
        block=_strings(block), predictors=_strings(predictors), method=method, params=_params(params),
        categorical=_strings(categorical), weights=weights, constraints=_strings(constraints),
        random_state=_int_or_none(seed, "seed"), tolerance=None if tolerance is None else _params(tolerance),
        strict=bool(strict),
    )


def _draws(draws: Any) -> int:
    """R's ``m``, checked under its R name."""
    from .imputer import check_draws

    return check_draws(_int_or_none(draws, "draws"), name="`m`")


def _drawn_columns(table: pd.DataFrame, recipient: pd.DataFrame) -> pd.DataFrame:
    """The long table without the recipient's columns: R repeats its own recipient rows,
    which keeps every R type and attribute, and only the block crosses back."""
    return table[[c for c in table.columns if c not in recipient.columns]]


@_entry
def impute(donor: dict, recipient: dict, block: Any, predictors: Any, method: Any = None, params: Any = None,
           draws: Any = 20, constraints: Any = None, categorical: Any = None, weights: Any = None,
           seed: Any = None, include: bool = False, tolerance: Any = None, strict: Any = False) -> dict[str, Any]:
    """Fit on the donor and draw the block for the recipient: the drawn columns of the long table."""
    draws = _draws(draws)
    imp = _imputer(block, predictors, method, params, categorical, weights, constraints, seed, tolerance, strict)
    imp.fit(decode_table(donor))
    rec = decode_table(recipient)
    table = imp.sample(rec, draws=draws, seed=_int_or_none(seed, "seed"), include=bool(include))
    return _long_result(_drawn_columns(table, rec), {**imp.fit_report_, **imp.sample_report_})


@_entry
def fit(donor: dict, block: Any, predictors: Any, method: Any = None, params: Any = None,
        constraints: Any = None, categorical: Any = None, weights: Any = None, seed: Any = None,
        path: str | None = None, tolerance: Any = None, strict: Any = False) -> dict[str, Any]:
    """Fit an Imputer, keep it under a handle and save it to ``path`` (when given)."""
    imp = _imputer(block, predictors, method, params, categorical, weights, constraints, seed, tolerance, strict)
    imp.fit(decode_table(donor))
    handle = f"model{next(_HANDLES)}"
    _MODELS[handle] = imp
    if path:
        imp.save(path)
    return {"handle": handle, "path": path, "info": _model_info(imp)}


def _model_info(imp: Any) -> dict[str, Any]:
    return {
        "block": list(imp.block), "predictors": list(imp.predictors), "method": imp.method_,
        "report": json.dumps(imp.fit_report_, default=str),
    }


@_entry
def load(path: str) -> dict[str, Any]:
    """Load a model file and keep it under a new handle."""
    from .imputer import Imputer

    imp = Imputer.load(path)
    handle = f"model{next(_HANDLES)}"
    _MODELS[handle] = imp
    return {"handle": handle, "path": path, "info": _model_info(imp)}


@_entry
def save(handle: str, path: str) -> str:
    return str(_model(handle, None).save(path))


def _model(handle: str | None, path: str | None) -> Any:
    if handle and handle in _MODELS:
        return _MODELS[handle]
    if path:
        from .imputer import Imputer

        imp = Imputer.load(path)
        if handle:
            _MODELS[handle] = imp
        return imp
    raise SurveyfuseError("not_fitted", "this model is no longer in memory and has no model file; fit it again")


@_entry
def release(handle: str) -> bool:
    return _MODELS.pop(handle, None) is not None


@_entry
def sample(handle: str | None, path: str | None, recipient: dict, draws: Any = 20, seed: Any = None,
           row_offset: Any = 0, include: bool = False) -> dict[str, Any]:
    """Draw from a fitted model (by handle, or reloaded from its file): the drawn columns."""
    draws = _draws(draws)
    imp = _model(handle, path)
    rec = decode_table(recipient)
    table = imp.sample(rec, draws=draws, seed=_int_or_none(seed, "seed"), row_offset=int(row_offset or 0),
                       include=bool(include))
    return _long_result(_drawn_columns(table, rec), imp.sample_report_)


@_entry
def run_spec(path: str, write: bool = False, draws: Any = None, seed: Any = None, method: Any = None,
             output: str | None = None, include: Any = None) -> dict[str, Any]:
    """Run a JSON task spec; the long table as buffers plus the run summary.

    The table is built in memory (what the CLI would write). It fails where
    the CLI would: an output format the spec cannot have, or column names a
    Stata output cannot hold. With ``write`` it also writes that table to the
    spec's output (or ``output``), as the CLI would; a dataset folder (an
    output without an extension) is written as the CLI writes it, from the same one run.
    """
    from .data.io import check_stata_names, format_of, write_table
    from .pipeline.run import _categorical_levels, output_path, run_spec as _run, write_dataset
    from .pipeline.spec import load_spec

    overrides: dict[str, Any] = {"draws": None if draws is None else _draws(draws), "seed": _int_or_none(seed, "seed"),
                                 "include_original": None if include is None else bool(include)}
    if method is not None:
        overrides["method"] = method
        overrides["params"] = {}
    spec = load_spec(path)
    target = output_path(spec, output) if write else (Path(output) if output else spec.output)
    fmt = format_of(target, spec.format) if target is not None and target.suffix else None
    result = _run(spec, write=False, overrides=overrides)  # fitted and imputed once, written from memory
    if fmt == "dta":
        check_stata_names([str(c) for c in result.table.columns])
    summary = dict(result.summary)
    if write and fmt is not None:
        write_table(result.table, target, fmt, _categorical_levels(result.imputer))
        summary.update(output=str(target), format=fmt)
    elif write:  # a path without an extension: the Parquet dataset folder the CLI writes
        write_dataset(result.table, target, summary["draws"], include=summary["include_original"])
        summary.update(output=str(target), format="parquet dataset")
    return _long_result(result.table, summary)


@_entry
def spec_info(path: str) -> dict[str, Any]:
    """The parts of a spec the R test runner needs (resolved paths, roles, expectations)."""
    from .pipeline.spec import load_spec

    spec = load_spec(path)
    return {
        "json": json.dumps({
            "name": spec.name, "donor": str(spec.donor), "recipient": str(spec.recipient),
            "predictors": spec.predictors, "block": spec.block, "categorical": spec.categorical,
            "constraints": spec.constraints, "draws": spec.draws, "seed": spec.seed, "method": spec.method,
            "expect": spec.expect,
        })
    }


@_entry
def check_constraints(payload: dict, constraints: Any) -> dict[str, Any]:
    """Per constraint, how many rows of a table break it; and how many rows break any."""
    from .constraints import ConstraintSet

    frame = decode_table(payload)
    cs = ConstraintSet(_strings(constraints) or [])
    per = {text: int(mask.sum()) for text, mask in cs.violations(frame).items()} if len(cs) else {}
    rows = int(cs.violating_rows(frame).sum()) if len(cs) else 0
    return {"constraints": list(per), "violations": [per[t] for t in per], "rows": rows}


@_entry
def read_table(path: str, ordered: bool = False) -> dict[str, Any]:
    """Read Parquet, CSV, Feather or Stata through the core's reader (Stata: labels kept)."""
    from .data.io import read_table as _read

    return encode_table(_read(path, role="input", ordered=bool(ordered)))


@_entry
def write_table(payload: dict, path: str, fmt: str | None = None) -> str:
    """Write atomically through the core's writer (Stata: factors become value labels, labels and
    tagged NAs are kept)."""
    from .data.io import write_table as _write

    frame = decode_table(payload)
    return str(_write(frame, Path(path), fmt))


@_entry
def evaluate(donor: dict, block: Any, predictors: Any, methods: Any = None, folds: Any = 5, draws: Any = 20,
             weights: Any = None, constraints: Any = None, categorical: Any = None, seed: Any = None,
             max_rows: Any = None, out: str | None = None, tolerance: Any = None) -> dict[str, Any]:
    """Donor-only K-fold validation; overall and per-variable metrics as tables, the full JSON,
    and a guide to the metrics (full names, which way is better) for printing."""
    from .evaluate.crossval import evaluate_methods
    from .evaluate.report import write_report
    from .imputer import check_seed

    draws = _draws(draws)
    ev = evaluate_methods(
        decode_table(donor), _strings(block), _strings(predictors), _strings(methods),
        folds=_int_or_none(folds, "folds"), draws=_int_or_none(draws, "draws"), weights=weights,
        constraints=_strings(constraints), categorical=_strings(categorical), seed=check_seed(_int_or_none(seed, "seed")),
        max_rows=_int_or_none(max_rows, "max_rows"), keep_examples=out is not None,
        tolerance=None if tolerance is None else _params(tolerance),
    )
    from .evaluate.verdict import METRIC_GUIDE

    paths = write_report(ev, out) if out else {}
    return {
        "guide": json.dumps({k: {"name": name, "better": better} for k, (name, better) in METRIC_GUIDE.items()}),
        "overall": encode_table(ev.table().reset_index()),
        "variables": encode_table(ev.variable_table()),
        "scores": encode_table(ev.long_table()),
        "best": ev.best or "",
        "metrics": json.dumps(ev.metrics, default=str),
        "files": paths,
    }


@_entry
def diagnose(donor: dict, recipient: dict, predictors: Any, categorical: Any = None, weights: Any = None,
             recipient_weights: Any = None) -> dict[str, Any]:
    """Common-support diagnostics: numeric and categorical comparison tables, support shares, row flags."""
    from .data.types import numeric_values
    from .surveys.diagnostics import diagnose as _diagnose

    d, r = decode_table(donor), decode_table(recipient)
    wd = numeric_values(d[weights], role="weights") if weights else None
    wr = numeric_values(r[recipient_weights], role="recipient weights") if recipient_weights else None
    res = _diagnose(d, r, _strings(predictors), categorical=_strings(categorical), donor_weights=wd, recipient_weights=wr)
    return {
        "numeric": encode_table(res.numeric.reset_index()),
        "categorical": encode_table(res.categorical),
        "flags": encode_table(res.flags),
        "support": json.dumps(res.support),
        "warnings": list(res.warnings),
    }


@_entry
def pool_estimates(estimates: dict, variances: dict, rule: str = "rubin", resamples: Any = None,
                   nu_com: Any = None) -> dict[str, Any]:
    """Pool any analysis's per-imputation estimates (columns: quantities, rows: imputations)."""
    from .evaluate.pooling import pool_estimates

    Q, U = decode_table(estimates), decode_table(variances)
    if list(U.columns) != list(Q.columns):
        raise SurveyfuseError("bad_argument", "the estimates and the variances must name the same quantities",
                              argument="variances")
    out = pool_estimates(Q.to_numpy(dtype=np.float64), U.to_numpy(dtype=np.float64), str(rule),
                         _int_or_none(resamples, "resamples"), None if nu_com is None else float(nu_com),
                         list(Q.columns))
    return encode_table(out.rename_axis("term").reset_index())


@_entry
def pool(payload: dict, statistic: str, column: Any = None, y: Any = None, x: Any = None, weights: Any = None,
         q: Any = 0.5, rule: str = "rubin", resamples: Any = None, nesting: str | None = None) -> dict[str, Any]:
    """Pool a statistic over the imputations of a long table (Rubin's rules or the fused-file rule);
    ``nesting``: the run report's method and nested_resamples (JSON), when R's table still carries them."""
    from .data.frames import NESTING_KEY
    from .evaluate.pooling import pool as _pool

    frame = decode_table(payload)
    if nesting is not None:
        frame.attrs[NESTING_KEY] = json.loads(nesting)
    out = _pool(frame, str(statistic), column, weights=weights, q=float(q), y=y, x=_strings(x), rule=str(rule),
                resamples=_int_or_none(resamples, "resamples"))
    return encode_table(out.rename_axis("term").reset_index())
