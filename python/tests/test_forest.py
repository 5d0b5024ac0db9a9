"""The joint forest sampler (method ``forest``, the default)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import RandomForestRegressor

from surveyfuse.backends import make_backend
from surveyfuse.backends._trees import apply_trees, trees_to_arrays
from surveyfuse.errors import SurveyfuseError
from surveyfuse.imputer import Imputer

from conftest import assert_chunks_equal_whole, mixed_frame

DATA = Path(__file__).resolve().parents[2] / "shared-specs" / "data"
FAST = {"n_estimators": 15, "n_jobs": 1}
INVEST = ["e00300", "e00400", "e00600", "e00650", "e01100"]
PREDICTORS = ["age_head", "age_spouse", "MARS", "XTOT", "nu18", "e00200", "e02400", "e01500", "fips"]


@pytest.fixture(scope="module")
def cps() -> pd.DataFrame:
    return pd.read_parquet(DATA / "cps_donor.parquet").iloc[:2500].reset_index(drop=True)


def fit_mixed(method: str = "forest", n: int = 1500, **params):
    frame = mixed_frame(n)
    imp = Imputer(["zi", "signed", "tenure", "flag"], ["x", "region"], method=method,
                  params={**FAST, **params}, weights="w", random_state=3)
    return imp.fit(frame), frame


def test_an_imputer_without_a_method_fits_the_forest_sampler():
    """The default is what an Imputer given no method does, not only what a constant says."""
    frame = mixed_frame(600)
    recipient = mixed_frame(80, seed=9)[["x", "region"]]
    fitted = {}
    for label, method in (("default", None), ("forest", "forest")):
        imp = Imputer(["zi", "signed"], ["x", "region"], method=method, params=FAST, weights="w", random_state=3)
        fitted[label] = imp.fit(frame)
    default, forest = fitted["default"], fitted["forest"]
    assert default.method_ == "forest" and type(default.backend_) is type(forest.backend_)
    assert type(default.backend_).__name__ == "ForestSampler"
    pd.testing.assert_frame_equal(default.sample(recipient, draws=3, seed=5), forest.sample(recipient, draws=3, seed=5))
    hotdeck = Imputer(["zi", "signed"], ["x", "region"], method="hotdeck", weights="w", random_state=3).fit(frame)
    assert not hotdeck.sample(recipient, draws=3, seed=5).equals(default.sample(recipient, draws=3, seed=5))


def test_numpy_apply_matches_sklearn():
    g = np.random.default_rng(1)
    X = g.normal(size=(400, 4))
    y = np.column_stack([X[:, 0] + g.normal(size=400), X[:, 1] > 0])
    rf = RandomForestRegressor(n_estimators=5, min_samples_leaf=3, random_state=0).fit(X, y)
    arrays = trees_to_arrays(rf.estimators_)
    ours = apply_trees(arrays, X)
    theirs = rf.apply(X) + arrays["node_offset"][:-1][None, :]
    np.testing.assert_array_equal(ours, theirs)


def test_draws_are_chunk_invariant():
    imp, frame = fit_mixed()
    recipient = mixed_frame(300, seed=9)[["x", "region"]]
    assert_chunks_equal_whole(imp, recipient, [0, 120], draws=4, seed=11, check_dtype=False)


def test_fit_and_draws_are_deterministic_and_seeded():
    a, _ = fit_mixed()
    b, _ = fit_mixed()
    recipient = mixed_frame(200, seed=4)[["x", "region"]]
    pd.testing.assert_frame_equal(a.sample(recipient, draws=3, seed=5), b.sample(recipient, draws=3, seed=5))
    assert not a.sample(recipient, draws=3, seed=5).equals(a.sample(recipient, draws=3, seed=6))


def test_save_load_round_trip_gives_identical_draws(tmp_path):
    imp, _ = fit_mixed()
    recipient = mixed_frame(250, seed=2)[["x", "region"]]
    path = imp.save(tmp_path / "forest.sfm")
    loaded = Imputer.load(path)
    pd.testing.assert_frame_equal(imp.sample(recipient, draws=5, seed=8), loaded.sample(recipient, draws=5, seed=8))
    assert loaded.backend_.describe() == imp.backend_.describe()


def test_mixed_block_decodes_to_donor_types_and_values():
    imp, frame = fit_mixed()
    recipient = mixed_frame(300, seed=5)[["x", "region"]]
    recipient.loc[:9, "region"] = "west"  # unseen category
    recipient.loc[10:19, "x"] = np.nan  # missing predictor
    out = imp.sample(recipient, draws=3, seed=1)
    assert out["tenure"].isin(["owner", "renter", "other"]).all()
    assert out["flag"].dtype == bool
    assert (out["zi"] >= 0).all() and (out["zi"] == 0).mean() > 0.3
    assert (out["signed"] < 0).any() and (out["signed"] > 0).any()
    # every drawn record is one donor record with its amount (zi) rescaled to the recipient's level:
    # the other values and the zeros are the donor's (a signed variable without zeros is not an amount)
    assert imp.fit_report_["method_params"]["levels_scaled"] == [["zi"]]
    record = lambda t: set(map(tuple, t[["signed", "tenure", "flag"]].assign(zero=t["zi"] == 0).astype(str).to_numpy()))  # noqa: E731
    assert record(out) <= record(frame)
    assert out[["zi", "signed", "tenure", "flag"]].notna().all().all()
    plain, _ = fit_mixed(levels="none")
    copied = plain.sample(recipient, draws=3, seed=1)
    whole = lambda t: set(map(tuple, t[["zi", "signed", "tenure", "flag"]].astype(str).to_numpy()))  # noqa: E731
    assert whole(copied) <= whole(frame)


def test_draws_follow_the_predictors():
    imp, _ = fit_mixed()
    recipient = pd.DataFrame({"x": np.r_[np.full(200, -1.5), np.full(200, 1.5)],
                              "region": ["south"] * 400})
    out = imp.sample(recipient, draws=5, seed=2)
    low = out[out["_row"] < 200]["signed"].mean()
    high = out[out["_row"] >= 200]["signed"].mean()
    assert high - low > 2.0  # signed ~ x + noise: the true gap is 3


def test_donor_weights_are_used():
    g = np.random.default_rng(0)
    n = 2000
    group = g.random(n) < 0.5
    frame = pd.DataFrame({"x": g.normal(size=n), "y": np.where(group, 10.0, 0.0),
                          "w": np.where(group, 9.0, 1.0)})
    imp = Imputer(["y"], ["x"], method="forest", params=FAST, weights="w", random_state=0).fit(frame)
    share = (imp.sample(frame[["x"]].iloc[:500], draws=10, seed=0)["y"] == 10).mean()
    assert abs(share - 0.9) < 0.05  # 0.5 if weights were ignored


def test_binary_draws_keep_class_frequency():
    g = np.random.default_rng(1)
    n = 2500
    frame = pd.DataFrame({"x": g.normal(size=n), "rare": g.random(n) < 0.118, "y": g.normal(size=n)})
    imp = Imputer(["rare", "y"], ["x"], method="forest", params=FAST, random_state=0).fit(frame)
    out = imp.sample(frame[["x"]], draws=4, seed=3)
    assert abs(out["rare"].mean() - frame["rare"].mean()) < 0.02


def test_constraints_hold_by_construction_on_cps(cps):
    recipient = cps.iloc[2000:][PREDICTORS].reset_index(drop=True)
    imp = Imputer(INVEST, PREDICTORS, method="forest", params=FAST, categorical=["MARS", "fips"], weights="s006",
                  constraints=["e00650 <= e00600"], random_state=0).fit(cps.iloc[:2000])
    out = imp.sample(recipient, draws=5, seed=0)
    assert (out["e00650"] <= out["e00600"]).all()
    assert imp.sample_report_["redrawn"] == 0 and imp.sample_report_["constraints"]["repaired"] == {}
    # the raw backend draws too: no redraw or repair was needed
    raw = imp.backend_.sample(imp.encoder_.transform(recipient), np.arange(len(recipient)), 5, 0)
    assert (raw[:, :, 3] <= raw[:, :, 2]).all()


def test_leaf_size_is_chosen_from_data_and_visible(cps):
    small = Imputer(INVEST, PREDICTORS, params=FAST, categorical=["MARS", "fips"], random_state=0).fit(cps.iloc[:600])
    large = Imputer(INVEST, PREDICTORS, params=FAST, categorical=["MARS", "fips"], random_state=0).fit(cps)
    for imp in (small, large):
        info = imp.fit_report_["method_params"]
        assert info["chosen_by"].startswith("holdout energy score")
        assert len(info["candidates"]) > 1
        assert str(info["min_samples_leaf"]) in info["candidates"]
        assert info["candidates"][str(info["min_samples_leaf"])] == min(info["candidates"].values())
    # the grid grows with the donor: larger leaves become candidates
    assert len(large.fit_report_["method_params"]["candidates"]) > len(small.fit_report_["method_params"]["candidates"])


def test_max_features_auto_is_searched_at_the_chosen_leaf_size(cps):
    imp = Imputer(INVEST, PREDICTORS, params={**FAST, "max_features": "auto"}, categorical=["MARS", "fips"],
                  random_state=0).fit(cps)
    info = imp.fit_report_["method_params"]
    mf = info["max_features_candidates"]
    assert set(mf) == {"0.6", "1.0"}
    assert mf[str(info["max_features"])] == min(mf.values())
    assert mf["0.6"] == info["candidates"][str(info["min_samples_leaf"])]  # same small forest, same score
    loaded = Imputer.load(imp.to_bytes())
    assert loaded.backend_.describe() == imp.backend_.describe()
    recipient = cps.iloc[:50][PREDICTORS]
    pd.testing.assert_frame_equal(loaded.sample(recipient, draws=2, seed=1), imp.sample(recipient, draws=2, seed=1))


def test_fixed_settings_are_respected(cps):
    fixed = {**FAST, "min_samples_leaf": 7, "max_features": 0.5}
    imp = Imputer(INVEST, PREDICTORS, params=fixed, categorical=["MARS", "fips"]).fit(cps)
    info = imp.fit_report_["method_params"]
    assert (info["min_samples_leaf"], info["max_features"], info["chosen_by"]) == (7, 0.5, "user")
    # a fixed leaf size with max_features on auto searches max_features only
    half = Imputer(INVEST, PREDICTORS, params={**FAST, "min_samples_leaf": 7, "max_features": "auto"},
                   categorical=["MARS", "fips"]).fit(cps)
    info = half.fit_report_["method_params"]
    assert info["min_samples_leaf"] == 7 and "candidates" not in info
    assert info["max_features"] in (0.6, 1.0) and len(info["max_features_candidates"]) == 2


@pytest.mark.parametrize("param, value", [("min_samples_leaf", 0), ("min_samples_leaf", "big"), ("n_estimators", 0),
                                          ("max_features", 1.5), ("holdout_fraction", 0.9), ("target_scale", "log"),
                                          ("trees", 3)])
def test_bad_params_are_refused_by_name(param, value):
    with pytest.raises(SurveyfuseError) as err:
        make_backend("forest", {param: value})
    assert err.value.code == "bad_param" and err.value.context["param"] == param


def test_draws_do_not_depend_on_how_many_threads_grow_the_trees():
    """Tree groups, leaf-size candidates and level fits run side by side in threads; each has its own
    seed and inputs, so one thread or several give the same fit and the same draws."""
    frame = mixed_frame(900)
    recipient = mixed_frame(120, seed=4)[["x", "region"]]
    out = {}
    for jobs in (1, 2):
        imp = Imputer(["zi", "signed"], ["x", "region"], params={"n_estimators": 20, "n_jobs": jobs},
                      weights="w", random_state=3).fit(frame)
        out[jobs] = (imp.sample(recipient, draws=4, seed=2), imp.fit_report_["method_params"])
    pd.testing.assert_frame_equal(out[1][0], out[2][0])
    assert {k: v for k, v in out[1][1].items() if k != "n_jobs"} == {k: v for k, v in out[2][1].items() if k != "n_jobs"}
