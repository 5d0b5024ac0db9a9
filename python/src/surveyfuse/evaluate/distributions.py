"""The numbers behind the distribution plots, shared by the report and the notebook widget.

Survey money variables are heavy-tailed and often zero for most records, so
a plain histogram shows one spike at zero. The plots here therefore

* choose the axis per variable (:func:`value_axis`): ``asinh`` (close to
  log for large values, linear near zero, defined for negatives) when the
  values span orders of magnitude, else linear;
* show the non-zero values as a density and report the share of zeros
  beside it (:func:`density`);
* cut a predictor into at most five weighted-quantile bins, or its own levels
  when it has few (:func:`predictor_bins`), and give the weighted mean of a
  block variable in each bin, for the truth and for every draw
  (:func:`binned_means`): a method that flattens this profile has attenuated
  the relationship, which a marginal plot cannot show.

Everything is weighted by survey weights when given.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np


def value_axis(values: np.ndarray) -> str:
    """``"asinh"`` when the non-zero magnitudes span more than a factor of 50 (p99 / p25), else ``"linear"``.

    >>> value_axis(np.array([0, 10, 200, 5000, 90000.0])), value_axis(np.array([31, 40, 52, 65.0]))
    ('asinh', 'linear')
    """
    a = np.abs(np.asarray(values, dtype=np.float64))
    a = a[np.isfinite(a) & (a > 0)]
    if a.size < 2:
        return "linear"
    lo, hi = np.quantile(a, [0.25, 0.99])
    return "asinh" if lo > 0 and hi / lo > 50 else "linear"


def to_axis(x: np.ndarray, axis: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return np.arcsinh(x) if axis == "asinh" else x


def short_number(x: float) -> str:
    """``1234567`` -> ``"1.2M"``, ``35000`` -> ``"35k"``, ``0.25`` -> ``"0.25"``.

    >>> [short_number(v) for v in (0, 950, 35000, 1234567, -2500, 0.25)]
    ['0', '950', '35k', '1.2M', '-2.5k', '0.25']
    """
    a = abs(x)
    for cut, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if a >= cut:
            v = x / cut
            return f"{v:.0f}{suffix}" if abs(v) >= 10 else f"{v:.1f}".rstrip("0").rstrip(".") + suffix
    return f"{x:.0f}" if a >= 10 or x == int(x) else f"{x:.2g}"


def axis_ticks(lo: float, hi: float, axis: str) -> tuple[list[float], list[str]]:
    """Tick positions (on the axis scale) and labels in the variable's own units."""
    if axis != "asinh":
        ticks = np.linspace(lo, hi, 5)
        return ticks.tolist(), [short_number(float(t)) for t in ticks]
    powers = [float(10**e) for e in range(10)]
    vals = sorted({v for v in [0.0, *powers, *(-p for p in powers)] if lo <= np.arcsinh(v) <= hi})
    if len(vals) > 7:  # every other power of ten
        keep = [v for v in vals if v == 0 or round(np.log10(abs(v))) % 2 == 0]
        vals = keep if len(keep) >= 3 else vals
    return [float(np.arcsinh(v)) for v in vals], [short_number(v) for v in vals]


def weighted_quantile(x: np.ndarray, w: np.ndarray, qs: Sequence[float]) -> np.ndarray:
    order = np.argsort(x, kind="stable")
    cw = np.cumsum(w[order])
    cw = cw / cw[-1]
    idx = np.minimum(np.searchsorted(cw, np.asarray(qs) - 1e-12), len(x) - 1)
    return x[order][idx]


