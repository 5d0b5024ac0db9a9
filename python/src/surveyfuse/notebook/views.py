"""Rich HTML for Jupyter: what ``Imputer``, ``Evaluation`` and ``RunResult`` show as a cell's output.

Each object's ``_repr_html_`` calls one function here. The HTML is a small
table with its own scoped style (class ``sf-view``), no scripts and no
external resources, so it renders the same in JupyterLab, VS Code, a static
nbviewer page and the documentation.
"""

from __future__ import annotations

import html
import json
from typing import Any

from ..evaluate.summary import format_value, method_qualities, verdict

STYLE = """<style>
.sf-view{font-family:system-ui,-apple-system,'DejaVu Sans',sans-serif;font-size:13px;max-width:100%;overflow-x:auto}
.sf-view table{border-collapse:collapse;margin:4px 0}
.sf-view th,.sf-view td{padding:2px 8px;border-bottom:1px solid #e3e3e3;text-align:left;vertical-align:top}
.sf-view th{font-weight:600;color:#333}
.sf-view td.num{text-align:right;font-variant-numeric:tabular-nums}
.sf-view .sf-title{font-weight:700;font-size:14px;margin:2px 0 4px}
.sf-view .sf-ok{color:#1a7f37}.sf-view .sf-bad{color:#b3261e}.sf-view .sf-muted{color:#666}
.sf-view .sf-best td{background:#e3f4e6}
</style>"""


def _e(x: Any) -> str:
    return html.escape(str(x), quote=True)


def _rows(pairs: list[tuple[str, str]]) -> str:
    """Key/value rows; values are already escaped HTML."""
    return "".join(f"<tr><th>{_e(k)}</th><td>{v}</td></tr>" for k, v in pairs)


def _wrap(title: str, body: str) -> str:
    return f'{STYLE}<div class="sf-view"><div class="sf-title">{_e(title)}</div>{body}</div>'


def _constraint_rows(c: dict[str, Any]) -> list[tuple[str, str]]:
    viol = c.get("violations") or {}
    if not viol:
        return [("constraints", "<span class='sf-muted'>none declared</span>")]
    status = ("<span class='sf-ok'>ok: no record breaks a constraint</span>" if c.get("ok")
              else f"<span class='sf-bad'>{sum(viol.values()):,} violations</span>")
    rows = [("constraints", f"{status} ({format_value(c.get('rows_checked'))} records checked)")]
    for text, k in viol.items():
        rep = (c.get("repaired") or {}).get(text, 0)
        rows.append(("", f"<code>{_e(text)}</code>: {k:,} broken" + (f", {rep:,} repaired" if rep else "")))
    return rows


def imputer_html(imp: Any) -> str:
    """An :class:`~surveyfuse.Imputer`: its settings, and once fitted what it learned from the donor."""
    pairs = [("block", _e(", ".join(imp.block or []))), ("predictors", _e(", ".join(imp.predictors or [])))]
    if imp.categorical:
        pairs.append(("categorical", _e(", ".join(imp.categorical))))
    pairs.append(("weights", _e(imp.weights) if imp.weights else "<span class='sf-muted'>none</span>"))
    if imp.constraints:
        pairs.append(("constraints", "<br>".join(f"<code>{_e(c)}</code>" for c in imp.constraints)))
    if not hasattr(imp, "backend_"):
        method = imp.method if isinstance(imp.method, str) else json.dumps(imp.method) if imp.method else "forest (default)"
        pairs.insert(0, ("method", _e(method)))
        return _wrap("surveyfuse Imputer (not fitted)", f"<table>{_rows(pairs)}</table>")
    r = imp.fit_report_
    params = ", ".join(f"{k}={v}" for k, v in (r.get("method_params") or {}).items())
    pairs.insert(0, ("method", f"<b>{_e(imp.method_)}</b>" + (f" <span class='sf-muted'>({_e(params)})</span>" if params else "")))
    if "auto" in r:
        pairs.insert(1, ("chosen by", _e(r["auto"]["reason"])))
    kinds = ", ".join(f"{v.name} ({v.kind.value})" for v in imp.variables_)
    pairs.insert(2, ("block variables", _e(kinds)))
    dropped = [f"{r.get('dropped_missing_block', 0):,} with a missing block value",
               f"{r.get('dropped_zero_weight', 0):,} with zero weight",
               f"{sum((r.get('dropped_breaking_constraints') or {}).values()):,} breaking a constraint"]
    if r.get("subsampled_to"):
        dropped.append(f"sampled down to {r['subsampled_to']:,}")
    pairs.append(("donor rows", f"{format_value(r.get('donor_rows_used'))} used of {format_value(r.get('donor_rows'))} "
                                f"<span class='sf-muted'>({_e('; '.join(dropped))})</span>"))
    pairs.append(("fit time", f"{format_value(r.get('fit_seconds'))} s"))
    if getattr(imp, "targets_", None):  # a CalibratedImputer
        pairs.append(("calibrated", _e(", ".join(t.text for t in imp.targets_))))
    return _wrap("surveyfuse Imputer (fitted)", f"<table>{_rows(pairs)}</table>")


