"""Benchmark the generative backends against hotdeck on held-out CPS records.

Tasks (bundled data only, shared-specs/data):

* ``investment``: donor = cps_donor (8000 tax units), recipients =
  cps_recipient (4000) with the true block from cps_recipient_truth; block
  e00300 e00400 e00600 e00650 e01100, ``e00650 <= e00600``;
* ``wages``: donor = first 6000 rows of cps_donor, recipients = the other
  2000 with the block hidden; block e00200 e00200p e00200s,
  ``e00200 == e00200p + e00200s`` and ``MARS != 2 -> e00200s == 0``.

Each method is fitted with default settings and draws 20 imputations per
recipient; we report wall seconds (fit + sample), the energy score of the
standardised block (lower is better; also on a signed-log scale, where
heavy tails weigh less), the randomised-PIT coverage of central 90 %
intervals (target 0.90), and rows that break a declared constraint.
Timings are only comparable within one run (the machine is shared): hotdeck,
forest and qrf are measured in the same run as references.

    .venv/bin/python python/benchmarks/bench_deep.py [--tasks investment wages] [--methods ...] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from surveyfuse.constraints import ConstraintSet
from surveyfuse.evaluate.scores import energy_score
from surveyfuse.imputer import Imputer

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "shared-specs" / "data"
DRAWS = 20
PREDICTORS = ["age_head", "age_spouse", "MARS", "XTOT", "nu18", "e00200", "e02400", "e01500", "fips"]


def load_task(name: str) -> dict:
    donor = pd.read_parquet(DATA / "cps_donor.parquet")
    if name == "investment":
        block = ["e00300", "e00400", "e00600", "e00650", "e01100"]
        recipient = pd.read_parquet(DATA / "cps_recipient.parquet")
        truth = pd.read_parquet(DATA / "cps_recipient_truth.parquet")
        truth = recipient[["RECID"]].merge(truth, on="RECID", how="left")[block]
        return {"donor": donor, "recipient": recipient, "truth": truth, "block": block, "predictors": PREDICTORS,
                "constraints": ["e00650 <= e00600"] + [f"{c} >= 0" for c in block]}
    if name == "wages":
        block = ["e00200", "e00200p", "e00200s"]
        predictors = [p for p in PREDICTORS if p != "e00200"] + ["e00300", "e00600", "e02100"]
        d, r = donor.iloc[:6000].reset_index(drop=True), donor.iloc[6000:].reset_index(drop=True)
        return {"donor": d, "recipient": r.drop(columns=block), "truth": r[block], "block": block,
                "predictors": predictors, "constraints": ["e00200 == e00200p + e00200s", "MARS != 2 -> e00200s == 0"]}
    raise SystemExit(f"unknown task {name}")


# --- scores (private to this script; the shared scoring module may replace them) -------------
def pit_coverage(draws: np.ndarray, truth: np.ndarray, level: float = 0.9, seed: int = 0) -> float:
    """Share of randomised PIT values inside the central ``level`` interval, averaged over variables."""
    u_noise = np.random.default_rng(seed).random(truth.shape)
    less = (draws < truth[None]).sum(axis=0)
    equal = (draws == truth[None]).sum(axis=0)
    pit = (less + u_noise * (equal + 1)) / (draws.shape[0] + 1)
    lo, hi = (1 - level) / 2, 1 - (1 - level) / 2
    return float(np.mean((pit >= lo) & (pit <= hi)))


def slog(x: np.ndarray) -> np.ndarray:
    return np.sign(x) * np.log1p(np.abs(x))


def run_one(task: dict, method: str, seed: int = 0) -> dict:
    block = task["block"]
    t0 = time.perf_counter()
    imp = Imputer(block=block, predictors=task["predictors"], method=method, categorical=["MARS", "fips"],
                  weights="s006", constraints=task["constraints"], random_state=seed)
    imp.fit(task["donor"])
    t_fit = time.perf_counter() - t0
    out = imp.sample(task["recipient"], draws=DRAWS, seed=seed)
    seconds = time.perf_counter() - t0
    n = len(task["recipient"])
    draws = out[block].to_numpy(float).reshape(DRAWS, n, len(block))
    report = imp.sample_report_
    row = score_row(method, task, draws, seconds, t_fit)
    row.update(
        redrawn=int(report.get("redrawn", 0)),
        repaired=int(sum(report.get("constraints", {}).get("repaired", {}).values())),
        epochs_run=imp.backend_.describe().get("epochs_run"),
    )
    return row


def score_row(label: str, task: dict, draws: np.ndarray, seconds: float, fit_seconds: float) -> dict:
    """The table row for draws (D, n, k) of the task's block, from any method."""
    block = task["block"]
    truth = task["truth"].to_numpy(float)
    donor_block = task["donor"][block].to_numpy(float)
    sd = donor_block.std(axis=0)
    sd[sd == 0] = 1.0
    lsd = slog(donor_block).std(axis=0)
    lsd[lsd == 0] = 1.0
    D = draws.shape[0]
    data = {**{c: draws[:, :, j].reshape(-1) for j, c in enumerate(block)},
            **{c: np.tile(task["recipient"][c].to_numpy(), D) for c in task["recipient"].columns}}
    cs = ConstraintSet(task["constraints"])
    needed = set().union(*[c.columns for c in cs])
    return {"method": label, "seconds": round(seconds, 1), "fit_seconds": round(fit_seconds, 1),
            "energy_std": round(energy_score(draws / sd, truth / sd), 4),
            "energy_slog": round(energy_score(slog(draws) / lsd, slog(truth) / lsd), 4),
            "pit90": round(pit_coverage(draws, truth), 3),
            "violations": int(cs.check({c: data[c] for c in needed}).total_violations),
            "redrawn": 0, "repaired": 0, "epochs_run": None}


