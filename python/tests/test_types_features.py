from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from surveyfuse import SurveyfuseError
from surveyfuse.data.features import FeatureEncoder
from surveyfuse.data.types import Kind, decode_values, encode_discrete, infer_variable


@pytest.mark.parametrize(
    "values, kind",
    [
        ([0.5, 1.5, 2.5, 3.5], Kind.CONTINUOUS),
        ([0, 0, 0, 10.5, 200.25, 3.0], Kind.ZERO_INFLATED),
        ([-5, 0, 10, 2000], Kind.SIGNED),
        ([0, 1, 2, 3, 1, 2], Kind.COUNT),
        ([0, 1, 1, 0], Kind.BINARY),
        ([True, False, True], Kind.BINARY),
        (["a", "b", "a"], Kind.CATEGORICAL),
    ],
)
def test_kind_inference(values, kind):
    assert infer_variable(pd.Series(values, name="x")).kind == kind


def test_declared_categorical_overrides_numbers():
    var = infer_variable(pd.Series([1, 2, 4, 2], name="MARS"), categorical=True)
    assert var.kind == Kind.CATEGORICAL and var.levels == (1, 2, 4)


def test_text_in_numeric_column_is_refused_with_row():
    s = pd.Series(["1", "2", "3", "x"] + ["5"] * 40, name="age")
    with pytest.raises(SurveyfuseError) as info:
        infer_variable(s)
    assert info.value.code == "non_numeric" and info.value.context["row"] == 3


def test_discrete_round_trip_and_unseen():
    var = infer_variable(pd.Series(["north", "south", None, "east"], name="r"))
    codes = encode_discrete(pd.Series(["south", "west", None]), var)
    assert codes.tolist() == [var.levels.index("south"), -1, -1]
    back = decode_values(np.array([0.0, 2.0]), var)
    assert back.tolist() == [var.levels[0], var.levels[2]]


def test_integer_columns_are_rounded_and_keep_dtype():
    var = infer_variable(pd.Series([0, 10, 25, 0, 7], dtype="int64", name="x"))
    out = decode_values(np.array([1.4, 2.6]), var)
    assert out.dtype == np.int64 and out.tolist() == [1, 3]


def test_features_missing_unseen_constant_extreme():
    donor = pd.DataFrame({"age": [20.0, 30, np.nan, 50], "const": [1, 1, 1, 1], "state": ["a", "b", "a", "b"]})
    enc = FeatureEncoder(["age", "const", "state"], categorical=["state"]).fit(donor)
    recip = pd.DataFrame({"age": [np.nan, 1e9, -1e9], "const": [1, 1, 1], "state": ["a", "zz", None]})
    X = enc.transform(recip)
    onehot = X.design("onehot", "rank")
    names = X.design_names("onehot")
    assert names == ["age", "const", "age__missing", "state==a", "state==b"]
    # missing age: donor median's rank plus the indicator; extremes sit at 0 and 1
    assert onehot[0, names.index("age__missing")] == 1.0
    assert onehot[1, 0] == 1.0 and onehot[2, 0] == 0.0
    # constant predictor: finite, no division by zero
    assert np.isfinite(onehot).all()
    # unseen and missing categories: no information (all zeros)
    assert onehot[1, 3:].tolist() == [0.0, 0.0] and onehot[2, 3:].tolist() == [0.0, 0.0]
    assert X.design("ordinal", "none")[1, -1] == -1
