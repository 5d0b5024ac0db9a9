"""Training utilities shared by the generative backends.

* :func:`resolve_device`: ``"auto"`` means CUDA when present, else CPU;
* :func:`seed_everything`: fixed seeds and deterministic kernels so a CPU fit
  is reproducible;
* :class:`MinibatchSampler`: minibatches drawn with probability proportional
  to the donor's sampling weights, so the model learns the population rather
  than the sample design;
* :func:`holdout_split`: 12 % of the donor (at least 60 rows) kept aside for early
  stopping and the fit check;
* :class:`EarlyStopping`: keeps the best weights seen on the held-out part;
* :func:`progress`: a tqdm bar showing the loss, only when stderr is a terminal;
* :func:`pad_rows`: inference runs in fixed-size, zero-padded batches so a
  row's output never depends on how many rows were sampled with it (BLAS
  kernels change with the batch size, which changes the last bits).
"""

from __future__ import annotations

import copy
import sys
from typing import Any, Callable, Iterator

import numpy as np
import torch

INFER_BATCH = 2048
#: held-out rows wanted for early stopping and the fit check, whatever the donor size
MIN_HOLDOUT = 60
MAX_THREADS = 2
#: small MLPs gain little from a second thread and lose a lot when the cores are shared
DEFAULT_THREADS = 1


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def seed_everything(seed: int, threads: int = DEFAULT_THREADS) -> None:
    """Seed torch and make CPU kernels deterministic (warn-only where impossible)."""
    torch.manual_seed(int(seed) % (2**63 - 1))
    try:
        torch.use_deterministic_algorithms(True, warn_only=True)
    except Exception:  # pragma: no cover - very old torch
        pass
    limit_threads(threads)


def limit_threads(threads: int = DEFAULT_THREADS) -> None:
    """At most two intra-op threads: the machines we target are small and shared."""
    want = max(1, min(int(threads), MAX_THREADS))
    if torch.get_num_threads() != want:
        torch.set_num_threads(want)


def holdout_split(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, holdout) row indices.

    ``fraction`` of the donor, but at least ``MIN_HOLDOUT`` rows (early stopping
    and the fit check need a few dozen) and at most a fifth of it; no holdout
    below ``MIN_HOLDOUT // 2`` rows, i.e. on donors of fewer than about 125 rows.
    """
    order = np.random.default_rng(seed).permutation(n)
    n_hold = min(max(int(round(n * fraction)), MIN_HOLDOUT), n // 5) if fraction > 0 else 0
    if n_hold < MIN_HOLDOUT // 2:
        return np.sort(order), np.zeros(0, dtype=np.int64)
    return np.sort(order[n_hold:]), np.sort(order[:n_hold])


class MinibatchSampler:
    """Weighted minibatches: each epoch draws ``n`` rows with replacement, prob ~ weight."""

    def __init__(self, weights: np.ndarray, batch_size: int, seed: int) -> None:
        w = np.asarray(weights, dtype=np.float64)
        self.p = w / w.sum()
        self.n = len(w)
        self.batch_size = int(min(batch_size, max(self.n, 1)))
        self.rng = np.random.default_rng(seed)

    def epoch(self) -> Iterator[np.ndarray]:
        idx = self.rng.choice(self.n, size=self.n, replace=True, p=self.p)
        for start in range(0, self.n - self.batch_size + 1, self.batch_size):
            yield idx[start : start + self.batch_size]

    @property
    def steps_per_epoch(self) -> int:
        return max(self.n // self.batch_size, 1)


class EarlyStopping:
    """Stop when the held-out score has not improved for ``patience`` checks; keep the best weights."""

    def __init__(self, patience: int, min_delta: float = 1e-4) -> None:
        self.patience = patience
        self.min_delta = min_delta
        self.best = float("inf")
        self.best_state: dict[str, Any] | None = None
        self.best_epoch = -1
        self.bad = 0

    def step(self, score: float, module: torch.nn.Module, epoch: int) -> bool:
        """Record ``score``; True when training should stop."""
        if score < self.best - self.min_delta * max(abs(self.best), 1.0) or self.best_state is None:
            self.best = score
            self.best_state = copy.deepcopy(module.state_dict())
            self.best_epoch = epoch
            self.bad = 0
            return False
        self.bad += 1
        return self.bad >= self.patience

    def restore(self, module: torch.nn.Module) -> None:
        if self.best_state is not None:
            module.load_state_dict(self.best_state)


def progress(total: int, desc: str, verbose: bool = False):
    """A tqdm bar on a terminal (or when ``verbose``), silent otherwise."""
    from tqdm.auto import tqdm

    enabled = bool(verbose) or sys.stderr.isatty()
    return tqdm(total=total, desc=desc, disable=not enabled, leave=False, file=sys.stderr)


def pad_rows(t: torch.Tensor, size: int) -> torch.Tensor:
    """Zero rows appended up to ``size`` so every inference batch has the same shape."""
    if t.shape[0] == size:
        return t
    pad = torch.zeros((size - t.shape[0],) + tuple(t.shape[1:]), dtype=t.dtype, device=t.device)
    return torch.cat([t, pad], dim=0)


def state_to_numpy(module: torch.nn.Module, prefix: str = "net.") -> dict[str, np.ndarray]:
    return {prefix + k: v.detach().cpu().numpy().copy() for k, v in module.state_dict().items()}


def numpy_to_state(module: torch.nn.Module, arrays: dict[str, np.ndarray], prefix: str = "net.") -> None:
    state = {k[len(prefix):]: torch.from_numpy(np.asarray(v).copy()) for k, v in arrays.items() if k.startswith(prefix)}
    module.load_state_dict(state, strict=True)


def mlp(d_in: int, hidden: list[int], d_out: int, activation: type[torch.nn.Module] = torch.nn.SiLU,
        dropout: float = 0.0) -> torch.nn.Sequential:
    """Plain MLP without batch norm (so a row's output never depends on its batch)."""
    layers: list[torch.nn.Module] = []
    d = d_in
    for h in hidden:
        layers += [torch.nn.Linear(d, h), activation()]
        if dropout:
            layers.append(torch.nn.Dropout(dropout))
        d = h
    layers.append(torch.nn.Linear(d, d_out))
    return torch.nn.Sequential(*layers)