def run_external(task: dict, name: str, seed: int = 0) -> dict:
    """microimpute's QRF or R mice (pmm) on the same task, through surveyfuse.evaluate.reference."""
    from surveyfuse.evaluate.reference import run_reference as external

    block = task["block"]
    draws, fit_s, sample_s = external(name, task["donor"], task["recipient"], block, task["predictors"],
                                      ["MARS", "fips"], "s006", DRAWS, seed)
    stacked = np.stack([draws[c] for c in block], axis=2)
    return score_row(name, task, stacked, fit_s + sample_s, fit_s)


def run_reference(task: dict, kind: str, epochs: int, seed: int = 0) -> dict:
    """The `ctgan` package's own unconditional CTGAN / TVAE (optional; never a dependency).

    It models the block alone and cannot condition on continuous predictors, so
    each recipient gets unconditional draws: a reference for what conditioning buys.
    """
    import ctgan  # noqa: F401  (optional; BSL-licensed, used here only as a benchmark row)
    import torch

    block = task["block"]
    t0 = time.perf_counter()
    model = (ctgan.CTGAN if kind == "CTGAN" else ctgan.TVAE)(epochs=epochs)
    model.set_random_state(seed)
    torch.set_num_threads(1)
    model.fit(task["donor"][block], discrete_columns=[])
    n = len(task["recipient"])
    sample = model.sample(DRAWS * n)[block].to_numpy(float)
    seconds = time.perf_counter() - t0
    row = score_row(f"ctgan-pkg {kind} (unconditional, {epochs} ep)", task, sample.reshape(DRAWS, n, len(block)),
                    seconds, seconds)
    row["epochs_run"] = epochs
    return row


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", nargs="+", default=["investment", "wages"])
    ap.add_argument("--methods", nargs="*", default=["hotdeck", "forest", "qrf", "tvae", "diffusion", "ctgan", "ctabgan"])
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--reference", nargs="*", default=[], choices=["CTGAN", "TVAE"],
                    help="also run the `ctgan` package's unconditional models, if it is importable")
    ap.add_argument("--reference-epochs", type=int, default=100)
    ap.add_argument("--external", nargs="*", default=[], choices=["microimpute", "mice"],
                    help="reference rows from other tools, when installed (microimpute's QRF, R mice pmm)")
    args = ap.parse_args(argv)
    results = []
    for t in args.tasks:
        task = load_task(t)
        print(f"\n## {t}: {len(task['donor'])} donors, {len(task['recipient'])} recipients, block {task['block']}, "
              f"{DRAWS} draws", flush=True)
        print("| method | seconds (fit) | energy (std) | energy (slog) | PIT-90 cover | violations | redrawn | repaired | epochs |")
        print("|---|---|---|---|---|---|---|---|---|", flush=True)
        jobs = [(m, None) for m in args.methods] + [(None, k) for k in args.reference] + [(e, "external") for e in args.external]
        for m, ref in jobs:
            try:
                if ref == "external":
                    r = run_external(task, m)
                else:
                    r = run_one(task, m) if ref is None else run_reference(task, ref, args.reference_epochs)
                m = r["method"]
            except Exception as exc:  # keep the table going; report the failure in its row
                print(f"| {m or 'ctgan-pkg ' + str(ref)} | failed: {exc!r} |", flush=True)
                continue
            r["task"] = t
            results.append(r)
            print(f"| {m} | {r['seconds']} ({r['fit_seconds']}) | {r['energy_std']} | {r['energy_slog']} | {r['pit90']} | "
                  f"{r['violations']} | {r['redrawn']} | {r['repaired']} | {r['epochs_run'] or ''} |", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
