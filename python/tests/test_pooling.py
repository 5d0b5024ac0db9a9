"""Rubin's rules against a hand computation, and the complete-data estimators."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import surveyfuse as sf
from surveyfuse.errors import SurveyfuseError
from surveyfuse.evaluate import pooling
from surveyfuse.evaluate.pooling import rubin, weighted_mean, weighted_quantile, weighted_total, wls


def test_rubin_by_hand():
    out = rubin([1.0, 2.0, 3.0], [0.5, 0.5, 0.5], nu_com=10).iloc[0]
    # Qbar 2, Ubar .5, B 1, T = .5 + 4/3 = 11/6
    assert out["estimate"] == pytest.approx(2.0)
    assert out["within"] == pytest.approx(0.5)
    assert out["between"] == pytest.approx(1.0)
    assert out["total"] == pytest.approx(11 / 6)
    lam = (4 / 3) / (11 / 6)
    df_old = 2 / lam**2
    df_obs = 11 / 13 * 10 * (1 - lam)
    df = 1 / (1 / df_old + 1 / df_obs)
    assert out["df"] == pytest.approx(df)
    riv = (4 / 3) / 0.5
    assert out["riv"] == pytest.approx(riv)
    assert out["fmi"] == pytest.approx((riv + 2 / (df + 3)) / (1 + riv))
    assert out["ci_high"] - out["estimate"] == pytest.approx(stats.t.ppf(0.975, df) * np.sqrt(11 / 6))


def test_rubin_needs_two_imputations():
    with pytest.raises(SurveyfuseError):
        rubin([1.0], [1.0])


def test_complete_data_estimators():
    y, w = np.array([1.0, 2.0, 3.0, 10.0]), np.array([1.0, 1.0, 2.0, 0.5])
    mean, var = weighted_mean(y, w)
    assert mean == pytest.approx((1 + 2 + 6 + 5) / 4.5)
    assert var == pytest.approx(4 / 3 * np.sum(w**2 * (y - mean) ** 2) / 4.5**2)
    total, _ = weighted_total(y, w)
    assert total == pytest.approx(14.0)
    assert weighted_quantile(y, w, 0.5) == 3.0  # cdf 1/4.5, 2/4.5, 4/4.5 -> first >= .5 is 3
    X = np.column_stack([np.ones(4), [0.0, 1.0, 2.0, 3.0]])
    b, _ = wls(y, X, w)
    W = np.diag(w)
    assert np.allclose(b, np.linalg.solve(X.T @ W @ X, X.T @ W @ y))


def test_pool_long_table_matches_rubin():
    rng = np.random.default_rng(0)
    n, m = 50, 4
    long = pd.DataFrame({"_imp": np.repeat(np.arange(1, m + 1), n), "_row": np.tile(np.arange(n), m),
                         "y": rng.normal(size=n * m), "x": rng.normal(size=n * m), "w": np.tile(rng.uniform(1, 3, n), m)})
    got = sf.pool(long, "mean", "y", weights="w").iloc[0]
    parts = [weighted_mean(g["y"].to_numpy(), g["w"].to_numpy()) for _, g in long.groupby("_imp")]
    want = rubin([p[0] for p in parts], [p[1] for p in parts], nu_com=n - 1).iloc[0]
    assert got["estimate"] == pytest.approx(want["estimate"]) and got["total"] == pytest.approx(want["total"])
    reg = sf.pool(long, "regression", y="y", x=["x"], weights="w")
    assert list(reg.index) == ["(intercept)", "x"] and (reg["se"] > 0).all()
    q = sf.pool(long, "quantile", "y", weights="w", q=0.5)
    assert q["within"].iloc[0] > 0
    with pytest.raises(SurveyfuseError, match="statistic"):
        sf.pool(long, "median", "y")
    with pytest.raises(SurveyfuseError, match="nope"):
        sf.pool(long, "mean", "nope")


def _fused_file_replication(g, n_donor, n_recipient, M, r):
    """One fused file: a normal linear model learnt on a donor, drawn for recipients (proper, nested M x r)."""
    xd, xr = g.normal(size=n_donor), g.normal(size=n_recipient)
    yd = 1.0 + 0.5 * xd + g.normal(size=n_donor)  # the predictor explains a fifth of the variance
    X = np.column_stack([np.ones(n_donor), xd])
    beta, res = np.linalg.lstsq(X, yd, rcond=None)[:2]
    s2 = float(res[0]) / (n_donor - 2)
    cov = s2 * np.linalg.inv(X.T @ X)
    Q, U = np.zeros(M * r), np.zeros(M * r)
    for g_ in range(M):  # resample g: one posterior draw of the model, then r draws of the recipients' y
        b = g.multivariate_normal(beta, cov)
        sigma = np.sqrt(s2 * (n_donor - 2) / g.chisquare(n_donor - 2))
        for i in range(r):
            y = b[0] + b[1] * xr + sigma * g.normal(size=n_recipient)
            Q[g_ + i * M], U[g_ + i * M] = pooling.weighted_mean(y, np.ones(n_recipient))
    return Q, U


def test_fused_rule_matches_the_sampling_variance_where_rubin_is_conservative():
    """Donor as large as the recipient file: Rubin's T counts the draws' noise twice; the fused rule does not."""
    g = np.random.default_rng(7)
    M, r, errors, rubin_t, fused_t = 5, 2, [], [], []
    for _ in range(400):
        Q, U = _fused_file_replication(g, 300, 300, M, r)
        errors.append(Q.mean() - 1.0)  # the population mean of y is 1
        rubin_t.append(pooling.rubin(Q, U)["total"].iloc[0])
        got = pooling.fused(Q, U, M)
        fused_t.append(got["total"].iloc[0])
        assert got["df"].iloc[0] >= M - 1 and got["ci_low"].iloc[0] < Q.mean() < got["ci_high"].iloc[0]
    actual = np.mean(np.square(errors))
    assert 0.8 < np.mean(fused_t) / actual < 1.25
    assert np.mean(rubin_t) / actual > 1.6


def test_fused_rule_refuses_imputations_it_cannot_nest():
    Q, U = np.arange(6.0), np.ones(6)
    for resamples in (4, 6, 1):  # 6 is not a multiple of 4; one draw per resample; a single resample
        with pytest.raises(SurveyfuseError) as err:
            pooling.fused(Q, U, resamples)
        assert err.value.code == "bad_argument" and "resamples" in str(err.value)
    assert pooling.fused(Q, U, 3)["m"].iloc[0] == 6



def _fused_intervals(n_donor, r, M=10, reps=400, seed=5):
    """Coverage of the fused rule's 90% intervals and their median half-width, over simulated fused files."""
    g = np.random.default_rng(seed)
    hits, halves = [], []
    for _ in range(reps):
        Q, U = _fused_file_replication(g, n_donor, 300, M, r)
        got = pooling.fused(Q, U, M).iloc[0]
        half = stats.t.ppf(0.95, got["df"]) * got["se"]
        hits.append(abs(got["estimate"] - 1.0) <= half)
        halves.append(half)
    return float(np.mean(hits)), float(np.median(halves))


