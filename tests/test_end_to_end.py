"""End to end: the demo spec through the installed CLI entry point, as a new user runs it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]


def test_demo_spec_runs_via_console_script(tmp_path):
    exe = Path(sys.executable).with_name("surveyfuse")
    cmd = [str(exe)] if exe.exists() else [shutil.which("surveyfuse") or "surveyfuse"]
    out = tmp_path / "demo.parquet"
    res = subprocess.run([*cmd, "run", str(REPO / "examples" / "cps_investment.json"), "-o", str(out), "--draws", "2", "--json"],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout)
    assert summary["constraints"]["ok"]
    table = pd.read_parquet(out)
    recipient = pd.read_parquet(REPO / "shared-specs" / "data" / "cps_recipient.parquet")
    assert len(table) == 2 * len(recipient)
    assert set(json.loads((REPO / "examples" / "cps_investment.json").read_text())["block"]) <= set(table.columns)
