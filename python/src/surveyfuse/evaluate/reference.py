"""Reference tools users already know, run as comparison "methods".

* ``microimpute``: PolicyEngine's sequential per-variable QRF, in this
  process when importable, else through the Python interpreter named by the
  environment variable ``SURVEYFUSE_MICROIMPUTE_PYTHON`` (a separate
  environment: microimpute pins versions of numpy and scikit-learn that
  surveyfuse's lock file does not allow). The variable also forces the
  subprocess when microimpute is importable here.
* ``mice``: R's ``mice`` with predictive mean matching, through an
  ``Rscript`` subprocess (needs R and the ``mice`` package, e.g. Debian's
  ``r-cran-mice``).

They are comparison rows only, not backends: no constraints, no
persistence. When the tool is missing the run raises
``SurveyfuseError("missing_dependency")``, which :func:`evaluate_methods`
turns into a skipped row.
"""

from __future__ import annotations

import json
import os
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


#: the microimpute fit and draws, run by another interpreter; the same steps as :func:`_microimpute_here`
MICROIMPUTE_PY = r"""
import json, logging, sys, time
import numpy as np, pandas as pd
from microimpute.models import QRF
logging.getLogger("microimpute").setLevel(logging.ERROR)
a = json.loads(sys.argv[1])
train, test = pd.read_parquet(a["train"]), pd.read_parquet(a["test"])
cols = a["predictors"] + a["block"] + ([a["weights"]] if a["weights"] else [])
t0 = time.perf_counter()
kwargs = {"weight_col": a["weights"]} if a["weights"] else {}
fitted = QRF(seed=a["seed"], log_level="ERROR").fit(train[cols].astype("float64"), a["predictors"], a["block"], **kwargs)
t1 = time.perf_counter()
X = test[a["predictors"]].astype("float64")
out = {c: np.zeros((a["draws"], len(test))) for c in a["block"]}
for d in range(a["draws"]):
    pred = fitted.predict(X)
    if isinstance(pred, dict):
        pred = next(iter(pred.values()))
    for c in a["block"]:
        out[c][d] = pred[c].to_numpy(dtype=np.float64)
np.savez(a["out"], fit_seconds=t1 - t0, sample_seconds=time.perf_counter() - t1, **out)
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
    python = os.environ.get("SURVEYFUSE_MICROIMPUTE_PYTHON")
    if python:
        return _microimpute_subprocess(python, train, test, block, predictors, weights, draws, seed)
    return _microimpute_here(train, test, block, predictors, weights, draws, seed)


def _microimpute_subprocess(python, train, test, block, predictors, weights, draws, seed):
    """microimpute in another environment: the tables go as Parquet, the draws come back as .npz."""
    if shutil.which(python) is None and not Path(python).is_file():
        raise _missing("microimpute", f"the interpreter SURVEYFUSE_MICROIMPUTE_PYTHON={python}")
    with tempfile.TemporaryDirectory() as tmp:
        cols = predictors + block + ([weights] if weights else [])
        train[cols].to_parquet(Path(tmp) / "train.parquet", index=False)
        test[predictors].to_parquet(Path(tmp) / "test.parquet", index=False)
        args = {"train": str(Path(tmp) / "train.parquet"), "test": str(Path(tmp) / "test.parquet"),
                "out": str(Path(tmp) / "draws.npz"), "predictors": predictors, "block": block, "weights": weights,
                "draws": int(draws), "seed": int(seed)}
        proc = subprocess.run([python, "-c", MICROIMPUTE_PY, json.dumps(args)], capture_output=True, text=True)
        if proc.returncode != 0:
            if "No module named 'microimpute'" in proc.stderr:
                raise _missing("microimpute", f"the Python package microimpute in {python}")
            raise SurveyfuseError("reference_failed", f"microimpute failed: {proc.stderr[-500:]}", method="microimpute")
        with np.load(args["out"]) as got:
            draws_out = {c: got[c] for c in block}
            return draws_out, float(got["fit_seconds"]), float(got["sample_seconds"])


def _microimpute_here(train, test, block, predictors, weights, draws, seed):
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
