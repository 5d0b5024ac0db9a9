"""Does donor-only validation rank methods the way the truth does?

1. ``surveyfuse.evaluate_methods`` ranks the methods by K-fold validation on
   the bundled donor (``shared-specs/data/cps_donor.parquet``) alone.
2. Each method is then fitted on the whole donor and imputes the bundled
   recipients (``cps_recipient.parquet``), whose true investment block
   (``cps_recipient_truth.parquet``, joined on RECID) is scored with the same
   metrics, weighted by the recipients' ``s006``.
3. Both rankings are printed with Kendall's tau between them (energy score,
   and CRPS as a second view).

    python python/benchmarks/bench_evaluate.py [--folds 5] [--draws 20] [--methods forest,qrf,hotdeck,hotdeck_k50]
        [--max-rows N] [--json OUT.json]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import kendalltau

import surveyfuse as sf
from surveyfuse.data.types import infer_variable
from surveyfuse.evaluate.metrics import score_block
from surveyfuse.evaluate.reference import REFERENCE_METHODS, run_reference

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "shared-specs" / "data"
SPEC = json.loads((ROOT / "examples" / "cps_investment.json").read_text())
BLOCK, PREDICTORS = SPEC["block"], SPEC["predictors"]
CATEGORICAL, CONSTRAINTS, WEIGHTS = SPEC["categorical"], SPEC["constraints"], SPEC["weights"]

#: label -> method spec; hotdeck with k=1 (nearest donor) and k=50 (wide neighbourhood) are distinct entries
METHODS = {
    "forest": "forest",
    "qrf": "qrf",
    "hotdeck": {"name": "hotdeck", "params": {"k": 1}},
    "hotdeck_k50": {"name": "hotdeck", "params": {"k": 50}},
    "microimpute": "microimpute",
    "mice": "mice",
}


def truth_scores(methods: dict, donor: pd.DataFrame, draws: int, seed: int) -> dict:
    recipient = pd.read_parquet(DATA / "cps_recipient.parquet")
    truth = recipient.merge(pd.read_parquet(DATA / "cps_recipient_truth.parquet"), on="RECID", how="left", validate="1:1")
    variables = [infer_variable(donor[c], categorical=c in CATEGORICAL) for c in BLOCK]
    out = {}
    for label, spec in methods.items():
        t0 = time.perf_counter()
        if spec in REFERENCE_METHODS:
            try:
                D, _, _ = run_reference(spec, donor, recipient, BLOCK, PREDICTORS, CATEGORICAL, WEIGHTS, draws, seed)
            except sf.SurveyfuseError as exc:
                print(f"  {label}: skipped ({exc.message})")
                continue
        else:
            imp = sf.Imputer(BLOCK, PREDICTORS, method=spec, categorical=CATEGORICAL, weights=WEIGHTS,
                             constraints=CONSTRAINTS, random_state=seed).fit(donor)
            long = imp.sample(recipient, draws=draws, seed=seed + 1)
            D = {c: long[c].to_numpy().reshape(draws, len(recipient)) for c in BLOCK}
        s = score_block(D, truth, variables, weights=truth[WEIGHTS].to_numpy(float), reference=donor,
                        reference_weights=donor[WEIGHTS].to_numpy(float), constraints=CONSTRAINTS,
                        predictors=PREDICTORS, seed=seed)
        s["seconds"] = time.perf_counter() - t0
        out[label] = s
        print(f"  truth {label}: energy {s['overall']['energy_score']:.4f} ({s['seconds']:.1f} s)", flush=True)
    return out


def ranking(scores: dict[str, float]) -> list[str]:
    return sorted(scores, key=scores.get)


def compare(cv: dict[str, float], truth: dict[str, float], what: str) -> dict:
    common = [m for m in cv if m in truth and cv[m] is not None and truth[m] is not None]
    tau = kendalltau([cv[m] for m in common], [truth[m] for m in common]).statistic if len(common) > 1 else float("nan")
    r_cv, r_truth = ranking({m: cv[m] for m in common}), ranking({m: truth[m] for m in common})
    print(f"\n{what}")
    print(f"  {'method':14s} {'donor CV':>10s} {'truth':>10s}")
    for m in r_cv:
        print(f"  {m:14s} {cv[m]:10.4f} {truth[m]:10.4f}")
    print(f"  ranking by donor CV : {' < '.join(r_cv)}")
    print(f"  ranking on truth    : {' < '.join(r_truth)}")
    print(f"  Kendall tau = {tau:.3f}; same best method: {r_cv[0] == r_truth[0]}")
    return {"cv": r_cv, "truth": r_truth, "kendall_tau": float(tau), "same_best": r_cv[0] == r_truth[0]}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--draws", type=int, default=20)
    ap.add_argument("--methods", default="forest,qrf,hotdeck,hotdeck_k50")
    ap.add_argument("--max-rows", type=int, default=None, help="donor rows used by the CV (default all)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", help="write both evaluations here")
    args = ap.parse_args(argv)
    methods = {m: METHODS[m] for m in args.methods.split(",")}
    donor = pd.read_parquet(DATA / "cps_donor.parquet")
    print(f"donor {len(donor)} rows, block {BLOCK}; {args.folds}-fold donor CV, {args.draws} draws", flush=True)
    t0 = time.perf_counter()
    ev = sf.evaluate_methods(donor, BLOCK, PREDICTORS, list(methods.items()), folds=args.folds, draws=args.draws,
                             weights=WEIGHTS, constraints=CONSTRAINTS, categorical=CATEGORICAL, seed=args.seed,
                             max_rows=args.max_rows, verbose=True)
    print(f"donor CV done in {time.perf_counter() - t0:.0f} s; best by CV: {ev.best}", flush=True)
    truth = truth_scores({m: s for m, s in methods.items() if m in ev.metrics["methods"]}, donor, args.draws, args.seed)
    result = {"cv": ev.metrics, "truth": truth, "agreement": {}}
    for key, what in (("energy_score", "energy score of the standardised block (lower is better)"),
                      ("crps_std", "mean standardised CRPS over the block (lower is better)")):
        cv = {m: r["overall"][key] for m, r in ev.metrics["methods"].items()}
        tr = {m: r["overall"][key] for m, r in truth.items()}
        result["agreement"][key] = compare(cv, tr, what)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1, default=str))
    return result


if __name__ == "__main__":
    main()