def density(series: dict[str, tuple[np.ndarray, np.ndarray | None]], points: int = 160) -> dict[str, Any]:
    """Weighted kernel densities of the non-zero values of several samples on one grid.

    ``series`` maps a name to ``(values, weights)``; values may be (draws, n),
    pooled over draws. The bandwidth is Silverman's rule on the first
    sample's non-zero values (on the axis scale), so every curve is smoothed
    alike. Returns ``{"axis", "x", "density": {name: list}, "zero_share":
    {name: float}}``, ``x`` on the axis scale.

    >>> d = density({"a": (np.array([0, 0, 5, 6, 7.0]), None)}, points=5)
    >>> d["axis"], round(d["zero_share"]["a"], 2), len(d["density"]["a"])
    ('linear', 0.4, 5)
    """
    flat = {k: (np.asarray(v, dtype=np.float64).ravel(), _pool_weights(v, w)) for k, (v, w) in series.items()}
    allv = np.concatenate([v for v, _ in flat.values()])
    axis = value_axis(allv)
    nz = [to_axis(v[(v != 0) & np.isfinite(v)], axis) for v, _ in flat.values()]
    pooled = np.concatenate(nz) if nz else np.zeros(0)
    lo, hi = (np.quantile(pooled, [0.002, 0.998]) if pooled.size else (0.0, 1.0))
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    ref = nz[0] if nz and nz[0].size > 1 else pooled
    spread = min(np.std(ref), np.subtract(*np.quantile(ref, [0.75, 0.25])) / 1.34) if ref.size > 1 else 0.0
    bandwidth = max(0.9 * (spread or np.std(ref) or 1.0) * max(ref.size, 1) ** -0.2, (hi - lo) / points)
    pad = 2 * bandwidth
    fine = np.linspace(lo - pad, hi + pad, 4 * points + 1)
    step = fine[1] - fine[0]
    half = int(np.ceil(4 * bandwidth / step))
    kernel = np.exp(-0.5 * (np.arange(-half, half + 1) * step / bandwidth) ** 2)
    x = np.linspace(lo - pad, hi + pad, points)
    out: dict[str, Any] = {"axis": axis, "x": x.tolist(), "density": {}, "zero_share": {}}
    for name, (v, w) in flat.items():
        ok = np.isfinite(v)
        v, w = v[ok], w[ok]
        nonzero = v != 0
        out["zero_share"][name] = float(w[~nonzero].sum() / w.sum()) if w.sum() > 0 else None
        z = to_axis(v[nonzero], axis)
        h, _ = np.histogram(z, bins=np.r_[fine - step / 2, fine[-1] + step / 2], weights=w[nonzero])
        smooth = np.convolve(h, kernel)[half:half + len(h)]  # centred, whatever the kernel's length
        total = smooth.sum() * step
        dens = np.interp(x, fine, smooth / total) if total > 0 else np.zeros(points)
        out["density"][name] = dens.tolist()
    return out


def _pool_weights(values: Any, weights: np.ndarray | None) -> np.ndarray:
    """Per-value weights of (n,) or pooled (draws, n) values: a row's weight is split over its draws."""
    v = np.asarray(values)
    n = v.shape[-1]
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64)
    return np.tile(w / v.shape[0], v.shape[0]) if v.ndim == 2 else w


@dataclass
class Bins:
    """How a predictor is cut into bins: its own ``levels``, or ``cuts`` between weighted-quantile bins."""

    labels: list[str]
    levels: list[Any] | None = None
    cuts: np.ndarray | None = None

    def assign(self, x: np.ndarray) -> np.ndarray:
        """Bin number of every value of ``x`` (``-1``: missing, or a level the bins do not have)."""
        x = np.asarray(x)
        present = ~_isna(x)
        codes = np.full(len(x), -1, dtype=np.int64)
        if self.levels is not None:
            for i, lv in enumerate(self.levels):
                codes[present & (x == lv)] = i
        else:
            codes[present] = np.searchsorted(self.cuts, x[present].astype(np.float64), side="left")
        return codes


