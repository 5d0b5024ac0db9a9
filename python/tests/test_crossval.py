"""Donor-only K-fold evaluation, the API and the CLI, on the bundled CPS sample."""

import json

import numpy as np
import pandas as pd
import pytest

import surveyfuse as sf
from surveyfuse.cli import main
from surveyfuse.errors import SurveyfuseError, SurveyfuseWarning
from surveyfuse.evaluate.crossval import fold_ids, normalise_methods

from conftest import REPO, SPECS

DATA = str(SPECS / "data" / "cps_donor.parquet")
BLOCK = ["e00300", "e00600", "e00650"]
PREDICTORS = ["age_head", "MARS", "XTOT", "e00200", "e02400"]


@pytest.fixture(scope="module")
def donor():
    return pd.read_parquet(DATA).sample(900, random_state=0).reset_index(drop=True)


def test_fold_ids_balanced_and_seeded():
    a = fold_ids(103, 5, 1)
    assert np.bincount(a).tolist() == [21, 21, 21, 20, 20]
    assert (a == fold_ids(103, 5, 1)).all() and not (a == fold_ids(103, 5, 2)).all()


def test_evaluate_methods_api(donor):
    ev = sf.evaluate_methods(donor, block=BLOCK, predictors=PREDICTORS, methods=["hotdeck", ("hotdeck_k50", {"name": "hotdeck", "params": {"k": 50}})],
                             folds=2, draws=5, weights="s006", constraints=["e00650 <= e00600"], categorical=["MARS"], seed=0)
    m = json.loads(json.dumps(ev.metrics))
    assert set(m["methods"]) == {"hotdeck", "hotdeck_k50"}
    es = {k: v["overall"]["energy_score"] for k, v in m["methods"].items()}
    assert ev.best == min(es, key=es.get)
    (other,) = set(es) - {ev.best}
    gap = m["margins"][other]
    folds = [f["energy_score"] for f in m["methods"][other]["folds"]]
    best_folds = [f["energy_score"] for f in m["methods"][ev.best]["folds"]]
    assert gap["gap"] == pytest.approx(np.mean(np.subtract(folds, best_folds))) and gap["gap"] > 0
    assert gap["se"] == pytest.approx(np.std(np.subtract(folds, best_folds), ddof=1) / np.sqrt(2))
    assert len(m["methods"]["hotdeck"]["folds"]) == 2
    assert m["methods"]["hotdeck"]["overall"]["constraint_violations"]["e00650 <= e00600"] == 0.0
    t = ev.table()
    assert t.index[0] == ev.best and "fit_seconds" in t.columns
    assert set(ev.variable_table()["variable"]) == set(BLOCK)


def test_energy_skill_against_predictor_blind_draws():
    """Skill is high when the predictor determines the block, near zero when it says nothing."""
    rng = np.random.default_rng(3)
    age = rng.uniform(20, 70, 800)
    frame = pd.DataFrame({"age": age, "wage": 1000 * age + rng.normal(0, 3000, 800), "noise": rng.normal(size=800)})
    strong = sf.evaluate_methods(frame, ["wage"], ["age"], ["hotdeck"], folds=2, draws=8)
    weak = sf.evaluate_methods(frame, ["noise"], ["age"], ["hotdeck"], folds=2, draws=8)
    base = strong.metrics["baseline"]
    assert base["name"] == "predictor_blind" and len(base["folds"]) == 2
    skill = strong.metrics["methods"]["hotdeck"]["overall"]["energy_skill"]
    assert skill == pytest.approx(1 - strong.metrics["methods"]["hotdeck"]["overall"]["energy_score"] / base["energy_score"])
    assert skill > 0.5 and not strong.metrics["low_signal"]
    assert weak.metrics["methods"]["hotdeck"]["overall"]["energy_skill"] < 0.05 and weak.metrics["low_signal"]
    assert "energy_skill" in weak.table().columns
    from surveyfuse.evaluate.report import text_table

    assert "predictors say little about this block" in text_table(weak)
    assert "predictors say little" not in text_table(strong)


def test_predictor_blind_draws_follow_the_weights():
    from surveyfuse.evaluate.baseline import predictor_blind_draws

    block = pd.DataFrame({"x": [1.0, 2.0, 3.0], "kind": ["a", "b", "c"]})
    D = predictor_blind_draws(block, [1.0, 0.0, 3.0], n=2000, draws=5, seed=0)
    assert D["x"].shape == (5, 2000) and set(np.unique(D["kind"])) == {"a", "c"}
    assert np.mean(D["x"] == 3.0) == pytest.approx(0.75, abs=0.02)
    assert np.all((D["x"] == 1.0) == (D["kind"] == "a"))  # whole records, never mixed


def test_evaluate_rejects_unknown_method_and_bad_folds(donor):
    with pytest.raises(SurveyfuseError, match="nosuch"):
        sf.evaluate_methods(donor, BLOCK, PREDICTORS, methods=["hotdeck", "nosuch"], folds=2)
    with pytest.raises(SurveyfuseError, match="folds"):
        sf.evaluate_methods(donor, BLOCK, PREDICTORS, methods=["hotdeck"], folds=1)
    with pytest.raises(SurveyfuseError, match="draws must be a positive integer") as err:
        sf.evaluate_methods(donor, BLOCK, PREDICTORS, methods=["hotdeck"], folds=2, draws=0)
    assert err.value.code == "bad_draws"


