"""The interactive diagnostics widget: donor vs imputed, for any block variable and predictor, over the draws.

:func:`diagnostics_data` does the arithmetic once in Python (densities or
level shares per draw, means by bins of every predictor per draw) and
returns plain JSON; ``widget.js`` draws it as SVG. The same script runs in
two places:

* :class:`DiagnosticsWidget` (needs ``anywidget``: ``pip install
  'surveyfuse[notebook]'``), a live Jupyter widget whose selections are
  traits (``variable``, ``predictor``, ``draw``);
* :func:`diagnostics_html`, one self-contained HTML page with the script
  inlined and a stand-in for the widget model, for the documentation, for
  sharing, and for the headless-browser test. No CDN, no network.
"""

from __future__ import annotations

import base64
import html
import json
from importlib import resources
from typing import Any, Sequence

import numpy as np
import pandas as pd

from ..data.frames import as_pandas, check_columns
from ..errors import SurveyfuseError
from ..evaluate import distributions as dist


def _esm() -> str:
    return resources.files("surveyfuse.notebook").joinpath("widget.js").read_text(encoding="utf-8")


def _round(values: Any, digits: int = 4) -> Any:
    """Floats to ``digits`` significant digits (keeps the JSON small); ``None`` for missing."""
    if isinstance(values, (list, tuple, np.ndarray)):
        return [_round(v, digits) for v in values]
    if values is None or not np.isfinite(values):
        return None
    return float(f"{float(values):.{digits}g}")


def _draws(imputed: pd.DataFrame, column: str, m: int, n: int) -> np.ndarray:
    return imputed[column].to_numpy().reshape(m, n)


def diagnostics_data(donor: Any, imputed: Any, block: Sequence[str], predictors: Sequence[str], *,
                     weights: str | None = None, recipient_weights: str | None = None,
                     categorical: Sequence[str] | None = None, max_bins: int = 5) -> dict[str, Any]:
    """Everything the widget draws, as JSON-able numbers.

    Parameters
    ----------
    donor : DataFrame or pyarrow Table
        The donor survey (block and predictors observed).
    imputed : DataFrame or pyarrow Table
        The long output of :meth:`surveyfuse.Imputer.sample` or
        :func:`surveyfuse.impute` (recipient columns, block, ``_imp``, ``_row``).
    block, predictors : list of str
        The imputed variables, and the predictors to bin them by.
    weights, recipient_weights : str, optional
        Survey-weight columns of the donor and of the recipient.
    categorical : list of str, optional
        Columns to treat as discrete whatever their dtype.
    max_bins : int
        Predictor bins (weighted quantiles of the donor's values).

    Returns
    -------
    dict
        ``{"variables": {name: {...}}, "predictors", "draws", "donor_rows",
        "recipient_rows", "weights"}``.
    """
    donor_df, _ = as_pandas(donor, role="donor")
    imp, _ = as_pandas(imputed, role="recipient")
    block, predictors = list(block), list(predictors)
    for col in ("_imp", "_row"):
        if col not in imp.columns:
            raise SurveyfuseError("missing_column", f"the imputed table has no '{col}' column; pass the long output of sample()",
                                  column=col)
    check_columns(donor_df, block + predictors, role="block or predictor", table="donor")
    check_columns(imp, block + predictors, role="block or predictor", table="imputed")
    imp = imp.sort_values(["_imp", "_row"], kind="stable")
    m = int(imp["_imp"].nunique())
    n = len(imp) // m
    first = imp[imp["_imp"] == imp["_imp"].iloc[0]]
    wd = donor_df[weights].to_numpy(dtype=np.float64) if weights else None
    wr = first[recipient_weights].to_numpy(dtype=np.float64) if recipient_weights else None
    cats = set(categorical or [])
    bins = {p: dist.make_bins(donor_df[p].to_numpy(), wd, max_bins, categorical=p in cats) for p in predictors}
    donor_codes = {p: b.assign(donor_df[p].to_numpy()) for p, b in bins.items()}
    recip_codes = {p: b.assign(first[p].to_numpy()) for p, b in bins.items()}
    variables: dict[str, Any] = {}
    for v in block:
        col = donor_df[v]
        discrete = v in cats or not pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col) or (
            col.dropna().nunique() <= 2)
        D = _draws(imp, v, m, n)
        entry: dict[str, Any] = {"name": v, "kind": "discrete" if discrete else "numeric"}
        if discrete:
            levels = sorted(pd.unique(pd.concat([col.dropna(), pd.Series(D.ravel())]).astype(str)), key=_level_key)
            dv = col.astype(str).to_numpy()
            Ds = D.astype(str)
            entry["levels"] = levels
            entry["donor"] = _round(dist.level_shares(dv, levels, wd))
            entry["imputed"] = [_round(dist.level_shares(Ds[d], levels, wr)) for d in range(m)]
            shares = dict(zip(levels, entry["donor"]))
            top = min(shares, key=shares.get) if len(levels) == 2 else max(shares, key=shares.get)
            entry["top_level"] = top
            target_d, target_r = (dv == top).astype(float), (Ds == top).astype(float)
        else:
            dvals = col.to_numpy(dtype=np.float64)
            ok = np.isfinite(dvals)
            series = {"donor": (dvals[ok], None if wd is None else wd[ok]),
                      **{f"d{d}": (D[d].astype(np.float64), wr) for d in range(m)}}
            dens = dist.density(series, points=120)
            entry.update(axis=dens["axis"], x=_round(dens["x"]), donor=_round(dens["density"]["donor"]),
                         imputed=[_round(dens["density"][f"d{d}"]) for d in range(m)],
                         zero_donor=_round(dens["zero_share"]["donor"]),
                         zero_imputed=[_round(dens["zero_share"][f"d{d}"]) for d in range(m)])
            target_d, target_r = np.where(ok, dvals, 0.0), D.astype(np.float64)
        entry["by"] = {}
        for p in predictors:
            nb = len(bins[p].labels)
            dmeans = dist.binned_means(donor_codes[p], nb, target_d, None, wd)
            rmeans = dist.binned_means(recip_codes[p], nb, None, target_r, wr)
            entry["by"][p] = {"predictor": p, "labels": bins[p].labels, "donor": _round(dmeans["truth"]),
                              "imputed": [_round(r) for r in rmeans["draws"]],
                              "donor_share": _round(dmeans["share"]), "recipient_share": _round(rmeans["share"])}
        variables[v] = entry
    return {"variables": variables, "predictors": predictors, "draws": m, "donor_rows": int(len(donor_df)),
            "recipient_rows": int(n), "weights": weights}


