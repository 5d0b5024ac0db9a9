"""Predictor features: how recipient and donor predictors reach a backend.

Defined behaviour (documented in docs/data.md):

* missing numeric predictor: kept as NaN in :attr:`Features.numeric`; design
  matrices fill it with the donor median and add a 0/1 missing indicator for
  every predictor that had missing values in the donor;
* missing or unseen category: code -1, which design matrices give as an
  all-zero one-hot row ("no information"), or as its own ordinal code;
* constant predictor: kept (harmless), never divides by zero when scaled;
* extreme values: ``scale="rank"`` maps numbers through the donor's empirical
  CDF, so a recipient value beyond the donor's range sits at 0 or 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from .types import Kind, Variable, encode_discrete, infer_variable, numeric_values

N_QUANTILES = 1001


@dataclass
class Features:
    """Encoded predictors of one table: numbers (NaN = missing) and category codes."""

    numeric: np.ndarray  # (n, p_num) float64
    codes: np.ndarray  # (n, p_cat) int64, -1 = missing or unseen
    encoder: "FeatureEncoder"
    unseen: np.ndarray | None = None  # (n, p_cat) bool: a value the donor never had

    def __post_init__(self) -> None:
        if self.unseen is None:
            self.unseen = np.zeros(self.codes.shape, dtype=bool)

    def __len__(self) -> int:
        return self.numeric.shape[0]

    def take(self, index: np.ndarray) -> "Features":
        return Features(self.numeric[index], self.codes[index], self.encoder, self.unseen[index])

    def design(
        self,
        categorical: Literal["onehot", "ordinal"] = "onehot",
        scale: Literal["rank", "normal", "none"] = "rank",
    ) -> np.ndarray:
        """A dense float matrix for a model.

        ``rank`` maps numbers to (0, 1) through the donor's ECDF, ``normal`` to
        standard-normal scores of that, ``none`` leaves them. Missing numbers
        become the donor median plus indicator columns.
        """
        enc = self.encoder
        parts: list[np.ndarray] = []
        num = self.numeric.copy()
        for j in range(num.shape[1]):
            col = num[:, j]
            miss = np.isnan(col)
            col[miss] = enc.medians_[j]
            if scale != "none":
                col = enc.rank(j, col)
                if scale == "normal":
                    from scipy.special import ndtri

                    col = ndtri(np.clip(col, 1e-4, 1 - 1e-4))
            num[:, j] = col
        parts.append(num)
        if enc.missing_indicator_.any():
            parts.append(np.isnan(self.numeric[:, enc.missing_indicator_]).astype(np.float64))
        for j, var in enumerate(enc.categorical_):
            c = self.codes[:, j]
            if categorical == "onehot":
                onehot = np.zeros((len(c), var.n_levels), dtype=np.float64)
                ok = c >= 0
                onehot[np.flatnonzero(ok), c[ok]] = 1.0
                parts.append(onehot)
            else:
                parts.append(c.astype(np.float64)[:, None])
        return np.hstack(parts) if parts else np.zeros((len(self), 0))

    def design_names(self, categorical: Literal["onehot", "ordinal"] = "onehot") -> list[str]:
        enc = self.encoder
        names = [v.name for v in enc.numeric_]
        names += [f"{v.name}__missing" for v, m in zip(enc.numeric_, enc.missing_indicator_) if m]
        for var in enc.categorical_:
            if categorical == "onehot":
                names += [f"{var.name}=={lvl}" for lvl in var.levels or ()]
            else:
                names.append(var.name)
        return names


class FeatureEncoder:
    """Learns predictor types, medians, ECDFs and levels from the donor."""

    def __init__(self, predictors: list[str], categorical: list[str] | None = None) -> None:
        self.predictors = list(predictors)
        self.categorical = list(categorical or [])

    def fit(self, frame: pd.DataFrame) -> "FeatureEncoder":
        self.variables_: list[Variable] = [
            infer_variable(frame[c], categorical=c in self.categorical) for c in self.predictors
        ]
        self.numeric_ = [v for v in self.variables_ if v.kind != Kind.CATEGORICAL]
        self.categorical_ = [v for v in self.variables_ if v.kind == Kind.CATEGORICAL]
        num = self._numeric(frame)
        self.medians_ = np.array(
            [np.nanmedian(c) if np.isfinite(c).any() else 0.0 for c in num.T], dtype=np.float64
        )
        self.missing_indicator_ = np.isnan(num).any(axis=0) if num.size else np.zeros(0, bool)
        probs = np.linspace(0, 1, N_QUANTILES)
        self.quantiles_ = np.vstack(
            [np.nanquantile(c, probs) if np.isfinite(c).any() else np.zeros(N_QUANTILES) for c in num.T]
        ) if num.shape[1] else np.zeros((0, N_QUANTILES))
        return self

    def transform(self, frame: pd.DataFrame) -> Features:
        num = self._numeric(frame)
        codes = np.column_stack(
            [encode_discrete(frame[v.name], v) for v in self.categorical_]
        ) if self.categorical_ else np.zeros((len(frame), 0), dtype=np.int64)
        codes = codes.astype(np.int64)
        present = np.column_stack([frame[v.name].notna().to_numpy() for v in self.categorical_]) if self.categorical_ else np.zeros(codes.shape, bool)
        return Features(num, codes, self, (codes < 0) & present)

    def rank(self, j: int, values: np.ndarray) -> np.ndarray:
        """Position of values in the donor's distribution of numeric predictor j, in [0, 1]."""
        q = self.quantiles_[j]
        if q[-1] <= q[0]:
            return np.full_like(values, 0.5)
        # mid-rank: ties (e.g. many zeros) sit in the middle of their mass
        lo = np.searchsorted(q, values, side="left")
        hi = np.searchsorted(q, values, side="right")
        return 0.5 * (lo + hi) / q.size

    def _numeric(self, frame: pd.DataFrame) -> np.ndarray:
        if not self.numeric_:
            return np.zeros((len(frame), 0))
        return np.column_stack(
            [numeric_values(frame[v.name], role="predictor") for v in self.numeric_]
        )

    # persistence -----------------------------------------------------------
    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        meta = {
            "predictors": self.predictors,
            "categorical": self.categorical,
            "variables": [v.to_json() for v in self.variables_],
        }
        arrays = {
            "medians": self.medians_,
            "missing_indicator": self.missing_indicator_.astype(np.int8),
            "quantiles": self.quantiles_,
        }
        return meta, arrays

    @classmethod
    def from_state(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> "FeatureEncoder":
        enc = cls(meta["predictors"], meta["categorical"])
        enc.variables_ = [Variable.from_json(v) for v in meta["variables"]]
        enc.numeric_ = [v for v in enc.variables_ if v.kind != Kind.CATEGORICAL]
        enc.categorical_ = [v for v in enc.variables_ if v.kind == Kind.CATEGORICAL]
        enc.medians_ = np.asarray(arrays["medians"], dtype=np.float64)
        enc.missing_indicator_ = np.asarray(arrays["missing_indicator"]).astype(bool)
        enc.quantiles_ = np.asarray(arrays["quantiles"], dtype=np.float64)
        return enc
