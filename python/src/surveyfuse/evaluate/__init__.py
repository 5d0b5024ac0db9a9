"""Scoring imputations against held-out truth.

* :mod:`.scores` - proper scores (energy, pinball, randomised PIT).
* :mod:`.metrics` - every metric of one method's draws on one set of rows.
* :mod:`.crossval` - donor-only K-fold validation of several methods
  (:func:`evaluate_methods`, also ``surveyfuse.evaluate_methods``).
* :mod:`.report` - metrics.json, a text table and a self-contained HTML report.
* :mod:`.pooling` - Rubin's rules across the m imputations.

``surveyfuse.evaluate`` is this package (a module, not a function): call
``surveyfuse.evaluate_methods(...)`` or ``surveyfuse.evaluate.evaluate_methods(...)``.
Submodules are imported on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "evaluate_methods": "surveyfuse.evaluate.crossval",
    "Evaluation": "surveyfuse.evaluate.crossval",
    "score_block": "surveyfuse.evaluate.metrics",
    "write_report": "surveyfuse.evaluate.report",
    "pool": "surveyfuse.evaluate.pooling",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'surveyfuse.evaluate' has no attribute {name!r}")


__all__ = list(_LAZY)
