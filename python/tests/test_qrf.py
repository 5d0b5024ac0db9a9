"""Sequential per-variable quantile regression forests (method ``qrf``)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from surveyfuse.backends import make_backend
from surveyfuse.errors import SurveyfuseError
from surveyfuse.imputer import Imputer

from conftest import assert_chunks_equal_whole, mixed_frame

FAST = {"n_estimators": 12, "n_jobs": 1, "quantile_grid": 51}


@pytest.fixture(scope="module")
def fitted():
    frame = mixed_frame(1200)
    imp = Imputer(["zi", "signed", "tenure", "flag"], ["x", "region"], method="qrf", params=FAST,
                  weights="w", random_state=4)
    return imp.fit(frame), frame


def test_draws_are_chunk_invariant(fitted):
    imp, _ = fitted
    recipient = mixed_frame(200, seed=9)[["x", "region"]]
    assert_chunks_equal_whole(imp, recipient, [0, 70], draws=3, seed=2, check_dtype=False)


def test_save_load_round_trip_gives_identical_draws(fitted, tmp_path):
    imp, _ = fitted
    recipient = mixed_frame(150, seed=3)[["x", "region"]]
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # same library versions: no warning
        loaded = Imputer.load(imp.save(tmp_path / "qrf.sfm"))
    pd.testing.assert_frame_equal(imp.sample(recipient, draws=3, seed=1), loaded.sample(recipient, draws=3, seed=1))


def test_loading_under_other_library_versions_warns_that_draws_may_differ(fitted):
    imp, _ = fitted
    meta, arrays = imp.backend_.get_state()
    meta["libraries"]["scikit-learn"] = "0.1"
    with pytest.warns(RuntimeWarning, match=r"scikit-learn 0\.1 -> .*draws may differ"):
        type(imp.backend_).from_state(meta, arrays)


def test_refit_is_deterministic_and_draws_depend_on_seed(fitted):
    imp, frame = fitted
    again = Imputer(["zi", "signed", "tenure", "flag"], ["x", "region"], method="qrf", params=FAST,
                    weights="w", random_state=4).fit(frame)
    recipient = mixed_frame(100, seed=5)[["x", "region"]]
    pd.testing.assert_frame_equal(imp.sample(recipient, draws=2, seed=0), again.sample(recipient, draws=2, seed=0))
    assert not imp.sample(recipient, draws=2, seed=0).equals(imp.sample(recipient, draws=2, seed=1))


def test_mixed_block_decodes(fitted):
    imp, _ = fitted
    recipient = mixed_frame(300, seed=6)[["x", "region"]]
    recipient.loc[:9, "region"] = "west"
    recipient.loc[10:19, "x"] = np.nan
    out = imp.sample(recipient, draws=3, seed=1)
    assert out["tenure"].isin(["owner", "renter", "other"]).all()
    assert out["flag"].dtype == bool
    assert (out["zi"] >= 0).all() and (out["zi"] == 0).mean() > 0.3
    assert (out["signed"] < 0).any() and (out["signed"] > 0).any()
    assert out[["zi", "signed", "tenure", "flag"]].notna().all().all()


def test_binary_draws_use_class_probabilities_not_argmax(fitted):
    imp, frame = fitted
    out = imp.sample(frame[["x", "region"]], draws=4, seed=7)
    # flag is 12% true and unrelated to the predictors: argmax would give ~0%
    assert abs(out["flag"].mean() - frame["flag"].mean()) < 0.03
    share = out["tenure"].value_counts(normalize=True)
    truth = frame["tenure"].value_counts(normalize=True)
    assert (share - truth).abs().max() < 0.05


def test_chaining_keeps_dependence_inside_the_block():
    g = np.random.default_rng(2)
    n = 1500
    a = g.normal(size=n)
    frame = pd.DataFrame({"x": g.normal(size=n), "a": a, "b": 2 * a + g.normal(scale=0.05, size=n)})
    imp = Imputer(["a", "b"], ["x"], method="qrf", params=FAST, random_state=0).fit(frame)
    out = imp.sample(frame[["x"]].iloc[:400], draws=3, seed=0)
    # x says nothing about a; only chaining b on the drawn a can keep them tied
    assert np.corrcoef(out["a"], out["b"])[0, 1] > 0.9


def test_donor_weights_are_used():
    g = np.random.default_rng(0)
    n = 1500
    group = g.random(n) < 0.5
    frame = pd.DataFrame({"x": g.normal(size=n), "y": np.where(group, 10.0, 0.0) + g.normal(scale=0.01, size=n),
                          "w": np.where(group, 9.0, 1.0)})
    imp = Imputer(["y"], ["x"], method="qrf", params=FAST, weights="w", random_state=0).fit(frame)
    share = (imp.sample(frame[["x"]].iloc[:400], draws=5, seed=0)["y"] > 5).mean()
    assert abs(share - 0.9) < 0.08  # 0.45-0.5 if weights were ignored (few trees: coarse quantiles)


@pytest.mark.parametrize("param, value", [("n_estimators", 0), ("quantile_grid", -1), ("max_features", 2.5), ("k", 3)])
def test_bad_params_are_refused_by_name(param, value):
    with pytest.raises(SurveyfuseError) as err:
        make_backend("qrf", {param: value})
    assert err.value.code == "bad_param" and err.value.context["param"] == param


@pytest.mark.parametrize("mode", ["resample", "sample_weight"])
def test_both_weighting_modes_move_draws_towards_heavy_donors(mode):
    """9:1 weights on one of two equal groups: the weighted share is 0.9, the unweighted 0.5.

    How far ``sample_weight`` (microimpute's way) moves fully grown QRF draws
    depends on the scikit-learn version (about 0.45 with 1.8, 0.82 with 1.9),
    so this checks only that each mode clearly departs from unweighted draws.
    """
    g = np.random.default_rng(0)
    n = 1500
    group = g.random(n) < 0.5
    frame = pd.DataFrame({"x": g.normal(size=n), "y": np.where(group, 10.0, 0.0) + g.normal(scale=0.01, size=n),
                          "w": np.where(group, 9.0, 1.0)})
    imp = Imputer(["y"], ["x"], method="qrf", params={**FAST, "weighting": mode}, weights="w",
                  random_state=0).fit(frame)
    share = (imp.sample(frame[["x"]].iloc[:400], draws=5, seed=0)["y"] > 5).mean()
    unweighted = Imputer(["y"], ["x"], method="qrf", params={**FAST, "weighting": mode}, random_state=0).fit(frame)
    base = (unweighted.sample(frame[["x"]].iloc[:400], draws=5, seed=0)["y"] > 5).mean()
    assert base < 0.6 and share > base + 0.15
