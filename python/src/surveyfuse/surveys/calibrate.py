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

:class:`CalibratedImputer` wraps a fitted :class:`~surveyfuse.Imputer` (as
scikit-learn's ``CalibratedClassifierCV`` wraps a classifier): its ``fit``
solves λ on the recipient file, its ``sample`` draws the tilted blocks. The
imputer itself is left as it was and keeps drawing from its model, with any
draws and seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import logsumexp

from .. import rng
from ..constraints import evaluate_node, linear_values, parse_constraint, parse_expression
from ..data.frames import as_pandas, check_columns
from ..data.types import decode_values, numeric_values
from ..errors import SurveyfuseError, check_draws, check_seed

DEFAULT_CANDIDATES = 5  # candidate pool per row = draws * this


@dataclass(frozen=True)
class Target:
    kind: str  # "total" or "count"
    text: str
    value: float
    node: Any  # Linear for totals, a constraint node for counts

    def statistic(self, data: dict[str, np.ndarray], n: int) -> np.ndarray:
        if self.kind == "total":
            return linear_values(self.node, data, n)
        holds, known = evaluate_node(self.node, data, n)
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
            node: Any = parse_expression(text)
            if node is None:
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
    cdf[:, -1] = 1.0  # p is a distribution: its rounding does not move the last candidate's share
    return rng.inverse_cdf(cdf, u)


class CalibratedImputer:
    """A fitted :class:`~surveyfuse.Imputer` whose draws hit known weighted recipient totals.

    Parameters
    ----------
    imputer : Imputer
        A fitted imputer; it is not changed.
    targets : list of dict
        ``{"total": expression, "value": v}`` (a weighted total of block
        columns) or ``{"count": condition, "value": v}`` (a weighted count).
    recipient_weights : str
        The recipient's weight column.
    candidates : int
        Candidate blocks per draw among which calibration chooses.

    Attributes
    ----------
    draws_, seed_ : int
        The draws and seed λ was solved for: :meth:`sample` uses them (and
        refuses others, since the candidate pool, and so λ, belong to them).
    lambda_ : ndarray
        The tilt, one value per target.
    calibration_report_ : dict
        After :meth:`fit`: each target's model total before and after.

    The fitted imputer's attributes (``method_``, ``fit_report_``,
    ``sample_report_`` ...) read through.

    Examples
    --------
    >>> import surveyfuse as sf
    >>> donor, recipient = sf.datasets.make_surveys(n_donor=400, n_recipient=50, seed=0)
    >>> imp = sf.Imputer(["interest", "dividends"], ["age", "wage"], method="hotdeck", random_state=0).fit(donor)
    >>> before = imp.sample(recipient, draws=4, seed=3)
    >>> total = float((before["weight"] * before["dividends"]).sum() / 4)
    >>> cal = sf.CalibratedImputer(imp, [{"total": "dividends", "value": 1.05 * total}], "weight").fit(
    ...     recipient, draws=4, seed=3)
    >>> after = cal.sample(recipient)
    >>> bool((after["weight"] * after["dividends"]).sum() / 4 > total)
    True
    >>> imp.sample(recipient, draws=4, seed=3).equals(before)  # the imputer itself is unchanged
    True
    """

    def __init__(self, imputer: Any, targets: list[dict[str, Any]], recipient_weights: str,
                 candidates: int = DEFAULT_CANDIDATES) -> None:
        self.imputer = imputer
        self.targets = targets
        self.recipient_weights = recipient_weights
        self.candidates = candidates

    def __getattr__(self, name: str) -> Any:
        """The wrapped imputer's public attributes and methods (``method_``, ``fit_report_``, ``block`` ...)."""
        imputer = self.__dict__.get("imputer")
        if imputer is None or name.startswith("_"):
            raise AttributeError(name)
        return getattr(imputer, name)

    def __repr__(self) -> str:
        return (f"CalibratedImputer({self.imputer!r}, targets={self.targets!r}, "
                f"recipient_weights={self.recipient_weights!r}, candidates={self.candidates!r})")

    def fit(self, recipients: Any, draws: int = 20, seed: int | None = None) -> "CalibratedImputer":
        """Solve the tilt on the recipient file that :meth:`sample` will then impute.

        Parameters
        ----------
        recipients : DataFrame, pyarrow Table, or iterable of (row offset, table)
            The recipient file, whole or in chunks.
        draws, seed : int
            The draws and seed :meth:`sample` will use (seed default: the
            imputer's ``random_state``).

        Examples
        --------
        >>> import surveyfuse as sf
        >>> donor, recipient = sf.datasets.make_surveys(n_donor=300, n_recipient=40, seed=0)
        >>> imp = sf.Imputer(["dividends"], ["age", "wage"], method="hotdeck", random_state=0).fit(donor)
        >>> cal = sf.CalibratedImputer(imp, [{"count": "dividends > 0", "value": 2e4}], "weight").fit(recipient, draws=2, seed=1)
        >>> [round(t["after"]) for t in cal.calibration_report_["targets"]]
        [20000]
        """
        imp = self.imputer
        imp._check_fitted()
        draws, seed = check_draws(draws), check_seed(imp.random_state if seed is None else seed)
        self.targets_ = parse_targets(self.targets, list(imp.block))
        self.pool_ = draws * int(self.candidates)
        one_table = hasattr(recipients, "columns") or hasattr(recipients, "num_rows")
        chunks = [(0, recipients)] if one_table else recipients
        Gs, ws = [], []
        for offset, chunk in chunks:
            original, _ = as_pandas(chunk, role="recipient")
            check_columns(original, [self.recipient_weights], role="recipient weights", table="recipient")
            w = numeric_values(original[self.recipient_weights], role="recipient weights")
            frame = imp.harmoniser_.apply(original, "recipient", needed=list(imp.predictors))
            rows = np.arange(len(frame), dtype=np.int64) + int(offset)
            _, G, _ = self._candidate_pool(frame, imp.encoder_.transform(frame), rows, seed)
            Gs.append(G)
            ws.append(np.nan_to_num(w))
        G, w = np.concatenate(Gs), np.concatenate(ws)
        lam, info = solve_tilt(G, w, np.array([t.value for t in self.targets_]))
        before = (w[:, None] * G.mean(axis=1)).sum(0)
        logits = G @ lam
        p = np.exp(logits - logits.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        after = (w[:, None] * np.einsum("nj,njt->nt", p, G)).sum(0)
        self.lambda_, self.draws_, self.seed_ = lam, draws, seed
        self.calibration_report_ = {
            "targets": [{"target": t.text, "kind": t.kind, "value": t.value, "before": float(b), "after": float(a)}
                        for t, b, a in zip(self.targets_, before, after)],
            "candidates_per_row": self.pool_, **info,
        }
        return self

    def sample(self, recipient: Any, draws: int | None = None, seed: int | None = None, row_offset: int = 0,
               include: bool = False) -> Any:
        """:meth:`Imputer.sample <surveyfuse.Imputer.sample>` with the tilted draws (draws and seed: those of :meth:`fit`).

        Examples
        --------
        >>> import surveyfuse as sf
        >>> donor, recipient = sf.datasets.make_surveys(n_donor=300, n_recipient=40, seed=0)
        >>> imp = sf.Imputer(["dividends"], ["age", "wage"], method="hotdeck", random_state=0).fit(donor)
        >>> cal = sf.CalibratedImputer(imp, [{"count": "dividends > 0", "value": 2e4}], "weight").fit(recipient, draws=2, seed=1)
        >>> out = cal.sample(recipient)
        >>> len(out), sorted(out["_imp"].unique().tolist())
        (80, [1, 2])
        """
        draws, seed = self._same_draws(draws, seed)
        return self.imputer._sample(recipient, draws, seed, row_offset, include, tilt=self)

    def draw_block(self, frame: pd.DataFrame, rows: np.ndarray, draws: int | None = None,
                   seed: int | None = None) -> tuple[dict[str, pd.Series], dict[str, Any]]:
        """:meth:`Imputer.draw_block <surveyfuse.Imputer.draw_block>` with the tilted draws.

        Examples
        --------
        >>> import surveyfuse as sf
        >>> donor, recipient = sf.datasets.make_surveys(n_donor=300, n_recipient=40, seed=0)
        >>> imp = sf.Imputer(["dividends"], ["age", "wage"], method="hotdeck", random_state=0).fit(donor)
        >>> cal = sf.CalibratedImputer(imp, [{"count": "dividends > 0", "value": 2e4}], "weight").fit(recipient, draws=2, seed=1)
        >>> import numpy as np
        >>> block, report = cal.draw_block(recipient, np.arange(len(recipient)))
        >>> len(block["dividends"])
        80
        """
        draws, seed = self._same_draws(draws, seed)
        return self.imputer.draw_block(frame, rows, draws, seed, tilt=self)

    def _same_draws(self, draws: int | None, seed: int | None) -> tuple[int, int]:
        if not hasattr(self, "lambda_"):
            raise SurveyfuseError("not_fitted", "this CalibratedImputer is not fitted yet; call fit(recipients) first")
        draws = self.draws_ if draws is None else draws
        seed = self.seed_ if seed is None else seed
        if draws != self.draws_ or seed != self.seed_:
            raise SurveyfuseError(
                "bad_argument",
                f"this imputer was calibrated for draws={self.draws_}, seed={self.seed_}; sample with the same values",
                argument="draws",
            )
        return draws, seed

    # the Imputer calls these back while it samples -------------------------------------------------
    def _tilted_draws(self, frame: pd.DataFrame, X: Any, rows: np.ndarray, draws: int, seed: int) -> tuple[np.ndarray, dict[str, Any]]:
        """Draws (draws, n, k): for each (draw, row), one of the row's candidates chosen by the tilt."""
        pool, G, report = self._candidate_pool(frame, X, rows, seed)
        u = rng.uniforms(seed, rows, draws, stream=0xCA2)[:, :, 0]
        choice = tilted_choice(G, self.lambda_, u)  # (draws, n)
        return pool[choice, np.arange(len(frame))[None, :]], report

    def _weighted_totals(self, original: pd.DataFrame, block: dict[str, pd.Series], draws: int) -> dict[str, list[float]]:
        """Each target's weighted total in each draw (for the run report)."""
        w = np.nan_to_num(numeric_values(original[self.recipient_weights], role="recipient weights"))
        data = {k: v.to_numpy() for k, v in block.items()}
        n = len(original)
        return {t.text: (t.statistic(data, draws * n).reshape(draws, n) @ w).tolist() for t in self.targets_}

    def _candidate_pool(self, frame: pd.DataFrame, X: Any, rows: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
        """Each row's pool of ``pool_`` candidate blocks (checked like any draws) and their target statistics (n, J, T)."""
        imp, J = self.imputer, self.pool_
        pool, report = imp._checked_draws(frame, X, rows, J, rng.derive_seed(seed, 0xCA1))
        n = len(frame)
        flat = pool.reshape(J * n, -1)
        data = {v.name: decode_values(flat[:, j], v).to_numpy() for j, v in enumerate(imp.variables_)}
        G = np.stack([t.statistic(data, J * n).reshape(J, n).T for t in self.targets_], axis=2)
        return pool, G, report

    # persistence: the imputer's model file with the tilt in it ----------------------------------------
    def save(self, path: str) -> str:
        """Write the model file (the imputer's, with the calibration); :meth:`Imputer.load <surveyfuse.Imputer.load>` reads it back as this.

        Examples
        --------
        >>> import surveyfuse as sf
        >>> donor, recipient = sf.datasets.make_surveys(n_donor=300, n_recipient=40, seed=0)
        >>> imp = sf.Imputer(["dividends"], ["age", "wage"], method="hotdeck", random_state=0).fit(donor)
        >>> cal = sf.CalibratedImputer(imp, [{"count": "dividends > 0", "value": 2e4}], "weight").fit(recipient, draws=2, seed=1)
        >>> import os, tempfile
        >>> again = sf.Imputer.load(cal.save(os.path.join(tempfile.mkdtemp(), "calibrated.sfm")))
        >>> again.sample(recipient).equals(cal.sample(recipient))
        True
        """
        from ..data.model_file import save_model

        save_model(path, *self._state())
        return str(path)

    def to_bytes(self) -> bytes:
        """The model file's content (how the Dask engine ships a calibrated model to its workers).

        Examples
        --------
        >>> import surveyfuse as sf
        >>> donor, recipient = sf.datasets.make_surveys(n_donor=300, n_recipient=40, seed=0)
        >>> imp = sf.Imputer(["dividends"], ["age", "wage"], method="hotdeck", random_state=0).fit(donor)
        >>> cal = sf.CalibratedImputer(imp, [{"count": "dividends > 0", "value": 2e4}], "weight").fit(recipient, draws=2, seed=1)
        >>> type(sf.Imputer.load(cal.to_bytes())).__name__
        'CalibratedImputer'
        """
        from ..data.model_file import model_bytes

        return model_bytes(*self._state())

    def _state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        self._same_draws(None, None)
        manifest, arrays = self.imputer._state()
        manifest["imputer"]["calibration"] = {
            "targets": [{t.kind: t.text, "value": t.value} for t in self.targets_],
            "pool": self.pool_, "draws": self.draws_, "seed": self.seed_, "weights": self.recipient_weights,
        }
        arrays["calibration/lambda"] = np.asarray(self.lambda_, dtype=np.float64)
        return manifest, arrays

    @classmethod
    def _from_state(cls, imputer: Any, calibration: dict[str, Any], lam: np.ndarray) -> "CalibratedImputer":
        """Rebuild from a model file's ``calibration`` entry and λ (see :meth:`Imputer.load <surveyfuse.Imputer.load>`)."""
        self = cls(imputer, calibration["targets"], calibration["weights"],
                   candidates=int(calibration["pool"]) // int(calibration["draws"]))
        self.targets_ = parse_targets(calibration["targets"], list(imputer.block))
        self.pool_, self.draws_, self.seed_ = int(calibration["pool"]), int(calibration["draws"]), int(calibration["seed"])
        self.lambda_ = np.asarray(lam, dtype=np.float64)
        return self

    def _repr_html_(self) -> str:
        from ..notebook.views import imputer_html

        return imputer_html(self)
