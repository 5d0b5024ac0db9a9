"""Method names, the default method and where each method's parameters are declared.

The one place these are written: the backends, model selection
(:mod:`surveyfuse.evaluate.auto`), the spec, the CLI and the R package all read
them from here. Importing this module loads nothing but the error codes, so
validating a spec or listing the methods stays light.
"""

from __future__ import annotations

import copy
import importlib
from typing import Any

from .errors import SurveyfuseError

#: method name -> "module:Class" of its backend (imported only when the method is used)
REGISTRY: dict[str, str] = {
    "hotdeck": "surveyfuse.backends.hotdeck:HotDeck",
    "forest": "surveyfuse.backends.forest:ForestSampler",
    "qrf": "surveyfuse.backends.qrf:QuantileForestChain",
    "tvae": "surveyfuse.backends.deep.tvae:TVAE",
    "diffusion": "surveyfuse.backends.deep.diffusion:Diffusion",
    "ctgan": "surveyfuse.backends.deep.ctgan:CTGAN",
    "ctabgan": "surveyfuse.backends.deep.ctabgan:CTABGAN",
}

#: the method used when none is named (``method=None``, a spec without ``method``, R's ``method = NULL``)
DEFAULT_METHOD = "forest"

#: model selection: not a backend but a choice among them by donor-only validation
#: (:class:`surveyfuse.evaluate.auto.AutoImputer`)
AUTO = "auto"
META_METHODS = (AUTO,)

#: the methods compared when none are named: ``surveyfuse evaluate`` and ``auto``'s candidates
DEFAULT_CANDIDATES = (DEFAULT_METHOD, "qrf", "hotdeck")
#: the torch methods ``auto`` adds with ``generative=true``
GENERATIVE = ("tvae", "diffusion", "ctgan", "ctabgan")
#: ``auto``'s parameters, declared as the backends declare theirs (:mod:`surveyfuse.backends.params`)
AUTO_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object", "additionalProperties": False,
    "properties": {
        "candidates": {"type": "array", "items": {"type": "string"}, "default": list(DEFAULT_CANDIDATES),
                       "expected": "a list of registered method names", "description": "The methods compared."},
        "generative": {"type": "boolean", "default": False, "expected": "true or false",
                       "description": "Also try the registered torch methods."},
        "folds": {"type": "integer", "minimum": 2, "default": 3, "expected": "an integer >= 2",
                  "description": "Donor-only cross-validation folds."},
        "draws": {"type": "integer", "minimum": 1, "default": 5, "expected": "a positive integer",
                  "description": "Draws per held-out row when scoring."},
        "max_rows": {"type": "integer", "minimum": 1, "default": 3000, "expected": "a positive integer",
                     "description": "Donor rows the comparison uses at most (a weighted subsample)."},
    },
}
#: ``auto``'s parameters and their defaults
AUTO_PARAMS: dict[str, Any] = {name: p["default"] for name, p in AUTO_SCHEMA["properties"].items()}


def available_methods() -> list[str]:
    """The method names ``method=`` accepts (``surveyfuse methods`` prints them).

    Examples
    --------
    >>> import surveyfuse as sf
    >>> sf.available_methods()
    ['ctabgan', 'ctgan', 'diffusion', 'forest', 'hotdeck', 'qrf', 'tvae', 'auto']
    """
    return sorted(REGISTRY) + list(META_METHODS)


def parse_method(method: Any, params: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
    """``(name, params)`` from ``"name"``, ``{"name": ..., "params": {...}}`` or ``None`` (the default method).

    Examples
    --------
    >>> parse_method({"name": "hotdeck", "params": {"k": 5}}, {"metric": "rank"})
    ('hotdeck', {'k': 5, 'metric': 'rank'})
    >>> parse_method(None)[0] == DEFAULT_METHOD
    True
    """
    if method is None:
        return DEFAULT_METHOD, dict(params or {})
    if isinstance(method, dict):
        name = method.get("name")
        merged = {**(method.get("params") or {}), **(params or {})}
        if not isinstance(name, str):
            raise SurveyfuseError("unknown_method", f"method must have a 'name', got {method!r}", method=str(method))
        return name, merged
    if isinstance(method, str):
        return method, dict(params or {})
    raise SurveyfuseError("unknown_method", f"method must be a name, got {method!r}", method=str(method))


def is_auto(method: Any) -> bool:
    """Whether ``method`` (a name or ``{"name", "params"}``) asks for model selection."""
    name = method.get("name") if isinstance(method, dict) else method
    return name == AUTO


def method_schema(name: str) -> dict[str, Any]:
    """The JSON Schema of the parameters ``name`` accepts, each with ``default``, ``expected`` and ``description``.

    A backend's ``param_schema``; for a ``proper_mi="refit"`` backend also the
    generic wrapper's ``mi`` and ``mi_resamples``; ``auto``: :data:`AUTO_SCHEMA`.

    Examples
    --------
    >>> method_schema("hotdeck")["properties"]["k"]["default"]
    10
    """
    if name == AUTO:
        return AUTO_SCHEMA
    return backend_class(name).accepted_schema()


def method_parameters(name: str) -> dict[str, Any]:
    """The parameters ``name`` declares, with their defaults (importing its backend's module).

    Examples
    --------
    >>> sorted(method_parameters("auto"))
    ['candidates', 'draws', 'folds', 'generative', 'max_rows']
    """
    return {k: copy.deepcopy(p["default"]) for k, p in method_schema(name)["properties"].items()}


def parameter_table(name: str) -> list[dict[str, Any]]:
    """One row per parameter of ``name``: ``name``, ``default``, ``expected`` (allowed values), ``description``.

    What ``surveyfuse methods NAME``, the docs' methods page and R's
    ``fuse_method_parameters()`` show.

    Examples
    --------
    >>> parameter_table("qrf")[0]["name"], parameter_table("qrf")[0]["default"]
    ('n_estimators', 100)
    """
    return [{"name": k, "default": p["default"], "expected": p["expected"], "description": p["description"]}
            for k, p in method_schema(name)["properties"].items()]


def backend_class(name: str) -> Any:
    """The backend class registered as ``name``; ``unknown_method`` or ``missing_dependency`` otherwise."""
    if name not in REGISTRY:
        raise SurveyfuseError(
            "unknown_method",
            f"unknown method '{name}'; choose one of: {', '.join(available_methods())}",
            method=name,
            expected=available_methods(),
        )
    module_name, cls_name = REGISTRY[name].split(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:  # e.g. torch missing for a generative method
        raise SurveyfuseError(
            "missing_dependency",
            f"method '{name}' needs the optional dependency '{exc.name}'; "
            f"install it with: pip install 'surveyfuse[deep]'",
            method=name,
            dependency=exc.name,
        ) from exc
    return getattr(module, cls_name)


__all__ = ["REGISTRY", "DEFAULT_METHOD", "AUTO", "META_METHODS", "DEFAULT_CANDIDATES", "GENERATIVE", "AUTO_PARAMS",
           "AUTO_SCHEMA", "available_methods", "parse_method", "is_auto", "method_schema", "method_parameters",
           "parameter_table", "backend_class"]
