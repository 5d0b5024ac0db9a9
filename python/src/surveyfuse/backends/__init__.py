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
    return backend_class(name)(**(params or {}))


__all__ = ["Backend", "FitContext", "REGISTRY", "DEFAULT_METHOD", "available_methods", "backend_class", "make_backend"]
