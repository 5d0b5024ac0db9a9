"""``method="auto"``: pick the method by a cheap donor-only validation.

The Imputer calls :func:`choose_method` before fitting: a small K-fold
validation (:func:`~surveyfuse.evaluate.crossval.evaluate_methods`, default 3
folds, 5 draws, at most 3000 donor rows) over the candidate methods, scored
by the energy score of the standardised block; the winner is then fitted on
the whole donor. Candidates, their scores and the reason land in
``fit_report_["auto"]``.

A generative candidate whose fit fails its held-out check on any fold (see
:mod:`surveyfuse.backends.deep.fit_check`) is never chosen, whatever its
score: those fold warnings are collected instead of shown, and the report
lists them under ``failed_fit_check``. (The check is per backend name, so
two variants of one failing method are both left out.) The winner is then
fitted on the whole donor; if that fit fails its own check, the next
candidate by score is fitted instead (:func:`fit_with_fallback`), and the
report says so under ``failed_on_whole_donor``.

Parameters (``method={"name": "auto", "params": {...}}``): ``candidates``
(list of method names or ``{"name", "params"}``; default forest, qrf,
hotdeck), ``generative`` (also try the registered torch methods when torch
is installed), ``folds``, ``draws``, ``max_rows``.
"""

from __future__ import annotations

import importlib.util
import warnings
from typing import Any, Callable, Sequence

import pandas as pd

from ..errors import SurveyfuseError

AUTO = "auto"
DEFAULT_CANDIDATES = ("forest", "qrf", "hotdeck")
GENERATIVE = ("tvae", "diffusion", "ctgan", "ctabgan")
AUTO_PARAMS = {"candidates", "generative", "folds", "draws", "max_rows"}


def auto_candidates(params: dict[str, Any]) -> list[Any]:
    from ..backends import REGISTRY

    unknown = sorted(set(params) - AUTO_PARAMS)
    if unknown:
        raise SurveyfuseError("bad_param", f"method 'auto' has no parameter '{unknown[0]}' (known: {', '.join(sorted(AUTO_PARAMS))})",
                              method=AUTO, param=unknown[0])
    cands = list(params.get("candidates") or DEFAULT_CANDIDATES)
    if params.get("generative") and importlib.util.find_spec("torch") is not None:
        cands += [m for m in GENERATIVE if m in REGISTRY and m not in cands]
    for c in cands:
        name = c.get("name") if isinstance(c, dict) else c
        if name not in REGISTRY:
            raise SurveyfuseError("bad_param", f"auto candidate '{name}' is not a registered method", method=AUTO, param="candidates")
    return cands


