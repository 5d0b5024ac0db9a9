"""Write an evaluation: ``metrics.json``, a text table, and one offline ``report.html``.

The HTML is a single file: every plot is a matplotlib (Agg) PNG embedded as
base64, no scripts, no external links, so it opens offline and can be
mailed. Plots: metric bars per method, quantile-quantile plots of imputed vs
true values per variable (asinh scale, because incomes are heavy-tailed and
zero-inflated), PIT histograms and coverage (calibration), and Spearman
correlation-difference heatmaps.
"""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path
from typing import Any

import numpy as np

from .crossval import Evaluation

BAR_METRICS = (("energy_score", "energy score (lower is better)"),
               ("energy_skill", "energy skill vs predictor-blind draws (higher is better)"),
               ("crps_std", "CRPS, standardised"),
               ("coverage90", "90% coverage (target 0.90)"), ("coverage50", "50% coverage (target 0.50)"),
               ("ks", "Kolmogorov-Smirnov"), ("correlation_mad", "mean |Spearman diff|"),
               ("violation_share", "constraint violation share"), ("brier", "Brier score"))


def text_table(ev: Evaluation) -> str:
    """Fixed-width summary, best method first, and the verdict."""
    t = ev.table()
    cols = [c for c in ("energy_score", "energy_skill", "crps_std", "coverage50", "coverage90", "ks", "wasserstein_std",
                        "correlation_mad", "abs_log_total_ratio", "accuracy", "brier", "violation_share",
                        "fit_seconds", "sample_seconds") if c in t.columns]
    lines = [f"{'method':18s}" + "".join(f"{c[:12]:>13s}" for c in cols)]
    for label, row in t.iterrows():
        cells = "".join(f"{row[c]:13.4f}" if row[c] is not None and np.isfinite(row[c]) else f"{'-':>13s}" for c in cols)
        lines.append(f"{label:18s}{cells}")
    for label, why in ev.metrics.get("skipped", {}).items():
        lines.append(f"{label:18s} skipped: {why}")
    if ev.best:
        lines.append(f"best method: {ev.best} ({ev.metrics['best_reason']})")
        for label, g in sorted(ev.metrics.get("margins", {}).items(), key=lambda kv: kv[1]["gap"]):
            se = f" +- {g['se']:.4f}" if g.get("se") is not None else ""
            lines.append(f"  {label}: energy score {g['gap']:+.4f}{se} vs {ev.best} (paired over folds; "
                         f"{ev.best} better in {g['folds_won_by_best']}/{g['folds']} folds)")
    signal = signal_line(ev)
    if signal:
        lines.append(signal)
    return "\n".join(lines)


def signal_line(ev: Evaluation) -> str | None:
    """How much the best method beats predictor-blind draws, and a warning when that is little."""
    base = ev.metrics.get("baseline", {}).get("energy_score")
    skill = ev.metrics["methods"][ev.best]["overall"].get("energy_skill") if ev.best else None
    if base is None or skill is None:
        return None
    text = (f"signal: predictor-blind draws (donor records by weight alone) score {base:.4f}; "
            f"{ev.best} removes {100 * skill:.1f}% of that (energy_skill {skill:.3f})")
    if ev.metrics.get("low_signal"):
        text += (". The predictors say little about this block: every method's draws stay close to the donor's "
                 "marginal distribution, so differences between methods are small")
    return text


