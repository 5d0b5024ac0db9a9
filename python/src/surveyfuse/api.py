"""One-call imputation: ``surveyfuse.impute(donor, recipient, ...)``."""

from __future__ import annotations

from typing import Any

from .evaluate.auto import make_imputer


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

    The one-call form of ``Imputer(...).fit(donor).sample(recipient)``; use
    :class:`Imputer` to fit once and impute several files, or to save the model.

    Parameters
    ----------
    donor : DataFrame or pyarrow Table
        The survey that observes ``block`` and ``predictors``.
    recipient : DataFrame or pyarrow Table
        The survey that observes ``predictors`` only; it is never modified.
    block : list of str
        Donor columns imputed jointly.
    predictors : list of str
        Columns both surveys observe.
    method : str or dict, optional
        A method name (``surveyfuse.available_methods()``; default ``"forest"``)
        or ``{"name": ..., "params": {...}}``.
    params : dict, optional
        The method's parameters (see the API page "Methods and their parameters").
    draws : int
        Imputations per recipient row (``m``).
    constraints : list of str, optional
        Identities every imputed record satisfies, e.g. ``"e00650 <= e00600"``.
    categorical : list of str, optional
        Columns treated as categorical whatever their dtype.
    weights : str, optional
        Donor column of survey weights.
    seed : int, optional
        Seed for fitting and drawing; the same seed gives the same output.
    include : bool
        Put the original recipient rows first, as ``_imp == 0`` with the block
        missing: the layout of Stata's ``mi import flong`` and of mice's
        ``include = TRUE``.

    Returns
    -------
    DataFrame or pyarrow Table
        Long: every recipient column unchanged, the block, ``_imp`` (1..draws)
        and ``_row`` (0-based recipient row), ordered by ``_imp`` then ``_row``,
        in the recipient's type (pandas in, pandas out; Arrow in, Arrow out).

    Examples
    --------
    >>> import surveyfuse as sf
    >>> donor, recipient = sf.datasets.make_surveys(n_donor=400, n_recipient=50, seed=0)
    >>> out = sf.impute(donor, recipient, block=["interest", "dividends", "qualified"],
    ...                 predictors=["age", "married", "wage"], categorical=["married"],
    ...                 weights="weight", constraints=["qualified <= dividends"], draws=5, seed=0)
    >>> out.shape, sorted(out["_imp"].unique().tolist())
    ((250, 11), [1, 2, 3, 4, 5])
    >>> bool((out["qualified"] <= out["dividends"]).all())
    True
    """
    imputer = make_imputer(
        block=block, predictors=predictors, method=method, params=params, categorical=categorical,
        weights=weights, constraints=constraints, random_state=seed,
    )
    return imputer.fit(donor).sample(recipient, draws=draws, seed=seed, include=include)
