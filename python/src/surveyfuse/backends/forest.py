"""Joint forest sampler (the default method).

One multi-output random forest is grown on the whole block at once. Its
targets are rescaled so that no variable dominates the splits: numeric
variables by their donor rank (zeros tie at one mid-rank), discrete ones as
one-hot columns; every column is standardised and a variable with m columns
is down-weighted by 1/sqrt(m).

The forest's leaves define, for a recipient row, a distribution over donor
rows (the weights of a quantile regression forest, Meinshausen 2006, but over
whole records): pick a tree uniformly, find the recipient's leaf, pick a donor
in that leaf with probability proportional to its sampling weight, and copy
the donor's whole block. Draws are real donor records, so every identity that
holds in the donor holds in the output.

Levels (``levels``, see :mod:`.levels`): leaves are wide where donors are
few, at the top of the income distribution, so a copied record would carry
its leaf's level. A level model fitted beside the forest prefers donors of
the recipient's predicted level and rescales the copied amounts by one
positive factor per group of constraint-linked variables, which keeps zeros,
signs and identities.

Proper multiple imputation (``mi``, see :mod:`.resampling`): with
``mi="trees"`` (default) the trees are grown in ``mi_groups`` groups, each on
its own Bayesian-bootstrap re-weighting of the donor, and imputation ``d``
draws from group ``d mod mi_groups`` with leaf weights and level model of the
same resample; ``"bootstrap"`` keeps one forest and re-weights leaves and
level model per imputation, keyed by (sample seed, imputation); ``"none"``
draws every imputation from one fit.

Leaf size is chosen from the data: part of the donor is held out, a small
forest is grown for each candidate, and the candidate whose draws give the
lowest energy score on the held-out rows (in the scaled target space) wins.
``max_features="auto"`` extends the search to the share of predictors tried
per split, at the chosen leaf size (a coordinate search). It is opt-in: on the
CPS benchmark tasks it moved held-out energy by -0.2% to +1.1% against the
fixed 0.6, because the small forests' scores are too noisy to tell such
close settings apart. The scores are kept for :meth:`ForestSampler.describe`.

Sampling walks stored node tables (:mod:`._trees`), never the sklearn
objects, so saved models draw exactly what the fitted one drew.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import ndtri
from sklearn.ensemble import ExtraTreesRegressor, RandomForestRegressor

from .. import rng
from ..data.features import Features
from ..data.types import Variable
from ..evaluate.scores import energy_score
from ._trees import apply_trees, trees_to_arrays
from .base import Backend, FitContext
from .levels import FOREST_LEVEL_PROPERTIES, LEVEL_PROPERTIES, LevelModel, document_level_params, level_model
from .params import AUTO_CHOICE, BOOLEAN, NON_ZERO_INT, POSITIVE_INT, enum, number, object_schema, param
from .resampling import (ACCEPT_STREAM, BALANCE_ROUNDS, BALANCE_SEED, MATCH_ATTEMPTS, DonorResampler, KeyedUniforms, remember,
                         usage_balance)
from .threads import in_threads

#: candidate leaf sizes for the automatic choice (filtered by donor size)
LEAF_CANDIDATES = (3, 6, 12, 25, 50, 100)
#: candidate shares of predictors per split; the first is used while the leaf size is searched
MAX_FEATURES_CANDIDATES = (0.6, 1.0)
_TREE_KEYS = ("children_left", "children_right", "feature", "threshold", "node_offset")


def scaled_targets(Y: np.ndarray, variables: list[Variable], scale: str = "rank") -> np.ndarray:
    """Block as split targets of comparable weight (ranks, one-hot, standardised).

    ``scale="normal"`` maps ranks to normal scores, which spreads the tails
    (large incomes) further apart than plain ranks do; ``"level"`` uses the
    standardised values themselves, so splits see levels (a top income's
    taxes differ from a high income's) at the price of weighing outliers
    heavily; ``"rank+level"`` uses both, each at half weight.
    """
    if scale == "rank+level":
        return np.hstack([scaled_targets(Y, variables, "rank"), scaled_targets(Y, variables, "level")]) / np.sqrt(2)
    cols: list[np.ndarray] = []
    for j, var in enumerate(variables):
        y = Y[:, j]
        if var.kind.is_discrete:
            levels = max(var.n_levels, int(np.nanmax(y)) + 1 if y.size else 1)
            block = (y[:, None] == np.arange(levels)[None, :]).astype(np.float64)
        elif scale == "level":
            block = y[:, None].astype(np.float64)
        else:
            order = np.sort(y)
            lo = np.searchsorted(order, y, side="left")
            hi = np.searchsorted(order, y, side="right")
            block = (0.5 * (lo + hi) / max(y.size, 1))[:, None]
            if scale == "normal":
                block = ndtri(np.clip(block, 0.5 / y.size, 1 - 0.5 / y.size))
        sd = block.std(axis=0)
        block = (block - block.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
        cols.append(block / np.sqrt(block.shape[1]))
    return np.hstack(cols)


class LeafSampler:
    """Donor rows grouped by leaf, with cumulative weights, for fast draws.

    ``order`` lists (tree, donor) pairs sorted by global leaf index, as donor
    row numbers; ``leaf_start``/``leaf_end`` give each node's slice of it.
    A draw searches the running sum of donor weights along ``order``, which
    is monotone because weights are positive.
    """

    def __init__(self, order: np.ndarray, leaf_start: np.ndarray, leaf_end: np.ndarray, weights: np.ndarray) -> None:
        self.order = order
        self.leaf_start = leaf_start
        self.leaf_end = leaf_end
        self.cum = np.cumsum(weights[order])

    @classmethod
    def build(cls, donor_leaves: np.ndarray, n_nodes: int, weights: np.ndarray) -> "LeafSampler":
        n, T = donor_leaves.shape
        flat = donor_leaves.T.ravel()  # tree-major: pair p = t * n + i
        perm = np.argsort(flat, kind="stable")
        order = (perm % n).astype(np.int32)
        keys = flat[perm]
        nodes = np.arange(n_nodes)
        start = np.searchsorted(keys, nodes, side="left").astype(np.int64)
        end = np.searchsorted(keys, nodes, side="right").astype(np.int64)
        return cls(order, start, end, weights)

    def reweighted(self, weights: np.ndarray) -> "LeafSampler":
        """The same leaves with other donor weights (one imputation's bootstrap resample)."""
        return LeafSampler(self.order, self.leaf_start, self.leaf_end, weights)

    def draw(self, leaves: np.ndarray, rows: np.ndarray, draws: int, seed: int) -> np.ndarray:
        """Donor indices (draws, n) for recipients whose leaves are ``leaves`` (n, T)."""
        return self.pick(leaves, rng.uniforms(seed, rows, draws, width=2))

    def pick(self, leaves: np.ndarray, u: np.ndarray, trees: tuple[int, int] | None = None) -> np.ndarray:
        """Donor indices (m, n) from uniforms ``u`` (m, n, 2): a tree (of ``trees`` = [first, stop)), then a donor."""
        n, T = leaves.shape
        first, stop = trees or (0, T)
        tree = first + np.minimum((u[..., 0] * (stop - first)).astype(np.int64), stop - first - 1)
        leaf = leaves[np.arange(n)[None, :], tree]
        pos = rng.inverse_cdf(self.cum, u[..., 1], self.leaf_start[leaf], self.leaf_end[leaf])
        return self.order[pos].astype(np.int64)


#: ways to realise proper multiple imputation (see the module docstring)
MI_MODES = ("bootstrap", "trees", "none")
#: a share of something: a number in (0, 1]
FRACTION = {"type": "number", "exclusiveMinimum": 0, "maximum": 1}


@document_level_params
class ForestSampler(Backend):
    """``method="forest"`` (the default): one random forest on the whole block; draws are donor records.

    See the module docstring for how it works. Every parameter has a default
    that the benchmarks chose; ``"auto"`` settings are picked on held-out
    donor rows at fit time (the choice is in ``fit_report_["method_params"]``).

    Parameters
    ----------
    n_estimators : int, default 60
        Trees in the forest.
    min_samples_leaf : int or "auto", default "auto"
        Donors per leaf at least; ``"auto"`` picks among ``leaf_candidates``
        by the energy score on held-out donor rows.
    max_features : float, int, "sqrt", "log2" or "auto", default 0.6
        Share (or number) of predictors tried per split; ``"auto"`` also
        chooses it on held-out rows.
    max_samples : float or None, default 0.7
        Share of donor rows each tree is grown on (``None``: all, bootstrapped).
    extra_trees : bool, default False
        Extremely randomised trees (random split points) instead of a random forest.
    target_scale : "rank", "normal", "level" or "rank+level", default "rank"
        How numeric block variables are scaled as split targets: donor ranks,
        normal scores of the ranks (spreads the tails), standardised levels,
        or ranks and levels side by side.
    {level_parameters}
    mi : "trees", "bootstrap" or "none", default "trees"
        Proper multiple imputation: trees grown in ``mi_groups`` groups, each
        on its own Bayesian-bootstrap resample, imputation ``d`` from group
        ``d mod mi_groups``; one forest re-weighted per imputation; or every
        imputation from one fit (between-imputation spread then misses the
        model's uncertainty).
    mi_groups : int, default 10
        Tree groups for ``mi="trees"`` (at most ``n_estimators``).
    leaf_candidates : list of int or None, default None
        Leaf sizes ``"auto"`` chooses from (default 3, 6, 12, 25, 50, 100, as
        the donor size allows).
    holdout_fraction : float, default 0.2
        Share of the donor held out to choose the ``"auto"`` settings.
    n_jobs : int, default -1
        Cores used to grow trees (-1: all).

    Examples
    --------
    >>> import surveyfuse as sf
    >>> donor, recipient = sf.datasets.make_surveys(n_donor=400, n_recipient=50, seed=0)
    >>> imp = sf.Imputer(["interest", "dividends"], ["age", "wage"], method="forest",
    ...                  params={"n_estimators": 20, "min_samples_leaf": 10}).fit(donor)
    >>> imp.fit_report_["method_params"]["min_samples_leaf"]
    10
    """

    name = "forest"
    param_schema = object_schema({
        "n_estimators": param(60, "a positive integer", "Trees in the forest.", **POSITIVE_INT),
        "min_samples_leaf": param("auto", "'auto' or a positive integer", "Donors per leaf at least; 'auto' picks "
                                  "among leaf_candidates on held-out donor rows.", anyOf=[AUTO_CHOICE, POSITIVE_INT]),
        "max_features": param(0.6, "'auto', a fraction in (0, 1], a positive integer, 'sqrt' or 'log2'",
                              "Share (or number) of predictors tried per split; 'auto' chooses it on held-out rows.",
                              anyOf=[{"enum": ["auto", "sqrt", "log2"]}, POSITIVE_INT, FRACTION]),
        "max_samples": param(0.7, "null or a fraction in (0, 1]", "Share of donor rows each tree is grown on "
                             "(null: all, bootstrapped).", anyOf=[{"type": "null"}, FRACTION]),
        "extra_trees": param(False, "true or false", "Extremely randomised trees instead of a random forest.", **BOOLEAN),
        "target_scale": enum("rank", ["rank", "normal", "level", "rank+level"], "How numeric block variables are "
                             "scaled as split targets: ranks, normal scores, levels, or ranks and levels."),
        **LEVEL_PROPERTIES,
        **FOREST_LEVEL_PROPERTIES,
        "mi": enum("trees", list(MI_MODES), "Proper multiple imputation: tree groups on their own bootstrap "
                   "resamples, one forest re-weighted per imputation, or every imputation from one fit."),
        "mi_groups": param(10, "a positive integer, at most n_estimators", "Tree groups for mi='trees'.", **POSITIVE_INT),
        "leaf_candidates": param(None, "null or a non-empty list of positive integers", "Leaf sizes 'auto' chooses "
                                 "from (null: 3 to 100, as the donor size allows).",
                                 anyOf=[{"type": "null"}, {"type": "array", "items": POSITIVE_INT, "minItems": 1}]),
        "holdout_fraction": number(0.2, "a fraction between 0.05 and 0.5", "Share of the donor held out to choose "
                                   "the 'auto' settings.", minimum=0.05, maximum=0.5),
        "n_jobs": param(-1, "a non-zero integer (-1 = all cores)", "Cores used to grow trees (-1: all).", **NON_ZERO_INT),
    })
    proper_mi = "native"

    def check_params(self) -> None:
        super().check_params()
        if self.params["mi_groups"] > self.params["n_estimators"]:
            raise self._bad_param("mi_groups", self.param_schema["properties"]["mi_groups"]["expected"])

    # ------------------------------------------------------------------ fit
    def _forest(self, n_estimators: int, min_samples_leaf: int, max_features: Any, seed: int, n_jobs: int | None = None):
        p = self.params
        cls = ExtraTreesRegressor if p["extra_trees"] else RandomForestRegressor
        kwargs: dict[str, Any] = dict(
            n_estimators=n_estimators, min_samples_leaf=min_samples_leaf, max_features=max_features,
            n_jobs=p["n_jobs"] if n_jobs is None else n_jobs, random_state=seed,
        )
        if p["max_samples"] is not None and p["max_samples"] < 1:
            kwargs.update(bootstrap=True, max_samples=p["max_samples"])
        elif p["extra_trees"]:
            kwargs.update(bootstrap=False)
        return cls(**kwargs)

    def _grow(self, design: np.ndarray, targets: np.ndarray, weights: np.ndarray, n_estimators: int,
              min_samples_leaf: int, max_features: Any, seed: int,
              n_jobs: int | None = None) -> tuple[dict[str, np.ndarray], LeafSampler]:
        trees, leaves = self._grow_trees(design, targets, weights, n_estimators, min_samples_leaf, max_features, seed,
                                         n_jobs)
        return trees, LeafSampler.build(leaves, int(trees["node_offset"][-1]), weights)

    def _grow_trees(self, design: np.ndarray, targets: np.ndarray, weights: np.ndarray, n_estimators: int,
                    min_samples_leaf: int, max_features: Any, seed: int,
                    n_jobs: int | None = None) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Node tables of a fitted forest and every donor's global leaf per tree."""
        model = self._forest(n_estimators, min_samples_leaf, max_features, seed, n_jobs)
        model.fit(design, targets[:, 0] if targets.shape[1] == 1 else targets, sample_weight=weights)
        trees = trees_to_arrays(model.estimators_)
        # sklearn's apply (C, same float32 comparison) equals apply_trees, tested
        return trees, model.apply(design) + trees["node_offset"][:-1][None, :]

    def fit(self, X: Features, Y: np.ndarray, context: FitContext) -> "ForestSampler":
        design = X.design("ordinal", "none")
        Y = np.asarray(Y, dtype=np.float64)
        weights = np.asarray(context.weights, dtype=np.float64)
        targets = scaled_targets(Y, context.variables, self.params["target_scale"])
        seed = int(context.random_state)
        leaf, max_features, self.selection_, holdout = self._choose(design, targets, weights, seed)
        self.min_samples_leaf_ = int(leaf)
        self.max_features_ = max_features
        self.seed_ = seed
        leaves = None  # the donors' own leaves, where the fit has them
        if self.params["mi"] == "trees":
            self.trees_, leaves = self._grow_groups(design, targets, weights, seed)
            self.sampler_ = LeafSampler.build(leaves, int(self.trees_["node_offset"][-1]), weights)
        else:
            self.trees_, self.sampler_ = self._grow(design, targets, weights, self.params["n_estimators"],
                                                    self.min_samples_leaf_, self.max_features_, seed)
        self.Y_ = Y
        self.weights_ = weights
        self.levels_ = None
        if self.params["levels"] != "none":
            self.levels_ = level_model(self.params).fit(X, Y, context.variables, weights, context.constraints,
                                                        n_jobs=self.params["n_jobs"])
            if "ratio" in self.params["levels"] and self.levels_.active_ and self.params["level_elasticity"] == "auto":
                pairs = self._holdout_pairs(holdout, design, targets, weights, seed)
                if pairs is not None:
                    self.levels_.fit_elasticity(X, *pairs, Y, weights)
        self.match_balance_ = self._match_balance(X, design, weights, leaves)
        self._keep_donor_features(X)
        return self

    def _match_balance(self, X: Features, design: np.ndarray, weights: np.ndarray,
                       leaves: np.ndarray | None) -> np.ndarray | None:
        """The donors' usage balance for matching (:func:`.resampling.usage_balance`), from the
        proposals the whole forest makes for the donors themselves (``leaves``: theirs, when the
        fit has them); None without matching."""
        if self.levels_ is None or not self.levels_.active_ or "match" not in self.params["levels"] \
                or not self.params["level_balance"]:
            return None
        if leaves is None:
            leaves = apply_trees(self.trees_, design)
        rows = np.arange(len(weights))
        uniforms = KeyedUniforms(BALANCE_SEED, rows, BALANCE_ROUNDS, 2, 0)

        def propose(p: int) -> np.ndarray:
            b, a = divmod(p, MATCH_ATTEMPTS)
            return self.sampler_.pick(leaves, uniforms(a)[b : b + 1])[0]

        resampler = DonorResampler(weights, self.levels_, None, self.params["levels"], self.params["level_bandwidth"])
        return usage_balance(resampler, X, propose, weights)

    def _grow_groups(self, design: np.ndarray, targets: np.ndarray, weights: np.ndarray,
                     seed: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """``mi="trees"``: ``mi_groups`` groups of trees, each grown on its own Bayesian-bootstrap resample."""
        G, T = self.params["mi_groups"], self.params["n_estimators"]
        sizes = [T // G + (g < T % G) for g in range(G)]

        def grow(g: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
            wg = weights * rng.bayesian_bootstrap(seed, g, np.arange(len(weights)))
            return self._grow_trees(design, targets, wg, sizes[g], self.min_samples_leaf_, self.max_features_,
                                    rng.derive_seed(seed, 11, g) % (2**31), n_jobs=1)

        # the groups grow side by side, one thread each (a group's few trees would leave cores idle, and
        # each sklearn fit pays its own dispatch); every group's trees are those of its own seed either way
        grown = in_threads(grow, range(G), self.params["n_jobs"])
        tables, leaves, offset = [], [], 0
        for trees, lv in grown:
            tables.append(trees)
            leaves.append(lv + offset)
            offset += int(trees["node_offset"][-1])
        merged = {k: np.concatenate([t[k] for t in tables]) for k in ("feature", "threshold")}
        shift = np.cumsum([0] + [int(t["node_offset"][-1]) for t in tables])
        for k in ("children_left", "children_right"):
            merged[k] = np.concatenate([np.where(t[k] >= 0, t[k] + s, -1) for t, s in zip(tables, shift)])
        merged["node_offset"] = np.concatenate([t["node_offset"][:-1] + s for t, s in zip(tables, shift)] + [[shift[-1]]])
        self.group_trees_ = np.cumsum([0] + sizes)
        return merged, np.hstack(leaves)

    def _keep_donor_features(self, X: Features) -> None:
        """Donor predictors, kept when imputations refit the level model on their resamples."""
        self.donor_numeric_ = X.numeric if self._refits_levels() else np.zeros((0, X.numeric.shape[1]))
        self.donor_codes_ = X.codes if self._refits_levels() else np.zeros((0, X.codes.shape[1]), np.int64)
        self.resampler_ = None

    def nested_resamples(self) -> int | None:
        return int(self.params["mi_groups"]) if self.params["mi"] == "trees" else None

    def _refits_levels(self) -> bool:
        return self.levels_ is not None and self.levels_.active_ and self.params["mi"] != "none"

    def _choose(self, design: np.ndarray, targets: np.ndarray, weights: np.ndarray,
                seed: int) -> tuple[int, Any, dict[str, Any], "_HoldoutScore | None"]:
        """Leaf size and max_features: the user's values, or the best on held-out donor rows; and the
        held-out scores when it compared candidates."""
        leaf, mf = self.params["min_samples_leaf"], self.params["max_features"]
        if leaf != "auto" and mf != "auto":
            return int(leaf), mf, {"chosen_by": "user"}, None
        n = design.shape[0]
        held = self._held_out(n, seed)
        n_train = int((~held).sum())
        default_leaf = max(1, min(5, n // 10))
        leaves = [int(leaf)] if leaf != "auto" else sorted(set(
            int(c) for c in (self.params["leaf_candidates"] or [c for c in LEAF_CANDIDATES if c <= max(n_train // 20, 1)])
        )) or [default_leaf]
        features = [mf] if mf != "auto" else list(MAX_FEATURES_CANDIDATES)
        too_few = held.sum() < 20
        if too_few or len(leaves) * len(features) == 1:
            choice = default_leaf if too_few and leaf == "auto" else leaves[0]
            return choice, features[0], {"chosen_by": "too few donor rows to compare, default", "candidates": {}}, None
        score = _HoldoutScore(self, design, targets, weights, held, seed)
        score.precompute([(c, features[0]) for c in leaves])
        best_leaf = min(leaves, key=lambda c: score(c, features[0]))
        best_mf = min(features, key=lambda f: score(best_leaf, f))
        selection: dict[str, Any] = {"chosen_by": "holdout energy score (scaled block)"}
        if len(leaves) > 1:
            selection["candidates"] = {str(c): score(c, features[0]) for c in leaves}
        if len(features) > 1:
            selection["max_features_candidates"] = {str(f): score(best_leaf, f) for f in features}
        selection.update(holdout_rows=int(held.sum()), selection_trees=score.n_trees)
        return best_leaf, best_mf, selection, score

    def _held_out(self, n: int, seed: int) -> np.ndarray:
        """The donor rows held out to choose settings (at most about 4,000: enough to rank them, cheap at scale)."""
        u = rng.uniforms(rng.derive_seed(seed, 7), np.arange(n), 1)[0, :, 0]
        held = u < self.params["holdout_fraction"]
        if held.sum() > 4000:
            held &= u < self.params["holdout_fraction"] * 4000 / held.sum()
        return held

    def _holdout_pairs(self, score: "_HoldoutScore | None", design: np.ndarray, targets: np.ndarray,
                       weights: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray] | None:
        """(held-out rows, the donors (m, n) a forest grown without them proposes) at the chosen settings: the
        pairs the level model measures its transfer elasticity on. From the choice's own ``score`` when it
        compared candidates."""
        if score is None:
            held = self._held_out(design.shape[0], seed)
            if held.sum() < 20 or (~held).sum() < 20:
                return None
            score = _HoldoutScore(self, design, targets, weights, held, seed)
        score(self.min_samples_leaf_, self.max_features_)
        return score.held, score.draws[self.min_samples_leaf_, self.max_features_]

    # ------------------------------------------------------------------ sample
    def sample(self, X: Features, rows: np.ndarray, draws: int, seed: int) -> np.ndarray:
        """Imputation ``d`` copies donors of the recipient's leaves under resample (seed, d) of the donor weights
        (``mi="bootstrap"``), or from tree group ``d mod mi_groups`` (``"trees"``), rescaled to the recipient's level."""
        rows = np.asarray(rows)
        leaves = apply_trees(self.trees_, X.design("ordinal", "none"))
        proposals, accepts = KeyedUniforms(seed, rows, draws, 2, 0), KeyedUniforms(seed, rows, draws, 1, ACCEPT_STREAM)
        resampler = self._resampler(X)
        out = np.empty((draws, len(X), self.Y_.shape[1]))
        groups = len(self.group_trees_) - 1 if self.params["mi"] == "trees" else 1
        # imputations of one tree group one after the other, so its re-weighted leaves are built once
        # (each imputation's draws depend on its own keys only, not on this order)
        for d in sorted(range(draws), key=lambda d: d % groups):
            mode, trees, key = self.params["mi"], None, None
            if mode == "bootstrap":
                key = (int(seed), d)
            elif mode == "trees":
                g = d % (len(self.group_trees_) - 1)
                key, trees = (self.seed_, g), (int(self.group_trees_[g]), int(self.group_trees_[g + 1]))
            sampler = self.sampler_ if key is None else self._group_sampler(key, resampler)
            donors = resampler.choose(X, key, lambda a: sampler.pick(leaves, proposals(a)[d : d + 1], trees)[0],
                                      lambda a: accepts(a)[d, :, 0])
            out[d] = resampler.copy(self.Y_, X, donors[None, :], key)[0]
        return out

    def _resampler(self, X: Features) -> DonorResampler:
        if getattr(self, "resampler_", None) is None:
            donor = Features(self.donor_numeric_, self.donor_codes_, X.encoder) if self._refits_levels() else None
            self.resampler_ = DonorResampler(self.weights_, self.levels_, donor, self.params["levels"],
                                             self.params["level_bandwidth"], getattr(self, "match_balance_", None))
            self._samplers: dict[tuple[int, int], LeafSampler] = {}
        return self.resampler_

    def _group_sampler(self, key: tuple[int, int], resampler: DonorResampler) -> LeafSampler:
        return remember(self._samplers, key, lambda: self.sampler_.reweighted(resampler.resample_weights(key)), limit=4)

    def describe(self) -> dict[str, Any]:
        out = {k: v for k, v in self.params.items() if k not in ("min_samples_leaf", "leaf_candidates")}
        out["min_samples_leaf"] = int(getattr(self, "min_samples_leaf_", 0)) or self.params["min_samples_leaf"]
        out["max_features"] = getattr(self, "max_features_", self.params["max_features"])
        out.update(getattr(self, "selection_", {}))
        if getattr(self, "levels_", None) is not None:
            levels = self.levels_.describe()
            out["levels_scaled"] = levels["scaled"]
            if self.params["level_elasticity"] == "auto":
                out["levels_elasticity"] = levels["elasticity"]
        return out

    # ------------------------------------------------------------------ persistence
    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        meta = {"params": self.params, "min_samples_leaf": self.min_samples_leaf_, "max_features": self.max_features_,
                "selection": self.selection_, "seed": self.seed_}
        arrays = {k: self.trees_[k] for k in _TREE_KEYS}
        arrays.update(
            leaf_order=self.sampler_.order, leaf_start=self.sampler_.leaf_start, leaf_end=self.sampler_.leaf_end,
            Y=self.Y_, weights=self.weights_, donor_numeric=self.donor_numeric_, donor_codes=self.donor_codes_,
        )
        if self.params["mi"] == "trees":
            arrays["group_trees"] = self.group_trees_
        if self.match_balance_ is not None:
            arrays["match_balance"] = self.match_balance_
        if self.levels_ is not None:
            lmeta, larrays = self.levels_.get_state()
            meta["levels"] = lmeta
            arrays.update({f"levels/{k}": v for k, v in larrays.items()})
        return meta, arrays

    @classmethod
    def from_state(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> "ForestSampler":
        # files from before levels and proper imputation existed drew plain copies from one fit
        self = cls(**{"levels": "none", "mi": "none", **meta["params"]})
        self.seed_ = int(meta.get("seed", 0))
        self.levels_ = LevelModel.from_state(meta["levels"], {k[7:]: v for k, v in arrays.items() if k.startswith("levels/")}) \
            if "levels" in meta else None
        self.donor_numeric_ = np.asarray(arrays.get("donor_numeric", np.zeros((0, 0))), dtype=np.float64)
        self.donor_codes_ = np.asarray(arrays.get("donor_codes", np.zeros((0, 0))), dtype=np.int64)
        if self.params["mi"] == "trees":
            self.group_trees_ = np.asarray(arrays["group_trees"], dtype=np.int64)
        # models saved before the usage balance matched by rejection sampling, as they still do
        self.match_balance_ = np.asarray(arrays["match_balance"], dtype=np.float64) if "match_balance" in arrays else None
        self.min_samples_leaf_ = int(meta["min_samples_leaf"])
        self.max_features_ = meta.get("max_features", meta["params"]["max_features"])
        self.selection_ = dict(meta.get("selection") or {})
        self.trees_ = {k: np.asarray(arrays[k], dtype=np.float64 if k == "threshold" else np.int64) for k in _TREE_KEYS}
        self.Y_ = np.asarray(arrays["Y"], dtype=np.float64)
        self.weights_ = np.asarray(arrays["weights"], dtype=np.float64)
        self.sampler_ = LeafSampler(
            np.asarray(arrays["leaf_order"], dtype=np.int32), np.asarray(arrays["leaf_start"], dtype=np.int64),
            np.asarray(arrays["leaf_end"], dtype=np.int64), self.weights_,
        )
        return self


class _HoldoutScore:
    """Energy score of a small forest's draws on the held-out donor rows, per candidate setting.

    Scores are remembered, so the max_features search reuses the forest the
    leaf search already grew at the chosen leaf size.
    """

    def __init__(self, backend: ForestSampler, design: np.ndarray, targets: np.ndarray, weights: np.ndarray,
                 held: np.ndarray, seed: int) -> None:
        self.backend, self.seed = backend, seed
        self.train, self.held = np.flatnonzero(~held), np.flatnonzero(held)
        self.design, self.targets, self.weights = design, targets, weights
        self.n_trees = min(backend.params["n_estimators"], 12)
        self.scores: dict[tuple[int, Any], float] = {}
        self.draws: dict[tuple[int, Any], np.ndarray] = {}  # the held-out rows' donors (10, n_held), donor row numbers

    def precompute(self, settings: list[tuple[int, Any]]) -> None:
        """Score the candidate ``settings`` side by side, one thread each (same scores as one by one)."""
        todo = [s for s in settings if s not in self.scores]
        for s, value in zip(todo, in_threads(lambda s: self._score(*s), todo, self.backend.params["n_jobs"])):
            self.scores[s] = value

    def __call__(self, leaf: int, max_features: Any) -> float:
        if (leaf, max_features) not in self.scores:
            self.scores[leaf, max_features] = self._score(leaf, max_features)
        return self.scores[leaf, max_features]

    def _score(self, leaf: int, max_features: Any) -> float:
        tr, ho = self.train, self.held
        trees, leaf_sampler = self.backend._grow(self.design[tr], self.targets[tr], self.weights[tr], self.n_trees,
                                                 leaf, max_features, self.seed, n_jobs=1)
        leaves = apply_trees(trees, self.design[ho])
        donors = leaf_sampler.draw(leaves, ho, 10, rng.derive_seed(self.seed, 8))
        self.draws[leaf, max_features] = tr[donors]
        return round(energy_score(self.targets[tr][donors], self.targets[ho], self.weights[ho]), 5)
