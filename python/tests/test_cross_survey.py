"""Cross-survey fusion: harmonisation, common-support diagnostics, raking, calibration to totals."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from surveyfuse import CalibratedImputer, Imputer, SurveyfuseError, run_spec
from surveyfuse.surveys.diagnostics import diagnose
from surveyfuse.surveys.harmonise import Harmoniser
from surveyfuse.surveys.raking import rake
from surveyfuse.pipeline.run import diagnose_spec

from conftest import REPO

EXAMPLE = REPO / "examples" / "cross_survey"
SPEC = EXAMPLE / "spec.json"


def test_harmoniser_renames_recodes_transforms_without_touching_input():
    frame = pd.DataFrame({"age": [30, 40], "status": ["single", "joint"], "wages_k": [1.5, 700.0]})
    before = frame.copy()
    h = Harmoniser({"recipient": {"rename": {"age": "age_head", "status": "MARS", "wages_k": "e00200"},
                                  "recode": {"MARS": {"single": 1, "joint": 2}},
                                  "transform": {"e00200": {"scale": 1000, "top_code": 500000}}}})
    out = h.apply(frame, "recipient", needed=["age_head", "MARS", "e00200"])
    assert out.to_dict("list") == {"age_head": [30, 40], "MARS": [1, 2], "e00200": [1500.0, 500000.0]}
    pd.testing.assert_frame_equal(frame, before)


@pytest.mark.parametrize("rules, code, word", [
    ({"recipient": {"recode": {"s": {"a": 1}}}}, "unmatched_category", "'b'"),
    ({"recipient": {"rename": {"nope": "x"}}}, "missing_column", "nope"),
    ({"recipient": {"transform": {"v": {"multiply": 2}}}}, "bad_harmonise", "multiply"),
    ({"elsewhere": {}}, "bad_harmonise", "elsewhere"),
])
def test_harmoniser_errors_name_the_problem(rules, code, word):
    frame = pd.DataFrame({"s": ["a", "b"], "v": [1.0, 2.0]})
    with pytest.raises(SurveyfuseError) as info:
        Harmoniser(rules).apply(frame, "recipient")
    assert info.value.code == code and word in info.value.message


def test_recode_default_catches_the_rest():
    frame = pd.DataFrame({"educ": [1, 2, 5, 4]})
    out = Harmoniser({"donor": {"recode": {"educ": {"1": "lths", "2": "hs", "*": "college"}}}}).apply(frame, "donor")
    assert out["educ"].tolist() == ["lths", "hs", "college", "college"]


def test_rake_matches_recipient_margins():
    rng = np.random.default_rng(0)
    donor = pd.DataFrame({"g": rng.choice(["a", "b", "c"], 2000, p=[0.6, 0.3, 0.1]), "x": rng.normal(size=2000)})
    recip = pd.DataFrame({"g": rng.choice(["a", "b", "c"], 1500, p=[0.2, 0.3, 0.5]), "x": rng.normal(1.0, size=1500)})
    w, report = rake(donor, recip, ["g", "x"], np.ones(2000), np.ones(1500), categorical=["g"], bins=4)
    for lv in "abc":
        assert abs(w[donor.g == lv].sum() / w.sum() - (recip.g == lv).mean()) < 1e-5
    gap_before = abs(donor.x.mean() - recip.x.mean())
    assert abs(np.average(donor.x, weights=w) - recip.x.mean()) < 0.25 * gap_before  # quartile shares pull the mean along
    cuts = np.quantile(recip.x, [0.25, 0.5, 0.75])
    for lo, hi in zip([-np.inf, *cuts], [*cuts, np.inf]):
        inside = (donor.x > lo) & (donor.x <= hi)
        assert abs(w[inside].sum() / w.sum() - ((recip.x > lo) & (recip.x <= hi)).mean()) < 0.01
    assert max(report["max_gap_after"].values()) < 1e-5 < max(report["max_gap_before"].values())


def test_rake_refuses_level_missing_from_donor():
    donor = pd.DataFrame({"g": ["a", "b"] * 10})
    recip = pd.DataFrame({"g": ["a", "c"] * 10})
    with pytest.raises(SurveyfuseError) as info:
        rake(donor, recip, ["g"], np.ones(20), np.ones(20), categorical=["g"])
    assert info.value.code == "rake_failed" and "'c'" in info.value.message


def test_diagnostics_detect_shift_and_off_support():
    rng = np.random.default_rng(1)
    donor = pd.DataFrame({"x": rng.uniform(0, 1, 3000), "s": rng.choice(["a", "b"], 3000)})
    recip = pd.DataFrame({"x": np.r_[rng.uniform(0, 1, 900), rng.uniform(2, 3, 100)], "s": ["a"] * 990 + ["z"] * 10})
    res = diagnose(donor, recip, ["x", "s"], categorical=["s"])
    assert res.numeric.loc["x", "smd"] > 0.3
    assert 0.09 <= res.support["share_out_of_range"] <= 0.11
    assert res.support["share_unseen_category"] == pytest.approx(0.01)
    assert res.flags["off_support"].iloc[900:].all()
    assert res.flags["off_support"].iloc[:900].mean() < 0.05
    assert any("off the donor's support" in w for w in res.warnings)


def test_off_support_flag_column_in_output(small_split):
    donor, recip = small_split
    recip = recip.drop(columns=["e00600"]).copy()
    recip.loc[0, "age_head"] = 200  # beyond the donor's range
    imp = Imputer(["e00600"], ["age_head", "e00200"], method="hotdeck", flag_off_support=True).fit(donor)
    out = imp.sample(recip, draws=2, seed=0)
    assert out.loc[out["_row"] == 0, "_off_support"].all()
    assert out["_off_support"].mean() < 0.1


def test_calibration_hits_targets_in_expectation_and_keeps_constraints(cps_donor, cps_recipient):
    block = ["e00600", "e00650"]
    imp = Imputer(block, ["age_head", "MARS", "e00200"], method="hotdeck", categorical=["MARS"], weights="s006",
                  constraints=["e00650 <= e00600"], random_state=0).fit(cps_donor)
    plain = imp.sample(cps_recipient, draws=4, seed=3)
    base = float(((plain.e00600 > 0) * plain.s006).groupby(plain._imp).sum().mean())
    cal = CalibratedImputer(imp, [{"count": "e00600 > 0", "value": 0.8 * base}], "s006").fit(cps_recipient, draws=4, seed=3)
    entry = cal.calibration_report_["targets"][0]
    assert entry["after"] == pytest.approx(0.8 * base, rel=1e-6)
    out = cal.sample(cps_recipient)
    realized = float(((out.e00600 > 0) * out.s006).groupby(out._imp).sum().mean())
    assert abs(realized / (0.8 * base) - 1) < 0.03
    assert (out.e00650 <= out.e00600).all()
    assert cal.sample_report_["calibrated_totals"]  # the wrapped imputer's report reads through
    with pytest.raises(SurveyfuseError) as info:
        CalibratedImputer(imp, [{"count": "e00600 > 0", "value": 10 * base}], "s006").fit(cps_recipient, draws=4, seed=3)
    assert info.value.code == "calibration_infeasible"


def test_calibration_wraps_the_imputer_and_leaves_it_free(cps_donor, cps_recipient, tmp_path):
    """The imputer keeps drawing from its model with any draws and seed; the wrapper saves and loads as itself."""
    recipient = cps_recipient.iloc[:300]
    imp = Imputer(["e00600"], ["age_head", "e00200"], method="hotdeck", random_state=0).fit(cps_donor.iloc[:2000])
    plain = imp.sample(recipient, draws=3, seed=5)
    cal = CalibratedImputer(imp, [{"total": "e00600", "value": 1.2 * float((plain.e00600 * plain.s006).sum() / 3)}],
                            "s006").fit(recipient, draws=3, seed=5)
    tilted = cal.sample(recipient)
    assert not tilted.equals(plain)
    assert imp.sample(recipient, draws=3, seed=5).equals(plain) and len(imp.sample(recipient, draws=7, seed=1)) == 7 * 300
    with pytest.raises(SurveyfuseError, match="calibrated for draws=3, seed=5"):
        cal.sample(recipient, draws=7)
    again = Imputer.load(cal.save(str(tmp_path / "cal.sfm")))
    assert isinstance(again, CalibratedImputer) and again.sample(recipient).equals(tilted)
    assert type(Imputer.load(imp.to_bytes())) is Imputer


def test_bad_targets_are_refused(cps_donor, cps_recipient):
    imp = Imputer(["e00600"], ["age_head"], method="hotdeck").fit(cps_donor.iloc[:500])
    for target in ({"total": "e99999", "value": 1}, {"sum": "e00600", "value": 1}, {"total": "e00600", "value": "lots"}):
        with pytest.raises(SurveyfuseError) as info:
            CalibratedImputer(imp, [target], "s006").fit(cps_recipient.iloc[:50], draws=2, seed=0)
        assert info.value.code == "bad_target"


def test_worked_example_crosses_surveys(tmp_path):
    out = tmp_path / "fused.parquet"
    result = run_spec(SPEC, output=out, overrides={"draws": 4})
    s = result.summary
    table = pd.read_parquet(out)
    recipient = pd.read_parquet(EXAMPLE / "recipient_2014.parquet")
    # the recipient's own vocabulary survives: renamed, recoded and rescaled columns untouched
    part = table[table["_imp"] == 1][list(recipient.columns)].reset_index(drop=True)
    pd.testing.assert_frame_equal(part, recipient)
    assert s["constraints"]["ok"]
    assert max(s["raking"]["max_gap_after"].values()) < 1e-5
    for t in s["calibration"]["targets"]:
        assert t["after"] == pytest.approx(t["value"], rel=1e-6)
    assert "_off_support" in table.columns


def test_diagnose_cli_writes_files(tmp_path):
    res = subprocess.run([sys.executable, "-m", "surveyfuse.cli", "diagnose", str(SPEC), "--out", str(tmp_path)],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert "Common support" in res.stdout
    data = json.loads((tmp_path / "diagnostics.json").read_text())
    assert {r["predictor"] for r in data["numeric"]} == {"age_head", "XTOT", "e00200", "e02400"}
    flags = pd.read_csv(tmp_path / "support_flags.csv")
    assert len(flags) == len(pd.read_parquet(EXAMPLE / "recipient_2014.parquet"))
    assert diagnose_spec(SPEC).support["share_off_support"] < 0.05


def test_run_spec_leaves_the_callers_spec_as_it_was(tmp_path):
    """Overrides make a new spec; the TaskSpec the caller passed (and may run again) is unchanged."""
    import copy
    import json

    import surveyfuse as sf

    donor, recipient = sf.datasets.make_surveys(n_donor=200, n_recipient=20, seed=0)
    donor.to_parquet(tmp_path / "donor.parquet")
    recipient.to_parquet(tmp_path / "recipient.parquet")
    (tmp_path / "spec.json").write_text(json.dumps({
        "spec_version": 1, "donor": "donor.parquet", "recipient": "recipient.parquet", "block": ["interest"],
        "predictors": ["age", "wage"], "method": "hotdeck", "draws": 2, "seed": 1}))
    spec = sf.load_spec(tmp_path / "spec.json")
    before = copy.deepcopy(spec)
    result = sf.run_spec(spec, write=False, overrides={"draws": 5, "seed": 9, "method": "forest", "include_original": True})
    assert result.summary["draws"] == 5 and result.summary["method"] == "forest"
    assert spec == before


def test_the_spec_keeps_harmonise_rules_and_raking_apart(tmp_path):
    """One JSON section (as before), two fields: the rules the Harmoniser applies, and the raking settings."""
    from surveyfuse.pipeline.spec import parse_spec

    base = {"spec_version": 1, "donor": "d.csv", "recipient": "r.csv", "block": ["y"], "predictors": ["x"]}
    rules = {"recipient": {"rename": {"x_r": "x"}}}
    spec = parse_spec({**base, "harmonise": {**rules, "rake": ["x"], "rake_bins": 3}})
    assert spec.harmonise == rules and spec.rake == {"columns": ["x"], "bins": 3}
    spec = parse_spec({**base, "harmonise": {"rake": ["x"]}})
    assert spec.harmonise is None and spec.rake == {"columns": ["x"], "bins": 5}
    assert parse_spec(base).rake is None and parse_spec(base).harmonise is None
