"""What the four generative backends share: encode, condition, train, draw, save.

A subclass builds its torch module (``_build``), trains it (``_train``) and
turns conditioning rows plus keyed noise into encoded draws (``_generate``).
This class does the rest:

* the block goes through the :class:`ConstraintLayer` (identities by
  construction) and the :class:`BlockEncoder` fitted with donor weights;
* predictors are conditioned on as ``X.design("onehot", "normal")``;
* draws take their noise from :mod:`surveyfuse.rng` keyed by (seed, row,
  draw, stream), and run in fixed-size padded batches, so a row's draws are
  the same whatever rows are imputed with it;
* with ``levels="calibrate"`` each draw's amounts are rescaled to the
  donor's fitted level (:meth:`DeepBackend._fit_levels`);
* training settings left at ``"auto"`` are chosen from the donor size
  (:mod:`.defaults`), and the fitted model is checked on the held-out donor
  rows (:mod:`.fit_check`), with a :class:`FitCheckWarning` when it fails;
* state is saved as a JSON manifest plus numpy arrays of the weights.
"""

from __future__ import annotations

import time
import warnings
from typing import Any, Callable, ClassVar

import numpy as np
import torch

from ... import rng
from ...data.features import Features
from ..base import Backend, FitContext
from ..levels import LevelModel, coefficient_draws
from ..takeup import TakeUpModel
from ..params import AUTO_CHOICE, BOOLEAN, POSITIVE_INT, enum, number, object_schema, param
from ..resampling import AUTO_ROWS
from ...evaluate.baseline import predictor_blind_rows
from .constraint_layer import ConstraintLayer
from .defaults import AUTO, resolve
from .encoding import BlockEncoder
from .fit_check import CHECK_DRAWS, FitCheckWarning, held_out_check, not_checked
from .training import (
    INFER_BATCH,
    EarlyStopping,
    MinibatchSampler,
    holdout_split,
    limit_threads,
    numpy_to_state,
    pad_rows,
    progress,
    resolve_device,
    seed_everything,
    state_to_numpy,
)

HIDDEN = {"anyOf": [AUTO_CHOICE, {"type": "array", "items": POSITIVE_INT, "minItems": 1}]}


def hidden_param(description: str) -> dict[str, Any]:
    """A list of layer widths, or ``"auto"`` (chosen from the donor size)."""
    return param(AUTO, "a non-empty list of positive integers", description, **HIDDEN)


def weight_param(default: Any, lo: float, hi: float, description: str, auto: bool = False) -> dict[str, Any]:
    """A number in [lo, hi] (a loss weight, a rate), or ``"auto"`` when ``auto``."""
    return number(default, f"a number in [{lo}, {hi}]", description, auto=auto, minimum=lo, maximum=hi)


def auto_int_param(description: str) -> dict[str, Any]:
    """A positive integer, or ``"auto"`` (chosen from the donor size)."""
    return param(AUTO, '"auto" or a positive integer', description, anyOf=[AUTO_CHOICE, POSITIVE_INT])


