"""The estimator: fit p(block | predictors) on a donor, draw blocks for a recipient.

:class:`Imputer` owns everything around a backend: checking and encoding the
user's tables, donor weights, screening donor rows against the declared
constraints, turning draws back into the user's values, enforcing the
constraints on the draws, and the long output format.
"""

from __future__ import annotations

import time
import warnings
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.utils import metadata_routing

from . import rng
from .backends import FitContext, backend_from_state, make_backend
from .constraints import ConstraintSet
from .data.features import FeatureEncoder
from .data.coding import check_predictor_coding
from .data.frames import as_pandas, check_cell_columns, check_columns, long_output, mark_nesting
from .data.types import Variable, decode_values, encode_discrete, infer_variable, numeric_values
from .errors import SurveyfuseError, SurveyfuseWarning, check_draws, check_seed, row_label
from .surveys.diagnostics import SupportModel
from .surveys.harmonise import Harmoniser
from .pipeline.memory import check_memory
from .methods import META_METHODS, parse_method
from .data.model_file import load_model, model_bytes, prefixed, save_model, unprefixed

#: how often a (row, draw) that breaks a constraint is drawn again before repair
MAX_REDRAWS = 10
#: donor rows left out (share of the usable donor weight) above which the run warns, or refuses when strict
DROPPED_WARN_SHARE = 0.01


