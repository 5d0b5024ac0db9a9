"""Run a task spec end to end: read, fit, impute in chunks, check, write atomically, summarise."""

from __future__ import annotations

import dataclasses
import resource
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..surveys.calibrate import DEFAULT_CANDIDATES, CalibratedImputer
from ..data.frames import check_writable_columns
from ..data.io import check_stata_names, format_of, read_table, stata_metadata
from ..errors import SurveyfuseError
from ..evaluate.auto import make_imputer
from ..imputer import Imputer, check_draws, check_seed
from .memory import check_memory
from .spec import TaskSpec, load_spec
from .stream import DEFAULT_CHUNK_ROWS, LongWriter, Partition, read_partition, recipient_partitions

ENGINES = ("local", "dask")


@dataclass
class RunResult:
    """What :func:`run_spec` returns.

    Attributes
    ----------
    table : DataFrame or None
        The imputed long table when it was kept in memory (``write=False``).
    summary : dict
        What ``surveyfuse run`` prints: rows, draws, output, constraint
        checks, raking and calibration, seconds, peak memory.
    imputer : Imputer or CalibratedImputer
        The fitted model, calibrated when the spec asks (``result.imputer.save(path)`` keeps it).

    Examples
    --------
    >>> import json, os, tempfile
    >>> import surveyfuse as sf
    >>> folder = tempfile.mkdtemp()
    >>> donor, recipient = sf.datasets.make_surveys(n_donor=300, n_recipient=40, seed=0)
    >>> donor.to_parquet(os.path.join(folder, "donor.parquet"))
    >>> recipient.to_parquet(os.path.join(folder, "recipient.parquet"))
    >>> spec = {"spec_version": 1, "donor": "donor.parquet", "recipient": "recipient.parquet",
    ...         "block": ["interest", "dividends"], "predictors": ["age", "wage"], "method": "hotdeck",
    ...         "draws": 3, "seed": 0, "output": "imputed.parquet"}
    >>> with open(os.path.join(folder, "spec.json"), "w") as f:
    ...     json.dump(spec, f)
    >>> result = sf.run_spec(os.path.join(folder, "spec.json"), write=False)
    >>> result.table.shape, result.summary["output_rows"], result.imputer.method_
    ((120, 10), 120, 'hotdeck')
    """

    table: Any
    summary: dict[str, Any]
    imputer: Imputer | CalibratedImputer

    def _repr_html_(self) -> str:
        from ..notebook.views import run_summary_html

        return run_summary_html(self.summary)


