"""Sequential per-variable quantile regression forests (the microimpute design).

This is the reference the project compares against, written faithfully so
benchmarks can show the difference on the same data: one forest per block
variable, fitted in block order, each conditioning on the predictors plus the
block variables before it (chained: at sampling time on their *drawn*
values). A numeric variable's draw is a random quantile of its quantile
regression forest (``quantile-forest``; Meinshausen 2006), read off a grid of
``quantile_grid`` levels like microimpute does; a binary or categorical
variable is drawn from a random forest classifier's predicted class
probabilities (never the most likely class, which would erase rare classes).
Donor weights: microimpute passes them as ``sample_weight``, which with
fully grown trees (one donor per leaf) changes the splits but not the
quantiles read from the leaves, so the draws may follow the weights only
partly (9:1 weights gave 45% instead of 90% with scikit-learn 1.8, 82% with 1.9). Our default
``weighting="resample"`` fits every forest on one weighted bootstrap of the
donor (rows drawn with probability proportional to weight, seeded), which
makes the draws follow the weighted distribution; ``weighting="sample_weight"``
reproduces microimpute's behaviour for comparison.

Proper multiple imputation (``mi="trees"``, default): the trees are
grown in ``mi_groups`` groups, each chain of forests on its own bootstrap
resample of the donor (weighted, as above), and imputation ``d`` comes from
group ``d mod mi_groups``; the total number of trees, hence the cost, is
unchanged. With more imputations than groups, imputations share a group.
``mi="none"`` grows every forest on one resample (the reference design).

Unlike :mod:`.forest`, draws are not donor records, so identities inside the
block may break; the :class:`~surveyfuse.imputer.Imputer` then redraws and
repairs and reports it.

Persistence: the manifest stores the parameters and the arrays store the
training data (design, block, weights). Loading refits the forests with the
same seed, which scikit-learn makes deterministic, so a loaded model draws
exactly what the saved one drew. Nothing is unpickled; the price is the
refit time at load. That determinism holds only under the same versions of
scikit-learn and quantile-forest, so the manifest records them and loading
under others warns that the draws may differ (refit, or pin the versions).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from sklearn.ensemble import RandomForestClassifier

from .. import rng
from ..data.features import Features
from .base import Backend, FitContext
from .params import NON_ZERO_INT, POSITIVE_INT, enum, object_schema, param


class QuantileForestChain(Backend):
    """``method="qrf"``: one quantile regression forest per block variable, chained (the microimpute design).

    The reference design the project compares against; see the module docstring.

    Parameters
    ----------
    n_estimators : int, default 100
        Trees per forest.
    min_samples_leaf : int, default 1
        Donors per leaf at least (1: fully grown trees, as microimpute).
    max_features : float, int, "sqrt" or "log2", default 1.0
        Share (or number) of features tried per split.
    max_samples_leaf : int or None, default 1
        Donors kept per leaf for the quantiles (``None``: all).
    quantile_grid : int, default 101
        Levels of the quantile grid a numeric draw is read from.
    weighting : "resample" or "sample_weight", default "resample"
        How donor weights enter: a weighted bootstrap (draws follow the
        weighted distribution), or scikit-learn's ``sample_weight`` (microimpute's way).
    mi : "trees" or "none", default "trees"
        Proper multiple imputation: the trees are grown in ``mi_groups``
        groups, each on its own bootstrap resample, and imputation ``d``
        comes from group ``d mod mi_groups``; ``"none"``: one resample.
    mi_groups : int, default 10
        Tree groups for ``mi="trees"`` (at most ``n_estimators``).
    n_jobs : int, default -1
        Cores used (-1: all).

    Examples
    --------
    >>> import surveyfuse as sf
    >>> donor, recipient = sf.datasets.make_surveys(n_donor=300, n_recipient=30, seed=0)
    >>> out = sf.impute(donor, recipient, block=["interest", "dividends"], predictors=["age", "wage"],
    ...                 method="qrf", params={"n_estimators": 10}, draws=2, seed=0)
    >>> len(out)
    60
    """

    name = "qrf"
    param_schema = object_schema({
        "n_estimators": param(100, "a positive integer", "Trees per forest.", **POSITIVE_INT),
        "min_samples_leaf": param(1, "a positive integer", "Donors per leaf at least.", **POSITIVE_INT),
        "max_features": param(1.0, "a fraction in (0, 1], a positive integer, 'sqrt' or 'log2'", "Share (or number) "
                              "of predictors tried per split.", anyOf=[{"enum": ["sqrt", "log2"]}, POSITIVE_INT,
                                                                      {"type": "number", "exclusiveMinimum": 0, "maximum": 1}]),
        "max_samples_leaf": param(1, "null (keep all) or a positive integer", "Donors kept per leaf for the quantiles (null: all).",
                                  anyOf=[{"type": "null"}, POSITIVE_INT]),
        "quantile_grid": param(101, "a positive integer", "Levels of the quantile grid a numeric draw is read from.",
                               **POSITIVE_INT),
        "weighting": enum("resample", ["resample", "sample_weight"], "How donor weights enter: a weighted resample "
                          "of the donor, or scikit-learn's sample_weight."),
        "mi": enum("trees", ["trees", "none"], "Proper multiple imputation from tree groups, or every imputation "
                   "from one fit."),
        "mi_groups": param(10, "a positive integer, at most n_estimators", "Tree groups for mi='trees'.", **POSITIVE_INT),
        "n_jobs": param(-1, "a non-zero integer (-1 = all cores)", "Cores used to grow trees (-1: all).", **NON_ZERO_INT),
    })
    proper_mi = "native"

    def check_params(self) -> None:
        super().check_params()
        if self.params["mi_groups"] > self.params["n_estimators"]:
            raise self._bad_param("mi_groups", self.param_schema["properties"]["mi_groups"]["expected"])

    def fit(self, X: Features, Y: np.ndarray, context: FitContext) -> "QuantileForestChain":
        self.design_ = X.design("onehot", "none")
        self.Y_ = np.asarray(Y, dtype=np.float64)
        self.weights_ = np.asarray(context.weights, dtype=np.float64)
        self.discrete_ = [bool(v.kind.is_discrete) for v in context.variables]
        self.n_levels_ = [int(v.n_levels) for v in context.variables]
        self.random_state_ = int(context.random_state)
        self._fit_models()
        return self

    def _fit_models(self) -> None:
        """One chain of forests per group (``mi_groups`` with proper imputation, else one)."""
        p = self.params
        G = p["mi_groups"] if p["mi"] == "trees" else 1
        sizes = [p["n_estimators"] // G + (g < p["n_estimators"] % G) for g in range(G)]
        self.groups_: list[list[Any]] = [self._fit_chain(g, size) for g, size in enumerate(sizes)]

    def _fit_chain(self, group: int, n_estimators: int) -> list[Any]:
        from quantile_forest import RandomForestQuantileRegressor

        p = self.params
        common = dict(n_estimators=n_estimators, min_samples_leaf=p["min_samples_leaf"],
                      max_features=p["max_features"], n_jobs=p["n_jobs"])
        design, Y, weights = self.design_, self.Y_, self.weights_
        label = (99,) if group == 0 else (99, group)  # group 0 keeps the single-chain design's resample
        if p["weighting"] == "resample":  # one weighted bootstrap shared by the chain
            g = np.random.default_rng(rng.derive_seed(self.random_state_, *label))
            pick = g.choice(len(Y), size=len(Y), replace=True, p=weights / weights.sum())
            design, Y, weights = design[pick], Y[pick], None
        elif p["mi"] == "trees":  # Bayesian-bootstrap weights of the group
            weights = weights * rng.bayesian_bootstrap(self.random_state_, group, np.arange(len(Y)))
        models: list[Any] = []
        for j, discrete in enumerate(self.discrete_):
            features = np.hstack([design, Y[:, :j]])
            seed = rng.derive_seed(self.random_state_, j, *label[1:]) % (2**31)
            if discrete:
                model = RandomForestClassifier(random_state=seed, **common)
            else:
                model = RandomForestQuantileRegressor(random_state=seed, max_samples_leaf=p["max_samples_leaf"], **common)
            model.fit(features, Y[:, j], sample_weight=weights)
            models.append(model)
        return models

    def sample(self, X: Features, rows: np.ndarray, draws: int, seed: int) -> np.ndarray:
        """Imputation ``d`` runs the chain of group ``d mod groups`` on its own uniforms, keyed by (seed, row, d)."""
        design = X.design("onehot", "none")
        n, k = design.shape[0], len(self.discrete_)
        out = np.zeros((draws, n, k))
        u = rng.uniforms(seed, np.asarray(rows), draws, width=k)
        G = len(self.groups_)
        group = np.arange(draws) % G
        for g, models in enumerate(self.groups_):
            mine = np.flatnonzero(group == g)
            if mine.size:
                out[mine] = self._chain(models, design, u[mine])
        return out

    def _chain(self, models: list[Any], design: np.ndarray, u: np.ndarray) -> np.ndarray:
        m, n, k = u.shape
        out = np.zeros((m, n, k))
        for j, model in enumerate(models):
            if j == 0:  # nothing drawn yet: one prediction serves every draw
                out[:, :, 0] = self._draw(model, j, design, u[:, :, 0])
                continue
            features = np.hstack([np.tile(design, (m, 1)), out[:, :, :j].reshape(m * n, j)])
            out[:, :, j] = self._draw(model, j, features, u[:, :, j].reshape(1, -1)).reshape(m, n)
        return out

    def _draw(self, model: Any, j: int, features: np.ndarray, u: np.ndarray) -> np.ndarray:
        """Draws (m, rows) for uniforms u (m, rows): a random quantile or a class."""
        if self.discrete_[j]:
            proba = model.predict_proba(features)
            return model.classes_[rng.inverse_cdf(np.cumsum(proba, axis=1), u)].astype(np.float64)
        # microimpute's grid: G levels spread over (0, 1), a uniform rounded onto it
        G = self.params["quantile_grid"]
        grid = list(np.linspace(1.0 / (G + 1), 1.0 - 1.0 / (G + 1), G))
        pred = np.asarray(model.predict(features, quantiles=grid)).reshape(features.shape[0], G)
        idx = np.clip(np.rint(u * (G - 1)).astype(np.int64), 0, G - 1)
        return np.take_along_axis(np.broadcast_to(pred, (u.shape[0],) + pred.shape), idx[:, :, None], axis=2)[:, :, 0]

    def nested_resamples(self) -> int | None:
        return int(self.params["mi_groups"]) if self.params["mi"] == "trees" else None

    def describe(self) -> dict[str, Any]:
        return {**self.params, "chaining_order": "block order", "draw": "random quantile / class probabilities",
                "chains": len(getattr(self, "groups_", [])) or None}

    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        meta = {
            "params": self.params, "discrete": self.discrete_, "n_levels": self.n_levels_,
            "random_state": self.random_state_, "persistence": "training data; forests refitted on load",
            "libraries": _library_versions(),
        }
        return meta, {"design": self.design_, "Y": self.Y_, "weights": self.weights_}

    @classmethod
    def from_state(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> "QuantileForestChain":
        self = cls(**{"mi": "none", **meta["params"]})  # files from before proper imputation: one chain
        self.design_ = np.asarray(arrays["design"], dtype=np.float64)
        self.Y_ = np.asarray(arrays["Y"], dtype=np.float64)
        self.weights_ = np.asarray(arrays["weights"], dtype=np.float64)
        self.discrete_ = [bool(d) for d in meta["discrete"]]
        self.n_levels_ = [int(v) for v in meta["n_levels"]]
        self.random_state_ = int(meta["random_state"])
        saved, here = meta.get("libraries") or {}, _library_versions()
        changed = [f"{lib} {saved.get(lib, 'unknown')} -> {here[lib]}" for lib in here if saved.get(lib) != here[lib]]
        if changed:
            warnings.warn(
                f"this qrf model is refitted on load under different library versions ({'; '.join(changed)}); "
                "its draws may differ from the saved model's. Refit it, or install the versions it was saved with",
                RuntimeWarning, stacklevel=2)
        self._fit_models()
        return self


def _library_versions() -> dict[str, str]:
    """Versions whose tree-growing code decides what a refit on load reproduces."""
    import quantile_forest
    import sklearn

    return {"scikit-learn": sklearn.__version__, "quantile-forest": quantile_forest.__version__}
