"""Run every shared task spec through the Python API and check its `expect` section.

The same specs run in R (r-package/tests/testthat/test-shared-specs.R).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from surveyfuse import SurveyfuseError, load_spec, run_spec
from surveyfuse.data.io import read_table

from conftest import SPECS

TASKS = sorted(p for p in (SPECS / "tasks").glob("*.json") if not p.name.endswith(".expect.json"))


def expectation(path: Path) -> dict:
    sidecar = path.with_name(path.stem + ".expect.json")
    if sidecar.exists():
        return json.loads(sidecar.read_text())
    return json.loads(path.read_text())["expect"]


@pytest.mark.parametrize("path", TASKS, ids=[p.stem for p in TASKS])
def test_shared_spec(path: Path, tmp_path: Path) -> None:
    expect = expectation(path)
    try:
        raw = json.loads(path.read_text())
        suffix = Path(raw.get("output", "x.parquet")).suffix or ".parquet"
    except json.JSONDecodeError:
        suffix = ".parquet"
    out = tmp_path / f"out{suffix}"
    if "error" in expect:
        with pytest.raises(SurveyfuseError) as info:
            run_spec(path, output=out)
        assert info.value.code == expect["error"], str(info.value)
        for word in expect.get("error_mentions", []):
            assert word in info.value.message, f"{word!r} not in {info.value.message!r}"
        assert not out.exists(), "a failed run wrote its output"
        assert list(tmp_path.iterdir()) == [], "a failed run left files behind"
        return
    result = run_spec(path, output=out)
    assert out.exists()
    spec = load_spec(path)
    written = read_table(out, role="output")
    check_output(spec, written, result.summary, expect)


def check_output(spec, out: pd.DataFrame, summary: dict, expect: dict) -> None:
    recipient = read_table(spec.recipient, role="recipient")
    donor = read_table(spec.donor, role="donor")
    if "rows" in expect:
        assert len(out) == expect["rows"]
    for col in expect.get("columns_include", []):
        assert col in out.columns, col
    assert list(out["_imp"].unique()) == list(range(1, spec.draws + 1))
    assert (out["_row"].to_numpy() == np.tile(np.arange(len(recipient)), spec.draws)).all()
    if "constraint_violations" in expect:
        from surveyfuse import ConstraintSet

        bad = ConstraintSet(spec.constraints).violating_rows(out)
        assert int(bad.sum()) == expect["constraint_violations"]
        assert summary["constraints"]["ok"] == (expect["constraint_violations"] == 0)
    if expect.get("recipient_unchanged"):
        for imp in range(1, spec.draws + 1):
            part = out.loc[out["_imp"] == imp, list(recipient.columns)].reset_index(drop=True)
            pd.testing.assert_frame_equal(part, recipient, check_dtype=False)
    for col in expect.get("no_missing", []):
        assert out[col].notna().all(), col
    if expect.get("values_from_donor"):
        key = lambda frame: set(map(tuple, frame[spec.block].astype(str).to_numpy()))  # noqa: E731
        assert key(out) <= key(donor)
    for col, (lo, hi) in expect.get("share_zero", {}).items():
        share = float((out[col] == 0).mean())
        assert lo <= share <= hi, (col, share)
    for col in expect.get("levels_subset", []):
        assert set(out[col].astype(str)) <= set(donor[col].dropna().astype(str)), col