def _png(fig) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _plots(ev: Evaluation) -> list[tuple[str, str]]:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    out: list[tuple[str, str]] = []
    methods = ev.metrics["methods"]
    labels = list(methods)
    present = [(k, t) for k, t in BAR_METRICS if any(methods[m]["overall"].get(k) is not None for m in labels)]
    if present:
        fig, axes = plt.subplots(1, len(present), figsize=(3.2 * len(present), 3), squeeze=False)
        for ax, (key, title) in zip(axes[0], present):
            vals = [methods[m]["overall"].get(key) or 0.0 for m in labels]
            ax.bar(range(len(labels)), vals, color=["C2" if m == ev.best else "C0" for m in labels])
            ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right", fontsize=8)
            ax.set_title(title, fontsize=9)
            if key.startswith("coverage"):
                ax.axhline(0.9 if key == "coverage90" else 0.5, color="k", ls="--", lw=1)
        out.append(("Overall metrics per method (mean over folds; best in green)", _png(fig)))
    variables = ev.metrics["settings"]["block"]
    kinds = {v["name"]: v["kind"] for v in ev.metrics["settings"]["variables"]}
    numeric = [v for v in variables if kinds.get(v) not in ("binary", "categorical")]
    if ev.examples and numeric:
        fig, axes = plt.subplots(1, len(numeric), figsize=(3.2 * len(numeric), 3.2), squeeze=False)
        qs = np.linspace(0.01, 0.99, 50)
        for ax, v in zip(axes[0], numeric):
            truth = ev.examples[labels[0]]["truth"][v].to_numpy(dtype=float) if labels[0] in ev.examples else None
            if truth is None:
                continue
            tq = np.arcsinh(np.quantile(truth, qs))
            for i, m in enumerate(labels):
                if m in ev.examples:
                    dq = np.arcsinh(np.quantile(np.asarray(ev.examples[m]["draws"][v], dtype=float), qs))
                    ax.plot(tq, dq, "o-", ms=2, lw=1, label=m, color=f"C{i}")
            lim = [min(tq.min(), 0), tq.max() + 0.1]
            ax.plot(lim, lim, "k--", lw=0.8)
            ax.set_title(v, fontsize=9)
            ax.set_xlabel("true quantile (asinh)", fontsize=8)
            ax.set_ylabel("imputed quantile (asinh)", fontsize=8)
        axes[0][0].legend(fontsize=7)
        out.append(("Imputed vs true distributions: quantile-quantile plots on the asinh scale (first fold)", _png(fig)))
    if numeric:
        fig, axes = plt.subplots(1, len(labels), figsize=(3.2 * len(labels), 2.8), squeeze=False, sharey=True)
        for ax, m in zip(axes[0], labels):
            for v in numeric:
                h = methods[m]["variables"].get(v, {}).get("pit_histogram")
                if h:
                    ax.step(np.linspace(0.05, 0.95, len(h)), np.asarray(h) * len(h), where="mid", label=v)
            ax.axhline(1.0, color="k", ls="--", lw=0.8)
            ax.set_title(m, fontsize=9)
            ax.set_xlabel("randomised PIT", fontsize=8)
        axes[0][0].set_ylabel("density (1 = calibrated)", fontsize=8)
        axes[0][0].legend(fontsize=6)
        out.append(("Calibration: randomised PIT histograms per variable (flat at 1 is calibrated; U shape = too narrow)", _png(fig)))
        fig, ax = plt.subplots(figsize=(6, 3.2))
        width = 0.8 / max(len(labels), 1)
        x = np.arange(len(numeric))
        for i, m in enumerate(labels):
            c50 = [methods[m]["variables"][v].get("coverage50") or 0 for v in numeric]
            c90 = [methods[m]["variables"][v].get("coverage90") or 0 for v in numeric]
            ax.bar(x + i * width, c90, width, color=f"C{i}", alpha=0.5, label=f"{m} 90%")
            ax.bar(x + i * width, c50, width, color=f"C{i}", label=f"{m} 50%")
        ax.axhline(0.9, color="k", ls="--", lw=0.8)
        ax.axhline(0.5, color="k", ls=":", lw=0.8)
        ax.set_xticks(x + width * (len(labels) - 1) / 2, numeric, fontsize=8)
        ax.legend(fontsize=6, ncol=2)
        out.append(("Coverage of the central 50% and 90% of the draws (dashed: targets)", _png(fig)))
    corr = [(m, methods[m].get("correlation")) for m in labels if methods[m].get("correlation")]
    if corr:
        fig, axes = plt.subplots(1, len(corr), figsize=(3.6 * len(corr), 3.4), squeeze=False)
        for ax, (m, c) in zip(axes[0], corr):
            diff = np.array(c["imputed"], dtype=float) - np.array(c["true"], dtype=float)
            im = ax.imshow(np.nan_to_num(diff), cmap="RdBu_r", vmin=-0.5, vmax=0.5)
            ax.set_xticks(range(len(c["names"])), c["names"], rotation=90, fontsize=6)
            ax.set_yticks(range(len(c["names"])), c["names"], fontsize=6)
            ax.set_title(f"{m}: imputed - true Spearman", fontsize=8)
        fig.colorbar(im, ax=axes[0].tolist(), shrink=0.8)
        out.append(("Correlation preservation: Spearman matrix difference, imputed minus true", _png(fig)))
    return out


