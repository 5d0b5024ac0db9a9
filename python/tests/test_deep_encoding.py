"""Block encoder and constraint layer of the generative backends."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("torch")

from surveyfuse.backends.deep.constraint_layer import ConstraintLayer  # noqa: E402
from surveyfuse.backends.deep.encoding import BlockEncoder, ColumnSpec  # noqa: E402
from surveyfuse.constraints import ConstraintSet  # noqa: E402
from surveyfuse.data.features import FeatureEncoder  # noqa: E402
from surveyfuse.data.types import infer_variable  # noqa: E402


def _mixed_block(n: int = 1500, seed: int = 0) -> tuple[np.ndarray, list[ColumnSpec]]:
    r = np.random.default_rng(seed)
    zero_inflated = np.where(r.random(n) < 0.6, 0.0, np.round(np.exp(r.normal(7, 2, n))))
    signed = np.where(r.random(n) < 0.2, 0.0, r.standard_t(3, n) * 1000)
    continuous = r.lognormal(10, 1, n)
    category = r.integers(0, 4, n).astype(float)
    count = r.poisson(1.5, n).astype(float)
    Y = np.column_stack([zero_inflated, signed, continuous, category, count])
    specs = [
        ColumnSpec("zi", "numeric", zero_mass=True),
        ColumnSpec("signed", "numeric", zero_mass=True),
        ColumnSpec("cont", "numeric"),
        ColumnSpec("cat", "discrete", n_levels=4),
        ColumnSpec("count", "count"),
    ]
    return Y, specs


@pytest.mark.parametrize("transform,tail_modes", [("quantile", 1), ("log", 1), ("quantile", 5)])
def test_encoder_inverse_of_transform_round_trips(transform, tail_modes):
    Y, specs = _mixed_block()
    w = np.random.default_rng(1).uniform(0.5, 2.0, len(Y))
    enc = BlockEncoder(transform=transform, tail_modes=tail_modes).fit(Y, specs, w)
    if tail_modes > 1:  # 600 non-zero values of "zi": four bins, the top one the largest 5 %
        assert enc.fitted_[0].bins == [0.0, 0.5, 0.8, 0.95, 1.0] and enc.fitted_[2].bins[-2] == 0.97
    V, mask = enc.transform(Y)
    assert V.shape == (len(Y), enc.dim) and np.isfinite(V).all()
    back = enc.inverse(V)
    # point masses, categories and counts come back exactly
    np.testing.assert_array_equal(back[:, 3:], Y[:, 3:])
    np.testing.assert_array_equal(back[:, 0] == 0, Y[:, 0] == 0)
    np.testing.assert_array_equal(back[:, 1] == 0, Y[:, 1] == 0)
    # continuous parts up to float32 storage and the clipped extreme tails
    for j in range(3):
        err = np.abs(back[:, j] - Y[:, j])
        scale = np.abs(Y[:, j]) + 1.0
        assert np.quantile(err / scale, 0.98) < 1e-4
        assert np.sign(back[:, j]).tolist() == np.sign(Y[:, j]).tolist()
    # masked continuous slots are exactly the point-mass rows
    zi_slot = enc.columns_[0]["cont"]
    np.testing.assert_array_equal(mask[:, zi_slot] == 0, Y[:, 0] == 0)


def test_log_scale_draws_of_a_zero_inflated_amount_stay_within_its_positive_values():
    """A continuous-mode draw far in the lower tail lands on the smallest positive donor value, never
    between the exact zero (its own mode) and it."""
    Y, specs = _mixed_block()
    enc = BlockEncoder(transform="log").fit(Y, specs)
    V, _ = enc.transform(Y)
    slot, positive, fitted = enc.cont_index[enc.columns_[0]["cont"]], Y[:, 0] > 0, enc.fitted_[0]
    smallest = Y[positive, 0].min()
    assert smallest > 1.0
    # the continuous class, drawn where the log scale puts half the smallest positive value
    V[positive, slot] = (np.log1p(smallest / 2) - fitted.mu) / fitted.sd
    back = enc.inverse(V)[positive, 0]
    np.testing.assert_allclose(back, smallest)


def test_encoder_state_round_trip_gives_same_encoding():
    Y, specs = _mixed_block(400)
    enc = BlockEncoder(point_masses=True).fit(Y, specs)
    meta, arrays = enc.get_state()
    enc2 = BlockEncoder.from_state(meta, arrays)
    np.testing.assert_array_equal(enc.transform(Y)[0], enc2.transform(Y)[0])
    assert enc2.layout == enc.layout


def _wage_frame(n: int = 600, seed: int = 0) -> pd.DataFrame:
    r = np.random.default_rng(seed)
    mars = r.choice([1, 2, 4], n)
    p = np.round(r.lognormal(10, 1, n) * (r.random(n) < 0.8))
    s = np.where(mars == 2, np.round(r.lognormal(9.5, 1, n) * (r.random(n) < 0.6)), 0.0)
    div = np.round(r.lognormal(7, 2, n) * (r.random(n) < 0.3))
    qual = np.round(div * r.uniform(0, 1, n) * (r.random(n) < 0.7))
    return pd.DataFrame({"MARS": mars, "age": r.integers(18, 90, n), "e00200": p + s, "e00200p": p,
                         "e00200s": s, "e00600": div, "e00650": qual})


@pytest.mark.parametrize("sums", ["parts", "shares", "legacy"])
def test_constraint_layer_makes_identities_hold_by_construction(sums):
    frame = _wage_frame()
    block = ["e00200", "e00200p", "e00200s", "e00600", "e00650"]
    texts = ["e00650 <= e00600", "e00200 == e00200p + e00200s", "MARS != 2 -> e00200s == 0"]
    cs = ConstraintSet(texts)
    variables = [infer_variable(frame[c]) for c in block]
    layer = ConstraintLayer(sums).fit(variables, cs)
    assert set(layer.by_construction) == set(texts)
    Y = frame[block].to_numpy(float)
    M = layer.to_model(Y)
    fx = FeatureEncoder(["MARS", "age"], ["MARS"]).fit(frame)
    X = fx.transform(frame)
    back, report = layer.restore(M, X)
    np.testing.assert_allclose(back, Y, atol=1e-6)
    # arbitrary model output (shares outside [0, 1], non-integers): identities still exact, no repair needed
    r = np.random.default_rng(3)
    M_random = np.column_stack([r.lognormal(10, 1, len(Y)), r.uniform(-0.5, 1.5, len(Y)), r.normal(size=len(Y)),
                                r.lognormal(7, 2, len(Y)), r.uniform(-0.5, 1.5, len(Y))])
    out, report = layer.restore(M_random, X)
    data = {**{c: out[:, j] for j, c in enumerate(block)}, "MARS": frame["MARS"].to_numpy()}
    assert cs.check(data).ok
    assert report["repaired"] == {} and report["violations_after"] == 0
    assert report["gated"]["MARS != 2 -> e00200s == 0"] > 0
    np.testing.assert_array_equal(out[:, 1] + out[:, 2], out[:, 0])  # exact, integers kept
    assert np.all(out[:, 4] <= out[:, 3])


def test_constraint_layer_repairs_what_it_cannot_build():
    frame = _wage_frame()
    block = ["e00600", "e00650"]
    cs = ConstraintSet(["e00650 + e00600 <= 100000"])  # not a supported form: repaired by projection
    layer = ConstraintLayer().fit([infer_variable(frame[c]) for c in block], cs)
    assert layer.by_construction == []
    M = np.column_stack([np.full(10, 90000.0), np.full(10, 30000.0)])
    out, report = layer.restore(M)
    assert report["repaired"] == {"e00650 + e00600 <= 100000": 10}
    assert report["violations_after"] == 0
    assert np.all(out.sum(axis=1) <= 100000 + 1e-6)


def test_constraint_layer_repairs_under_the_declared_tolerance_and_keeps_it_when_saved():
    """A user's tolerance (a spec's, or a constraint's own) decides what the layer's repair leaves alone,
    as it decides what the run's own check accepts; a saved layer keeps it."""
    frame = _wage_frame()
    block = ["e00600", "e00650"]
    variables = [infer_variable(frame[c]) for c in block]
    M = np.column_stack([np.full(10, 90000.0), np.full(10, 10050.0)])  # 50 over the cap
    for tolerance, repaired in ((None, 10), ({"abs": 100.0, "rel": 0.0}, 0)):
        layer = ConstraintLayer().fit(variables, ConstraintSet(["e00650 + e00600 <= 100000"], tolerance))
        assert layer.restore(M)[1].get("repaired", {}).get("e00650 + e00600 <= 100000", 0) == repaired
    own = ConstraintSet([{"constraint": "e00650 + e00600 <= 100000", "tolerance": {"abs": 100.0, "rel": 0.0}}])
    saved = ConstraintLayer.from_state(ConstraintLayer().fit(variables, own).get_state())
    assert saved.restore(M)[1].get("repaired", {}) == {}
    assert saved.constraint_set().tolerance_of(saved.constraint_set().constraints[0]).abs == 100.0


