from __future__ import annotations

import numpy as np

from surveyfuse import rng


def test_uniforms_depend_only_on_key():
    rows = np.arange(100)
    whole = rng.uniforms(5, rows, draws=4, width=3)
    halves = np.concatenate([rng.uniforms(5, rows[:37], 4, 3), rng.uniforms(5, rows[37:], 4, 3)], axis=1)
    assert np.array_equal(whole, halves)
    assert not np.array_equal(whole, rng.uniforms(6, rows, 4, 3))
    assert not np.array_equal(whole, rng.uniforms(5, rows, 4, 3, stream=1))


def test_uniforms_look_uniform():
    u = rng.uniforms(0, np.arange(20000), 5).ravel()
    assert 0 < u.min() and u.max() < 1
    hist, _ = np.histogram(u, bins=10, range=(0, 1))
    expected = u.size / 10
    chi2 = ((hist - expected) ** 2 / expected).sum()
    assert chi2 < 27.9  # 99.9% point of chi-square with 9 df
    assert abs(np.corrcoef(u[:-1], u[1:])[0, 1]) < 0.01


def test_normals_moments():
    z = rng.normals(1, np.arange(50000), 2).ravel()
    assert abs(z.mean()) < 0.02 and abs(z.std() - 1) < 0.02
