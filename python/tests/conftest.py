"""Shared fixtures: paths to the bundled data and specs (never ../shared)."""

from __future__ import annotations

from pathlib import Path

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
