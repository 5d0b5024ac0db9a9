"""Small synthetic surveys for examples, doctests and first experiments.

The bundled CPS samples (``shared-specs/data`` in the repository) are the
data to learn on; these are for code that must run anywhere, in a second,
without files: every docstring example uses them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def make_surveys(n_donor: int = 1000, n_recipient: int = 250, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A donor survey with an investment-income block, and a recipient survey without it.

    Both have the predictors ``age`` (years), ``married`` (``"yes"`` /
    ``"no"``), ``persons`` (household size), ``wage`` (zero for about a
    fifth) and a survey ``weight``. The donor also has the block:
    ``interest``, ``dividends`` and ``qualified`` (qualified dividends, never
    more than ``dividends``), zero for most households, heavy-tailed, and
    rising with age and wage, like the real thing.

    Parameters
    ----------
    n_donor, n_recipient : int
        Rows of each survey.
    seed : int
        Seed of the random generator; the same seed gives the same surveys.

    Returns
    -------
    donor, recipient : DataFrame

    Examples
    --------
    >>> from surveyfuse.datasets import make_surveys
    >>> donor, recipient = make_surveys(n_donor=500, n_recipient=100, seed=1)
    >>> donor.shape, recipient.shape
    ((500, 9), (100, 6))
    >>> bool((donor["qualified"] <= donor["dividends"]).all())
    True
    """
    g = np.random.default_rng(seed)
    n = n_donor + n_recipient
    age = g.integers(20, 86, n)
    married = g.random(n) < 0.35 + 0.3 * (age > 30)
    persons = 1 + married + g.poisson(0.6 * (age < 60), n)
    working = g.random(n) < np.where(age < 65, 0.88, 0.25)
    wage = np.where(working, np.round(np.exp(g.normal(10.4 + 0.012 * np.minimum(age, 55), 0.8, n)), -2), 0.0)
    weight = np.round(g.uniform(500, 3000, n), 1)
    wealth = 0.03 * (age - 20) + 0.5 * np.log1p(wage) / 10 + g.normal(0, 1, n)
    has_interest = g.random(n) < 1 / (1 + np.exp(-(wealth - 0.6)))
    interest = np.where(has_interest, np.round(np.exp(4.5 + 1.1 * wealth + g.normal(0, 1.2, n))), 0.0)
    has_div = g.random(n) < 1 / (1 + np.exp(-(wealth - 1.3)))
    dividends = np.where(has_div, np.round(np.exp(5.5 + 1.2 * wealth + g.normal(0, 1.3, n))), 0.0)
    qualified = np.round(dividends * g.beta(4, 1.5, n))
    frame = pd.DataFrame({"age": age, "married": np.where(married, "yes", "no"), "persons": persons, "wage": wage,
                          "weight": weight, "interest": interest, "dividends": dividends, "qualified": qualified})
    donor = frame.iloc[:n_donor].reset_index(drop=True)
    donor.insert(0, "id", np.arange(n_donor))
    recipient = frame.iloc[n_donor:, :5].reset_index(drop=True)
    recipient.insert(0, "id", np.arange(n_recipient))
    return donor, recipient


__all__ = ["make_surveys"]
