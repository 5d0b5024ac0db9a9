"""The CLI: exit codes, one-line errors, no tracebacks, nothing written on failure."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd

from conftest import REPO, SPECS

CLI = [sys.executable, "-m", "surveyfuse.cli"]


def run(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, cwd=cwd)


def test_run_writes_parquet_and_summary(tmp_path):
    out = tmp_path / "imputed.parquet"
    res = run("run", str(SPECS / "tasks" / "ok_hotdeck_investment.json"), "--output", str(out))
    assert res.returncode == 0, res.stderr
    assert "no record breaks a constraint" in res.stdout
    assert len(pd.read_parquet(out)) == 12000


def test_run_json_summary_and_overrides(tmp_path):
    out = tmp_path / "imputed.csv"
    res = run("run", str(SPECS / "tasks" / "ok_csv_categorical_block.json"), "-o", str(out), "--draws", "2", "--seed", "5", "--json")
    summary = json.loads(res.stdout)
    assert summary["draws"] == 2 and summary["seed"] == 5 and summary["output_rows"] == 200
    assert summary["constraints"]["ok"] is True


def test_dta_output_has_value_labels(tmp_path):
    out = tmp_path / "imputed.dta"
    res = run("run", str(SPECS / "tasks" / "ok_dta_in_dta_out.json"), "-o", str(out))
    assert res.returncode == 0, res.stderr
    import pyreadstat

    _, meta = pyreadstat.read_dta(str(out), metadataonly=True)
    assert set(meta.variable_value_labels["region"].values()) == {"midwest", "northeast", "south", "west"}
    frame = pd.read_stata(out)  # another reader sees the same labels
    assert isinstance(frame["region"].dtype, pd.CategoricalDtype)
    assert set(frame["region"].cat.categories) == {"midwest", "northeast", "south", "west"}


def test_user_error_is_one_line_without_traceback(tmp_path):
    out = tmp_path / "x.parquet"
    res = run("run", str(SPECS / "tasks" / "err_missing_column.json"), "-o", str(out))
    assert res.returncode == 2
    assert res.stderr.startswith("error[missing_column]: ")
    assert "age_of_dog" in res.stderr
    assert "Traceback" not in res.stderr
    assert not out.exists()


def test_malformed_json_error(tmp_path):
    res = run("run", str(SPECS / "tasks" / "err_malformed_json.json"))
    assert res.returncode == 2 and res.stderr.startswith("error[spec_json]")


def test_json_errors_are_machine_readable():
    res = run("run", str(SPECS / "tasks" / "err_unknown_method.json"), "--json")
    err = json.loads(res.stderr)["error"]
    assert err["code"] == "unknown_method" and err["context"]["method"] == "magic"


def test_validate_methods_errors_version():
    assert run("validate", str(SPECS / "tasks" / "ok_dta_in_dta_out.json")).returncode == 0
    assert "hotdeck" in run("methods").stdout
    codes = json.loads(run("errors", "--json").stdout)
    assert "missing_column" in codes
    assert run("--version").stdout.startswith("surveyfuse ")


def test_failed_run_keeps_existing_output(tmp_path):
    out = tmp_path / "keep.parquet"
    out.write_bytes(b"previous result")
    res = run("run", str(SPECS / "tasks" / "err_negative_weight.json"), "-o", str(out))
    assert res.returncode == 2
    assert out.read_bytes() == b"previous result"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.parquet"]
