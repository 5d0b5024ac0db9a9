"""Evaluation metrics against hand computations on tiny arrays."""

import json

import numpy as np
import pandas as pd
import pytest

from surveyfuse.data.types import Kind, Variable, infer_variable
from surveyfuse.evaluate.metrics import (
    categorical_metrics, crps, draws_from_long, score_block, top_decile_share, weighted_cdf_distances,
    weighted_spearman,
)
from surveyfuse.evaluate.scores import energy_score


def test_crps_point_mass_is_absolute_error():
    draws = np.full((7, 3), 2.0)
    truth = np.array([0.0, 2.0, 5.5])
    assert crps(draws, truth) == pytest.approx(np.mean([2.0, 0.0, 3.5]))


def test_crps_two_draws_by_hand():
    # draws {0, 2}, truth 1: E|X-y| = 1, E|X-X'| = (0+2+2+0)/4 = 1 -> 1 - 0.5 = 0.5
    assert crps(np.array([[0.0], [2.0]]), np.array([1.0])) == pytest.approx(0.5)
    # truth 3: E|X-y| = (3+1)/2 = 2 -> 2 - 0.5 = 1.5
    assert crps(np.array([[0.0], [2.0]]), np.array([3.0])) == pytest.approx(1.5)


def test_crps_weights():
    draws = np.full((3, 2), 0.0)
    truth = np.array([1.0, 3.0])
    assert crps(draws, truth, np.array([1.0, 1.0])) == pytest.approx(crps(draws, truth))
    assert crps(draws, truth, np.array([3.0, 1.0])) == pytest.approx((3 * 1 + 1 * 3) / 4)


def test_crps_is_the_energy_score_of_one_variable():
    rng = np.random.default_rng(3)
    draws, truth, w = rng.lognormal(size=(9, 40)), rng.lognormal(size=40), rng.uniform(0.5, 2, 40)
    pairwise = np.abs(draws[:, None] - draws[None]).mean(axis=(0, 1))  # E|X - X'| by brute force
    by_hand = np.average(np.abs(draws - truth).mean(axis=0) - 0.5 * pairwise, weights=w)
    assert crps(draws, truth, w) == pytest.approx(by_hand, rel=1e-12)
    assert energy_score(draws[..., None], truth[:, None], w) == pytest.approx(by_hand, rel=1e-12)


def test_ks_and_wasserstein_by_hand():
    a, b = np.array([0.0, 1.0]), np.array([1.0, 2.0])
    ks, w1 = weighted_cdf_distances(a, np.ones(2), b, np.ones(2))
    assert ks == pytest.approx(0.5)
    assert w1 == pytest.approx(1.0)  # a shifted by one
    ks_w, w1_w = weighted_cdf_distances(a, np.array([3.0, 1.0]), b, np.ones(2))
    assert ks_w == pytest.approx(0.75)
    assert w1_w == pytest.approx(0.75 * 1 + 0.5 * 1)  # |F_a - F_b| is .75 on [0, 1), .5 on [1, 2)


def test_top_decile_share():
    x = np.array([0.0] * 9 + [10.0])
    assert top_decile_share(x, np.ones(10)) == pytest.approx(1.0)
    x = np.arange(1.0, 11.0)
    assert top_decile_share(x, np.ones(10)) == pytest.approx(10 / 55)
    # weights 1 x 9 and 3 for x=10: the top 10% of the weight (1.2 of 12) lies wholly within that
    # unit, so 1.2 of its weight counts, over the weighted total 45 + 3 * 10
    w = np.ones(10)
    w[-1] = 3.0
    assert top_decile_share(x, w) == pytest.approx(1.2 * 10 / (45 + 30))


def test_weighted_spearman_equals_scipy_unweighted():
    from scipy.stats import spearmanr

    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    X[:, 1] += X[:, 0]
    X[:50, 2] = 0.0  # ties
    ours = weighted_spearman(X, np.ones(200))
    assert np.allclose(ours, spearmanr(X).statistic, atol=1e-10)
    assert not np.allclose(weighted_spearman(X, rng.uniform(0.1, 5, 200)), ours, atol=1e-3)


def test_categorical_accuracy_and_brier_by_hand():
    draws = np.array([["a", "b"], ["a", "b"], ["b", "b"], ["a", "a"]], dtype=object)  # (4 draws, 2 rows)
    truth = np.array(["a", "b"], dtype=object)
    out = categorical_metrics(draws, truth, np.ones(2), ["a", "b"])
    # row 0 (truth a): p(a) = .75, p(b) = .25 -> hit .75, Brier (.75 - 1)^2 + (.25 - 0)^2 = .125
    # row 1 (truth b): p(a) = .25, p(b) = .75 -> hit .75, Brier .125; both modes are right
    assert out["accuracy"] == pytest.approx(0.75)
    assert out["mode_accuracy"] == pytest.approx(1.0)
    assert out["brier"] == pytest.approx(0.125)


