"""What an evaluation means, in words and in one number per method.

The report, the notebook views and the text table all read an evaluation
through this module, so they agree on three things:

* :data:`METRICS` declares every metric once: its label, which direction is
  better (``"lower"``, ``"higher"``, or ``"target"`` with the value to be
  near) and how to print it, so a per-metric winner is always picked the
  right way round (:func:`winner`).
* :func:`quality` turns a method's scores into a 0-100 summary: the mean of
  a few checks, each 100 when the imputed values match the held-out truth
  (shapes of the distributions, relationships, calibration, totals and,
  when constraints are declared, consistency). It is a summary of fidelity,
  not the verdict, and :data:`QUALITY_HOW` says exactly how it is made.
* :func:`verdict` reads the energy score (a proper score of the joint draws,
  the one the best method is chosen by), the paired fold margins and the
  warning signs (broken constraints, intervals too narrow, totals off, no
  skill over predictor-blind draws) into plain sentences.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable

#: a tie: a method within this many paired standard errors of the best one
TIE_SE = 2.0


@dataclass(frozen=True)
class Metric:
    """One metric: ``key`` in the metrics JSON, how to print it and which way is better."""

    key: str
    label: str
    better: str  # "lower", "higher" or "target"
    target: float | None = None
    percent: bool = False
    help: str = ""

    @property
    def direction(self) -> str:
        """Short words for the table: ``lower``, ``higher`` or ``near 90%``."""
        if self.better == "target":
            return f"near {format_value(self.target, self.percent)}"
        return self.better

    def distance(self, value: float) -> float:
        """How far ``value`` is from best; smaller is better whatever the direction."""
        if self.better == "lower":
            return value
        if self.better == "higher":
            return -value
        return abs(value - float(self.target))


#: metrics of the block as a whole (keys of ``metrics["methods"][m]["overall"]``), in reading order
METRICS: tuple[Metric, ...] = (
    Metric("energy_score", "energy score", "lower",
           help="proper score of the joint draws of the standardised block; the verdict uses it"),
    Metric("energy_skill", "energy skill vs predictor-blind draws", "higher", percent=True,
           help="share of the predictor-blind energy score removed; 0 = learned nothing from the predictors"),
    Metric("crps_std", "CRPS (standardised)", "lower", help="proper score of each numeric variable's draws"),
    Metric("pinball_std", "pinball loss (standardised)", "lower", help="quantile loss over the 5%..95% levels"),
    Metric("coverage50", "50% interval coverage", "target", 0.5, percent=True,
           help="share of true values inside the central half of the draws"),
    Metric("coverage90", "90% interval coverage", "target", 0.9, percent=True,
           help="below target: intervals too narrow, standard errors too small"),
    Metric("ks", "Kolmogorov-Smirnov distance", "lower", help="largest gap between imputed and true CDFs"),
    Metric("wasserstein_std", "Wasserstein distance (standardised)", "lower"),
    Metric("zero_share_diff", "zero-share gap", "lower", percent=True, help="|share of zeros imputed - true|"),
    Metric("top10_share_diff", "top-10% share gap", "lower", percent=True,
           help="|share of the total held by the top decile, imputed - true|"),
    Metric("abs_log_total_ratio", "|log total ratio|", "lower", help="how far weighted totals are off (0.1 = about 10%)"),
    Metric("correlation_mad", "mean |Spearman difference|", "lower",
           help="rank correlations with the predictors and within the block, imputed - true"),
    Metric("accuracy", "accuracy (discrete variables)", "higher", percent=True),
    Metric("brier", "Brier score (discrete variables)", "lower"),
    Metric("violation_share", "records breaking a constraint", "lower", percent=True),
)

#: per-variable metrics of numeric variables; ``truth`` names the true value to print beside them
NUMERIC_METRICS: tuple[Metric, ...] = (
    Metric("crps_std", "CRPS (standardised)", "lower"),
    Metric("coverage50", "50% interval coverage", "target", 0.5, percent=True),
    Metric("coverage90", "90% interval coverage", "target", 0.9, percent=True),
    Metric("ks", "Kolmogorov-Smirnov distance", "lower"),
    Metric("wasserstein_std", "Wasserstein distance (standardised)", "lower"),
    Metric("zero_share_imputed", "share of zeros", "target", percent=True),
    Metric("top10_share_imputed", "top-10% share of the total", "target", percent=True),
    Metric("total_ratio", "weighted total, imputed / true", "target", 1.0),
)
#: for the ``target`` metrics above whose target is the truth: the key holding it
NUMERIC_TRUTH = {"zero_share_imputed": "zero_share_true", "top10_share_imputed": "top10_share_true"}

DISCRETE_METRICS: tuple[Metric, ...] = (
    Metric("accuracy", "accuracy of one draw", "higher", percent=True),
    Metric("mode_accuracy", "accuracy of the most frequent draw", "higher", percent=True),
    Metric("brier", "Brier score", "lower"),
    Metric("total_variation", "total variation of the level shares", "lower", percent=True),
)

METRIC_BY_KEY = {m.key: m for m in METRICS}

QUALITY_PARTS = {
    "shapes": "distributions: 100 x (1 - Kolmogorov-Smirnov distance) for numeric variables and 100 x (1 - total "
              "variation of the level shares) for discrete ones, averaged over the block",
    "relationships": "100 x (1 - mean |Spearman difference|) over the rank correlations of block variables with "
                     "the predictors and with each other",
    "calibration": "100 x (1 - relative miss of the 50% and 90% interval coverage), e.g. 81% coverage of a 90% "
                   "interval scores 90",
    "totals": "100 x (1 - the part of |log(imputed / true weighted total)| beyond twice its sampling error), "
              "averaged over numeric variables: a heavy-tailed total that the held-out rows' luck alone moves by "
              "10% costs nothing",
    "consistency": "100 x (1 - share of imputed records breaking a declared constraint); only with constraints",
}

QUALITY_HOW = (
    "Quality (0-100) is the plain mean of the checks below, each 100 when the imputed values match the held-out "
    "truth and lower the further they are from it. It measures fidelity of the imputed data, not whether each "
    "row's draws are right: predictor-blind draws (donor records picked by weight alone) often score high on it, "
    "so read it against their score. The verdict uses the energy score instead, a proper score of the joint "
    "draws row by row."
)


def format_value(value: Any, percent: bool = False, digits: int = 3) -> str:
    """Numbers for people: ``None`` -> ``-``, integers with separators, else ``digits`` significant digits.

    >>> format_value(1545.6667), format_value(20.0), format_value(0.90412, percent=True), format_value(None)
    ('1,546', '20', '90.4%', '-')
    """
    if value is None or isinstance(value, str):
        return "-" if value is None else value
    x = float(value)
    if not math.isfinite(x):
        return "-"
    if percent:
        return f"{100 * x:.1f}%"
    if abs(x) >= 1000 or (x == int(x) and abs(x) < 1e15):
        return f"{x:,.0f}"
    if x == 0:
        return "0"
    return f"{x:.{digits}g}" if abs(x) >= 10 ** -(digits + 1) else f"{x:.1e}"


def winner(values: dict[str, float | None], metric: Metric, target: float | None = None) -> set[str]:
    """Labels with the best value of ``metric`` (all tied best ones); empty when nothing is comparable.

    >>> sorted(winner({"a": 0.028, "b": 0.011}, METRIC_BY_KEY["correlation_mad"]))
    ['b']
    >>> sorted(winner({"a": 0.86, "b": 0.93}, METRIC_BY_KEY["coverage90"]))
    ['b']
    """
    scored = {}
    for label, v in values.items():
        if v is None or not math.isfinite(float(v)):
            continue
        if metric.better == "target" and metric.target is None:
            if target is None:
                continue
            scored[label] = abs(float(v) - target)
        else:
            scored[label] = metric.distance(float(v))
    if len(scored) < 2:
        return set()
    best = min(scored.values())
    tol = 1e-12 + 1e-9 * abs(best)
    return {k for k, d in scored.items() if d - best <= tol}


def _mean(values: Iterable[float | None]) -> float | None:
    vals = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    return sum(vals) / len(vals) if vals else None


def _clip(x: float | None) -> float | None:
    return None if x is None else min(1.0, max(0.0, x))


def _noise(se: Any) -> float:
    """A recorded standard error, or 0 where none was recorded (metrics files from before it was)."""
    return float(se) if se is not None and math.isfinite(float(se)) else 0.0


def quality(overall: dict[str, Any], variables: dict[str, Any], constraints: bool) -> dict[str, Any]:
    """The 0-100 summary of one method (or of the predictor-blind draws): ``{"score", "parts"}``.

    ``overall`` and ``variables`` are a method's entries in the metrics JSON;
    ``constraints`` says whether any were declared. See :data:`QUALITY_PARTS`.

    >>> q = quality({"correlation_mad": 0.02, "coverage50": 0.5, "coverage90": 0.81},
    ...             {"x": {"kind": "numeric", "ks": 0.1, "total_ratio": 1.0}}, constraints=False)
    >>> q["parts"], q["score"]
    ({'shapes': 90.0, 'relationships': 98.0, 'calibration': 95.0, 'totals': 100.0}, 95.8)
    """
    parts: dict[str, float | None] = {}
    shapes = [1 - v["ks"] if v.get("kind") == "numeric" else 1 - v["total_variation"]
              for v in variables.values() if (v.get("ks") if v.get("kind") == "numeric" else v.get("total_variation")) is not None]
    parts["shapes"] = _clip(_mean(shapes))
    mad = overall.get("correlation_mad")
    parts["relationships"] = None if mad is None else _clip(1 - mad)
    misses = [abs(overall[k] - t) / t for k, t in (("coverage50", 0.5), ("coverage90", 0.9)) if overall.get(k) is not None]
    parts["calibration"] = _clip(1 - _mean(misses)) if misses else None
    ratios = [min(1.0, max(0.0, abs(math.log(v["total_ratio"])) - 2 * _noise(v.get("total_log_se"))))
              for v in variables.values() if v.get("kind") == "numeric" and v.get("total_ratio") and v["total_ratio"] > 0]
    parts["totals"] = _clip(1 - _mean(ratios)) if ratios else None
    if constraints:
        share = overall.get("violation_share")
        parts["consistency"] = None if share is None else _clip(1 - share)
    parts = {k: round(100 * v, 1) for k, v in parts.items() if v is not None}
    score = round(sum(parts.values()) / len(parts), 1) if parts else None
    return {"score": score, "parts": parts}


def method_qualities(metrics: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """:func:`quality` of every scored method, and of ``"predictor-blind draws"`` when the baseline was kept."""
    has_constraints = bool(metrics["settings"].get("constraints"))
    out = {label: quality(res["overall"], res["variables"], has_constraints) for label, res in metrics["methods"].items()}
    base = metrics.get("baseline") or {}
    if base.get("overall") and base.get("variables"):
        out[BLIND] = quality(base["overall"], base["variables"], has_constraints)
    return out


BLIND = "predictor-blind draws"


def method_status(metrics: dict[str, Any], label: str) -> tuple[str, str]:
    """(``"best"``, ``"tie"``, ``"worse"`` or ``"unscored"``, a sentence on its energy score against the best)."""
    best = metrics.get("best")
    if best is None or label not in metrics["methods"]:
        return "unscored", "could not be scored"
    es = metrics["methods"][label]["overall"].get("energy_score")
    if label == best:
        return "best", f"lowest energy score ({format_value(es)})"
    g = (metrics.get("margins") or {}).get(label)
    if g is None:
        return "worse", f"energy score {format_value(es)}"
    se = g.get("se")
    folds = f"{best} better in {g['folds_won_by_best']} of {g['folds']} folds"
    if se is not None and g["gap"] <= TIE_SE * se:
        return "tie", (f"tied with {best}: energy score {g['gap']:+.3g} \u00b1 {se:.2g}, within {TIE_SE:g} standard "
                       f"errors ({folds})")
    spread = f" \u00b1 {se:.2g}" if se is not None else ""
    return "worse", f"energy score {g['gap']:+.3g}{spread} above {best} ({folds})"


def warnings_for(overall: dict[str, Any], baseline: dict[str, Any] | None = None) -> list[str]:
    """Plain-language warning signs in one method's overall scores.

    Totals are flagged only when they are off by more than 10% *and* clearly
    more than predictor-blind draws' totals (``baseline``): with heavy tails
    the true total of a held-out fold is itself noisy.
    """
    out = []
    v = overall.get("violation_share")
    if v:
        out.append(f"{format_value(v, percent=True)} of its imputed records break a declared constraint")
    c90 = overall.get("coverage90")
    if c90 is not None and c90 < 0.8:
        out.append(f"its 90% intervals hold only {format_value(c90, percent=True)} of true values: draws too narrow, "
                   "so standard errors from them will be too small")
    elif c90 is not None and c90 > 0.97:
        out.append(f"its 90% intervals hold {format_value(c90, percent=True)} of true values: draws too wide")
    skill = overall.get("energy_skill")
    if skill is not None and skill <= 0:
        out.append("it is no better than predictor-blind draws: it has learned nothing usable from the predictors")
    tot = overall.get("abs_log_total_ratio")
    base = (baseline or {}).get("abs_log_total_ratio")
    if tot is not None and tot > 0.1 and (base is None or tot > 1.5 * base):
        out.append(f"its weighted totals are off by about {format_value(math.expm1(tot), percent=True)}"
                   + (f", more than predictor-blind draws' {format_value(math.expm1(base), percent=True)}" if base else ""))
    return out


def verdict(metrics: dict[str, Any]) -> dict[str, Any]:
    """The reading of an evaluation: ``{"headline", "notes", "methods": {label: {"status", "why", "warnings"}}}``."""
    best = metrics.get("best")
    methods = {}
    for label, res in metrics["methods"].items():
        status, why = method_status(metrics, label)
        methods[label] = {"status": status, "why": why,
                          "warnings": warnings_for(res["overall"], (metrics.get("baseline") or {}).get("overall"))}
    notes = []
    if best is None:
        return {"headline": "No method could be scored.", "notes": notes, "methods": methods}
    ties = [m for m, d in methods.items() if d["status"] == "tie"]
    headline = f"Use {best}: it has the lowest energy score over {metrics['settings']['folds']} donor folds."
    if ties:
        seconds = {m: sum(metrics["methods"][m]["seconds"].values()) for m in [best, *ties]}
        fastest = min(seconds, key=seconds.get)
        headline = (f"{best} scores best, but {', '.join(ties)} {'is' if len(ties) == 1 else 'are'} as good within "
                    f"noise" + (f"; {fastest} is the fastest of them." if fastest != best else f"; {best} is also the fastest."))
    if methods[best]["warnings"]:
        headline += f" Before using it, note: {methods[best]['warnings'][0]}."
    skill = metrics["methods"][best]["overall"].get("energy_skill")
    if metrics.get("low_signal") and skill is not None:
        notes.append(f"The predictors say little about this block: {best} removes only {format_value(skill, percent=True)} "
                     "of the energy score of predictor-blind draws. Every method's draws stay close to the donor's "
                     "distribution, so the ranking of methods matters little here; relationships with the predictors "
                     "in the fused file will be weak whatever the method.")
    elif skill is not None:
        notes.append(f"{best} removes {format_value(skill, percent=True)} of the energy score of predictor-blind draws "
                     "(draws that ignore the predictors): the predictors carry real information about this block.")
    for label, why in (metrics.get("skipped") or {}).items():
        notes.append(f"{label} was not run: {why}.")
    return {"headline": headline, "notes": notes, "methods": methods}


def settings_sentence(settings: dict[str, Any]) -> str:
    """The validation design in one sentence."""
    w = settings.get("weights")
    weights = f"survey weights '{w}'" if w else "no survey weights (every row counts equally)"
    return (f"{settings['folds']}-fold donor-only validation on {format_value(settings['rows'])} donor rows: each fold's "
            f"block was hidden, imputed {settings['draws']} times from its predictors by a model fitted on the other "
            f"folds, and scored against the hidden values; {weights}; seed {settings['seed']}.")


__all__ = ["METRICS", "NUMERIC_METRICS", "DISCRETE_METRICS", "QUALITY_HOW", "QUALITY_PARTS", "Metric", "format_value",
           "winner", "quality", "method_qualities", "verdict", "method_status", "warnings_for", "settings_sentence"]
