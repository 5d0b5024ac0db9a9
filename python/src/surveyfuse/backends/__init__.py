"""Imputation methods, all behind :class:`~surveyfuse.backends.base.Backend`.

Methods register by name in :mod:`surveyfuse.methods`; heavy dependencies
(torch) are imported only when their method is used.
"""

from __future__ import annotations

from typing import Any

from ..methods import DEFAULT_METHOD, META_METHODS, REGISTRY, available_methods, backend_class
from .base import Backend, FitContext
from .params import REFIT_PROPERTIES, bad_param, defaults, first_error, object_schema

#: the generic refit wrapper's parameters (``mi``, ``mi_resamples``) as a schema of their own
REFIT_SCHEMA = object_schema(REFIT_PROPERTIES)


def make_backend(name: str, params: dict[str, Any] | None = None) -> Backend:
    """The backend ``name`` with ``params``; a ``proper_mi="refit"`` backend asked for ``mi="refit"``
    comes wrapped in :class:`~surveyfuse.backends.resampling.Resampled` (``mi_resamples`` fits)."""
    cls = backend_class(name)
    params = dict(params or {})
    if cls.proper_mi == "refit" and "mi" not in cls.default_params:
        refit = {key: params.pop(key) for key in REFIT_PROPERTIES if key in params}
        found = first_error(REFIT_SCHEMA, refit)
        if found is not None:
            raise bad_param(name, found[0], found[1], refit[found[0]])
        refit = {**defaults(REFIT_SCHEMA), **refit}
        mode, resamples = refit["mi"], refit["mi_resamples"]
        if mode in ("refit", "auto"):
            from .resampling import Resampled

            return Resampled(method=name, params=params, resamples=resamples, auto=mode == "auto")
    return cls(**params)


def backend_from_state(name: str, meta: dict[str, Any], arrays: dict[str, Any]) -> Backend:
    """Rebuild a saved backend, the generic resampled wrapper included."""
    if meta.get("resampled"):
        from .resampling import Resampled

        return Resampled.from_state(meta, arrays)
    return backend_class(name).from_state(meta, arrays)


__all__ = ["Backend", "FitContext", "REGISTRY", "DEFAULT_METHOD", "META_METHODS", "available_methods", "backend_class",
           "make_backend", "backend_from_state", "REFIT_SCHEMA"]
