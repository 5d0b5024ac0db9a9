"""Score one method's draws of a block against the hidden truth.

Inputs are the decoded block as ``{name: array (m, n)}`` (m draws of n rows;
:func:`draws_from_long` turns the long output table into that), the truth
frame (block columns, and predictors for correlations and constraints), the
block's :class:`~surveyfuse.data.types.Variable` list, and optional survey
weights ``w`` (one per row). Every average below is a ``w``-weighted mean over
rows (plain mean when no weights); "pooled draws" gives each (row, draw)
the weight ``w_i / m``.

Numeric variables get proper scores (pinball, CRPS, via the randomised PIT
coverage) and marginal-fidelity distances; discrete ones (binary,
categorical) get accuracy and the Brier score. The block as a whole gets the
energy score, correlation preservation and constraint violations.
:func:`score_block` returns ``{"variables": {name: {...}}, "overall": {...},
"correlation": {...}}``, all plain floats / lists, so ``json.dumps`` works.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy.stats import wasserstein_distance

from ..constraints import ConstraintSet
from ..data.types import Variable
from .pooling import weighted_total
from .scores import energy_score, pinball_loss, randomised_pit, standardise

#: quantile levels of the pinball loss
QUANTILE_GRID = (0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95)
PIT_BINS = 10


# ---------------------------------------------------------------------------- helpers
def _weights(weights: Any, n: int) -> np.ndarray:
    if weights is None:
        return np.ones(n)
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (n,):
        raise ValueError(f"weights must have one value per row ({n}), got shape {w.shape}")
    return w


def _wmean(values: np.ndarray, w: np.ndarray) -> float:
    return float(np.average(values, weights=w))


def _finite(x: float) -> float | None:
    """JSON has no NaN: undefined values become None."""
    return None if x is None or not math.isfinite(float(x)) else float(x)


def draws_from_long(table: Any, block: Sequence[str]) -> dict[str, np.ndarray]:
    """Long output (``_imp``, ``_row``) -> ``{name: (m, n)}`` ordered by ``_row``."""
    frame = table.to_pandas() if hasattr(table, "to_pandas") and not isinstance(table, pd.DataFrame) else table
    frame = frame.sort_values(["_imp", "_row"], kind="stable")
    m = int(frame["_imp"].nunique())
    n = len(frame) // m
    return {c: frame[c].to_numpy().reshape(m, n) for c in block}


def crps(draws: np.ndarray, truth: np.ndarray, weights: np.ndarray | None = None) -> float:
    """CRPS from draws (m, n): ``mean_i w_i (E|X - y_i| - 0.5 E|X - X'|)``, the energy score of one variable.

    Both expectations over the empirical draws (V-statistic). A point mass
    at ``x`` scores ``|x - y|``.
    """
    truth = np.asarray(truth, dtype=np.float64)
    return energy_score(draws, truth, _weights(weights, truth.shape[0]))


def weighted_cdf_distances(a: np.ndarray, wa: np.ndarray, b: np.ndarray, wb: np.ndarray) -> tuple[float, float]:
    """Kolmogorov-Smirnov ``sup_x |F_a(x) - F_b(x)|`` and Wasserstein-1
    ``integral |F_a(x) - F_b(x)| dx`` (scipy's) between two weighted empirical CDFs."""
    grid = np.union1d(a, b)
    oa, ob = np.argsort(a, kind="stable"), np.argsort(b, kind="stable")
    ca = np.concatenate([[0.0], np.cumsum(wa[oa])]) / wa.sum()
    cb = np.concatenate([[0.0], np.cumsum(wb[ob])]) / wb.sum()
    Fa = ca[np.searchsorted(a[oa], grid, side="right")]
    Fb = cb[np.searchsorted(b[ob], grid, side="right")]
    ks = float(np.abs(Fa - Fb).max()) if grid.size else 0.0
    return ks, float(wasserstein_distance(a, b, wa, wb))


def top_decile_share(x: np.ndarray, w: np.ndarray) -> float:
    """Share of the weighted total ``sum w x`` held by the top 10% of weight, units ranked by ``x``.

    The unit straddling the 90th weighted percentile counts with the part of
    its weight above it, so the share is exact for weighted data.
    """
    order = np.argsort(x, kind="stable")
    xs, ws = x[order], w[order]
    total = float((ws * xs).sum())
    if total == 0:
        return float("nan")
    cum = np.cumsum(ws)
    cut = 0.9 * cum[-1]
    above = np.clip(cum - np.maximum(cum - ws, cut), 0, None)  # weight of each unit above the cut
    return float((above * xs).sum() / total)


def weighted_ranks(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Weighted mid-ranks: ``F(x-) + w_x / 2`` in weight units (ties share one rank)."""
    order = np.argsort(x, kind="stable")
    xs, ws = x[order], w[order]
    uniq, start = np.unique(xs, return_index=True)
    group_w = np.add.reduceat(ws, start)
    below = np.concatenate([[0.0], np.cumsum(group_w)[:-1]])
    mid = below + group_w / 2
    out = np.empty_like(x, dtype=np.float64)
    out[order] = mid[np.searchsorted(uniq, xs)]
    return out


def weighted_spearman(columns: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Spearman matrix of ``columns`` (n, p): weighted Pearson correlation of weighted mid-ranks."""
    R = np.column_stack([weighted_ranks(columns[:, j], w) for j in range(columns.shape[1])])
    mu = np.average(R, axis=0, weights=w)
    Z = R - mu
    cov = (Z * w[:, None]).T @ Z / w.sum()
    sd = np.sqrt(np.diag(cov))
    with np.errstate(invalid="ignore", divide="ignore"):
        return cov / np.outer(sd, sd)


# ---------------------------------------------------------------------------- per variable
def total_log_se(y: np.ndarray, w: np.ndarray) -> float:
    """Sampling standard error of the log of the held-out weighted total (linearised, rows drawn with
    replacement): how far an imputed total may differ from the held-out one by the held-out rows' luck.
    For heavy-tailed amounts on a few thousand rows it is 0.1 and more."""
    if len(y) < 2:
        return float("nan")
    total, var = weighted_total(y, w)
    return float(np.sqrt(var) / abs(total)) if total != 0 else float("nan")


def numeric_metrics(draws: np.ndarray, truth: np.ndarray, w: np.ndarray, mu: float, sd: float,
                    levels: Sequence[float] = QUANTILE_GRID, seed: int = 0) -> dict[str, Any]:
    """Scores and marginal fidelity of one numeric variable (see the module and docs/evaluation.md)."""
    m, n = draws.shape
    pit = randomised_pit(draws, truth, seed=seed)
    hist = np.histogram(pit, bins=PIT_BINS, range=(0.0, 1.0), weights=w)[0] / w.sum()
    pooled, wp = draws.ravel(), np.tile(w / m, m)
    ks, w1 = weighted_cdf_distances((pooled - mu) / sd, wp, (truth - mu) / sd, w)
    true_total = float((w * truth).sum())
    draw_totals = draws @ w
    tds_true = top_decile_share(truth, w)
    shares = [s for s in (top_decile_share(draws[d], w) for d in range(m)) if np.isfinite(s)]  # all-zero draws: undefined
    tds_imp = float(np.mean(shares)) if shares else float("nan")
    zero_imp, zero_true = _wmean((draws == 0).mean(axis=0), w), _wmean((truth == 0).astype(float), w)
    out = {
        "kind": "numeric",
        "pinball": pinball_loss(draws, truth, tuple(levels), w),
        "pinball_std": pinball_loss(draws / sd, truth / sd, tuple(levels), w),
        "crps": crps(draws, truth, w),
        "crps_std": crps(draws / sd, truth / sd, w),
        "coverage50": _wmean(((pit >= 0.25) & (pit <= 0.75)).astype(float), w),
        "coverage90": _wmean(((pit >= 0.05) & (pit <= 0.95)).astype(float), w),
        "pit_histogram": hist.tolist(),
        "ks": ks,
        "wasserstein_std": w1,
        "zero_share_imputed": zero_imp,
        "zero_share_true": zero_true,
        "zero_share_diff": abs(zero_imp - zero_true),
        "total_imputed": float(draw_totals.mean()),
        "total_true": true_total,
        "total_ratio": float(draw_totals.mean() / true_total) if true_total != 0 else float("nan"),
        "total_log_se": total_log_se(truth, w),
        "top10_share_imputed": tds_imp,
        "top10_share_true": tds_true,
        "top10_share_diff": abs(tds_imp - tds_true),
    }
    return {k: (_finite(v) if isinstance(v, float) else v) for k, v in out.items()}


def categorical_metrics(draws: np.ndarray, truth: np.ndarray, w: np.ndarray, levels: Sequence[Any]) -> dict[str, Any]:
    """Accuracy and Brier score of one discrete variable from draw frequencies.

    ``p_il`` = share of row i's draws equal to level l. ``accuracy`` =
    mean_i w_i p_i,y_i (expected hit rate of one draw); ``mode_accuracy``
    uses the most frequent draw; ``brier`` = mean_i w_i sum_l (p_il - 1[y_i = l])^2.
    """
    levels = list(levels)
    truth = np.asarray(truth, dtype=object)
    draws = np.asarray(draws, dtype=object)
    P = np.stack([(draws == lv).mean(axis=0) for lv in levels], axis=1)  # (n, L)
    Y = np.stack([(truth == lv) for lv in levels], axis=1).astype(float)
    hit = (P * Y).sum(axis=1)
    mode_hit = Y[np.arange(len(truth)), P.argmax(axis=1)]
    imp_share, true_share = (w @ P) / w.sum(), (w @ Y) / w.sum()
    return {
        "kind": "categorical",
        "accuracy": _wmean(hit, w),
        "mode_accuracy": _wmean(mode_hit, w),
        "brier": _wmean(((P - Y) ** 2).sum(axis=1), w),
        "level_share_imputed": {str(lv): float(s) for lv, s in zip(levels, imp_share)},
        "level_share_true": {str(lv): float(s) for lv, s in zip(levels, true_share)},
        "total_variation": float(0.5 * np.abs(imp_share - true_share).sum()),
    }


# ---------------------------------------------------------------------------- the block
def score_block(
    draws: Mapping[str, np.ndarray] | pd.DataFrame,
    truth: pd.DataFrame,
    variables: Sequence[Variable],
    *,
    weights: Any = None,
    reference: pd.DataFrame | None = None,
    reference_weights: Any = None,
    constraints: ConstraintSet | Sequence[str] | None = None,
    predictors: Sequence[str] = (),
    levels: Sequence[float] = QUANTILE_GRID,
    seed: int = 0,
) -> dict[str, Any]:
    """All metrics of one method's draws on one set of rows.

    ``reference`` (the donor / training block, weighted by
    ``reference_weights``) fixes the standardisation ``(x - mean) / sd`` of
    numeric variables; without it the truth is used. The energy score is
    over the standardised numeric variables plus a 0/1 indicator per level of
    each discrete variable.
    """
    names = [v.name for v in variables]
    if isinstance(draws, pd.DataFrame):
        draws = draws_from_long(draws, names)
    n = len(truth)
    w = _weights(weights, n)
    ref = truth if reference is None else reference
    rw = None if reference is None else reference_weights
    per: dict[str, Any] = {}
    cols_d, cols_t = [], []
    for j, v in enumerate(variables):
        D = np.asarray(draws[v.name])
        if v.kind.is_discrete:
            lv = list(v.levels) if v.levels is not None else sorted(pd.unique(np.concatenate([D.ravel(), truth[v.name].to_numpy()])), key=str)
            per[v.name] = categorical_metrics(D, truth[v.name].to_numpy(), w, lv)
            for level in lv:
                cols_d.append((D == level).astype(np.float64))
                cols_t.append((truth[v.name].to_numpy() == level).astype(np.float64))
        else:
            D = D.astype(np.float64)
            t = truth[v.name].to_numpy(dtype=np.float64)
            r = ref[v.name].to_numpy(dtype=np.float64)
            Dz, tz = standardise(D[..., None], t[:, None], r[:, None], None if rw is None else np.asarray(rw, float))
            mu = float(np.average(r, weights=rw))
            sd = float(np.sqrt(np.average((r - mu) ** 2, weights=rw))) or 1.0
            per[v.name] = numeric_metrics(D, t, w, mu, sd, levels, seed=seed + j)
            cols_d.append(Dz[..., 0])
            cols_t.append(tz[:, 0])
    es = energy_score(np.stack(cols_d, axis=2), np.stack(cols_t, axis=1), w)
    overall: dict[str, Any] = {"energy_score": es, "rows": n, "draws": int(np.asarray(draws[names[0]]).shape[0])}
    numeric = [p for p in per.values() if p["kind"] == "numeric"]
    if numeric:
        for key in ("crps_std", "pinball_std", "coverage50", "coverage90", "ks", "wasserstein_std", "zero_share_diff",
                    "top10_share_diff"):
            vals = [p[key] for p in numeric if p[key] is not None]
            overall[key] = float(np.mean(vals)) if vals else None
        ratios = [abs(math.log(p["total_ratio"])) for p in numeric if p["total_ratio"] and p["total_ratio"] > 0]
        overall["abs_log_total_ratio"] = float(np.mean(ratios)) if ratios else None
    cats = [p for p in per.values() if p["kind"] == "categorical"]
    if cats:
        overall["accuracy"] = float(np.mean([p["accuracy"] for p in cats]))
        overall["brier"] = float(np.mean([p["brier"] for p in cats]))
    corr = correlation_preservation(draws, truth, variables, predictors, w)
    if corr is not None:
        overall["correlation_mad"] = corr["mean_abs_diff"]
    masks = violation_masks(draws, truth, constraints)
    overall["constraint_violations"] = {text: float(mask.mean()) for text, mask in masks.items()}
    overall["violation_share"] = float(np.logical_or.reduce(list(masks.values())).mean()) if masks else 0.0
    return {"variables": per, "overall": {k: (_finite(x) if isinstance(x, float) else x) for k, x in overall.items()},
            "correlation": corr}


def correlation_preservation(draws: Mapping[str, np.ndarray], truth: pd.DataFrame, variables: Sequence[Variable],
                             predictors: Sequence[str], w: np.ndarray) -> dict[str, Any] | None:
    """Weighted Spearman matrices among numeric predictors and the numeric
    block, true vs imputed (averaged over draws); ``mean_abs_diff`` is the
    mean ``|rho_imp - rho_true|`` over pairs involving a block variable."""
    block = [v.name for v in variables if not v.kind.is_discrete]
    preds = [c for c in predictors if c in truth.columns and pd.api.types.is_numeric_dtype(truth[c])]
    names = preds + block
    if not block or len(names) < 2:
        return None
    P = truth[preds].to_numpy(dtype=np.float64) if preds else np.zeros((len(truth), 0))
    true_m = weighted_spearman(np.column_stack([P, truth[block].to_numpy(dtype=np.float64)]), w)
    m = np.asarray(draws[block[0]]).shape[0]
    imp_m = np.mean([weighted_spearman(np.column_stack([P] + [np.asarray(draws[b][d], dtype=np.float64) for b in block]), w)
                     for d in range(m)], axis=0)
    mask = np.zeros_like(true_m, dtype=bool)
    mask[len(preds):, :] = True
    mask[:, len(preds):] = True
    np.fill_diagonal(mask, False)
    diff = np.abs(imp_m - true_m)[mask]
    diff = diff[np.isfinite(diff)]
    clean = lambda a: [[_finite(x) for x in row] for row in a]  # noqa: E731
    return {"names": names, "true": clean(true_m), "imputed": clean(imp_m),
            "mean_abs_diff": float(diff.mean()) if diff.size else None}


def violation_masks(draws: Mapping[str, np.ndarray], truth: pd.DataFrame,
                    constraints: ConstraintSet | Sequence[str] | None) -> dict[str, np.ndarray]:
    """Per constraint, which (draw, row) records break it (predictors from ``truth``), draw-major."""
    cs = constraints if isinstance(constraints, ConstraintSet) else ConstraintSet(list(constraints or []))
    if not len(cs):
        return {}
    m = np.asarray(next(iter(draws.values()))).shape[0]
    data: dict[str, Any] = {c: np.tile(truth[c].to_numpy(), m) for c in truth.columns if c not in draws}
    data.update({k: np.asarray(v).ravel() for k, v in draws.items()})
    return {c.text: np.asarray(ConstraintSet([c.text]).violations(data)[c.text], dtype=bool)
            for c in cs if c.columns <= set(data)}


def constraint_violations(draws: Mapping[str, np.ndarray], truth: pd.DataFrame,
                          constraints: ConstraintSet | Sequence[str] | None, n: int | None = None) -> dict[str, float]:
    """Share of (row, draw) records breaking each constraint (predictors from ``truth``).

    The shares of several constraints may overlap: ``score_block``'s
    ``violation_share`` is the share breaking at least one.
    """
    return {text: float(mask.mean()) for text, mask in violation_masks(draws, truth, constraints).items()}


__all__ = ["QUANTILE_GRID", "crps", "draws_from_long", "score_block", "numeric_metrics", "categorical_metrics",
           "correlation_preservation", "constraint_violations", "violation_masks", "weighted_cdf_distances", "top_decile_share",
           "weighted_spearman", "weighted_ranks"]
