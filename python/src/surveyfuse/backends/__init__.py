"""Imputation methods, all behind :class:`~surveyfuse.backends.base.Backend`.

Methods register by name; heavy dependencies (torch) are imported only when
their method is used.
"""

from __future__ import annotations

import importlib
from typing import Any

from ..errors import SurveyfuseError
from .base import Backend, FitContext

#: method name -> "module:Class" (imported lazily)
REGISTRY: dict[str, str] = {
    "hotdeck": "surveyfuse.backends.hotdeck:HotDeck",
    "forest": "surveyfuse.backends.forest:ForestSampler",
    "qrf": "surveyfuse.backends.qrf:QuantileForestChain",
    "tvae": "surveyfuse.backends.deep.tvae:TVAE",
    "diffusion": "surveyfuse.backends.deep.diffusion:Diffusion",
    "ctgan": "surveyfuse.backends.deep.ctgan:CTGAN",
    "ctabgan": "surveyfuse.backends.deep.ctabgan:CTABGAN",
}

DEFAULT_METHOD = "forest"


#: pseudo-methods the Imputer resolves itself before making a backend
#: ("auto": pick by donor-only validation, see surveyfuse.evaluate.auto)
META_METHODS = ("auto",)


def available_methods() -> list[str]:
    """The method names ``method=`` accepts (``surveyfuse methods`` prints them).

    Examples
    --------
    >>> import surveyfuse as sf
    >>> sf.available_methods()
    ['ctabgan', 'ctgan', 'diffusion', 'forest', 'hotdeck', 'qrf', 'tvae', 'auto']
    """
    return sorted(REGISTRY) + list(META_METHODS)


def backend_class(name: str) -> type[Backend]:
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


__all__ = ["Backend", "FitContext", "REGISTRY", "DEFAULT_METHOD", "available_methods", "backend_class", "make_backend",
           "backend_from_state"]
