"""Proper multiple imputation: each imputation from the model under its own resample of the donor.

With one fitted model, the spread between imputations is the spread of the
model's draws only: it ignores that the model was learnt from a finite donor,
so Rubin's rules intervals on the fused file are too narrow when the donor is
small against the recipient file (see docs/inference.md). Proper
imputation (Rubin 1987, ch. 4) draws each imputation from a model fitted on
a resample of the donor. Here the resample is Rubin's (1981) Bayesian
bootstrap: donor ``i`` gets weight ``w_i * g_{d,i}`` in imputation ``d``, with
``g`` independent standard exponentials from :func:`surveyfuse.rng.bayesian_bootstrap`
keyed by (seed, imputation, donor row). For a hot deck this is Rubin and
Schenker's (1986) approximate Bayesian bootstrap with Dirichlet instead of
multinomial weights.

How a backend realises it is declared by ``Backend.proper_mi``:

* ``"native"``: the backend does it its own cheap way (``forest`` grows its
  trees in groups, each on its own re-weighting, or re-weights its leaves;
  ``hotdeck`` re-weights its pools; both refit their level model through
  :class:`DonorResampler`; ``qrf`` grows tree groups on bootstrap resamples);
* ``"refit"``: the generic fallback :class:`Resampled`, one full fit per
  resample (``K`` fits, imputation ``d`` from fit ``d mod K``);
* ``"none"``: every imputation comes from one fit (improper; documented).

Every draw still depends only on (seed, row, imputation), so chunked and
Dask runs equal a whole run.
"""

from __future__ import annotations

from typing import Any, Callable, ClassVar

import numpy as np

from .. import rng
from ..data.features import Features
from .base import Backend, FitContext
from .levels import LevelModel, one_blas_thread
from .params import REFIT_PROPERTIES, first_error, object_schema, param, with_default

#: imputations whose level-model refits a backend keeps in memory
_CACHE = 32
#: proposals a donor choice examines before it keeps the closest (see :meth:`DonorResampler.choose`)
MATCH_ATTEMPTS = 8
#: ``mi="auto"`` fits ``AUTO_RESAMPLES`` resamples of a donor of at most this many rows, and one fit above (see
#: :class:`Resampled`), unless the wrapped backend sets its own limit (``auto_refit_rows``)
AUTO_ROWS = 2000
#: fits of a small donor under ``mi="auto"``
AUTO_RESAMPLES = 5
#: stream of the uniforms that accept or reject a proposed donor (proposal ``a`` uses stream ``a``)
ACCEPT_STREAM = 0xACC
#: rounds of ``MATCH_ATTEMPTS`` proposals per donor the usage balance is measured on (see :func:`usage_balance`)
BALANCE_ROUNDS = 8
#: a donor's balance weight stays within about [1 / BALANCE_LIMIT, BALANCE_LIMIT] (see :func:`usage_balance`)
BALANCE_LIMIT = 3.0
#: iterative proportional fitting steps of the usage balance
BALANCE_ITERATIONS = 60
#: pseudo-count (as a share of the mean usage) that keeps rarely proposed donors' weights near 1
BALANCE_PRIOR = 0.5
#: seed of the balance's proposals (the donors' own, fixed: the weights are part of the fitted model)
BALANCE_SEED = 0xBA1A


def remember(cache: dict, key: Any, make: Callable[[], Any], limit: int = _CACHE) -> Any:
    """``cache[key]``, made by ``make()`` the first time; past ``limit`` entries the oldest goes."""
    if key not in cache:
        if len(cache) >= limit:
            cache.pop(next(iter(cache)))
        cache[key] = make()
    return cache[key]


class KeyedUniforms:
    """Uniforms (draws, n, width) of stream ``base + a``, made when attempt ``a`` first needs them."""

    def __init__(self, seed: int, rows: np.ndarray, draws: int, width: int, base: int) -> None:
        self.args, self.base, self.made = (seed, rows, draws, width), base, {}

    def __call__(self, a: int) -> np.ndarray:
        if a not in self.made:
            seed, rows, draws, width = self.args
            self.made[a] = rng.uniforms(seed, rows, draws, width=width, stream=self.base + a)
        return self.made[a]


