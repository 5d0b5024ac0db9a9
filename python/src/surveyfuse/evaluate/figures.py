"""The report's figures: one small matplotlib chart each, returned as an SVG data URI.

Each figure is one panel of about 5 x 3.3 inches with 10-point text, so it
reads at its natural size on a desktop and scaled to a phone's width; the
page lays them out in a grid. SVG keeps text sharp at any zoom and text
stays text (``svg.fonttype = none``), which also keeps the files small.
Every method keeps one colour across all figures (:func:`palette`); the
held-out truth is black and the donor grey.
"""

from __future__ import annotations

import base64
import io
from contextlib import contextmanager
from typing import Any, Iterator, Sequence

import numpy as np

from . import distributions as dist
from .summary import Metric, format_value

WIDTH, HEIGHT = 5.0, 3.3
TRUTH, DONOR, WIN, OTHER = "#111111", "#9a9a9a", "#1a7f37", "#8aa4c8"
COLOURS = ("#1f77b4", "#d62728", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22")

STYLE = {
    "svg.fonttype": "none", "font.size": 10, "axes.titlesize": 10.5, "axes.labelsize": 10, "xtick.labelsize": 9,
    "ytick.labelsize": 9, "legend.fontsize": 8.5, "axes.spines.top": False, "axes.spines.right": False,
    "font.family": ["DejaVu Sans", "sans-serif"], "svg.hashsalt": "surveyfuse",
}


def palette(labels: Sequence[str]) -> dict[str, str]:
    return {m: COLOURS[i % len(COLOURS)] for i, m in enumerate(labels)}


@contextmanager
def figure(width: float = WIDTH, height: float = HEIGHT) -> Iterator[Any]:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    with matplotlib.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(width, height))
        try:
            yield fig, ax
        finally:
            plt.close(fig)


def svg_uri(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    return "data:image/svg+xml;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def metric_bars(metric: Metric, values: dict[str, float | None], winners: set[str]) -> str:
    """Horizontal bars of one overall metric per method, the metric's own winner(s) in green."""
    labels = [m for m, v in values.items() if v is not None]
    vals = [float(values[m]) for m in labels]
    with figure(WIDTH, 0.5 + 0.42 * max(len(labels), 2)) as (fig, ax):
        y = np.arange(len(labels))[::-1]
        scale = 100.0 if metric.percent else 1.0
        ax.barh(y, [v * scale for v in vals], color=[WIN if m in winners else OTHER for m in labels], height=0.6)
        ax.set_yticks(y, labels)
        for yi, v in zip(y, vals):
            ax.text(v * scale, yi, " " + format_value(v, metric.percent), va="center", fontsize=9)
        if metric.target is not None:
            ax.axvline(metric.target * scale, color=TRUTH, ls="--", lw=1)
        lo = min(0.0, *(v * scale for v in vals))
        hi = max([v * scale for v in vals] + ([metric.target * scale] if metric.target is not None else []))
        ax.set_xlim(lo, hi * 1.25 if hi > 0 else 1)
        ax.set_title(f"{metric.label} ({metric.direction} is better)" if metric.better != "target"
                     else f"{metric.label} (best {metric.direction})", loc="left")
        if metric.percent:
            ax.set_xlabel("%")
        return svg_uri(fig)


def fold_spread(metrics: dict[str, Any], colours: dict[str, str]) -> str:
    """Energy score of every method in every fold: the fold-to-fold swing and whether rankings hold."""
    methods = metrics["methods"]
    with figure() as (fig, ax):
        k = metrics["settings"]["folds"]
        x = np.arange(1, k + 1)
        for m, res in methods.items():
            ys = [f.get("energy_score") for f in res["folds"]]
            ax.plot(x, [np.nan if v is None else v for v in ys], "o-", color=colours[m], label=m, lw=1.5, ms=4)
        base = (metrics.get("baseline") or {}).get("folds")
        if base:
            ax.plot(x, [np.nan if v is None else v for v in base], "s--", color=DONOR, label="predictor-blind", lw=1, ms=3)
        ax.set_xticks(x)
        ax.set_xlabel("fold")
        values = [v for res in methods.values() for v in (f.get("energy_score") for f in res["folds"]) if v]
        log = bool(values) and min(values) > 0 and max(values) / min(values) > 10
        if log:  # one fold holding an extreme record would flatten the others
            ax.set_yscale("log")
        ax.set_ylabel(f"energy score{' (log scale)' if log else ''}, lower is better")
        ax.set_title("Energy score in each fold", loc="left")
        ax.legend(frameon=False, ncol=2)
        return svg_uri(fig)


def pit_histograms(method: str, variables: dict[str, Any], names: Sequence[str]) -> str | None:
    """Randomised PIT histograms of one method, one line per numeric variable (flat at 1 = calibrated)."""
    lines = [(v, variables.get(v, {}).get("pit_histogram")) for v in names]
    lines = [(v, h) for v, h in lines if h]
    if not lines:
        return None
    with figure() as (fig, ax):
        for i, (v, h) in enumerate(lines):
            h = np.asarray(h, dtype=float) * len(h)
            edges = np.linspace(0, 1, len(h) + 1)
            ax.stairs(h, edges, label=v, lw=1.6, color=COLOURS[i % len(COLOURS)])
        ax.axhline(1.0, color=TRUTH, ls="--", lw=1)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, max(2.0, ax.get_ylim()[1]))
        ax.set_xlabel("where the truth falls among the draws (randomised PIT)")
        ax.set_ylabel("density (1 = calibrated)")
        ax.set_title(f"{method}: calibration", loc="left")
        ax.legend(frameon=False, ncol=2)
        return svg_uri(fig)


