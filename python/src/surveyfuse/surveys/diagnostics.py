"""Common-support diagnostics: does the donor cover the recipient?

Before imputing across surveys, compare the predictors' weighted
distributions side by side and find recipient rows the donor cannot speak
for. A recipient row is *off support* when

* ``out_of_range``: a numeric predictor lies outside the donor's observed range;
* ``unseen_category``: a categorical predictor has a level the donor never has;
* ``sparse``: within its cell of low-cardinality categorical predictors (at
  most ``MAX_CELL_LEVELS`` levels each), its distance to the ``k``-th nearest
  donor in rank-scaled numeric predictors exceeds the 99th percentile of the
  same distance among donors (or the cell has fewer than ``k`` donors).

Standardised mean difference: ``(mean_r - mean_d) / sqrt((var_r + var_d) / 2)``,
weighted; |SMD| > 0.1 is the usual flag for imbalance. For categoricals the
total-variation distance ``0.5 * sum |p_r - p_d|`` plays that role.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.neighbors import KDTree

from ..data.features import FeatureEncoder, Features

MAX_CELL_LEVELS = 12
DEFAULT_K = 5
WARN_SHARE = 0.05
SMD_FLAG = 0.1


def _wstats(x: np.ndarray, w: np.ndarray) -> dict[str, float]:
    ok = ~np.isnan(x)
    x, w = x[ok], w[ok]
    if x.size == 0 or w.sum() <= 0:
        return {"mean": float("nan"), "sd": float("nan"), "p10": float("nan"), "p50": float("nan"), "p90": float("nan"),
                "min": float("nan"), "max": float("nan"), "share_zero": float("nan"), "share_missing": 1.0}
    mean = float(np.average(x, weights=w))
    var = float(np.average((x - mean) ** 2, weights=w))
    order = np.argsort(x, kind="stable")
    cw = np.cumsum(w[order]) / w.sum()
    q = lambda p: float(x[order][min(np.searchsorted(cw, p), x.size - 1)])  # noqa: E731
    return {"mean": mean, "sd": var ** 0.5, "p10": q(0.1), "p50": q(0.5), "p90": q(0.9),
            "min": float(x.min()), "max": float(x.max()), "share_zero": float(np.average(x == 0, weights=w)),
            "share_missing": float(1 - ok.mean())}


class SupportModel:
    """Learns the donor's support; flags recipient rows outside it."""

    def __init__(self, k: int = DEFAULT_K) -> None:
        self.k = k

    def fit(self, X: Features) -> "SupportModel":
        enc = X.encoder
        self.cell_columns_ = np.array([j for j, v in enumerate(enc.categorical_) if v.n_levels <= MAX_CELL_LEVELS], dtype=np.int64)
        self.points_ = self._points(X)
        self.cells_ = self._cells(X)
        self.lower_ = np.array([v.lower if v.lower is not None else -np.inf for v in enc.numeric_], dtype=np.float64)
        self.upper_ = np.array([v.upper if v.upper is not None else np.inf for v in enc.numeric_], dtype=np.float64)
        self._build()
        # donors' own k-th neighbour distance (self excluded) sets the threshold
        own = []
        for key, (idx, tree) in self._trees.items():
            if idx.size > self.k:
                d, _ = tree.query(self.points_[idx], k=self.k + 1)
                own.append(d[:, -1])
        self.threshold_ = float(np.quantile(np.concatenate(own), 0.99)) if own else np.inf
        return self

    def _points(self, X: Features) -> np.ndarray:
        enc = X.encoder
        num = X.numeric.copy()
        for j in range(num.shape[1]):
            col = num[:, j]
            col[np.isnan(col)] = enc.medians_[j]
            num[:, j] = enc.rank(j, col)
        return num if num.shape[1] else np.zeros((len(X), 1))

    def _cells(self, X: Features) -> np.ndarray:
        codes = X.codes[:, self.cell_columns_] if self.cell_columns_.size else np.zeros((len(X), 0), np.int64)
        # one integer key per cell combination (codes are small)
        key = np.zeros(len(X), dtype=np.int64)
        for j in range(codes.shape[1]):
            key = key * (MAX_CELL_LEVELS + 2) + (codes[:, j] + 1)
        return key

    def _build(self) -> None:
        self._trees: dict[int, tuple[np.ndarray, KDTree]] = {}
        for key in np.unique(self.cells_):
            idx = np.flatnonzero(self.cells_ == key)
            self._trees[int(key)] = (idx, KDTree(self.points_[idx]))

    def flags(self, X: Features) -> pd.DataFrame:
        """Boolean columns out_of_range, unseen_category, sparse and off_support, one row per recipient row."""
        n = len(X)
        num = X.numeric
        with np.errstate(invalid="ignore"):
            out_of_range = ((num < self.lower_[None, :]) | (num > self.upper_[None, :])).any(axis=1) if num.shape[1] else np.zeros(n, bool)
        unseen = X.unseen.any(axis=1) if X.unseen.shape[1] else np.zeros(n, bool)
        points = self._points(X)
        cells = self._cells(X)
        sparse = np.ones(n, bool)
        for key in np.unique(cells):
            rows = np.flatnonzero(cells == key)
            entry = self._trees.get(int(key))
            if entry is None or entry[0].size < self.k:
                continue
            d, _ = entry[1].query(points[rows], k=self.k)
            sparse[rows] = d[:, -1] > self.threshold_
        return pd.DataFrame({
            "out_of_range": out_of_range, "unseen_category": unseen, "sparse": sparse,
            "off_support": out_of_range | unseen | sparse,
        })

    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return {"k": self.k, "threshold": self.threshold_}, {
            "cell_columns": self.cell_columns_, "points": self.points_, "cells": self.cells_,
            "lower": self.lower_, "upper": self.upper_,
        }

    @classmethod
    def from_state(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> "SupportModel":
        self = cls(meta["k"])
        self.threshold_ = float(meta["threshold"])
        for k in ("cell_columns", "points", "cells", "lower", "upper"):
            setattr(self, k + "_", arrays[k])
        self._build()
        return self


@dataclass
class Diagnostics:
    """Side-by-side predictor distributions and off-support shares."""

    numeric: pd.DataFrame
    categorical: pd.DataFrame
    support: dict[str, float]
    warnings: list[str] = field(default_factory=list)
    flags: pd.DataFrame | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "numeric": self.numeric.reset_index().to_dict(orient="records"),
            "categorical": self.categorical.to_dict(orient="records"),
            "support": self.support,
            "warnings": self.warnings,
        }

    def to_text(self) -> str:
        lines = ["Common support: donor vs recipient (weighted)", ""]
        if len(self.numeric):
            lines.append(f"{'predictor':<14}{'donor mean':>13}{'recip mean':>13}{'SMD':>8}{'outside range':>15}")
            for name, r in self.numeric.iterrows():
                flag = " *" if abs(r["smd"]) > SMD_FLAG else ""
                lines.append(f"{name:<14}{r['donor_mean']:>13.4g}{r['recipient_mean']:>13.4g}{r['smd']:>8.3f}{r['share_outside_range']:>14.1%}{flag}")
        if len(self.categorical):
            lines.append("")
            lines.append(f"{'predictor':<14}{'TV distance':>12}{'unseen share':>14}")
            for name, g in self.categorical.groupby("predictor", sort=False):
                lines.append(f"{name:<14}{g['tv_distance'].iloc[0]:>12.3f}{g['unseen_share'].iloc[0]:>13.1%}")
        s = self.support
        lines += ["", f"recipient rows off support: {s['share_off_support']:.1%} "
                      f"(out of range {s['share_out_of_range']:.1%}, unseen category {s['share_unseen_category']:.1%}, "
                      f"sparse donors {s['share_sparse']:.1%})"]
        lines += [f"warning: {w}" for w in self.warnings]
        return "\n".join(lines)


