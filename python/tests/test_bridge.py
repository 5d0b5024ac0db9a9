"""The R bridge's wire format, checked from Python (the R suite checks it end to end)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from surveyfuse import bridge

R_NA_INT = -(2**31)


def _table(columns: list[dict], values: list[bytes], masks: list[bytes] | None = None, n: int = 3) -> dict:
    return {
        "meta": json.dumps({"nrow": n, "columns": columns}),
        "values": [bytearray(v) for v in values],
        "masks": [bytearray(m) for m in (masks or [b""] * len(values))],
    }


def test_decode_gives_pandas_dtypes_with_missing_values() -> None:
    payload = _table(
        [
            {"name": "d", "type": "double"},
            {"name": "i", "type": "integer"},
            {"name": "l", "type": "logical"},
            {"name": "s", "type": "character"},
            {"name": "f", "type": "factor", "levels": ["lo", "hi"], "ordered": False},
            {"name": "t", "type": "date"},
        ],
        [
            np.array([1.5, np.nan, -2.0], "<f8").tobytes(),
            np.array([1, R_NA_INT, 3], "<i4").tobytes(),
            np.array([1, 0, R_NA_INT], "<i4").tobytes(),
            "a\0\0é\0".encode(),
            np.array([2, R_NA_INT, 1], "<i4").tobytes(),
            np.array([0.0, np.nan, 18262.0], "<f8").tobytes(),
        ],
        [b"", b"", b"", bytes([0, 1, 0]), b"", b""],
    )
    frame = bridge.decode_table(payload)
    assert str(frame["i"].dtype) == "Int64" and frame["i"].isna().tolist() == [False, True, False]
    assert str(frame["l"].dtype) == "boolean" and frame["l"].tolist()[:2] == [True, False] and pd.isna(frame["l"][2])
    assert frame["s"].tolist()[0] == "a" and pd.isna(frame["s"][1]) and frame["s"][2] == "é"
    assert list(frame["f"].cat.categories) == ["lo", "hi"] and frame["f"].tolist()[0] == "hi" and pd.isna(frame["f"][1])
    assert frame["t"][2] == pd.Timestamp("2020-01-01") and pd.isna(frame["t"][1])
    assert np.isnan(frame["d"][1])


def test_encode_decode_round_trip_is_exact_bytes() -> None:
    frame = pd.DataFrame({
        "d": [1.5, np.nan, 3.0],
        "i": pd.array([1, None, 3], dtype="Int64"),
        "l": pd.array([True, None, False], dtype="boolean"),
        "s": ["x", None, ""],
        "f": pd.Categorical(["b", None, "a"], categories=["b", "a"], ordered=True),
    })
    once = bridge.encode_table(frame)
    twice = bridge.encode_table(bridge.decode_table(once))
    assert once["meta"] == twice["meta"]
    assert once["values"] == twice["values"] and once["masks"] == twice["masks"]
    # missing numbers go out with R's NA bit pattern, so R reads NA, not NaN
    d = np.frombuffer(bytes(once["values"][0]), "<u8")
    assert d[1] == 0x7FF00000000007A2


def test_wide_integers_go_to_r_as_double_and_entry_points_return_error_dicts() -> None:
    frame = pd.DataFrame({"big": np.array([1, 2**40], dtype=np.int64), "small": np.array([1, 2], dtype=np.int64)})
    meta = json.loads(bridge.encode_table(frame)["meta"])
    assert [c["type"] for c in meta["columns"]] == ["double", "integer"]
    res = bridge.read_table("/nonexistent/file.parquet")
    assert res["error"]["code"] == "file_not_found"
    assert "bad_draws" in bridge.error_codes()


def test_impute_entry_point_returns_plain_types() -> None:
    rng = np.random.default_rng(0)
    donor = pd.DataFrame({"x": rng.normal(size=50), "y": rng.normal(size=50)})
    recipient = pd.DataFrame({"x": rng.normal(size=7)})
    res = bridge.impute(bridge.encode_table(donor), bridge.encode_table(recipient), block="y", predictors="x",
                        method="hotdeck", draws=2, seed=1)
    assert set(res) == {"table", "report"} and isinstance(res["report"], str)
    assert all(isinstance(v, bytearray) for v in res["table"]["values"])
    out = bridge.decode_table(res["table"])
    assert len(out) == 14 and list(out.columns[-2:]) == ["_imp", "_row"]
    bad = bridge.impute(bridge.encode_table(donor), bridge.encode_table(recipient), block="y", predictors="x",
                        method="hotdeck", draws=0, seed=1)
    assert bad["error"]["code"] == "bad_draws"


@pytest.mark.parametrize("bad", [{"nrow": 3, "columns": [{"name": "a", "type": "double"}]}])
def test_wrong_buffer_length_is_a_clear_error(bad: dict) -> None:
    payload = {"meta": json.dumps(bad), "values": [bytearray(8)], "masks": [bytearray()]}
    res = bridge.roundtrip(payload)
    assert res["error"]["code"] == "bad_data" and "'a'" in res["error"]["message"]


def _spec_file(folder, **fields) -> str:
    import surveyfuse as sf

    donor, recipient = sf.datasets.make_surveys(n_donor=200, n_recipient=30, seed=0)
    donor.to_parquet(folder / "donor.parquet")
    recipient.to_parquet(folder / "recipient.parquet")
    spec = {"spec_version": 1, "donor": "donor.parquet", "recipient": "recipient.parquet", "block": ["interest", "dividends"],
            "predictors": ["age", "wage"], "method": "hotdeck", "draws": 3, "seed": 4, **fields}
    (folder / "spec.json").write_text(json.dumps(spec))
    return str(folder / "spec.json")


@pytest.mark.parametrize("output", ["out.parquet", "out_dataset"])
def test_run_spec_with_write_fits_and_imputes_once(tmp_path, monkeypatch, output) -> None:
    """What R's fuse_run(write = TRUE) returns is what it wrote, from one fit and one imputation."""
    from surveyfuse.imputer import Imputer

    calls = {"fit": 0, "sample": 0}
    fit, sample = Imputer.fit, Imputer.sample

    def counted(name, real):
        def wrapper(self, *args, **kwargs):
            calls[name] += 1
            return real(self, *args, **kwargs)
        return wrapper

    monkeypatch.setattr(Imputer, "fit", counted("fit", fit))
    monkeypatch.setattr(Imputer, "sample", counted("sample", sample))
    path = _spec_file(tmp_path, output=output)
    res = bridge.run_spec(path, write=True, include=True)
    assert "error" not in res and calls == {"fit": 1, "sample": 1}
    returned = bridge.decode_table(res["table"])
    written = pd.read_parquet(tmp_path / output)
    assert len(written) == len(returned) == 30 * 4
    assert json.loads(res["report"])["output"] == str(tmp_path / output)
    for c in ("interest", "dividends", "_imp", "_row"):
        np.testing.assert_array_equal(written[c].to_numpy(), returned[c].to_numpy())


def test_run_spec_with_write_and_no_output_fails_before_fitting(tmp_path, monkeypatch) -> None:
    from surveyfuse.imputer import Imputer

    monkeypatch.setattr(Imputer, "fit", lambda *a, **k: pytest.fail("fitted before the output was checked"))
    res = bridge.run_spec(_spec_file(tmp_path), write=True)
    assert res["error"]["code"] == "bad_argument" and "output" in res["error"]["message"]
