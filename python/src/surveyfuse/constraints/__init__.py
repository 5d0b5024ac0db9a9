"""Constraints on imputed records (the package that parse / evaluate / repair will split into)."""

from .parse import *  # noqa: F401,F403
from .parse import _evaluate, _linear_values, _Parser  # noqa: F401 (calibrate and the deep constraint layer)
