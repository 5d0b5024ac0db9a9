"""Rubin's rules: one estimate and honest uncertainty from m imputations.

Each completed data set ``l = 1..m`` (rows with ``_imp == l`` in the long
output) gives an estimate ``Q_l`` and its complete-data sampling variance
``U_l``. Rubin (1987), with the Barnard & Rubin (1999) small-sample df:

* point estimate ``Qbar = mean_l Q_l``
* within variance ``Ubar = mean_l U_l``; between variance ``B = sum_l (Q_l - Qbar)^2 / (m - 1)``
* total variance ``T = Ubar + (1 + 1/m) B``
* ``riv = (1 + 1/m) B / Ubar`` (relative increase in variance), ``lambda = (1 + 1/m) B / T``
* ``df_old = (m - 1) / lambda^2``, ``df_obs = (nu + 1) / (nu + 3) * nu * (1 - lambda)``
  with complete-data df ``nu`` (n - 1, or n - p for a regression),
  ``df = 1 / (1/df_old + 1/df_obs)``
* fraction of missing information ``fmi = (riv + 2 / (df + 3)) / (1 + riv)``
* interval ``Qbar +- t_{df, 0.975} sqrt(T)``

A fused file is not the missing-data case Rubin's rules were made for: no
recipient observed the block, so ``Ubar`` carries the draws' own noise and
``B`` carries it again, and the intervals are conservative whenever the donor
is not much smaller than the recipient file (see ``docs/inference.md``).
``rule="fused"`` separates that noise with *nested* imputations, ``r`` draws
from each of ``M`` donor resamples (imputations ``l`` and ``l + M`` share a
resample, as the tree groups of ``forest`` and ``qrf`` do; Shen 2000, Reiter
2008). With ``W_e`` the mean variance of the estimates within a resample and
``B_M`` the variance of the resample means,

* ``T = max(Ubar - W_e, 0) + (1 + 1/M) max(B_M - W_e / r, 0) + W_e / (M r)``

(the recipients' own sampling variance, the model's uncertainty, the draws'
noise left in the average). Where nothing is clipped that is the signed sum
``Ubar + (1 + 1/M) B_M - (1 + 1/r) W_e``, a difference of mean squares with
``nu``, ``M - 1`` and ``M (r - 1)`` df, and its df are Satterthwaite's over
that sum, at least ``FUSED_MIN_DF``. (Satterthwaite over the non-negative
parts instead treats ``Ubar - W_e`` as if it had the complete-data df; on
5,000 / 5,000 CPS replications its 90% intervals covered 0.82-0.86 in the
median, against 0.86-0.91 with these df.) Few draws per resample make the
difference noisy and the df small: ``r = 10`` (``draws=100`` with the
default 10 tree groups) gave intervals 1.06-1.13 times the complete-data
width and median coverage 0.88-0.91; ``r = 2``, 1.18-1.27 times and
0.86-0.91; Rubin's rules, 1.5-1.8 times and 0.97-0.98.

Complete-data variances ``U_l`` (survey weights ``w``, rows treated as
drawn with replacement, i.e. the usual linearisation without strata or
clusters; pass ``weights=None`` for simple random sampling):

* weighted mean ``ybar = sum w y / sum w``: ``U = n/(n-1) sum w_i^2 (y_i - ybar)^2 / (sum w)^2``
* weighted total ``t = sum w y``: ``U = n/(n-1) sum (w_i y_i - t/n)^2``
* weighted quantile ``q_p = min{y: F(y) >= p}`` (Woodruff 1952): the
  standard error of ``F`` at ``q_p`` is that of the weighted mean of
  ``1[y <= q_p]``; with ``s`` that se, ``se(q_p) = (q_{p + 1.96 s} - q_{p - 1.96 s}) / (2 * 1.96)``
* weighted least squares ``b = (X'WX)^{-1} X'Wy`` (intercept added): the
  sandwich ``U = n/(n-p) (X'WX)^{-1} (sum w_i^2 e_i^2 x_i x_i') (X'WX)^{-1}``
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from ..data.frames import read_nesting
from ..errors import SurveyfuseError

Z_WOODRUFF = 1.959963984540054
#: the fused rule's df never falls below this (see :func:`fused`)
FUSED_MIN_DF = 4.0


def _table(values: Any) -> np.ndarray:
    """Per-imputation values as an (m, p) array (one quantity: a column)."""
    a = np.asarray(values, dtype=np.float64)
    return a[:, None] if a.ndim == 1 else a


def _matrices(estimates: Any, variances: Any) -> tuple[np.ndarray, np.ndarray]:
    """Estimates and variances as (m, p) arrays (one quantity: a column)."""
    Q = _table(estimates)
    return Q, np.asarray(variances, dtype=np.float64).reshape(Q.shape)


def _check_rule(rule: str) -> None:
    if rule not in ("rubin", "fused"):
        raise SurveyfuseError("bad_argument", f"rule must be 'rubin' or 'fused', got {rule!r}", argument="rule")


def _by_rule(Q: np.ndarray, U: np.ndarray, rule: str, resamples: int | None, nu_com: float | None) -> pd.DataFrame:
    return rubin(Q, U, nu_com=nu_com) if rule == "rubin" else fused(Q, U, int(resamples), nu_com=nu_com)


def _combined(Q: np.ndarray, within: np.ndarray, between: np.ndarray, t: np.ndarray, df: np.ndarray,
              riv: np.ndarray, fmi: np.ndarray) -> pd.DataFrame:
    """The pooled table both rules return, with 95% intervals from ``df``."""
    qbar, se = Q.mean(axis=0), np.sqrt(t)
    tq = stats.t.ppf(0.975, np.minimum(df, 1e12))
    return pd.DataFrame({"estimate": qbar, "within": within, "between": between, "total": t, "se": se, "df": df,
                         "riv": riv, "fmi": fmi, "ci_low": qbar - tq * se, "ci_high": qbar + tq * se, "m": Q.shape[0]})


def rubin(estimates: Any, variances: Any, nu_com: float | None = None) -> pd.DataFrame:
    """Combine ``estimates`` (m, p) and their variances (m, p) by Rubin's rules (see module)."""
    Q, U = _matrices(estimates, variances)
    m = Q.shape[0]
    if m < 2:
        raise SurveyfuseError("bad_argument", "Rubin's rules need at least 2 imputations (_imp values)", argument="draws")
    ubar = U.mean(axis=0)
    b = Q.var(axis=0, ddof=1)
    t = ubar + (1 + 1 / m) * b
    with np.errstate(divide="ignore", invalid="ignore"):
        lam = np.where(t > 0, (1 + 1 / m) * b / t, 0.0)
        riv = np.where(ubar > 0, (1 + 1 / m) * b / ubar, np.inf)
        df_old = np.where(lam > 0, (m - 1) / lam**2, np.inf)
        if nu_com is None or not np.isfinite(nu_com):
            df = df_old
        else:
            df_obs = (nu_com + 1) / (nu_com + 3) * nu_com * (1 - lam)
            df = 1 / (1 / df_old + 1 / df_obs)
        fmi = (riv + 2 / (df + 3)) / (1 + riv)
    return _combined(Q, ubar, b, t, df, riv, fmi)