#: parameters every generative backend accepts
COMMON_PROPERTIES: dict[str, dict[str, Any]] = {
    "device": enum("auto", ["auto", "cpu", "cuda"], "Where to train ('auto': CUDA when present).",
                   expected='"auto", "cpu" or "cuda"'),
    "epochs": auto_int_param("Upper bound on training epochs; 'auto' chooses it from the donor size."),
    "batch_size": param(AUTO, '"auto" or an integer >= 2', "Minibatch rows; 'auto': about a sixteenth of the "
                        "training rows, capped at the recipe's.", anyOf=[AUTO_CHOICE, {"type": "integer", "minimum": 2}]),
    "lr": number(2e-3, "a number in (0, 1)", "Adam learning rate.", exclusiveMinimum=0, exclusiveMaximum=1),
    "patience": param(6, "a positive integer", "Early stopping: checks without improvement before stopping.",
                      **POSITIVE_INT),
    "eval_every": auto_int_param("Epochs between checks on the held-out rows ('auto': at least 100 gradient steps)."),
    "holdout": number(0.12, "a fraction in [0, 0.5)", "Share of the donor held out for early stopping.",
                      minimum=0, exclusiveMaximum=0.5),
    "transform": enum("quantile", ["quantile", "log"], "Continuous transform of numeric block columns.",
                      expected='"quantile" or "log"'),
    "point_masses": param(False, "true or false", "Every value holding at least 5% of the weight becomes its own mode.",
                          **BOOLEAN),
    "tail_modes": param(1, "an integer from 1 (no tail bins) to 5", "1: no tail bins; 2-5: quantile bins of the "
                        "right tail as mixture modes.", type="integer", minimum=1, maximum=5),
    "sums": enum("parts", ["parts", "shares"], "How an identity total == a + b + ... is generated: the parts and "
                 "their sum, or the total with stick-breaking shares.",
                 expected='"parts" (the total is the sum of modelled parts) or "shares"'),
    "levels": enum("none", ["calibrate", "none"], "'calibrate': rescale each draw's amounts by the ratio of the donor's "
                   "fitted level to the model's own at the recipient's predictors (keeps zeros, signs and sums).",
                   expected='"calibrate" or "none"'),
    "take_up": enum("none", ["calibrate", "none"], "'calibrate': draw 8 records per row and keep one with "
                    "probability tilted so that each amount's share of non-zero values follows the donor's at the "
                    "recipient's predictors (whole records: keeps identities).", expected='"calibrate" or "none"'),
    "fit_check": param(True, "true or false", "After fitting, score held-out donor rows against predictor-blind draws "
                       "and coverage; a model that fails warns.", **BOOLEAN),
    "verbose": param(False, "true or false", "A progress bar even when stderr is not a terminal.", **BOOLEAN),
    "threads": param(1, "1 or 2 (CPU threads for torch)", "torch CPU threads.", type="integer", enum=[1, 2]),
}
#: rows the validation score draws per check (about this many rows x draws)
VALIDATION_ROWS = 2400
#: generated rows (donor rows x draws, from 2 to 20 draws) the model's own level is fitted on under levels="calibrate"
CALIBRATION_ROWS = 20_000
#: levels="calibrate" changes a draw's amounts by at most this factor either way: a network off by more has not
#: learnt the block, and multiplying its draws further would carry its largest values far beyond the donor's
CALIBRATION_MAX_FACTOR = 2.0
#: seed streams of the calibrations' per-imputation coefficient draws (``calibration_draws_``)
TAKE_UP_DRAW_STREAM = 0xCA1D
LEVEL_DRAW_STREAM = 0xCA1E

Noise = Callable[[str, int, int], torch.Tensor]


