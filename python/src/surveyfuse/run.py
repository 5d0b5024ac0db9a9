"""Run a task spec end to end: read, impute, check, write atomically, summarise."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .data.io import check_stata_names, format_of, read_table, write_table
from .errors import SurveyfuseError
from .imputer import Imputer
from .spec import TaskSpec, load_spec


@dataclass
class RunResult:
    table: Any
    summary: dict[str, Any]
    imputer: Imputer


def run_spec(
    spec: TaskSpec | str | Path,
    *,
    output: str | Path | None = None,
    fmt: str | None = None,
    write: bool = True,
    overrides: dict[str, Any] | None = None,
) -> RunResult:
    """Run a spec; ``overrides`` replaces spec fields (method, params, draws, seed)."""
    t0 = time.perf_counter()
    if not isinstance(spec, TaskSpec):
        spec = load_spec(spec)
    for key, value in (overrides or {}).items():
        if value is not None:
            setattr(spec, key, value)
    out_path = Path(output) if output else spec.output
    out_fmt = fmt or spec.format
    if write:
        if out_path is None:
            raise SurveyfuseError("bad_argument", "no output path: give 'output' in the spec or --output", argument="output")
        out_fmt = format_of(out_path, out_fmt)
    donor = read_table(spec.donor, role="donor")
    recipient = read_table(spec.recipient, role="recipient")
    t_read = time.perf_counter()
    imputer = Imputer(
        block=spec.block, predictors=spec.predictors, method=spec.method, params=spec.params,
        categorical=spec.categorical, weights=spec.weights, constraints=spec.constraints,
        random_state=spec.seed,
    )
    imputer.fit(donor)
    table = imputer.sample(recipient, draws=spec.draws, seed=spec.seed)
    if write and out_fmt == "dta":
        check_stata_names([str(c) for c in table.columns])
    t_impute = time.perf_counter()
    if write:
        write_table(table, out_path, out_fmt, categorical=_categorical_levels(imputer))
    summary = {
        "name": spec.name,
        **{k: v for k, v in imputer.fit_report_.items()},
        **{k: v for k, v in imputer.sample_report_.items()},
        "output_rows": int(len(table)),
        "output": str(out_path) if write else None,
        "format": out_fmt if write else None,
        "seconds": {
            "read": round(t_read - t0, 3),
            "impute": round(t_impute - t_read, 3),
            "total": round(time.perf_counter() - t0, 3),
        },
    }
    return RunResult(table, summary, imputer)


def _categorical_levels(imputer: Imputer) -> dict[str, list]:
    """Categorical block variables and predictors with their donor levels (for Stata value labels)."""
    variables = list(imputer.variables_) + list(imputer.encoder_.categorical_)
    return {v.name: list(v.levels) for v in variables if v.kind.value == "categorical" and v.levels is not None}
