"""One-call imputation: ``surveyfuse.impute(donor, recipient, ...)``."""

from __future__ import annotations

from typing import Any

from .imputer import Imputer


def impute(
    donor: Any,
    recipient: Any,
    *,
    block: list[str],
    predictors: list[str],
    method: Any = None,
    params: dict[str, Any] | None = None,
    draws: int = 20,
    constraints: list[str] | None = None,
    categorical: list[str] | None = None,
    weights: str | None = None,
    seed: int | None = None,
    include: bool = False,
) -> Any:
    """Fit on ``donor`` and draw the whole ``block`` ``draws`` times for each recipient row.

    Returns the long table (recipient columns, block, ``_imp``, ``_row``) in
    the recipient's type: pandas in, pandas out; Arrow in, Arrow out.
    ``include=True`` puts the original recipient rows first, as ``_imp == 0``
    with the block missing: the layout of Stata's ``mi import flong`` and of
    mice's ``include = TRUE``.
    """
    imputer = Imputer(
        block=block, predictors=predictors, method=method, params=params, categorical=categorical,
        weights=weights, constraints=constraints, random_state=seed,
    )
    return imputer.fit(donor).sample(recipient, draws=draws, seed=seed, include=include)
