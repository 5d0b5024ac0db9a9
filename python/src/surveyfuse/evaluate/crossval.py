"""Donor-only K-fold validation: which method should a user trust?

The recipient's block is never observed, so we hide it on held-out donor
rows instead: split the donor into K folds (seeded), fit each method on K-1
folds, draw the block for the held-out fold from its predictors alone, and
score the draws against the hidden values with :mod:`.metrics`. Scores are
averaged over folds, per method, per variable and overall; the best method
is the one with the lowest energy score (a proper score of the joint
distribution, so it rewards neither over- nor under-dispersion).

A "method" is a registered backend name, ``{"name": ..., "params": {...}}``,
a label with a spec (``("hotdeck_k50", {"name": "hotdeck", "params": {"k": 50}})``),
or a reference tool (``microimpute``, ``mice``, ``statmatch``; see :mod:`.reference`).
"""

from __future__ import annotations

import importlib.util
import json
import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import pandas as pd

from ..constraints import ConstraintSet
from ..data.frames import as_pandas, check_columns
from ..data.types import infer_variable
from ..errors import SurveyfuseError, SurveyfuseWarning
from ..methods import AUTO, AUTO_PARAMS, DEFAULT_CANDIDATES, GENERATIVE, REGISTRY, available_methods, parse_method
from .baseline import LOW_SKILL, energy_skill, predictor_blind_draws
from .metrics import score_block
from .verdict import verdict

#: the columns of :attr:`Evaluation.scores`
SCORE_COLUMNS = ("method", "fold", "variable", "metric", "value")
#: the methods compared when none are named (the same as ``auto``'s candidates)
DEFAULT_METHODS = DEFAULT_CANDIDATES


def method_label(method: Any) -> str:
    if isinstance(method, str):
        return method
    if isinstance(method, dict):
        params = method.get("params") or {}
        return method["name"] + "".join(f"_{k}{v}" for k, v in sorted(params.items()))
    raise SurveyfuseError("unknown_method", f"method must be a name or {{'name', 'params'}}, got {method!r}", method=str(method))


def parse_method_text(text: str) -> Any:
    """``"hotdeck"`` -> ``"hotdeck"``; ``"hotdeck:k=50:metric=rank"`` -> ``{"name": "hotdeck", "params": {"k": 50, ...}}``
    (values read as JSON when they parse, else as text), so the CLI can name parameterised variants."""
    name, *pairs = [p.strip() for p in text.split(":")]
    if not pairs:
        return name
    params: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SurveyfuseError("bad_argument", f"method '{text}': expected name:param=value, got '{pair}'", argument="methods")
        try:
            params[key] = json.loads(value)
        except ValueError:
            params[key] = value
    return {"name": name, "params": params}


def normalise_methods(methods: Any) -> list[tuple[str, Any]]:
    """``[label, method spec]`` pairs from names, dicts, (label, spec) pairs or a {label: spec} dict.

    A comma-separated string is split; each part may carry parameters
    (``"forest,hotdeck:k=50"``, see :func:`parse_method_text`).
    """
    if methods is None:
        methods = list(DEFAULT_METHODS)
    if isinstance(methods, str):
        methods = [m.strip() for m in methods.split(",") if m.strip()]
    if isinstance(methods, dict):
        return [(str(k), v) for k, v in methods.items()]
    out = []
    for m in methods:
        if isinstance(m, (tuple, list)) and len(m) == 2:
            out.append((str(m[0]), m[1]))
        elif isinstance(m, str):
            spec = parse_method_text(m)  # "hotdeck:k=50" carries parameters
            out.append((method_label(spec), spec))
        else:
            out.append((method_label(m), m))
    from .reference import REFERENCE_METHODS

    for label, spec in out:
        name = spec if isinstance(spec, str) else spec.get("name") if isinstance(spec, dict) else None
        if name not in REGISTRY and name not in REFERENCE_METHODS and name != AUTO:
            choices = ", ".join(available_methods() + list(REFERENCE_METHODS))
            raise SurveyfuseError("unknown_method", f"unknown method '{name}' in methods; choose from: {choices}", method=str(name))
    labels = [lab for lab, _ in out]
    if len(set(labels)) != len(labels) or not labels:
        raise SurveyfuseError("bad_argument", f"methods must be a non-empty list of distinct methods, got {labels}", argument="methods")
    return out


