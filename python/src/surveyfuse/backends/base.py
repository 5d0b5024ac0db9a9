"""The one small interface every imputation method implements.

A backend sees encoded arrays only: it never reads files, parses specs or
touches the user's frames. The :class:`~surveyfuse.imputer.Imputer` prepares

* ``X``: :class:`~surveyfuse.data.features.Features` of the predictors;
* ``Y``: float64 array (n, k) of the block, discrete variables coded 0..L-1;
* ``context``: the block's :class:`~surveyfuse.data.types.Variable` list, donor
  weights, the parsed constraints and the random state;

and turns the draws a backend returns, shape (draws, n, k) in the same coding,
back into the user's values.

Randomness at sampling time must come from :mod:`surveyfuse.rng` keyed by
(seed, row, draw) so a row's draws do not depend on the other rows imputed
with it (chunking, Dask).
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ..data.features import Features
from ..data.types import Variable
from ..errors import SurveyfuseError
from .params import REFIT_PROPERTIES, bad_param, defaults, first_error, object_schema


@dataclass
class FitContext:
    """Everything a backend may know at fit time besides X and Y."""

    variables: list[Variable]
    weights: np.ndarray  # (n,) donor sampling weights, > 0, mean 1
    constraints: Any = None  # surveyfuse.constraints.ConstraintSet restricted to fit columns
    random_state: int = 0
    verbose: bool = False
    #: the donor's own weights when ``weights`` are one resample's re-weighting of them (held-out checks score with these)
    check_weights: np.ndarray | None = None


class Backend(abc.ABC):
    """Base class: ``__init__`` stores parameters, ``fit`` learns, ``sample`` draws.

    Subclasses declare ``name`` and ``param_schema`` (:mod:`.params`: each
    parameter's allowed values, default and description), from which
    ``default_params`` follows; unknown or invalid parameters are refused
    with the ``bad_param`` error code.
    """

    name: ClassVar[str]
    param_schema: ClassVar[dict[str, Any]] = object_schema({})
    #: each parameter's default, derived from ``param_schema``
    default_params: ClassVar[dict[str, Any]] = {}
    #: how the backend makes imputations proper, each from the model under its own resample of the donor
    #: (see :mod:`surveyfuse.backends.resampling`): ``"native"`` (its own way, e.g. re-weighted donors or
    #: tree groups; keyed by (seed, imputation, donor row)), ``"refit"`` (the generic fallback: with
    #: ``params={"mi": "refit", "mi_resamples": K}`` the backend is fitted K times on Bayesian-bootstrap
    #: re-weightings and imputation d comes from fit d mod K), or ``"none"`` (every imputation from one fit:
    #: Rubin's intervals then ignore the model's uncertainty)
    proper_mi: ClassVar[str] = "none"

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        cls.default_params = defaults(cls.param_schema)

    def __init__(self, **params: Any) -> None:
        unknown = sorted(set(params) - set(self.default_params))
        if unknown:
            raise SurveyfuseError(
                "bad_param",
                f"method '{self.name}' has no parameter '{unknown[0]}'; "
                f"its parameters are: {', '.join(sorted(self.default_params)) or 'none'}",
                method=self.name,
                param=unknown[0],
            )
        self.params = {**self.default_params, **params}
        self.check_params()

    @classmethod
    def accepted_schema(cls) -> dict[str, Any]:
        """Every parameter the method accepts: ``param_schema``, plus ``mi``/``mi_resamples`` for a
        ``proper_mi="refit"`` backend (they configure the generic wrapper, not the backend)."""
        if cls.proper_mi == "refit" and "mi" not in cls.param_schema["properties"]:
            return object_schema({**cls.param_schema["properties"], **REFIT_PROPERTIES})
        return cls.param_schema

    def check_params(self) -> None:
        """Validate ``self.params`` against ``param_schema``; raise ``bad_param`` with the parameter's name.

        Subclasses add the checks that involve several parameters after calling this.
        """
        found = first_error(self.param_schema, self.params)
        if found is not None:
            raise self._bad_param(*found)

    @abc.abstractmethod
    def fit(self, X: Features, Y: np.ndarray, context: FitContext) -> "Backend":
        """Learn p(Y | X) from the donor. Returns self."""

    @abc.abstractmethod
    def sample(self, X: Features, rows: np.ndarray, draws: int, seed: int) -> np.ndarray:
        """Draw blocks for recipient rows; ``rows`` are their global positions.

        Returns float64 array of shape (draws, len(X), k).
        """

    def describe(self) -> dict[str, Any]:
        """Parameters in effect, including those chosen from the data (for reports)."""
        return dict(self.params)

    def proper_imputations(self) -> bool:
        """Whether each imputation comes from the model under its own resample of the donor (see ``proper_mi``)."""
        return self.proper_mi != "none" and self.params.get("mi", "none") != "none"

    def vary_calibrations(self, X: Features, Y: np.ndarray, context: FitContext) -> bool:
        """Vary the fitted model's calibrations between imputations from now on (``mi="auto"`` on a donor
        too large for several fits; ``X``, ``Y``, ``context``: the donor it was fitted on). Returns whether
        anything varies: here nothing (a backend with calibrations overrides it)."""
        return False

    def nested_resamples(self) -> int | None:
        """``M`` when imputation ``d`` comes from donor resample ``d mod M`` (nested imputations, which the
        fused-file rule of :func:`surveyfuse.pool` needs), else None (each imputation its own resample, or one fit)."""
        return None

    # persistence: a JSON-able manifest plus named numpy arrays (no pickle) ----
    @abc.abstractmethod
    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """Fitted state as (JSON-able dict, dict of numeric numpy arrays)."""

    @classmethod
    @abc.abstractmethod
    def from_state(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> "Backend":
        """Rebuild a fitted backend from :meth:`get_state`'s output."""

    def _bad_param(self, param: str, expected: str) -> SurveyfuseError:
        return bad_param(self.name, param, expected, self.params.get(param))
