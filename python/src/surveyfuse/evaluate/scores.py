"""Proper scores for imputation draws against held-out truth.

Small and dependency-free on purpose, so benchmarks and the evaluation
reports score methods the same way. Draw arrays are shaped like a backend's
output: ``(draws, n)`` for one variable, ``(draws, n, k)`` for a block.
Every score takes optional per-row ``weights`` (survey weights of the
recipients); the result is then a weighted mean over rows.

* :func:`energy_score` - a proper scoring rule for the *joint* distribution
  (Gneiting & Raftery 2007), lower is better; standardise the block first
  (:func:`standardise`) so no variable's units dominate. For one variable it
  is the CRPS (:func:`surveyfuse.evaluate.metrics.crps`).
  :func:`energy_score_rows` gives it row by row.
* :func:`pinball_loss` - the quantile (check) loss of the draws' empirical
  quantiles, averaged over a grid of levels; lower is better.
* :func:`pit_coverage` - share of rows whose truth falls in the central
  interval of the draws, by randomised PIT: the truth's rank among the draws
  with ties broken at random, so exact zeros neither inflate nor deflate it.
"""

from __future__ import annotations

import numpy as np

DEFAULT_LEVELS = (0.1, 0.25, 0.5, 0.75, 0.9)


def _mean(values: np.ndarray, weights: np.ndarray | None) -> float:
    return float(np.average(values, weights=weights))


def standardise(draws: np.ndarray, truth: np.ndarray, reference: np.ndarray,
                weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Centre and scale draws (D, n, k) and truth (n, k) by the (weighted) mean
    and standard deviation of ``reference`` (m, k), usually the donor block."""
    ref = np.asarray(reference, dtype=np.float64)
    mu = np.average(ref, axis=0, weights=weights)
    sd = np.sqrt(np.average((ref - mu) ** 2, axis=0, weights=weights))
    sd = np.where(sd > 0, sd, 1.0)
    return (draws - mu) / sd, (truth - mu) / sd


def energy_score(draws: np.ndarray, truth: np.ndarray, weights: np.ndarray | None = None) -> float:
    """Mean energy score ``E||X - y|| - 0.5 E||X - X'||`` over rows.

    ``draws`` (D, n, k) or (D, n); ``truth`` (n, k) or (n,). Both
    expectations use the empirical draws (the "V-statistic" form).
    """
    return _mean(energy_score_rows(draws, truth), weights)


def energy_score_rows(draws: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """The energy score of every row (n,), so a mean can be split by groups of rows.

    For one variable it is the CRPS, ``E|X - y| - 0.5 E|X - X'|``; with sorted
    draws ``x_(1..D)``, ``E|X - X'| = 2 / D^2 * sum_j (2j - D - 1) x_(j)``.
    """
    draws = np.asarray(draws, dtype=np.float64)
    truth = np.asarray(truth, dtype=np.float64)
    if draws.ndim == 2:
        draws, truth = draws[..., None], truth[..., None]
    D = draws.shape[0]
    if draws.shape[2] == 1:  # one variable: the CRPS, whose spread has a closed form in the sorted draws
        x, y = draws[..., 0], truth[..., 0]
        coef = (2 * np.arange(1, D + 1) - D - 1)[:, None]
        return np.abs(x - y[None]).mean(axis=0) - (coef * np.sort(x, axis=0)).sum(axis=0) / (D * D)
    term1 = np.linalg.norm(draws - truth[None], axis=2).mean(axis=0)
    spread = np.zeros(truth.shape[0])
    for a in range(D):  # loop over draws keeps memory at O(D n k)
        spread += np.linalg.norm(draws[a][None] - draws, axis=2).sum(axis=0)
    return term1 - spread / (2.0 * D * D)


def pinball_loss(draws: np.ndarray, truth: np.ndarray, levels: tuple[float, ...] = DEFAULT_LEVELS,
                 weights: np.ndarray | None = None) -> float:
    """Quantile loss of one variable: draws (D, n), truth (n,), averaged over ``levels``."""
    draws = np.asarray(draws, dtype=np.float64)
    truth = np.asarray(truth, dtype=np.float64)
    total = 0.0
    for tau in levels:
        q = np.quantile(draws, tau, axis=0)
        diff = truth - q
        total += _mean(np.maximum(tau * diff, (tau - 1) * diff), weights)
    return total / len(levels)


def randomised_pit(draws: np.ndarray, truth: np.ndarray, seed: int = 0) -> np.ndarray:
    """PIT value in (0, 1) per row: (#draws below + V * (#ties + 1)) / (D + 1), V ~ U(0, 1).

    Under calibration the truth is exchangeable with the draws, so its rank
    among all D + 1 values, ties split at random, makes the PIT uniform.
    """
    draws = np.asarray(draws, dtype=np.float64)
    truth = np.asarray(truth, dtype=np.float64)
    below = (draws < truth[None]).sum(axis=0)
    ties = (draws == truth[None]).sum(axis=0)
    v = np.random.default_rng(seed).random(truth.shape[0])
    return (below + v * (ties + 1)) / (draws.shape[0] + 1)


def pit_coverage(draws: np.ndarray, truth: np.ndarray, level: float = 0.9,
                 weights: np.ndarray | None = None, seed: int = 0) -> float:
    """Share of rows whose randomised PIT lies in the central ``level`` interval."""
    pit = randomised_pit(draws, truth, seed)
    lo = (1 - level) / 2
    return _mean(((pit >= lo) & (pit <= 1 - lo)).astype(np.float64), weights)


__all__ = ["energy_score", "pinball_loss", "pit_coverage", "randomised_pit", "standardise"]