def fold_ids(n: int, folds: int, seed: int) -> np.ndarray:
    """Fold number of each row: a seeded permutation cut into ``folds`` near-equal parts."""
    ids = np.empty(n, dtype=np.int64)
    ids[np.random.default_rng(seed).permutation(n)] = np.arange(n) % folds
    return ids


@dataclass
class Evaluation:
    """Result of :func:`evaluate_methods`.

    ``metrics`` is JSON-able: ``{"settings", "methods": {label: {"overall",
    "variables", "seconds", "folds"}}, "best", "margins", "verdict", "baseline",
    "low_signal", "skipped"}``. ``baseline`` scores predictor-blind draws on
    the same folds (see :mod:`.baseline`); each method's ``overall`` has its
    ``energy_skill`` against them. ``table()`` is a one-row-per-method
    summary; ``best`` the label with the lowest mean energy score. In Jupyter
    it shows the verdict and a row per method; :func:`~surveyfuse.write_report`
    writes the full report.

    Examples
    --------
    >>> import surveyfuse as sf
    >>> donor, _ = sf.datasets.make_surveys(n_donor=300, seed=0)
    >>> ev = sf.evaluate_methods(donor, ["interest", "dividends"], ["age", "married", "wage"],
    ...                          methods=["hotdeck", "forest"], folds=2, draws=4, categorical=["married"])
    >>> list(ev.table().columns[:2])
    ['energy_score', 'rows']
    """

    metrics: dict[str, Any]
    examples: dict[str, Any] = field(default_factory=dict, repr=False)
    #: every score of every fold, one row each: method, fold, variable (None: the whole block), metric, value
    scores: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=SCORE_COLUMNS), repr=False)

    @property
    def best(self) -> str | None:
        """The label with the lowest mean energy score (``None`` when nothing was scored)."""
        return self.metrics.get("best")

    def long_table(self) -> pd.DataFrame:
        """Every fold's scores in one long table (``method, fold, variable, metric, value``).

        ``metrics`` holds their means over folds (missing values skipped);
        ``variable`` is missing for the block's overall scores, and the
        predictor-blind yardstick is the method ``predictor_blind``.

        Examples
        --------
        >>> import surveyfuse as sf
        >>> donor, _ = sf.datasets.make_surveys(n_donor=300, seed=0)
        >>> ev = sf.evaluate_methods(donor, ["interest", "dividends"], ["age", "wage"], methods=["hotdeck"], folds=2, draws=4)
        >>> long = ev.long_table()
        >>> list(long.columns), sorted(long["fold"].unique().tolist())
        (['method', 'fold', 'variable', 'metric', 'value'], [0, 1])
        >>> energy = long[(long.method == "hotdeck") & (long.metric == "energy_score")]["value"].mean()
        >>> bool(abs(energy - ev.metrics["methods"]["hotdeck"]["overall"]["energy_score"]) < 1e-12)
        True
        """
        return self.scores.copy()

    def table(self) -> pd.DataFrame:
        """One row per method (overall metrics, fit and sample seconds), best first.

        Examples
        --------
        >>> import surveyfuse as sf
        >>> donor, _ = sf.datasets.make_surveys(n_donor=300, seed=0)
        >>> ev = sf.evaluate_methods(donor, ["interest", "dividends"], ["age", "married", "wage"],
        ...                          methods=["hotdeck", "forest"], folds=2, draws=4, categorical=["married"])
        >>> ev.table().index[0] == ev.best
        True
        """
        rows = []
        for label, res in self.metrics["methods"].items():
            o = res["overall"]
            rows.append({"method": label, **{k: v for k, v in o.items() if not isinstance(v, (dict, list))},
                         "fit_seconds": res["seconds"]["fit"], "sample_seconds": res["seconds"]["sample"]})
        frame = pd.DataFrame(rows).set_index("method")
        return frame.sort_values("energy_score") if "energy_score" in frame else frame

    def variable_table(self) -> pd.DataFrame:
        """One row per (method, block variable) with that variable's metrics.

        Examples
        --------
        >>> import surveyfuse as sf
        >>> donor, _ = sf.datasets.make_surveys(n_donor=300, seed=0)
        >>> ev = sf.evaluate_methods(donor, ["interest", "dividends"], ["age", "married", "wage"],
        ...                          methods=["hotdeck", "forest"], folds=2, draws=4, categorical=["married"])
        >>> ev.variable_table()[["method", "variable"]].shape
        (4, 2)
        """
        rows = []
        for label, res in self.metrics["methods"].items():
            for var, d in res["variables"].items():
                rows.append({"method": label, "variable": var,
                             **{k: v for k, v in d.items() if not isinstance(v, (dict, list, str))}})
        return pd.DataFrame(rows)

    def to_json(self) -> str:
        """``metrics`` as JSON text (what ``metrics.json`` holds).

        Examples
        --------
        >>> import surveyfuse as sf
        >>> donor, _ = sf.datasets.make_surveys(n_donor=300, seed=0)
        >>> ev = sf.evaluate_methods(donor, ["interest", "dividends"], ["age", "married", "wage"],
        ...                          methods=["hotdeck", "forest"], folds=2, draws=4, categorical=["married"])
        >>> import json
        >>> json.loads(ev.to_json())["settings"]["folds"]
        2
        """
        return json.dumps(self.metrics, indent=1)

    def _repr_html_(self) -> str:
        from ..notebook.views import evaluation_html

        return evaluation_html(self)


