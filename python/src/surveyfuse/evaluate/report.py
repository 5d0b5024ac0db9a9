"""Write an evaluation: ``metrics.json``, a text table, and one offline ``report.html``.

The HTML is one self-contained file that reads on a phone and on a desktop:
no scripts, no external links, figures embedded as SVG (sharp at any zoom).
It opens with the verdict and a 0-100 quality summary per method (how that
number is made is printed beside it, see :mod:`.summary`), then every metric
with its own winner, the fold-to-fold spread, the declared constraints with
their counts, and per block variable: donor vs imputed densities (or level
shares for discrete variables), the mean by bins of the predictor it is most
related to (where attenuation shows), and its metrics. Calibration (PIT
histograms, coverage) and rank-correlation differences close the page.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import numpy as np

from .._version import __version__
from . import distributions as dist
from . import figures
from .crossval import Evaluation
from .summary import (BLIND, DISCRETE_METRICS, METRICS, NUMERIC_METRICS, NUMERIC_TRUTH, QUALITY_HOW, QUALITY_PARTS,
                      format_value, method_qualities, settings_sentence, verdict, winner)

#: overall metrics drawn as bar panels (the table has them all)
BAR_KEYS = ("energy_score", "energy_skill", "crps_std", "coverage90", "ks", "correlation_mad", "accuracy", "violation_share")


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


# ---------------------------------------------------------------------------- HTML pieces
CSS = """
*{box-sizing:border-box}
body{font-family:system-ui,-apple-system,"Segoe UI","DejaVu Sans",sans-serif;line-height:1.45;color:#1b1b1b;
 max-width:1160px;margin:0 auto;padding:12px 16px 40px;font-size:15px}
