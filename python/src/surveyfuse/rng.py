"""Counter-based random numbers keyed by (seed, row, draw, stream).

A draw for recipient row ``r`` must not depend on which other rows are imputed
with it, so that chunked, parallel and Dask runs give the same output as one
in-memory run. A stateful generator cannot promise that; a hash of the key can.
We use the SplitMix64 finaliser (Steele et al., 2014), which passes BigCrush
when applied to a counter, vectorised in numpy.
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtri

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def _mix(z: np.ndarray) -> np.ndarray:
    z = z.astype(np.uint64, copy=True)
    with np.errstate(over="ignore"):
        z ^= z >> np.uint64(30)
        z *= _M1
        z ^= z >> np.uint64(27)
        z *= _M2
        z ^= z >> np.uint64(31)
    return z


def hash_key(*parts: np.ndarray | int) -> np.ndarray:
    """Hash integer arrays (broadcast together) into uint64 words."""
    arrays = np.broadcast_arrays(*[np.asarray(p, dtype=np.uint64) for p in parts])
    h = np.full(arrays[0].shape, np.uint64(0x243F6A8885A308D3), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for a in arrays:
            h = _mix(h ^ (a + _GOLDEN))
    return h


def derive_seed(seed: int, *labels: int) -> int:
    """A new seed from a seed and integer labels (for independent sub-streams)."""
    return int(hash_key(np.uint64(seed), *[np.uint64(x) for x in labels])[()] >> np.uint64(1))


def uniforms(seed: int, rows: np.ndarray, draws: int, width: int = 1, stream: int = 0) -> np.ndarray:
    """Uniforms in (0, 1) of shape (draws, len(rows), width).

    Element [d, i, j] depends only on (seed, rows[i], d, stream, j).
    """
    rows = np.asarray(rows, dtype=np.uint64)
    d = np.arange(draws, dtype=np.uint64)[:, None, None]
    r = rows[None, :, None]
    j = np.arange(width, dtype=np.uint64)[None, None, :]
    h = hash_key(np.uint64(seed), np.uint64(stream), r, d, j)
    # top 53 bits -> (0, 1), never exactly 0 or 1
    return ((h >> np.uint64(11)).astype(np.float64) + 0.5) / float(1 << 53)


def normals(seed: int, rows: np.ndarray, draws: int, width: int = 1, stream: int = 0) -> np.ndarray:
    """Standard normals of shape (draws, len(rows), width), keyed like :func:`uniforms`."""
    return ndtri(uniforms(seed, rows, draws, width, stream))


#: label of the Bayesian-bootstrap donor weights' sub-stream (kept apart from every draw's noise)
BOOTSTRAP_STREAM = 0xB007


def bayesian_bootstrap(seed: int, resample: int, rows: np.ndarray) -> np.ndarray:
    """Bayesian-bootstrap weights of donor ``rows`` for resample ``resample`` (Rubin 1981).

    Independent standard exponentials: normalised, they are a flat Dirichlet
    draw over the donors, the posterior of a nonparametric model of the donor
    population. Weight [i] depends only on (seed, resample, rows[i]), so every
    process that imputes with the same seed uses the same resample.
    """
    u = uniforms(derive_seed(seed, BOOTSTRAP_STREAM, int(resample)), np.asarray(rows), 1)[0, :, 0]
    return -np.log(u)


def inverse_cdf(cumulative, u, start=None, stop=None):
    """Weighted choice by inverse CDF: for each uniform, the first item whose running total exceeds ``u`` x total.

    Every sampler that picks an item with probability proportional to a
    weight goes through here (a donor in a forest leaf or a hot-deck pool, a
    class of a forest's predicted distribution, a calibration candidate, a
    category of a generative model's softmax, a predictor-blind donor), so they
    share one tie rule: the target ``u * total`` picks the first item whose
    running total is strictly greater. An item of zero weight is never picked,
    and a target that rounding puts at or past the total picks the last item.
    The uniforms come from the caller (:func:`uniforms`, keyed by row and
    draw, wherever a draw must not depend on the other rows).

    Parameters
    ----------
    cumulative : array (..., k), numpy or torch
        Running totals of nonnegative weights along the last axis.
    u : array of uniforms in (0, 1)
        Shaped ``cumulative.shape[:-1]``, or with leading draw axes in front
        (numpy; a 1-D ``cumulative`` takes any shape).
    start, stop : integer arrays shaped like ``u``, optional
        With a 1-D ``cumulative``: each uniform picks among items
        ``[start, stop)`` (non-empty), such as the donors of one forest leaf.

    Returns
    -------
    Indices into the last axis of ``cumulative``, shaped like ``u``.

    Examples
    --------
    >>> import numpy as np
    >>> from surveyfuse.rng import inverse_cdf
    >>> cum = np.cumsum([1.0, 0.0, 3.0])  # weights 1, 0, 3
    >>> inverse_cdf(cum, np.array([0.1, 0.25, 0.3, 0.99])).tolist()  # item 1 has no weight: never picked
    [0, 2, 2, 2]
    >>> inverse_cdf(cum, np.array([0.5]), start=np.array([1]), stop=np.array([3])).tolist()
    [2]
    """
    if isinstance(cumulative, np.ndarray):
        u = np.asarray(u)
        if cumulative.ndim == 1:
            lo = 0 if start is None else start
            hi = len(cumulative) if stop is None else stop
            base = 0.0 if start is None else np.where(start > 0, cumulative[np.maximum(start - 1, 0)], 0.0)
            target = base + u * (cumulative[hi - 1] - base)
            return np.clip(np.searchsorted(cumulative, target, side="right"), lo, hi - 1)
        if u.ndim > cumulative.ndim - 1:  # leading draw axes: one draw at a time keeps memory at one draw's
            return np.stack([inverse_cdf(cumulative, u_d) for u_d in u])
    target = u[..., None] * cumulative[..., -1:]
    return (cumulative <= target).sum(-1).clip(max=cumulative.shape[-1] - 1)
