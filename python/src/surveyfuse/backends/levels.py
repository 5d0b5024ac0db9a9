"""Levels for copied donor records: a model of the conditional level, used to match and to rescale.

A backend that copies whole donor records (``forest``, ``hotdeck``) cannot
leave the range of the donors it finds near a recipient. Where those donors'
predictors differ systematically from the recipient's (the top of the income
distribution, where neighbourhoods are wide), the copies carry the
neighbourhood's level: a slope on income comes out attenuated and the
richest recipients get the amounts of the merely rich.

:class:`LevelModel` fits, for each *group* of amounts (the variables tied
together by a declared constraint, or one variable on its own), the
conditional mean ``m(x)`` of the group's summary (the sum of its amounts'
absolute values over their donor means) by a Poisson regression with a log
link on an additive, piecewise-linear basis of the predictors: each number
through ``asinh(x / s)`` (linear near zero, logarithmic in the tail, so a
power law at the top) with hinges at quantiles of its non-zero values, the
frequent categories as indicators; the ridge penalty is chosen by
leave-one-out deviance, so a group the predictors say little about gets a
flat model. The backends use it (see :class:`.resampling.DonorResampler`)

* to *match*: among the donors a backend proposes, prefer those whose
  predicted level is close to the recipient's;
* to *rescale*: multiply the copied amounts of each group by
  ``f = m(x_recipient) / m(x_donor)``, ratio imputation's transfer. One
  positive factor per group keeps what makes a record a record: zeros stay
  zeros, signs stay signs, ``a <= b`` and ``total == a + b`` keep holding, and
  the shares within the group are the donor's. If amounts are ``m(x) * e``
  with the noise ``e`` alike across a neighbourhood, the rescaled draw has the
  recipient's conditional mean instead of the neighbourhood's. Small gaps
  (below about ``deadzone`` in log level) are left alone, where the model's
  noise would only blur the copied distribution, and no factor exceeds
  ``max_factor``;
* to *calibrate* a generative backend's draws, which copy no donor
  (:meth:`LevelModel.calibration`): the same basis fitted to the network's
  own draws gives its level, and each draw is rescaled by the donor's level
  over the network's (with ``bounded=True``, no predictor beyond the donor's
  range extrapolates the fit).

The *transfer elasticity* ``beta`` of a group (``level_elasticity``, forest
only) makes the factor ``f ** beta``: 1 (the default) transfers the whole gap
in predicted level, 0 copies. ``"auto"`` measures it
(:meth:`LevelModel.fit_elasticity`): on held-out donor rows, the weighted
least-squares slope of ``log(amount of the held-out row) - log(amount of a
donor the forest proposes for it)`` on the gap in their predicted log levels,
over the pairs where both are positive, kept within [0, 1]. It says how much
of a gap the *positive* amounts follow. It is not the default because ``m(x)``
is a mean over zeros and positives: where the predictors move mostly who has
an amount (benefits with take-up, capped in size), the full factor also lifts
the copied positive amounts for the take-up the leaf cannot copy, which keeps
means, totals and slopes right but stretches the positive amounts (medians low,
top shares high); ``"auto"`` keeps their shape and gives up part of the mean
(see docs/methods.md for what it does on the CPS blocks). Without
``MIN_ELASTICITY_PAIRS`` such pairs a group keeps the full factor.

Cross-fitting: the donors fall into ``FOLDS`` folds, and a donor is always
compared with a recipient through the model fitted without its fold, for the
donor's level and the recipient's alike. In-sample, a donor with an unusually
large amount lifts its own fitted level, so matching would prefer it and
rescaling shrink it; a donor's level from a model without it, set against the
recipient's from the model with it, errs the other way by the same amount.

Which variables are scaled: amounts, i.e. numeric block variables with a
meaningful zero (non-negative, or signed with a point mass at zero; see
:func:`money_like`), or those the user names, and only if every declared
constraint they appear in survives a common positive factor (a homogeneous
comparison among scaled variables, or a test of a scaled variable against
zero). A variable tied to a constant (``a <= 1000``), to a predictor or to an
unscaled variable is copied as it is.

Proper multiple imputation: an imputation's resample refits the coefficients
under its Bayesian-bootstrap weights (one Newton step from the full-donor
fit, the linearised bootstrap), so the level model's uncertainty enters the
spread between imputations.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import rng
from ..constraints import EXACT, BoolOp, Compare, ConstraintSet
from ..data.features import Features
from ..data.types import Kind, Variable
from .params import AUTO_CHOICE, NAMES, enum, number, numpydoc_entries, param
from .threads import in_threads

#: quantiles of a predictor's non-zero values (on the asinh scale) where the fitted log level may bend
HINGE_QUANTILES = (0.25, 0.5, 0.75, 0.9, 0.97)
#: candidate ridge penalties on the standardised basis (per unit of donor weight), chosen per group by
#: leave-one-out deviance: a block the predictors say little about gets a flat level model, hence factors near 1
RIDGES = (1e-3, 1e-2, 1e-1, 1.0, 10.0)
#: flatter candidates besides, for a generative model's calibration (:meth:`LevelModel.calibration`): where the
#: model's levels are right, a near-constant correction
CALIBRATION_RIDGES = (100.0, 1000.0)
#: donors the penalty is chosen on (a fixed keyed subsample beyond this), and the subsample's seed
RIDGE_SELECTION_ROWS = 20_000
RIDGE_SELECTION_SEED = 0x21D6E
#: the factor is kept within [1 / MAX_FACTOR, MAX_FACTOR] (the default of ``level_max_factor``)
MAX_FACTOR = 8.0
NEWTON_STEPS = 30
#: held-out pairs (both amounts positive) a group's transfer elasticity is measured on, at least; fewer: elasticity 1
MIN_ELASTICITY_PAIRS = 50
#: cross-fitting folds (see the module docstring), assigned by a keyed hash of the donor row
FOLDS = 5
FOLD_SEED = 0x1E7E1
#: categorical predictors enter the level model by their most frequent levels (at least 1% of donors)
MAX_LEVELS = 12
#: an amount whose donor maximum is within this factor of its 95th percentile counts as capped (see :func:`looks_capped`)
BOUNDED_TAIL = 1.5
#: share of exact zeros from which a signed variable counts as an amount (see :func:`money_like`)
SIGNED_ZERO_SHARE = 0.05


def money_like(var: Variable, values: np.ndarray) -> bool:
    """A variable with a meaningful zero, whose level a ratio can transfer.

    Non-negative amounts (zero-inflated or not) and signed amounts with a point
    mass at zero (self-employment, capital gains) qualify; a signed variable
    without zeros (a score, a temperature) is a location, not a level, and
    is copied as it is.
    """
    if var.kind in (Kind.CONTINUOUS, Kind.ZERO_INFLATED):
        return bool(values.size) and float(np.min(values)) >= 0
    if var.kind == Kind.SIGNED:
        return bool(values.size) and float(np.mean(values == 0)) >= SIGNED_ZERO_SHARE
    return False


def looks_capped(values: np.ndarray) -> bool:
    """An amount whose largest donor value is within ``BOUNDED_TAIL`` times its 95th percentile.

    Such a variable has a bound (a legal maximum benefit, a top code, a
    deduction limit): its level stops growing with income, which a ratio of
    fitted means would not know, so it is copied, not rescaled. Incomes and
    taxes have heavy tails instead (a maximum many times the 95th percentile:
    on 5,000 CPS donors 12 for state and local taxes, 7 for wages, 1.3 for
    charitable gifts, 1.4 for housing benefits). Negative values are judged
    alike from below.
    """
    for side in (values[values > 0], -values[values < 0]):
        if side.size >= 50 and side.max() <= BOUNDED_TAIL * np.quantile(side, 0.95):
            return True
    return False


def scalable_columns(variables: list[Variable], Y: np.ndarray, constraints: ConstraintSet | None,
                     chosen: list[str] | None = None) -> list[int]:
    """Indices of the block variables a common positive factor may scale (see module docstring).

    ``chosen`` (names) replaces the automatic choice of money-like, unbounded
    variables; the constraint check applies either way.
    """
    if chosen is None:
        scaled = {v.name for j, v in enumerate(variables) if money_like(v, Y[:, j]) and not looks_capped(Y[:, j])}
    else:
        scaled = {v.name for v in variables if v.name in set(chosen) and not v.kind.is_discrete}
    texts = list(constraints.constraints) if constraints is not None else []
    changed = True
    while changed:  # drop variables whose constraints a factor would break, until nothing changes
        changed = False
        for c in texts:
            cols = c.columns & scaled
            if cols and not _homogeneous(c.node, scaled):
                scaled -= cols
                changed = True
    return [j for j, v in enumerate(variables) if v.name in scaled]


def _homogeneous(node: Any, scaled: set[str]) -> bool:
    """True when multiplying the ``scaled`` columns by one positive number keeps ``node``'s truth."""
    if isinstance(node, BoolOp):
        return _homogeneous(node.left, scaled) and _homogeneous(node.right, scaled)
    assert isinstance(node, Compare)
    if node.lhs.text is not None or node.rhs.text is not None:
        return not (node.columns() & scaled)
    diff = node.lhs.plus(node.rhs, -1.0)
    cols = diff.columns()
    if not cols & scaled:
        return True
    return cols <= scaled and diff.const == 0.0