def _score_rows(label: str, fold_scores: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """(method, fold, variable, metric, value) of every numeric score of every fold."""
    def number(v: Any) -> bool:
        return v is None or isinstance(v, (int, float)) and not isinstance(v, bool)

    rows = []
    for k, score in enumerate(fold_scores):
        rows += [(label, k, None, m, np.nan if v is None else float(v)) for m, v in score["overall"].items() if number(v)]
        for var, d in score["variables"].items():
            rows += [(label, k, var, m, np.nan if v is None else float(v)) for m, v in d.items() if number(v)]
    return rows


def _mean_nested(items: list[Any]) -> Any:
    """Average a list of equally-shaped JSON structures (numbers averaged, NaN/None skipped)."""
    first = items[0]
    if isinstance(first, dict):
        return {k: _mean_nested([it[k] for it in items if isinstance(it, dict) and k in it]) for k in first}
    if isinstance(first, list) and first and not isinstance(first[0], str):
        if all(isinstance(it, list) and len(it) == len(first) for it in items):
            return [_mean_nested([it[i] for it in items]) for i in range(len(first))]
        return first
    if isinstance(first, (int, float)) and not isinstance(first, bool) or first is None:
        vals = [float(v) for v in items if isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v)]
        return float(np.mean(vals)) if vals else None
    return first


