"""Reference tools users already know, run as comparison "methods".

* ``microimpute``: PolicyEngine's sequential per-variable QRF (if importable).
* ``mice``: R's ``mice`` with predictive mean matching, through an
  ``Rscript`` subprocess (needs R and the ``mice`` package, e.g. Debian's
  ``r-cran-mice``).

They are comparison rows only, not backends: no constraints, no
persistence. When the tool is missing the run raises
``SurveyfuseError("missing_dependency")``, which :func:`evaluate_methods`
turns into a skipped row.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from ..errors import SurveyfuseError

REFERENCE_METHODS = ("microimpute", "mice")

MICE_R = r"""
suppressMessages(library(mice))
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1])
cats <- strsplit(args[4], ",")[[1]]
for (c in cats) if (c %in% names(d)) d[[c]] <- factor(d[[c]])
block <- strsplit(args[5], ",")[[1]]
meth <- make.method(d)
meth[block] <- "pmm"
pred <- make.predictorMatrix(d)
pred[, "is_recipient"] <- 0
imp <- mice(d, m = as.integer(args[3]), method = meth, predictorMatrix = pred, maxit = 5, printFlag = FALSE,
            seed = as.integer(args[6]))
long <- complete(imp, "long")
long <- long[d$is_recipient[long$.id] == 1, c(".imp", ".id", block)]
write.csv(long, args[2], row.names = FALSE)
"""


def _missing(name: str, what: str) -> SurveyfuseError:
    return SurveyfuseError("missing_dependency", f"reference method '{name}' needs {what}", method=name, dependency=what)


def run_reference(name: str, train: pd.DataFrame, test: pd.DataFrame, block: Sequence[str], predictors: Sequence[str],
                  categorical: Sequence[str], weights: str | None, draws: int, seed: int
                  ) -> tuple[dict[str, np.ndarray], float, float]:
    """Draws ``{name: (draws, n)}``, fit seconds, sample seconds."""
    if name == "microimpute":
        return _microimpute(train, test, list(block), list(predictors), weights, draws, seed)
    if name == "mice":
        return _mice(train, test, list(block), list(predictors), list(categorical), draws, seed)
    raise SurveyfuseError("unknown_method", f"unknown reference method '{name}'", method=name)


def _microimpute(train, test, block, predictors, weights, draws, seed):
    try:
        import logging

        from microimpute.models import QRF
    except ImportError as exc:
        raise _missing("microimpute", "the Python package microimpute") from exc
    logging.getLogger("microimpute").setLevel(logging.ERROR)
    cols = predictors + block + ([weights] if weights else [])
    t0 = time.perf_counter()
    kwargs = {"weight_col": weights} if weights else {}
    fitted = QRF(seed=seed, log_level="ERROR").fit(train[cols].astype("float64"), predictors, block, **kwargs)
    t1 = time.perf_counter()
    X = test[predictors].astype("float64")
    out = {c: np.zeros((draws, len(test))) for c in block}
    for d in range(draws):  # each predict() draws fresh random quantiles
        pred = fitted.predict(X)
        if isinstance(pred, dict):
            pred = next(iter(pred.values()))
        for c in block:
            out[c][d] = pred[c].to_numpy(dtype=np.float64)
    return out, t1 - t0, time.perf_counter() - t1


def _mice(train, test, block, predictors, categorical, draws, seed):
    rscript = shutil.which("Rscript")
    if rscript is None:
        raise _missing("mice", "R (Rscript)")
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        stacked = pd.concat([train[predictors + block].assign(is_recipient=0),
                             test[predictors].assign(is_recipient=1)], ignore_index=True)
        src, out, script = Path(tmp) / "in.csv", Path(tmp) / "out.csv", Path(tmp) / "mice.R"
        stacked.to_csv(src, index=False)
        script.write_text(MICE_R)
        proc = subprocess.run([rscript, str(script), str(src), str(out), str(draws),
                               ",".join(c for c in categorical if c in predictors + block), ",".join(block), str(seed)],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            if "there is no package called" in proc.stderr:
                raise _missing("mice", "the R package mice")
            raise SurveyfuseError("reference_failed", f"R mice failed: {proc.stderr[-500:]}", method="mice")
        long = pd.read_csv(out).sort_values([".imp", ".id"])
    n = len(test)
    seconds = time.perf_counter() - t0
    return {c: long[c].to_numpy(dtype=np.float64).reshape(draws, n) for c in block}, seconds, 0.0


__all__ = ["REFERENCE_METHODS", "run_reference"]