def run_spec(
    spec: TaskSpec | str | Path,
    *,
    output: str | Path | None = None,
    fmt: str | None = None,
    write: bool = True,
    overrides: dict[str, Any] | None = None,
    chunk_rows: int | None = None,
    engine: str = "local",
    workers: int | None = None,
    scheduler: str | None = None,
    progress: bool | None = None,
) -> RunResult:
    """Run a task spec end to end: read, harmonise and rake, fit, impute, check, write.

    What ``surveyfuse run SPEC`` does.

    Parameters
    ----------
    spec : TaskSpec, str or Path
        A spec file (or one parsed by :func:`load_spec`).
    output : str or Path, optional
        Where to write (default: the spec's ``output``). A path without an
        extension is written as a Parquet dataset folder, one file per draw.
    fmt : str, optional
        ``parquet``, ``csv``, ``feather`` or ``dta`` (default: from the extension).
    write : bool
        With ``True`` (the CLI) the recipient streams through in chunks of
        ``chunk_rows`` and the output is written as it goes, atomically; with
        ``False`` the whole table is returned in memory.
    overrides : dict, optional
        Replace spec fields (``method``, ``params``, ``draws``, ``seed``,
        ``include_original``, ``strict``).
    chunk_rows : int, optional
        Recipient rows imputed at a time.
    engine : str
        ``"local"`` or ``"dask"`` (impute the partitions on a Dask cluster:
        ``workers`` local processes, or the cluster at ``scheduler``).
    progress : bool, optional
        A progress bar (default: when stderr is a terminal).

    Returns
    -------
    RunResult

    Refused before any fitting: draws whose output cannot fit in memory
    (``insufficient_memory``), and nested recipient columns that a CSV or
    Stata output cannot hold (``unsupported_column_type``).

    Examples
    --------
    >>> import json, os, tempfile
    >>> import surveyfuse as sf
    >>> folder = tempfile.mkdtemp()
    >>> donor, recipient = sf.datasets.make_surveys(n_donor=300, n_recipient=40, seed=0)
    >>> donor.to_parquet(os.path.join(folder, "donor.parquet"))
    >>> recipient.to_parquet(os.path.join(folder, "recipient.parquet"))
    >>> spec = {"spec_version": 1, "donor": "donor.parquet", "recipient": "recipient.parquet",
    ...         "block": ["interest", "dividends"], "predictors": ["age", "wage"], "method": "hotdeck",
    ...         "draws": 3, "seed": 0, "output": "imputed.parquet"}
    >>> with open(os.path.join(folder, "spec.json"), "w") as f:
    ...     json.dump(spec, f)
    >>> result = sf.run_spec(os.path.join(folder, "spec.json"))
    >>> result.summary["output_rows"], os.path.exists(os.path.join(folder, "imputed.parquet"))
    (120, True)
    """
    t0 = time.perf_counter()
    if not isinstance(spec, TaskSpec):
        spec = load_spec(spec)
    # the caller's spec stays as it was: the overrides make a new one
    spec = dataclasses.replace(spec, **{k: v for k, v in (overrides or {}).items() if v is not None})
    if engine not in ENGINES:
        raise SurveyfuseError("bad_argument", f"engine must be one of {', '.join(ENGINES)}, got '{engine}'", argument="engine")
    chunk_rows = _positive(chunk_rows if chunk_rows is not None else (spec.chunk_rows or DEFAULT_CHUNK_ROWS), "chunk_rows")
    check_draws(spec.draws)
    out_path = Path(output) if output else spec.output
    dataset = False
    out_fmt = None
    if write:
        out_path = output_path(spec, output)
        dataset = out_path.suffix == ""
        out_fmt = "parquet" if dataset else format_of(out_path, fmt or spec.format)
        if engine == "dask" and out_fmt != "parquet":
            raise SurveyfuseError("unsupported_format", "the dask engine writes Parquet (a file or a dataset folder)", format=out_fmt)

    donor = read_table(spec.donor, role="donor")
    # partitions are needed to stream the output or for calibration's first pass; an
    # in-memory run reads the recipient once, later
    parts = recipient_partitions(spec.recipient, chunk_rows) if write or spec.calibration else None
    recipient = None
    if not write:
        recipient = read_table(spec.recipient, role="recipient")
        _check_run_memory(spec, len(recipient), len(recipient.columns), chunked=False)
    else:
        if sum(p.rows for p in parts) == 0:
            raise SurveyfuseError("empty_recipient", f"recipient '{spec.recipient}' has no rows", path=str(spec.recipient))
        _check_run_memory(spec, max(min(p.rows, chunk_rows) for p in parts), max(p.columns for p in parts), chunked=True)
        _check_nested_for(out_fmt, parts)
    t_read = time.perf_counter()
    weights, raking = spec.weights, None
    if spec.rake:
        donor, weights, raking = _raked_donor(spec, donor)
    imputer = make_imputer(
        block=spec.block, predictors=spec.predictors, method=spec.method, params=spec.params,
        categorical=spec.categorical, weights=weights, constraints=spec.constraints,
        random_state=spec.seed, max_donor_rows=spec.max_donor_rows, tolerance=spec.tolerance, strict=spec.strict,
        harmonise=spec.harmonise,
        flag_off_support=bool(spec.diagnostics.get("flag_off_support", False)),
    )
    imputer.fit(donor)
    block_labels = stata_metadata(donor, columns=list(spec.block))
    del donor
    seed = check_seed(spec.seed)
    calibration = None
    if spec.calibration:
        if not spec.recipient_weights:
            raise SurveyfuseError("bad_target", "calibration needs 'recipient_weights': targets are weighted recipient totals")
        chunks = (c for part in parts for c in read_partition(part, chunk_rows))  # one chunk in memory at a time
        imputer = CalibratedImputer(imputer, spec.calibration["targets"], spec.recipient_weights,
                                    candidates=spec.calibration.get("candidates", DEFAULT_CANDIDATES),
                                    ).fit(chunks, draws=spec.draws, seed=seed)
        calibration = imputer.calibration_report_
    t_fit = time.perf_counter()

    if not write:
        table = imputer.sample(recipient, draws=spec.draws, seed=seed, include=spec.include_original)
        reports = [imputer.sample_report_]
    else:
        table = None
        total = sum(p.rows for p in parts)
        writer = LongWriter(out_path, out_fmt, spec.draws, dataset=dataset, categorical=_categorical_levels(imputer),
                            include=spec.include_original, metadata=block_labels)
        bar = _progress(total, progress)
        try:
            if engine == "dask":
                from .distributed import run_partitions_dask

                reports = run_partitions_dask(
                    imputer, parts, spec.draws, seed, writer.tmpdir, workers=workers, scheduler=scheduler,
                    chunk_rows=chunk_rows, progress=bar, include=spec.include_original,
                )
            else:
                reports = []
                for part in parts:
                    for offset, chunk in read_partition(part, chunk_rows):
                        if chunk.num_rows == 0:  # an empty file of a dataset: nothing to impute or write
                            continue
                        out = imputer.sample(chunk, draws=spec.draws, seed=seed, row_offset=offset,
                                             include=spec.include_original)
                        if out_fmt == "dta":
                            check_stata_names([str(c) for c in out.column_names])
                        writer.write(out)
                        reports.append(imputer.sample_report_)
                        bar.update(chunk.num_rows)
            writer.close()
        except BaseException:
            writer.abort()
            raise
        finally:
            bar.close()
    t_impute = time.perf_counter()
    sample = _merge_reports(reports)
    if calibration is not None:
        realized = sample.pop("calibrated_totals", {})
        for entry in calibration["targets"]:
            per_draw = realized.get(entry["target"], [])
            entry["realized_mean"] = float(sum(per_draw) / len(per_draw)) if per_draw else None
            entry["realized_by_draw"] = per_draw
    summary = {
        "name": spec.name,
        **imputer.fit_report_,
        **({"raking": raking} if raking else {}),
        **({"calibration": calibration} if calibration else {}),
        **sample,
        "draws": spec.draws,
        "seed": seed,
        "output_rows": int(sample["recipient_rows"] * (spec.draws + int(spec.include_original))),
        "include_original": bool(spec.include_original),
        "output": str(out_path) if write else None,
        "format": ("parquet dataset" if dataset else out_fmt) if write else None,
        "engine": engine,
        "chunks": len(reports),
        "peak_memory_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "seconds": {
            "read": round(t_read - t0, 3),
            "fit": round(t_fit - t_read, 3),
            "impute": round(t_impute - t_fit, 3),
            "total": round(time.perf_counter() - t0, 3),
        },
    }
    warned = list(dict.fromkeys([*imputer.fit_report_.get("warnings", []), *sample.get("warnings", [])]))
    if warned:  # the donor's (fit) and the recipient's (sample) warnings together
        summary["warnings"] = warned
    return RunResult(table, summary, imputer)