def evaluate_methods(
    donor: Any,
    block: Sequence[str],
    predictors: Sequence[str],
    methods: Any = None,
    *,
    folds: int = 5,
    draws: int = 20,
    weights: str | None = None,
    constraints: Sequence[str] | None = None,
    categorical: Sequence[str] | None = None,
    seed: int = 0,
    max_rows: int | None = None,
    params: dict[str, Any] | None = None,
    tolerance: dict[str, float] | None = None,
    keep_examples: bool = False,
    verbose: bool = False,
) -> Evaluation:
    """Which method to trust: K-fold donor-only validation of ``methods`` (see the module docstring).

    Parameters
    ----------
    donor : DataFrame or pyarrow Table
        Observes the block and the predictors.
    block, predictors : list of str
        As for :func:`surveyfuse.impute`.
    methods : list, optional
        Method names, ``{"name", "params"}`` dicts, ``(label, spec)`` pairs,
        ``"name:param=value"`` strings, or the reference tools ``microimpute``
        and ``mice`` when installed (default: forest, qrf, hotdeck).
    folds, draws : int
        Folds of the donor, and draws per held-out row.
    weights : str, optional
        Donor weight column: weights both fitting and scoring.
    constraints, categorical : list of str, optional
        As for :func:`surveyfuse.impute`.
    seed : int
        Seeds the folds and the methods.
    max_rows : int, optional
        First take a seeded simple random sample of the donor.
    params : dict, optional
        Parameters passed to every method.
    tolerance : dict, optional
        The constraints' tolerance, as for :func:`surveyfuse.impute`: the
        methods fit under it, and broken records are counted with it (so a
        run and its evaluation agree on which records hold).
    keep_examples : bool
        Keep the first fold's draws, truth and training rows (the report's
        distribution plots need them).

    Returns
    -------
    Evaluation
        Methods whose optional dependency is missing are listed in
        ``metrics["skipped"]`` rather than failing the run.

    Examples
    --------
    >>> import surveyfuse as sf
    >>> donor, _ = sf.datasets.make_surveys(n_donor=300, seed=0)
    >>> ev = sf.evaluate_methods(donor, ["interest", "dividends"], ["age", "married", "wage"],
    ...                          methods=["hotdeck", "forest"], folds=2, draws=4, categorical=["married"])
    >>> sorted(ev.metrics["methods"]), ev.best in ("hotdeck", "forest")
    (['forest', 'hotdeck'], True)
    """
    from ..imputer import Imputer, check_draws
    from .reference import REFERENCE_METHODS, run_reference

    draws = check_draws(draws)

    frame, _ = as_pandas(donor, role="donor")
    block, predictors = list(block), list(predictors)
    check_columns(frame, predictors, role="predictor", table="donor")
    check_columns(frame, block, role="block", table="donor")
    if isinstance(folds, bool) or not isinstance(folds, (int, np.integer)) or folds < 2:
        raise SurveyfuseError("bad_argument", f"folds must be an integer >= 2, got {folds!r}", argument="folds")
    missing = frame[block].isna().any(axis=1).to_numpy()
    if missing.any():  # a held-out row without its block cannot be scored
        warnings.warn(SurveyfuseWarning(
            "donors_dropped", f"{int(missing.sum())} of {len(frame)} donor rows have a missing value in the block "
            f"and are left out of the evaluation's folds"), stacklevel=2)
    frame = frame[~missing].reset_index(drop=True)
    if max_rows is not None and len(frame) > max_rows:
        frame = frame.iloc[np.sort(np.random.default_rng(seed).choice(len(frame), int(max_rows), replace=False))].reset_index(drop=True)
    if len(frame) < 2 * folds:
        raise SurveyfuseError("empty_donor", f"the donor has {len(frame)} usable rows, too few for {folds} folds", table="donor")
    constraint_set = ConstraintSet(list(constraints), tolerance).validate_columns(predictors + block) if constraints else None
    cats = set(categorical or [])
    variables = [infer_variable(frame[c], categorical=c in cats) for c in block]
    w_all = frame[weights].to_numpy(dtype=np.float64) if weights else np.ones(len(frame))
    ids = fold_ids(len(frame), folds, seed)
    pairs = normalise_methods(methods)
    per_method: dict[str, Any] = {}
    skipped: dict[str, str] = {}
    examples: dict[str, Any] = {}

    def fold(k: int) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray | None]:
        """Training rows, held-out rows and the training weights of fold ``k``."""
        return frame[ids != k], frame[ids == k].reset_index(drop=True), w_all[ids != k] if weights else None

    def score_fold(D: dict[str, np.ndarray], train: pd.DataFrame, test: pd.DataFrame, k: int) -> dict[str, Any]:
        return score_block(D, test, variables, weights=w_all[ids == k] if weights else None,
                           reference=train, reference_weights=w_all[ids != k] if weights else None,
                           constraints=constraint_set, predictors=predictors, seed=seed + k)

    blind, blind_scores = [], []  # the predictor-blind yardstick (see .baseline) on the same folds
    for k in range(folds):
        train, test, train_w = fold(k)
        D = predictor_blind_draws(train[block], train_w, len(test), draws, seed + k)
        blind_scores.append(score_fold(D, train, test, k))
        blind.append(blind_scores[-1]["overall"].get("energy_score"))
    valid = [b for b in blind if b is not None and np.isfinite(b)]
    baseline = {"name": "predictor_blind", "energy_score": float(np.mean(valid)) if valid else None, "folds": blind,
                "low_skill": LOW_SKILL, "overall": _mean_nested([s["overall"] for s in blind_scores]),
                "variables": _mean_nested([s["variables"] for s in blind_scores])}
    score_rows = _score_rows("predictor_blind", blind_scores)
    first_train = fold(0)[0] if keep_examples else None
    for label, spec in pairs:
        fold_scores, fit_s, sample_s = [], 0.0, 0.0
        try:
            for k in range(folds):
                train, test, _ = fold(k)
                t0 = time.perf_counter()
                name = spec if isinstance(spec, str) else spec.get("name") if isinstance(spec, dict) else None
                if name in REFERENCE_METHODS:
                    D, fs, ss = run_reference(name, train, test.drop(columns=block), block, predictors, list(cats),
                                              weights, draws, seed + k)
                    fit_s, sample_s = fit_s + fs, sample_s + ss
                else:
                    name, method_params = parse_method(spec, params)
                    if name == AUTO:  # the selection itself, validated on the outer folds
                        name, method_params, _ = choose_method(
                            train, block, predictors, method_params, weights=weights, constraints=constraints,
                            categorical=list(cats) or None, seed=seed + k, tolerance=tolerance)
                    imp = Imputer(block, predictors, method=name, params=method_params, categorical=list(cats) or None,
                                  weights=weights, constraints=list(constraints or []) or None, tolerance=tolerance,
                                  random_state=seed + k)
                    imp.fit(train)
                    t1 = time.perf_counter()
                    out = imp.sample(test.drop(columns=block), draws=draws, seed=seed + 1000 + k)
                    fit_s += t1 - t0
                    sample_s += time.perf_counter() - t1
                    D = {c: out[c].to_numpy().reshape(draws, len(test)) for c in block}
                score = score_fold(D, train, test, k)
                fold_scores.append(score)
                if keep_examples and k == 0:
                    examples[label] = {"draws": D, "truth": test, "donor": first_train}
                if verbose:
                    print(f"  {label} fold {k + 1}/{folds}: energy {score['overall']['energy_score']:.4f}", flush=True)
        except SurveyfuseError as exc:
            if exc.code != "missing_dependency":
                raise
            skipped[label] = exc.message
            continue
        score_rows += _score_rows(label, fold_scores)
        per_method[label] = {
            "method": spec,
            "overall": _mean_nested([s["overall"] for s in fold_scores]),
            "variables": _mean_nested([s["variables"] for s in fold_scores]),
            "correlation": _mean_nested([s["correlation"] for s in fold_scores]) if fold_scores[0]["correlation"] else None,
            "folds": [s["overall"] for s in fold_scores],
            "seconds": {"fit": round(fit_s / folds, 4), "sample": round(sample_s / folds, 4)},
        }
    for res in per_method.values():
        res["overall"]["energy_skill"] = energy_skill(res["overall"].get("energy_score"), baseline["energy_score"])
    scored = {k: v["overall"].get("energy_score") for k, v in per_method.items() if v["overall"].get("energy_score") is not None}
    best = min(scored, key=scored.get) if scored else None
    margins = paired_margins(per_method, best) if best else {}
    metrics = {
        "settings": {"block": block, "predictors": predictors, "folds": int(folds), "draws": int(draws),
                     "weights": weights, "constraints": list(constraints or []), "tolerance": tolerance,
                     "categorical": sorted(cats),
                     "seed": int(seed), "rows": int(len(frame)), "variables": [v.to_json() for v in variables]},
        "methods": per_method,
        "best": best,
        "best_reason": (f"lowest mean energy score of the standardised block over {folds} donor folds "
                        f"({scored[best]:.4f})") if best else "no method could be scored",
        "margins": margins,
        "verdict": verdict(best, margins),
        "baseline": baseline,
        "low_signal": bool(best is not None and per_method[best]["overall"]["energy_skill"] is not None
                           and per_method[best]["overall"]["energy_skill"] < LOW_SKILL),
        "skipped": skipped,
    }
    scores = pd.DataFrame(score_rows, columns=list(SCORE_COLUMNS))
    return Evaluation(metrics=json.loads(json.dumps(metrics, default=_json_default)), examples=examples, scores=scores)


