"""Inputs users really pass get a result or their documented code, never an internal error.

Lists, structs and maps in pandas or Arrow tables, empty recipients,
duplicate names, predictors with no value, and errors in later chunks that
must name the file's row.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from surveyfuse import Imputer, SurveyfuseError
from surveyfuse.data.io import write_table
from surveyfuse.pipeline.memory import check_memory


@pytest.fixture()
def frames():
    g = np.random.default_rng(0)
    n = 60
    donor = pd.DataFrame({"x": g.normal(size=n), "region": g.choice(["n", "s"], n), "y": g.lognormal(size=n),
                          "z": g.normal(size=n)})
    recipient = donor[["x", "region"]].iloc[:9].reset_index(drop=True)
    return donor, recipient


def fit(donor, **kw):
    return Imputer(["y", "z"], ["x", "region"], method="hotdeck", random_state=1, **kw).fit(donor)


def _code(fn) -> str:
    with pytest.raises(SurveyfuseError) as info:
        fn()
    return info.value.code


def test_unused_nested_columns_ride_along_in_pandas_and_arrow(frames):
    donor, recipient = frames
    lists = recipient.assign(tags=[[1, 2]] * len(recipient), info=[{"a": 1}] * len(recipient))
    out = fit(donor.assign(junk=[[0]] * len(donor))).sample(lists, draws=2, seed=1)
    assert len(out) == 2 * len(recipient) and out["tags"].iloc[0] == [1, 2]
    arrow = pa.Table.from_pandas(lists, preserve_index=False)
    assert pa.types.is_list(arrow.schema.field("tags").type) and pa.types.is_struct(arrow.schema.field("info").type)
    out = fit(donor).sample(arrow, draws=2, seed=1)
    assert isinstance(out, pa.Table) and out.column("tags").type == arrow.schema.field("tags").type


@pytest.mark.parametrize("column, role", [("x", "predictor"), ("y", "block")])
@pytest.mark.parametrize("value, kind", [([1, 2], "lists"), ({"a": 1}, "structs or maps"), (np.zeros(2), "arrays")])
def test_nested_values_in_used_columns_are_refused_by_name(frames, column, role, value, kind):
    donor, _ = frames
    bad = donor.astype({column: object})
    bad[column] = [value] * len(bad)
    with pytest.raises(SurveyfuseError) as info:
        fit(bad)
    assert info.value.code == "unsupported_column_type" and info.value.context["column"] == column
    assert f"{role} column '{column}' of the donor holds {kind}" in info.value.message


def test_nested_predictor_in_an_arrow_recipient_is_refused(frames):
    donor, recipient = frames
    table = pa.table({"x": pa.array([[1.0]] * 9), "region": pa.array(recipient["region"])})
    assert _code(lambda: fit(donor).sample(table, draws=1)) == "unsupported_column_type"


@pytest.mark.parametrize("fmt", ["csv", "dta"])
def test_formats_that_hold_one_value_per_cell_refuse_nested_columns_before_writing(frames, fmt, tmp_path):
    donor, recipient = frames
    out = fit(donor).sample(recipient.assign(tags=[[1]] * len(recipient)), draws=1, seed=1)
    with pytest.raises(SurveyfuseError) as info:
        write_table(out, tmp_path / f"out.{fmt}")
    assert info.value.code == "unsupported_column_type" and info.value.context["column"] == "tags"
    assert list(tmp_path.iterdir()) == []
    write_table(out, tmp_path / "out.parquet")  # Parquet holds them
    assert pd.read_parquet(tmp_path / "out.parquet")["tags"].iloc[0].tolist() == [1]


def test_durations_cannot_go_to_stata(frames, tmp_path):
    donor, recipient = frames
    out = fit(donor).sample(recipient.assign(spell=pd.to_timedelta(np.arange(9), unit="D")), draws=1, seed=1)
    with pytest.raises(SurveyfuseError) as info:
        write_table(out, tmp_path / "out.dta")
    assert info.value.code == "unsupported_column_type" and "durations" in info.value.message


def test_empty_recipient_is_refused_with_its_code(frames):
    donor, recipient = frames
    imp = fit(donor)
    assert _code(lambda: imp.sample(recipient.iloc[:0], draws=3, seed=1)) == "empty_recipient"
    empty_arrow = pa.Table.from_pandas(recipient.iloc[:0], preserve_index=False)
    assert _code(lambda: imp.sample(empty_arrow, draws=2, seed=1)) == "empty_recipient"


def test_duplicate_column_names_are_refused(frames):
    donor, _ = frames
    twice = pd.concat([donor, donor[["x"]]], axis=1)
    assert _code(lambda: fit(twice)) == "duplicate_column"
    arrow = pa.Table.from_arrays([pa.array([1.0]), pa.array([2.0])], names=["x", "x"])
    assert _code(lambda: fit(donor).sample(arrow, draws=1)) == "duplicate_column"


def test_a_predictor_with_no_value_is_named(frames):
    donor, _ = frames
    with pytest.raises(SurveyfuseError) as info:
        fit(donor.assign(x=np.nan))
    assert info.value.code == "bad_data" and info.value.context["column"] == "x"


def test_errors_in_a_chunk_name_the_row_of_the_whole_file(frames):
    donor, recipient = frames
    chunk = recipient.astype({"x": object})
    chunk.loc[4, "x"] = "n/a?"
    with pytest.raises(SurveyfuseError) as info:
        fit(donor).sample(chunk, draws=1, seed=1, row_offset=1000)
    assert info.value.code == "non_numeric" and info.value.context["row"] == 1004 and "row 1004" in info.value.message


def test_memory_estimate_names_both_ways_out():
    with pytest.raises(SurveyfuseError) as info:
        check_memory(50_000, 10_000, 60, 5, chunked=True, available=8 * 2**30)
    err = info.value
    assert err.code == "insufficient_memory" and err.context["available_bytes"] == 8 * 2**30
    assert "--chunk-rows" in err.message and "fewer draws" in err.message
    fitting_rows = int(err.message.split("--chunk-rows ")[1].split(" ")[0].replace(",", ""))
    check_memory(fitting_rows, 10_000, 60, 5, chunked=True, available=8 * 2**30)  # the advice is right
    with pytest.raises(SurveyfuseError):
        check_memory(fitting_rows + 1, 10_000, 60, 5, chunked=True, available=8 * 2**30)
    check_memory(50_000, 20, 60, 5, chunked=True, available=8 * 2**30)  # an ordinary run passes


def test_absurd_draws_are_refused_by_the_api_before_drawing(frames):
    donor, recipient = frames
    with pytest.raises(SurveyfuseError) as info:
        fit(donor).sample(recipient, draws=10**12)
    assert info.value.code == "insufficient_memory" and "in chunks" in info.value.message
