"""surveyfuse: put a block of variables from a donor survey onto a recipient survey.

Learn p(block | predictors) on the donor, then draw the whole block jointly for
every recipient row, so records stay internally consistent.
"""

from ._version import __version__
from .api import impute
from .backends import available_methods
from .constraints import ConstraintSet, parse_constraint
from .errors import ERROR_CODES, SurveyfuseError
from .imputer import Imputer
from .run import RunResult, run_spec
from .spec import load_spec, parse_spec

__all__ = [
    "__version__",
    "impute",
    "Imputer",
    "run_spec",
    "RunResult",
    "load_spec",
    "parse_spec",
    "available_methods",
    "ConstraintSet",
    "parse_constraint",
    "SurveyfuseError",
    "ERROR_CODES",
]