def paired_margins(per_method: dict[str, Any], best: str) -> dict[str, Any]:
    """Each method's energy-score gap to ``best``: mean over folds of the paired
    per-fold difference, its standard error ``sd / sqrt(K)``, and how many
    folds ``best`` won. The same folds score every method, so pairing removes
    the fold-to-fold swing that heavy tails cause; a gap within ~2 se is a tie."""
    ref = [f.get("energy_score") for f in per_method[best]["folds"]]
    out = {}
    for label, res in per_method.items():
        if label == best:
            continue
        diff = np.array([(a - b) if a is not None and b is not None else np.nan
                         for a, b in zip([f.get("energy_score") for f in res["folds"]], ref)], dtype=float)
        diff = diff[np.isfinite(diff)]
        if diff.size == 0:
            continue
        se = float(diff.std(ddof=1) / np.sqrt(diff.size)) if diff.size > 1 else None
        out[label] = {"gap": float(diff.mean()), "se": se, "folds_won_by_best": int((diff > 0).sum()), "folds": int(diff.size)}
    return out


# ---------------------------------------------------------------- model selection (method="auto")
# It lives beside the folds it runs: selecting is validating, and validating "auto" selects on each outer fold.


def auto_candidates(params: dict[str, Any]) -> list[Any]:
    """The candidate methods of ``auto``'s ``params``; unknown parameters and methods are refused (``bad_param``)."""
    unknown = sorted(set(params) - set(AUTO_PARAMS))
    if unknown:
        raise SurveyfuseError("bad_param", f"method 'auto' has no parameter '{unknown[0]}' (known: {', '.join(sorted(AUTO_PARAMS))})",
                              method=AUTO, param=unknown[0])
    cands = list(params.get("candidates") or AUTO_PARAMS["candidates"])
    if params.get("generative") and importlib.util.find_spec("torch") is not None:
        cands += [m for m in GENERATIVE if m in REGISTRY and m not in cands]
    for c in cands:
        name = c.get("name") if isinstance(c, dict) else c
        if name not in REGISTRY:
            raise SurveyfuseError("bad_param", f"auto candidate '{name}' is not a registered method", method=AUTO, param="candidates")
    return cands