def output_path(spec: TaskSpec, output: str | Path | None = None) -> Path:
    """Where a run writes: ``output``, else the spec's; ``bad_argument`` when neither says."""
    path = Path(output) if output else spec.output
    if path is None:
        raise SurveyfuseError("bad_argument", "no output path: give 'output' in the spec or --output", argument="output")
    return path


def write_dataset(table: Any, path: Path, draws: int, include: bool = False) -> Path:
    """An in-memory long table as the Parquet dataset folder a streamed run writes (one file per draw)."""
    from ..data.io import to_arrow

    writer = LongWriter(path, "parquet", draws, dataset=True, include=include)
    try:
        writer.write(to_arrow(table))
        return writer.close()
    except BaseException:
        writer.abort()
        raise


def read_recipient_predictors(spec: TaskSpec, needed: list[str]) -> "pd.DataFrame":
    """The recipient columns that become ``needed`` after harmonisation (Parquet reads only those)."""
    import pyarrow.parquet as pq

    from ..data.io import READ_FORMATS

    rename = ((spec.harmonise or {}).get("recipient") or {}).get("rename", {})
    inverse = {v: k for k, v in rename.items()}
    path = Path(spec.recipient)
    if path.is_dir() or READ_FORMATS.get(path.suffix.lower()) == "parquet":
        names = set(pq.read_schema(next(iter(sorted(path.rglob("*.parquet")))) if path.is_dir() else path).names)
        cols = [c for c in dict.fromkeys([inverse.get(c, c) for c in needed]) if c in names]
        return pq.read_table(path, columns=cols).to_pandas()
    return read_table(path, role="recipient")