h1{font-size:1.5em;margin:.4em 0}h2{font-size:1.25em;margin:1.6em 0 .5em;border-bottom:1px solid #ddd;padding-bottom:.2em}
h3{font-size:1.08em;margin:1.2em 0 .4em}
p,li{overflow-wrap:anywhere}
code{font-size:.92em;background:#f3f3f3;padding:0 .2em;border-radius:3px;overflow-wrap:anywhere}
.verdict{background:#eef6ee;border-left:5px solid #1a7f37;padding:.6em 1em;margin:1em 0}
.verdict .headline{font-size:1.12em;font-weight:600;margin:.2em 0 .5em}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(min(100%,250px),1fr));gap:12px;margin:1em 0}
.card{border:1px solid #d6d6d6;border-radius:8px;padding:.6em .8em;min-width:0}
.card.best{border-color:#1a7f37;box-shadow:0 0 0 2px #1a7f3733}
.card.blind{background:#f7f7f7;color:#555}
.card .name{font-weight:600;font-size:1.05em;overflow-wrap:anywhere}
.card .score{font-size:2.1em;font-weight:700;line-height:1.1}
.card .score small{font-size:.45em;font-weight:400;color:#666}
.badge{display:inline-block;font-size:.78em;border-radius:10px;padding:0 .55em;margin-left:.3em;vertical-align:middle}
.badge.best{background:#1a7f37;color:#fff}.badge.tie{background:#d8e8d8;color:#1b4d2a}
.badge.worse{background:#eee;color:#444}.badge.blind{background:#e4e4e4;color:#555}
.warn{color:#8a4b00}
ul.warn{padding-left:1.1em;margin:.3em 0}
.table-wrap{max-width:100%;overflow-x:auto;margin:.5em 0 1em}
table{border-collapse:collapse;font-size:13.5px;width:100%}
th,td{padding:4px 6px;border-bottom:1px solid #e2e2e2;text-align:right;vertical-align:top}
th{font-weight:600;background:#fafafa;overflow-wrap:break-word}
th:first-child,td:first-child{text-align:left}
td.win{background:#e3f4e6;font-weight:700}
td .dir,th .dir{display:block;font-weight:400;font-size:.85em;color:#666}
.figs{display:grid;grid-template-columns:repeat(auto-fill,minmax(min(100%,460px),1fr));gap:14px;margin:.6em 0}
figure{margin:0;min-width:0}
figure img{width:100%;height:auto;display:block}
figcaption{font-size:.88em;color:#555;margin-top:.2em}
details{margin:.5em 0}summary{cursor:pointer;font-weight:600}
.muted{color:#666;font-size:.9em}
caption{text-align:left;padding:2px 0}
@media (max-width:600px){body{font-size:14px;padding:8px 10px 30px}table{font-size:12.5px}th,td{padding:3px 4px}}
"""


def _e(x: Any) -> str:
    return html.escape(str(x), quote=True)


def _figure(src: str | None, caption: str) -> str:
    if not src:
        return ""
    return f'<figure><img src="{src}" alt="{_e(caption)}"><figcaption>{_e(caption)}</figcaption></figure>'


def _figs(items: list[str]) -> str:
    items = [i for i in items if i]
    return f'<div class="figs">{"".join(items)}</div>' if items else ""


def _table(head: list[str], rows: list[list[str]], caption: str = "") -> str:
    """A table from already-escaped cells; a cell may be ``(html, css class)``."""
    def cell(c: Any, tag: str) -> str:
        if isinstance(c, tuple):
            return f'<{tag} class="{c[1]}">{c[0]}</{tag}>'
        return f"<{tag}>{c}</{tag}>"

    body = "".join("<tr>" + "".join(cell(c, "td") for c in r) + "</tr>" for r in rows)
    cap = f"<caption class='muted'>{_e(caption)}</caption>" if caption else ""
    return (f'<div class="table-wrap"><table>{cap}<thead><tr>{"".join(cell(h, "th") for h in head)}</tr></thead>'
            f"<tbody>{body}</tbody></table></div>")


def _metric_rows(metrics_list, per_label: dict[str, dict[str, Any]], truth: dict[str, Any] | None = None) -> list[list[Any]]:
    """One row per metric: label (+ which way is better), each method's value, the row's winner marked."""
    rows = []
    labels = list(per_label)
    for m in metrics_list:
        values = {lab: per_label[lab].get(m.key) for lab in labels}
        if all(v is None for v in values.values()):
            continue
        tv = None
        if truth is not None and m.key in NUMERIC_TRUTH:
            tv = truth.get(NUMERIC_TRUTH[m.key])
        wins = winner(values, m, target=tv)
        if m.better != "target":
            direction = f"{m.better} is better"
        elif m.target is not None:
            direction = f"best {m.direction}"
        else:
            direction = f"best near the truth, {format_value(tv, m.percent)}" if tv is not None else ""
        row: list[Any] = [f"{_e(m.label)}<span class='dir'>{_e(direction)}</span>"]
        for lab in labels:
            txt = _e(format_value(values[lab], m.percent))
            row.append((txt, "win") if lab in wins else txt)
        rows.append(row)
    return rows


def _headline(ev: Evaluation, qualities: dict[str, Any], colours: dict[str, str]) -> str:
    v = verdict(ev.metrics)
    order = _ranked(ev)
    cards = []
    for label in order:
        d = v["methods"][label]
        q = qualities.get(label, {}).get("score")
        sec = ev.metrics["methods"][label]["seconds"]
        warn = "".join(f"<li>{_e(w)}</li>" for w in d["warnings"])
        cards.append(
            f'<div class="card {"best" if d["status"] == "best" else ""}">'
            f'<div class="name"><span style="color:{colours[label]}">&#9632;</span> {_e(label)}'
            f'<span class="badge {d["status"]}">{_e({"best": "best", "tie": "tie", "worse": "worse"}.get(d["status"], d["status"]))}</span></div>'
            f'<div class="score">{_e(format_value(q, digits=3) if q is not None else "-")}<small> / 100 quality</small></div>'
            f"<div>{_e(d['why'])}.</div>"
            + (f'<ul class="warn">{warn}</ul>' if warn else "")
            + f'<div class="muted">fit {format_value(sec["fit"])} s, impute {format_value(sec["sample"])} s per fold</div></div>')
    if BLIND in qualities:
        cards.append(
            f'<div class="card blind"><div class="name">{_e(BLIND)}<span class="badge blind">yardstick</span></div>'
            f'<div class="score">{_e(format_value(qualities[BLIND]["score"]))}<small> / 100 quality</small></div>'
            f"<div>donor records picked by weight alone, ignoring the predictors; energy score "
            f"{_e(format_value(ev.metrics['baseline'].get('energy_score')))}. A method should beat it clearly.</div></div>")
    notes = "".join(f"<p>{_e(n)}</p>" for n in v["notes"])
    return (f'<div class="verdict"><p class="headline">{_e(v["headline"])}</p>{notes}</div>'
            f'<div class="cards">{"".join(cards)}</div>')


def _ranked(ev: Evaluation) -> list[str]:
    methods = ev.metrics["methods"]
    return sorted(methods, key=lambda m: (methods[m]["overall"].get("energy_score") is None,
                                          methods[m]["overall"].get("energy_score") or 0.0))


def _quality_section(qualities: dict[str, Any]) -> str:
    labels = list(qualities)
    parts = [p for p in QUALITY_PARTS if any(p in q["parts"] for q in qualities.values())]
    rows = []
    for p in parts:
        rows.append([f"{_e(p)}<span class='dir'>{_e(QUALITY_PARTS[p])}</span>"]
                    + [_e(format_value(qualities[lab]["parts"].get(p))) for lab in labels])
    rows.append(["<b>quality</b><span class='dir'>mean of the checks above</span>"]
                + [f"<b>{_e(format_value(qualities[lab]['score']))}</b>" for lab in labels])
    return (f"<details><summary>How the quality score is made</summary><p>{_e(QUALITY_HOW)}</p>"
            + _table(["check"] + [_e(lab) for lab in labels], rows) + "</details>")


def _constraints_section(ev: Evaluation) -> str:
    s = ev.metrics["settings"]
    cons = s.get("constraints") or []
    if not cons:
        return "<h2>Constraints</h2><p>No constraints were declared for this block.</p>"
    records = s["rows"] * s["draws"]
    labels = list(ev.metrics["methods"])
    rows = []
    for c in cons:
        row = [f"<code>{_e(c)}</code>"]
        for lab in labels:
            share = (ev.metrics["methods"][lab]["overall"].get("constraint_violations") or {}).get(c)
            if share is None:
                row.append("-")
            else:
                count = int(round(share * records))
                txt = f"{count:,} ({format_value(share, percent=True)})"
                row.append((txt, "warn") if count else txt)
        rows.append(row)
    broken = any(isinstance(c, tuple) for r in rows for c in r)
    lead = ("Imputed records breaking each declared constraint, of about "
            f"{records:,} records per method ({s['rows']:,} held-out rows x {s['draws']} draws). ")
    lead += ("surveyfuse methods enforce the constraints on their draws; reference tools (mice, microimpute) do not."
             if broken else "No imputed record breaks any declared constraint.")
    return f"<h2>Constraints</h2><p>{_e(lead)}</p>" + _table(["constraint"] + [_e(lab) for lab in labels], rows)


def _variable_sections(ev: Evaluation, colours: dict[str, str]) -> str:
    methods = ev.metrics["methods"]
    kinds = {v["name"]: v for v in ev.metrics["settings"]["variables"]}
    labels = list(methods)
    ex = {m: ev.examples[m] for m in labels if m in ev.examples}
    out = ["<h2>Each block variable</h2>"]
    if not ex:
        out.append("<p class='muted'>Distribution and conditional plots need the first fold's draws: evaluate with "
                   "<code>keep_examples=True</code> (the CLI does when it writes a report).</p>")
    first = next(iter(ex.values()), None)
    weights = ev.metrics["settings"].get("weights")
    for var in ev.metrics["settings"]["block"]:
        info = kinds.get(var, {})
        discrete = info.get("kind") in ("binary", "categorical")
        per = {lab: methods[lab]["variables"].get(var, {}) for lab in labels}
        truth_vals = next(iter(per.values()), {})
        table = _table(["metric"] + [_e(lab) for lab in labels],
                       _metric_rows(DISCRETE_METRICS if discrete else NUMERIC_METRICS, per, truth_vals))
        figs = []
        if first is not None:
            figs = _variable_figures(var, discrete, per, ex, first, weights, colours, ev)
        out.append(f"<h3>{_e(var)} <span class='muted'>({_e(info.get('kind', ''))})</span></h3>" + _figs(figs) + table)
    return "".join(out)


def _weights(frame, weights: str | None):
    return frame[weights].to_numpy(dtype=np.float64) if weights and weights in frame.columns else None


def _variable_figures(var, discrete, per, ex, first, weights, colours, ev) -> list[str]:
    truth = first["truth"]
    donor = first.get("donor")
    wt = _weights(truth, weights)
    figs = []
    if discrete:
        levels = list(next(iter(per.values())).get("level_share_true", {}))
        shares = {"truth": [next(iter(per.values()))["level_share_true"][lv] for lv in levels]}
        for lab, d in per.items():
            if d.get("level_share_imputed"):
                shares[lab] = [d["level_share_imputed"].get(lv, 0.0) for lv in levels]
        if levels:
            figs.append(_figure(figures.share_bars(var, levels, shares, colours),
                                f"{var}: share of each value among held-out records (mean over folds) and among the draws"))
    else:
        draws = {m: (np.asarray(e["draws"][var], dtype=np.float64), wt) for m, e in ex.items()}
        src_donor = (donor[var].to_numpy(dtype=np.float64), _weights(donor, weights)) if donor is not None else (
            truth[var].to_numpy(dtype=np.float64), wt)
        figs.append(_figure(figures.density_plot(var, src_donor, (truth[var].to_numpy(dtype=np.float64), wt), draws, colours),
                            f"{var}: density of the non-zero values, donor (training folds) vs held-out truth vs each "
                            "method's pooled draws (first fold); the legend gives each one's share of zeros"))
    pred = _related_predictor(ev, var)
    if pred is not None and pred in truth.columns:
        cat = pred in (ev.metrics["settings"].get("categorical") or [])
        codes, labels = dist.predictor_bins(truth[pred].to_numpy(), wt, categorical=cat)
        if len(labels) >= 2:
            if discrete:
                lv = _top_level(per)
                t = (truth[var].astype(str).to_numpy() == lv).astype(float)
                draws_by = {m: (np.asarray(e["draws"][var]).astype(str) == lv).astype(float) for m, e in ex.items()}
                name = f"share {var}={lv}"
            else:
                t = truth[var].to_numpy(dtype=np.float64)
                draws_by = {m: np.asarray(e["draws"][var], dtype=np.float64) for m, e in ex.items()}
                name = var
            tm = dist.binned_means(codes, len(labels), t, None, wt)["truth"]
            dm = {m: dist.binned_means(codes, len(labels), None, D, wt)["draws"] for m, D in draws_by.items()}
            figs.append(_figure(figures.conditional_plot(name, pred, labels, tm, dm, colours),
                                f"mean {name} in bins of {pred} (the predictor most related to it), held-out truth vs "
                                "each method: points are the mean over draws, bars the 5-95% range of the draws; a "
                                "flatter line than the truth means the relationship is attenuated"))
    return figs


def _top_level(per: dict[str, Any]) -> str:
    shares = next(iter(per.values())).get("level_share_true") or {}
    ranked = sorted(shares, key=shares.get)
    return ranked[0] if len(ranked) == 2 else ranked[-1]  # binary: the rarer value; else the most common


def _related_predictor(ev: Evaluation, var: str) -> str | None:
    """The predictor with the largest true |Spearman| with ``var`` (first numeric predictor if unknown)."""
    preds = list(ev.metrics["settings"]["predictors"])
    for res in ev.metrics["methods"].values():
        c = res.get("correlation")
        if c and var in c["names"]:
            i = c["names"].index(var)
            cand = [(abs(c["true"][i][j]), n) for j, n in enumerate(c["names"]) if n in preds and c["true"][i][j] is not None]
            if cand:
                return max(cand)[1]
    cats = set(ev.metrics["settings"].get("categorical") or [])
    numeric = [p for p in preds if p not in cats]
    return (numeric or preds or [None])[0]


def _calibration_section(ev: Evaluation, colours: dict[str, str]) -> str:
    methods = ev.metrics["methods"]
    kinds = {v["name"]: v["kind"] for v in ev.metrics["settings"]["variables"]}
    numeric = [v for v in ev.metrics["settings"]["block"] if kinds.get(v) not in ("binary", "categorical")]
    if not numeric:
        return ""
    figs = [_figure(figures.coverage(methods, numeric, colours),
                    "share of held-out true values inside the central 50% (dark) and 90% (light) of each row's draws")]
    for m, res in methods.items():
        figs.append(_figure(figures.pit_histograms(m, res["variables"], numeric),
                            f"{m}: where the true value falls among the draws; flat at 1 is calibrated, a U shape means "
                            "draws too narrow, a hump too wide"))
    return "<h2>Calibration</h2>" + _figs(figs)


def _relationships_section(ev: Evaluation) -> str:
    block = ev.metrics["settings"]["block"]
    figs = [_figure(figures.spearman_difference(m, res["correlation"], block),
                    f"{m}: imputed minus true rank correlation of each numeric block variable with the predictors and "
                    "the block; the colour scale is fitted to the largest difference")
            for m, res in ev.metrics["methods"].items() if res.get("correlation")]
    return ("<h2>Relationships</h2><p>Rank (Spearman) correlations in the fused data against the truth, averaged over "
            "folds. Differences near zero mean relationships survive imputation.</p>" + _figs(figs)) if figs else ""


def render_html(ev: Evaluation, title: str = "surveyfuse evaluation") -> str:
    """The report as one HTML string (see the module docstring)."""
    s = ev.metrics["settings"]
    methods = ev.metrics["methods"]
    labels = list(methods)
    colours = figures.palette(labels)
    qualities = method_qualities(ev.metrics)
    overall = {lab: {**methods[lab]["overall"]} for lab in labels}
    metric_table = _table(["metric"] + [_e(lab) for lab in labels], _metric_rows(METRICS, overall),
                          "the best value in each row is highlighted (by that metric's own direction)")
    bars = []
    for m in METRICS:
        if m.key not in BAR_KEYS:
            continue
        vals = {lab: overall[lab].get(m.key) for lab in labels}
        if all(not v for v in vals.values()) and m.key == "violation_share":
            continue  # the constraints section says so in words
        if all(v is None for v in vals.values()):
            continue
        bars.append(_figure(figures.metric_bars(m, vals, winner(vals, m)), f"{m.label}: {m.help or m.direction + ' is better'}"))
    spread = _figure(figures.fold_spread(ev.metrics, colours),
                     "each method's energy score in each fold (the grey dashed line is predictor-blind draws); "
                     "lines that stay apart in every fold mean a ranking that holds")
    skipped = "".join(f"<li>{_e(k)}: {_e(v)}</li>" for k, v in (ev.metrics.get("skipped") or {}).items())
    if not labels:
        body = "<p>No method could be scored.</p>" + (f"<ul>{skipped}</ul>" if skipped else "")
    else:
        body = (
            _headline(ev, qualities, colours) + _quality_section(qualities)
            + "<h2>All metrics</h2><p class='muted'>Mean over folds. Standardised metrics divide by the donor's "
              "standard deviation of each variable.</p>" + metric_table + _figs(bars)
            + "<h2>Fold to fold</h2>" + _figs([spread])
            + _constraints_section(ev) + _variable_sections(ev, colours) + _calibration_section(ev, colours)
            + _relationships_section(ev)
            + (f"<h2>Skipped</h2><ul>{skipped}</ul>" if skipped else ""))
    predictors = ", ".join(s["predictors"])
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(title)}</title><style>{CSS}</style></head><body>
<h1>{_e(title)}</h1>
<p>{_e(settings_sentence(s))}</p>
<p class="muted">Block: <code>{_e(', '.join(s['block']))}</code>. Predictors: <code>{_e(predictors)}</code>.</p>
{body}
<p class="muted">Made by surveyfuse {_e(__version__)}. Metric definitions: docs/evaluation.md in the surveyfuse
documentation. The numbers are in metrics.json beside this file.</p>
</body></html>"""


def write_report(ev: Evaluation, out_dir: str | Path, title: str = "surveyfuse evaluation", html_report: bool = True) -> dict[str, str]:
    """Write ``metrics.json`` (and ``report.html``) into ``out_dir``; return their paths.

    The report is one self-contained HTML file (see the module docstring);
    ``title`` heads it.

    Examples
    --------
    >>> import os, tempfile
    >>> import surveyfuse as sf
    >>> donor, _ = sf.datasets.make_surveys(n_donor=300, seed=0)
    >>> ev = sf.evaluate_methods(donor, ["interest", "dividends"], ["age", "wage"], methods=["hotdeck"],
    ...                          folds=2, draws=3, keep_examples=True)
    >>> paths = sf.write_report(ev, tempfile.mkdtemp())
    >>> sorted(paths), os.path.getsize(paths["report"]) > 10000
    (['metrics', 'report'], True)
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"metrics": str(out / "metrics.json")}
    (out / "metrics.json").write_text(json.dumps(ev.metrics, indent=1))
    if html_report:
        (out / "report.html").write_text(render_html(ev, title), encoding="utf-8")
        paths["report"] = str(out / "report.html")
    return paths


__all__ = ["render_html", "text_table", "write_report"]