def diagnose(
    donor: pd.DataFrame,
    recipient: pd.DataFrame,
    predictors: list[str],
    *,
    categorical: list[str] | None = None,
    donor_weights: np.ndarray | None = None,
    recipient_weights: np.ndarray | None = None,
    k: int = DEFAULT_K,
    warn_share: float = WARN_SHARE,
) -> Diagnostics:
    """Compare donor and recipient predictors (both already harmonised): common support.

    Parameters
    ----------
    donor, recipient : DataFrame
        The two surveys, in the shared predictor vocabulary.
    predictors : list of str
        Columns to compare.
    categorical : list of str, optional
        Predictors to treat as categorical.
    donor_weights, recipient_weights : array, optional
        Survey weights (one per row).
    k : int
        Neighbours for the "sparse" check (see the module docstring).
    warn_share : float
        Warn when more than this share of the recipient is off support.

    Returns
    -------
    Diagnostics
        ``numeric`` and ``categorical`` tables (weighted statistics, SMD,
        total-variation distance), ``support`` shares, ``warnings``,
        per-row ``flags``; ``to_text()`` and ``to_dict()``.

    Examples
    --------
    >>> import surveyfuse as sf
    >>> donor, recipient = sf.datasets.make_surveys(n_donor=400, n_recipient=100, seed=0)
    >>> older = recipient.assign(age=recipient["age"] + 15)        # a recipient older than the donor
    >>> d = sf.diagnose(donor, older, ["age", "wage"])
    >>> bool(d.numeric.loc["age", "smd"] > 0.1), d.support["share_out_of_range"] > 0
    (True, True)
    """
    wd = np.ones(len(donor)) if donor_weights is None else np.asarray(donor_weights, float)
    wr = np.ones(len(recipient)) if recipient_weights is None else np.asarray(recipient_weights, float)
    enc = FeatureEncoder(predictors, categorical).fit(donor)
    Xd, Xr = enc.transform(donor), enc.transform(recipient)
    rows = []
    for j, v in enumerate(enc.numeric_):
        sd, sr = _wstats(Xd.numeric[:, j], wd), _wstats(Xr.numeric[:, j], wr)
        pooled = np.sqrt((sd["sd"] ** 2 + sr["sd"] ** 2) / 2)
        col = Xr.numeric[:, j]
        with np.errstate(invalid="ignore"):
            outside = float(np.average((col < sd["min"]) | (col > sd["max"]), weights=wr))
        rows.append({"predictor": v.name, **{f"donor_{k_}": x for k_, x in sd.items()},
                     **{f"recipient_{k_}": x for k_, x in sr.items()},
                     "smd": float((sr["mean"] - sd["mean"]) / pooled) if pooled > 0 else 0.0,
                     "share_outside_range": outside})
    numeric = pd.DataFrame(rows).set_index("predictor") if rows else pd.DataFrame(columns=["smd"])
    cats = []
    for j, v in enumerate(enc.categorical_):
        cd, cr = Xd.codes[:, j], Xr.codes[:, j]
        unseen = float(np.average(Xr.unseen[:, j], weights=wr))
        pd_ = np.array([wd[cd == i].sum() for i in range(v.n_levels)]) / wd.sum()
        pr = np.array([wr[cr == i].sum() for i in range(v.n_levels)]) / wr.sum()
        tv = 0.5 * (np.abs(pr - pd_).sum() + unseen)
        for i, level in enumerate(v.levels or ()):
            cats.append({"predictor": v.name, "level": str(level), "donor_share": float(pd_[i]),
                         "recipient_share": float(pr[i]), "tv_distance": float(tv), "unseen_share": unseen})
    categorical_df = pd.DataFrame(cats, columns=["predictor", "level", "donor_share", "recipient_share", "tv_distance", "unseen_share"])
    flags = SupportModel(k).fit(Xd).flags(Xr)
    share = {f"share_{c}": float(np.average(flags[c], weights=wr)) for c in flags.columns}
    share["rows_off_support"] = int(flags["off_support"].sum())
    warnings = []
    if share["share_off_support"] > warn_share:
        warnings.append(f"{share['share_off_support']:.1%} of recipient rows (weighted) are off the donor's support "
                        f"(threshold {warn_share:.0%}); their imputations extrapolate")
    for name, r in numeric.iterrows():
        if abs(r["smd"]) > SMD_FLAG:
            warnings.append(f"predictor '{name}' differs between surveys: standardised mean difference {r['smd']:.2f}")
    return Diagnostics(numeric, categorical_df, share, warnings, flags)
