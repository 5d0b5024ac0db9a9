"""Nearest-neighbour distance hot deck (R StatMatch's NND.hotdeck, randomised).

For each recipient row the ``k`` nearest donors on the rank-scaled, one-hot
encoded predictors form its donor pool, optionally only donors of the same
class of some categorical predictors (``classes``). Each draw picks one donor
of the pool with probability proportional to its sampling weight and copies
its whole block, so identities that hold in the donor hold in the output.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.neighbors import NearestNeighbors

from .. import rng
from ..data.features import Features
from .base import Backend, FitContext


class HotDeck(Backend):
    """``method="hotdeck"``: a random donor among each recipient's nearest neighbours; draws are donor records.

    Parameters
    ----------
    k : int, default 10
        Nearest donors (on rank-scaled, one-hot predictors) in each recipient's pool.
    classes : list of str, default []
        Categorical predictors whose value a donor must share with the
        recipient (imputation classes, as in StatMatch's ``don.class``).

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
    default_params = {"k": 10, "classes": []}
    copies_donor_rows = True

    def check_params(self) -> None:
        k = self.params["k"]
        if not isinstance(k, int) or isinstance(k, bool) or k < 1:
            raise self._bad_param("k", "a positive integer")
        classes = self.params["classes"]
        if not isinstance(classes, (list, tuple)) or not all(isinstance(c, str) for c in classes):
            raise self._bad_param("classes", "a list of categorical predictor names")

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
        w = self.weights_[pools] * (np.arange(self.k_)[None, :] < pool_size[:, None])
        cum = np.cumsum(w, axis=1)
        total = cum[:, -1:]
        u = rng.uniforms(seed, rows, draws)[:, :, 0]  # (draws, n)
        target = u * total[:, 0][None, :]
        choice = (cum[None, :, :] <= target[:, :, None]).sum(axis=2)
        choice = np.minimum(choice, pool_size[None, :] - 1)
        donors = np.take_along_axis(pools[None, :, :].repeat(draws, 0), choice[:, :, None], axis=2)[:, :, 0]
        return self.Y_[donors]

    def describe(self) -> dict[str, Any]:
        return {"k": int(getattr(self, "k_", self.params["k"])), "classes": list(self.params["classes"])}

    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return {"params": self.params}, {
            "donor_design": self.donor_design_,
            "donor_classes": self.donor_classes_,
            "class_columns": self.class_columns_,
            "Y": self.Y_,
            "weights": self.weights_,
        }

    @classmethod
    def from_state(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> "HotDeck":
        self = cls(**meta["params"])
        self.donor_design_ = arrays["donor_design"]
        self.donor_classes_ = arrays["donor_classes"].astype(np.int64)
        self.class_columns_ = arrays["class_columns"].astype(np.int64)
        self.Y_ = arrays["Y"]
        self.weights_ = arrays["weights"]
        self._build_index()
        return self