def choose_method(donor: pd.DataFrame, block: Sequence[str], predictors: Sequence[str], params: dict[str, Any], *,
                  weights: str | None, constraints: Sequence[str] | None, categorical: Sequence[str] | None,
                  seed: int) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """(method name, its params, report) chosen by donor-only validation."""
    from .crossval import evaluate_methods, normalise_methods, paired_margins

    pairs = normalise_methods(auto_candidates(params))
    folds, draws, max_rows = int(params.get("folds", 3)), int(params.get("draws", 5)), int(params.get("max_rows", 3000))
    frame = donor.dropna(subset=list(block))
    if weights is not None:
        frame = frame[frame[weights] > 0]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ev = evaluate_methods(frame, block, predictors, pairs, folds=folds, draws=draws, weights=weights,
                              constraints=constraints, categorical=categorical, seed=seed, max_rows=max_rows)
    failed = failed_checks(caught, pairs)
    scores = {m: r["overall"]["energy_score"] for m, r in ev.metrics["methods"].items()}
    trusted = {m: v for m, v in scores.items() if m not in failed and v is not None}
    if not trusted:
        if failed:
            raise SurveyfuseError("bad_param", "method 'auto': every candidate that could be scored failed its held-out "
                                  "fit check (" + "; ".join(failed.values()) + "); add 'forest' to the candidates",
                                  method=AUTO, param="candidates", failed_fit_check=failed)
        raise SurveyfuseError("bad_param", "method 'auto' could not score any candidate", method=AUTO,
                              skipped=ev.metrics["skipped"])
    best = min(trusted, key=trusted.get)
    name, chosen_params = _name(dict(pairs)[best]), _params(dict(pairs)[best])
    ranked = sorted(trusted, key=trusted.get)
    runner = f"; runner-up {ranked[1]} ({scores[ranked[1]]:.4f})" if len(ranked) > 1 else ""
    left_out = f"; left out for failing the held-out fit check: {', '.join(failed)}" if failed else ""
    report = {
        "chosen": best,
        "candidates": [m for m, _ in pairs],
        "energy_score": scores,
        "crps_std": {m: r["overall"].get("crps_std") for m, r in ev.metrics["methods"].items()},
        "coverage90": {m: r["overall"].get("coverage90") for m, r in ev.metrics["methods"].items()},
        "seconds": {m: r["seconds"] for m, r in ev.metrics["methods"].items()},
        "margins": paired_margins(ev.metrics["methods"], best) if best != ev.best else ev.metrics["margins"],
        "skipped": ev.metrics["skipped"],
        "failed_fit_check": failed,
        "ranking": [{"label": m, "name": _name(dict(pairs)[m]), "params": _params(dict(pairs)[m])} for m in ranked],
        "settings": {"folds": folds, "draws": draws, "rows": ev.metrics["settings"]["rows"]},
        "reason": f"{best} has the lowest energy score ({scores[best]:.4f}) in {folds}-fold donor-only "
                  f"validation on {ev.metrics['settings']['rows']} rows with {draws} draws{runner}{left_out}",
    }
    return name, chosen_params, report


def _name(spec: Any) -> str:
    return spec if isinstance(spec, str) else spec["name"]


def _params(spec: Any) -> dict[str, Any]:
    return {} if isinstance(spec, str) else dict(spec.get("params") or {})


def fit_with_fallback(name: str, params: dict[str, Any], fit: Callable[[str, dict[str, Any]], Any],
                      report: dict[str, Any]) -> tuple[str, Any]:
    """Fit the chosen method on the whole donor; if that fit fails its own held-out check, the next candidate.

    The folds of :func:`choose_method` fit on part of the donor, so a model can
    pass there and fail on the whole file (or the reverse). ``auto`` never
    hands back a model known to fail: it moves down the ranking, records why in
    ``report`` and keeps the failed fit's warning visible. When every ranked
    candidate fails, the last one is kept (its warning says so).
    """
    order = [(report["chosen"], name, params)] + [(r["label"], r["name"], r["params"]) for r in report.get("ranking", [])
                                                  if r["label"] != report["chosen"]]
    for i, (label, n, p) in enumerate(order):
        fitted = fit(n, p)
        check = getattr(fitted, "fit_check_", None) or {}
        if check.get("ok") is not False or i == len(order) - 1:
            if i:
                report["reason"] += (f"; {report['chosen']} failed its held-out fit check when fitted on the whole "
                                     f"donor, so {label} (next by score) was fitted instead")
                report["chosen"] = label
            return n, fitted
        report.setdefault("failed_on_whole_donor", {})[label] = check.get("warning")
    raise AssertionError("unreachable")  # pragma: no cover - the loop returns on its last candidate


def failed_checks(caught: list[warnings.WarningMessage], pairs: list[tuple[str, Any]]) -> dict[str, str]:
    """{candidate label: the first fit-check warning of its method}; other warnings are shown again."""
    from ..backends.deep.fit_check import FitCheckWarning

    by_method: dict[str, str] = {}
    for w in caught:
        if isinstance(w.message, FitCheckWarning):
            by_method.setdefault(w.message.method, str(w.message))
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    out = {}
    for label, spec in pairs:
        name = spec if isinstance(spec, str) else spec.get("name") if isinstance(spec, dict) else None
        if name in by_method:
            out[label] = by_method[name]
    return out


__all__ = ["AUTO", "choose_method", "auto_candidates", "fit_with_fallback"]
