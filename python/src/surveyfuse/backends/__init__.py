"""Imputation methods, all behind :class:`~surveyfuse.backends.base.Backend`.

Methods register by name in :mod:`surveyfuse.methods`; heavy dependencies
(torch) are imported only when their method is used.
"""

from __future__ import annotations

from typing import Any

from ..methods import DEFAULT_METHOD, META_METHODS, REGISTRY, available_methods, backend_class
from .base import Backend, FitContext


def make_backend(name: str, params: dict[str, Any] | None = None) -> Backend:
    """A backend ``name`` with ``params``; refuses unknown methods and parameters."""
    return backend_class(name)(**(params or {}))


__all__ = ["Backend", "FitContext", "REGISTRY", "DEFAULT_METHOD", "META_METHODS", "available_methods", "backend_class", "make_backend"]
