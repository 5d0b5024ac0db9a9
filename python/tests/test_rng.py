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


def test_inverse_cdf_picks_in_proportion_to_weight_and_never_a_zero_weight():
    w = np.array([1.0, 0.0, 3.0, 0.0, 4.0])
    u = rng.uniforms(1, np.arange(40000), 1)[0, :, 0]
    pick = rng.inverse_cdf(np.cumsum(w), u)
    share = np.bincount(pick, minlength=5) / len(u)
    assert np.allclose(share, w / w.sum(), atol=0.01) and share[1] == share[3] == 0
    # the tie rule: a target exactly on a running total goes to the next item with weight
    assert rng.inverse_cdf(np.cumsum(w), np.array([0.125, 0.5])).tolist() == [2, 4]
    assert rng.inverse_cdf(np.cumsum(w), np.array([1.0])).tolist() == [4]  # at the total: the last item


def test_inverse_cdf_rows_segments_and_torch_agree_with_one_rule():
    import torch

    w = rng.uniforms(2, np.arange(300), 1, width=6)[0] * (rng.uniforms(3, np.arange(300), 1, width=6)[0] > 0.3)
    w[:, 0] += 1e-3  # every row has some weight
    u = rng.uniforms(4, np.arange(300), 3)[:, :, 0]
    rows = rng.inverse_cdf(np.cumsum(w, axis=1), u)  # (draws, rows) against per-row totals
    assert rows.shape == (3, 300) and np.all(w[np.arange(300), rows] > 0)
    flat = np.cumsum(w.ravel())  # the same rows laid end to end: each row a segment [6 r, 6 r + 6)
    start = np.broadcast_to(6 * np.arange(300), u.shape)
    segments = rng.inverse_cdf(flat, u, start, start + 6) - start
    # a segment's running totals carry the rows before it, so only rounding at a boundary may differ
    assert np.mean(segments == rows) > 0.999
    tensor = rng.inverse_cdf(torch.from_numpy(np.cumsum(w, axis=1)), torch.from_numpy(u[0]))
    assert tensor.tolist() == rows[0].tolist()