def _spec_name(spec: Any) -> str:
    return spec if isinstance(spec, str) else spec["name"]


def _spec_params(spec: Any) -> dict[str, Any]:
    return {} if isinstance(spec, str) else dict(spec.get("params") or {})


def choose_method(donor: pd.DataFrame, block: Sequence[str], predictors: Sequence[str], params: dict[str, Any], *,
                  weights: str | None, constraints: Sequence[str] | None, categorical: Sequence[str] | None,
                  seed: int, tolerance: dict[str, float] | None = None) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """(method name, its params, report) chosen by donor-only validation (under the constraints' ``tolerance``,
    as the run that uses the choice)."""
    pairs = normalise_methods(auto_candidates(params))
    folds, draws, max_rows = (int(params.get(k, AUTO_PARAMS[k])) for k in ("folds", "draws", "max_rows"))
    frame = donor.dropna(subset=list(block))
    if weights is not None:
        frame = frame[frame[weights] > 0]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ev = evaluate_methods(frame, block, predictors, pairs, folds=folds, draws=draws, weights=weights,
                              constraints=constraints, categorical=categorical, seed=seed, max_rows=max_rows,
                              tolerance=tolerance)
    failed = failed_checks(caught, pairs)
    scores = {m: r["overall"]["energy_score"] for m, r in ev.metrics["methods"].items()}
    trusted = {m: v for m, v in scores.items() if m not in failed and v is not None}
    if not trusted:
        if failed:
            raise SurveyfuseError("bad_param", "method 'auto': every candidate that could be scored failed its held-out "
                                  "fit check (" + "; ".join(failed.values()) + "); add 'forest' to the candidates",
                                  method=AUTO, param="candidates", failed_fit_check=failed)
        raise SurveyfuseError("bad_param", "method 'auto' could not score any candidate", method=AUTO,
                              skipped=ev.metrics["skipped"])
    best = min(trusted, key=trusted.get)
    name, chosen_params = _spec_name(dict(pairs)[best]), _spec_params(dict(pairs)[best])
    ranked = sorted(trusted, key=trusted.get)
    runner = f"; runner-up {ranked[1]} ({scores[ranked[1]]:.4f})" if len(ranked) > 1 else ""
    left_out = f"; left out for failing the held-out fit check: {', '.join(failed)}" if failed else ""
    report = {
        "chosen": best,
        "candidates": [m for m, _ in pairs],
        "energy_score": scores,
        "crps_std": {m: r["overall"].get("crps_std") for m, r in ev.metrics["methods"].items()},
        "coverage90": {m: r["overall"].get("coverage90") for m, r in ev.metrics["methods"].items()},
        "seconds": {m: r["seconds"] for m, r in ev.metrics["methods"].items()},
        "margins": paired_margins(ev.metrics["methods"], best) if best != ev.best else ev.metrics["margins"],
        "skipped": ev.metrics["skipped"],
        "failed_fit_check": failed,
        "ranking": [{"label": m, "name": _spec_name(dict(pairs)[m]), "params": _spec_params(dict(pairs)[m])}
                    for m in ranked],
        "settings": {"folds": folds, "draws": draws, "rows": ev.metrics["settings"]["rows"]},
        "reason": f"{best} has the lowest energy score ({scores[best]:.4f}) in {folds}-fold donor-only "
                  f"validation on {ev.metrics['settings']['rows']} rows with {draws} draws{runner}{left_out}",
    }
    return name, chosen_params, report


