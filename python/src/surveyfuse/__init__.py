"""surveyfuse: put a block of variables from a donor survey onto a recipient survey.

Learn p(block | predictors) on the donor, then draw the whole block jointly for
every recipient row, so records stay internally consistent.

The public names are imported on first use, so that ``surveyfuse --version``
and other light CLI commands start without loading pandas or scikit-learn.
"""

from __future__ import annotations

import importlib
from typing import Any

from ._version import __version__
from .errors import ERROR_CODES, SurveyfuseError

_LAZY = {
    "impute": "surveyfuse.api",
    "Imputer": "surveyfuse.imputer",
    "AutoImputer": "surveyfuse.evaluate.auto",
    "CalibratedImputer": "surveyfuse.surveys.calibrate",
    "run_spec": "surveyfuse.pipeline.run",
    "diagnose_spec": "surveyfuse.pipeline.run",
    "RunResult": "surveyfuse.pipeline.run",
    "load_spec": "surveyfuse.pipeline.spec",
    "parse_spec": "surveyfuse.pipeline.spec",
    "available_methods": "surveyfuse.methods",
    "ConstraintSet": "surveyfuse.constraints",
    "parse_constraint": "surveyfuse.constraints",
    "diagnose": "surveyfuse.surveys.diagnostics",
    "rake": "surveyfuse.surveys.raking",
    "Harmoniser": "surveyfuse.surveys.harmonise",
    "evaluate_methods": "surveyfuse.evaluate.crossval",
    "pool": "surveyfuse.evaluate.pooling",
    "pool_estimates": "surveyfuse.evaluate.pooling",
    "write_report": "surveyfuse.evaluate.report",
    "diagnostics_widget": "surveyfuse.notebook.widget",
}

#: subpackages reachable as attributes (``surveyfuse.datasets.make_surveys``), imported on first use
_SUBMODULES = ("datasets", "evaluate", "notebook")

__all__ = ["__version__", "SurveyfuseError", "ERROR_CODES", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'surveyfuse' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
