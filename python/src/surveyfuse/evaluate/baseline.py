"""Predictor-blind draws: the yardstick that says how much signal a block has.

Every draw copies the whole block of a donor row picked by survey weight
alone, ignoring the predictors. It is what forecasters call climatology: a
method that scores no better than it has learned nothing from the
predictors, and the *energy skill* ``1 - ES(method) / ES(predictor-blind)``
(the share of the yardstick's energy score a method removes) tells users
whether a block is predictable at all. When the best method's skill is a few
percent, every method's draws are close to the donor's marginal distribution
and differences between methods are small, however they rank.

Not a method to impute with; it is scored alongside the methods in
:func:`~surveyfuse.evaluate.crossval.evaluate_methods` and used as a row in
the forest benchmark.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .. import rng

#: below this energy skill, the report warns that the predictors say little about the block
LOW_SKILL = 0.05


def predictor_blind_rows(weights: Any, n_donors: int, n: int, draws: int, seed: int) -> np.ndarray:
    """Donor row numbers ``(draws, n)``, each picked with probability proportional to its weight."""
    w = np.ones(n_donors) if weights is None else np.asarray(weights, dtype=np.float64)
    return rng.inverse_cdf(np.cumsum(w), np.random.default_rng(seed).random((draws, n)))


def predictor_blind_draws(donor_block: pd.DataFrame, weights: Any, n: int, draws: int, seed: int
                          ) -> dict[str, np.ndarray]:
    """Draws ``{column: (draws, n)}`` of whole donor records for ``n`` rows, whatever their predictors."""
    rows = predictor_blind_rows(weights, len(donor_block), n, draws, seed)
    return {c: donor_block[c].to_numpy()[rows] for c in donor_block.columns}


def energy_skill(score: float | None, baseline: float | None) -> float | None:
    """``1 - score / baseline``: 0 for predictor-blind accuracy, 1 for a perfect forecast, negative when worse."""
    if score is None or baseline is None or not np.isfinite(score) or not np.isfinite(baseline) or baseline <= 0:
        return None
    return float(1.0 - score / baseline)


__all__ = ["LOW_SKILL", "energy_skill", "predictor_blind_draws", "predictor_blind_rows"]
