"""The four generative backends: shapes, constraints, chunking, determinism, save/load.

Tiny data and a few epochs keep the whole file well under a minute on 2 cores.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("torch")
# two or three epochs cannot fit a model, and the held-out fit check rightly says so (test_deep_small_donors.py)
pytestmark = pytest.mark.filterwarnings("ignore::surveyfuse.backends.deep.fit_check.FitCheckWarning")

from surveyfuse import rng  # noqa: E402
from surveyfuse.backends import make_backend  # noqa: E402
from surveyfuse.errors import SurveyfuseError  # noqa: E402
from surveyfuse.imputer import Imputer  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared-specs" / "data"
BLOCK = ["e00300", "e00400", "e00600", "e00650", "e01100"]
PREDICTORS = ["age_head", "MARS", "XTOT", "e00200", "e02400"]
CONSTRAINTS = ["e00650 <= e00600", "e00300 >= 0"]
METHODS = ["tvae", "diffusion", "ctgan", "ctabgan"]
TINY = {
    "tvae": {"epochs": 3},
    "diffusion": {"epochs": 3, "sampling_steps": 5},
    "ctgan": {"epochs": 2, "batch_size": 200},
    "ctabgan": {"epochs": 2, "batch_size": 200},
}


@pytest.fixture(scope="module")
def cps() -> tuple[pd.DataFrame, pd.DataFrame]:
    frame = pd.read_parquet(DATA / "cps_donor.parquet")
    return frame.iloc[:1200].reset_index(drop=True), frame.iloc[1200:1260].drop(columns=BLOCK).reset_index(drop=True)


@pytest.fixture(scope="module")
def fitted(cps) -> dict[str, Imputer]:
    donor, _ = cps
    out = {}
    for m in METHODS:
        imp = Imputer(block=BLOCK, predictors=PREDICTORS, method=m, params=TINY[m], categorical=["MARS"],
                      weights="s006", constraints=CONSTRAINTS, random_state=0)
        out[m] = imp.fit(donor)
    return out


@pytest.mark.parametrize("method", METHODS)
def test_fits_and_samples_block_with_constraints_by_construction(fitted, cps, method):
    _, recipient = cps
    imp = fitted[method]
    D = imp.backend_.sample(imp.encoder_.transform(recipient), np.arange(len(recipient)), 3, 5)
    assert D.shape == (3, len(recipient), len(BLOCK)) and np.isfinite(D).all()
    out = imp.sample(recipient, draws=3, seed=5)
    assert len(out) == 3 * len(recipient)
    pd.testing.assert_frame_equal(out.loc[out["_imp"] == 1, recipient.columns].reset_index(drop=True), recipient)
    report = imp.sample_report_
    assert report["constraints"]["ok"] and report["redrawn"] == 0 and report["constraints"]["repaired"] == {}
    assert (out["e00650"] <= out["e00600"]).all()
    assert "e00650 <= e00600" in imp.backend_.describe()["by_construction"]


@pytest.mark.parametrize("method", METHODS)
def test_draws_do_not_depend_on_chunking(fitted, cps, method):
    _, recipient = cps
    imp = fitted[method]
    X = imp.encoder_.transform(recipient)
    rows = np.arange(len(recipient)) + 100
    whole = imp.backend_.sample(X, rows, 4, 11)
    cut = 23
    first = imp.backend_.sample(X.take(np.arange(cut)), rows[:cut], 4, 11)
    second = imp.backend_.sample(X.take(np.arange(cut, len(recipient))), rows[cut:], 4, 11)
    np.testing.assert_array_equal(whole, np.concatenate([first, second], axis=1))
    assert not np.array_equal(whole, imp.backend_.sample(X, rows, 4, 12))  # the seed matters


@pytest.mark.parametrize("method", METHODS)
def test_save_load_reproduces_draws(fitted, cps, method, tmp_path):
    _, recipient = cps
    imp = fitted[method]
    path = imp.save(str(tmp_path / f"{method}.zip"))
    loaded = Imputer.load(path)
    pd.testing.assert_frame_equal(imp.sample(recipient, draws=3, seed=2), loaded.sample(recipient, draws=3, seed=2))


@pytest.mark.parametrize("method", ["tvae", "ctabgan"])
def test_calibrated_draws_keep_constraints_chunks_and_saved_state(cps, method, tmp_path):
    """levels="calibrate" rescales each draw by a factor from the row's own predictors: the declared
    constraints still hold, chunks draw what the whole file draws, a saved model draws the same, and
    the factors change the network's draws by a positive factor within [1/2, 2] (zeros stay zeros)."""
    donor, recipient = cps
    common = dict(block=BLOCK, predictors=PREDICTORS, method=method, categorical=["MARS"], weights="s006",
                  constraints=CONSTRAINTS, random_state=0)
    imp = Imputer(**common, params={**TINY[method], "levels": "calibrate"}).fit(donor)
    plain = Imputer(**common, params={**TINY[method], "levels": "none"}).fit(donor)
    assert ["e00600", "e00650"] in imp.backend_.describe()["levels_scaled"]  # tied by a constraint: one factor
    assert "levels_scaled" not in plain.backend_.describe()
    X = imp.encoder_.transform(recipient)
    rows = np.arange(len(recipient)) + 7
    whole = imp.backend_.sample(X, rows, 3, 4)
    cut = 17
    parts = [imp.backend_.sample(X.take(idx), rows[idx], 3, 4) for idx in (np.arange(cut), np.arange(cut, len(recipient)))]
    np.testing.assert_array_equal(whole, np.concatenate(parts, axis=1))
    raw = plain.backend_.sample(X, rows, 3, 4)  # the same network and noise (the calibration trains nothing)
    np.testing.assert_array_equal(whole == 0, raw == 0)
    pos = raw > 0  # within half and twice the network's draw, up to the rounding of integer amounts
    assert (whole[pos] >= np.floor(0.5 * raw[pos])).all() and (whole[pos] <= np.ceil(2 * raw[pos])).all()
    assert not np.allclose(whole[pos], raw[pos])
    out = imp.sample(recipient, draws=3, seed=2)
    assert (out["e00650"] <= out["e00600"]).all() and imp.sample_report_["constraints"]["ok"]
    loaded = Imputer.load(imp.save(str(tmp_path / f"{method}.zip")))
    pd.testing.assert_frame_equal(out, loaded.sample(recipient, draws=3, seed=2))