class Imputer(BaseEstimator):
    """Learn a block's joint distribution given predictors, then draw it for new rows.

    A scikit-learn estimator: ``__init__`` only stores the parameters
    (``get_params``, ``set_params``, ``sklearn.base.clone`` and the ``repr``
    work), :meth:`fit` returns ``self``, learned attributes end in ``_``.

    Parameters
    ----------
    block : list of str
        Columns observed in the donor only, imputed jointly.
    predictors : list of str
        Columns present in both donor and recipient.
    method : str or dict
        Backend name (see :func:`surveyfuse.available_methods`) or
        ``{"name": ..., "params": {...}}``.
    params : dict, optional
        Backend parameters (merged over those in ``method``).
    categorical : list of str, optional
        Columns to treat as categorical whatever their dtype.
    weights : str, optional
        Donor column of sampling weights.
    constraints : list of str, optional
        Identities the imputed records must satisfy (see :mod:`surveyfuse.constraints`).
    random_state : int, optional
        Seed for fitting (and the default seed for sampling).
    max_donor_rows : int, optional
        Fit on a simple random sample (without replacement, seeded by
        ``random_state``) of at most this many usable donor rows. Sampling
        weights keep their meaning: every row's chance is equal.
    harmonise : dict, optional
        Rules mapping each survey's columns onto the shared predictor names
        (see :mod:`surveyfuse.surveys.harmonise`); the recipient's own columns are
        what the output carries.
    flag_off_support : bool
        Add a column ``_off_support`` marking recipient rows outside the
        donor's support (see :mod:`surveyfuse.surveys.diagnostics`).
    tolerance : dict, optional
        ``{"abs": ..., "rel": ...}``: how far the two sides of a constraint
        may differ and still hold (default ``abs=1e-6``, ``rel=1e-5`` of the
        magnitudes of its floating-point terms; see docs/constraints.md).
        Constraints may carry their own (``{"constraint": ..., "tolerance": ...}``).
    strict : bool
        Refuse (``donors_dropped``) instead of warning when the constraints
        leave out more than 1% of the donor weight.
    verbose : bool
        Let the method report its progress.

    Attributes
    ----------
    method_ : str
        The fitted method (the chosen one when ``method="auto"``).
    variables_ : list of Variable
        Each block variable's inferred kind (numeric, zero-inflated, binary, ...).
    fit_report_ : dict
        Donor rows used and dropped (and why), the method's settings, fit time.
    sample_report_ : dict
        After :meth:`sample`: the constraint check of the draws, rows, seconds.

    Examples
    --------
    >>> import surveyfuse as sf
    >>> donor, recipient = sf.datasets.make_surveys(n_donor=400, n_recipient=50, seed=0)
    >>> imp = sf.Imputer(block=["interest", "dividends", "qualified"], predictors=["age", "married", "wage"],
    ...                  categorical=["married"], weights="weight", constraints=["qualified <= dividends"],
    ...                  random_state=0).fit(donor)
    >>> imp.method_, [v.kind.value for v in imp.variables_]
    ('forest', ['zero_inflated', 'zero_inflated', 'zero_inflated'])
    >>> out = imp.sample(recipient, draws=3, seed=1)
    >>> len(out), imp.sample_report_["constraints"]["ok"]
    (150, True)
    """

    #: the donor is data, not metadata to route: no ``set_fit_request`` (scikit-learn makes one for each fit argument)
    __metadata_request__fit = {"donor": metadata_routing.UNUSED}

    def __init__(
        self,
        block: list[str],
        predictors: list[str],
        method: Any = None,
        params: dict[str, Any] | None = None,
        categorical: list[str] | None = None,
        weights: str | None = None,
        constraints: list[str] | None = None,
        random_state: int | None = None,
        verbose: bool = False,
        max_donor_rows: int | None = None,
        harmonise: dict[str, Any] | None = None,
        flag_off_support: bool = False,
        tolerance: dict[str, float] | None = None,
        strict: bool = False,
    ) -> None:
        self.block = block
        self.predictors = predictors
        self.method = method
        self.params = params
        self.categorical = categorical
        self.weights = weights
        self.constraints = constraints
        self.random_state = random_state
        self.verbose = verbose
        self.max_donor_rows = max_donor_rows
        self.harmonise = harmonise
        self.flag_off_support = flag_off_support
        self.tolerance = tolerance
        self.strict = strict

    # ------------------------------------------------------------------ fit
    def _check_roles(self) -> None:
        block, predictors = list(self.block or []), list(self.predictors or [])
        if not block:
            raise SurveyfuseError("bad_argument", "block must name at least one column", argument="block")
        for role, cols in (("block", block), ("predictors", predictors)):
            if not all(isinstance(c, str) for c in cols):
                raise SurveyfuseError("bad_argument", f"{role} must be a list of column names", argument=role)
            seen: set[str] = set()
            for c in cols:
                if c in seen:
                    raise SurveyfuseError("duplicate_column", f"column '{c}' is named twice in {role}", column=c)
                seen.add(c)
        both = [c for c in predictors if c in block]
        if both:
            raise SurveyfuseError(
                "predictor_in_block",
                f"column '{both[0]}' is both a predictor and in the block; a column is either observed "
                f"in both surveys (predictor) or imputed (block)",
                column=both[0],
            )
        if self.weights is not None and (self.weights in block or self.weights in predictors):
            raise SurveyfuseError(
                "duplicate_column", f"weights column '{self.weights}' is also a predictor or block column",
                column=self.weights,
            )

    def fit(self, donor: Any) -> "Imputer":
        """Learn the block's distribution given the predictors from the donor.

        Parameters
        ----------
        donor : DataFrame or pyarrow Table
            Observes the block and the predictors. Rows with a missing block
            value, zero weight or breaking a declared constraint are left out
            (counted in ``fit_report_``).

        Returns
        -------
        Imputer
            ``self``, fitted.

        Examples
        --------
        >>> import surveyfuse as sf
        >>> donor, recipient = sf.datasets.make_surveys(n_donor=400, n_recipient=50, seed=0)
        >>> imp = sf.Imputer(["interest", "dividends"], ["age", "wage"], method="hotdeck").fit(donor)
        >>> imp.fit_report_["donor_rows_used"], imp.method_
        (400, 'hotdeck')
        """
        t0 = time.perf_counter()
        self._check_roles()
        block, predictors = list(self.block), list(self.predictors)
        frame, _ = as_pandas(donor, role="donor")
        self.harmoniser_ = Harmoniser(self.harmonise)
        frame = self.harmoniser_.apply(frame, "donor")
        check_columns(frame, predictors, role="predictor", table="donor")
        check_columns(frame, block, role="block", table="donor")
        if self.weights is not None:
            check_columns(frame, [self.weights], role="weights", table="donor")
        for role, cols in (("predictor", predictors), ("block", block), ("weights", [self.weights] if self.weights else [])):
            check_cell_columns(frame, cols, role=role, table="donor")
        for c in self.categorical or []:
            if c not in block and c not in predictors:
                raise SurveyfuseError(
                    "missing_column", f"categorical column '{c}' is neither a predictor nor in the block", column=c
                )
        if len(frame) == 0:
            raise SurveyfuseError("empty_donor", "the donor has no rows", table="donor")
        constraint_set = ConstraintSet(self.constraints or [], self.tolerance).validate_columns(predictors + block)
        name, params, auto_report = self._choose_method(frame)
        backend = make_backend(name, params)  # refuses unknown methods and parameters early

        weights = self._donor_weights(frame)
        categorical = set(self.categorical or [])
        variables = [infer_variable(frame[c], categorical=c in categorical) for c in block]
        Y = np.column_stack([_encode_block_column(frame[v.name], v) for v in variables])

        report: dict[str, Any] = {"donor_rows": int(len(frame))}
        keep = np.ones(len(frame), dtype=bool)
        missing_block = np.isnan(Y).any(axis=1)
        report["dropped_missing_block"] = int(missing_block.sum())
        keep &= ~missing_block
        zero_weight = weights == 0
        report["dropped_zero_weight"] = int((zero_weight & keep).sum())
        keep &= ~zero_weight
        warned = _warn_missing_block(missing_block & ~zero_weight, weights)
        breaking = {}
        if len(constraint_set):
            keep, donor_check = self._screen_donors(frame, constraint_set, variables, Y, weights, keep)
            breaking = {t: donor_check["dropped"].get(t, {}).get("rows", 0) for t in constraint_set.texts}
            report["donor_constraints"] = donor_check
            warned += donor_check.pop("warnings", [])
        report["dropped_breaking_constraints"] = breaking
        if warned:
            report["warnings"] = warned
        if not keep.any():
            if len(constraint_set) and not (missing_block | zero_weight).all():
                raise SurveyfuseError(
                    "constraint_unsatisfiable", "no donor row satisfies all declared constraints",
                    constraints=constraint_set.texts,
                )
            raise SurveyfuseError(
                "empty_donor",
                "the donor has no usable rows (every row has a missing block value or zero weight)",
                table="donor",
            )
        if self.max_donor_rows is not None:
            cap = self.max_donor_rows
            if isinstance(cap, bool) or not isinstance(cap, (int, np.integer)) or cap < 1:
                raise SurveyfuseError("bad_argument", f"max_donor_rows must be a positive integer, got {cap!r}", argument="max_donor_rows")
            usable = np.flatnonzero(keep)
            if usable.size > cap:
                chosen = np.random.default_rng(int(self.random_state or 0)).choice(usable, size=int(cap), replace=False)
                keep = np.zeros_like(keep)
                keep[chosen] = True
                report["subsampled_to"] = int(cap)
        report["donor_rows_used"] = int(keep.sum())

        used = frame.loc[keep] if not keep.all() else frame
        for c in predictors:
            if not used[c].notna().any():
                raise SurveyfuseError(
                    "bad_data", f"predictor '{c}' is missing on every usable donor row, so it cannot inform the "
                    f"imputation; drop it from the predictors", column=c, table="donor",
                )
        self.encoder_ = FeatureEncoder(predictors, sorted(categorical & set(predictors))).fit(used)
        X = self.encoder_.transform(used)
        w = weights[keep]
        context = FitContext(
            variables=variables,
            weights=w / w.mean(),
            constraints=constraint_set,
            random_state=int(self.random_state or 0),
            verbose=self.verbose,
        )
        self.variables_ = variables
        self.constraint_set_ = constraint_set
        name, self.backend_ = self._fit_backend(name, backend, lambda b: b.fit(X, Y[keep], context), auto_report)
        self.method_ = name
        self.support_ = SupportModel().fit(X) if self.flag_off_support else None
        report["method"] = name
        if auto_report is not None:
            report["auto"] = auto_report
        report["method_params"] = self.backend_.describe()
        report["proper_imputations"] = self.backend_.proper_imputations()
        report["fit_seconds"] = round(time.perf_counter() - t0, 3)
        self.fit_report_ = report
        return self

    def _fit_backend(self, name: str, backend: Any, fit: Any, report: dict[str, Any] | None) -> tuple[str, Any]:
        """(method, fitted backend): ``fit(backend)``; :class:`~surveyfuse.evaluate.auto.AutoImputer` falls back
        to the next candidate when the chosen one fails its own fit check on the whole donor."""
        return name, fit(backend)

    def _choose_method(self, frame: pd.DataFrame) -> tuple[str, dict[str, Any], dict[str, Any] | None]:
        """(method, its params, the selection report or None) to fit on the checked donor ``frame``.

        The method named; :class:`~surveyfuse.evaluate.auto.AutoImputer` overrides this to choose one.
        """
        name, params = parse_method(self.method, self.params)
        if name in META_METHODS:
            raise SurveyfuseError(
                "unknown_method",
                f"method '{name}' chooses among methods by donor-only validation, so it is an estimator of its own: "
                f"use surveyfuse.AutoImputer(block, predictors, params={{...}}) (specs, the CLI, impute() and R "
                f"accept method='{name}' as they are)",
                method=name,
            )
        return name, params, None

    def _screen_donors(self, frame, constraint_set, variables, Y, weights, keep):
        """Repair donor rows that miss an identity by rounding only; leave out, and warn about, the rest.

        ``Y`` gets the repaired values; returns the rows to keep and the report.
        """
        numeric = [v for v in variables if not v.kind.is_discrete]
        screen = constraint_set.screen(
            frame, mutable=[v.name for v in numeric], integer=[v.name for v in numeric if v.integer],
            weights=weights, rows=keep,
        )
        for j, v in enumerate(variables):
            if v.name in screen.values:
                Y[:, j] = screen.values[v.name]
        check = screen.report
        if check["dropped_rows"] and check["dropped_weight_share"] > DROPPED_WARN_SHARE:
            message = _dropped_message(check, self.strict)
            if self.strict:
                raise SurveyfuseError(
                    "donors_dropped", message + ". Strict mode refuses to fit without them: correct those rows, "
                    "or give the constraint a wider 'tolerance' if the differences are rounding",
                    rows=check["dropped_rows"], share=round(check["dropped_weight_share"], 6),
                )
            warnings.warn(SurveyfuseWarning("donors_dropped", message), stacklevel=3)
            check["warnings"] = [message]
        return keep & screen.keep, check

    def _donor_weights(self, frame: pd.DataFrame) -> np.ndarray:
        if self.weights is None:
            return np.ones(len(frame))
        w = numeric_values(frame[self.weights], role="weights")
        bad = ~np.isfinite(w) | (w < 0)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise SurveyfuseError(
                "bad_weights",
                f"weights column '{self.weights}' must be finite and >= 0, but row {row_label(row)} holds {float(w[row])}",
                column=self.weights,
                row=row,
            )
        if not (w > 0).any():
            raise SurveyfuseError("bad_weights", f"weights column '{self.weights}' is zero on every row", column=self.weights)
        return w

    # ------------------------------------------------------------------ sample
    def _check_fitted(self) -> None:
        if not hasattr(self, "backend_"):
            raise SurveyfuseError("not_fitted", "this Imputer is not fitted yet; call fit(donor) first")

    def sample(self, recipient: Any, draws: int | None = 20, seed: int | None = None, row_offset: int = 0,
               include: bool = False) -> Any:
        """Draw ``draws`` complete blocks for every recipient row; long format.

        Parameters
        ----------
        recipient : DataFrame or pyarrow Table
            Observes the predictors (not the block); never modified.
        draws : int
            Imputations per row.
        seed : int, optional
            Seed of the draws (default: ``random_state``). A row's draws depend
            only on (seed, row, draw).
        row_offset : int
            Position of the first row in the whole file, so chunks of one file
            reproduce the whole-file draws.
        include : bool
            Add the original recipient rows first as ``_imp == 0`` with the
            block missing (mice's ``include = TRUE``, Stata's ``mi import flong``).

        Returns
        -------
        DataFrame or pyarrow Table
            The recipient's columns unchanged, the block, ``_imp`` (1..draws)
            and ``_row`` (0-based recipient row + ``row_offset``), ordered by
            ``_imp`` then ``_row``, in the input's table type. The constraint
            check of the result, and warnings about predictors coded
            differently from the donor, are in ``sample_report_``.

        Examples
        --------
        >>> import surveyfuse as sf
        >>> donor, recipient = sf.datasets.make_surveys(n_donor=400, n_recipient=50, seed=0)
        >>> imp = sf.Imputer(["interest", "dividends"], ["age", "wage"], method="hotdeck", random_state=0).fit(donor)
        >>> whole = imp.sample(recipient, draws=2, seed=5)
        >>> part = imp.sample(recipient.iloc[20:], draws=2, seed=5, row_offset=20)
        >>> bool((whole[whole["_row"] >= 20]["dividends"].to_numpy() == part["dividends"].to_numpy()).all())
        True
        """
        return self._sample(recipient, draws, seed, row_offset, include)

    def _sample(self, recipient: Any, draws: int | None, seed: int | None, row_offset: int, include: bool,
                tilt: Any = None) -> Any:
        """:meth:`sample`, drawing through ``tilt`` (a :class:`~surveyfuse.surveys.calibrate.CalibratedImputer`) when given."""
        self._check_fitted()
        t0 = time.perf_counter()
        draws = check_draws(20 if draws is None else draws)  # None: the default, as everywhere else
        seed = check_seed(self.random_state if seed is None else seed)
        original, kind = as_pandas(recipient, role="recipient")
        present = [c for c in self.block if c in original.columns]
        if present:
            raise SurveyfuseError(
                "block_in_recipient",
                f"the recipient already has block column '{present[0]}'; drop it first, surveyfuse never "
                f"overwrites the recipient's data",
                column=present[0],
            )
        held = max(draws, tilt.pool_) if tilt is not None else draws  # calibration draws a pool
        held += bool(include)  # the original rows are one more copy of the recipient
        check_memory(len(original), held, len(original.columns) + len(self.variables_) + 2, len(self.variables_), chunked=False)
        try:
            frame = self.harmoniser_.apply(original, "recipient", needed=list(self.predictors))
            check_columns(frame, list(self.predictors), role="predictor", table="recipient")
            check_cell_columns(frame, list(self.predictors), role="predictor", table="recipient")
            if len(frame) == 0:
                raise SurveyfuseError("empty_recipient", "the recipient has no rows", table="recipient")
            coding = check_predictor_coding(self.encoder_.variables_, frame)
            rows = np.arange(len(frame), dtype=np.int64) + int(row_offset)
            block_values, report = self.draw_block(frame, rows, draws, seed, tilt=tilt)
        except SurveyfuseError as exc:
            raise _at_offset(exc, int(row_offset)) from None
        if tilt is not None and len(frame):
            report["calibrated_totals"] = tilt._weighted_totals(original, block_values, draws)
        out = long_output(recipient, kind, block_values, draws, row_offset=int(row_offset), include=bool(include),
                          imputed=list(self.block))
        # calibration mixes resamples across imputations (see surveys.calibrate): not nested
        nested = None if tilt is not None else self.backend_.nested_resamples()
        out = mark_nesting(out, self.method_, nested)
        report.update(recipient_rows=int(len(frame)), draws=draws, seed=seed, nested_resamples=nested,
                      sample_seconds=round(time.perf_counter() - t0, 3))
        if coding:
            report["warnings"] = coding
        self.sample_report_ = report
        return out

    def draw_block(self, frame: pd.DataFrame, rows: np.ndarray, draws: int, seed: int,
                   tilt: Any = None) -> tuple[dict[str, pd.Series], dict[str, Any]]:
        """The block's draws for already-harmonised rows, without the long table.

        The building block of :meth:`sample` and of the Dask engine:
        ``frame`` holds the predictors, ``rows`` the global row numbers.
        Returns each block column (length ``draws * len(frame)``, draw-major)
        and the sample report. ``tilt`` (a
        :class:`~surveyfuse.surveys.calibrate.CalibratedImputer`) chooses the draws
        among candidates instead.

        Examples
        --------
        >>> import surveyfuse as sf
        >>> donor, recipient = sf.datasets.make_surveys(n_donor=400, n_recipient=50, seed=0)
        >>> import numpy as np
        >>> imp = sf.Imputer(["interest"], ["age", "wage"], method="hotdeck").fit(donor)
        >>> block, report = imp.draw_block(recipient, np.arange(len(recipient)), draws=2, seed=0)
        >>> len(block["interest"])
        100
        """
        X = self.encoder_.transform(frame)
        n = len(frame)
        if tilt is not None and n:
            D, report = tilt._tilted_draws(frame, X, rows, draws, seed)
        else:
            D, report = self._checked_draws(frame, X, rows, draws, seed)
        flat = D.reshape(draws * n, len(self.variables_))  # explicit width: an empty recipient gives an empty table
        block = {v.name: decode_values(flat[:, j], v) for j, v in enumerate(self.variables_)}
        if self.support_ is not None:
            flags = self.support_.flags(X)["off_support"].to_numpy()
            block["_off_support"] = pd.Series(np.tile(flags, draws))
            report["rows_off_support"] = int(flags.sum())
        return block, report

    def _checked_draws(self, frame, X, rows, draws, seed):
        """Backend draws with the declared constraints enforced and reported."""
        n = len(frame)
        D = self.backend_.sample(X, rows, draws, seed) if n else np.zeros((draws, 0, len(self.variables_)))
        cs = self.constraint_set_
        if len(cs) and n:
            return self._enforce(frame, X, rows, D, draws, seed)
        empty = {"rows_checked": 0, "violations": {}, "repaired": {}, "ok": True}
        return D, {"constraints": cs.check(self._check_frame(frame, D, draws)).to_dict() if n else empty}

    def _check_frame(self, frame: pd.DataFrame, D: np.ndarray, draws: int) -> dict[str, np.ndarray]:
        """Predictor + decoded block values for constraint checks, draw-major."""
        cols = self.constraint_set_.constraints
        needed = set().union(*[c.columns for c in cols]) if cols else set()
        data: dict[str, np.ndarray] = {}
        n = len(frame)
        for c in needed & set(self.predictors):
            data[c] = np.tile(frame[c].to_numpy(), draws)
        flat = D.reshape(draws * n, -1)
        for j, v in enumerate(self.variables_):
            if v.name in needed:
                data[v.name] = decode_values(flat[:, j], v).to_numpy()
        if not data:
            data["_"] = np.zeros(draws * n)
        return data

    def _enforce(self, frame, X, rows, D, draws, seed):
        """Redraw (row, draw) pairs that break a constraint, then repair by projection."""
        cs = self.constraint_set_
        n = len(frame)
        D = D if D.flags.writeable else D.copy()
        redrawn = 0
        for attempt in range(1, MAX_REDRAWS + 1):
            bad = cs.violating_rows(self._check_frame(frame, D, draws)).reshape(draws, n)
            if not bad.any():
                break
            bad_rows = np.flatnonzero(bad.any(axis=0))
            fresh = self.backend_.sample(X.take(bad_rows), rows[bad_rows], draws, rng.derive_seed(seed, attempt))
            sub = bad[:, bad_rows]
            block_sub = D[:, bad_rows]
            block_sub[sub] = fresh[sub]
            D[:, bad_rows] = block_sub
            redrawn += int(sub.sum())
        data = self._check_frame(frame, D, draws)
        before = cs.check(data)
        repaired: dict[str, int] = {}
        if not before.ok:
            numeric = [v for v in self.variables_ if not v.kind.is_discrete]
            work = dict(data)  # repair swaps in float64 copies of the block columns it moves
            repaired = cs.repair(work, [v.name for v in numeric], integer=[v.name for v in numeric if v.integer])
            flat = D.reshape(draws * n, -1)
            for j, v in enumerate(self.variables_):
                if v.name in work and not v.kind.is_discrete:
                    flat[:, j] = work[v.name]
            D = flat.reshape(draws, n, -1)
        after = cs.check(self._check_frame(frame, D, draws))
        after.repaired = repaired
        report = {"constraints": after.to_dict(), "redrawn": redrawn}
        return D, report

    # ------------------------------------------------------------------ persistence
    def save(self, path: str) -> str:
        """Write a model file: a JSON manifest plus numeric arrays, no pickle.

        Any surveyfuse (Python, R or the CLI) loads it with :meth:`load`; see
        :mod:`surveyfuse.data.model_file`. Returns the path.

        Examples
        --------
        >>> import surveyfuse as sf
        >>> donor, recipient = sf.datasets.make_surveys(n_donor=400, n_recipient=50, seed=0)
        >>> import os, tempfile
        >>> imp = sf.Imputer(["interest", "dividends"], ["age", "wage"], method="hotdeck", random_state=0).fit(donor)
        >>> path = imp.save(os.path.join(tempfile.mkdtemp(), "model.sfm"))
        >>> again = sf.Imputer.load(path)
        >>> again.sample(recipient, draws=2, seed=1).equals(imp.sample(recipient, draws=2, seed=1))
        True
        """
        manifest, arrays = self._state()
        save_model(path, manifest, arrays)
        return str(path)

    def to_bytes(self) -> bytes:
        """The model file's content as bytes: how a fitted model travels to Dask workers.

        Examples
        --------
        >>> import surveyfuse as sf
        >>> donor, recipient = sf.datasets.make_surveys(n_donor=400, n_recipient=50, seed=0)
        >>> imp = sf.Imputer(["interest"], ["age", "wage"], method="hotdeck").fit(donor)
        >>> sf.Imputer.load(imp.to_bytes()).method_
        'hotdeck'
        """
        return model_bytes(*self._state())

    def _state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        self._check_fitted()
        enc_meta, enc_arrays = self.encoder_.get_state()
        be_meta, be_arrays = self.backend_.get_state()
        manifest = {
            "imputer": {
                "block": list(self.block),
                "predictors": list(self.predictors),
                "categorical": list(self.categorical or []),
                "weights": self.weights,
                "constraints": list(self.constraints or []),
                "tolerance": self.tolerance,
                "strict": bool(self.strict),
                "random_state": self.random_state,
                "harmonise": self.harmonise,
                "flag_off_support": bool(self.flag_off_support),
                "calibration": None,  # a CalibratedImputer's file fills it in
                "method": self.method_,
                "variables": [v.to_json() for v in self.variables_],
                "fit_report": self.fit_report_,
            },
            "encoder": enc_meta,
            "backend": be_meta,
        }
        arrays = {**prefixed(enc_arrays, "encoder"), **prefixed(be_arrays, "backend")}
        if self.support_ is not None:
            sup_meta, sup_arrays = self.support_.get_state()
            manifest["support"] = sup_meta
            arrays.update(prefixed(sup_arrays, "support"))
        return manifest, arrays

    @classmethod
    def load(cls, path: Any) -> Any:
        """Load a model file written by :meth:`save` (or its bytes); refuses anything else.

        Nothing is unpickled: a file that is not a surveyfuse model raises
        ``SurveyfuseError("model_unrecognised")``. A calibrated model's file
        loads as its :class:`~surveyfuse.surveys.calibrate.CalibratedImputer`.

        Examples
        --------
        >>> import surveyfuse as sf
        >>> try:
        ...     sf.Imputer.load(b"not a model")
        ... except sf.SurveyfuseError as exc:
        ...     print(exc.code)
        model_unrecognised
        """
        manifest, arrays = load_model(path)
        try:
            meta = manifest["imputer"]
            self = cls(
                block=meta["block"], predictors=meta["predictors"], method=meta["method"],
                categorical=meta["categorical"], weights=meta["weights"], constraints=meta["constraints"],
                random_state=meta["random_state"], harmonise=meta.get("harmonise"),
                tolerance=meta.get("tolerance"), strict=bool(meta.get("strict", False)),
            )
            self.harmoniser_ = Harmoniser(self.harmonise)
            self.flag_off_support = bool(meta.get("flag_off_support", False))
            self.support_ = SupportModel.from_state(manifest["support"], unprefixed(arrays, "support")) if "support" in manifest else None
            cal = meta.get("calibration")
            self.encoder_ = FeatureEncoder.from_state(manifest["encoder"], unprefixed(arrays, "encoder"))
            self.variables_ = [Variable.from_json(v) for v in meta["variables"]]
            self.constraint_set_ = ConstraintSet(self.constraints, self.tolerance)
            self.method_ = meta["method"]
            self.fit_report_ = meta["fit_report"]
            self.backend_ = backend_from_state(self.method_, manifest["backend"], unprefixed(arrays, "backend"))
            if cal is not None:
                from .surveys.calibrate import CalibratedImputer

                return CalibratedImputer._from_state(self, cal, arrays["calibration/lambda"])
        except SurveyfuseError:
            raise
        except (KeyError, TypeError, ValueError) as exc:
            where = "model bytes" if isinstance(path, (bytes, bytearray)) else f"'{path}'"
            raise SurveyfuseError("model_unrecognised", f"{where} is not a valid surveyfuse model ({exc!r})") from None
        return self

    def _repr_html_(self) -> str:
        from .notebook.views import imputer_html

        return imputer_html(self)

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, str]:
        """Jupyter shows our own view, not scikit-learn's estimator diagram."""
        return {"text/plain": repr(self), "text/html": self._repr_html_()}


