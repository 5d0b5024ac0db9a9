"""The HTML report is one offline file with embedded plots."""

import json
import re

import pandas as pd

import surveyfuse as sf
from surveyfuse.evaluate.report import text_table, write_report


def test_report_is_self_contained(tmp_path):
    donor = pd.read_parquet("shared-specs/data/cps_donor.parquet").sample(600, random_state=1).reset_index(drop=True)
    ev = sf.evaluate_methods(donor, ["e00300", "e00600", "MARS"], ["age_head", "XTOT", "e00200"], methods=["hotdeck"],
                             folds=2, draws=4, categorical=["MARS"], keep_examples=True)
    paths = write_report(ev, tmp_path / "r")
    page = open(paths["report"], encoding="utf-8").read()
    assert page.count("<img") >= 4
    assert page.count("src='data:image/png;base64,") == page.count("<img")
    assert not re.search(r"""(src|href)\s*=\s*['"]?https?:""", page)
    assert "<script" not in page
    metrics = json.loads(open(paths["metrics"]).read())
    assert metrics["methods"]["hotdeck"]["variables"]["MARS"]["kind"] == "categorical"
    assert "best method: hotdeck" in text_table(ev)