def _raked_donor(spec: TaskSpec, donor: "pd.DataFrame") -> tuple["pd.DataFrame", str, dict[str, Any]]:
    """Donor with a raked weight column matching the recipient's margins of ``spec.rake``."""
    import numpy as np

    from ..data.types import numeric_values
    from ..surveys.harmonise import Harmoniser
    from ..surveys.raking import rake

    cols = list(spec.rake["columns"])
    harmoniser = Harmoniser(spec.harmonise)
    needed = cols + ([spec.recipient_weights] if spec.recipient_weights else [])
    recipient = harmoniser.apply(read_recipient_predictors(spec, needed), "recipient", needed=needed)
    donor_h = harmoniser.apply(donor, "donor")
    wd = numeric_values(donor_h[spec.weights], role="weights") if spec.weights else np.ones(len(donor_h))
    wr = numeric_values(recipient[spec.recipient_weights], role="recipient weights") if spec.recipient_weights else np.ones(len(recipient))
    new_w, report = rake(donor_h, recipient, cols, wd, wr, categorical=spec.categorical, bins=spec.rake["bins"])
    out = donor.copy(deep=False)
    out["_raked_weight"] = new_w
    return out, "_raked_weight", report


def diagnose_spec(spec: TaskSpec | str | Path, out_dir: str | Path | None = None) -> Any:
    """Common-support diagnostics for a spec's (harmonised) predictors: ``surveyfuse diagnose``.

    Compares the donor's and the recipient's predictors after the spec's
    harmonisation (see :func:`diagnose`). With ``out_dir``, writes
    ``diagnostics.json``, ``diagnostics.txt`` and ``support_flags.csv`` there.

    Examples
    --------
    >>> import json, os, tempfile
    >>> import surveyfuse as sf
    >>> folder = tempfile.mkdtemp()
    >>> donor, recipient = sf.datasets.make_surveys(n_donor=300, n_recipient=40, seed=0)
    >>> donor.to_parquet(os.path.join(folder, "donor.parquet"))
    >>> recipient.to_parquet(os.path.join(folder, "recipient.parquet"))
    >>> spec = {"spec_version": 1, "donor": "donor.parquet", "recipient": "recipient.parquet",
    ...         "block": ["interest", "dividends"], "predictors": ["age", "wage"], "method": "hotdeck",
    ...         "draws": 3, "seed": 0, "output": "imputed.parquet"}
    >>> with open(os.path.join(folder, "spec.json"), "w") as f:
    ...     json.dump(spec, f)
    >>> d = sf.diagnose_spec(os.path.join(folder, "spec.json"))
    >>> print(d.to_text().splitlines()[0])
    Common support: donor vs recipient (weighted)
    """
    import json

    import numpy as np

    from ..data.types import numeric_values
    from ..surveys.diagnostics import WARN_SHARE, diagnose
    from ..surveys.harmonise import Harmoniser

    if not isinstance(spec, TaskSpec):
        spec = load_spec(spec)
    harmoniser = Harmoniser(spec.harmonise)
    donor = harmoniser.apply(read_table(spec.donor, role="donor"), "donor")
    needed = list(spec.predictors) + ([spec.recipient_weights] if spec.recipient_weights else [])
    recipient = harmoniser.apply(read_recipient_predictors(spec, needed), "recipient", needed=needed)
    for table, name in ((donor, "donor"), (recipient, "recipient")):
        missing = [c for c in spec.predictors if c not in table.columns]
        if missing:
            raise SurveyfuseError("missing_column", f"predictor '{missing[0]}' is not in the {name} (after harmonisation)", column=missing[0], table=name)
    wd = numeric_values(donor[spec.weights], role="weights") if spec.weights else None
    wr = numeric_values(recipient[spec.recipient_weights], role="recipient weights") if spec.recipient_weights else None
    result = diagnose(donor, recipient, list(spec.predictors), categorical=[c for c in spec.categorical if c in spec.predictors],
                      donor_weights=wd, recipient_weights=wr, warn_share=float(spec.diagnostics.get("warn_share", WARN_SHARE)))
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / "diagnostics.json").write_text(json.dumps(result.to_dict(), indent=1, default=float))
        (out / "diagnostics.txt").write_text(result.to_text() + "\n")
        if result.flags is not None:
            result.flags.assign(_row=np.arange(len(result.flags))).to_csv(out / "support_flags.csv", index=False)
    return result