@pytest.mark.parametrize("method", ["tvae", "diffusion"])
def test_take_up_calibration_keeps_whole_records_chunks_and_saved_state(cps, method, tmp_path):
    """take_up="calibrate" keeps one of 8 network records per row and draw: every kept record is one the
    network drew for that row (so constraints hold as drawn), chunks draw what the whole file draws, a
    saved model draws the same, and the shares of non-zero amounts move towards the donor's."""
    donor, recipient = cps
    common = dict(block=BLOCK, predictors=PREDICTORS, method=method, categorical=["MARS"], weights="s006",
                  constraints=CONSTRAINTS, random_state=0)
    params = {**TINY[method], "levels": "none", "mi": "none"}
    imp = Imputer(**common, params={**params, "take_up": "calibrate"}).fit(donor)
    plain = Imputer(**common, params={**params, "take_up": "none"}).fit(donor)
    described = imp.backend_.describe()
    assert described["take_up_tilted"] and "take_up_tilted" not in plain.backend_.describe()
    before, after = described["take_up_share_gaps"]  # the network's own gaps to the donor's shares, then the kept ones'
    assert len(before) == len(after) == len(described["take_up_tilted"])
    assert max(map(abs, after)) <= max(map(abs, before)) + 0.01
    X = imp.encoder_.transform(recipient)
    rows = np.arange(len(recipient)) + 7
    whole = imp.backend_.sample(X, rows, 2, 4)
    parts = [imp.backend_.sample(X.take(idx), rows[idx], 2, 4) for idx in (np.arange(17), np.arange(17, len(recipient)))]
    np.testing.assert_array_equal(whole, np.concatenate(parts, axis=1))
    take_up = imp.backend_.take_up_
    for d in range(2):  # each kept record is one of that draw's candidates, from the same network
        candidates = plain.backend_._draw(X, rows, 8, rng.derive_seed(4, 33, d))
        assert (candidates == whole[d][None]).all(axis=2).any(axis=0).all()
    cols = take_up.columns_
    gap = lambda draws: np.abs((draws[..., cols] != 0).mean(axis=(0, 1)) - (donor[[BLOCK[j] for j in cols]] != 0).mean().to_numpy())
    assert gap(whole).mean() <= gap(plain.backend_.sample(X, rows, 2, 4)).mean() + 0.01
    out = imp.sample(recipient, draws=2, seed=2)
    assert (out["e00650"] <= out["e00600"]).all() and imp.sample_report_["constraints"]["ok"]
    loaded = Imputer.load(imp.save(str(tmp_path / f"{method}.zip")))
    pd.testing.assert_frame_equal(out, loaded.sample(recipient, draws=2, seed=2))


