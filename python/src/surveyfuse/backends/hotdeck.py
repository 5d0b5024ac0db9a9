"""Nearest-neighbour distance hot deck (R StatMatch's NND.hotdeck, randomised).

For each recipient row the ``k`` nearest donors on the rank-scaled, one-hot
encoded predictors form its donor pool, optionally only donors of the same
class of some categorical predictors (``classes``). Each draw picks one donor
of the pool with probability proportional to its sampling weight and copies
its whole block, so identities that hold in the donor hold in the output.

With ``levels="match+ratio"`` (default) donors of the pool whose predicted
level is close to the recipient's are preferred and the copied amounts are
rescaled to the recipient's predicted level (see :mod:`.levels`).
With ``mi="bootstrap"`` (default) imputation ``d`` draws from the pool under
its own Bayesian-bootstrap re-weighting of the donors and refits the level
model on it: Rubin and Schenker's approximate Bayesian bootstrap, which
makes the imputations proper (see :mod:`.resampling`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.neighbors import NearestNeighbors

from .. import rng
from ..data.features import Features
from .base import Backend, FitContext
from .levels import LEVEL_PROPERTIES, LevelModel, document_level_params, level_model
from .params import NAMES, POSITIVE_INT, enum, object_schema, param
from .resampling import ACCEPT_STREAM, DonorResampler, KeyedUniforms


@document_level_params
class HotDeck(Backend):
    """``method="hotdeck"``: a random donor among each recipient's nearest neighbours; draws are donor records.

    Parameters
    ----------
    k : int, default 10
        Nearest donors (on rank-scaled, one-hot predictors) in each recipient's pool.
    classes : list of str, default []
        Categorical predictors whose value a donor must share with the
        recipient (imputation classes, as in StatMatch's ``don.class``).
    {level_parameters}
    mi : "bootstrap" or "none", default "bootstrap"
        Proper multiple imputation: imputation ``d`` draws under its own
        Bayesian-bootstrap re-weighting of the donors (approximate Bayesian
        bootstrap), or every imputation from the one donor set.

    Examples
    --------
    >>> import surveyfuse as sf
    >>> donor, recipient = sf.datasets.make_surveys(n_donor=400, n_recipient=50, seed=0)
    >>> out = sf.impute(donor, recipient, block=["interest", "dividends"], predictors=["age", "married", "wage"],
    ...                 categorical=["married"], method="hotdeck", params={"k": 5, "classes": ["married"]},
    ...                 draws=2, seed=0)
    >>> len(out)
    100
    """

    name = "hotdeck"
    param_schema = object_schema({
        "k": param(10, "a positive integer", "Nearest donors (on rank-scaled, one-hot predictors) in each recipient's pool.", **POSITIVE_INT),
        "classes": param([], "a list of categorical predictor names", "Categorical predictors a donor must match "
                         "exactly (imputation classes).", **NAMES),
        **LEVEL_PROPERTIES,
        "mi": enum("bootstrap", ["bootstrap", "none"], "Proper multiple imputation: donors re-weighted by a "
                   "Bayesian bootstrap per imputation, or every imputation from one fit."),
    })
    proper_mi = "native"

    def fit(self, X: Features, Y: np.ndarray, context: FitContext) -> "HotDeck":
        cat_names = [v.name for v in X.encoder.categorical_]
        for c in self.params["classes"]:
            if c not in cat_names:
                raise self._bad_param("classes", f"names of categorical predictors ({', '.join(cat_names) or 'none'})")
        self.class_columns_ = np.array([cat_names.index(c) for c in self.params["classes"]], dtype=np.int64)
        self.donor_design_ = X.design("onehot", "rank")
        self.donor_classes_ = X.codes[:, self.class_columns_] if self.class_columns_.size else np.zeros((len(X), 0), np.int64)
        self.Y_ = np.asarray(Y, dtype=np.float64)
        self.weights_ = np.asarray(context.weights, dtype=np.float64)
        self.levels_ = (level_model(self.params).fit(X, self.Y_, context.variables, self.weights_, context.constraints)
                        if self.params["levels"] != "none" else None)
        refits = self.levels_ is not None and self.levels_.active_ and self.params["mi"] == "bootstrap"
        self.donor_numeric_ = X.numeric if refits else np.zeros((0, X.numeric.shape[1]))
        self.donor_codes_ = X.codes if refits else np.zeros((0, X.codes.shape[1]), np.int64)
        self._build_index()
        return self

    def _build_index(self) -> None:
        self.k_ = min(self.params["k"], len(self.Y_))
        self._indexes: dict[tuple[int, ...], tuple[np.ndarray, NearestNeighbors]] = {}
        keys = [tuple(r) for r in self.donor_classes_] if self.class_columns_.size else [()] * len(self.Y_)
        groups: dict[tuple[int, ...], list[int]] = {}
        for i, key in enumerate(keys):
            groups.setdefault(key, []).append(i)
        groups[None] = list(range(len(self.Y_)))  # type: ignore[index]  # fallback pool: all donors
        for key, members in groups.items():
            idx = np.asarray(members)
            # a tree computes each distance exactly; brute force uses blocked BLAS whose rounding
            # depends on the batch, which would break chunk invariance at near-ties
            nn = NearestNeighbors(n_neighbors=min(self.k_, idx.size), algorithm="kd_tree").fit(self.donor_design_[idx])
            self._indexes[key] = (idx, nn)  # type: ignore[index]
        self.resampler_: DonorResampler | None = None

    def sample(self, X: Features, rows: np.ndarray, draws: int, seed: int) -> np.ndarray:
        design = X.design("onehot", "rank")
        n = len(X)
        pools = np.zeros((n, self.k_), dtype=np.int64)
        pool_size = np.zeros(n, dtype=np.int64)
        if self.class_columns_.size:
            keys = [tuple(r) for r in X.codes[:, self.class_columns_]]
        else:
            keys = [()] * n
        by_key: dict[Any, list[int]] = {}
        for i, key in enumerate(keys):
            by_key.setdefault(key if key in self._indexes else None, []).append(i)
        for key, members in by_key.items():
            idx, nn = self._indexes[key]
            m = np.asarray(members)
            neigh = nn.kneighbors(design[m], return_distance=False)
            pools[m, : neigh.shape[1]] = idx[neigh]
            pool_size[m] = neigh.shape[1]
        if self.resampler_ is None:
            donor = Features(self.donor_numeric_, self.donor_codes_, X.encoder) if len(self.donor_numeric_) else None
            self.resampler_ = DonorResampler(self.weights_, self.levels_, donor, self.params["levels"],
                                             self.params["level_bandwidth"])
        in_pool = np.arange(self.k_)[None, :] < pool_size[:, None]
        proposals, accepts = KeyedUniforms(seed, rows, draws, 1, 0), KeyedUniforms(seed, rows, draws, 1, ACCEPT_STREAM)
        out = np.empty((draws, n, self.Y_.shape[1]))
        for d in range(draws):
            key = (int(seed), d) if self.params["mi"] == "bootstrap" else None
            weights = self.weights_ if key is None else self.resampler_.resample_weights(key)
            cum = np.cumsum(weights[pools] * in_pool, axis=1)

            def propose(a: int) -> np.ndarray:
                choice = rng.inverse_cdf(cum, proposals(a)[d, :, 0])
                return pools[np.arange(n), np.minimum(choice, pool_size - 1)]

            donors = self.resampler_.choose(X, key, propose, lambda a: accepts(a)[d, :, 0])
            out[d] = self.resampler_.copy(self.Y_, X, donors[None, :], key)[0]
        return out

    def describe(self) -> dict[str, Any]:
        out = {"k": int(getattr(self, "k_", self.params["k"])), "classes": list(self.params["classes"]),
               "levels": self.params["levels"], "mi": self.params["mi"]}
        if getattr(self, "levels_", None) is not None:
            out["levels_scaled"] = self.levels_.describe()["scaled"]
        return out

    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        meta: dict[str, Any] = {"params": self.params}
        arrays = {
            "donor_design": self.donor_design_,
            "donor_classes": self.donor_classes_,
            "class_columns": self.class_columns_,
            "Y": self.Y_,
            "weights": self.weights_,
            "donor_numeric": self.donor_numeric_,
            "donor_codes": self.donor_codes_,
        }
        if self.levels_ is not None:
            meta["levels"], larrays = self.levels_.get_state()
            arrays.update({f"levels/{k}": v for k, v in larrays.items()})
        return meta, arrays

    @classmethod
    def from_state(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> "HotDeck":
        # files from before levels and proper imputation existed drew plain copies from one fit
        self = cls(**{"levels": "none", "mi": "none", **meta["params"]})
        self.levels_ = LevelModel.from_state(meta["levels"], {k[7:]: v for k, v in arrays.items() if k.startswith("levels/")}) \
            if "levels" in meta else None
        self.donor_numeric_ = np.asarray(arrays.get("donor_numeric", np.zeros((0, 0))), dtype=np.float64)
        self.donor_codes_ = np.asarray(arrays.get("donor_codes", np.zeros((0, 0))), dtype=np.int64)
        self.donor_design_ = arrays["donor_design"]
        self.donor_classes_ = arrays["donor_classes"].astype(np.int64)
        self.class_columns_ = arrays["class_columns"].astype(np.int64)
        self.Y_ = arrays["Y"]
        self.weights_ = arrays["weights"]
        self._build_index()
        return self