def evaluation_html(ev: Any) -> str:
    """An :class:`~surveyfuse.evaluate.Evaluation`: the verdict and one row per method."""
    m = ev.metrics
    v = verdict(m)
    q = method_qualities(m)
    head = ("<tr><th>method</th><th>verdict</th><th>quality (0-100)</th><th>energy score</th><th>energy skill</th>"
            "<th>90% coverage</th><th>seconds (fit + impute)</th></tr>")
    body = []
    methods = m["methods"]
    for label in sorted(methods, key=lambda k: methods[k]["overall"].get("energy_score") or float("inf")):
        o = methods[label]["overall"]
        sec = methods[label]["seconds"]
        warn = "".join(f"<br><span class='sf-bad'>{_e(w)}</span>" for w in v["methods"][label]["warnings"])
        cls = ' class="sf-best"' if label == ev.best else ""
        body.append(
            f"<tr{cls}><td><b>{_e(label)}</b></td>"
            f"<td>{_e(v['methods'][label]['why'])}{warn}</td><td class='num'>{_e(format_value(q[label]['score']))}</td>"
            f"<td class='num'>{_e(format_value(o.get('energy_score')))}</td>"
            f"<td class='num'>{_e(format_value(o.get('energy_skill'), percent=True))}</td>"
            f"<td class='num'>{_e(format_value(o.get('coverage90'), percent=True))}</td>"
            f"<td class='num'>{_e(format_value(sec['fit'] + sec['sample']))}</td></tr>")
    notes = "".join(f"<p class='sf-muted'>{_e(n)}</p>" for n in v["notes"])
    s = m["settings"]
    lead = (f"<p><b>{_e(v['headline'])}</b></p>{notes}<table>{head}{''.join(body)}</table>"
            f"<p class='sf-muted'>{s['folds']}-fold donor-only validation, {format_value(s['rows'])} rows, "
            f"{s['draws']} draws. <code>surveyfuse.write_report(ev, DIR)</code> writes the full report with figures.</p>")
    return _wrap("surveyfuse evaluation", lead)


def run_summary_html(summary: dict[str, Any]) -> str:
    """The summary of :func:`surveyfuse.run_spec` (what ``surveyfuse run`` prints), as a table."""
    s = summary
    params = json.dumps(s.get("method_params", {}), default=str)
    dropped = (f"{s.get('dropped_missing_block', 0):,} with missing block values, {s.get('dropped_zero_weight', 0):,} "
               f"with zero weight, {sum((s.get('dropped_breaking_constraints') or {}).values()):,} breaking constraints")
    pairs = [
        ("method", f"<b>{_e(s.get('method'))}</b> <span class='sf-muted'>{_e(params)}</span>"),
        ("donor rows", f"{format_value(s.get('donor_rows_used'))} used of {format_value(s.get('donor_rows'))} "
                       f"<span class='sf-muted'>({_e(dropped)})</span>"),
        ("recipient rows", _e(format_value(s.get("recipient_rows")))),
        ("draws", f"{s.get('draws')} <span class='sf-muted'>(seed {_e(s.get('seed'))})</span>"),
        ("output", f"{format_value(s.get('output_rows'))} rows" + (f" &rarr; <code>{_e(s['output'])}</code> ({_e(s.get('format'))}, "
                   f"{s.get('chunks')} chunk(s), engine {_e(s.get('engine'))})" if s.get("output") else " kept in memory")),
    ]
    pairs += _constraint_rows(s.get("constraints") or {})
    if "rows_off_support" in s:
        pairs.append(("off support", f"{s['rows_off_support']:,} recipient rows flagged in <code>_off_support</code>"))
    if s.get("raking"):
        r = s["raking"]
        pairs.append(("raking", _e(f"donor weights raked on {', '.join(r['columns'])} in {r['iterations']} iterations")))
    for t in (s.get("calibration") or {}).get("targets", []):
        pairs.append(("calibration", _e(f"{t['kind']} {t['target']}: target {t['value']:.4g}, model {t['before']:.4g} -> "
                                        f"{t['after']:.4g}") + (f", mean of draws {t['realized_mean']:.4g}"
                                                                 if t.get("realized_mean") is not None else "")))
    sec = s.get("seconds") or {}
    pairs.append(("time", _e(f"{sec.get('total')} s (read {sec.get('read')} s, fit {sec.get('fit')} s, impute {sec.get('impute')} s)")))
    if s.get("peak_memory_mb") is not None:
        pairs.append(("peak memory", _e(f"{s['peak_memory_mb']} MB")))
    return _wrap(f"surveyfuse run: {s.get('name') or ''}", f"<table>{_rows(pairs)}</table>")


__all__ = ["imputer_html", "evaluation_html", "run_summary_html"]
