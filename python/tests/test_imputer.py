"""The Imputer around any backend, exercised with the hot deck."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from surveyfuse import Imputer, SurveyfuseError, impute

from conftest import assert_chunks_equal_whole

BLOCK = ["e00300", "e00600", "e00650"]
PRED = ["age_head", "MARS", "XTOT", "e00200"]


@pytest.fixture()
def split(small_split):
    donor, recip = small_split
    return donor, recip.drop(columns=BLOCK)


def test_impute_long_format(split):
    donor, recip = split
    out = impute(donor, recip, block=BLOCK, predictors=PRED, method="hotdeck", draws=3, seed=1,
                 categorical=["MARS"], weights="s006", constraints=["e00650 <= e00600"])
    assert isinstance(out, pd.DataFrame)
    assert len(out) == 3 * len(recip)
    assert list(out.columns) == list(recip.columns) + BLOCK + ["_imp", "_row"]
    assert out["_imp"].tolist() == np.repeat([1, 2, 3], len(recip)).tolist()
    assert out["_row"].tolist() == np.tile(np.arange(len(recip)), 3).tolist()
    assert out[BLOCK].dtypes.tolist() == donor[BLOCK].dtypes.tolist()
    assert (out["e00650"] <= out["e00600"]).all()


def test_inputs_are_not_modified(split):
    donor, recip = split
    d0, r0 = donor.copy(), recip.copy()
    impute(donor, recip, block=BLOCK, predictors=PRED, method="hotdeck", draws=2, seed=0, categorical=["MARS"], weights="s006")
    pd.testing.assert_frame_equal(donor, d0)
    pd.testing.assert_frame_equal(recip, r0)


def test_arrow_in_arrow_out_keeps_schema(split):
    donor, recip = split
    tr = pa.Table.from_pandas(recip, preserve_index=False)
    out = impute(pa.Table.from_pandas(donor, preserve_index=False), tr, block=BLOCK, predictors=PRED,
                 method="hotdeck", draws=2, seed=0)
    assert isinstance(out, pa.Table)
    for field in tr.schema:
        assert out.schema.field(field.name).type == field.type
    assert out.column("e00600").type == pa.int64()


def test_same_seed_same_draws_other_seed_other_draws(split):
    donor, recip = split
    kw = dict(block=BLOCK, predictors=PRED, method="hotdeck", draws=2)
    a = impute(donor, recip, seed=4, **kw)
    b = impute(donor, recip, seed=4, **kw)
    c = impute(donor, recip, seed=5, **kw)
    pd.testing.assert_frame_equal(a, b)
    assert not a[BLOCK].equals(c[BLOCK])


def test_chunked_sampling_equals_whole(split):
    donor, recip = split
    imp = Imputer(BLOCK, PRED, method="hotdeck", categorical=["MARS"]).fit(donor)
    assert_chunks_equal_whole(imp, recip, list(range(0, len(recip), 70)), draws=3, seed=9)


def test_weights_change_the_draws(split):
    donor, recip = split
    donor = donor.copy()
    # give all weight to donors with dividends: draws should then mostly have dividends
    donor["w"] = np.where(donor["e00600"] > 0, 1.0, 1e-9)
    out_w = impute(donor, recip, block=BLOCK, predictors=PRED, method={"name": "hotdeck", "params": {"k": 50}}, draws=5, seed=0, weights="w")
    out_u = impute(donor, recip, block=BLOCK, predictors=PRED, method={"name": "hotdeck", "params": {"k": 50}}, draws=5, seed=0)
    assert (out_w["e00600"] > 0).mean() > 0.9
    assert (out_u["e00600"] > 0).mean() < 0.5


def test_donor_rows_breaking_constraints_are_excluded_and_reported(split):
    donor, recip = split
    donor = donor.copy()
    donor.loc[:9, "e00650"] = donor.loc[:9, "e00600"] + 100
    imp = Imputer(BLOCK, PRED, method="hotdeck", constraints=["e00650 <= e00600"]).fit(donor)
    assert imp.fit_report_["dropped_breaking_constraints"] == {"e00650 <= e00600": 10}
    assert imp.fit_report_["donor_rows_used"] == len(donor) - 10


def test_missing_block_values_drop_rows(split):
    donor, recip = split
    donor = donor.copy().astype({"e00600": "float64"})
    donor.loc[:4, "e00600"] = np.nan
    imp = Imputer(BLOCK, PRED, method="hotdeck").fit(donor)
    assert imp.fit_report_["dropped_missing_block"] == 5
    out = imp.sample(recip, draws=2, seed=0)
    assert out["e00600"].notna().all()


def test_save_load_gives_identical_draws(split, tmp_path):
    donor, recip = split
    imp = Imputer(BLOCK, PRED, method="hotdeck", categorical=["MARS"], weights="s006",
                  constraints=["e00650 <= e00600"], random_state=3).fit(donor)
    path = imp.save(tmp_path / "model.sfm")
    again = Imputer.load(path)
    pd.testing.assert_frame_equal(imp.sample(recip, draws=2, seed=1), again.sample(recip, draws=2, seed=1))


def test_load_refuses_foreign_files(tmp_path):
    p = tmp_path / "evil.sfm"
    p.write_bytes(b"\x80\x04K\x01.")  # a pickle
    with pytest.raises(SurveyfuseError) as info:
        Imputer.load(p)
    assert info.value.code == "model_unrecognised"


@pytest.mark.parametrize(
    "kwargs, code",
    [
        (dict(block=["e00600"], predictors=["e00600"]), "predictor_in_block"),
        (dict(block=["e00600", "e00600"], predictors=["age_head"]), "duplicate_column"),
        (dict(block=["nope"], predictors=["age_head"]), "missing_column"),
        (dict(block=["e00600"], predictors=["age_head"], method="nope"), "unknown_method"),
        (dict(block=["e00600"], predictors=["age_head"], method={"name": "hotdeck", "params": {"k": 0}}), "bad_param"),
        (dict(block=["e00600"], predictors=["age_head"], constraints=["e00600 >>= 0"]), "constraint_syntax"),
        (dict(block=["e00600"], predictors=["age_head"], weights="nope"), "missing_column"),
    ],
)
def test_fit_errors(split, kwargs, code):
    donor, _ = split
    with pytest.raises(SurveyfuseError) as info:
        Imputer(**kwargs).fit(donor)
    assert info.value.code == code


@pytest.mark.parametrize("draws", [0, -1, 1.5, True])
def test_bad_draws(split, draws):
    donor, recip = split
    imp = Imputer(BLOCK, PRED, method="hotdeck").fit(donor)
    with pytest.raises(SurveyfuseError) as info:
        imp.sample(recip, draws=draws)
    assert info.value.code == "bad_draws"


def test_sample_before_fit():
    with pytest.raises(SurveyfuseError) as info:
        Imputer(BLOCK, PRED).sample(pd.DataFrame())
    assert info.value.code == "not_fitted"


def test_unseen_category_and_missing_predictor_in_recipient(split):
    donor, recip = split
    recip = recip.copy().astype({"e00200": "float64"})
    recip.loc[0, "MARS"] = 9  # never seen in the donor
    recip.loc[1, "e00200"] = np.nan
    out = impute(donor, recip, block=BLOCK, predictors=PRED, method="hotdeck", draws=2, seed=0, categorical=["MARS"])
    assert out[BLOCK].notna().all().all()
    assert out.loc[out["_row"] == 0, "MARS"].tolist() == [9, 9]  # recipient value untouched


def test_imputer_is_a_scikit_learn_estimator():
    """get_params / set_params / clone / repr work, and a clone draws what the original draws for the same seed."""
    from sklearn.base import BaseEstimator, clone

    import surveyfuse as sf

    donor, recipient = sf.datasets.make_surveys(n_donor=300, n_recipient=30, seed=0)
    imp = sf.Imputer(["interest", "dividends"], ["age", "married", "wage"], method={"name": "hotdeck", "params": {"k": 7}},
                     categorical=["married"], constraints=["dividends >= 0"], random_state=3)
    assert isinstance(imp, BaseEstimator)
    params = imp.get_params()
    assert params["method"] == {"name": "hotdeck", "params": {"k": 7}} and params["random_state"] == 3
    assert set(params) == {"block", "predictors", "method", "params", "categorical", "weights", "constraints",
                           "random_state", "verbose", "max_donor_rows", "harmonise", "flag_off_support", "tolerance",
                           "strict"}
    twin = clone(imp)
    assert twin is not imp and twin.get_params() == params and not hasattr(twin, "backend_")
    assert repr(imp).startswith("Imputer(") and "random_state=3" in repr(imp)
    imp.fit(donor)
    assert not hasattr(clone(imp), "backend_")  # a clone is unfitted
    pd.testing.assert_frame_equal(twin.fit(donor).sample(recipient, draws=3, seed=8), imp.sample(recipient, draws=3, seed=8))
    assert twin.set_params(random_state=4) is twin and twin.random_state == 4
    assert "text/html" in imp._repr_mimebundle_()  # notebooks show our view, not sklearn's diagram