def fused(estimates: Any, variances: Any, resamples: int, nu_com: float | None = None) -> pd.DataFrame:
    """Combine nested imputations of a fused file (see module): imputation ``l`` (0-based) from resample ``l mod resamples``.

    Same columns as :func:`rubin`; ``within`` is ``Ubar - W_e`` (the recipients'
    sampling variance), ``between`` the model's part ``B_M - W_e / r``.
    """
    Q, U = _matrices(estimates, variances)
    m, M = Q.shape[0], int(resamples)
    if isinstance(resamples, bool) or M < 2 or m % M or m // M < 2:
        raise SurveyfuseError("bad_argument", f"rule='fused' needs at least 2 imputations from each of at least 2 "
                              f"resamples: the number of imputations ({m}) must be a multiple of resamples ({resamples}) "
                              f"and at least twice it", argument="resamples")
    r = m // M
    G = Q.reshape(r, M, Q.shape[1])  # G[i, g] is imputation g + i * M
    w_e = G.var(axis=0, ddof=1).mean(axis=0)
    b_m = G.mean(axis=0).var(axis=0, ddof=1)
    ubar = U.mean(axis=0)
    own = np.maximum(ubar - w_e, 0.0)
    model = np.maximum(b_m - w_e / r, 0.0)
    t = own + (1 + 1 / M) * model + w_e / (M * r)
    # Where nothing is clipped, T = Ubar + (1 + 1/M) B_M - (1 + 1/r) W_e: a signed sum of three mean squares with
    # nu_com, M - 1 and M (r - 1) df. Satterthwaite's df over that sum says how noisy the difference is; over the
    # non-negative parts instead it would treat Ubar - W_e as if it had the complete-data df, and the intervals
    # would cover too rarely (measured). Floored at FUSED_MIN_DF: where the terms nearly cancel the df can fall
    # towards 0, and the floor keeps the interval finite (t at 4 df is 1.29 times z at 90%).
    nu = np.inf if nu_com is None or not np.isfinite(nu_com) else float(nu_com)
    with np.errstate(divide="ignore", invalid="ignore"):
        denom = ubar**2 / nu + ((1 + 1 / M) * b_m) ** 2 / (M - 1) + ((1 + 1 / r) * w_e) ** 2 / (M * (r - 1))
        df = np.maximum(np.where(denom > 0, t**2 / denom, np.inf), FUSED_MIN_DF)
        riv = np.where(own > 0, (t - own) / own, np.inf)
        fmi = np.where(t > 0, (t - own) / t, 0.0)
    return _combined(Q, own, model, t, df, riv, fmi)