def test_models_saved_before_the_calibration_load_with_the_networks_own_draws(cps):
    """A file written before ``levels`` existed holds neither the parameter nor a level model: it loads
    as ``levels="none"`` (what it drew), although ``ctgan``'s default is now ``"calibrate"``."""
    from surveyfuse.backends import backend_class

    donor, recipient = cps
    imp = Imputer(BLOCK, PREDICTORS, method="ctgan", params={**TINY["ctgan"], "levels": "none", "mi": "none"},
                  categorical=["MARS"], constraints=CONSTRAINTS, random_state=0).fit(donor)
    meta, arrays = imp.backend_.get_state()
    meta = {**meta, "params": {k: v for k, v in meta["params"].items() if k != "levels"}}
    old = backend_class("ctgan").from_state(meta, arrays)
    assert old.params["levels"] == "none" and backend_class("ctgan").default_params["levels"] == "calibrate"
    X = imp.encoder_.transform(recipient)
    rows = np.arange(len(recipient))
    np.testing.assert_array_equal(old.sample(X, rows, 2, 3), imp.backend_.sample(X, rows, 2, 3))


@pytest.mark.parametrize("method", ["tvae", "ctgan"])
def test_fixed_seed_fit_is_deterministic_on_cpu(cps, method):
    donor, recipient = cps
    def run(seed: int) -> pd.DataFrame:
        imp = Imputer(block=BLOCK, predictors=PREDICTORS, method=method, params={**TINY[method], "device": "cpu"},
                      categorical=["MARS"], constraints=CONSTRAINTS, random_state=seed)
        return imp.fit(donor.iloc[:600]).sample(recipient, draws=2, seed=1)
    a, b = run(0), run(0)
    pd.testing.assert_frame_equal(a, b)
    assert not a[BLOCK].equals(run(1)[BLOCK])


def test_wage_identity_holds_exactly(cps):
    donor, recipient = cps
    block = ["e00200", "e00200p", "e00200s"]
    imp = Imputer(block=block, predictors=["age_head", "MARS", "XTOT"], method="diffusion", params=TINY["diffusion"],
                  categorical=["MARS"], constraints=["e00200 == e00200p + e00200s"], random_state=0)
    out = imp.fit(donor).sample(recipient.drop(columns=block), draws=4, seed=3)
    assert (out["e00200"] == out["e00200p"] + out["e00200s"]).all()
    assert imp.sample_report_["constraints"]["ok"] and imp.sample_report_["redrawn"] == 0


def test_zero_share_of_zero_inflated_income_is_kept():
    frame = pd.read_parquet(DATA / "cps_donor.parquet")
    donor, recipient = frame.iloc[:2000], frame.iloc[2000:2600]
    imp = Imputer(block=["e00300", "e00600"], predictors=PREDICTORS, method="tvae", params={"epochs": 40},
                  categorical=["MARS"], random_state=0)
    out = imp.fit(donor).sample(recipient.drop(columns=["e00300", "e00600"]), draws=5, seed=0)
    for col in ("e00300", "e00600"):
        truth = float((recipient[col] == 0).mean())
        drawn = float((out[col] == 0).mean())
        assert abs(drawn - truth) < 0.08, (col, truth, drawn)


@pytest.mark.parametrize("method", METHODS)
def test_bad_params_are_refused_by_name(method):
    with pytest.raises(SurveyfuseError) as err:
        make_backend(method, {"no_such_param": 1})
    assert err.value.code == "bad_param" and err.value.context["param"] == "no_such_param"
    for bad in ({"device": "tpu"}, {"epochs": 0}, {"batch_size": "big"}, {"threads": 8}):
        with pytest.raises(SurveyfuseError) as err:
            make_backend(method, bad)
        assert err.value.code == "bad_param" and err.value.context["param"] == next(iter(bad))