def _toy(n=300, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    y = np.where(rng.random(n) < 0.3, 0.0, np.exp(x + rng.normal(scale=0.3, size=n)))
    z = y * rng.uniform(0, 1, n)
    c = np.where(x > 0, "hi", "lo")
    return pd.DataFrame({"x": x, "y": y, "z": z, "c": c})


def test_perfect_draws_beat_noisy_draws_and_json():
    truth = _toy()
    variables = [infer_variable(truth[c]) for c in ("y", "z", "c")]
    m = 10
    perfect = {c: np.tile(truth[c].to_numpy(), (m, 1)) for c in ("y", "z", "c")}
    rng = np.random.default_rng(1)
    noisy = {c: np.stack([truth[c].sample(frac=1, random_state=int(rng.integers(1e6))).to_numpy() for _ in range(m)])
             for c in ("y", "z", "c")}
    kw = dict(constraints=["z <= y"], predictors=["x"])
    good, bad = score_block(perfect, truth, variables, **kw), score_block(noisy, truth, variables, **kw)
    assert good["overall"]["energy_score"] < bad["overall"]["energy_score"]
    assert good["overall"]["crps_std"] < bad["overall"]["crps_std"]
    assert good["variables"]["c"]["accuracy"] == 1.0 > bad["variables"]["c"]["accuracy"]
    assert good["overall"]["correlation_mad"] < bad["overall"]["correlation_mad"]
    assert good["variables"]["y"]["ks"] == pytest.approx(0.0, abs=1e-12) and good["variables"]["y"]["total_ratio"] == pytest.approx(1.0)
    assert good["overall"]["constraint_violations"]["z <= y"] == 0.0
    assert bad["overall"]["constraint_violations"]["z <= y"] > 0.1
    json.dumps(good)


def test_weighted_equals_unweighted_under_equal_weights():
    truth = _toy(200, 3)
    variables = [infer_variable(truth[c]) for c in ("y", "z")]
    rng = np.random.default_rng(2)
    draws = {c: truth[c].to_numpy() * rng.lognormal(0, 0.5, size=(8, 200)) for c in ("y", "z")}
    plain = score_block(draws, truth, variables, predictors=["x"])
    equal = score_block(draws, truth, variables, weights=np.full(200, 7.0), predictors=["x"])
    other = score_block(draws, truth, variables, weights=rng.uniform(0.1, 10, 200), predictors=["x"])
    for key in ("energy_score", "crps_std", "coverage90", "ks", "correlation_mad"):
        assert equal["overall"][key] == pytest.approx(plain["overall"][key], rel=1e-9)
        assert other["overall"][key] != pytest.approx(plain["overall"][key], rel=1e-6)


def test_draws_from_long_roundtrip():
    long = pd.DataFrame({"_imp": [2, 2, 1, 1], "_row": [1, 0, 1, 0], "y": [4.0, 3.0, 2.0, 1.0]})
    assert draws_from_long(long, ["y"])["y"].tolist() == [[1.0, 2.0], [3.0, 4.0]]


def test_pit_coverage_of_calibrated_draws():
    rng = np.random.default_rng(5)
    truth = pd.DataFrame({"y": rng.normal(size=2000)})
    draws = {"y": rng.normal(size=(20, 2000))}
    v = [Variable("y", Kind.CONTINUOUS, "float64")]
    out = score_block(draws, truth, v)["variables"]["y"]
    assert out["coverage90"] == pytest.approx(0.9, abs=0.03)
    assert out["coverage50"] == pytest.approx(0.5, abs=0.04)
    assert sum(out["pit_histogram"]) == pytest.approx(1.0)
    narrow = score_block({"y": 0.3 * draws["y"]}, truth, v)["variables"]["y"]
    assert narrow["coverage90"] < 0.7


def test_violation_share_counts_each_record_once_when_constraints_overlap():
    """Two constraints broken by the same records: the share breaking at least one, never their sum."""
    truth = pd.DataFrame({"x": np.zeros(4), "y": np.ones(4), "z": np.ones(4)})
    variables = [Variable(c, Kind.CONTINUOUS, "float64") for c in ("y", "z")]
    # (2 draws, 4 rows): z > y on rows 0-1 of draw 1, which also break z <= 1; row 3 of draw 2 breaks only z <= 1
    draws = {"y": np.array([[0.0, 0.0, 5.0, 5.0], [5.0, 5.0, 5.0, 5.0]]),
             "z": np.array([[2.0, 2.0, 1.0, 1.0], [1.0, 1.0, 1.0, 3.0]])}
    overall = score_block(draws, truth, variables, constraints=["z <= y", "z <= 1"])["overall"]
    assert overall["constraint_violations"] == {"z <= y": 2 / 8, "z <= 1": 3 / 8}
    assert overall["violation_share"] == pytest.approx(3 / 8)  # the sum would be 5 / 8
    broken_everywhere = {"y": np.zeros((2, 4)), "z": np.full((2, 4), 2.0)}
    assert score_block(broken_everywhere, truth, variables, constraints=["z <= y", "z <= 1"])["overall"]["violation_share"] == 1.0
