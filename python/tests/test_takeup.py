"""Take-up calibration of generative draws (``take_up="calibrate"``, :mod:`surveyfuse.backends.takeup`).

A stand-in network whose share of non-zero amounts ignores the predictors
lets the tilt be checked exactly: after calibration the kept records' shares
must follow the donor's along the predictor, jointly for two linked amounts,
with whole records kept (``b <= a`` holds because every candidate obeys it).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from surveyfuse import rng
from surveyfuse.backends.takeup import TakeUpModel, tilted_columns
from surveyfuse.data.features import FeatureEncoder
from surveyfuse.data.types import infer_variable


def donor_frame(n: int, seed: int) -> pd.DataFrame:
    """``a`` is non-zero with probability sigmoid(1.5 x); ``b <= a`` is non-zero for half of those."""
    g = np.random.default_rng(seed)
    x = g.normal(size=n)
    has_a = g.random(n) < 1 / (1 + np.exp(-1.5 * x))
    a = np.where(has_a, np.exp(g.normal(8, 1, n)), 0.0)
    b = np.where(has_a & (g.random(n) < 0.5), a * g.uniform(0.1, 0.9, n), 0.0)
    return pd.DataFrame({"x": x, "a": a, "b": b})


def flat_network(X, rows: np.ndarray, m: int, seed: int) -> np.ndarray:
    """A model that ignores the predictors: ``a`` non-zero for half the rows, ``b`` for half of those;
    keyed by (seed, row, draw) like the backends' draws."""
    u = rng.uniforms(seed, np.asarray(rows), m, 3)
    a = np.where(u[..., 0] < 0.5, 1000.0 * (1 + u[..., 2]), 0.0)
    b = np.where(u[..., 1] < 0.5, 0.5 * a, 0.0)
    return np.stack([a, b], axis=2)


@pytest.fixture(scope="module")
def fitted():
    donor = donor_frame(4000, 0)
    enc = FeatureEncoder(["x"]).fit(donor)
    X = enc.transform(donor)
    Y = donor[["a", "b"]].to_numpy()
    variables = [infer_variable(donor[c]) for c in ("a", "b")]
    model = TakeUpModel().fit(X, Y, variables, np.ones(len(Y)), flat_network, seed=3)
    return enc, model


def test_tilt_gives_the_kept_records_the_donors_shares_along_the_predictor(fitted):
    enc, model = fitted
    recipient = donor_frame(6000, 1)
    X = enc.transform(recipient)
    rows = np.arange(len(recipient))
    out = model.sample(X, rows, 4, seed=5, draw=flat_network)
    own = flat_network(X, rows, 4, 5)
    x = np.tile(recipient["x"].to_numpy(), 4)
    true_a = 1 / (1 + np.exp(-1.5 * x))
    assert (out[..., 1] <= out[..., 0]).all()  # every kept record is one of the network's
    for lo, hi in ((-9, -0.8), (-0.8, 0.8), (0.8, 9)):  # the donor's share in each third of x, within 0.05
        keep = (x >= lo) & (x < hi)
        got_a = (out[..., 0].ravel()[keep] > 0).mean()
        got_b = (out[..., 1].ravel()[keep] > 0).mean()
        assert abs(got_a - true_a[keep].mean()) < 0.05, (lo, got_a, true_a[keep].mean())
        assert abs(got_b - 0.5 * true_a[keep].mean()) < 0.05, (lo, got_b)
    # the network's own draws are flat (what the tilt fixes): off by more than 0.2 at both ends
    assert abs((own[..., 0].ravel()[x < -0.8] > 0).mean() - true_a[x < -0.8].mean()) > 0.2
    assert abs((own[..., 0].ravel()[x >= 0.8] > 0).mean() - true_a[x >= 0.8].mean()) > 0.2
    assert max(abs(g) for g in model.describe()["share_gaps"][-1]) < 0.01  # overall shares as the donor's after the fit


def test_tilted_draws_do_not_depend_on_the_chunking_and_survive_saving(fitted):
    enc, model = fitted
    recipient = donor_frame(900, 2)
    X = enc.transform(recipient)
    rows = np.arange(900)
    whole = model.sample(X, rows, 3, seed=8, draw=flat_network)
    parts = np.concatenate([model.sample(X.take(np.arange(s, min(s + 250, 900))), rows[s : s + 250], 3, 8, flat_network)
                            for s in range(0, 900, 250)], axis=1)
    np.testing.assert_array_equal(whole, parts)
    meta, arrays = model.get_state()
    np.testing.assert_array_equal(TakeUpModel.from_state(meta, arrays).sample(X, rows, 3, 8, flat_network), whole)


def test_only_amounts_with_enough_zeros_and_non_zeros_are_tilted():
    frame = pd.DataFrame({"always": np.arange(1.0, 101.0), "some": np.r_[np.zeros(50), np.arange(1.5, 76.0, 1.5)],
                          "never": np.zeros(100), "code": np.r_[np.zeros(50, dtype=int), np.ones(50, dtype=int)]})
    variables = [infer_variable(frame[c]) for c in frame]
    assert tilted_columns(variables, frame.to_numpy(dtype=float), np.ones(100)) == [1]
    signed = frame.assign(some=np.r_[np.zeros(50), np.arange(-36.0, 39.0, 1.5)])  # a loss or a profit: not tilted
    assert tilted_columns([infer_variable(signed[c]) for c in signed], signed.to_numpy(dtype=float), np.ones(100)) == []
    few = frame.assign(some=np.r_[np.zeros(75), np.arange(1.5, 39.0, 1.5)])  # 25 non-zero values: too few to fit
    assert tilted_columns(variables, few.to_numpy(dtype=float), np.ones(100)) == []


def test_per_imputation_tilts_spread_the_shares_as_donor_samples_do():
    """Under ``mi="auto"`` on a large donor each imputation draws its tilts from their sandwich
    covariance. The kept share with ``a`` then varies across imputations about as much as it varies
    across fits on independent donor samples (the donor's own uncertainty), and far more than
    imputations under the fitted tilts, which vary only by the recipients' draws."""
    n_donor, recipient = 1500, donor_frame(20_000, 99)
    enc = FeatureEncoder(["x"]).fit(recipient)
    X = enc.transform(recipient)
    rows = np.arange(len(recipient))
    variables = [infer_variable(recipient[c]) for c in ("a", "b")]

    def fit(seed: int) -> TakeUpModel:
        donor = donor_frame(n_donor, 1000 + seed)
        return TakeUpModel().fit(enc.transform(donor), donor[["a", "b"]].to_numpy(), variables, np.ones(n_donor),
                                 flat_network, seed=3)

    def share(out: np.ndarray) -> np.ndarray:
        return (out[..., 0] > 0).mean(axis=1)

    across_donors = np.std([share(fit(s).sample(X, rows, 1, 5, flat_network))[0] for s in range(16)], ddof=1)
    model = fit(0)
    draws = 24
    varied = share(model.sample(X, rows, draws, 5, flat_network, model.coefficient_draws(draws, 11)))
    fixed = share(model.sample(X, rows, draws, 5, flat_network))
    assert 0.6 < varied.std(ddof=1) / across_donors < 1.6, (varied.std(ddof=1), across_donors)
    assert fixed.std(ddof=1) < 0.5 * across_donors
    np.testing.assert_array_equal(model.coefficient_draws(draws, 11), model.coefficient_draws(draws, 11))
    meta, arrays = model.get_state()
    np.testing.assert_array_equal(TakeUpModel.from_state(meta, arrays).coefficient_draws(3, 11), model.coefficient_draws(3, 11))
