"""Each backend's parameters, declared once as a JSON Schema.

A backend's ``param_schema`` is an object schema whose properties carry, for
each parameter, its allowed values, its ``default``, a ``description`` and an
``expected`` phrase (what the ``bad_param`` error says the value must be).
The same declaration gives :attr:`Backend.default_params`, validates the
parameters (:meth:`Backend.check_params`), and lists them for ``surveyfuse
methods NAME``, the docs' methods page and R's ``fuse_method_parameters()``
(:func:`surveyfuse.methods.parameter_table`).
Checks that involve two parameters or the data (``mi_groups`` at most
``n_estimators``, hot-deck classes naming categorical predictors) stay in the
backends' code.

Types follow Python, not JSON: an integer is an ``int`` (or numpy integer),
never a ``bool`` or ``2.0``; an array may be a list or a tuple.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
from jsonschema import Draft202012Validator, validators

from ..errors import SurveyfuseError

_TYPES = Draft202012Validator.TYPE_CHECKER.redefine_many({
    "integer": lambda _, v: isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)),
    "number": lambda _, v: isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_)),
    "boolean": lambda _, v: isinstance(v, (bool, np.bool_)),
    "array": lambda _, v: isinstance(v, (list, tuple)),
})
#: the validator of parameter values (Python types, see the module docstring)
ParamValidator = validators.extend(Draft202012Validator, type_checker=_TYPES)

#: the value "auto" (a setting chosen from the data at fit time)
AUTO_CHOICE = {"const": "auto"}
POSITIVE_INT = {"type": "integer", "minimum": 1}
NON_ZERO_INT = {"type": "integer", "not": {"const": 0}}
BOOLEAN = {"type": "boolean"}
NAMES = {"type": "array", "items": {"type": "string"}}


def param(default: Any, expected: str, description: str, **schema: Any) -> dict[str, Any]:
    """One parameter's declaration: its JSON Schema plus ``default``, ``expected`` and ``description``."""
    return {**schema, "default": default, "expected": expected, "description": description}


def enum(default: Any, values: list[Any], description: str, expected: str | None = None) -> dict[str, Any]:
    """A parameter taking one of ``values`` (the expected text lists them)."""
    quoted = [f"'{v}'" if isinstance(v, str) else repr(v) for v in values]
    text = expected or (", ".join(quoted[:-1]) + f" or {quoted[-1]}" if len(quoted) > 1 else quoted[0])
    return param(default, text, description, enum=list(values))


def number(default: Any, expected: str, description: str, auto: bool = False, **bounds: Any) -> dict[str, Any]:
    """A number within ``bounds`` (``minimum``, ``exclusiveMaximum``, ...), or ``"auto"`` when ``auto``."""
    rule = {"type": "number", **bounds}
    return param(default, expected, description, **({"anyOf": [AUTO_CHOICE, rule]} if auto else rule))


def with_default(prop: dict[str, Any], default: Any) -> dict[str, Any]:
    """``prop`` with another default (a method that shares a parameter but not its default)."""
    return {**prop, "default": default}


def object_schema(properties: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The ``param_schema`` of a backend with these parameters (no others)."""
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object",
            "properties": properties, "additionalProperties": False}


def _type_text(prop: dict[str, Any]) -> str:
    """A parameter's type as a numpydoc line names it: its values, or its Python type (else the expected phrase)."""
    if "enum" in prop:
        quoted = [f'"{v}"' if isinstance(v, str) else repr(v) for v in prop["enum"]]
        return ", ".join(quoted[:-1]) + f" or {quoted[-1]}" if len(quoted) > 1 else quoted[0]
    kinds = {"number": "float", "integer": "int", "boolean": "bool", "string": "str", "null": "None"}
    options = prop.get("anyOf", [prop])
    names = ["list of str" if o == NAMES else kinds.get(o.get("type"), "") for o in options]
    return " or ".join(names) if all(names) else prop["expected"]


def numpydoc_entries(properties: dict[str, dict[str, Any]], indent: str = "    ") -> str:
    """The Parameters-section entries of these declarations (``name : type, default ...`` and the description)."""
    import textwrap

    lines = []
    for name, prop in properties.items():
        default = f'"{prop["default"]}"' if isinstance(prop["default"], str) else repr(prop["default"])
        lines.append(f"{indent}{name} : {_type_text(prop)}, default {default}")
        lines += textwrap.wrap(prop["description"], 100, initial_indent=indent * 2, subsequent_indent=indent * 2)
    return "\n".join(lines)


def defaults(schema: dict[str, Any]) -> dict[str, Any]:
    """Each parameter's default, in declaration order (fresh copies of mutable ones)."""
    return {name: copy.deepcopy(p["default"]) for name, p in schema["properties"].items()}


def bad_param(method: str, name: str, expected: str, value: Any) -> SurveyfuseError:
    """The ``bad_param`` error for parameter ``name`` of ``method`` (what every parameter check raises)."""
    return SurveyfuseError("bad_param", f"method '{method}': parameter '{name}' must be {expected}, got {value!r}",
                           method=method, param=name, expected=expected)


def first_error(schema: dict[str, Any], params: dict[str, Any]) -> tuple[str, str] | None:
    """``(parameter, expected)`` for the first declared parameter whose value ``schema`` refuses, else None."""
    props = schema["properties"]
    order = {name: i for i, name in enumerate(props)}
    bad = {e.path[0] for e in ParamValidator(schema).iter_errors(params) if e.path and e.path[0] in order}
    if not bad:
        return None
    name = min(bad, key=order.__getitem__)
    return name, props[name]["expected"]


#: the generic refit wrapper's parameters, which every ``proper_mi="refit"`` backend accepts
#: (:func:`surveyfuse.backends.make_backend`, :class:`surveyfuse.backends.resampling.Resampled`)
REFIT_PROPERTIES: dict[str, dict[str, Any]] = {
    "mi": enum("auto", ["auto", "refit", "none"], "Proper multiple imputation: 'refit' fits the model mi_resamples "
               "times, each on its own Bayesian-bootstrap re-weighting of the donor; 'auto' does so with 5 fits on a donor of "
               "up to 2,000 rows (tvae: 10,000), and is one fit above, whose level factor and take-up tilts are drawn anew for each "
               "imputation (generative methods); 'none': every imputation from one fit."),
    "mi_resamples": param(10, "a positive integer", "Fits for mi='refit' (use at least as many as draws); at most this "
                          "many for mi='auto'.", **POSITIVE_INT),
}