def test_fused_rule_df_count_the_noise_of_its_variance_estimate():
    """T is a difference of mean squares (W_e has only M (r - 1) df): with df that ignore that (the
    non-negative parts' Satterthwaite) 90% intervals covered 0.84 here; the signed sum's df keep them
    near 0.90. More draws per resample make the estimate less noisy and the intervals narrower."""
    few_cover, few_half = _fused_intervals(3000, 2)
    many_cover, many_half = _fused_intervals(3000, 10)
    assert 0.86 <= few_cover <= 0.95 and 0.86 <= many_cover <= 0.95, (few_cover, many_cover)
    assert many_half < 0.9 * few_half


def test_pool_estimates_combines_any_analysis_as_pool_does():
    """Per-imputation estimates of any model, pooled by either rule, equal pool's own on the same numbers."""
    g = np.random.default_rng(3)
    Q, U = _fused_file_replication(g, 300, 300, 4, 3)
    table = sf.pool_estimates(np.column_stack([Q, 2 * Q]), np.column_stack([U, 4 * U]), names=["y", "2y"])
    assert list(table.index) == ["y", "2y"]
    pd.testing.assert_frame_equal(table.iloc[[0]].reset_index(drop=True), rubin(Q, U).reset_index(drop=True))
    nested = sf.pool_estimates(Q, U, rule="fused", resamples=4, nu_com=299)
    pd.testing.assert_frame_equal(nested, pooling.fused(Q, U, 4, nu_com=299))
    nan_estimate = (np.array([[1.0, np.nan], [1.0, 2.0]]), np.ones((2, 2)))
    negative_variance = (np.ones((2, 2)), np.array([[1.0, -1.0], [1.0, 1.0]]))
    for estimates, variances in (nan_estimate, negative_variance):
        with pytest.raises(SurveyfuseError) as err:
            sf.pool_estimates(estimates, variances)
        assert err.value.code == "bad_argument" and "imputation 1, quantity 2" in str(err.value)
    with pytest.raises(SurveyfuseError, match="same shape"):
        sf.pool_estimates(np.ones((3, 2)), np.ones((3, 3)))
    with pytest.raises(SurveyfuseError, match="resamples"):
        sf.pool_estimates(Q, U, rule="fused")


def test_the_fused_rule_reads_how_a_fresh_output_nests_and_refuses_what_does_not():
    """sample/impute record how their imputations nest in donor resamples; pool's fused rule takes
    resamples from it, refuses a wrong number, and refuses a method whose imputations do not nest."""
    import pyarrow as pa

    donor, recipient = sf.datasets.make_surveys(n_donor=400, n_recipient=100, seed=0)
    args = dict(block=["dividends"], predictors=["age", "wage"], draws=8, seed=0)
    nested = sf.impute(donor, recipient, method="forest", params={"mi_groups": 4, "n_estimators": 20}, **args)
    told = sf.pool(nested, "mean", "dividends", rule="fused", resamples=4)
    pd.testing.assert_frame_equal(sf.pool(nested, "mean", "dividends", rule="fused"), told)
    with pytest.raises(SurveyfuseError, match="come from 4 donor resamples") as err:
        sf.pool(nested, "mean", "dividends", rule="fused", resamples=2)
    assert err.value.code == "bad_argument"
    hotdeck = sf.impute(donor, recipient, method="hotdeck", **args)
    with pytest.raises(SurveyfuseError, match="method 'hotdeck' drew each imputation"):
        sf.pool(hotdeck, "mean", "dividends", rule="fused", resamples=4)
    assert sf.pool(hotdeck, "mean", "dividends")["m"].iloc[0] == 8  # Rubin's rules are fine
    arrow = sf.impute(donor, pa.Table.from_pandas(recipient), method="forest",
                      params={"mi_groups": 4, "n_estimators": 20}, **args)
    assert isinstance(arrow, pa.Table)
    pd.testing.assert_frame_equal(sf.pool(arrow, "mean", "dividends", rule="fused"), told)
    rebuilt = pd.DataFrame({c: nested[c].to_numpy() for c in nested.columns})  # e.g. read back from a file
    with pytest.raises(SurveyfuseError, match="needs resamples"):
        sf.pool(rebuilt, "mean", "dividends", rule="fused")
