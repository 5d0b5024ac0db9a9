"""Chunked and Dask runs give exactly the in-memory result (draws keyed by seed, row, draw)."""

from __future__ import annotations

import json

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from surveyfuse import run_spec
from surveyfuse.pipeline.stream import recipient_partitions

from conftest import DATA

BLOCK = ["e00300", "e00600", "e00650"]


@pytest.fixture()
def spec_with_partitioned_recipient(tmp_path):
    """A recipient split into a 3-file Parquet dataset with several row groups per file."""
    recip = pd.read_parquet(DATA / "cps_recipient.parquet").iloc[:900]
    folder = tmp_path / "recipient"
    folder.mkdir()
    table = pa.Table.from_pandas(recip, preserve_index=False)
    for i, start in enumerate(range(0, 900, 300)):
        pq.write_table(table.slice(start, 300), folder / f"part-{i}.parquet", row_group_size=70)
    pq.write_table(table, tmp_path / "recipient.parquet")
    spec = {
        "spec_version": 1, "donor": str(DATA / "cps_donor.parquet"), "recipient": "recipient",
        "predictors": ["age_head", "MARS", "XTOT", "e00200"], "categorical": ["MARS"], "block": BLOCK,
        "weights": "s006", "constraints": ["e00650 <= e00600"], "method": "hotdeck", "draws": 3, "seed": 11,
    }
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec))
    whole = tmp_path / "spec_whole.json"
    whole.write_text(json.dumps({**spec, "recipient": "recipient.parquet"}))
    return path, whole, recip


def test_partitions_follow_row_groups_and_offsets(spec_with_partitioned_recipient, tmp_path):
    parts = recipient_partitions(tmp_path / "recipient", chunk_rows=100)
    assert sum(p.rows for p in parts) == 900
    assert [p.offset for p in parts] == [sum(q.rows for q in parts[:i]) for i in range(len(parts))]
    assert all(p.rows >= 100 or p is parts[-1] or parts[parts.index(p) + 1].path != p.path for p in parts)


def test_chunked_run_equals_in_memory_run(spec_with_partitioned_recipient, tmp_path):
    spec, whole, recip = spec_with_partitioned_recipient
    memory = run_spec(whole, write=False).table
    run_spec(spec, output=tmp_path / "chunked.parquet", chunk_rows=100)
    chunked = pd.read_parquet(tmp_path / "chunked.parquet")
    pd.testing.assert_frame_equal(memory.reset_index(drop=True), chunked, check_dtype=False)
    assert len(chunked) == 3 * len(recip)


def test_dataset_output_reads_back_in_order(spec_with_partitioned_recipient, tmp_path):
    spec, whole, _ = spec_with_partitioned_recipient
    single = tmp_path / "single.parquet"
    run_spec(whole, output=single)
    folder = tmp_path / "out_dataset"
    result = run_spec(spec, output=folder, chunk_rows=250)
    assert result.summary["format"] == "parquet dataset"
    assert sorted(p.name for p in folder.iterdir()) == [f"part-imp{d:04d}-000000.parquet" for d in (1, 2, 3)]
    pd.testing.assert_frame_equal(pq.read_table(folder).to_pandas(), pd.read_parquet(single))


def test_dask_local_cluster_equals_local_run(spec_with_partitioned_recipient, tmp_path):
    pytest.importorskip("distributed")
    spec, _, _ = spec_with_partitioned_recipient
    local = tmp_path / "local.parquet"
    run_spec(spec, output=local, chunk_rows=150)
    folder = tmp_path / "dask_out"
    result = run_spec(spec, output=folder, chunk_rows=150, engine="dask", workers=2)
    assert result.summary["engine"] == "dask" and result.summary["constraints"]["ok"]
    parts = sorted(p.name for p in folder.iterdir())
    assert len(parts) > 3  # several partitions per draw really ran
    pd.testing.assert_frame_equal(pq.read_table(folder).to_pandas(), pd.read_parquet(local))


def test_dask_dataframe_api_matches_local(tmp_path):
    dd = pytest.importorskip("dask.dataframe")
    from surveyfuse import Imputer
    from surveyfuse.pipeline.distributed import impute_dask_dataframe

    donor = pd.read_parquet(DATA / "cps_donor.parquet").iloc[:2000]
    recip = pd.read_parquet(DATA / "cps_recipient.parquet").iloc[:400]
    imp = Imputer(BLOCK, ["age_head", "MARS", "e00200"], method="hotdeck", categorical=["MARS"], random_state=2).fit(donor)
    local = imp.sample(recip, draws=2, seed=2)
    lazy = impute_dask_dataframe(imp, dd.from_pandas(recip, npartitions=4), draws=2, seed=2)
    got = lazy.compute(scheduler="sync").sort_values(["_imp", "_row"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(got[local.columns], local, check_dtype=False)


def test_failed_chunked_run_leaves_nothing(spec_with_partitioned_recipient, tmp_path, monkeypatch):
    """A run that has written chunks and then fails (bad data in a later recipient file) leaves nothing."""
    from surveyfuse import SurveyfuseError
    from surveyfuse.pipeline.stream import LongWriter

    spec, _, recip = spec_with_partitioned_recipient
    bad = recip.iloc[:50].reset_index(drop=True).astype({"XTOT": "str"})
    bad.loc[20, "XTOT"] = "two"
    bad.to_parquet(tmp_path / "recipient" / "part-3.parquet")  # after the three good files
    written = []
    original = LongWriter.write
    monkeypatch.setattr(LongWriter, "write", lambda self, table: (written.append(table.num_rows), original(self, table)))
    out = tmp_path / "never.csv"
    with pytest.raises(SurveyfuseError) as info:
        run_spec(spec, output=out, chunk_rows=100)
    assert info.value.code == "non_numeric" and info.value.context["row"] == 900 + 20
    assert sum(written) == 3 * 900  # every good chunk was imputed and written before the failure
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".never")]


def test_max_donor_rows_subsamples(spec_with_partitioned_recipient):
    spec, whole, _ = spec_with_partitioned_recipient
    from surveyfuse import load_spec

    s = load_spec(whole)
    s.max_donor_rows = 500
    result = run_spec(s, write=False)
    assert result.summary["donor_rows_used"] == 500 and result.summary["subsampled_to"] == 500
