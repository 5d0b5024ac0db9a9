"""Error codes shared by the Python API, the CLI and the R package.

Every failure a user can cause raises :class:`SurveyfuseError` with a stable
``code`` (a snake_case string). The CLI prints ``error[code]: message`` and exits
with status 2; the R package turns the code into the condition class
``surveyfuse_error_<code>``. Codes are part of the public API: add new ones,
never rename.
"""

from __future__ import annotations

import numbers
from contextvars import ContextVar
from typing import Any

#: where row numbers in messages start: 0 (Python's numbering) or 1 (R's, set by the R bridge)
ROW_BASE: ContextVar[int] = ContextVar("surveyfuse_row_base", default=0)


def row_label(row: int) -> int:
    """A 0-based row number as the front end counts rows (messages only; ``context["row"]`` stays 0-based)."""
    return int(row) + ROW_BASE.get()

#: code -> one-line meaning. The R package and the docs read this table.
ERROR_CODES: dict[str, str] = {
    "spec_json": "the task spec is not valid JSON",
    "spec_invalid": "the task spec does not match the JSON Schema",
    "file_not_found": "an input file does not exist",
    "file_unreadable": "an input file could not be read in the format its extension says",
    "unsupported_format": "a file extension or output format that surveyfuse does not read or write",
    "missing_column": "a named column is not in the data",
    "duplicate_column": "a column is named twice, or in two roles",
    "predictor_in_block": "a column is both a predictor and a block variable",
    "block_in_recipient": "the recipient already has a column of the block",
    "empty_donor": "the donor has no usable rows",
    "empty_recipient": "the recipient has no rows",
    "non_numeric": "a numeric column holds values that are not numbers",
    "bad_weights": "sampling weights are missing, negative, non-finite or all zero",
    "bad_draws": "the number of draws is not a positive integer",
    "bad_seed": "the seed is not a non-negative integer",
    "unknown_method": "no imputation method has that name",
    "bad_param": "a method parameter is unknown or has an invalid value",
    "constraint_syntax": "a constraint could not be parsed",
    "constraint_unknown_column": "a constraint names a column that is neither a predictor nor in the block",
    "constraint_unsatisfiable": "no donor row satisfies the declared constraints",
    "invalid_stata_name": "a column name cannot be written to a Stata file",
    "not_fitted": "the imputer must be fitted before it can sample",
    "model_unrecognised": "a model file is not a surveyfuse model, or of an unsupported version",
    "missing_dependency": "an optional dependency is needed but not installed",
    "bad_argument": "an argument has an invalid value",
    "bad_data": "the data have a value surveyfuse cannot use",
    "reference_failed": "a reference comparison tool (microimpute, R mice) failed while evaluating",
    "unmatched_category": "a value has no entry in a declared recode map",
    "bad_harmonise": "a harmonisation rule is malformed",
    "rake_failed": "donor weights could not be calibrated to the recipient's margins",
    "bad_target": "a calibration target is malformed or names an unknown column",
    "calibration_infeasible": "no tilt of the imputation distribution reaches a calibration target",
    "predictor_coding": "a predictor is coded differently in the donor and the recipient (labels vs codes, text vs numbers, other categories)",
    "constraint_too_deep": "a constraint nests parentheses deeper than the parser allows (64 levels)",
    "constraint_too_long": "a constraint is longer than the parser allows (20,000 characters or 200 comparisons)",
    "fit_check_failed": "a generative model did worse on held-out donor rows than ignoring the predictors, or its intervals missed (a warning)",
    "donors_dropped": "more than 1% of the donor weight was left out of fitting (a warning; an error in a strict run when declared constraints left them out)",
    "insufficient_memory": "the run would need more memory than the machine has: use fewer draws or smaller chunks",
    "unsupported_column_type": "a column holds lists, structs, maps or other values that are not a table cell",
    "output_unwritable": "the output cannot be written: no permission, no space left, or something in the way",
}


class SurveyfuseError(Exception):
    """A failure caused by the user's input, with a stable ``code``.

    ``code`` is one of :data:`ERROR_CODES` (the same in Python, the CLI's
    ``error[code]`` and R's condition classes); ``message`` says which
    column, row or value and what was expected; ``context`` holds those
    details machine-readably so that front ends can phrase them their way.

    Examples
    --------
    >>> import pandas as pd
    >>> import surveyfuse as sf
    >>> donor, recipient = sf.datasets.make_surveys(n_donor=50, n_recipient=5)
    >>> try:
    ...     sf.impute(donor, recipient, block=["dividends"], predictors=["age", "income"], draws=2)
    ... except sf.SurveyfuseError as exc:
    ...     print(exc.code, exc.context["column"])
    missing_column income
    """

    def __init__(self, code: str, message: str, **context: Any) -> None:
        if code not in ERROR_CODES:
            raise ValueError(f"unregistered error code {code!r}")
        super().__init__(message)
        self.code = code
        self.message = message
        self.context = {k: v for k, v in context.items() if v is not None}

    def __str__(self) -> str:
        return self.message

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, used by the CLI's ``--json`` output and the R bridge.

        Examples
        --------
        >>> from surveyfuse import SurveyfuseError
        >>> SurveyfuseError("bad_draws", "draws must be a positive integer, got 0", value="0").to_dict()
        {'code': 'bad_draws', 'message': 'draws must be a positive integer, got 0', 'context': {'value': '0'}}
        """
        return {"code": self.code, "message": self.message, "context": _jsonable(self.context)}


class SurveyfuseWarning(UserWarning):
    """A problem the run can go on with, with a stable ``code`` (one of :data:`ERROR_CODES`).

    Front ends show it as a warning: the CLI as ``warning[code]: message``, R
    as a condition of class ``surveyfuse_warning_<code>``.
    """

    def __init__(self, code: str, message: str) -> None:
        if code not in ERROR_CODES:
            raise ValueError(f"unregistered error code {code!r}")
        super().__init__(message)
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return self.message


def check_draws(draws: Any, name: str = "draws") -> int:
    """Imputations per row, a positive integer; ``name`` is the argument as the caller's front end calls it (R's ``m``)."""
    if isinstance(draws, bool) or not isinstance(draws, numbers.Integral) or draws < 1:
        raise SurveyfuseError("bad_draws", f"{name} must be a positive integer, got {draws!r}", value=str(draws))
    return int(draws)


def check_seed(seed: Any) -> int:
    """A non-negative integer seed; ``None`` draws one from the operating system's entropy."""
    if seed is None:
        import numpy as np

        return int(np.random.SeedSequence().entropy % (2**31))
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise SurveyfuseError("bad_seed", f"seed must be a non-negative integer, got {seed!r}", value=str(seed))
    return int(seed)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)
