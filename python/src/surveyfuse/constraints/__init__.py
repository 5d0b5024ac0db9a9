"""Constraints on imputed records: parse once, check per row, repair by projection.

``parse`` turns text into a tree of linear comparisons (the grammar is in its
docstring), ``evaluate`` gives each row's three-valued truth within a
tolerance, ``repair`` moves a row onto a violated comparison, and
:class:`ConstraintSet` puts them together for a task. What is imported here is
the interface the rest of the package uses (the imputer, calibration, the
backends' level models and the generative models' constraint layer).
"""

from .constraint_set import ConstraintReport, ConstraintSet, DonorScreen
from .evaluate import evaluate_node, exact_columns, linear_values
from .parse import (DEFAULT_TOLERANCE, EQ_ATOL, EQ_RTOL, EXACT, MAX_COMPARISONS, MAX_LENGTH, MAX_NESTING, BoolOp,
                    Compare, Constraint, Linear, Node, Tolerance, parse_constraint, parse_expression)

__all__ = [
    "ConstraintSet", "ConstraintReport", "DonorScreen", "Constraint", "Tolerance", "parse_constraint",
    "parse_expression", "evaluate_node", "linear_values", "exact_columns", "Linear", "Compare", "BoolOp", "Node",
    "DEFAULT_TOLERANCE", "EXACT", "EQ_ATOL", "EQ_RTOL", "MAX_LENGTH", "MAX_NESTING", "MAX_COMPARISONS",
]
