"""``method="auto"``: pick the method by a cheap donor-only validation.

:class:`AutoImputer` is an :class:`~surveyfuse.imputer.Imputer` that, given
the checked donor, calls :func:`~surveyfuse.evaluate.crossval.choose_method`
before fitting (as ``GridSearchCV`` wraps an estimator: model selection
depends on the estimators, never the reverse): a small K-fold
validation (:func:`~surveyfuse.evaluate.crossval.evaluate_methods`, default 3
folds, 5 draws, at most 3000 donor rows) over the candidate methods, scored
by the energy score of the standardised block; the winner is then fitted on
the whole donor. Candidates, their scores and the reason land in
``fit_report_["auto"]``.

A generative candidate whose fit fails its held-out check on any fold (see
:mod:`surveyfuse.backends.deep.fit_check`) is never chosen, whatever its
score: those fold warnings are collected instead of shown, and the report
lists them under ``failed_fit_check``. (The check is per backend name, so
two variants of one failing method are both left out.) If the winner, fitted
on the whole donor, fails its own check, the next candidate by score is
fitted instead (:func:`fit_with_fallback`), and the report says so under
``failed_on_whole_donor``.

Parameters (``method={"name": "auto", "params": {...}}``): ``candidates``
(list of method names or ``{"name", "params"}``; default forest, qrf,
hotdeck, see :data:`surveyfuse.methods.AUTO_PARAMS`), ``generative`` (also try the registered torch methods when torch
is installed), ``folds``, ``draws``, ``max_rows``.

Specs, the CLI, :func:`surveyfuse.impute` and R accept ``method="auto"``:
they build their estimator with :func:`make_imputer`, which picks the class.
"""

from __future__ import annotations

from typing import Any, Callable

import pandas as pd

from ..backends import make_backend
from ..imputer import Imputer
from ..methods import AUTO, AUTO_PARAMS, DEFAULT_CANDIDATES, GENERATIVE, is_auto, parse_method
from .crossval import auto_candidates, choose_method, failed_checks


class AutoImputer(Imputer):
    """An :class:`~surveyfuse.imputer.Imputer` whose method is chosen by donor-only validation.

    Takes the Imputer's parameters; ``method`` is ``"auto"`` (or left out) and
    ``params`` are auto's (``candidates``, ``generative``, ``folds``,
    ``draws``, ``max_rows``). After :meth:`fit`, ``method_`` is the chosen
    backend and ``fit_report_["auto"]`` says why.

    Examples
    --------
    >>> import surveyfuse as sf
    >>> donor, recipient = sf.datasets.make_surveys(n_donor=300, n_recipient=20, seed=0)
    >>> imp = sf.AutoImputer(["interest", "dividends"], ["age", "wage"], random_state=0,
    ...                      params={"candidates": ["hotdeck", "forest"], "folds": 2, "draws": 3}).fit(donor)
    >>> imp.method_ == imp.fit_report_["auto"]["chosen"]
    True
    """

    def _choose_method(self, frame: pd.DataFrame) -> tuple[str, dict[str, Any], dict[str, Any] | None]:
        name, params = parse_method(AUTO if self.method is None else self.method, self.params)
        if name != AUTO:
            return super()._choose_method(frame)
        return choose_method(frame, list(self.block), list(self.predictors), params, weights=self.weights,
                             constraints=self.constraints, categorical=self.categorical,
                             seed=int(self.random_state or 0), tolerance=self.tolerance)


    def _fit_backend(self, name, backend, fit, report):
        if report is None:
            return super()._fit_backend(name, backend, fit, report)
        return fit_with_fallback(name, backend, fit, report)


def fit_with_fallback(name: str, backend: Any, fit: Callable[[Any], Any], report: dict[str, Any]) -> tuple[str, Any]:
    """Fit the chosen method on the whole donor; if that fit fails its own held-out check, the next candidate.

    The folds of :func:`choose_method` fit on part of the donor, so a model can
    pass there and fail on the whole file (or the reverse). ``auto`` never
    hands back a model known to fail: it moves down the ranking, records why in
    ``report`` and keeps the failed fit's warning visible. When every ranked
    candidate fails, the last one is kept (its warning says so). ``backend`` is the chosen method's, unfitted;
    ``fit`` fits a backend on the whole donor.
    """
    order = [(report["chosen"], name, lambda: backend)] + [
        (r["label"], r["name"], lambda r=r: make_backend(r["name"], r["params"]))
        for r in report.get("ranking", []) if r["label"] != report["chosen"]]
    for i, (label, n, make) in enumerate(order):
        fitted = fit(make())
        check = getattr(fitted, "fit_check_", None) or {}
        if check.get("ok") is not False or i == len(order) - 1:
            if i:
                report["reason"] += (f"; {report['chosen']} failed its held-out fit check when fitted on the whole "
                                     f"donor, so {label} (next by score) was fitted instead")
                report["chosen"] = label
            return n, fitted
        report.setdefault("failed_on_whole_donor", {})[label] = check.get("warning")
    raise AssertionError("unreachable")  # pragma: no cover - the loop returns on its last candidate


def make_imputer(**params: Any) -> Imputer:
    """``Imputer(**params)``, or :class:`AutoImputer` when ``method`` asks for ``"auto"``."""
    return (AutoImputer if is_auto(params.get("method")) else Imputer)(**params)


__all__ = ["AUTO", "AUTO_PARAMS", "DEFAULT_CANDIDATES", "GENERATIVE", "AutoImputer", "make_imputer", "choose_method",
           "auto_candidates", "failed_checks", "fit_with_fallback"]