def linked_groups(variables: list[Variable], columns: list[int], constraints: ConstraintSet | None) -> list[list[int]]:
    """The scaled columns split into groups that share a factor: those tied by a declared constraint.

    A constraint among several scaled variables (``a <= b``, ``t == a + b``)
    holds after scaling only if they share one factor; variables tied to
    nothing get their own, so each follows its own relation to the predictors.
    """
    parent = {j: j for j in columns}

    def root(j: int) -> int:
        while parent[j] != j:
            j = parent[j]
        return j

    index = {variables[j].name: j for j in columns}
    for c in (constraints.constraints if constraints is not None else []):
        tied = sorted(index[name] for name in c.columns if name in index)
        for j in tied[1:]:
            parent[root(j)] = root(tied[0])
    groups: dict[int, list[int]] = {}
    for j in columns:
        groups.setdefault(root(j), []).append(j)
    return list(groups.values())


def equality_texts(variables: list[Variable], columns: list[int], constraints: ConstraintSet | None) -> list[str]:
    """Declared equalities among the scaled variables (restored after rounding integer values)."""
    if constraints is None:
        return []
    names = {variables[j].name for j in columns}
    return [c.text for c in constraints.constraints
            if isinstance(c.node, Compare) and c.node.op == "==" and c.columns and c.columns <= names]