def pool_estimates(estimates: Any, variances: Any, rule: str = "rubin", resamples: int | None = None,
                   nu_com: float | None = None, names: Sequence[str] | None = None) -> pd.DataFrame:
    """Pool estimates from any analysis run on each imputation: rows are imputations, columns quantities.

    For models :func:`pool` does not compute (a logit, a quantile regression,
    R's ``with(mids, ...)`` fits): pass each imputation's estimates and their
    squared standard errors, in imputation order. ``rule`` and ``resamples``
    as for :func:`pool`; ``nu_com`` the complete-data df (a regression's
    residual df); ``names`` label the rows of the result.

    Examples
    --------
    >>> import surveyfuse as sf
    >>> sf.pool_estimates([[1.0, 2.0], [1.2, 2.1], [0.9, 1.9]], [[0.01, 0.04]] * 3, names=["a", "b"])["estimate"].round(3).tolist()
    [1.033, 2.0]
    """
    Q, U = _checked_estimates(estimates, variances)
    _check_rule(rule)
    out = _by_rule(Q, U, rule, _checked_resamples(None, rule, resamples), nu_com)
    if names is not None:
        if len(names) != Q.shape[1]:
            raise SurveyfuseError("bad_argument", f"{len(names)} names for {Q.shape[1]} quantities", argument="names")
        out.index = list(names)
    return out


def _checked_estimates(estimates: Any, variances: Any) -> tuple[np.ndarray, np.ndarray]:
    """Estimates and variances as (m, p) arrays of the same shape, finite, variances non-negative."""
    try:
        Q, U = _table(estimates), _table(variances)
    except (TypeError, ValueError) as exc:
        raise SurveyfuseError("bad_argument", f"estimates and variances must be numbers: {exc}", argument="estimates") from None
    if Q.ndim != 2 or U.shape != Q.shape:
        raise SurveyfuseError("bad_argument", f"estimates {Q.shape} and variances {U.shape} must be (imputations, "
                              "quantities) tables of the same shape", argument="variances")
    bad = np.argwhere(~np.isfinite(Q) | ~np.isfinite(U) | (U < 0))
    if bad.size:
        i, j = (int(v) for v in bad[0])
        raise SurveyfuseError("bad_argument", f"imputation {i + 1}, quantity {j + 1}: the estimate ({float(Q[i, j])}) and "
                              f"its variance ({float(U[i, j])}) must be finite, the variance not negative",
                              argument="estimates", row=i, column=j)
    return Q, U


# ---------------------------------------------------------------------------- complete-data estimators
def weighted_mean(y: np.ndarray, w: np.ndarray) -> tuple[float, float]:
    n, sw = len(y), w.sum()
    mean = float((w * y).sum() / sw)
    var = n / (n - 1) * float((w**2 * (y - mean) ** 2).sum()) / sw**2
    return mean, var


def weighted_total(y: np.ndarray, w: np.ndarray) -> tuple[float, float]:
    n = len(y)
    wy = w * y
    return float(wy.sum()), n / (n - 1) * float(((wy - wy.mean()) ** 2).sum())


def weighted_quantile(y: np.ndarray, w: np.ndarray, p: float) -> float:
    """``min{y : F(y) >= p}`` for the weighted empirical CDF ``F``."""
    order = np.argsort(y, kind="stable")
    cdf = np.cumsum(w[order]) / w.sum()
    i = min(int(np.searchsorted(cdf, min(max(p, 0.0), 1.0) - 1e-12)), len(y) - 1)
    return float(y[order][i])


