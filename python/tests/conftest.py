"""Shared fixtures: paths to the bundled data and specs (never ../shared)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[2]
SPECS = REPO / "shared-specs"
DATA = SPECS / "data"

#: cases run by the fuzz and fault battery (test_fuzz.py) by family, and those that failed; printed at the end
FUZZ_CASES: dict[str, int] = {}
FUZZ_FAILED: dict[str, int] = {}
FUZZ_OUTCOMES: dict[str, dict[str, int]] = {}  # family -> "ok" or error code -> cases


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if FUZZ_CASES:
        total = sum(FUZZ_CASES.values())
        parts = ", ".join(f"{k} {v:,}" for k, v in FUZZ_CASES.items())
        failed = sum(FUZZ_FAILED.values())
        verdict = (f"{failed:,} ended in an internal error or a partial output (shrinking included)" if failed
                   else "each ended in a complete output or a coded error")
        terminalreporter.write_line(f"fuzz and fault battery: {total:,} cases ({parts}); {verdict}")
        for family, outcomes in FUZZ_OUTCOMES.items():
            ok = outcomes.get("ok", 0)
            codes = sorted(((v, k) for k, v in outcomes.items() if k != "ok"), reverse=True)
            top = ", ".join(f"{k} {v}" for v, k in codes[:6]) + (", ..." if len(codes) > 6 else "")
            terminalreporter.write_line(f"  {family}: {ok} complete outputs, {sum(v for v, _ in codes)} coded errors "
                                        f"({len(codes)} codes: {top})")


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