def failed_checks(caught: list[warnings.WarningMessage], pairs: list[tuple[str, Any]]) -> dict[str, str]:
    """{candidate label: the first fit-check warning of its method}; other warnings are shown again."""
    from ..backends.deep.fit_check import FitCheckWarning

    by_method: dict[str, str] = {}
    for w in caught:
        if isinstance(w.message, FitCheckWarning):
            by_method.setdefault(w.message.method, str(w.message))
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    out = {}
    for label, spec in pairs:
        name = spec if isinstance(spec, str) else spec.get("name") if isinstance(spec, dict) else None
        if name in by_method:
            out[label] = by_method[name]
    return out


def evaluate_spec(spec: Any, methods: Any = None, *, folds: int = 5, draws: int | None = None, seed: int | None = None,
                  max_rows: int | None = None, keep_examples: bool = False) -> Evaluation:
    """:func:`evaluate_methods` on a task spec's donor (after its donor-side harmonise rules)."""
    from ..data.io import read_table
    from ..surveys.harmonise import Harmoniser
    from ..imputer import check_draws
    from ..pipeline.spec import TaskSpec, load_spec

    if not isinstance(spec, TaskSpec):
        spec = load_spec(spec)
    if draws is not None:
        check_draws(draws)  # before reading the donor: fail fast
    donor = read_table(spec.donor, role="donor")
    donor = Harmoniser(spec.harmonise).apply(donor, "donor")
    ev = evaluate_methods(donor, spec.block, spec.predictors, methods, folds=folds,
                          draws=spec.draws if draws is None else draws,
                          weights=spec.weights, constraints=spec.constraints, categorical=spec.categorical,
                          seed=int(seed if seed is not None else spec.seed or 0), max_rows=max_rows,
                          tolerance=spec.tolerance, keep_examples=keep_examples)
    ev.metrics["settings"]["name"] = spec.name
    return ev


def _json_default(x: Any) -> Any:
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (np.floating,)):
        return None if not np.isfinite(x) else float(x)
    return str(x)


__all__ = ["Evaluation", "evaluate_methods", "evaluate_spec", "choose_method", "auto_candidates", "fold_ids", "normalise_methods", "method_label", "DEFAULT_METHODS"]
