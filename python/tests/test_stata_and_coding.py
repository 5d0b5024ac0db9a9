"""Stata users' files and workflows in Python and on the command line: .dta
labels, formats and missing codes both ways; the original rows for ``mi import
flong``; predictors coded differently in donor and recipient."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pyreadstat
import pytest

import surveyfuse as sf
from surveyfuse.data.io import STATA_META, na_tags, read_table, tagged_na, write_table
from surveyfuse.errors import SurveyfuseError, SurveyfuseWarning


def _survey(n: int = 240, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    mars = rng.choice([1.0, 2.0, 4.0], n)
    age = rng.integers(20, 80, n).astype(float)
    wage = np.round(np.exp(rng.normal(10, 0.5, n)) * (1 + (mars == 2)))
    div = np.round(np.maximum(0, rng.normal(wage / 50, 100)))
    return pd.DataFrame({"id": np.arange(1, n + 1, dtype=float), "age": age, "MARS": mars, "wage": wage, "div": div})


def _write_stata_file(path: Path) -> pd.DataFrame:
    """A .dta as a Stata user has it: value labels, variable labels, a format, .a/.b missing codes."""
    frame = _survey()
    raw = frame.astype({"wage": object})
    raw.loc[[0, 2], "wage"] = "a"
    raw.loc[[1, 3], "wage"] = "b"
    pyreadstat.write_dta(
        raw, str(path), version=14,
        column_labels={"age": "Age of head", "MARS": "Filing status", "wage": "Wages and salaries"},
        variable_value_labels={"MARS": {1: "single", 2: "joint", 4: "head"}, "wage": {-1: "refused"}},
        missing_user_values={"wage": ["a", "b"]}, variable_format={"age": "%8.0g"},
    )
    return frame


def test_dta_reads_unordered_labels_variable_labels_formats_and_missing_codes(tmp_path):
    path = tmp_path / "survey.dta"
    _write_stata_file(path)
    d = read_table(path)
    assert isinstance(d["MARS"].dtype, pd.CategoricalDtype) and not d["MARS"].cat.ordered
    assert list(d["MARS"].cat.categories) == ["single", "joint", "head"]
    assert read_table(path, ordered=True)["MARS"].cat.ordered
    meta = d.attrs[STATA_META]
    assert meta["variable_labels"]["MARS"] == "Filing status"
    assert meta["formats"]["age"] == "%8.0g"
    assert meta["value_labels"]["wage"] == {"-1": "refused"}
    assert pd.api.types.is_float_dtype(d["wage"])  # partly labelled: stays a number
    assert list(na_tags(d["wage"].to_numpy())[:5]) == ["a", "b", "a", "b", ""]


def test_dta_written_back_keeps_codes_labels_and_missing_codes(tmp_path):
    path, out = tmp_path / "survey.dta", tmp_path / "back.dta"
    _write_stata_file(path)
    d = read_table(path)
    write_table(d, out)
    raw, meta = pyreadstat.read_dta(str(out), user_missing=True)
    original, _ = pyreadstat.read_dta(str(path), user_missing=True)
    assert raw["MARS"].tolist() == original["MARS"].tolist()  # 1, 2, 4: the file's own codes
    assert meta.variable_value_labels["MARS"] == {1: "single", 2: "joint", 4: "head"}
    assert meta.column_names_to_labels["wage"] == "Wages and salaries"
    assert raw["wage"].tolist()[:4] == ["a", "b", "a", "b"]
    assert meta.original_variable_types["age"] == "%8.0g"


def test_tagged_na_is_havens_bit_pattern():
    # haven::tagged_na("a") written by R's writeBin: a2 07 00 00 61 00 f0 7f
    assert np.array([tagged_na("a")]).view(np.uint64)[0] == 0x7FF00061000007A2
    with pytest.raises(SurveyfuseError) as err:
        tagged_na("A")
    assert err.value.code == "bad_data"


def test_include_original_rows_follow_mi_import_flong_rules():
    d = _survey()
    donor, recipient = d.iloc[60:], d.iloc[:60].drop(columns=["wage", "div"])
    out = sf.impute(donor, recipient, block=["wage", "div"], predictors=["age", "MARS"], method="hotdeck",
                    draws=3, seed=1, include=True)
    assert out["_imp"].value_counts().sort_index().to_dict() == {0: 60, 1: 60, 2: 60, 3: 60}
    assert not out.duplicated(["_imp", "_row"]).any()
    zero = out[out["_imp"] == 0]
    assert zero[["wage", "div"]].isna().all().all() and not out.loc[out["_imp"] > 0, ["wage", "div"]].isna().any().any()
    pd.testing.assert_frame_equal(zero[recipient.columns].reset_index(drop=True), recipient.reset_index(drop=True))
    plain = sf.impute(donor, recipient, block=["wage", "div"], predictors=["age", "MARS"], method="hotdeck",
                      draws=3, seed=1)
    pd.testing.assert_frame_equal(out[out["_imp"] > 0].reset_index(drop=True), plain, check_dtype=False)


def test_cli_include_original_writes_the_flong_layout(tmp_path):
    path = tmp_path / "survey.dta"
    _write_stata_file(path)
    d = read_table(path)
    write_table(d.iloc[60:], tmp_path / "donor.dta")
    write_table(d.iloc[:60].drop(columns=["div"]), tmp_path / "recipient.dta")
    spec = {"spec_version": 1, "donor": "donor.dta", "recipient": "recipient.dta", "predictors": ["age", "MARS"],
            "block": ["div"], "method": "hotdeck", "draws": 2, "seed": 4, "output": "imputed.dta"}
    (tmp_path / "task.json").write_text(json.dumps(spec))
    res = subprocess.run([sys.executable, "-m", "surveyfuse.cli", "run", "task.json", "--include-original"],
                         cwd=tmp_path, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert "original rows come first as _imp = 0" in res.stdout
    raw, meta = pyreadstat.read_dta(str(tmp_path / "imputed.dta"), user_missing=True)
    assert raw["_imp"].value_counts().sort_index().to_dict() == {0: 60, 1: 60, 2: 60}
    assert raw.loc[raw["_imp"] == 0, "div"].isna().all()
    # the recipient's labels and missing codes survive the streaming writer
    assert meta.variable_value_labels["MARS"] == {1: "single", 2: "joint", 4: "head"}
    assert meta.column_names_to_labels["wage"] == "Wages and salaries"
    assert raw["wage"].tolist()[:4] == ["a", "b", "a", "b"]
    assert raw.loc[raw["_imp"] == 2, "wage"].tolist()[:2] == ["a", "b"]
    assert meta.column_names_to_labels["_imp"].startswith("imputation number")


def test_labels_against_codes_is_a_coded_error_naming_the_column():
    d = _survey()
    donor = d.iloc[60:].assign(MARS=pd.Categorical(d["MARS"].iloc[60:].map({1.0: "single", 2.0: "joint", 4.0: "head"})))
    recipient = d.iloc[:60][["age", "MARS"]]
    with pytest.raises(SurveyfuseError) as err:
        sf.impute(donor, recipient, block=["div"], predictors=["age", "MARS"], method="hotdeck", draws=2, seed=1)
    assert err.value.code == "predictor_coding" and err.value.context["column"] == "MARS"
    assert "'single'" in err.value.message and "labels" in err.value.message


def test_text_numbers_are_refused_with_the_column_and_an_example():
    donor = pd.DataFrame({"age": np.arange(40.0), "wage": [f"{21900 + 1000 * i:,}" for i in range(40)],
                          "y": np.arange(40.0)})
    with pytest.raises(SurveyfuseError) as err:
        sf.impute(donor, donor[["age", "wage"]].head(3), block=["y"], predictors=["age", "wage"], method="hotdeck",
                  draws=2, seed=1)
    assert err.value.code == "non_numeric" and "'21,900'" in err.value.message
    numeric = donor.assign(wage=21900.0 + 1000 * np.arange(40))
    with pytest.raises(SurveyfuseError) as err:
        sf.impute(numeric, donor[["age", "wage"]].head(3), block=["y"], predictors=["age", "wage"], method="hotdeck",
                  draws=2, seed=1)
    assert err.value.code == "predictor_coding" and "thousands separators" in err.value.message


def test_other_level_sets_warn_with_the_column_and_share():
    d = _survey()
    donor = d.iloc[60:].assign(region=np.where(np.arange(180) % 2, "north", "south"))
    recipient = d.iloc[:20][["age"]].assign(region=["north"] * 15 + ["West"] * 5)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        imp = sf.Imputer(block=["div"], predictors=["age", "region"], method="hotdeck", random_state=1).fit(donor)
        imp.sample(recipient, draws=2)
    coded = [w.message for w in caught if isinstance(w.message, SurveyfuseWarning)]
    assert len(coded) == 1 and coded[0].code == "predictor_coding"
    assert "'region'" in str(coded[0]) and "'West'" in str(coded[0]) and "25.0%" in str(coded[0])
    assert imp.sample_report_["warnings"] == [str(coded[0])]


def test_empty_recipient_is_its_documented_code():
    d = _survey()
    with pytest.raises(SurveyfuseError) as err:
        sf.impute(d, d.iloc[:0][["age"]], block=["div"], predictors=["age"], method="hotdeck", draws=2, seed=1)
    assert err.value.code == "empty_recipient"


def test_cli_prints_a_coding_warning_as_one_line(tmp_path):
    d = _survey()
    donor = d.iloc[60:].assign(region=np.where(np.arange(180) % 2, "north", "south"))
    recipient = d.iloc[:20][["age"]].assign(region=["north"] * 15 + ["West"] * 5)
    donor.to_csv(tmp_path / "donor.csv", index=False)
    recipient.to_csv(tmp_path / "recipient.csv", index=False)
    spec = {"spec_version": 1, "donor": "donor.csv", "recipient": "recipient.csv", "predictors": ["age", "region"],
            "block": ["div"], "method": "hotdeck", "draws": 2, "seed": 1, "output": "out.parquet"}
    (tmp_path / "task.json").write_text(json.dumps(spec))
    res = subprocess.run([sys.executable, "-m", "surveyfuse.cli", "run", "task.json"], cwd=tmp_path,
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert res.stderr.strip().startswith("warning[predictor_coding]: predictor 'region'")
    assert "warning         predictor 'region'" in res.stdout  # and in the run summary
