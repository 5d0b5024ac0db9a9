"""examples/stata: the task runs, and the do-file's mi commands fit the file it writes.

Stata is not available here, so the written file is checked against the rules
Stata's own `mi import flong` code applies (mi_import.ado): the m() variable is
numeric and its lowest value (0) holds the original data; (m, id) identify the
rows; every id is in m = 0; imputed() variables are numeric; and the names
_mi_m, _mi_id, _mi_miss are free, because mi import creates them.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pyreadstat

from surveyfuse.pipeline.run import run_spec
from surveyfuse.pipeline.spec import load_spec

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "stata"


def _options(command: str) -> dict[str, list[str]]:
    return {k: v.split() for k, v in re.findall(r"(\w+)\(([^)]*)\)", command)}


def test_the_do_file_imports_what_the_task_writes(tmp_path):
    spec = load_spec(EXAMPLE / "impute.json")
    do = (EXAMPLE / "analysis.do").read_text()
    assert f"shell surveyfuse run {(EXAMPLE / 'impute.json').name}" in do
    assert f"use {spec.output.name}, clear" in do
    out = tmp_path / spec.output.name
    run_spec(spec, output=out)
    frame, meta = pyreadstat.read_dta(str(out), user_missing=True)

    command = next(line for line in do.splitlines() if line.startswith("mi import flong"))
    opts = _options(command)
    (m,), ids, imputed = opts["m"], opts["id"], opts["imputed"]
    assert imputed == spec.block
    # Stata's rules for mi import flong
    assert not {"_mi_m", "_mi_id", "_mi_miss"} & set(frame.columns)
    assert pd.api.types.is_numeric_dtype(frame[m])
    counts = frame[m].value_counts().sort_index()
    assert counts.index.tolist() == list(range(spec.draws + 1)) and counts.nunique() == 1
    assert not frame.duplicated([m, *ids]).any()
    ids_at = {k: set(map(tuple, g[ids].to_numpy())) for k, g in frame.groupby(m)}
    assert all(ids_at[k] == ids_at[0] for k in ids_at)
    assert all(pd.api.types.is_numeric_dtype(frame[v]) for v in imputed)
    original = frame[frame[m] == 0]
    assert original[imputed].isna().all().all() and frame.loc[frame[m] > 0, imputed].notna().all().all()
    # every variable the analysis names is in the file (i.MARS is a factor variable of MARS)
    for line in do.splitlines():
        if line.startswith("mi estimate:"):
            body = line.split(":", 1)[1].split("[")[0].split()[1:]
            for token in body:
                assert re.sub(r"^i\.", "", token) in frame.columns or token == "div_share", token
    assert meta.variable_value_labels["MARS"][2] == "joint"  # i.MARS shows the labels
    assert (frame["e00200"].astype(str) == "a").sum() == 11 * (spec.draws + 1)  # .a (refused) kept in every m