def _check_run_memory(spec: TaskSpec, rows: int, columns: int, *, chunked: bool) -> None:
    """Refuse, before fitting, draws whose ``rows`` recipient rows at a time cannot fit in memory."""
    draws = spec.draws * int((spec.calibration or {}).get("candidates", DEFAULT_CANDIDATES)) if spec.calibration else spec.draws
    check_memory(rows, draws, columns + len(spec.block) + 2, len(spec.block), chunked=chunked)


def _check_nested_for(out_fmt: str | None, parts: list[Partition]) -> None:
    """A CSV or Stata output cannot hold the recipient's list or struct columns: say so before fitting."""
    if out_fmt not in ("csv", "dta") or not parts or parts[0].row_groups is None:
        return
    import pyarrow.parquet as pq

    check_writable_columns(pq.read_schema(parts[0].path).empty_table(), out_fmt)


def _positive(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise SurveyfuseError("bad_argument", f"{name} must be a positive integer, got {value!r}", argument=name)
    return value


def _progress(total: int, enabled: bool | None):
    from tqdm import tqdm

    show = sys.stderr.isatty() if enabled is None else enabled
    return tqdm(total=total, unit="rows", desc="imputing", disable=not show, leave=False)


def _merge_reports(reports: list[dict[str, Any]]) -> dict[str, Any]:
    """Add up the per-chunk constraint checks into one."""
    rows = sum(r.get("recipient_rows", 0) for r in reports)
    violations: dict[str, int] = {}
    repaired: dict[str, int] = {}
    checked = 0
    for r in reports:
        c = r.get("constraints", {})
        checked += c.get("rows_checked", 0)
        for k, v in c.get("violations", {}).items():
            violations[k] = violations.get(k, 0) + v
        for k, v in c.get("repaired", {}).items():
            repaired[k] = repaired.get(k, 0) + v
    totals: dict[str, list[float]] = {}
    for r in reports:
        for k, v in r.get("calibrated_totals", {}).items():
            totals[k] = [a + b for a, b in zip(totals[k], v)] if k in totals else list(v)
    extra: dict[str, Any] = {"calibrated_totals": totals} if totals else {}
    warned = list(dict.fromkeys(w for r in reports for w in r.get("warnings", [])))
    if warned:
        extra["warnings"] = warned
    if any("rows_off_support" in r for r in reports):
        extra["rows_off_support"] = sum(r.get("rows_off_support", 0) for r in reports)
    return {
        **extra,
        "recipient_rows": rows,
        "redrawn": sum(r.get("redrawn", 0) for r in reports),
        "sample_seconds": round(sum(r.get("sample_seconds", 0.0) for r in reports), 3),
        "constraints": {
            "rows_checked": checked,
            "violations": violations,
            "repaired": repaired,
            "ok": sum(violations.values()) == 0,
        },
    }


def _categorical_levels(imputer: Imputer) -> dict[str, list]:
    """Categorical block variables and predictors with their donor levels (for Stata value labels)."""
    variables = list(imputer.variables_) + list(imputer.encoder_.categorical_)
    return {v.name: list(v.levels) for v in variables if v.kind.value == "categorical" and v.levels is not None}
