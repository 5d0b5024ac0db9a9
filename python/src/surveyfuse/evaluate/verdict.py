"""What an evaluation says, in words a reader can act on.

The lowest mean energy score names a best method even when the methods tie.
The verdict weighs each gap against its uncertainty: the paired per-fold
differences of :func:`~surveyfuse.evaluate.crossval.paired_margins`. A
method is *clearly* better than another when the mean gap exceeds twice its
standard error; otherwise the two cannot be told apart on this donor.

:data:`METRIC_GUIDE` names each score in full and says which way is better,
for front ends (R's ``print()``, the CLI) that show the numbers.
"""

from __future__ import annotations

from typing import Any

#: how many standard errors a gap must exceed to count as a real difference
CLEAR_GAP_SE = 2.0

#: metric -> (full name, what is better: "lower", "higher" or the target value)
METRIC_GUIDE: dict[str, tuple[str, Any]] = {
    "energy_score": ("energy score of the standardised block (joint accuracy)", "lower"),
    "energy_skill": ("share of the predictor-blind energy score removed (0 = predictors add nothing)", "higher"),
    "crps_std": ("CRPS per variable, standardised (marginal accuracy)", "lower"),
    "pinball_std": ("quantile (pinball) loss, standardised", "lower"),
    "coverage50": ("share of true values inside the central 50% of the draws", 0.5),
    "coverage90": ("share of true values inside the central 90% of the draws", 0.9),
    "ks": ("Kolmogorov-Smirnov distance of imputed and true marginals", "lower"),
    "wasserstein_std": ("Wasserstein distance of imputed and true marginals, standardised", "lower"),
    "correlation_mad": ("mean absolute difference of Spearman correlations", "lower"),
    "abs_log_total_ratio": ("|log(imputed total / true total)|", "lower"),
    "top10_share_diff": ("error in the top-10% share of the total", "lower"),
    "zero_share_diff": ("error in the share of exact zeros", "lower"),
    "accuracy": ("share of categorical draws equal to the truth", "higher"),
    "brier": ("Brier score of categorical draws", "lower"),
    "total_variation": ("total-variation distance of category shares", "lower"),
    "violation_share": ("share of imputed records breaking a declared constraint", "lower"),
    "fit_seconds": ("seconds to fit, per fold", "lower"),
    "sample_seconds": ("seconds to draw, per fold", "lower"),
}


def verdict(best: str | None, margins: dict[str, Any]) -> dict[str, Any]:
    """``{"best", "clear", "headline", "comparisons": [...]}`` from the paired margins to ``best``.

    Each comparison: ``{"method", "gap", "se", "folds_won", "folds", "clear", "text"}``, e.g.
    ``"forest is better than hotdeck in 3 of 3 folds; gap 0.063 +- 0.007"``.
    """
    if best is None:
        return {"best": None, "clear": False, "headline": "no method could be scored", "comparisons": []}
    comparisons = []
    for method, m in sorted(margins.items(), key=lambda kv: kv[1]["gap"]):
        se = m.get("se")
        clear = se is not None and m["gap"] > CLEAR_GAP_SE * se
        spread = f" +- {se:.3f}" if se is not None else " (one fold: no standard error)"
        if clear:
            text = f"{best} is better than {method} in {m['folds_won_by_best']} of {m['folds']} folds; gap {m['gap']:.3f}{spread}"
        else:
            text = (f"{best} and {method} cannot be told apart: {best} is better in {m['folds_won_by_best']} of "
                    f"{m['folds']} folds; gap {m['gap']:.3f}{spread}")
        comparisons.append({"method": method, "gap": m["gap"], "se": se, "folds_won": m["folds_won_by_best"],
                            "folds": m["folds"], "clear": clear, "text": text})
    beaten = [c["method"] for c in comparisons if c["clear"]]
    tied = [c["method"] for c in comparisons if not c["clear"]]
    if not comparisons:
        headline = f"{best} is the only method scored"
    elif not tied:
        headline = f"{best} is clearly better than every other method"
    elif not beaten:
        headline = "no method is clearly better: the gaps are within twice their standard error"
    else:
        headline = f"{best} is clearly better than {', '.join(beaten)}, but cannot be told apart from {', '.join(tied)}"
    return {"best": best, "clear": bool(comparisons) and not tied, "headline": headline, "comparisons": comparisons}


__all__ = ["CLEAR_GAP_SE", "METRIC_GUIDE", "verdict"]