def make_bins(x: np.ndarray, w: np.ndarray | None = None, max_bins: int = 5, categorical: bool = False) -> Bins:
    """Bins of a predictor, learned on ``x`` (weighted by ``w``).

    A predictor with at most ``max_bins`` distinct values (or a categorical
    one) keeps its own values (the 12 most common when it has more);
    otherwise the cut points are weighted quantiles (ties make fewer, wider
    bins, e.g. when most wages are zero).

    >>> b = make_bins(np.array([1, 1, 2, 3, 3, 3]))
    >>> b.assign(np.array([1, 3, 2, 7])).tolist(), b.labels
    ([0, 2, 1, -1], ['1', '2', '3'])
    >>> make_bins(np.arange(100.0), max_bins=4).labels
    ['\u226424', '24-49', '49-74', '>74']
    """
    x = np.asarray(x)
    w = np.ones(len(x)) if w is None else np.asarray(w, dtype=np.float64)
    present = ~_isna(x)
    levels, counts = np.unique(x[present], return_counts=True) if present.any() else (np.array([]), np.array([]))
    numeric = np.issubdtype(np.asarray(x[present]).dtype, np.number)
    if categorical or len(levels) <= max_bins or not numeric:
        if len(levels) > 12:
            levels = np.sort(levels[np.argsort(-counts, kind="stable")[:12]])
        labels = [short_number(float(lv)) if numeric else str(lv) for lv in levels]
        return Bins(labels=labels, levels=list(levels))
    xf = x[present].astype(np.float64)
    cuts = np.unique(weighted_quantile(xf, w[present], np.arange(1, max_bins) / max_bins))
    cuts = cuts[cuts < xf.max()]
    labels = []
    for i in range(len(cuts) + 1):
        if i == 0:
            labels.append(f"\u2264{short_number(float(cuts[0]))}")
        elif i == len(cuts):
            labels.append(f">{short_number(float(cuts[-1]))}")
        else:
            labels.append(f"{short_number(float(cuts[i - 1]))}-{short_number(float(cuts[i]))}")
    return Bins(labels=labels, cuts=cuts)


def predictor_bins(x: np.ndarray, w: np.ndarray | None = None, max_bins: int = 5,
                   categorical: bool = False) -> tuple[np.ndarray, list[str]]:
    """Bin number of every row of ``x`` and the bins' labels (:func:`make_bins` learned on ``x`` itself)."""
    bins = make_bins(x, w, max_bins, categorical)
    return bins.assign(x), bins.labels


def _isna(x: np.ndarray) -> np.ndarray:
    if np.issubdtype(x.dtype, np.floating):
        return np.isnan(x)
    if x.dtype == object:
        return np.array([v is None or (isinstance(v, float) and np.isnan(v)) for v in x], dtype=bool)
    return np.zeros(len(x), dtype=bool)


def binned_means(codes: np.ndarray, nbins: int, truth: np.ndarray | None, draws: np.ndarray | None,
                 w: np.ndarray | None = None) -> dict[str, Any]:
    """Weighted mean per bin of the truth (n,) and of each draw (draws, n): ``{"truth", "draws", "share"}``.

    ``share`` is each bin's share of the weight; ``draws`` is (draws, bins).
    """
    n = len(codes)
    w = np.ones(n) if w is None else np.asarray(w, dtype=np.float64)
    out: dict[str, Any] = {"share": [], "truth": None, "draws": None}
    onehot = np.zeros((n, nbins))
    ok = codes >= 0
    onehot[np.flatnonzero(ok), codes[ok]] = 1.0
    bw = w @ onehot
    out["share"] = (bw / bw.sum()).tolist() if bw.sum() > 0 else [0.0] * nbins
    with np.errstate(invalid="ignore", divide="ignore"):
        if truth is not None:
            t = np.nan_to_num(np.asarray(truth, dtype=np.float64))
            out["truth"] = _nan_to_none(((w * t) @ onehot) / bw)
        if draws is not None:
            D = np.nan_to_num(np.asarray(draws, dtype=np.float64))
            out["draws"] = [_nan_to_none(row) for row in ((D * w[None]) @ onehot) / bw[None]]
    return out


def level_shares(values: np.ndarray, levels: Sequence[Any], w: np.ndarray | None = None) -> list[float]:
    """Weighted share of each level among (n,) or pooled (draws, n) values."""
    v = np.asarray(values, dtype=object)
    pw = _pool_weights(values, w)
    flat = v.ravel()
    total = pw.sum()
    return [float(pw[flat == lv].sum() / total) if total > 0 else 0.0 for lv in levels]


def _nan_to_none(a: np.ndarray) -> list[float | None]:
    return [None if not np.isfinite(x) else float(x) for x in np.asarray(a, dtype=np.float64)]


__all__ = ["value_axis", "to_axis", "axis_ticks", "short_number", "density", "Bins", "make_bins", "predictor_bins", "binned_means",
           "level_shares", "weighted_quantile"]