def coverage(methods: dict[str, Any], names: Sequence[str], colours: dict[str, str]) -> str | None:
    """90% and 50% interval coverage per numeric variable and method, with the targets."""
    if not names:
        return None
    labels = list(methods)
    with figure(WIDTH, HEIGHT + 0.3) as (fig, ax):
        width = 0.8 / len(labels)
        x = np.arange(len(names))
        for i, m in enumerate(labels):
            c90 = [100 * (methods[m]["variables"].get(v, {}).get("coverage90") or 0) for v in names]
            c50 = [100 * (methods[m]["variables"].get(v, {}).get("coverage50") or 0) for v in names]
            ax.bar(x + i * width, c90, width * 0.95, color=colours[m], alpha=0.45)
            ax.bar(x + i * width, c50, width * 0.95, color=colours[m], label=m)
        ax.axhline(90, color=TRUTH, ls="--", lw=1)
        ax.axhline(50, color=TRUTH, ls=":", lw=1)
        ax.set_xticks(x + width * (len(labels) - 1) / 2, names, rotation=30 if len(names) > 3 else 0, ha="right" if len(names) > 3 else "center")
        ax.set_ylim(0, 105)
        ax.set_ylabel("coverage, % (dark 50%, light 90%)")
        ax.set_title("Interval coverage per variable (lines: targets)", loc="left")
        ax.legend(frameon=False, ncol=min(4, len(labels)), loc="lower left", bbox_to_anchor=(0, 1.08), borderaxespad=0)
        return svg_uri(fig)


def spearman_difference(method: str, corr: dict[str, Any], block: Sequence[str]) -> str:
    """Imputed minus true rank correlation, rows = numeric block variables, columns = everything, scale fitted to the data."""
    names = corr["names"]
    diff = np.array(corr["imputed"], dtype=float) - np.array(corr["true"], dtype=float)
    rows = [i for i, n in enumerate(names) if n in block]
    d = diff[rows]
    for r, i in enumerate(rows):
        d[r, i] = np.nan  # a variable with itself
    vmax = max(0.05, float(np.nanmax(np.abs(d))) if np.isfinite(d).any() else 0.05)
    with figure(WIDTH, 0.9 + 0.42 * len(rows)) as (fig, ax):
        im = ax.imshow(np.ma.masked_invalid(d), cmap="RdBu_r", vmin=-vmax, vmax=vmax, aspect="auto")
        ax.set_xticks(range(len(names)), names, rotation=60, ha="right", fontsize=8.5)
        ax.set_yticks(range(len(rows)), [names[i] for i in rows], fontsize=8.5)
        if d.size <= 60:
            for (r, c), v in np.ndenumerate(d):
                if np.isfinite(v):
                    ax.text(c, r, f"{v:+.2f}".replace("+0.", "+.").replace("-0.", "-."), ha="center", va="center",
                            fontsize=7, color="white" if abs(v) > 0.6 * vmax else TRUTH)
        ax.spines[:].set_visible(False)
        ax.set_title(f"{method}: imputed - true Spearman", loc="left")
        fig.colorbar(im, ax=ax, shrink=0.9, pad=0.02)
        return svg_uri(fig)


