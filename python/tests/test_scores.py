"""Scores used by the benchmarks: energy score, pinball loss, randomised PIT coverage."""

from __future__ import annotations

import numpy as np

from surveyfuse.evaluate.scores import energy_score, energy_score_rows, pinball_loss, pit_coverage, randomised_pit, standardise


def test_energy_score_of_a_point_forecast_is_the_distance():
    truth = np.array([[0.0, 0.0], [1.0, 1.0]])
    draws = np.broadcast_to(np.array([[3.0, 4.0], [1.0, 1.0]]), (5, 2, 2))
    assert np.isclose(energy_score(draws, truth), 2.5)  # rows: 5 and 0
    assert np.isclose(energy_score(draws, truth, weights=np.array([1.0, 3.0])), 1.25)


def test_energy_score_rows_are_the_per_row_terms_of_the_mean():
    rng = np.random.default_rng(3)
    draws, truth, w = rng.normal(size=(7, 30, 2)), rng.normal(size=(30, 2)), rng.uniform(1, 5, 30)
    rows = energy_score_rows(draws, truth)
    assert rows.shape == (30,)
    assert np.isclose(np.average(rows, weights=w), energy_score(draws, truth, w))
    assert np.isclose(rows[4], energy_score(draws[:, 4:5], truth[4:5]))


def test_energy_score_prefers_the_true_distribution():
    g = np.random.default_rng(0)
    truth = g.normal(size=(2000, 2))
    good = g.normal(size=(20, 2000, 2))
    narrow = 0.3 * g.normal(size=(20, 2000, 2))
    shifted = g.normal(size=(20, 2000, 2)) + 0.5
    assert energy_score(good, truth) < energy_score(narrow, truth)
    assert energy_score(good, truth) < energy_score(shifted, truth)


def test_pinball_loss_of_exact_median_draws():
    truth = np.array([1.0, 2.0, 3.0])
    draws = np.broadcast_to(truth, (7, 3))
    assert pinball_loss(draws, truth) == 0.0
    assert np.isclose(pinball_loss(draws + 1.0, truth, levels=(0.5,)), 0.5)


def test_pit_coverage_is_nominal_for_calibrated_draws_with_ties():
    g = np.random.default_rng(1)
    n, D = 20000, 20

    def zero_inflated(size):
        return np.where(g.random(size) < 0.6, 0.0, g.exponential(size=size))

    truth = zero_inflated(n)
    draws = zero_inflated((D, n))
    assert abs(pit_coverage(draws, truth, 0.9) - 0.9) < 0.01  # 60% exact zeros: ties split at random
    pit = randomised_pit(draws, truth)
    assert abs(np.mean(pit < 0.5) - 0.5) < 0.02
    too_narrow = np.zeros((D, n)) + np.median(truth)
    assert pit_coverage(too_narrow, truth, 0.9) < 0.8


def test_standardise_uses_reference_scale():
    ref = np.array([[0.0, 10.0], [2.0, 30.0]])
    D, t = standardise(np.ones((2, 1, 2)), np.array([[1.0, 20.0]]), ref)
    np.testing.assert_allclose(t, [[0.0, 0.0]])
    np.testing.assert_allclose(D[0, 0], [0.0, -1.9])
