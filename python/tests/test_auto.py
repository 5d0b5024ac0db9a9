"""method="auto" picks a method by donor-only validation and says why."""

import numpy as np
import pandas as pd
import pytest

import surveyfuse as sf
from conftest import SPECS
from surveyfuse.cli import main
from surveyfuse.errors import SurveyfuseError

BLOCK = ["e00300", "e00600", "e00650"]
PREDICTORS = ["age_head", "MARS", "XTOT", "e00200"]


@pytest.fixture(scope="module")
def donor():
    return pd.read_parquet(SPECS / "data" / "cps_donor.parquet").sample(700, random_state=2).reset_index(drop=True)


def test_auto_picks_and_reports(donor):
    imp = sf.AutoImputer(BLOCK, PREDICTORS, method={"name": "auto", "params": {
        "candidates": ["hotdeck", {"name": "hotdeck", "params": {"k": 40}}], "folds": 2, "draws": 4}},
        weights="s006", constraints=["e00650 <= e00600"], categorical=["MARS"], random_state=0).fit(donor)
    rep = imp.fit_report_
    auto = rep["auto"]
    assert set(auto["energy_score"]) == {"hotdeck", "hotdeck_k40"}
    best = min(auto["energy_score"], key=auto["energy_score"].get)
    assert auto["chosen"] == best and rep["method"] == "hotdeck"
    assert best in auto["reason"] and "energy score" in auto["reason"]
    (other,) = set(auto["energy_score"]) - {best}
    assert auto["margins"][other]["gap"] == pytest.approx(auto["energy_score"][other] - auto["energy_score"][best])
    assert (imp.backend_.describe()["k"] == 40) == (best == "hotdeck_k40")
    out = imp.sample(donor[PREDICTORS].head(20), draws=2, seed=1)
    assert len(out) == 40


def test_auto_rejects_bad_params(donor):
    with pytest.raises(SurveyfuseError) as err:
        sf.AutoImputer(BLOCK, PREDICTORS, method={"name": "auto", "params": {"speed": 1}}).fit(donor)
    assert err.value.code == "bad_param"
    with pytest.raises(SurveyfuseError, match="nosuch"):
        sf.AutoImputer(BLOCK, PREDICTORS, params={"candidates": ["nosuch"]}).fit(donor)


def test_a_plain_imputer_refuses_auto_and_names_the_estimator_that_selects(donor):
    with pytest.raises(SurveyfuseError, match="AutoImputer") as err:
        sf.Imputer(BLOCK, PREDICTORS, method="auto").fit(donor)
    assert err.value.code == "unknown_method"


def test_front_ends_build_the_selecting_estimator(donor):
    """impute() (like specs, the CLI and R, through make_imputer) still takes method="auto"."""
    from surveyfuse.evaluate.auto import make_imputer

    assert type(make_imputer(block=BLOCK, predictors=PREDICTORS, method="auto")) is sf.AutoImputer
    assert type(make_imputer(block=BLOCK, predictors=PREDICTORS, method={"name": "hotdeck"})) is sf.Imputer
    out = sf.impute(donor, donor[PREDICTORS].head(10), block=BLOCK, predictors=PREDICTORS, draws=2, seed=0,
                    method={"name": "auto", "params": {"candidates": ["hotdeck", "qrf"], "folds": 2, "draws": 2}})
    assert len(out) == 20


def test_methods_lists_auto(capsys):
    assert main(["methods"]) == 0
    assert "auto" in capsys.readouterr().out.split()


def test_auto_falls_back_when_the_chosen_model_fails_on_the_whole_donor(donor, monkeypatch):
    """The folds passed the winner, its whole-donor fit did not: auto fits the next candidate and says so."""
    pytest.importorskip("torch")
    from surveyfuse.backends.deep.base import DeepBackend
    from surveyfuse.evaluate import auto

    ranking = [{"label": "tvae", "name": "tvae", "params": {"epochs": 2}}, {"label": "hotdeck", "name": "hotdeck", "params": {}}]
    report = {"chosen": "tvae", "reason": "tvae has the lowest energy score", "ranking": ranking}
    monkeypatch.setattr(auto, "choose_method", lambda *a, **k: ("tvae", {"epochs": 2}, dict(report)))
    monkeypatch.setattr(DeepBackend, "_check", lambda self, *a, **k: {"ok": False, "failed": ["skill"], "warning": "forced"})
    imp = sf.AutoImputer(BLOCK, PREDICTORS, weights="s006", categorical=["MARS"], random_state=0).fit(donor)
    got = imp.fit_report_["auto"]
    assert imp.method_ == imp.fit_report_["method"] == "hotdeck" and got["chosen"] == "hotdeck"
    assert got["failed_on_whole_donor"] == {"tvae": "forced"}
    assert "tvae failed its held-out fit check when fitted on the whole donor, so hotdeck" in got["reason"]
    assert "k" in imp.fit_report_["method_params"]  # the hot deck's settings, not the network's


def test_auto_chooses_under_the_runs_tolerance():
    """An identity that holds to a dollar: with the run's tolerance, auto's inner evaluation fits on every
    donor row, as the run does, instead of dropping most of them (and warning) while it chooses."""
    import warnings

    g = np.random.default_rng(2)
    n = 600
    a = np.round(np.exp(g.normal(8, 1, n)), 2)
    b = np.where(g.random(n) < 0.5, np.round(np.exp(g.normal(7, 1, n)), 2), 0.0)
    donor = pd.DataFrame({"x": a + b + g.normal(0, 50, n), "a": np.rint(a), "b": np.rint(b), "total": a + b})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        imp = sf.AutoImputer(["total", "a", "b"], ["x"], params={"candidates": ["hotdeck", "forest"]},
                         constraints=["total == a + b"], tolerance={"abs": 1.0}, random_state=0).fit(donor)
    dropped = [w for w in caught if getattr(w.message, "code", None) == "donors_dropped"]
    assert dropped == [], [str(w.message) for w in dropped]
    assert imp.fit_report_["auto"]["chosen"] in ("hotdeck", "forest")
