"""Shared fixtures: paths to the bundled data and specs (never ../shared)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[2]
SPECS = REPO / "shared-specs"
DATA = SPECS / "data"


@pytest.fixture(scope="session")
def cps_donor() -> pd.DataFrame:
    return pd.read_parquet(DATA / "cps_donor.parquet")


@pytest.fixture(scope="session")
def cps_recipient() -> pd.DataFrame:
    return pd.read_parquet(DATA / "cps_recipient.parquet")


@pytest.fixture(scope="session")
def small_split(cps_donor):
    """1,500 donor rows and 300 recipient rows (block columns dropped by the tests that need it)."""
    return cps_donor.iloc[:1500].reset_index(drop=True), cps_donor.iloc[1500:1800].reset_index(drop=True)


def mixed_frame(n: int, seed: int = 0) -> pd.DataFrame:
    """Predictors x (numeric, with gaps) and region (text); a block of every kind."""
    g = np.random.default_rng(seed)
    x = g.normal(size=n)
    region = g.choice(["north", "south", "east"], size=n)
    shift = pd.Series(region).map({"north": 1.0, "south": 0.0, "east": -1.0}).to_numpy()
    zero_inf = np.where(g.random(n) < 0.5, 0.0, np.exp(x + g.normal(size=n)))
    signed = x + shift + g.normal(scale=0.3, size=n)
    tenure = np.where(x + g.normal(size=n) > 0.5, "owner", np.where(shift > 0, "renter", "other"))
    flag = (g.random(n) < 0.12)
    xm = x.copy()
    xm[g.random(n) < 0.1] = np.nan
    return pd.DataFrame({"x": xm, "region": region, "w": g.uniform(0.5, 2.0, n), "zi": zero_inf,
                         "signed": signed, "tenure": tenure, "flag": flag})


def assert_chunks_equal_whole(imp, recipient: pd.DataFrame, starts: list[int], draws: int, seed: int,
                              check_dtype: bool = True) -> None:
    """Sampling ``recipient`` in chunks beginning at ``starts`` (each with its row offset)
    gives exactly the draws of one whole call: draws depend on (seed, row, draw) only."""
    whole = imp.sample(recipient, draws=draws, seed=seed)
    bounds = [*starts, len(recipient)]
    parts = [imp.sample(recipient.iloc[a:b].reset_index(drop=True), draws=draws, seed=seed, row_offset=a)
             for a, b in zip(bounds[:-1], bounds[1:])]
    chunked = pd.concat(parts).sort_values(["_imp", "_row"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(whole.reset_index(drop=True), chunked[whole.columns], check_dtype=check_dtype)
