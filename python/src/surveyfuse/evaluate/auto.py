"""``method="auto"``: pick the method by a cheap donor-only validation.

The Imputer calls :func:`choose_method` before fitting: a small K-fold
validation (:func:`~surveyfuse.evaluate.crossval.evaluate_methods`, default 3
folds, 5 draws, at most 3000 donor rows) over the candidate methods, scored
by the energy score of the standardised block; the winner is then fitted on
the whole donor. Candidates, their scores and the reason land in
``fit_report_["auto"]``.

Parameters (``method={"name": "auto", "params": {...}}``): ``candidates``
(list of method names or ``{"name", "params"}``; default forest, qrf,
hotdeck), ``generative`` (also try the registered torch methods when torch
is installed), ``folds``, ``draws``, ``max_rows``.
"""

from __future__ import annotations

import importlib.util
from typing import Any, Sequence

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
    from .crossval import evaluate_methods, normalise_methods

    pairs = normalise_methods(auto_candidates(params))
    folds, draws, max_rows = int(params.get("folds", 3)), int(params.get("draws", 5)), int(params.get("max_rows", 3000))
    frame = donor.dropna(subset=list(block))
    if weights is not None:
        frame = frame[frame[weights] > 0]
    ev = evaluate_methods(frame, block, predictors, pairs, folds=folds, draws=draws, weights=weights,
                          constraints=constraints, categorical=categorical, seed=seed, max_rows=max_rows)
    if ev.best is None:
        raise SurveyfuseError("bad_param", "method 'auto' could not score any candidate", method=AUTO,
                              skipped=ev.metrics["skipped"])
    spec = dict(pairs)[ev.best]
    name = spec if isinstance(spec, str) else spec["name"]
    chosen_params = {} if isinstance(spec, str) else dict(spec.get("params") or {})
    scores = {m: r["overall"]["energy_score"] for m, r in ev.metrics["methods"].items()}
    ranked = sorted(scores, key=scores.get)
    runner = f"; runner-up {ranked[1]} ({scores[ranked[1]]:.4f})" if len(ranked) > 1 else ""
    report = {
        "chosen": ev.best,
        "candidates": [m for m, _ in pairs],
        "energy_score": scores,
        "crps_std": {m: r["overall"].get("crps_std") for m, r in ev.metrics["methods"].items()},
        "coverage90": {m: r["overall"].get("coverage90") for m, r in ev.metrics["methods"].items()},
        "seconds": {m: r["seconds"] for m, r in ev.metrics["methods"].items()},
        "margins": ev.metrics["margins"],
        "skipped": ev.metrics["skipped"],
        "settings": {"folds": folds, "draws": draws, "rows": ev.metrics["settings"]["rows"]},
        "reason": f"{ev.best} has the lowest energy score ({scores[ev.best]:.4f}) in {folds}-fold donor-only "
                  f"validation on {ev.metrics['settings']['rows']} rows with {draws} draws{runner}",
    }
    return name, chosen_params, report


__all__ = ["AUTO", "choose_method", "auto_candidates"]