class DonorResampler:
    """Per-imputation donor weights, level models and donor choice for backends that copy donor records.

    ``key`` is (seed, resample): the weights are ``weights * bayesian_bootstrap(seed, resample)``,
    the level coefficients one Newton step from the full-donor fit under those weights.
    ``levels`` says how the level model is used (see :mod:`.levels`): ``"match"`` prefers, among
    the candidate donors a backend proposes, those whose predicted level is close to the
    recipient's; ``"ratio"`` rescales the copied amounts; ``"match+ratio"`` does both.
    """

    def __init__(self, weights: np.ndarray, levels: LevelModel | None, donor: Features | None,
                 mode: str = "match+ratio", bandwidth: float = 0.3, balance: np.ndarray | None = None) -> None:
        self.weights = weights
        self.levels = levels if levels is not None and levels.active_ else None
        self.donor = donor
        self.match = self.levels is not None and "match" in mode
        self.ratio = self.levels is not None and "ratio" in mode
        self.bandwidth = bandwidth
        self.balance = balance
        self._cache: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}
        self._basis: np.ndarray | None = None
        self._recipient: tuple[Any, np.ndarray, dict] | None = None

    def resample_weights(self, key: tuple[int, int]) -> np.ndarray:
        return self.weights * rng.bayesian_bootstrap(key[0], key[1], np.arange(len(self.weights)))

    def level_state(self, key: tuple[int, int] | None) -> tuple[np.ndarray | None, np.ndarray]:
        """(coefficient shift, donor log levels) of the level model in resample ``key`` (None: the full donor).

        A resample moves the coefficients by one Newton step from the full-donor
        fit under its weights; the fold models move alike.
        """
        assert self.levels is not None
        if key is None:
            return None, self.levels.donor_eta_
        return remember(self._cache, key, lambda: self._resampled_state(key))

    def _resampled_state(self, key: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        if self.donor is None:
            raise RuntimeError("this model keeps no donor predictors; it cannot refit its level model")
        if self._basis is None:
            self._basis = self.levels.basis(self.donor)
        g = rng.bayesian_bootstrap(key[0], key[1], np.arange(len(self.weights)))
        with one_blas_thread():
            shift = self.levels.resampled_coef(self._basis, self.weights, g) - self.levels.coef_
        return shift, self.levels.donor_eta_ + self.levels.eta_from_basis(self._basis, shift)

    def _levels_of(self, X: Features, key: tuple[int, int] | None) -> tuple[np.ndarray, np.ndarray]:
        """(recipient log levels (folds, n, groups), donor log levels (n_donors, groups)) in resample ``key``."""
        assert self.levels is not None
        if self._recipient is None or self._recipient[0] is not X:
            self._recipient = (X, self.levels.basis(X), {})
        shift, donor_eta = self.level_state(key)
        basis = self._recipient[1]  # the recipients' levels per resample: every proposal round reuses them
        return remember(self._recipient[2], key, lambda: self.levels.recipient_levels(basis, shift)), donor_eta

    def _gaps(self, X: Features, key: tuple[int, int] | None, donors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(recipient, donor) log levels (m, n, groups) of the pairs ``donors`` (m, n), both from the donor's fold model."""
        eta_r, donor_eta = self._levels_of(X, key)
        fold = self.levels.donor_fold_[donors]
        return eta_r[fold, np.arange(donors.shape[1])[None, :]], donor_eta[donors]

    def closeness(self, X: Features, key: tuple[int, int] | None, donors: np.ndarray) -> np.ndarray:
        """``exp(-d^2 / (2 h^2))`` (n,) of the pairs (recipient i, ``donors[i]``): ``d`` the root mean square
        gap between their predicted log levels, ``h`` the bandwidth."""
        eta_r, eta_d = self._gaps(X, key, donors[None, :])
        return np.exp(-((eta_d[0] - eta_r[0]) ** 2).mean(axis=1) / (2 * self.bandwidth**2))

    def choose(self, X: Features, key: tuple[int, int] | None, candidates: Callable[[int], np.ndarray],
               accept: Callable[[int], np.ndarray]) -> np.ndarray:
        """Donors (n,) from the backend's proposals ``candidates(a)`` (n,), a = 0, 1, ...

        Without matching, the first proposal. With it, rejection sampling: a proposal is kept
        with probability its :meth:`closeness` (times its donor's usage ``balance`` weight over
        ``BALANCE_LIMIT``, see :func:`usage_balance`) against ``accept(a)`` (n,) uniforms; after
        ``MATCH_ATTEMPTS`` the closest (by the same product) is kept. So the donor is drawn from
        the backend's distribution tilted towards donors of the recipient's level.
        """
        first = candidates(0)
        if not self.match:
            return first

        def closeness(donors: np.ndarray) -> np.ndarray:
            k = self.closeness(X, key, donors)
            return k if self.balance is None else k * self.balance[donors] / BALANCE_LIMIT

        chosen, best = first.copy(), closeness(first)
        done = accept(0) < best
        for a in range(1, MATCH_ATTEMPTS):
            if done.all():
                break
            cand = candidates(a)
            k = closeness(cand)
            take = ~done & (accept(a) < k)
            closer = ~done & ~take & (k > best)
            chosen[take | closer] = cand[take | closer]
            best[closer] = k[closer]
            done |= take
        return chosen

    def copy(self, Y: np.ndarray, X: Features, donors: np.ndarray, key: tuple[int, int] | None) -> np.ndarray:
        """Donor records ``Y[donors]`` (m, n, k), rescaled to the recipients' levels with ``"ratio"``."""
        out = Y[donors]
        if not self.ratio:
            return out
        return self.levels.apply(out, *self._gaps(X, key, donors))


def usage_balance(resampler: DonorResampler, donor: Features, propose: Callable[[int], np.ndarray],
                  weights: np.ndarray) -> np.ndarray:
    """Per-donor weights (n,) under which matching uses each donor as often as the backend's own proposals do.

    Preferring, among a recipient's proposals, donors of its predicted level
    uses donors at the edge of their neighbourhood's levels less, and those
    at its centre more (a kernel tilt shrinks towards the centre). The rare
    records at those edges take what they would copy unscaled with them: on
    CPS benefits Medicaid's mean came out about 5% short (docs/methods.md). Matching
    the donors to themselves, as a recipient population like the donor, the
    weights are fitted so that each donor's expected use under the tilt
    (weighted by the pseudo-recipients' survey weights, leaving out a
    donor's proposal of itself, each row choosing among its proposals in
    proportion to closeness times weight) equals its use among the
    proposals: iterative proportional fitting, damped by a pseudo-count, each
    step kept within [1 / BALANCE_LIMIT, BALANCE_LIMIT] and then scaled to a
    geometric mean of 1. The limit is kept low on purpose: edge donors
    brought back at large weights go to recipients far from their level,
    whose factors then stretch the rescaled amounts (measured with limit 20).
    ``propose(a)`` (n,): proposal ``a`` (0 .. BALANCE_ROUNDS * MATCH_ATTEMPTS - 1)
    for every donor row as a recipient.
    """
    n = len(weights)
    w = np.asarray(weights, dtype=np.float64)
    rows = np.arange(n)
    proposed = np.empty((BALANCE_ROUNDS, MATCH_ATTEMPTS, n), dtype=np.int64)
    closeness = np.empty((BALANCE_ROUNDS, MATCH_ATTEMPTS, n))
    for b in range(BALANCE_ROUNDS):
        for a in range(MATCH_ATTEMPTS):
            donors = propose(b * MATCH_ATTEMPTS + a)
            proposed[b, a] = donors
            closeness[b, a] = np.where(donors == rows, 0.0, resampler.closeness(donor, None, donors))
    valid = (proposed != rows[None, None, :]).astype(np.float64)
    share = valid / np.maximum(valid.sum(axis=1, keepdims=True), 1.0)
    target = np.bincount(proposed.ravel(), (share * w).ravel(), minlength=n)
    prior = BALANCE_PRIOR * target.mean()
    balance = np.ones(n)
    for _ in range(BALANCE_ITERATIONS):
        tilted = closeness * balance[proposed]
        chance = tilted / np.maximum(tilted.sum(axis=1, keepdims=True), 1e-300)
        used = np.bincount(proposed.ravel(), (chance * w).ravel(), minlength=n)
        balance = np.clip(balance * np.sqrt((target + prior) / (used + prior)), 1 / BALANCE_LIMIT, BALANCE_LIMIT)
        balance /= np.exp(np.mean(np.log(balance)))
    return balance


class Resampled(Backend):
    """The generic fallback: ``resamples`` fits of one backend, each on a Bayesian-bootstrap re-weighting.

    Imputation ``d`` comes from fit ``d mod resamples``, drawn with the seed
    derived from (seed, d), so draws depend on (seed, row, imputation) only.
    With more imputations than fits, imputations share fits (and the spread
    between them understates the model's uncertainty): use ``draws <= resamples``.

    ``auto`` (``mi="auto"``) chooses the number of fits from the donor size:
    ``min(resamples, AUTO_RESAMPLES)`` up to the wrapped backend's
    ``auto_refit_rows`` donor rows (``AUTO_ROWS`` unless it sets its own;
    ``tvae``, fast enough for five fits, 10,000), one above. A generative
    model fitted on a few thousand rows or fewer is itself uncertain, and
    the draws of several fits on resamples (a bagged, roughly
    posterior-predictive ensemble) score better than one fit's: on 300 and
    1,000 CPS donors the energy score of every generative method fell in most
    blocks, and ``tvae``'s at 2,000 (docs/generative.md), while two fits did
    not beat one. On larger donors five fits score about as well as one, but
    a network's own level still varies from fit to fit by several per cent,
    so five fits are what makes ``tvae``'s Rubin's intervals cover on
    3,000-5,000 donors (docs/generative.md, *Large donors*). Above the limit
    it is one fit on the donor as it is, ``mi="none"``'s model, whose
    calibrations to the donor's levels and shares, where the backend has
    them, are drawn anew for each imputation (``vary_calibrations``), so
    that the estimates they pin carry the donor's uncertainty. Only the first
    fit runs the backend's held-out fit check (one report, one warning),
    scored with the donor's own weights.
    """

    name = "resampled"
    param_schema: ClassVar[dict[str, Any]] = object_schema({
        "method": param(None, "a method name", "The wrapped method.", anyOf=[{"type": "null"}, {"type": "string"}]),
        "params": param({}, "an object of the wrapped method's parameters", "The wrapped method's parameters.",
                        type="object"),
        "resamples": with_default(REFIT_PROPERTIES["mi_resamples"], 10),
        "auto": param(False, "true or false", "Choose the number of fits from the donor size (mi='auto').",
                      type="boolean"),
    })

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        from ..methods import backend_class

        self.member_class = backend_class(self.params["method"])
        self.member_class(**self.params["params"])  # the wrapped method's parameters are refused now, not at fit

    def check_params(self) -> None:
        found = first_error(self.param_schema, self.params)
        if found is not None:  # the user names ``resamples`` as the wrapped method's ``mi_resamples``
            name, expected = found
            raise self._bad_param("mi_resamples" if name == "resamples" else name, expected)

    def fits_for(self, n: int) -> int:
        """How many fits a donor of ``n`` rows gets."""
        if not self.params["auto"]:
            return int(self.params["resamples"])
        limit = getattr(self.member_class, "auto_refit_rows", AUTO_ROWS)
        return int(min(self.params["resamples"], AUTO_RESAMPLES)) if n <= limit else 1

    def fit(self, X: Features, Y: np.ndarray, context: FitContext) -> "Resampled":
        self.donor_rows_ = len(Y)
        K = self.fits_for(len(Y))
        self.members_ = []
        if self.params["auto"] and K == 1:  # one fit on the donor as it is: mi="none"'s model
            member = self.member_class(**self.params["params"]).fit(X, Y, context)
            member.vary_calibrations(X, Y, context)  # its calibrations, if any, drawn per imputation
            self.members_.append(member)
            return self
        checked = "fit_check" in self.member_class.param_schema["properties"]
        for k in range(K):
            g = rng.bayesian_bootstrap(int(context.random_state), k, np.arange(len(Y)))
            w = context.weights * g
            member_context = FitContext(**{**context.__dict__, "weights": w / w.mean(), "check_weights": context.weights,
                                           "random_state": rng.derive_seed(int(context.random_state), 12, k) % (2**31)})
            params = self.params["params"] if k == 0 or not checked else {**self.params["params"], "fit_check": False}
            self.members_.append(self.member_class(**params).fit(X, Y, member_context))
        return self

    @property
    def fit_check_(self) -> dict[str, Any] | None:
        """The first fit's held-out check (the backend's ``fit_check_``), which ``method="auto"`` reads."""
        return getattr(self.members_[0], "fit_check_", None)

    def _ensemble(self) -> bool:
        """Whether imputations come from several fits (False: one fit on the donor, ``mi="auto"`` on a large donor)."""
        return not (self.params["auto"] and len(self.members_) == 1)

    def sample(self, X: Features, rows: np.ndarray, draws: int, seed: int) -> np.ndarray:
        if not self._ensemble():
            return self.members_[0].sample(X, rows, draws, seed)
        K = len(self.members_)
        return np.stack([self.members_[d % K].sample(X, rows, 1, rng.derive_seed(seed, 13, d))[0] for d in range(draws)])

    def describe(self) -> dict[str, Any]:
        member = self.members_[0].describe() if getattr(self, "members_", None) else dict(self.params["params"])
        if not self.params["auto"]:
            return {**member, "mi": "refit", "mi_resamples": self.params["resamples"]}
        fitted = getattr(self, "members_", None)
        out = {**member, "mi": "auto", "mi_resamples": len(fitted) if fitted else None}
        if fitted:
            out["mi_chosen_from"] = f"donor size ({self.donor_rows_} rows)"
        return out

    def proper_imputations(self) -> bool:
        return self._ensemble()

    def nested_resamples(self) -> int | None:
        return len(self.members_) if self._ensemble() else None

    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        metas, arrays = [], {}
        for k, member in enumerate(self.members_):
            meta, arr = member.get_state()
            metas.append(meta)
            arrays.update({f"{k}/{name}": a for name, a in arr.items()})
        return {"resampled": True, "params": self.params, "members": metas, "donor_rows": self.donor_rows_}, arrays

    @classmethod
    def from_state(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> "Resampled":
        self = cls(**meta["params"])
        self.donor_rows_ = int(meta.get("donor_rows", 0))
        self.members_ = []
        for k, member_meta in enumerate(meta["members"]):
            prefix = f"{k}/"
            own = {name[len(prefix):]: a for name, a in arrays.items() if name.startswith(prefix)}
            self.members_.append(self.member_class.from_state(member_meta, own))
        return self
