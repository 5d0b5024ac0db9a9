"""The CLI: exit codes, one-line errors, no tracebacks, nothing written on failure."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from conftest import REPO, SPECS

CLI = [sys.executable, "-m", "surveyfuse.cli"]


def run(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, cwd=cwd)


def run_here(capsys, *args: str) -> subprocess.CompletedProcess:
    """The same command in this process (quicker where no process boundary is being tested)."""
    from surveyfuse.cli import main

    code = main(list(args))
    out, err = capsys.readouterr()
    return subprocess.CompletedProcess(list(args), code, out, err)


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


def _recipient_failing_in_its_second_file(folder: Path) -> int:
    """A Parquet dataset recipient whose second file holds text in a numeric predictor; returns that row."""
    folder.mkdir()
    recip = pd.read_parquet(SPECS / "data" / "cps_recipient.parquet").iloc[:400]
    recip.iloc[:300].to_parquet(folder / "part-0.parquet", row_group_size=100)
    bad = recip.iloc[300:].reset_index(drop=True).astype({"age_head": "str"})
    bad.loc[37, "age_head"] = "forty"
    bad.to_parquet(folder / "part-1.parquet")
    return 300 + 37


def _hotdeck_spec(tmp_path: Path, recipient: Path, **extra) -> Path:
    spec = {"spec_version": 1, "donor": str(SPECS / "data" / "cps_donor.parquet"), "recipient": str(recipient),
            "predictors": ["age_head", "MARS", "XTOT"], "categorical": ["MARS"], "block": ["e00600", "e00650"],
            "constraints": ["e00650 <= e00600"], "method": "hotdeck", "draws": 3, "seed": 1, **extra}
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec))
    return path


def test_run_failing_on_its_second_chunk_keeps_existing_output_and_leaves_nothing(tmp_path, capsys, monkeypatch):
    from surveyfuse.pipeline.stream import LongWriter

    row = _recipient_failing_in_its_second_file(tmp_path / "recipient")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out = out_dir / "keep.parquet"
    out.write_bytes(b"previous result")
    written: list[int] = []
    original = LongWriter.write
    monkeypatch.setattr(LongWriter, "write", lambda self, table: (written.append(table.num_rows), original(self, table)))
    res = run_here(capsys, "run", str(_hotdeck_spec(tmp_path, tmp_path / "recipient")), "-o", str(out), "--chunk-rows", "100")
    assert res.returncode == 2, res.stderr
    # the first three chunks were imputed and written before the failure, so the writer had something to discard;
    # the error names the file's row, not the chunk's
    assert written == [100 * 3] * 3
    assert res.stderr.startswith("error[non_numeric]: ") and f"row {row} holds 'forty'" in res.stderr
    assert out.read_bytes() == b"previous result"
    assert sorted(p.name for p in out_dir.iterdir()) == ["keep.parquet"]


def _temporaries(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if ".sf-tmp-" in p.name]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_run_killed_mid_write_leaves_no_output_and_nothing_a_rerun_trips_over(sig, tmp_path):
    recip = pd.read_parquet(SPECS / "data" / "cps_recipient.parquet").iloc[:1000]
    recip.to_parquet(tmp_path / "recipient.parquet", row_group_size=25)  # 40 chunks: writing takes a while
    spec = _hotdeck_spec(tmp_path, tmp_path / "recipient.parquet", draws=5)
    out_dir = tmp_path / "out"
    out = out_dir / "imputed.csv"
    args = [*CLI, "run", str(spec), "-o", str(out), "--chunk-rows", "25", "-q"]
    proc = subprocess.Popen(args, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not any(out_dir.glob(".imputed.csv.sf-tmp-*/part-imp*")):  # writing has begun
            assert proc.poll() is None and time.monotonic() < deadline, "the run ended before it could be killed"
            time.sleep(0.05)
        proc.send_signal(sig)
        _, stderr = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert not out.exists()
    if sig == signal.SIGTERM:
        assert proc.returncode == 128 + signal.SIGTERM and "stopped by signal 15" in stderr
        assert list(out_dir.iterdir()) == []  # cleaned up on the way out
    else:
        assert proc.returncode == -signal.SIGKILL
        assert _temporaries(out_dir)  # a kill cannot clean up ...
    rerun = subprocess.run(args, cwd=REPO, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    assert list(out_dir.iterdir()) == [out]  # ... but the next run removes what it left
    assert len(pd.read_csv(out)) == 5 * len(recip)


def test_a_running_writers_temporaries_are_not_swept(tmp_path):
    from surveyfuse.data.atomic import PendingOutput, sweep

    target = tmp_path / "imputed.parquet"
    live = PendingOutput(target, directory=True, scratch=True)  # held (locked) by this process
    stale = tmp_path / ".imputed.parquet.sf-tmp-999999-deadbeef"  # as a killed run leaves it
    stale.mkdir()
    (stale / "part-imp0001-000000.parquet").write_bytes(b"half")
    other = tmp_path / ".other.parquet.sf-tmp-999999-deadbeef"  # another output's: not ours to touch
    other.mkdir()
    assert sweep(target) == [stale]
    assert live.path.is_dir() and other.is_dir() and not stale.exists()
    live.discard()
    assert not live.path.exists()


def test_output_that_cannot_grow_is_a_coded_error_with_nothing_left(tmp_path):
    import resource

    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out = out_dir / "imputed.parquet"

    def small_files():  # runs in the child: files may not grow past 64 KiB (EFBIG, as on a full disk)
        resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))

    spec = _hotdeck_spec(tmp_path, SPECS / "data" / "cps_recipient.parquet", draws=5)
    res = subprocess.run([*CLI, "run", str(spec), "-o", str(out)], cwd=REPO, capture_output=True, text=True,
                         preexec_fn=small_files)
    assert res.returncode == 2, res.stderr
    assert res.stderr.startswith("error[output_unwritable]: cannot write output") and str(out) in res.stderr
    assert list(out_dir.iterdir()) == []


def test_every_optional_field_may_be_null(tmp_path, capsys):
    from surveyfuse.pipeline.spec import task_schema

    schema = task_schema()
    base = json.loads(_hotdeck_spec(tmp_path, SPECS / "data" / "tiny_recipient.csv").read_text())
    optional = sorted(set(schema["properties"]) - set(schema["required"]))
    spec = {**{k: base[k] for k in schema["required"]}, **{k: None for k in optional}}
    spec.update(
        method={"name": "hotdeck", "params": None},
        constraints=["e00650 <= e00600", {"constraint": "e00600 >= 0", "tolerance": None}],
        tolerance={"abs": None, "rel": None},
        harmonise={"donor": None, "recipient": {"rename": None, "recode": None, "transform": None}, "rake": None},
        diagnostics={"flag_off_support": None, "warn_share": None},
    )
    path = tmp_path / "nulls.json"
    path.write_text(json.dumps(spec))
    out = tmp_path / "imputed.parquet"
    res = run_here(capsys, "run", str(path), "-o", str(out), "--seed", "3", "--json")
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout)
    assert summary["draws"] == 20 and summary["method"] == "hotdeck"  # null draws: the default
    absent = {k: v for k, v in spec.items() if v is not None}
    absent.update(method="hotdeck", constraints=["e00650 <= e00600", "e00600 >= 0"])
    for k in ("tolerance", "harmonise", "diagnostics"):
        absent.pop(k)
    path.write_text(json.dumps(absent))
    out2 = tmp_path / "imputed2.parquet"
    assert run_here(capsys, "run", str(path), "-o", str(out2), "--seed", "3", "-q").returncode == 0
    pd.testing.assert_frame_equal(pd.read_parquet(out), pd.read_parquet(out2))


@pytest.mark.parametrize(
    "edit, code, mentions",
    [
        ({"draws": 1_000_000_000}, "insufficient_memory", ["--chunk-rows", "fewer draws", "of memory (an estimate)"]),
        ({"constraints": ["(" * 5000 + "e00600 >= 0" + ")" * 5000]}, "constraint_too_deep", ["64"]),
        ({"constraints": [" | ".join(["e00600 >= 0"] * 300)]}, "constraint_too_long", ["300 comparisons", "200"]),
    ],
)
def test_limits_are_refused_before_fitting(edit, code, mentions, tmp_path, capsys, monkeypatch):
    from surveyfuse.backends.hotdeck import HotDeck

    monkeypatch.setattr(HotDeck, "fit", lambda *a, **k: pytest.fail("a model was fitted before the refusal"))
    path = _hotdeck_spec(tmp_path, SPECS / "data" / "cps_recipient.parquet", **edit)
    res = run_here(capsys, "run", str(path), "-o", str(tmp_path / "x.parquet"))
    assert res.returncode == 2 and res.stderr.startswith(f"error[{code}]: "), res.stderr
    assert all(m in res.stderr for m in mentions), res.stderr
    assert list(tmp_path.iterdir()) == [path]
