"""The task spec: load a JSON file, validate it against the JSON Schema, resolve paths.

The schema lives in ``shared-specs/schema/task.schema.json`` (the package
ships it as ``surveyfuse/schema/task.schema.json``). Schema failures on fields
that have their own error code (``draws``, ``seed``, ``method``) raise that
code, so the CLI, the API and R report the same code for the same mistake.

Every optional field may be ``null``, which means the same as leaving it out
(JSON writers, pandas and R's jsonlite write ``null`` for "none"). Inside
free-form maps (method ``params``, ``recode`` tables) a ``null`` is a value and
is kept.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema

from ..errors import SurveyfuseError
from ..methods import parse_method

_FIELD_CODES = {"draws": "bad_draws", "seed": "bad_seed", "method": "unknown_method", "format": "unsupported_format"}


@lru_cache(maxsize=1)
def task_schema() -> dict[str, Any]:
    text = resources.files("surveyfuse").joinpath("schema/task.schema.json").read_text(encoding="utf-8")
    return json.loads(text)


@dataclass
class TaskSpec:
    """A validated spec with absolute paths."""

    donor: Path
    recipient: Path
    predictors: list[str]
    block: list[str]
    name: str = "task"
    categorical: list[str] = field(default_factory=list)
    weights: str | None = None
    constraints: list[str] = field(default_factory=list)
    method: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    draws: int = 20
    seed: int | None = None
    output: Path | None = None
    format: str | None = None
    include_original: bool = False
    max_donor_rows: int | None = None
    chunk_rows: int | None = None
    recipient_weights: str | None = None
    tolerance: dict[str, float] | None = None
    strict: bool = False
    #: the rename / recode / transform rules per side (``{"donor": ..., "recipient": ...}``), for :class:`~surveyfuse.surveys.harmonise.Harmoniser`
    harmonise: dict[str, Any] | None = None
    #: donor weights raked to the recipient's margins: ``{"columns": [...], "bins": 5}`` (the spec's ``harmonise.rake``)
    rake: dict[str, Any] | None = None
    diagnostics: dict[str, Any] = field(default_factory=dict)
    calibration: dict[str, Any] | None = None
    expect: dict[str, Any] | None = None
    path: Path | None = None
    raw: dict[str, Any] = field(default_factory=dict)


def load_spec(path: str | Path) -> TaskSpec:
    """Read and validate a JSON task spec; relative paths are taken from the spec's folder.

    Errors name the field: ``spec_json`` for a file that is not JSON,
    ``spec_invalid`` (or a field's own code) for one the schema refuses.

    Examples
    --------
    >>> import json, os, tempfile
    >>> from surveyfuse import load_spec
    >>> path = os.path.join(tempfile.mkdtemp(), "spec.json")
    >>> with open(path, "w") as f:
    ...     json.dump({"spec_version": 1, "donor": "d.parquet", "recipient": "r.parquet",
    ...                "block": ["dividends"], "predictors": ["age"]}, f)
    >>> spec = load_spec(path)
    >>> spec.block, spec.draws, spec.donor.name
    (['dividends'], 20, 'd.parquet')
    """
    path = Path(path)
    if not path.exists():
        raise SurveyfuseError("file_not_found", f"spec file '{path}' does not exist", path=str(path))
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise SurveyfuseError(
            "spec_json",
            f"spec '{path}' is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}",
            path=str(path), line=exc.lineno, column=exc.colno,
        ) from None
    except UnicodeDecodeError:
        raise SurveyfuseError("spec_json", f"spec '{path}' is not UTF-8 text", path=str(path)) from None
    return parse_spec(data, base_dir=path.parent.resolve(), path=path)


def parse_spec(data: Any, base_dir: str | Path = ".", path: Path | None = None) -> TaskSpec:
    """Validate a spec dict; relative paths are taken from ``base_dir``.

    Examples
    --------
    >>> from surveyfuse import parse_spec
    >>> try:
    ...     parse_spec({"spec_version": 1, "donor": "d.csv", "recipient": "r.csv", "block": ["y"],
    ...                 "predictors": ["x"], "drawz": 5})
    ... except Exception as exc:
    ...     print(exc.code)
    spec_invalid
    """
    where = f"spec '{path}'" if path else "spec"
    if not isinstance(data, dict):
        raise SurveyfuseError("spec_invalid", f"{where} must be a JSON object, got {type(data).__name__}")
    validator = jsonschema.Draft202012Validator(task_schema())
    errors = sorted(validator.iter_errors(data), key=lambda e: (len(e.absolute_path), e.message))
    if errors:
        err = jsonschema.exceptions.best_match(errors)
        loc = "/".join(str(p) for p in err.absolute_path) or "(top level)"
        top = str(err.absolute_path[0]) if err.absolute_path else None
        if err.validator == "additionalProperties":
            message = f"{where}: {err.message} (allowed: {', '.join(sorted(task_schema()['properties']))})"
        else:
            message = f"{where}: at '{loc}': {err.message}"
        raise SurveyfuseError(_FIELD_CODES.get(top or "", "spec_invalid"), message, field=loc)
    data = _without_nulls(data, task_schema())
    base = Path(base_dir)
    method, params = parse_method(data.get("method"))
    return TaskSpec(
        donor=(base / data["donor"]).resolve(),
        recipient=(base / data["recipient"]).resolve(),
        predictors=list(data["predictors"]),
        block=list(data["block"]),
        name=data.get("name", path.stem if path else "task"),
        categorical=list(data.get("categorical", [])),
        weights=data.get("weights"),
        constraints=list(data.get("constraints", [])),
        method=method if data.get("method") is not None else None,
        params=params,
        draws=int(data.get("draws", 20)),
        seed=data.get("seed"),
        output=(base / data["output"]).resolve() if data.get("output") else None,
        format=data.get("format"),
        include_original=bool(data.get("include_original", False)),
        max_donor_rows=data.get("max_donor_rows"),
        chunk_rows=data.get("chunk_rows"),
        recipient_weights=data.get("recipient_weights"),
        tolerance=data.get("tolerance"),
        strict=bool(data.get("strict", False)),
        harmonise=_harmonise_rules(data.get("harmonise")),
        rake=_rake_settings(data.get("harmonise")),
        diagnostics=dict(data.get("diagnostics", {})),
        calibration=data.get("calibration"),
        expect=data.get("expect"),
        path=path,
        raw=data,
    )


def _harmonise_rules(section: dict[str, Any] | None) -> dict[str, Any] | None:
    """The spec's ``harmonise`` section without its raking settings: what the Harmoniser applies."""
    rules = {k: v for k, v in (section or {}).items() if k in ("donor", "recipient")}
    return rules or None


def _rake_settings(section: dict[str, Any] | None) -> dict[str, Any] | None:
    """``{"columns", "bins"}`` from ``harmonise.rake`` / ``harmonise.rake_bins`` (None: no raking)."""
    section = section or {}
    if not section.get("rake"):
        return None
    return {"columns": list(section["rake"]), "bins": int(section.get("rake_bins", 5))}


def _without_nulls(value: Any, schema: dict[str, Any], root: dict[str, Any] | None = None) -> Any:
    """``value`` with every ``null`` of a schema-defined optional field removed (null means absent).

    Walks the schema's ``properties`` (through ``$ref``, ``anyOf`` and
    ``oneOf`` branches that describe objects) and ``items``; maps without
    declared properties are values and stay as they are.
    """
    root = root or schema
    schema = _resolve(schema, root)
    if isinstance(value, list):
        items = schema.get("items")
        return [_without_nulls(v, items, root) for v in value] if isinstance(items, dict) else value
    if not isinstance(value, dict):
        return value
    props = _object_branch(schema, root).get("properties")
    if not isinstance(props, dict):
        return value
    return {k: _without_nulls(v, props[k], root) if k in props else v for k, v in value.items() if v is not None}


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        node: Any = root
        for part in ref[2:].split("/"):
            node = node[part]
        return node
    return schema


def _object_branch(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    """The part of a schema that describes an object: itself, or its one anyOf/oneOf branch that does."""
    if "properties" in schema:
        return schema
    for key in ("anyOf", "oneOf"):
        for branch in schema.get(key, []):
            branch = _resolve(branch, root)
            if "properties" in branch:
                return branch
    return schema
