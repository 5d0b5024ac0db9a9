"""Reference tools users already know, run as comparison "methods".

* ``microimpute``: PolicyEngine's sequential per-variable QRF, in this
  process when importable, else through the Python interpreter named by the
  environment variable ``SURVEYFUSE_MICROIMPUTE_PYTHON`` (a separate
  environment: microimpute pins versions of numpy and scikit-learn that
  surveyfuse's lock file does not allow). The variable also forces the
  subprocess when microimpute is importable here.
* ``mice``: R's ``mice`` with predictive mean matching (needs R and the
  ``mice`` package, e.g. Debian's ``r-cran-mice``).
* ``statmatch``: a StatMatch-style random distance hot deck: each recipient
  draws donors at random among its ``k = 5`` nearest by Gower distance on the
  predictors, as ``StatMatch::RANDwNND.hotdeck(dist.fun = "Gower", cut.don =
  "k.dist", k = 5)`` does. StatMatch is not packaged for Debian, so the same
  rule is written out in R here (no weights, no donation classes).

The R references run in-process through ``rpy2`` when it can be imported
(``pip install 'surveyfuse[r]'``; no CSV files, R's own data frames), and
otherwise through an ``Rscript`` child process with CSV files in a temporary
folder; both run the same R function, so they give the same draws.
``SURVEYFUSE_R=rscript`` (or ``rpy2``) forces one. Inside an R session (the R
package calling the core) R cannot be embedded a second time, so ``Rscript``
is used there.

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

REFERENCE_METHODS = ("microimpute", "mice", "statmatch")
R_REFERENCES = ("mice", "statmatch")

#: R functions ``surveyfuse_<name>(d, draws, cats, block, seed)``: ``d`` stacks the donor
#: (``is_recipient == 0``) over the recipient; the answer is the recipient's draws in long
#: form, ``.imp`` (1..draws), ``.id`` (recipient row, from 1) and the block.
R_FUNCTIONS = {
    "mice": r"""
surveyfuse_mice <- function(d, draws, cats, block, seed) {
  if (!requireNamespace("mice", quietly = TRUE)) stop("there is no package called 'mice'")
  for (c in cats) if (c %in% names(d)) d[[c]] <- factor(d[[c]])
  meth <- mice::make.method(d)
  meth[block] <- "pmm"
  pred <- mice::make.predictorMatrix(d)
  pred[, "is_recipient"] <- 0
  imp <- mice::mice(d, m = draws, method = meth, predictorMatrix = pred, maxit = 5, printFlag = FALSE,
                    seed = seed)
  long <- mice::complete(imp, "long")
  long <- long[d$is_recipient[long$.id] == 1, c(".imp", ".id", block)]
  long$.id <- long$.id - sum(d$is_recipient == 0)
  long
}
""",
    "statmatch": r"""
surveyfuse_statmatch <- function(d, draws, cats, block, seed, k = 5) {
  set.seed(seed)
  don <- d[d$is_recipient == 0, , drop = FALSE]
  rec <- d[d$is_recipient == 1, , drop = FALSE]
  preds <- setdiff(names(d), c(block, "is_recipient"))
  k <- min(k, nrow(don))
  # Gower distance: |x - y| / range for numbers, 0/1 mismatch for categories; the mean over predictors
  gower <- function(i) {
    total <- numeric(nrow(don))
    for (p in preds) {
      x <- don[[p]]
      y <- rec[[p]][i]
      if (p %in% cats || !is.numeric(x)) {
        part <- as.numeric(as.character(x) != as.character(y))
      } else {
        span <- diff(range(x, na.rm = TRUE))
        part <- if (span > 0) abs(x - y) / span else numeric(length(x))
      }
      part[is.na(part)] <- 1
      total <- total + part
    }
    total / length(preds)
  }
  picks <- matrix(0L, nrow = draws, ncol = nrow(rec))
  for (i in seq_len(nrow(rec))) {
    nearest <- order(gower(i), seq_len(nrow(don)))[seq_len(k)]
    picks[, i] <- nearest[sample.int(k, draws, replace = TRUE)]
  }
  out <- data.frame(.imp = rep(seq_len(draws), times = nrow(rec)), .id = rep(seq_len(nrow(rec)), each = draws))
  for (b in block) out[[b]] <- don[[b]][as.vector(picks)]
  out[order(out$.imp, out$.id), ]
}
""",
}

RSCRIPT_MAIN = r"""
args <- commandArgs(trailingOnly = TRUE)
source(args[1])
split <- function(x) if (nzchar(x)) strsplit(x, ",")[[1]] else character()
d <- read.csv(args[2])
long <- get(paste0("surveyfuse_", args[4]))(d, as.integer(args[5]), split(args[6]), split(args[7]), as.integer(args[8]))
write.csv(long, args[3], row.names = FALSE)
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
    if name in R_REFERENCES:
        return _r_reference(name, train, test, list(block), list(predictors), list(categorical), draws, seed)
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


