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

