"""The HTML report: one offline file, a verdict that reads the metrics the right way round."""

import json
import re

import numpy as np
import pandas as pd
import pytest

import surveyfuse as sf
from conftest import SPECS
from surveyfuse.evaluate.metrics import total_log_se
from surveyfuse.evaluate.report import render_html, text_table, write_report
from surveyfuse.evaluate.summary import METRIC_BY_KEY, method_qualities, quality, verdict, winner


@pytest.fixture(scope="module")
def evaluation():
    donor = pd.read_parquet(SPECS / "data" / "cps_donor.parquet").sample(600, random_state=1).reset_index(drop=True)
    return sf.evaluate_methods(donor, ["e00300", "e00600", "MARS"], ["age_head", "XTOT", "e00200"],
                               methods=["hotdeck", "forest"], folds=2, draws=4, categorical=["MARS"],
                               constraints=["e00300 >= 0"], keep_examples=True)


def test_report_is_self_contained(evaluation, tmp_path):
    paths = write_report(evaluation, tmp_path / "r")
    page = open(paths["report"], encoding="utf-8").read()
    assert page.count("<img") >= 10
    assert page.count('src="data:image/svg+xml;base64,') == page.count("<img")
    assert not re.search(r"""(src|href)\s*=\s*['"]?(https?:|//)""", page)
    assert "<script" not in page and "@import" not in page
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page
    metrics = json.loads(open(paths["metrics"]).read())
    assert metrics["methods"]["hotdeck"]["variables"]["MARS"]["kind"] == "categorical"
    assert f"best method: {evaluation.best}" in text_table(evaluation)


def test_report_prints_numbers_for_people(evaluation):
    page = render_html(evaluation)
    text = re.sub(r'(src|style|content)="[^"]*"|<style>.*?</style>', "", page, flags=re.S)
    numbers = re.findall(r"\d+\.\d+", text)
    assert numbers and all(len(n.replace(".", "").lstrip("0")) <= 3 for n in numbers), numbers  # no 1545.6667
    assert "Weights: None" not in page and "no survey weights" in page


def test_each_metric_picks_its_own_winner():
    lower = METRIC_BY_KEY["correlation_mad"]
    assert winner({"forest": 0.028, "qrf": 0.011}, lower) == {"qrf"}
    assert winner({"forest": 0.10, "qrf": 0.05}, METRIC_BY_KEY["energy_skill"]) == {"forest"}
    assert winner({"forest": 0.86, "qrf": 0.95}, METRIC_BY_KEY["coverage90"]) == {"forest"}  # 0.04 vs 0.05 away
    assert winner({"forest": 0.0, "qrf": 0.0}, METRIC_BY_KEY["violation_share"]) == {"forest", "qrf"}
    assert winner({"forest": None, "qrf": 0.3}, lower) == set()


def test_highlighted_cell_is_the_rows_winner(evaluation):
    page = render_html(evaluation)
    methods = evaluation.metrics["methods"]
    row = re.search(r"<tr><td>mean \|Spearman difference\|.*?</tr>", page).group(0)
    labels = re.findall(r"<th>([a-z_]+)</th>", page.split("All metrics")[1])[1: len(methods) + 1]  # after "metric"
    cells = re.findall(r"<td( class=\"win\")?>([^<]*)</td>", row)
    best = min(methods, key=lambda m: methods[m]["overall"]["correlation_mad"])
    assert [bool(c[0]) for c in cells] == [lab == best for lab in labels]


def test_constraints_are_named_with_counts(evaluation):
    page = render_html(evaluation)
    assert "<code>e00300 &gt;= 0</code>" in page
    rows, draws = evaluation.metrics["settings"]["rows"], evaluation.metrics["settings"]["draws"]
    assert f"{rows * draws:,} records per method" in page


def test_quality_is_the_mean_of_its_parts_and_says_so(evaluation):
    qs = method_qualities(evaluation.metrics)
    assert "predictor-blind draws" in qs  # the yardstick is scored the same way
    for q in qs.values():
        assert 0 <= q["score"] <= 100
        assert q["score"] == pytest.approx(sum(q["parts"].values()) / len(q["parts"]), abs=0.05)
    perfect = quality({"correlation_mad": 0.0, "coverage50": 0.5, "coverage90": 0.9, "violation_share": 0.0},
                      {"x": {"kind": "numeric", "ks": 0.0, "total_ratio": 1.0}}, constraints=True)
    assert perfect["score"] == 100
    assert "Quality (0-100) is the plain mean" in render_html(evaluation)


def test_quality_totals_forgive_what_the_held_out_rows_luck_explains():
    """A heavy-tailed total off by 20% when the held-out total itself has a 15% sampling error is no
    fault of the method; off by 20% against a 1% error it is (half the gap beyond twice the error)."""
    def totals(ratio, se):
        return quality({}, {"x": {"kind": "numeric", "ks": 0.0, "total_ratio": ratio, "total_log_se": se}},
                       constraints=False)["parts"]["totals"]

    assert totals(1.2, 0.15) == 100
    assert totals(1.2, 0.01) == pytest.approx(100 * (1 - (np.log(1.2) - 0.02)), abs=0.05)
    assert totals(1.2, None) == pytest.approx(100 * (1 - np.log(1.2)), abs=0.05)  # metrics from before the se


def test_held_out_totals_carry_their_sampling_error():
    g = np.random.default_rng(0)
    heavy, light = np.exp(g.normal(8, 2.0, 2000)), np.exp(g.normal(8, 0.2, 2000))
    w = np.ones(2000)
    assert total_log_se(heavy, w) > 5 * total_log_se(light, w)
    totals = [heavy[g.integers(0, 2000, 2000)].sum() for _ in range(400)]  # bootstrap the rows
    assert np.std(np.log(totals)) == pytest.approx(total_log_se(heavy, w), rel=0.25)


def test_verdict_names_ties_and_warnings():
    metrics = {"best": "a", "settings": {"folds": 5}, "low_signal": False, "skipped": {},
               "margins": {"b": {"gap": 0.001, "se": 0.002, "folds_won_by_best": 3, "folds": 5},
                           "c": {"gap": 0.05, "se": 0.004, "folds_won_by_best": 5, "folds": 5}},
               "methods": {"a": {"overall": {"energy_score": 0.5, "energy_skill": 0.2}, "seconds": {"fit": 2, "sample": 1}},
                           "b": {"overall": {"energy_score": 0.501, "coverage90": 0.7}, "seconds": {"fit": 1, "sample": 0.5}},
                           "c": {"overall": {"energy_score": 0.55, "violation_share": 0.1}, "seconds": {"fit": 1, "sample": 1}}}}
    v = verdict(metrics)
    assert v["methods"]["b"]["status"] == "tie" and v["methods"]["c"]["status"] == "worse"
    assert "b is the fastest" in v["headline"]
    assert any("too narrow" in w for w in v["methods"]["b"]["warnings"])
    assert any("break a declared constraint" in w for w in v["methods"]["c"]["warnings"])
