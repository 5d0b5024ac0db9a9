"""Imputation methods, all behind :class:`~surveyfuse.backends.base.Backend`.

Methods register by name in :mod:`surveyfuse.methods`; heavy dependencies
(torch) are imported only when their method is used.
"""

from __future__ import annotations

from typing import Any

from ..errors import SurveyfuseError
from ..methods import DEFAULT_METHOD, META_METHODS, REGISTRY, available_methods, backend_class
from .base import Backend, FitContext


def make_backend(name: str, params: dict[str, Any] | None = None) -> Backend:
    """The backend ``name`` with ``params``; a ``proper_mi="refit"`` backend asked for ``mi="refit"``
    comes wrapped in :class:`~surveyfuse.backends.resampling.Resampled` (``mi_resamples`` fits)."""
    cls = backend_class(name)
    params = dict(params or {})
    if cls.proper_mi == "refit" and "mi" not in cls.default_params:
        mode, resamples = params.pop("mi", "none"), params.pop("mi_resamples", 10)
        if mode not in ("refit", "none"):
            raise SurveyfuseError("bad_param", f"method '{name}': parameter 'mi' must be 'refit' or 'none', got {mode!r}",
                                  method=name, param="mi", expected="'refit' or 'none'")
        if mode == "refit":
            from .resampling import Resampled

            return Resampled(method=name, params=params, resamples=resamples)
    return cls(**params)


def backend_from_state(name: str, meta: dict[str, Any], arrays: dict[str, Any]) -> Backend:
    """Rebuild a saved backend, the generic resampled wrapper included."""
    if meta.get("resampled"):
        from .resampling import Resampled

        return Resampled.from_state(meta, arrays)
    return backend_class(name).from_state(meta, arrays)


__all__ = ["Backend", "FitContext", "REGISTRY", "DEFAULT_METHOD", "META_METHODS", "available_methods", "backend_class",
           "make_backend", "backend_from_state"]