def sample_categorical(logits: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """One-hot draws by inverse CDF from uniforms ``u`` (one per row)."""
    idx = rng.inverse_cdf(torch.cumsum(torch.softmax(logits, dim=-1), dim=-1), u)
    return torch.nn.functional.one_hot(idx, logits.shape[-1]).to(logits.dtype)


class DeepBackend(Backend):
    """Base of the torch backends (``tvae``, ``diffusion``, ``ctgan``, ``ctabgan``); see the module docstring.

    Each method adds its own parameters (its class docstring) to these, and
    may change their defaults (the API page "Methods and their parameters"
    lists every default).

    Parameters
    ----------
    device : "auto", "cpu" or "cuda", default "auto"
        Where to train (``"auto"``: CUDA when present).
    epochs : "auto" or int, default "auto"
        Upper bound on training epochs; early stopping usually ends sooner.
        ``"auto"`` chooses it from the donor size (at least 3,000 gradient
        steps on small donors, the method's recipe from about 9,000 donors up).
    batch_size : "auto" or int, default "auto"
        Minibatch rows (GANs: rounded to a multiple of ``pac``); ``"auto"``:
        about a sixteenth of the training rows, capped at the recipe's 500.
    lr : float
        Adam learning rate.
    patience, eval_every : int
        Early stopping: checks without improvement before stopping, and
        epochs between checks on the held-out rows (``eval_every="auto"``:
        at least 100 gradient steps between checks).
    dropout : "auto" or float
        Dropout of the hidden layers (tvae, diffusion); ``"auto"`` fades from
        the recipe's small-donor value to none as the donor grows.
    weight_decay : "auto" or float
        Adam weight decay, fading like ``dropout`` under ``"auto"``.
    score_weight : "auto" or float
        GANs (ctgan, ctabgan): weight of the energy-score term in the
        generator's loss (two generated rows per real row); ``"auto"``
        fades from 20 on small donors to 4 for ctgan and is 4 for ctabgan.
    tail_modes : int, default 1
        1: no tail bins; 2-5: per-variable quantile bins of the right tail
        as mixture modes (opt-in; measured no better on the CPS blocks).
    sums : "parts" or "shares", default "parts"
        How an identity ``total == a + b + ...`` is generated: the parts in
        levels and the total as their sum (exact zeros stay exact), or the
        total with stick-breaking shares (the rule of earlier versions).
    levels : "calibrate" or "none", default "calibrate" ("none" for tvae)
        ``"calibrate"``: after training, fit the donor's conditional level of
        each group of amounts (:class:`~surveyfuse.backends.levels.LevelModel`,
        the forest's level model, bounded to the donor's range of predictors),
        and the same model to the network's own draws for the donor's
        predictors; each draw's amounts are multiplied by the ratio of the
        two at the recipient's predictors, shrunk towards 1 where the donor's
        level is uncertain (``z^2 / (1 + z^2)`` of the log ratio, ``z`` its
        estimate over its sandwich standard error) and kept within [1/2, 2].
        One positive factor per constraint-linked group keeps zeros, signs,
        sums and orderings. It corrects a network that draws levels too flat
        in income (a slope on wages, the top 1%'s mean); ``"none"`` keeps the
        network's own draws (docs/generative.md, *Levels*).
    take_up : "calibrate" or "none", default "none" ("calibrate" for tvae)
        ``"calibrate"``: at a draw the network proposes 8 records per row and
        one is kept with probability proportional to ``exp(sum_j theta_j(x)
        1[y_j != 0])`` over the non-negative amounts ``j``, the tilts fitted
        jointly after training on the network's proposals for the donor
        (:class:`~surveyfuse.backends.takeup.TakeUpModel`), so the shares with
        an amount follow the donor's at the recipient's predictors while every
        kept record is a whole record of the network (identities hold as
        drawn). Costs 8 times the network's draws. Applied before ``levels``
        (docs/generative.md, *Take-up*).
    fit_check : bool, default True
        After fitting, score held-out donor rows against predictor-blind
        draws and coverage; a model that fails warns (``FitCheckWarning``)
        and ``method="auto"`` leaves it out.
    holdout : float, default 0.12
        Share of the donor held out for early stopping.
    transform : "quantile" or "log", default "quantile"
        Continuous transform of numeric block columns.
    point_masses : bool, default False
        Every value holding at least 5% of the weight becomes its own mode.
    verbose : bool, default False
        A progress bar even when stderr is not a terminal.
    threads : 1 or 2, default 1
        torch CPU threads.
    mi : "auto", "refit" or "none", default "auto"
        Proper multiple imputation: ``"refit"`` fits the model ``mi_resamples``
        times, each on its own Bayesian-bootstrap re-weighting of the donor,
        and imputation ``d`` comes from fit ``d mod mi_resamples`` (the
        generic :class:`~surveyfuse.backends.resampling.Resampled`), so
        Rubin's intervals include the model's uncertainty; it costs
        ``mi_resamples`` fits. ``"auto"``: five such fits on a donor of up to
        ``auto_refit_rows`` rows (2,000; ``tvae`` 10,000); above, one fit
        whose calibrations (``take_up`` and the level factor, drawn about 1
        under ``levels="none"``) are drawn anew for each imputation from their
        sandwich covariance
        (:meth:`vary_calibrations`), which carries the donor's uncertainty
        into the shares and levels they pin but not into the rest of the
        network's draws. ``"none"``: every imputation from one
        fit, its calibrations fixed.
    mi_resamples : int, default 10
        Fits for ``mi="refit"``; use at least as many as ``draws``; at most
        this many for ``"auto"``.
    """

    proper_mi = "refit"
    #: ``mi="auto"`` fits five resampled models on a donor of up to this many rows (one fit above, its
    #: calibrations drawn per imputation): where five fits still cost little against one
    auto_refit_rows: ClassVar[int] = AUTO_ROWS
    #: the method's own parameters (and its defaults of common ones), merged over ``COMMON_PROPERTIES``
    method_properties: ClassVar[dict[str, dict[str, Any]]] = {}
    #: large-donor values of the "auto" settings, adapted to the donor size by :func:`.defaults.resolve`
    recipe: ClassVar[dict[str, Any]] = {"epochs": 200, "batch_size": 500, "eval_every": 5}

    def __init_subclass__(cls, **kw: Any) -> None:
        cls.param_schema = object_schema({**COMMON_PROPERTIES, **cls.method_properties})
        super().__init_subclass__(**kw)

    # ------------------------------------------------------------------ fit
    def fit(self, X: Features, Y: np.ndarray, context: FitContext) -> "DeepBackend":
        t0 = time.perf_counter()
        seed = int(context.random_state)
        seed_everything(seed, self.params["threads"])
        Y = np.asarray(Y, dtype=np.float64)
        self.layer_ = ConstraintLayer(self.params["sums"]).fit(context.variables, context.constraints)
        M = self.layer_.to_model(Y)
        self.encoder_ = BlockEncoder(self.params["transform"], self.params["point_masses"],
                                     tail_modes=self.params["tail_modes"]).fit(M, self.layer_.model_specs(), context.weights)
        V, mask = self.encoder_.transform(M)
        C = X.design("onehot", "normal").astype(np.float32)
        self.cond_dim_ = int(C.shape[1])
        self.layout_ = self.encoder_.layout
        self.device_ = resolve_device(self.params["device"])
        weights = np.asarray(context.weights, dtype=np.float64)
        train, hold = holdout_split(len(V), float(self.params["holdout"]), seed)
        self.settings_, self.chosen_by_ = resolve(self.params, self.recipe, len(train), self._batch_multiple())
        self.arch_ = self._arch()
        self.net_ = self._build().to(self.device_)
        data = {
            "V": torch.from_numpy(V).to(self.device_),
            "mask": torch.from_numpy(mask).to(self.device_),
            "C": torch.from_numpy(C).to(self.device_),
        }
        self.history_ = self._train(data, weights, train, hold, seed, verbose=bool(self.params["verbose"] or context.verbose))
        self.net_ = self.net_.to("cpu").eval()
        self.trained_device_ = str(self.device_)
        self.calibration_draws_ = False
        self.level_spread_ = None
        self.take_up_ = None
        if self.params["take_up"] == "calibrate":
            self.take_up_ = TakeUpModel().fit(X, Y, context.variables, weights, self._draw, rng.derive_seed(seed, 9003))
        self.levels_, self.calibration_ = self._fit_levels(X, Y, weights, context, seed)
        check_weights = weights if context.check_weights is None else np.asarray(context.check_weights, dtype=np.float64)
        self.fit_check_ = self._check(X, Y, check_weights, train, hold, seed)
        self.fit_seconds_ = round(time.perf_counter() - t0, 3)
        return self

    def _fit_levels(self, X: Features, Y: np.ndarray, weights: np.ndarray, context: FitContext,
                    seed: int, force: bool = False) -> tuple[LevelModel | None, tuple[np.ndarray, np.ndarray] | None]:
        """Under ``levels="calibrate"`` (or ``force``): the donor's level model and the same model fitted
        to this network's draws for the donor's predictors (see the class docstring)."""
        if self.params["levels"] == "none" and not force:
            return None, None
        levels = LevelModel("linked", None, CALIBRATION_MAX_FACTOR, 0.0, 1.0, bounded=True).fit(
            X, Y, context.variables, weights, context.constraints, n_jobs=1)
        if not levels.active_:
            return levels, None
        copies = int(np.clip(np.ceil(CALIBRATION_ROWS / len(Y)), 2, 20))
        draws = self._proposals(X, np.arange(len(Y)), copies, rng.derive_seed(seed, 9002))
        return levels, levels.calibration(X, Y, weights, draws)

    def setting(self, name: str) -> Any:
        """A training setting as used: chosen from the donor when the parameter is "auto"."""
        return getattr(self, "settings_", {}).get(name, self.params[name])

    def _batch_multiple(self) -> int:
        return 1

    def _check(self, X: Features, Y: np.ndarray, weights: np.ndarray, train: np.ndarray, hold: np.ndarray,
               seed: int) -> dict[str, Any]:
        """The held-out fit check (see :mod:`.fit_check`); warns when the model fails it."""
        if not self.params["fit_check"]:
            return not_checked("fit_check=false")
        if hold.size == 0:
            return not_checked(f"too few donor rows ({len(Y)}) to hold any out")
        check_seed = rng.derive_seed(seed, 9001)
        draws = self.sample(X.take(hold), hold, CHECK_DRAWS, check_seed)
        blind = Y[train][predictor_blind_rows(weights[train], len(train), len(hold), CHECK_DRAWS, check_seed)]
        out = held_out_check(self.name, draws, blind, Y[hold], weights[hold], Y[train], weights[train])
        if out["warning"]:
            warnings.warn(FitCheckWarning(out["warning"], self.name, out), stacklevel=4)
        return out

    def _train(self, data: dict[str, torch.Tensor], weights: np.ndarray, train: np.ndarray, hold: np.ndarray,
               seed: int, verbose: bool) -> dict[str, Any]:
        """Default loop: weighted minibatches, ``self._step`` per batch, early stopping on held-out energy."""
        p = self.params
        epochs, eval_every = int(self.setting("epochs")), int(self.setting("eval_every"))
        self._train_rows, self._train_weights, self._seed = train, weights[train], seed
        self._setup_optim()
        sampler = MinibatchSampler(weights[train], self._batch_size(), seed)
        train_t = torch.from_numpy(train).to(self.device_)
        stopper = EarlyStopping(p["patience"])
        history: dict[str, Any] = {"loss": [], "val": []}
        val_gen = torch.Generator(device="cpu")
        with progress(epochs, self.name, verbose) as bar:
            epoch = 0
            for epoch in range(epochs):
                self.net_.train()
                total, steps = 0.0, 0
                for batch in sampler.epoch():
                    idx = train_t[torch.from_numpy(batch).to(self.device_)]
                    total += self._step(data, idx, epoch)
                    steps += 1
                history["loss"].append(total / max(steps, 1))
                stop = False
                if hold.size and ((epoch + 1) % eval_every == 0 or epoch + 1 == epochs):
                    val_gen.manual_seed(seed)
                    score = self._validate(data, hold, val_gen)
                    history["val"].append((epoch + 1, score))
                    stop = stopper.step(score, self.net_, epoch + 1)
                    bar.set_postfix(loss=f"{history['loss'][-1]:.4f}", val=f"{score:.4f}")
                else:
                    bar.set_postfix(loss=f"{history['loss'][-1]:.4f}")
                bar.update(1)
                if stop:
                    break
        stopper.restore(self.net_)
        history["epochs_run"] = epoch + 1
        history["best_epoch"] = stopper.best_epoch
        return history

    def _batch_size(self) -> int:
        return int(self.setting("batch_size"))

    def _setup_optim(self) -> None:
        self.opt_ = torch.optim.AdamW(self.net_.parameters(), lr=self.params["lr"],
                                      weight_decay=float(self.setting("weight_decay")) if "weight_decay" in self.params else 0.0)

    def _step(self, data: dict[str, torch.Tensor], idx: torch.Tensor, epoch: int) -> float:
        raise NotImplementedError

    @torch.no_grad()
    def _validate(self, data: dict[str, torch.Tensor], hold: np.ndarray, gen: torch.Generator) -> float:
        """Energy score of ``m`` draws per held-out row, in encoded space (a proper score).

        ``m`` grows as the hold-out shrinks (about ``VALIDATION_ROWS`` rows in all, 2 to 8 draws), so
        the stopping epoch of a small donor is not picked by noise; ``E|X - y| - E|X - X'| / 2``
        with X' the next draw.
        """
        self.net_.eval()
        m = int(min(8, max(2, round(VALIDATION_ROWS / len(hold)))))
        idx = torch.from_numpy(hold).to(self.device_)
        C = data["C"][idx].repeat(m, 1)
        truth = self._canonical(data["V"][idx])

        def noise(kind: str, width: int, stream: int) -> torch.Tensor:
            if kind == "normal":
                return torch.randn(len(C), width, generator=gen).to(self.device_)
            return torch.rand(len(C), width, generator=gen).clamp(1e-6, 1 - 1e-6).to(self.device_)

        draws = self._canonical(self._generate(C, noise)).reshape(m, len(hold), -1)
        to_truth = (draws - truth[None]).norm(dim=2).mean()
        spread = (draws - draws.roll(1, dims=0)).norm(dim=2).mean()
        return float(to_truth - 0.5 * spread)

    def _canonical(self, V: torch.Tensor) -> torch.Tensor:
        """Zero the continuous slots whose mode is a point mass (they carry no value)."""
        enc = self.encoder_
        factor = torch.ones_like(V)
        for pos, gate, first in zip(enc.cont_index, enc.cont_gate, enc.cont_first):
            if gate >= 0:
                start, width = enc.cat_slices[gate]
                factor[:, pos] = V[:, start + first : start + width].sum(dim=1)
        return V * factor  # out of place, so a training loss can differentiate through it

    # ------------------------------------------------------------------ sample
    def sample(self, X: Features, rows: np.ndarray, draws: int, seed: int) -> np.ndarray:
        vary = bool(getattr(self, "calibration_draws_", False))
        out = self._proposals(X, rows, draws, seed, vary)
        levels, calibration = getattr(self, "levels_", None), getattr(self, "calibration_", None)
        if levels is None and vary:  # levels="none": the level's uncertainty alone, about the network's own
            levels, calibration = getattr(self, "level_spread_", None) or (None, None)
        if levels is None or not levels.active_ or calibration is None or len(X) == 0:
            return out
        # each row's factor comes from its own predictors alone, so chunks and Dask partitions draw alike
        shifts = self._level_shifts(calibration, draws, seed) if vary else None
        log_ratio = levels.calibrated_log_ratio(X, *calibration, shifts)
        if shifts is None:
            log_ratio = log_ratio[None]
        return levels.apply(out, log_ratio, np.zeros_like(log_ratio))

    def _proposals(self, X: Features, rows: np.ndarray, draws: int, seed: int, vary: bool = False) -> np.ndarray:
        """The network's draws, chosen among candidates under ``take_up="calibrate"``; before the level
        calibration. ``vary``: each draw under its own draw of the tilts (``calibration_draws_``)."""
        take_up = getattr(self, "take_up_", None)
        if take_up is None or not take_up.active_ or len(X) == 0:
            return self._draw(X, rows, draws, seed)
        shifts = take_up.coefficient_draws(draws, rng.derive_seed(int(seed), TAKE_UP_DRAW_STREAM)) if vary else None
        return take_up.sample(X, rows, draws, seed, self._draw, shifts)

    def _level_shifts(self, calibration: tuple[np.ndarray, np.ndarray], draws: int, seed: int) -> np.ndarray:
        """Per-imputation draws (draws, groups, p) of the level calibration's coefficients about the fitted
        ones, from their sandwich covariance (independent across groups)."""
        coef, cov = calibration
        G, p = coef.shape
        full = np.zeros((G * p, G * p))
        for g in range(G):
            full[g * p:(g + 1) * p, g * p:(g + 1) * p] = cov[g]
        return coefficient_draws(full, draws, rng.derive_seed(int(seed), LEVEL_DRAW_STREAM)).reshape(draws, G, p)

    def vary_calibrations(self, X: Features, Y: np.ndarray, context: FitContext) -> bool:
        """Draw the calibrations' coefficients anew for each imputation from now on, from their sandwich
        covariance (what ``mi="auto"`` does on a donor too large for several fits, ``X``, ``Y`` and
        ``context`` being the donor this model was fitted on): the imputations' levels and shares with
        an amount then vary as the donor's own would on another sample, so Rubin's intervals of the
        estimates they pin include the donor's uncertainty. Under ``levels="none"`` the level
        calibration is fitted for its covariance alone (``level_spread_``): each imputation's amounts
        are scaled by its draw about 1, the network's own level staying the centre. The network's
        draws are otherwise those of one fit. Returns whether anything is there to vary."""
        if getattr(self, "levels_", None) is None:
            weights = np.asarray(context.weights, dtype=np.float64)
            levels, calibration = self._fit_levels(X, np.asarray(Y, dtype=np.float64), weights, context,
                                                   int(context.random_state), force=True)
            if levels is not None and levels.active_ and calibration is not None:
                self.level_spread_ = (levels, (np.zeros_like(calibration[0]), calibration[1]))
        levels_on = (self.levels_ is not None and self.levels_.active_ and self.calibration_ is not None) or \
            getattr(self, "level_spread_", None) is not None
        take_up_on = getattr(self, "take_up_", None) is not None and self.take_up_.active_
        self.calibration_draws_ = bool(levels_on or take_up_on)
        return self.calibration_draws_

    @torch.no_grad()
    def _draw(self, X: Features, rows: np.ndarray, draws: int, seed: int) -> np.ndarray:
        """The network's draws, before any level calibration."""
        limit_threads(self.params["threads"])
        self.net_.eval()
        rows = np.asarray(rows, dtype=np.int64)
        n = len(X)
        k = len(self.layer_.variables)
        if n == 0:
            return np.zeros((draws, 0, k))
        C_all = torch.from_numpy(X.design("onehot", "normal").astype(np.float32))
        out = np.zeros((draws, n, k))
        for d in range(draws):
            draw_seed = rng.derive_seed(int(seed), int(d))
            encoded = []
            for start in range(0, n, INFER_BATCH):
                stop = min(start + INFER_BATCH, n)
                batch_rows = rows[start:stop]

                def noise(kind: str, width: int, stream: int, _r: np.ndarray = batch_rows) -> torch.Tensor:
                    fn = rng.normals if kind == "normal" else rng.uniforms
                    arr = fn(draw_seed, _r, 1, width, stream)[0].astype(np.float32)
                    return pad_rows(torch.from_numpy(arr), INFER_BATCH)

                C = pad_rows(C_all[start:stop], INFER_BATCH)
                V = self._generate(C, noise)
                encoded.append(V[: stop - start].double().numpy())
            M = self.encoder_.inverse(np.vstack(encoded))
            Yd, report = self.layer_.restore(M, X)
            out[d] = Yd
        return out

    def _generate(self, C: torch.Tensor, noise: Noise) -> torch.Tensor:
        """Encoded draws (one-hot softmax segments) for conditioning rows ``C``."""
        raise NotImplementedError

    def _finish(self, raw: torch.Tensor, noise: Noise, stream: int) -> torch.Tensor:
        """Turn a raw output (values at continuous slots, logits at softmax segments) into a draw."""
        out = raw.clone()
        cats = self.layout_["cat"]
        if cats:
            u = noise("uniform", len(cats), stream)
            for j, (start, width) in enumerate(cats):
                out[:, start : start + width] = sample_categorical(raw[:, start : start + width], u[:, j])
        return out

    # ------------------------------------------------------------------ architecture, persistence
    def _arch(self) -> dict[str, Any]:
        return {"dim": self.layout_["dim"], "cond_dim": self.cond_dim_}

    def _build(self) -> torch.nn.Module:
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        out = dict(self.params)
        if hasattr(self, "history_"):
            out.update(getattr(self, "settings_", {}))
            out["chosen_from_donor"] = dict(getattr(self, "chosen_by_", {}))
            out["epochs_run"] = self.history_.get("epochs_run")
            out["best_epoch"] = self.history_.get("best_epoch")
            out["trained_on"] = self.trained_device_
            out["by_construction"] = list(self.layer_.by_construction)
            out["fit_check"] = getattr(self, "fit_check_", None)
            if getattr(self, "levels_", None) is not None:
                out["levels_scaled"] = self.levels_.describe()["scaled"]
            if getattr(self, "take_up_", None) is not None:
                take_up = self.take_up_.describe()
                out["take_up_tilted"] = take_up["tilted"]
                if take_up.get("share_gaps"):  # per tilted amount: the network's share minus the donor's, then the kept one's
                    out["take_up_share_gaps"] = take_up["share_gaps"]
            out["calibration_draws"] = bool(getattr(self, "calibration_draws_", False))
        return out

    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        enc_meta, enc_arrays = self.encoder_.get_state()
        meta = {
            "params": self.params,
            "arch": self.arch_,
            "layout": {"dim": self.layout_["dim"], "cont": list(self.layout_["cont"]),
                       "cat": [list(s) for s in self.layout_["cat"]]},
            "cond_dim": self.cond_dim_,
            "encoder": enc_meta,
            "layer": self.layer_.get_state(),
            "history": {"epochs_run": self.history_.get("epochs_run"), "best_epoch": self.history_.get("best_epoch")},
            "trained_on": self.trained_device_,
            "settings": self.settings_,
            "chosen_by": self.chosen_by_,
            "fit_check": self.fit_check_,
            "calibration_draws": bool(getattr(self, "calibration_draws_", False)),
        }
        arrays = {"encoder.grids": enc_arrays["grids"], **state_to_numpy(self.net_)}
        if getattr(self, "levels_", None) is not None:
            lmeta, larrays = self.levels_.get_state()
            meta["levels"] = lmeta
            arrays.update({f"levels/{k}": v for k, v in larrays.items()})
            if self.calibration_ is not None:
                arrays["levels/calibration_coef"], arrays["levels/calibration_cov"] = self.calibration_
        if getattr(self, "level_spread_", None) is not None:
            smeta, sarrays = self.level_spread_[0].get_state()
            meta["level_spread"] = smeta
            arrays.update({f"level_spread/{k}": v for k, v in sarrays.items()})
            arrays["level_spread/calibration_coef"], arrays["level_spread/calibration_cov"] = self.level_spread_[1]
        if getattr(self, "take_up_", None) is not None:
            tmeta, tarrays = self.take_up_.get_state()
            meta["take_up"] = tmeta
            arrays.update({f"take_up/{k}": v for k, v in tarrays.items()})
        return meta, arrays

    @classmethod
    def from_state(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> "DeepBackend":
        # files from before the calibrations drew the network's own
        self = cls(**{"levels": "none", "take_up": "none", **meta["params"]})
        self.encoder_ = BlockEncoder.from_state(meta["encoder"], {"grids": arrays["encoder.grids"]})
        self.layer_ = ConstraintLayer.from_state(meta["layer"])
        self.layout_ = {"dim": meta["layout"]["dim"], "cont": list(meta["layout"]["cont"]),
                        "cat": [tuple(s) for s in meta["layout"]["cat"]]}
        self.cond_dim_ = int(meta["cond_dim"])
        self.arch_ = meta["arch"]
        self.history_ = dict(meta.get("history", {}))
        self.trained_device_ = meta.get("trained_on", "cpu")
        self.settings_ = dict(meta.get("settings") or {})
        self.chosen_by_ = dict(meta.get("chosen_by") or {})
        self.fit_check_ = meta.get("fit_check")
        self.calibration_draws_ = bool(meta.get("calibration_draws", False))
        levels = {k[7:]: v for k, v in arrays.items() if k.startswith("levels/")}
        self.levels_ = LevelModel.from_state(meta["levels"], levels) if "levels" in meta else None
        self.calibration_ = (levels["calibration_coef"], levels["calibration_cov"]) if "calibration_coef" in levels else None
        spread = {k[13:]: v for k, v in arrays.items() if k.startswith("level_spread/")}
        self.level_spread_ = None
        if "level_spread" in meta:
            self.level_spread_ = (LevelModel.from_state(meta["level_spread"], spread),
                                  (spread["calibration_coef"], spread["calibration_cov"]))
        take_up = {k[8:]: v for k, v in arrays.items() if k.startswith("take_up/")}
        self.take_up_ = TakeUpModel.from_state(meta["take_up"], take_up) if "take_up" in meta else None
        self.device_ = torch.device("cpu")
        self.net_ = self._build()
        numpy_to_state(self.net_, arrays)
        self.net_.eval()
        return self