def render_html(ev: Evaluation, title: str = "surveyfuse evaluation") -> str:
    s = ev.metrics["settings"]
    t = ev.table()
    table_html = t.to_html(float_format=lambda x: f"{x:.4f}", na_rep="-", border=0)
    var_html = ev.variable_table().to_html(float_format=lambda x: f"{x:.4f}", na_rep="-", border=0, index=False)
    figs = "".join(f"<h2>{html.escape(cap)}</h2><img alt='{html.escape(cap)}' src='{src}'>" for cap, src in _plots(ev))
    margins = "".join(
        f"<li>{html.escape(k)}: {g['gap']:+.4f}" + (f" &plusmn; {g['se']:.4f}" if g.get("se") is not None else "")
        + f" ({html.escape(str(ev.best))} better in {g['folds_won_by_best']}/{g['folds']} folds)</li>"
        for k, g in sorted(ev.metrics.get("margins", {}).items(), key=lambda kv: kv[1]["gap"]))
    skipped = "".join(f"<li>{html.escape(k)}: {html.escape(v)}</li>" for k, v in ev.metrics.get("skipped", {}).items())
    signal = signal_line(ev)
    return f"""<!DOCTYPE html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;max-width:1200px;margin:1em auto;}} table{{border-collapse:collapse;font-size:12px}}
td,th{{padding:2px 6px;border-bottom:1px solid #ddd;text-align:right}} img{{max-width:100%}}</style></head><body>
<h1>{html.escape(title)}</h1>
<p>Donor-only {s['folds']}-fold validation on {s['rows']} donor rows, {s['draws']} draws per held-out row, seed {s['seed']}.
Block: {html.escape(', '.join(s['block']))}. Weights: {html.escape(str(s['weights']))}.</p>
<p><b>Best method: {html.escape(str(ev.best))}</b> - {html.escape(ev.metrics['best_reason'])}.</p>
{f'<p>Energy-score gap to the best method (paired over folds, &plusmn; se; within about 2 se is a tie):</p><ul>{margins}</ul>' if margins else ''}
{f'<p>{html.escape(signal)}.</p>' if signal else ''}
{f'<p>Skipped:</p><ul>{skipped}</ul>' if skipped else ''}
<h2>Overall (mean over folds)</h2>{table_html}
<h2>Per variable</h2>{var_html}
{figs}
<p>Metric definitions: docs/evaluation.md in the surveyfuse repository.</p>
</body></html>"""


def write_report(ev: Evaluation, out_dir: str | Path, title: str = "surveyfuse evaluation", html_report: bool = True) -> dict[str, str]:
    """Write ``metrics.json`` (and ``report.html``) into ``out_dir``; return their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"metrics": str(out / "metrics.json")}
    (out / "metrics.json").write_text(json.dumps(ev.metrics, indent=1))
    if html_report:
        (out / "report.html").write_text(render_html(ev, title), encoding="utf-8")
        paths["report"] = str(out / "report.html")
    return paths


__all__ = ["render_html", "text_table", "write_report"]