def density_plot(variable: str, donor: tuple[np.ndarray, Any], truth: tuple[np.ndarray, Any],
                 draws: dict[str, tuple[np.ndarray, Any]], colours: dict[str, str]) -> str:
    """Density of a numeric variable's non-zero values: donor (grey), held-out truth (black), each method's draws."""
    series = {"truth": truth, "donor": donor, **draws}
    d = dist.density(series)
    x = np.asarray(d["x"])
    zs = d["zero_share"]
    with figure(WIDTH, HEIGHT + 0.5) as (fig, ax):
        ax.fill_between(x, d["density"]["donor"], color=DONOR, alpha=0.35, lw=0, label=f"donor ({_zeros(zs['donor'])})")
        ax.plot(x, d["density"]["truth"], color=TRUTH, lw=2.2, label=f"held-out truth ({_zeros(zs['truth'])})")
        for m in draws:
            ax.plot(x, d["density"][m], color=colours[m], lw=1.5, label=f"{m} ({_zeros(zs[m])})")
        ticks, labels = dist.axis_ticks(x[0], x[-1], d["axis"])
        ax.set_xticks(ticks, labels)
        ax.set_xlim(x[0], x[-1])
        ax.set_ylim(0, None)
        ax.set_yticks([])
        ax.spines["left"].set_visible(False)
        nonzero = any((zs[k] or 0) > 0.001 for k in zs)
        ax.set_xlabel(f"{variable}{' (asinh scale)' if d['axis'] == 'asinh' else ''}")
        ax.set_title(f"{variable}: {'non-zero values, ' if nonzero else ''}donor vs imputed", loc="left")
        ax.legend(frameon=False, fontsize=8, ncol=2, loc="upper left", bbox_to_anchor=(0, -0.22), borderaxespad=0)
        return svg_uri(fig)


def _zeros(share: float | None) -> str:
    return "zeros -" if share is None else f"zeros {100 * share:.0f}%"


def share_bars(variable: str, levels: Sequence[str], shares: dict[str, Sequence[float]], colours: dict[str, str]) -> str:
    """Share of each level: truth (black outline) beside each method's draws."""
    names = list(shares)
    with figure() as (fig, ax):
        width = 0.8 / len(names)
        x = np.arange(len(levels))
        for i, name in enumerate(names):
            vals = 100 * np.asarray(shares[name], dtype=float)
            if name == "truth":
                ax.bar(x + i * width, vals, width * 0.95, facecolor="white", edgecolor=TRUTH, lw=1.5, label="held-out truth")
            else:
                ax.bar(x + i * width, vals, width * 0.95, color=colours[name], label=name)
        ax.set_xticks(x + width * (len(names) - 1) / 2, [str(lv) for lv in levels])
        ax.set_ylabel("share of records, %")
        ax.set_title(f"{variable}: share of each value, true vs imputed", loc="left")
        ax.legend(frameon=False, ncol=2)
        return svg_uri(fig)


def conditional_plot(variable: str, predictor: str, labels: Sequence[str], truth: Sequence[float | None],
                     draws: dict[str, Sequence[Sequence[float | None]]], colours: dict[str, str]) -> str:
    """Mean of ``variable`` in bins of ``predictor``: truth vs each method (line: mean over draws; bar: 5-95% of draws)."""
    x = np.arange(len(labels))
    with figure() as (fig, ax):
        ax.plot(x, _arr(truth), "o-", color=TRUTH, lw=2.2, ms=5, label="held-out truth", zorder=5)
        offsets = np.linspace(-0.12, 0.12, max(len(draws), 1))
        for off, (m, per_draw) in zip(offsets, draws.items()):
            D = np.array([_arr(r) for r in per_draw], dtype=float)
            mid = np.nanmean(D, axis=0)
            lo, hi = np.nanquantile(D, 0.05, axis=0), np.nanquantile(D, 0.95, axis=0)
            ax.errorbar(x + off, mid, yerr=[mid - lo, hi - mid], fmt="s-", color=colours[m], lw=1.3, ms=3.5,
                        capsize=2, label=m)
        ax.set_xticks(x, labels, rotation=25 if len(labels) > 4 else 0, ha="right" if len(labels) > 4 else "center")
        ax.set_xlabel(f"{predictor} (bins)")
        ax.set_ylabel(f"mean {variable}")
        ax.yaxis.set_major_formatter(_short_formatter())
        ax.set_title(f"{variable} by {predictor}", loc="left")
        ax.legend(frameon=False, fontsize=8)
        return svg_uri(fig)


def _arr(values: Sequence[float | None]) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def _short_formatter() -> Any:
    from matplotlib.ticker import FuncFormatter

    return FuncFormatter(lambda v, _: dist.short_number(v))


__all__ = ["palette", "metric_bars", "fold_spread", "pit_histograms", "coverage", "spearman_difference",
           "density_plot", "share_bars", "conditional_plot"]