def _level_key(x: str) -> tuple[int, Any]:
    try:
        return (0, float(x))
    except ValueError:
        return (1, x)


def diagnostics_html(data: dict[str, Any], variable: str | None = None, predictor: str | None = None,
                     title: str = "surveyfuse diagnostics", full_page: bool = True) -> str:
    """The widget as HTML that runs by itself: the script inlined, a stand-in for the widget model.

    With ``full_page`` a complete document (viewport meta tag, title);
    otherwise a fragment to embed in a notebook cell or a documentation page.
    """
    state = {"data": data, "variable": variable or next(iter(data["variables"])),
             "predictor": predictor or data["predictors"][0], "draw": 0}
    uid = "sf-diag-" + base64.b32encode(np.random.default_rng().bytes(5)).decode("ascii").lower()
    module = "data:text/javascript;base64," + base64.b64encode(_esm().encode("utf-8")).decode("ascii")
    state_json = json.dumps(state, separators=(",", ":")).replace("</", "<\\/")
    body = f"""<div id="{uid}" class="sf-widget-host" style="max-width:100%"></div>
<script type="module">
import widget from "{module}";
const state = {state_json};
const handlers = {{}};
const model = {{
  get: (k) => state[k],
  set: (k, v) => {{ state[k] = v; (handlers["change:" + k] || []).forEach((f) => f()); }},
  on: (name, f) => {{ (handlers[name] = handlers[name] || []).push(f); }},
  save_changes: () => {{}},
}};
widget.render({{ model, el: document.getElementById("{uid}") }});
</script>"""
    if not full_page:
        return body
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" '
            f'content="width=device-width, initial-scale=1"><title>{html.escape(title)}</title></head>'
            f'<body style="margin:0 auto;padding:8px 12px;max-width:1000px">'
            f'<h1 style="font:600 1.3em system-ui,sans-serif">{html.escape(title)}</h1>{body}</body></html>')


def _widget_class() -> type:
    try:
        import anywidget
        import traitlets
    except ImportError as exc:
        raise SurveyfuseError("missing_dependency", "the diagnostics widget needs anywidget: pip install 'surveyfuse[notebook]' "
                              "(diagnostics_html() needs nothing)", dependency="anywidget") from exc

    class DiagnosticsWidget(anywidget.AnyWidget):
        """Live Jupyter widget; ``variable``, ``predictor`` and ``draw`` (0 = all draws) are its selections."""

        _esm = _esm()
        data = traitlets.Dict().tag(sync=True)
        variable = traitlets.Unicode("").tag(sync=True)
        predictor = traitlets.Unicode("").tag(sync=True)
        draw = traitlets.Int(0).tag(sync=True)

        def to_html(self, title: str = "surveyfuse diagnostics") -> str:
            """A self-contained page of this widget's current view (see :func:`diagnostics_html`)."""
            return diagnostics_html(self.data, self.variable, self.predictor, title=title)

    return DiagnosticsWidget


def diagnostics_widget(donor: Any, imputed: Any, block: Sequence[str], predictors: Sequence[str], *,
                       weights: str | None = None, recipient_weights: str | None = None,
                       categorical: Sequence[str] | None = None, max_bins: int = 5) -> Any:
    """An interactive view of donor vs imputed distributions, for Jupyter.

    Pick a block variable and a predictor: the left panel shows the donor's
    distribution against the imputed one (a density of the non-zero values
    and the share of zeros, or the share of each value), the right one the
    mean of the variable in bins of the predictor, donor against imputed. A
    draw selector shows one imputation or all of them (a band over the draws).

    Parameters are those of :func:`diagnostics_data`. Needs ``anywidget``
    (``pip install 'surveyfuse[notebook]'``); ``widget.to_html()`` gives the
    same view as a self-contained page.

    Examples
    --------
    >>> import surveyfuse as sf
    >>> from surveyfuse.notebook import diagnostics_widget
    >>> donor, recipient = sf.datasets.make_surveys(n_donor=300, n_recipient=60, seed=0)
    >>> imputed = sf.impute(donor, recipient, block=["interest", "dividends"], predictors=["age", "wage"],
    ...                     method="hotdeck", draws=3, seed=0)
    >>> w = diagnostics_widget(donor, imputed, block=["interest", "dividends"], predictors=["age", "wage"])
    >>> w.variable, w.predictor, w.data["draws"]
    ('interest', 'age', 3)
    """
    data = diagnostics_data(donor, imputed, block, predictors, weights=weights, recipient_weights=recipient_weights,
                            categorical=categorical, max_bins=max_bins)
    cls = _widget_class()
    return cls(data=data, variable=list(block)[0], predictor=list(predictors)[0], draw=0)


__all__ = ["diagnostics_data", "diagnostics_html", "diagnostics_widget"]
