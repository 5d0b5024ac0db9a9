"""Block encoder: mixed survey variables <-> a flat vector a neural net can model.

Each block column becomes one or two *segments* of the encoded vector:

* discrete (binary / categorical, codes 0..L-1) and count variables: one
  softmax segment (a count's levels are its observed values, so draws stay on
  them);
* numeric variables: an optional *mode* softmax segment whose classes are the
  column's point masses (exact zeros of a zero-inflated income, the 0 and 1 of
  a share, any value holding >= ``mass_min_share`` of the weight when
  ``point_masses`` is on) plus one "continuous" class, followed by one
  continuous slot holding the non-mass values after a transform:

  - ``quantile``: weighted empirical CDF then the standard-normal quantile,
    which turns a long-tailed, signed or bounded variable into N(0, 1) and
    whose inverse never leaves the donor's range. With ``tail_modes`` the
    non-mass values are also cut into up to five quantile bins, the top ones
    narrow (e.g. the 0-50-80-95-100 % ranges), and each bin is one more class
    of the mode segment, the slot holding the normal score *within* the bin:
    how often a recipient lands in the top 5 % of a money variable is then a
    class probability, learned by cross-entropy, instead of the far tail of a
    Gaussian. The number of bins grows with the donor (``tail_bin_edges``), so
    every bin keeps at least ``MIN_BIN_ROWS`` values. Off by default: on the
    CPS blocks it helped one block and hurt or left the others (results/deep.md);
  - ``log``: ``sign(y) * log1p(|y|)`` standardised (sign handling for signed
    variables), inverse clipped to the donor's range of the values the
    continuous mode models (point masses such as an exact zero left out).

The continuous slot of a row whose mode is a point mass carries no
information; :meth:`BlockEncoder.transform` sets it to 0 and returns a mask so
likelihood-based models can leave it out of their loss.

The encoder is fitted on the donor with its sampling weights; the inverse
takes sampled vectors (one-hot segments) back to Y coding.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from scipy.special import ndtr, ndtri

N_GRID = 1001
U_CLIP = 1e-4
#: quantile-bin edges (within a column's non-mass values) by number of bins; the top bins are narrow
BIN_EDGES = {
    1: (0.0, 1.0),
    2: (0.0, 0.8, 1.0),
    3: (0.0, 0.6, 0.9, 1.0),
    4: (0.0, 0.5, 0.8, 0.95, 1.0),
    5: (0.0, 0.4, 0.7, 0.9, 0.97, 1.0),
}
#: fewest donor values a tail bin may hold
MIN_BIN_ROWS = 25


def tail_bin_edges(n_values: int, max_bins: int = 5) -> list[float]:
    """The most bins whose narrowest still holds ``MIN_BIN_ROWS`` of ``n_values`` values."""
    for b in range(min(max_bins, max(BIN_EDGES)), 1, -1):
        edges = BIN_EDGES[b]
        if min(np.diff(edges)) * n_values >= MIN_BIN_ROWS:
            return list(edges)
    return list(BIN_EDGES[1])


@dataclass
class ColumnSpec:
    """What the encoder needs to know about one model column.

    ``kind`` is "discrete" (codes 0..n_levels-1), "count" (few whole numbers)
    or "numeric"; ``share`` marks a numeric column in [0, 1] made by the
    constraint layer, whose ends are always candidate point masses.
    """

    name: str
    kind: str
    n_levels: int = 0
    integer: bool = False
    lower: float | None = None
    upper: float | None = None
    zero_mass: bool = False
    share: bool = False


@dataclass
class _Fitted:
    """Per-column fitted parameters (JSON-able except the quantile grid)."""

    levels: list[float] = field(default_factory=list)  # count values, or discrete codes
    masses: list[float] = field(default_factory=list)  # point-mass values of a numeric column
    has_cont: bool = True
    transform: str = "quantile"
    mu: float = 0.0
    sd: float = 1.0
    lower: float = 0.0
    upper: float = 0.0
    bins: list[float] = field(default_factory=lambda: [0.0, 1.0])  # ECDF edges of the tail modes


def weighted_quantiles(values: np.ndarray, weights: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """Quantiles of the weighted empirical distribution (mid-point plotting positions)."""
    order = np.argsort(values, kind="stable")
    v, w = values[order], weights[order]
    cw = (np.cumsum(w) - 0.5 * w) / w.sum()
    return np.interp(probs, cw, v)


class BlockEncoder:
    """Fitted transform of a block's model columns; see the module docstring.

    Parameters
    ----------
    transform : "quantile" or "log"
        How the continuous part of numeric columns is made near-normal.
    point_masses : bool
        Also model any value with at least ``mass_min_share`` of the weight as
        its own mode (CTAB-GAN+'s mixed modes); zeros of zero-inflated
        columns and the ends of shares are always modes.
    tail_modes : int
        At most this many quantile bins per numeric column as modes (1: none;
        ``quantile`` transform only).
    """

    def __init__(self, transform: str = "quantile", point_masses: bool = False, mass_min_share: float = 0.05,
                 max_masses: int = 4, tail_modes: int = 1) -> None:
        self.transform_kind = transform
        self.point_masses = point_masses
        self.mass_min_share = mass_min_share
        self.max_masses = max_masses
        self.tail_modes = int(tail_modes)

    # ------------------------------------------------------------------ fit
    def fit(self, Y: np.ndarray, specs: list[ColumnSpec], weights: np.ndarray | None = None) -> "BlockEncoder":
        Y = np.asarray(Y, dtype=np.float64)
        w = np.ones(len(Y)) if weights is None else np.asarray(weights, dtype=np.float64)
        self.specs = list(specs)
        self.fitted_: list[_Fitted] = []
        grids = []
        for j, spec in enumerate(specs):
            y = Y[:, j]
            f = _Fitted(transform=self.transform_kind)
            grid = np.zeros(N_GRID)
            if spec.kind == "discrete":
                f.levels = [float(i) for i in range(max(spec.n_levels, 1))]
                f.has_cont = False
            elif spec.kind == "count":
                f.levels = [float(v) for v in np.unique(y)]
                f.has_cont = False
            else:
                f.masses = self._find_masses(y, w, spec)
                rest = ~np.isin(y, f.masses)
                f.has_cont = bool(rest.sum() >= 2 and np.ptp(y[rest]) > 0)
                if not f.has_cont and rest.any():  # one or two stray values: make them masses too
                    f.masses = sorted(set(f.masses) | set(np.unique(y[rest]).tolist()))
                # the continuous mode stays within the values it models: a log-scale draw of a zero-inflated
                # amount never lands between its exact zero and its smallest positive value
                span = y[rest] if f.has_cont else y
                f.lower, f.upper = float(span.min()), float(span.max())
                if f.has_cont:
                    yr, wr = y[rest], w[rest]
                    grid = weighted_quantiles(yr, wr, np.linspace(0, 1, N_GRID))
                    s = _symlog(yr)
                    f.mu = float(np.average(s, weights=wr))
                    f.sd = float(np.sqrt(np.average((s - f.mu) ** 2, weights=wr))) or 1.0
                    if self.transform_kind == "quantile" and self.tail_modes > 1 and not spec.share:
                        f.bins = tail_bin_edges(int(np.unique(yr).size), self.tail_modes)
            self.fitted_.append(f)
            grids.append(grid)
        self.grids_ = np.vstack(grids) if grids else np.zeros((0, N_GRID))
        self._build_layout()
        return self

    def _find_masses(self, y: np.ndarray, w: np.ndarray, spec: ColumnSpec) -> list[float]:
        total = w.sum()
        masses: list[float] = []
        candidates: list[float] = []
        if spec.zero_mass or spec.share:
            candidates.append(0.0)
        if spec.share:
            candidates.append(1.0)
        for c in candidates:
            share = w[y == c].sum() / total
            if share >= (0.005 if spec.share else 1e-12) and share > 0:
                masses.append(c)
        if self.point_masses:
            values, inverse = np.unique(y, return_inverse=True)
            if values.size > 1:
                wsum = np.bincount(inverse, weights=w, minlength=values.size) / total
                big = np.argsort(-wsum)[: self.max_masses]
                for i in big:
                    if wsum[i] >= self.mass_min_share and float(values[i]) not in masses:
                        masses.append(float(values[i]))
        return sorted(masses)

    def _build_layout(self) -> None:
        """Positions of softmax segments and continuous slots in the encoded vector."""
        pos = 0
        self.cat_slices: list[tuple[int, int]] = []
        self.cont_index: list[int] = []
        self.cont_gate: list[int] = []  # for each cont slot: index in cat_slices of its mode segment, or -1
        self.cont_first: list[int] = []  # for each cont slot: the first class of its mode segment that is a value bin
        self.columns_: list[dict[str, Any]] = []
        for f in self.fitted_:
            col: dict[str, Any] = {"cat": -1, "cont": -1}
            n_modes = len(f.levels) if f.levels else len(f.masses) + (len(f.bins) - 1 if f.has_cont else 0)
            if f.levels or n_modes > 1 or (not f.has_cont):
                col["cat"] = len(self.cat_slices)
                self.cat_slices.append((pos, max(n_modes, 1)))
                pos += max(n_modes, 1)
            if f.has_cont:
                col["cont"] = len(self.cont_index)
                self.cont_index.append(pos)
                self.cont_gate.append(col["cat"])
                self.cont_first.append(len(f.masses))
                pos += 1
            self.columns_.append(col)
        self.dim = pos

    @property
    def layout(self) -> dict[str, Any]:
        return {"dim": self.dim, "cont": list(self.cont_index), "cat": [tuple(s) for s in self.cat_slices]}

    # ------------------------------------------------------------------ forward
    def transform(self, Y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Encoded (n, dim) float32 and the (n, n_cont) mask of active continuous slots."""
        Y = np.asarray(Y, dtype=np.float64)
        n = len(Y)
        V = np.zeros((n, self.dim), dtype=np.float64)
        mask = np.ones((n, len(self.cont_index)), dtype=np.float64)
        for j, (f, col) in enumerate(zip(self.fitted_, self.columns_)):
            y = Y[:, j]
            if f.levels:
                idx = _nearest_index(np.asarray(f.levels), y)
                start, _ = self.cat_slices[col["cat"]]
                V[np.arange(n), start + idx] = 1.0
                continue
            is_mass = np.zeros(n, dtype=bool)
            z = u = None
            if f.has_cont:
                z, u = self._forward_cont(j, y)
            if col["cat"] >= 0:
                start, width = self.cat_slices[col["cat"]]
                mode = np.zeros(n, dtype=np.int64)
                if f.has_cont:  # a value bin (the one "continuous" class unless tail_modes); the log transform has one
                    mode = len(f.masses) + (self._bin_of(f, u) if u is not None else mode)
                for m, value in enumerate(f.masses):
                    hit = np.isclose(y, value, rtol=0, atol=1e-12)
                    mode[hit] = m
                    is_mass |= hit
                if not f.has_cont:
                    mode = _nearest_index(np.asarray(f.masses), y)
                V[np.arange(n), start + mode] = 1.0
            if f.has_cont:
                k = col["cont"]
                z[is_mass] = 0.0
                V[:, self.cont_index[k]] = z
                mask[is_mass, k] = 0.0
        return V.astype(np.float32), mask.astype(np.float32)

    @staticmethod
    def _bin_of(f: _Fitted, u: np.ndarray) -> np.ndarray:
        return np.clip(np.searchsorted(np.asarray(f.bins), u, side="right") - 1, 0, len(f.bins) - 2)

    def _forward_cont(self, j: int, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(normal score of ``y`` within its tail bin, its ECDF value); the ECDF is None for ``log``."""
        f = self.fitted_[j]
        if f.transform == "log":
            return (_symlog(y) - f.mu) / f.sd, None
        grid = self.grids_[j]
        uq, first = np.unique(grid, return_index=True)
        last = np.r_[first[1:] - 1, grid.size - 1]
        probs = np.linspace(0, 1, N_GRID)
        up = 0.5 * (probs[first] + probs[last])
        if uq.size == 1:
            return np.zeros_like(y), np.full(len(y), 0.5)
        u = np.interp(y, uq, up)
        edges = np.asarray(f.bins)
        b = self._bin_of(f, u)
        lo, hi = edges[b], edges[b + 1]
        within = (u - lo) / (hi - lo)
        return ndtri(np.clip(within, U_CLIP, 1 - U_CLIP)), u

    # ------------------------------------------------------------------ inverse
    def inverse(self, V: np.ndarray) -> np.ndarray:
        """Model columns in Y coding from encoded vectors (softmax segments argmax'ed)."""
        V = np.asarray(V, dtype=np.float64)
        n = len(V)
        Y = np.zeros((n, len(self.fitted_)), dtype=np.float64)
        for j, (f, col) in enumerate(zip(self.fitted_, self.columns_)):
            mode = None
            if col["cat"] >= 0:
                start, width = self.cat_slices[col["cat"]]
                mode = np.argmax(V[:, start : start + width], axis=1)
            if f.levels:
                Y[:, j] = np.asarray(f.levels)[mode]
                continue
            out = np.zeros(n)
            if f.has_cont:
                b = np.zeros(n, dtype=np.int64) if mode is None else np.clip(mode - len(f.masses), 0, len(f.bins) - 2)
                out = self._inverse_cont(j, V[:, self.cont_index[col["cont"]]], b)
            if mode is not None:
                if f.has_cont:
                    for m, value in enumerate(f.masses):
                        out[mode == m] = value
                else:
                    out = np.asarray(f.masses, dtype=np.float64)[mode]
            Y[:, j] = out
        return Y

    def _inverse_cont(self, j: int, z: np.ndarray, b: np.ndarray) -> np.ndarray:
        f = self.fitted_[j]
        if f.transform == "log":
            s = z * f.sd + f.mu
            y = np.sign(s) * np.expm1(np.minimum(np.abs(s), 700.0))
            return np.clip(y, f.lower, f.upper)
        edges = np.asarray(f.bins)
        lo, hi = edges[b], edges[b + 1]
        u = lo + ndtr(z) * (hi - lo)
        return np.interp(u, np.linspace(0, 1, N_GRID), self.grids_[j])

    # ------------------------------------------------------------------ persistence
    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        meta = {
            "transform": self.transform_kind,
            "point_masses": self.point_masses,
            "mass_min_share": self.mass_min_share,
            "max_masses": self.max_masses,
            "tail_modes": self.tail_modes,
            "specs": [asdict(s) for s in self.specs],
            "fitted": [asdict(f) for f in self.fitted_],
        }
        return meta, {"grids": self.grids_}

    @classmethod
    def from_state(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> "BlockEncoder":
        self = cls(meta["transform"], meta["point_masses"], meta["mass_min_share"], meta["max_masses"],
                   meta.get("tail_modes", 1))
        self.specs = [ColumnSpec(**s) for s in meta["specs"]]
        self.fitted_ = [_Fitted(**f) for f in meta["fitted"]]
        self.grids_ = np.asarray(arrays["grids"], dtype=np.float64)
        self._build_layout()
        return self


def _symlog(y: np.ndarray) -> np.ndarray:
    return np.sign(y) * np.log1p(np.abs(y))


def _nearest_index(levels: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Index of the nearest level (levels sorted ascending)."""
    if levels.size == 1:
        return np.zeros(len(y), dtype=np.int64)
    pos = np.clip(np.searchsorted(levels, y), 1, levels.size - 1)
    left = levels[pos - 1]
    right = levels[pos]
    return np.where(np.abs(y - left) <= np.abs(right - y), pos - 1, pos).astype(np.int64)
