"""After fitting: does the model beat ignoring the predictors, and do its intervals cover?

A generative model that failed to train still draws numbers, and nothing in
them tells the user (a GAN fitted on 350 donors put 35 % of true values inside
its 90 % intervals). So every fit ends with a check on the donor rows held out
of training (the rows early stopping already watches):

* **energy**: the model's draws against *predictor-blind* draws (whole
  training records picked by weight, see :mod:`surveyfuse.evaluate.baseline`)
  on the held-out rows, the block standardised by the training rows. The
  check fails when the model is worse by more than ``SKILL_TOLERANCE`` of the
  blind score *and* by more than two standard errors of the paired per-row
  difference (so noise on a small hold-out does not raise it);
* **coverage**: the share of held-out values inside the central 90 % of the
  draws (randomised PIT, averaged over the block's variables) must lie in
  ``COVER_BAND`` widened by two binomial standard errors.

The result is a JSON-able dict (``describe()["fit_check"]``, hence
``fit_report_["method_params"]["fit_check"]``); a failure also raises a
:class:`FitCheckWarning` naming the method, the figures and what to try.
The held-out rows also chose the stopping epoch, so the figures lean
optimistic: a model that fails here is bad, one that passes is not proven.
No torch here: the backend passes its draws in.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ...errors import SurveyfuseWarning
from ...evaluate.scores import energy_score_rows, pit_coverage, standardise

CHECK_DRAWS = 20
SKILL_TOLERANCE = 0.02
COVER_BAND = (0.80, 0.97)
LEVEL = 0.90


class FitCheckWarning(SurveyfuseWarning):
    """A generative model failed its held-out check; ``method`` and ``figures`` say which and how.

    Its code is ``fit_check_failed``: the CLI prints it as
    ``warning[fit_check_failed]: ...``, R raises it as a condition of class
    ``surveyfuse_warning_fit_check_failed``.
    """

    def __init__(self, message: str, method: str = "", figures: dict[str, Any] | None = None) -> None:
        super().__init__("fit_check_failed", message)
        self.method = method
        self.figures = figures or {}


def held_out_check(method: str, draws: np.ndarray, blind: np.ndarray, truth: np.ndarray, weights: np.ndarray,
                   reference: np.ndarray, reference_weights: np.ndarray) -> dict[str, Any]:
    """Figures and verdict from model ``draws`` and predictor-blind ``blind`` draws (D, n, k) of held-out ``truth`` (n, k)."""
    w = np.asarray(weights, dtype=np.float64)
    w = w / w.sum()
    Dz, tz = standardise(draws, truth, reference, reference_weights)
    Bz, _ = standardise(blind, truth, reference, reference_weights)
    es_model, es_blind = energy_score_rows(Dz, tz), energy_score_rows(Bz, tz)
    diff = es_model - es_blind
    mean_diff = float(w @ diff)
    se = float(math.sqrt(float(w**2 @ (diff - mean_diff) ** 2)))
    energy, energy_blind = float(w @ es_model), float(w @ es_blind)
    skill = 1.0 - energy / energy_blind if energy_blind > 0 else 0.0
    per_var = [pit_coverage(draws[:, :, j], truth[:, j], LEVEL, w, seed=j) for j in range(truth.shape[1])]
    cover = float(np.mean(per_var))
    n_eff = 1.0 / float(w @ w)
    se_cover = math.sqrt(LEVEL * (1 - LEVEL) / n_eff)
    band = (max(0.0, COVER_BAND[0] - 2 * se_cover), min(1.0, COVER_BAND[1] + 2 * se_cover))
    failed = []
    if skill < -SKILL_TOLERANCE and mean_diff > 2 * se:
        failed.append("energy")
    if not band[0] <= cover <= band[1]:
        failed.append("coverage")
    out: dict[str, Any] = {
        "ok": not failed,
        "failed": failed,
        "rows": int(truth.shape[0]),
        "draws": int(draws.shape[0]),
        "energy": round(energy, 4),
        "energy_predictor_blind": round(energy_blind, 4),
        "energy_skill": round(skill, 4),
        "energy_skill_se": round(se / energy_blind, 4) if energy_blind > 0 else None,
        "coverage90": round(cover, 3),
        "coverage90_by_variable": [round(float(c), 3) for c in per_var],
        "coverage_band": [round(band[0], 3), round(band[1], 3)],
        "warning": None,
    }
    if failed:
        out["warning"] = failure_message(method, out)
    return out


def failure_message(method: str, fig: dict[str, Any]) -> str:
    what = []
    if "energy" in fig["failed"]:
        what.append(f"its draws score worse than predictor-blind draws (energy {fig['energy']:.3f} vs "
                    f"{fig['energy_predictor_blind']:.3f}, skill {fig['energy_skill']:+.1%})")
    if "coverage" in fig["failed"]:
        side = "too narrow" if fig["coverage90"] < fig["coverage_band"][0] else "too wide"
        what.append(f"its 90% intervals hold {fig['coverage90']:.0%} of held-out values ({side}; expected "
                    f"{fig['coverage_band'][0]:.0%}-{fig['coverage_band'][1]:.0%})")
    return (f"method '{method}' failed its held-out check on {fig['rows']} donor rows: " + "; ".join(what)
            + ". Its imputations should not be trusted; try method='forest' (draws real donor records and is "
              "steady on small donors), another generative method, more donor rows or more epochs.")


def not_checked(reason: str) -> dict[str, Any]:
    return {"ok": None, "failed": [], "reason": reason, "warning": None}


__all__ = ["CHECK_DRAWS", "COVER_BAND", "FitCheckWarning", "SKILL_TOLERANCE", "held_out_check", "not_checked"]