#: how copying backends use the level model (see :class:`.resampling.DonorResampler`)
LEVEL_MODES = ("match+ratio", "match", "ratio", "none")


#: the level parameters of the copying backends (forest, hotdeck): one fragment of their ``param_schema``
LEVEL_PROPERTIES: dict[str, dict[str, Any]] = {
    "levels": enum("match+ratio", list(LEVEL_MODES), "How the level model corrects copied records: prefer donors of the "
                   "recipient's predicted level (match), rescale each copied group of amounts (ratio), both, or neither."),
    "level_bandwidth": number(0.3, "a positive number (log-level units)", "Width, in log-level units, of the preference "
                              "for donors whose predicted level is close to the recipient's.", exclusiveMinimum=0),
    "level_max_factor": number(8.0, "a number >= 1", "No factor exceeds this or falls below its inverse.", minimum=1),
    "level_deadzone": number(0.25, "a number >= 0 (log-level units)", "Gaps in log level below about this are left "
                             "unscaled.", minimum=0),
    "level_factor": enum("linked", ["linked", "record"], "One factor per group of constraint-linked amounts, or one per record."),
    "level_columns": param(None, "null (amounts, chosen from the data) or a list of block variable names",
                           "The block variables the level model rescales (null: the amounts, chosen from the data).",
                           anyOf=[{"type": "null"}, NAMES]),
}


#: level parameters of the forest alone: its measured transfer elasticity (the forest has the held-out pairs it
#: is measured on) and its matching's usage balance (fitted on the forest's proposals for the donors)
FOREST_LEVEL_PROPERTIES: dict[str, dict[str, Any]] = {
    "level_balance": param(False, "true or false", "Weight donors so that matching on levels uses each as often as the "
                           "leaves do: amounts copied unscaled (counts, capped amounts) keep their mean, rescaled ones "
                           "stretch a little more.", type="boolean"),
    "level_elasticity": param(1.0, "'auto' or a number between 0 and 1", "Power of the level factor: 1 transfers the "
                              "whole gap in predicted level, 0 copies, 'auto' measures per group how much of it held-out "
                              "positive amounts follow (keeps their shape, gives up part of the mean).",
                              anyOf=[AUTO_CHOICE, {"type": "number", "minimum": 0, "maximum": 1}]),
}


def document_level_params(cls: type) -> type:
    """Write the entries of the level parameters a backend has, made from :data:`LEVEL_PROPERTIES` and
    :data:`FOREST_LEVEL_PROPERTIES`, where its docstring says ``{level_parameters}`` (one declaration, two backends)."""
    own = cls.param_schema["properties"]
    entries = {k: v for k, v in {**LEVEL_PROPERTIES, **FOREST_LEVEL_PROPERTIES}.items() if k in own}
    cls.__doc__ = cls.__doc__.replace("    {level_parameters}", numpydoc_entries(entries))
    return cls


def level_model(params: dict[str, Any]) -> "LevelModel":
    cols = params["level_columns"]
    return LevelModel(params["level_factor"], None if cols is None else list(cols), float(params["level_max_factor"]),
                      float(params["level_deadzone"]), params.get("level_elasticity", 1.0))


