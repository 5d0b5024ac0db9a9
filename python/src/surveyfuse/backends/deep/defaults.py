"""Training settings chosen from the donor size, as the forest chooses its leaf size.

A fixed recipe tuned on 5,000-10,000 donors fails on 300: a batch of 500 rows
is then the whole donor, so 300 "epochs" are 300 gradient steps, and a
network sized for 10,000 rows memorises 250. Every setting below defaults to
``"auto"`` and is resolved at fit time from the number of training rows
``n`` (the donor less its held-out part); a number given by the user is kept.

* ``batch_size``: ``n / 16`` within [``MIN_BATCH``, the method's large-donor
  batch], so every epoch has about 16 steps whatever the donor size (GANs:
  rounded to a multiple of ``pac``);
* ``epochs``: enough for at least ``MIN_STEPS`` gradient steps, and never
  fewer than the method's large-donor epochs; early stopping ends sooner;
* ``eval_every``: at least ``EVAL_STEPS`` steps between held-out checks, so
  patience means the same amount of training at every size;
* widths (``hidden``, ``generator_hidden``, ``critic_hidden``): the method's
  large-donor widths times ``sqrt(n / FULL_ROWS)``, within [1/4, 1], in
  steps of 16: fewer parameters to overfit with few donors;
* ``dropout`` (tvae, diffusion), ``weight_decay`` and the GANs'
  ``score_weight``: regularisation that fades as the donor grows, from its
  small-donor value ``a`` to its large-donor value ``b`` as
  ``(a * ref + b * n) / (ref + n)``.

:func:`resolve` returns the settings and what chose each one, which the fit
report shows under ``method_params["chosen_from_donor"]``.
"""

from __future__ import annotations

import math
from typing import Any

AUTO = "auto"
MIN_BATCH = 32
MIN_STEPS = 3000
EVAL_STEPS = 100
STEPS_PER_EPOCH = 16
#: training rows from which the large-donor widths apply unchanged
FULL_ROWS = 8000
WIDTH_STEP = 16
#: parameters that may be "auto" (for any method that has them)
AUTO_PARAMS = ("epochs", "batch_size", "eval_every", "hidden", "generator_hidden", "critic_hidden",
               "dropout", "weight_decay", "score_weight")
#: parameters that fade with the donor size; their recipe entry is (small-donor value, large-donor value, ref rows)
FADING = ("dropout", "weight_decay", "score_weight")


def _width(base: int, n: int) -> int:
    scale = min(1.0, max(0.25, math.sqrt(n / FULL_ROWS)))
    return max(WIDTH_STEP, int(round(base * scale / WIDTH_STEP)) * WIDTH_STEP)


def resolve(params: dict[str, Any], recipe: dict[str, Any], n: int, multiple: int = 1) -> tuple[dict[str, Any], dict[str, str]]:
    """Concrete settings for ``n`` training rows: the user's values, else ``recipe`` adapted to ``n``.

    ``recipe`` holds the method's large-donor values of the auto parameters it
    has, ``min_batch`` (default ``MIN_BATCH``), and for the ``FADING`` ones a
    (small-donor value, large-donor value, ref rows) triple; ``multiple`` rounds
    the batch (PacGAN groups).
    """
    n = max(int(n), 1)
    out: dict[str, Any] = {}
    why: dict[str, str] = {}
    size = f"donor size ({n} training rows)"
    for name in AUTO_PARAMS:
        if name in recipe and params.get(name, AUTO) != AUTO:
            out[name], why[name] = params[name], "user"
    if "batch_size" in recipe and "batch_size" not in out:
        b = min(int(recipe["batch_size"]), max(int(recipe.get("min_batch", MIN_BATCH)), n // STEPS_PER_EPOCH), n)
        out["batch_size"], why["batch_size"] = max(multiple, b - b % multiple), size
    steps = max(n // int(out.get("batch_size", n)), 1)
    for name in ("hidden", "generator_hidden", "critic_hidden"):
        if name in recipe and name not in out:
            out[name], why[name] = [_width(int(h), n) for h in recipe[name]], size
    for name in FADING:
        if name in recipe and name not in out:
            small, large, ref = (float(v) for v in recipe[name])
            out[name], why[name] = (small * ref + large * n) / (ref + n), size
    if "epochs" in recipe and "epochs" not in out:
        out["epochs"] = max(int(recipe["epochs"]), math.ceil(MIN_STEPS / steps))
        why["epochs"] = f"at least {MIN_STEPS} steps of {steps} per epoch"
    if "eval_every" in recipe and "eval_every" not in out:
        out["eval_every"] = max(int(recipe["eval_every"]), math.ceil(EVAL_STEPS / steps))
        why["eval_every"] = f"at least {EVAL_STEPS} steps between checks"
    return out, why


__all__ = ["AUTO", "AUTO_PARAMS", "resolve"]