def test_reference_methods_are_skipped_or_scored(donor):
    small = donor.head(400)
    ev = sf.evaluate_methods(small, BLOCK, PREDICTORS, methods=["hotdeck", "microimpute", "mice"], folds=2, draws=3,
                             constraints=["e00650 <= e00600"], categorical=["MARS"])
    for ref in ("microimpute", "mice"):
        assert (ref in ev.metrics["skipped"]) != (ref in ev.metrics["methods"])
    assert "hotdeck" in ev.metrics["methods"]
    if "mice" in ev.metrics["methods"]:  # R + r-cran-mice installed: a real comparison row
        o = ev.metrics["methods"]["mice"]["overall"]
        assert o["energy_score"] > 0 and o["rows"] == 200


def test_cli_evaluate(tmp_path, capsys):
    spec = json.loads((REPO / "examples" / "cps_investment.json").read_text())
    spec["donor"] = DATA
    spec["recipient"] = str(SPECS / "data" / "cps_recipient.parquet")
    spec.pop("output", None)
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec))
    out = tmp_path / "ev"
    rc = main(["evaluate", str(path), "--methods", "hotdeck,forest", "--folds", "2", "--draws", "5",
               "--max-rows", "1500", "--out", str(out)])
    text = capsys.readouterr().out
    assert rc == 0, text
    assert "best method:" in text
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["methods"]) == {"hotdeck", "forest"} and metrics["best"] in text
    assert metrics["settings"]["rows"] == 1500
    assert (out / "report.html").stat().st_size > 10_000
    assert main(["evaluate", str(path), "--methods", "nosuch", "--folds", "2"]) == 2
    assert "error[unknown_method]" in capsys.readouterr().err


def test_method_text_with_params():
    pairs = normalise_methods("forest, hotdeck:k=50, hotdeck")
    assert pairs == [("forest", "forest"), ("hotdeck_k50", {"name": "hotdeck", "params": {"k": 50}}), ("hotdeck", "hotdeck")]
    with pytest.raises(SurveyfuseError, match="param=value"):
        normalise_methods("hotdeck:k")
    with pytest.raises(SurveyfuseError, match="distinct"):
        normalise_methods("hotdeck,hotdeck")


def test_the_long_table_holds_every_fold_and_the_summaries_are_its_means(donor):
    """One table (method, fold, variable, metric, value): metrics, the report's source, is its mean over folds."""
    ev = sf.evaluate_methods(donor.iloc[:600], BLOCK, PREDICTORS, methods=["hotdeck", "forest"], folds=3, draws=4,
                             weights="s006", constraints=["e00650 <= e00600"], categorical=["MARS"], seed=2)
    long = ev.long_table()
    assert list(long.columns) == ["method", "fold", "variable", "metric", "value"]
    assert set(long["method"]) == {"hotdeck", "forest", "predictor_blind"} and set(long["fold"]) == {0, 1, 2}
    means = long.fillna({"variable": "(block)"}).groupby(["method", "variable", "metric"])["value"].mean()
    checked = 0
    for label, res in ev.metrics["methods"].items():
        for metric, value in res["overall"].items():
            if isinstance(value, float) and metric != "energy_skill":  # skill is computed from the means
                assert means[(label, "(block)", metric)] == pytest.approx(value, rel=1e-12), (label, metric)
                checked += 1
        for var, scores in res["variables"].items():
            for metric, value in scores.items():
                if isinstance(value, float):
                    assert means[(label, var, metric)] == pytest.approx(value, rel=1e-12), (label, var, metric)
                    checked += 1
    assert checked > 50
    blind = long[(long.method == "predictor_blind") & (long.metric == "energy_score") & long.variable.isna()]
    assert blind["value"].tolist() == pytest.approx(ev.metrics["baseline"]["folds"])


def test_evaluation_uses_the_constraints_tolerance_and_says_what_it_leaves_out():
    """A donor whose identity holds only to rounding (parts in whole dollars, the total in cents): a run
    with a tolerance fits on every row, and so must its evaluation, counting broken records the same way."""
    g = np.random.default_rng(2)
    n = 400
    a = np.round(np.exp(g.normal(8, 1, n)), 2)
    b = np.where(g.random(n) < 0.5, np.round(np.exp(g.normal(7, 1, n)), 2), 0.0)
    donor = pd.DataFrame({"x": a + b + g.normal(0, 50, n), "a": np.rint(a), "b": np.rint(b), "total": a + b})
    assert (np.abs(donor["total"] - donor["a"] - donor["b"]) > 0).mean() > 0.3
    rules = ["total == a + b"]
    loose = sf.evaluate_methods(donor, ["total", "a", "b"], ["x"], methods=["hotdeck"], folds=2, draws=3,
                                constraints=rules, tolerance={"abs": 1.0})
    assert loose.metrics["settings"]["tolerance"] == {"abs": 1.0}
    assert loose.metrics["methods"]["hotdeck"]["overall"]["violation_share"] == 0
    with pytest.warns(SurveyfuseWarning, match="donor rows"):  # exact: most donors break it and are dropped
        sf.evaluate_methods(donor, ["total", "a", "b"], ["x"], methods=["hotdeck"], folds=2, draws=3, constraints=rules)
    holes = donor.copy()
    holes.loc[:9, "a"] = np.nan
    with pytest.warns(SurveyfuseWarning, match="10 of 400 donor rows have a missing value") as rec:
        sf.evaluate_methods(holes, ["total", "a", "b"], ["x"], methods=["hotdeck"], folds=2, draws=3,
                            constraints=rules, tolerance={"abs": 1.0})
    assert any(getattr(w.message, "code", None) == "donors_dropped" for w in rec)