class LevelModel:
    """Fitted log levels ``eta_g(x) = log m_g(x)`` of each factor group's summary, and the factors they give.

    ``factor="linked"`` (default) gives each group of constraint-linked
    scaled variables its own factor; ``"record"`` one factor for them all.
    """

    def __init__(self, factor: str = "linked", columns: list[str] | None = None, max_factor: float = MAX_FACTOR,
                 deadzone: float = 0.0, elasticity: Any = 1.0, bounded: bool = False) -> None:
        self.factor = factor
        self.bounded = bounded
        self.columns = columns
        self.max_factor = max_factor
        self.deadzone = deadzone
        self.elasticity = elasticity

    def fit(self, X: Features, Y: np.ndarray, variables: list[Variable], weights: np.ndarray,
            constraints: ConstraintSet | None = None, n_jobs: int = -1) -> "LevelModel":
        """Fit on the donor; the groups' and folds' regressions run in up to ``n_jobs`` threads."""
        with one_blas_thread():
            return self._fit(X, Y, variables, weights, constraints, n_jobs)

    def _fit(self, X: Features, Y: np.ndarray, variables: list[Variable], weights: np.ndarray,
             constraints: ConstraintSet | None, n_jobs: int) -> "LevelModel":
        self.columns_ = scalable_columns(variables, Y, constraints, self.columns)
        self.groups_ = linked_groups(variables, self.columns_, constraints) if self.factor == "linked" else [self.columns_]
        self.equalities_ = equality_texts(variables, self.columns_, constraints)
        self.integer_ = [j for j in self.columns_ if variables[j].integer]
        self.names_ = [v.name for v in variables]
        w = np.asarray(weights, dtype=np.float64)
        self.active_ = bool(self.columns_) and bool(np.abs(Y[:, self.columns_]).max() > 0)
        if not self.active_:
            return self
        scale = np.average(np.abs(Y), axis=0, weights=w)
        self.summary_scale_ = np.where(scale > 0, scale, 1.0)
        self.target_ = self.summary(Y)
        self._fit_basis(X)
        B = self.basis(X)
        G = len(self.groups_)
        fits = in_threads(lambda g: _best_ridge(B, self.target_[:, g], w), range(G), n_jobs)
        self.coef_ = np.stack([f[0] for f in fits])  # (groups, p)
        self.hess_inv_ = np.stack([f[1] for f in fits])  # (groups, p, p)
        self.ridge_ = np.array([f[2] for f in fits])
        self.donor_fold_ = donor_folds(len(w))

        def fold_fit(kg: tuple[int, int]) -> np.ndarray:  # fold k's model of group g, fitted without fold k's donors
            k, g = kg
            out = self.donor_fold_ != k
            return _poisson_ridge(B[out], self.target_[out, g], w[out], self.ridge_[g], self.coef_[g])[0]

        pairs = [(k, g) for k in range(FOLDS) for g in range(G)]
        self.fold_coef_ = np.stack(in_threads(fold_fit, pairs, n_jobs)).reshape(FOLDS, G, -1)  # (folds, groups, p)
        self.donor_eta_ = self.donor_levels(B)
        self.elasticity_ = np.ones(G) if self.elasticity == "auto" else np.full(G, float(self.elasticity))
        self.elasticity_pairs_ = np.zeros(G, dtype=np.int64)
        return self

    def fit_elasticity(self, X: Features, rows: np.ndarray, donors: np.ndarray, Y: np.ndarray,
                       weights: np.ndarray) -> "LevelModel":
        """Measure each group's transfer elasticity (module docstring) on held-out pairs.

        ``X``, ``Y``: the donor's predictors and block; ``rows`` (n,): held-out
        donor rows; ``donors`` (m, n): the donors the backend, fitted without
        those rows, proposes for them. A pair's gap is taken as sampling takes
        it, both levels from the proposed donor's fold model (which never saw
        that donor). Without ``elasticity="auto"`` nothing changes.
        """
        if not self.active_ or self.elasticity != "auto":
            return self
        s = self.summary(Y)
        r = np.broadcast_to(rows[None, :], donors.shape).ravel()
        d = donors.ravel()
        held_eta = self.recipient_levels(self.basis(X.take(rows)))  # (folds, n, groups)
        column = np.broadcast_to(np.arange(len(rows))[None, :], donors.shape).ravel()
        for g in range(len(self.groups_)):
            both = (s[r, g] > 0) & (s[d, g] > 0)
            self.elasticity_pairs_[g] = int(both.sum())
            if both.sum() < MIN_ELASTICITY_PAIRS:
                continue
            gap = held_eta[self.donor_fold_[d[both]], column[both], g] - self.donor_eta_[d[both], g]
            follow = np.log(s[r[both], g]) - np.log(s[d[both], g])
            w = np.asarray(weights, dtype=np.float64)[r[both]]
            gc = gap - np.average(gap, weights=w)
            spread = float(np.sum(w * gc**2))
            if spread > 0:
                self.elasticity_[g] = float(np.clip(np.sum(w * gc * follow) / spread, 0.0, 1.0))
        return self

    def donor_levels(self, B: np.ndarray, shift: np.ndarray | None = None) -> np.ndarray:
        """Each donor's log levels (n, groups) from its fold's model (plus a resample's ``shift``)."""
        eta = np.empty((B.shape[0], len(self.groups_)))
        for k in range(FOLDS):
            rows = self.donor_fold_ == k
            eta[rows] = _rowwise(B[rows], self.fold_coef_[k] + (0 if shift is None else shift))
        return eta

    def recipient_levels(self, B: np.ndarray, shift: np.ndarray | None = None) -> np.ndarray:
        """The recipients' log levels (folds, n, groups) under each fold's model (plus a resample's ``shift``)."""
        return np.stack([_rowwise(B, self.fold_coef_[k] + (0 if shift is None else shift)) for k in range(FOLDS)])

    def summary(self, Y: np.ndarray) -> np.ndarray:
        """Each group's summary (n, groups): the sum of its variables' absolute values over their donor means."""
        return np.column_stack([(np.abs(Y[:, g]) / self.summary_scale_[g]).sum(axis=1) for g in self.groups_])

    # ---------------------------------------------------------------- basis
    def _fit_basis(self, X: Features) -> None:
        num = X.numeric
        self.num_scale_ = np.ones(num.shape[1])
        self.t_range_ = np.zeros((num.shape[1], 2))
        knots = []
        for j in range(num.shape[1]):
            col = num[:, j]
            nz = np.abs(col[np.isfinite(col) & (col != 0)])
            self.num_scale_[j] = float(np.median(nz)) if nz.size else 1.0
            t = np.arcsinh(col[np.isfinite(col)] / self.num_scale_[j])
            t = t[t != 0]
            ks = np.unique(np.quantile(t, HINGE_QUANTILES)) if np.unique(t).size > len(HINGE_QUANTILES) + 1 else np.zeros(0)
            knots.append(ks)
            self.t_range_[j] = (t.min(), t.max()) if t.size else (0.0, 0.0)
        self.knots_ = knots
        self.levels_kept_ = []
        for j in range(X.codes.shape[1]):
            counts = np.bincount(X.codes[:, j][X.codes[:, j] >= 0], minlength=1)
            order = np.argsort(-counts, kind="stable")[:MAX_LEVELS]
            self.levels_kept_.append(np.sort(order[counts[order] >= 0.01 * len(X)]).astype(np.int64))
        raw = self._raw_basis(X)
        self.basis_mean_ = raw.mean(axis=0)
        sd = raw.std(axis=0)
        self.basis_sd_ = np.where(sd > 0, sd, 1.0)

    def fit_basis(self, X: Features) -> "LevelModel":
        """Fit only the basis (knots, scales, kept levels), for a model that regresses something else on it
        (:class:`~surveyfuse.backends.takeup.TakeUpModel`)."""
        self._fit_basis(X)
        return self

    def basis_state(self) -> dict[str, np.ndarray]:
        """The arrays :meth:`basis` needs (see :meth:`from_basis_state`)."""
        arrays = {"num_scale": self.num_scale_, "basis_mean": self.basis_mean_, "basis_sd": self.basis_sd_,
                  "t_range": self.t_range_}
        arrays.update({f"knots{j}": k for j, k in enumerate(self.knots_)})
        arrays.update({f"levels_kept{j}": k for j, k in enumerate(self.levels_kept_)})
        return arrays

    @classmethod
    def from_basis_state(cls, arrays: dict[str, np.ndarray], bounded: bool = True) -> "LevelModel":
        self = cls(bounded=bounded)
        for key in ("num_scale", "basis_mean", "basis_sd", "t_range"):
            setattr(self, f"{key}_", np.asarray(arrays[key], dtype=np.float64))
        self.knots_ = [np.asarray(arrays[f"knots{j}"], dtype=np.float64) for j in range(len(self.num_scale_))]
        n_cat = sum(1 for k in arrays if k.startswith("levels_kept"))
        self.levels_kept_ = [np.asarray(arrays[f"levels_kept{j}"], dtype=np.int64) for j in range(n_cat)]
        return self

    def _raw_basis(self, X: Features) -> np.ndarray:
        enc = X.encoder
        num = X.numeric
        parts = []
        for j in range(num.shape[1]):
            col = np.where(np.isnan(num[:, j]), enc.medians_[j], num[:, j])
            t = np.arcsinh(col / self.num_scale_[j])
            if self.bounded:  # no extrapolation beyond the donor's range: the level there is the edge's
                t = np.clip(t, min(self.t_range_[j, 0], 0.0), max(self.t_range_[j, 1], 0.0))
            parts.append(t[:, None])
            if self.knots_[j].size:
                parts.append(np.maximum(t[:, None] - self.knots_[j][None, :], 0.0))
        if enc.missing_indicator_.any():
            parts.append(np.isnan(num[:, enc.missing_indicator_]).astype(np.float64))
        for j, levels in enumerate(self.levels_kept_):
            parts.append((X.codes[:, j][:, None] == levels[None, :]).astype(np.float64))
        return np.hstack(parts) if parts else np.zeros((len(X), 0))

    def basis(self, X: Features) -> np.ndarray:
        """Standardised basis with a leading column of ones."""
        raw = (self._raw_basis(X) - self.basis_mean_) / self.basis_sd_
        return np.hstack([np.ones((raw.shape[0], 1)), raw])

    def eta(self, X: Features, coef: np.ndarray | None = None) -> np.ndarray:
        """Log levels (n, groups)."""
        return self.eta_from_basis(self.basis(X), coef)

    def eta_from_basis(self, B: np.ndarray, coef: np.ndarray | None = None) -> np.ndarray:
        return _rowwise(B, self.coef_ if coef is None else coef)

    # ---------------------------------------------------------------- multiple imputation
    def resampled_coef(self, B: np.ndarray, weights: np.ndarray, g: np.ndarray) -> np.ndarray:
        """Coefficients (groups, p) under donor weights ``weights * g`` (``B``: the donors' :meth:`basis`).

        One Newton step from the full-donor fit (the linearised bootstrap):
        cheap, and close to a refit because a resample moves the fit little.
        Sums run row-wise in a fixed order, so every process gets the same numbers.
        """
        wg = weights * g
        mu = np.exp(np.clip(_rowwise(B, self.coef_), -50, 50))  # (n, groups)
        out = np.empty_like(self.coef_)
        for k in range(len(self.groups_)):
            grad = (B * (wg * (self.target_[:, k] - mu[:, k]))[:, None]).sum(axis=0)
            grad -= self.ridge_[k] * wg.sum() * _penalised(self.coef_[k])
            out[k] = self.coef_[k] + self.hess_inv_[k] @ grad
        return out

    def calibration(self, X: Features, Y: np.ndarray, weights: np.ndarray,
                    generated: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The log ratio of the donor's level to a generative model's, ``delta(x)``: coefficients
        (groups, p) and their sandwich covariance (groups, p, p).

        ``generated`` (copies, n, k): the model's draws for the donor's predictors ``X``. The model's
        own log level ``eta_gen(x)`` is this basis fitted to its draws; ``delta`` is then fitted to the
        donor's amounts with ``eta_gen`` as an offset, its penalty chosen by leave-one-out deviance like
        the level model's (with flatter candidates besides), so where the model's levels are right
        ``delta`` stays near a constant instead of carrying the noise of two fits. The covariance is
        the sandwich ``H^-1 (sum w^2 r^2 b b') H^-1``, which heavy tails widen as they should: a
        donor mean made by one large amount is not a level to trust (:meth:`calibrated_log_ratio`).
        """
        copies = generated.shape[0]
        B = self.basis(X)
        w = np.asarray(weights, dtype=np.float64)
        s_gen = self.summary(generated.reshape(copies * len(Y), -1))
        B_gen, w_gen = np.tile(B, (copies, 1)), np.tile(w, copies)
        p = B.shape[1]
        coef, cov = np.zeros((len(self.groups_), p)), np.zeros((len(self.groups_), p, p))
        with one_blas_thread():
            for g in range(len(self.groups_)):
                if not (s_gen[:, g] > 0).any():  # the model never draws the group: nothing to calibrate against
                    continue
                offset = _rowwise(B, _best_ridge(B_gen, s_gen[:, g], w_gen)[0][None])[:, 0]
                coef[g], hinv, _ = _best_ridge(B, self.target_[:, g], w, offset, RIDGES + CALIBRATION_RIDGES)
                score = B * (w * (self.target_[:, g] - np.exp(np.clip(offset + B @ coef[g], -50, 50))))[:, None]
                cov[g] = hinv @ (score.T @ score) @ hinv
        return coef, cov

    def calibrated_log_ratio(self, X: Features, coef: np.ndarray, cov: np.ndarray,
                             shifts: np.ndarray | None = None) -> np.ndarray:
        """Each row's log factor (n, groups): ``delta(x)`` shrunk by ``z^2 / (1 + z^2)``, ``z`` its
        estimate over its standard error, so a correction the donor is sure of is made nearly in
        full and one it is not (a small donor, a heavy tail, the edge of the predictors) mostly left
        out. Row by row (no product across rows), so a row's factor never depends on its chunk.

        ``shifts`` (draws, groups, p): coefficient draws about ``coef`` (:func:`coefficient_draws`
        of the block-diagonal ``cov``); the factors (draws, n, groups) then each add their draw's
        ``B shift`` to the shrunk ``delta``. The draw is not shrunk: the donor's level is uncertain
        by its full standard error even where the network's level agrees with it.
        """
        B = self.basis(X)
        delta = _rowwise(B, coef)
        var = np.column_stack([np.einsum("ij,jk,ik->i", B, c, B) for c in cov])
        z2 = delta**2 / np.maximum(var, 1e-300)
        shrunk = delta * z2 / (1.0 + z2)
        if shifts is None:
            return shrunk
        return np.stack([shrunk + _rowwise(B, shift) for shift in shifts])

    # ---------------------------------------------------------------- the factors
    def apply(self, draws: np.ndarray, recipient_eta: np.ndarray, donor_eta: np.ndarray) -> np.ndarray:
        """Rescale copied records ``draws`` (m, n, k) of donors with log levels ``donor_eta`` (m, n, groups),
        the recipients' ``recipient_eta`` (m, n, groups) from the same (fold's) models.

        Integer variables are rounded, and the declared equalities among them
        restored by moving each rounding remainder onto the equality's total.
        """
        if not self.active_:
            return draws
        gap = (recipient_eta - donor_eta) * self.elasticity_
        if self.deadzone > 0:  # near levels, copy as they are; far apart, correct in full
            gap = gap * -np.expm1(-((gap / self.deadzone) ** 2))
        log_f = np.clip(gap, -np.log(self.max_factor), np.log(self.max_factor))
        out = draws.copy()
        for k, cols in enumerate(self.groups_):
            out[:, :, cols] *= np.exp(log_f[:, :, k])[:, :, None]
        if self.integer_:
            out[:, :, self.integer_] = np.rint(out[:, :, self.integer_])
            if self.equalities_:
                flat = out.reshape(-1, out.shape[2])
                data = {self.names_[j]: flat[:, j] for j in self.columns_}
                ConstraintSet(self.equalities_).repair(data, [self.names_[j] for j in self.columns_],
                                                       integer=[self.names_[j] for j in self.integer_], tolerance=EXACT)
                for j in self.columns_:
                    flat[:, j] = data[self.names_[j]]
        return out

    # ---------------------------------------------------------------- persistence
    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        meta = {"factor": self.factor, "chosen": self.columns, "max_factor": self.max_factor, "deadzone": self.deadzone,
                "elasticity": self.elasticity, "bounded": self.bounded, "active": self.active_, "columns": self.columns_,
                "groups": self.groups_, "equalities": self.equalities_, "integer": self.integer_, "names": self.names_}
        if not self.active_:
            return meta, {}
        arrays = {k: getattr(self, f"{k}_") for k in _ARRAYS}
        arrays.update(elasticity=self.elasticity_, elasticity_pairs=self.elasticity_pairs_, t_range=self.t_range_)
        arrays.update({f"knots{j}": k for j, k in enumerate(self.knots_)})
        arrays.update({f"levels_kept{j}": k for j, k in enumerate(self.levels_kept_)})
        meta["n_knots"], meta["n_categorical"] = len(self.knots_), len(self.levels_kept_)
        return meta, arrays

    @classmethod
    def from_state(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> "LevelModel":
        self = cls(meta["factor"], meta.get("chosen"), float(meta.get("max_factor", MAX_FACTOR)), float(meta.get("deadzone", 0.0)),
                   meta.get("elasticity", 1.0), bool(meta.get("bounded", False)))
        self.active_ = bool(meta["active"])
        self.columns_ = [int(j) for j in meta["columns"]]
        self.groups_ = [[int(j) for j in g] for g in meta["groups"]]
        self.equalities_ = list(meta["equalities"])
        self.integer_ = [int(j) for j in meta["integer"]]
        self.names_ = list(meta["names"])
        if self.active_:
            for key in _ARRAYS:
                setattr(self, f"{key}_", np.asarray(arrays[key], dtype=np.float64))
            self.donor_fold_ = donor_folds(len(self.target_))
            # models saved before the elasticity was measured used the full ratio
            self.elasticity_ = np.asarray(arrays.get("elasticity", np.ones(len(self.groups_))), dtype=np.float64)
            self.elasticity_pairs_ = np.asarray(arrays.get("elasticity_pairs", np.zeros(len(self.groups_))), dtype=np.int64)
            if "t_range" in arrays:  # saved before the range was kept: never bounded
                self.t_range_ = np.asarray(arrays["t_range"], dtype=np.float64)
            self.knots_ = [np.asarray(arrays[f"knots{j}"], dtype=np.float64) for j in range(int(meta["n_knots"]))]
            self.levels_kept_ = [np.asarray(arrays[f"levels_kept{j}"], dtype=np.int64)
                                 for j in range(int(meta["n_categorical"]))]
        return self

    def describe(self) -> dict[str, Any]:
        if not self.active_:
            return {"scaled": [], "elasticity": []}
        return {"scaled": [[self.names_[j] for j in g] for g in self.groups_],
                "elasticity": [round(float(b), 3) for b in self.elasticity_]}


_ARRAYS = ("ridge", "fold_coef", "summary_scale", "num_scale", "basis_mean", "basis_sd", "coef", "hess_inv", "target", "donor_eta")


def _rowwise(B: np.ndarray, coef: np.ndarray) -> np.ndarray:
    """``B @ coef.T`` as row-wise sums (n, groups): a row's value never depends on the rows beside it."""
    return np.column_stack([(B * c[None, :]).sum(axis=1) for c in coef])


def coefficient_draws(cov: np.ndarray, draws: int, seed: int) -> np.ndarray:
    """``draws`` normal draws (draws, q) with covariance ``cov`` (q, q), draw ``d`` keyed by (seed, d).

    The calibrations' per-imputation coefficients under ``mi="auto"`` on a large donor (their
    approximate posterior about the fitted ones): every chunk and Dask partition that samples with
    the same seed gets the same draws, because they depend on no row.
    """
    q = cov.shape[0]
    values, vectors = np.linalg.eigh(0.5 * (cov + cov.T))
    root = vectors * np.sqrt(np.clip(values, 0.0, None))[None, :]
    z = rng.normals(seed, np.arange(q), draws)[:, :, 0]  # (draws, q)
    return z @ root.T


def donor_folds(n: int) -> np.ndarray:
    """The cross-fitting fold (0..FOLDS-1) of each of ``n`` donor rows."""
    return np.minimum((rng.uniforms(FOLD_SEED, np.arange(n), 1)[0, :, 0] * FOLDS).astype(np.int64), FOLDS - 1)


def one_blas_thread() -> Any:
    """The level model's products are small: one BLAS thread is fastest, and on a busy machine
    a pool of threads fighting over the cores makes them ten times slower (measured)."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


def _penalised(coef: np.ndarray) -> np.ndarray:
    out = coef.copy()
    out[0] = 0.0  # the intercept is not penalised
    return out


def _best_ridge(B: np.ndarray, y: np.ndarray, w: np.ndarray, offset: np.ndarray | None = None,
                ridges: tuple[float, ...] = RIDGES) -> tuple[np.ndarray, np.ndarray, float]:
    """The fit (coefficients, H^-1, penalty) of the candidate penalty with the smallest leave-one-out deviance.

    For a penalised Poisson fit, leaving donor i out moves its linear predictor
    by ``-w_i (y_i - mu_i) q_i / (1 - w_i mu_i q_i)``, ``q_i = b_i' H^-1 b_i``
    (Newton's step with the Sherman-Morrison update), so no refit is needed.
    """
    rows = np.arange(len(y))
    if len(y) > RIDGE_SELECTION_ROWS:  # the penalty is chosen on a fixed subsample, then refitted on all rows
        rows = np.flatnonzero(rng.uniforms(RIDGE_SELECTION_SEED, rows, 1)[0, :, 0] < RIDGE_SELECTION_ROWS / len(y))
    best = None
    start = None
    off = None if offset is None else offset[rows]
    for ridge in sorted(ridges, reverse=True):  # from flat to flexible, each fit starting from the last
        coef, hinv = _poisson_ridge(B[rows], y[rows], w[rows], ridge, start, off)
        start = coef
        dev = _loo_deviance(B[rows], y[rows], w[rows], coef, hinv, off)[0]
        if best is None or dev < best[0]:
            best = (dev, coef, hinv, ridge)
    assert best is not None
    _, coef, hinv, ridge = best
    if len(rows) < len(y):
        coef, hinv = _poisson_ridge(B, y, w, ridge, coef, offset)
    return coef, hinv, ridge


def _loo_deviance(B: np.ndarray, y: np.ndarray, w: np.ndarray, coef: np.ndarray,
                  hinv: np.ndarray, offset: np.ndarray | None = None) -> tuple[float, np.ndarray]:
    """Poisson deviance of the leave-one-out predictions, and those log levels (see :func:`_best_ridge`)."""
    eta = (B * coef[None, :]).sum(axis=1) + (0.0 if offset is None else offset)
    mu = np.exp(np.clip(eta, -50, 50))
    q = ((B @ hinv) * B).sum(axis=1)
    h = np.minimum(w * mu * q, 0.99)
    loo = eta - w * (y - mu) * q / (1 - h)
    mu_loo = np.exp(np.clip(loo, -50, 50))
    with np.errstate(divide="ignore", invalid="ignore"):
        dev = float((w * (np.where(y > 0, y * np.log(y / mu_loo), 0.0) - (y - mu_loo))).sum())
    return dev, loo


def _poisson_ridge(B: np.ndarray, y: np.ndarray, w: np.ndarray, ridge: float, start: np.ndarray | None = None,
                   offset: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Weighted Poisson regression (log link, an optional offset) with a ridge penalty by damped Newton
    steps; coefficients and H^-1."""
    p = B.shape[1]
    off = 0.0 if offset is None else offset
    lam = ridge * w.sum()
    pen = np.full(p, lam)
    pen[0] = 0.0
    if start is None:
        coef = np.zeros(p)
        coef[0] = np.log(max(np.average(y, weights=w), 1e-300)) - (0.0 if offset is None else np.average(offset, weights=w))
    else:
        coef = start.copy()

    def loss(c: np.ndarray) -> float:
        eta = np.clip(B @ c + off, -50, 50)
        return float((w * (np.exp(eta) - y * eta)).sum() + 0.5 * (pen * c * c).sum())

    current = loss(coef)
    H = np.eye(p)
    for _ in range(NEWTON_STEPS):
        mu = np.exp(np.clip(B @ coef + off, -50, 50))
        grad = B.T @ (w * (mu - y)) + pen * coef
        H = (B * (w * mu)[:, None]).T @ B + np.diag(pen) + 1e-9 * np.eye(p)
        step = np.linalg.solve(H, grad)
        t = 1.0
        while t > 1e-4:
            trial = coef - t * step
            new = loss(trial)
            if new <= current:
                break
            t *= 0.5
        if t <= 1e-4:
            break
        coef, improvement = trial, current - new
        current = new
        if improvement <= 1e-10 * (abs(current) + 1.0):
            break
    mu = np.exp(np.clip(B @ coef + off, -50, 50))
    H = (B * (w * mu)[:, None]).T @ B + np.diag(pen) + 1e-9 * np.eye(p)
    return coef, np.linalg.inv(H)