def weighted_quantile_var(y: np.ndarray, w: np.ndarray, p: float) -> tuple[float, float]:
    q = weighted_quantile(y, w, p)
    _, var_f = weighted_mean((y <= q).astype(np.float64), w)
    s = np.sqrt(var_f)
    lo, hi = weighted_quantile(y, w, p - Z_WOODRUFF * s), weighted_quantile(y, w, p + Z_WOODRUFF * s)
    return q, ((hi - lo) / (2 * Z_WOODRUFF)) ** 2


def wls(y: np.ndarray, X: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Coefficients and their sandwich variance (diagonal) of weighted least squares."""
    n, p = X.shape
    XtW = X.T * w
    bread = np.linalg.pinv(XtW @ X)
    beta = bread @ (XtW @ y)
    e = y - X @ beta
    meat = (X * (w * e)[:, None]).T @ (X * (w * e)[:, None])
    cov = n / max(n - p, 1) * bread @ meat @ bread
    return beta, np.diag(cov)


def _checked_resamples(table: Any, rule: str, resamples: int | None) -> int | None:
    """The fused rule's ``resamples``: the user's, checked against how the imputations nest when the table
    says so (:func:`surveyfuse.data.frames.mark_nesting`; ``table=None``: nothing to check), or taken from it."""
    if rule != "fused":
        return resamples
    info = read_nesting(table)
    if info is not None:
        nested, method = info.get("nested_resamples"), info.get("method")
        if nested is None:
            raise SurveyfuseError(
                "bad_argument", f"rule='fused' needs imputations nested in donor resamples, and method '{method}' "
                f"drew each imputation from its own resample or all from one fit; use rule='rubin', or a method "
                f"that nests them (forest or qrf with mi='trees', a generative method with mi='refit')",
                argument="rule", method=method)
        if resamples is None:
            return int(nested)
        if isinstance(resamples, bool) or int(resamples) != int(nested):
            raise SurveyfuseError(
                "bad_argument", f"resamples={resamples!r}, but these imputations come from {nested} donor resamples "
                f"(imputation l from resample (l - 1) mod {nested}: the method's mi_groups or mi_resamples); "
                f"leave resamples out or pass {nested}", argument="resamples", nested_resamples=int(nested))
    if resamples is None:
        raise SurveyfuseError("bad_argument", "rule='fused' needs resamples= (the method's mi_groups, or a generative "
                              "method's number of fits: the sample report's nested_resamples)", argument="resamples")
    return resamples


# ---------------------------------------------------------------------------- the public entry
def pool(table: Any, statistic: str, column: str | None = None, *, weights: str | None = None, q: float = 0.5,
         y: str | None = None, x: Sequence[str] | None = None, imp: str = "_imp", rule: str = "rubin",
         resamples: int | None = None) -> pd.DataFrame:
    """Pool a statistic over the imputations of a long output table by Rubin's rules (or the fused-file rule).

    The formulas (Rubin 1987 with Barnard & Rubin's degrees of freedom) and
    the survey-weighted complete-data variances are in the module docstring
    of :mod:`surveyfuse.evaluate.pooling`.

    Parameters
    ----------
    table : DataFrame or pyarrow Table
        The long output (one completed data set per ``_imp`` value).
    statistic : str
        ``"mean"``, ``"total"`` or ``"quantile"`` (of ``column``, quantile
        level ``q``), or ``"regression"`` (weighted least squares of ``y`` on
        ``x`` with an intercept, sandwich variance).
    column, y, x : str, str, list of str
        What to estimate.
    weights : str, optional
        Column of survey weights.
    q : float
        Quantile level.
    imp : str
        The imputation column.
    rule : "rubin" or "fused", default "rubin"
        Rubin's rules (what mice and Stata's ``mi estimate`` use; conservative
        on a fused file unless the donor is much smaller than the recipient
        file), or the nested-imputation rule for fused files (module
        docstring), which needs ``resamples``.
    resamples : int, optional
        For ``rule="fused"``: how many donor resamples the imputations come
        from, imputation ``l`` from resample ``(l - 1) mod resamples`` (the
        ``mi_groups`` of ``forest`` and ``qrf``, 10 by default; a generative
        method's fits, 5 under ``mi="auto"`` on a donor of up to 2,000 rows (``tvae``: 10,000);
        the sample report's ``nested_resamples``; draw a multiple
        of it, at least twice as many; ten times as many give narrower
        intervals, see the module docstring). A table straight from
        ``sample``/``impute`` says how its imputations nest: ``resamples`` may
        then be left out, and a wrong one, or a method whose imputations do
        not nest (``hotdeck``), is refused.

    Returns
    -------
    DataFrame
        One row per quantity (index: the column, or the regression terms) with
        ``estimate, within, between, total, se, df, riv, fmi, ci_low, ci_high, m``.

    Examples
    --------
    >>> import surveyfuse as sf
    >>> donor, recipient = sf.datasets.make_surveys(n_donor=400, n_recipient=100, seed=0)
    >>> out = sf.impute(donor, recipient, block=["dividends"], predictors=["age", "wage"],
    ...                 method="hotdeck", draws=5, seed=0)
    >>> res = sf.pool(out, "mean", "dividends", weights="weight")
    >>> list(res.index), int(res["m"].iloc[0]), bool(res["se"].iloc[0] > 0)
    (['dividends'], 5, True)
    >>> sf.pool(out, "regression", y="dividends", x=["age", "wage"]).index.tolist()
    ['(intercept)', 'age', 'wage']
    >>> nested = sf.impute(donor, recipient, block=["dividends"], predictors=["age", "wage"],
    ...                    method="forest", params={"mi_groups": 4}, draws=20, seed=0)
    >>> fused_se = sf.pool(nested, "mean", "dividends", weights="weight", rule="fused", resamples=4)["se"].iloc[0]
    >>> bool(0 < fused_se < sf.pool(nested, "mean", "dividends", weights="weight")["se"].iloc[0])
    True
    """
    frame = table.to_pandas() if hasattr(table, "to_pandas") and not isinstance(table, pd.DataFrame) else table
    if imp not in frame.columns:
        raise SurveyfuseError("missing_column", f"the table has no '{imp}' column; pass the long output of sample()", column=imp)
    needed = [c for c in ([column] if column else []) + ([y] if y else []) + list(x or []) + ([weights] if weights else [])]
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise SurveyfuseError("missing_column", f"column '{missing[0]}' is not in the table", column=missing[0])
    _check_rule(rule)
    resamples = _checked_resamples(table, rule, resamples)
    groups = [g for _, g in frame.groupby(imp, sort=True)]

    def combine(e: np.ndarray, u: np.ndarray, nu: float) -> pd.DataFrame:
        return _by_rule(e, u, rule, resamples, nu)
    ests, vars_ = [], []
    if statistic in ("mean", "total", "quantile"):
        if column is None:
            raise SurveyfuseError("bad_argument", f"statistic '{statistic}' needs column=", argument="column")
        for g in groups:
            v = g[column].to_numpy(dtype=np.float64)
            w = g[weights].to_numpy(dtype=np.float64) if weights else np.ones(len(g))
            e, u = (weighted_mean(v, w) if statistic == "mean" else weighted_total(v, w) if statistic == "total"
                    else weighted_quantile_var(v, w, q))
            ests.append([e])
            vars_.append([u])
        out = combine(np.array(ests), np.array(vars_), len(groups[0]) - 1)
        out.index = [column if statistic != "quantile" else f"{column}@q{q:g}"]
        return out
    if statistic == "regression":
        if y is None or not x:
            raise SurveyfuseError("bad_argument", "statistic 'regression' needs y= and x=[...]", argument="x")
        for g in groups:
            X = np.column_stack([np.ones(len(g))] + [g[c].to_numpy(dtype=np.float64) for c in x])
            w = g[weights].to_numpy(dtype=np.float64) if weights else np.ones(len(g))
            b, u = wls(g[y].to_numpy(dtype=np.float64), X, w)
            ests.append(b)
            vars_.append(u)
        out = combine(np.array(ests), np.array(vars_), len(groups[0]) - len(x) - 1)
        out.index = ["(intercept)", *x]
        return out
    raise SurveyfuseError("bad_argument", f"statistic must be mean, total, quantile or regression, got '{statistic}'",
                          argument="statistic")


__all__ = ["pool", "pool_estimates", "rubin", "fused", "weighted_mean", "weighted_total", "weighted_quantile", "weighted_quantile_var", "wls"]