def test_sums_model_the_parts_in_levels_and_add_them_up():
    """The default: every part keeps its own (drawn) value and range; only the total is derived."""
    frame = _wage_frame()
    block = ["e00200", "e00200p", "e00200s"]
    cs = ConstraintSet(["e00200 == e00200p + e00200s", "MARS != 2 -> e00200s == 0"])
    layer = ConstraintLayer().fit([infer_variable(frame[c]) for c in block], cs)
    Y = frame[block].to_numpy(float)
    M = layer.to_model(Y)
    assert np.all(M[:, 0] == 0) and np.array_equal(M[:, 1:], Y[:, 1:])  # the total is not modelled
    r = np.random.default_rng(4)
    M_random = np.column_stack([np.zeros(len(Y)), r.permutation(Y[:, 1]), r.permutation(Y[:, 2])])
    X = FeatureEncoder(["MARS", "age"], ["MARS"]).fit(frame).transform(frame)
    out, report = layer.restore(M_random, X)
    single = frame["MARS"].to_numpy() != 2
    np.testing.assert_array_equal(out[:, 1], M_random[:, 1])  # no part absorbs the others' errors
    np.testing.assert_array_equal(out[~single, 2], M_random[~single, 2])
    assert np.all(out[single, 2] == 0) and report["repaired"] == {}
    np.testing.assert_array_equal(out[:, 0], out[:, 1] + out[:, 2])


def test_models_saved_before_the_sums_choice_load_with_their_old_rule():
    frame = _wage_frame()
    block = ["e00200", "e00200p", "e00200s"]
    cs = ConstraintSet(["e00200 == e00200p + e00200s"])
    old = ConstraintLayer("legacy").fit([infer_variable(frame[c]) for c in block], cs)
    meta = old.get_state()
    del meta["sums"]  # what a model file written before this option holds
    loaded = ConstraintLayer.from_state(meta)
    Y = frame[block].to_numpy(float)
    np.testing.assert_array_equal(loaded.to_model(Y), old.to_model(Y))
    assert np.all(loaded.to_model(Y)[:, 1] <= 1.0)  # stick-breaking shares, not levels