def _at_offset(exc: SurveyfuseError, offset: int) -> SurveyfuseError:
    """An error about row r of a chunk that starts at ``offset`` names row r + offset of the file."""
    row = exc.context.get("row")
    if not offset or not isinstance(row, (int, np.integer)):
        return exc
    message = exc.message.replace(f"row {row}", f"row {row + offset}", 1)
    return SurveyfuseError(exc.code, message, **{**exc.context, "row": int(row) + offset})


def _warn_missing_block(missing: np.ndarray, weights: np.ndarray) -> list[str]:
    """Donor rows without a complete block are left out; past 1% of the weight that is said out loud."""
    total = float(weights[weights > 0].sum()) or 1.0
    share = float(weights[missing].sum()) / total
    if not missing.any() or share <= DROPPED_WARN_SHARE:
        return []
    message = (f"{int(missing.sum())} donor rows ({share:.1%} of the donor weight) have a missing value in the block "
               f"and were left out of fitting")
    warnings.warn(SurveyfuseWarning("donors_dropped", message), stacklevel=3)
    return [message]


def _dropped_message(check: dict[str, Any], strict: bool = False) -> str:
    """How many donor rows the constraints left out, and the worst of them, per constraint."""
    tol = check["tolerance"]
    parts = []
    for text, d in check["dropped"].items():
        worst = ""
        if d.get("largest_violation") is not None:
            rel = f" ({d['largest_relative']:.2%} of its terms)" if d.get("largest_relative") is not None else ""
            worst = f", the largest by {d['largest_violation']:.6g}{rel} at donor row {d['largest_row']}"
        parts.append(f"'{text}': {d['rows']} rows ({d['weight_share']:.1%} of the weight){worst}")
    return (f"{check['dropped_rows']} donor rows ({check['dropped_weight_share']:.1%} of the donor weight) break a "
            f"declared constraint by more than the tolerance (abs {tol['abs']:g} + rel {tol['rel']:g} of the terms) "
            f"and {'would be' if strict else 'were'} left out of fitting; " + "; ".join(parts))


def _encode_block_column(series: pd.Series, var: Variable) -> np.ndarray:
    if var.kind.is_discrete:
        codes = encode_discrete(series, var).astype(np.float64)
        codes[codes < 0] = np.nan
        return codes
    return numeric_values(series, role="block")
