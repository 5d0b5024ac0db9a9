"""Calibrate imputations to known totals with the smallest change.

Targets are weighted recipient totals the user knows from outside (IRS
Statistics of Income, Financial Accounts): ``{"total": "e00600", "value": 2.6e11}``
(a linear expression of block columns) or ``{"count": "e00600 > 0", "value": 2.1e7}``
(a condition). For each recipient row the imputer draws a pool of ``J``
candidate blocks from its conditional distribution. Calibration tilts each
row's choice among its candidates, p_ij ∝ exp(λ·g_ij), with one λ for the
whole file: the distribution closest to the model's in Kullback-Leibler
divergence whose expected weighted totals equal the targets (the dual of a
convex problem, solved by Newton's method). Every candidate is a record the
imputer accepted, so declared constraints keep holding. Draws stay keyed by
(seed, row, draw) given λ.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import logsumexp

from .constraints import Compare, Linear, _evaluate, _linear_values, _Parser, parse_constraint
from .errors import SurveyfuseError

DEFAULT_CANDIDATES = 5  # candidate pool per row = draws * this


@dataclass(frozen=True)
class Target:
    kind: str  # "total" or "count"
    text: str
    value: float
    node: Any  # Linear for totals, a constraint node for counts

    def statistic(self, data: dict[str, np.ndarray], n: int) -> np.ndarray:
        if self.kind == "total":
            return _linear_values(self.node, data, n)
        holds, known = _evaluate(self.node, data, n)
        return (holds & known).astype(np.float64)

    @property
    def columns(self) -> set[str]:
        return self.node.columns()


def parse_targets(targets: list[dict[str, Any]], block: list[str]) -> list[Target]:
    out = []
    for i, t in enumerate(targets or []):
        if not isinstance(t, dict) or "value" not in t or len(set(t) & {"total", "count"}) != 1:
            raise SurveyfuseError("bad_target", f"target {i} must be {{\"total\": EXPR, \"value\": X}} or {{\"count\": CONDITION, \"value\": X}}, got {t!r}", target=i)
        kind = "total" if "total" in t else "count"
        text = t[kind]
        try:
            value = float(t["value"])
        except (TypeError, ValueError):
            raise SurveyfuseError("bad_target", f"target {i}: value must be a number, got {t['value']!r}", target=i) from None
        if kind == "total":
            parser = _Parser(text)
            node: Any = parser.expr()
            if parser.tok.kind != "end" or not isinstance(node, Linear) or node.text is not None:
                raise SurveyfuseError("bad_target", f"target {i}: '{text}' is not a linear expression of block columns", target=i)
        else:
            node = parse_constraint(text).node
        unknown = sorted(node.columns() - set(block))
        if unknown:
            raise SurveyfuseError("bad_target", f"target {i} ('{text}') names '{unknown[0]}', which is not in the block", target=i, column=unknown[0])
        out.append(Target(kind, text, value, node))
    return out


def solve_tilt(G: np.ndarray, weights: np.ndarray, targets: np.ndarray, max_iter: int = 100) -> tuple[np.ndarray, dict[str, Any]]:
    """λ such that sum_i w_i E_{p_i(λ)}[G_i] = targets.

    G: (n, J, T) statistics of each candidate; weights: (n,). Minimises the
    convex dual f(λ) = sum_i w_i logmeanexp_j(λ·G_ij) - λ·targets.
    """
    n, J, T = G.shape
    scale = np.maximum(np.abs(targets), 1e-12) / max(weights.sum(), 1e-12)
    Gs = G / scale[None, None, :]
    ts = targets / scale / weights.sum()  # per-unit-weight targets
    w = weights / weights.sum()
    lam = np.zeros(T)
    lo = (w[:, None] * Gs.min(axis=1)).sum(0)
    hi = (w[:, None] * Gs.max(axis=1)).sum(0)
    if np.any(ts < lo - 1e-9) or np.any(ts > hi + 1e-9):
        bad = int(np.flatnonzero((ts < lo - 1e-9) | (ts > hi + 1e-9))[0])
        raise SurveyfuseError(
            "calibration_infeasible",
            f"target {bad} is outside what the imputations can reach: between {lo[bad] * scale[bad] * weights.sum():.4g} "
            f"and {hi[bad] * scale[bad] * weights.sum():.4g}",
            target=bad,
        )
    for it in range(max_iter):
        logits = Gs @ lam  # (n, J)
        p = np.exp(logits - logsumexp(logits, axis=1, keepdims=True))
        mean = np.einsum("nj,njt->nt", p, Gs)
        grad = (w[:, None] * mean).sum(0) - ts
        if np.max(np.abs(grad)) < 1e-10:
            break
        centred = Gs - mean[:, None, :]
        H = np.einsum("n,nj,njt,nju->tu", w, p, centred, centred) + 1e-12 * np.eye(T)
        step = np.linalg.solve(H, grad)
        # damped Newton: halve until the dual decreases
        f0 = (w * logsumexp(logits, axis=1)).sum() - lam @ ts
        t = 1.0
        while t > 1e-8:
            cand = lam - t * step
            f1 = (w * logsumexp(Gs @ cand, axis=1)).sum() - cand @ ts
            if f1 <= f0:
                break
            t /= 2
        lam = lam - t * step
    else:
        raise SurveyfuseError("calibration_infeasible", "calibration did not converge; the targets may be too far from the imputations")
    return lam / scale, {"iterations": it + 1, "max_gap": float(np.max(np.abs(grad)))}


def tilted_choice(G: np.ndarray, lam: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Index of the chosen candidate per (draw, row): inverse CDF of p_ij ∝ exp(λ·G_ij) at u (draws, n)."""
    logits = G @ lam
    p = np.exp(logits - logsumexp(logits, axis=1, keepdims=True))
    cdf = np.cumsum(p, axis=1)
    cdf[:, -1] = 1.0
    return np.stack([np.minimum((cdf <= u_d[:, None]).sum(axis=1), G.shape[1] - 1) for u_d in u])