def _r_reference(name, train, test, block, predictors, categorical, draws, seed):
    """Draws of an R reference, in-process through rpy2 or through Rscript."""
    stacked = pd.concat([train[predictors + block].assign(is_recipient=0),
                         test[predictors].assign(is_recipient=1)], ignore_index=True)
    cats = [c for c in categorical if c in predictors + block]
    t0 = time.perf_counter()
    long = None
    if r_path() == "rpy2":
        long = _call_rpy2(name, stacked, draws, cats, block, seed)
    if long is None:
        long = _call_rscript(name, stacked, draws, cats, block, seed)
    long = long.sort_values([".imp", ".id"])
    n = len(test)
    seconds = time.perf_counter() - t0
    return {c: long[c].to_numpy(dtype=np.float64).reshape(draws, n) for c in block}, seconds, 0.0


def r_path() -> str:
    """How R references run here: "rpy2" (in-process) or "rscript"."""
    forced = os.environ.get("SURVEYFUSE_R", "").lower()
    if forced in ("rpy2", "rscript"):
        return forced
    if os.environ.get("R_SESSION_TMPDIR"):  # inside an R process (or its child): R cannot be embedded again
        return "rscript"
    return "rpy2" if _rpy2() is not None else "rscript"


def _rpy2() -> Any:
    """``rpy2.robjects``, started once, or None when rpy2 is missing or built for another R.

    Starting R sets LD_LIBRARY_PATH in this process to R's library path (which
    holds the system libpython); every later child process would inherit it
    and could load the wrong libpython, so it is put back as it was.
    """
    saved = os.environ.get("LD_LIBRARY_PATH")
    try:
        import rpy2.robjects as ro
    except Exception:  # noqa: BLE001 - rpy2 missing, or built for another R: use Rscript
        return None
    finally:
        if saved is None:
            os.environ.pop("LD_LIBRARY_PATH", None)
        else:
            os.environ["LD_LIBRARY_PATH"] = saved
    return ro


def _call_rpy2(name, stacked, draws, cats, block, seed) -> pd.DataFrame | None:
    ro = _rpy2()
    if ro is None:
        return None
    from rpy2.rinterface_lib.embedded import RRuntimeError
    from rpy2.robjects import pandas2ri
    from rpy2.robjects.conversion import localconverter

    try:
        with localconverter(ro.default_converter + pandas2ri.converter):
            ro.r(R_FUNCTIONS[name])
            out = ro.globalenv[f"surveyfuse_{name}"](stacked, int(draws), ro.StrVector(cats), ro.StrVector(block),
                                                      int(seed))
            return pd.DataFrame(ro.conversion.get_conversion().rpy2py(out))
    except RRuntimeError as exc:
        raise _r_failure(name, str(exc)) from None


def _call_rscript(name, stacked, draws, cats, block, seed) -> pd.DataFrame:
    rscript = shutil.which("Rscript")
    if rscript is None:
        raise _missing(name, "R (Rscript)")
    with tempfile.TemporaryDirectory() as tmp:
        src, out, lib, main = (Path(tmp) / f for f in ("in.csv", "out.csv", "reference.R", "main.R"))
        stacked.to_csv(src, index=False)
        lib.write_text(R_FUNCTIONS[name])
        main.write_text(RSCRIPT_MAIN)
        proc = subprocess.run([rscript, str(main), str(lib), str(src), str(out), name, str(draws), ",".join(cats),
                               ",".join(block), str(seed)], capture_output=True, text=True)
        if proc.returncode != 0:
            raise _r_failure(name, proc.stderr)
        return pd.read_csv(out)


def _r_failure(name: str, text: str) -> SurveyfuseError:
    if "there is no package called" in text:
        return _missing(name, f"the R package {name}")
    return SurveyfuseError("reference_failed", f"R {name} failed: {text[-500:]}", method=name)


__all__ = ["R_REFERENCES", "REFERENCE_METHODS", "r_path", "run_reference"]
