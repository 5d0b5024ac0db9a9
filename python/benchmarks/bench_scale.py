"""Scale benchmark: cost of the default method as donors and recipients grow.

The bundled CPS sample (8,000 real tax units) is resampled with replacement up
to each size (1k .. 280k), so the 280k case has the shape of the whole CPS
tax-unit file. Each size runs in its own process through the CLI, so the peak
memory reported is that run's own. Prints a table: rows, seconds (fit,
impute, total), peak memory.

    .venv/bin/python python/benchmarks/bench_scale.py [--sizes 1000,10000,140000] [--method forest] [--draws 5]
        [--params '{"levels": "none", "mi": "none"}']
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[2]
WORK = REPO / "out" / "bench_scale"
BLOCK = ["e00300", "e00400", "e00600", "e00650", "e01100", "e01400"]
PREDICTORS = ["age_head", "age_spouse", "MARS", "XTOT", "nu18", "e00200", "e02400", "e01500", "fips"]


def make_files(size: int, seed: int = 0) -> Path:
    base = pd.read_parquet(REPO / "shared-specs" / "data" / "cps_donor.parquet")
    rng = np.random.default_rng(seed + size)
    donor = base.iloc[rng.integers(0, len(base), size)].reset_index(drop=True)
    recip = base.iloc[rng.integers(0, len(base), size)].drop(columns=BLOCK).reset_index(drop=True)
    folder = WORK / str(size)
    folder.mkdir(parents=True, exist_ok=True)
    donor.to_parquet(folder / "donor.parquet", index=False)
    recip.to_parquet(folder / "recipient.parquet", index=False, row_group_size=50_000)
    return folder


def run_size(size: int, method: str | None, draws: int, params: dict | None = None) -> dict:
    folder = make_files(size)
    spec = {
        "spec_version": 1, "name": f"scale_{size}", "donor": "donor.parquet", "recipient": "recipient.parquet",
        "predictors": PREDICTORS, "block": BLOCK, "categorical": ["MARS", "fips"], "weights": "s006",
        "constraints": ["e00650 <= e00600"] + [f"{c} >= 0" for c in BLOCK],
        "draws": draws, "seed": 0, "output": "imputed.parquet",
    }
    if method or params:
        spec["method"] = {"name": method or "forest", "params": params or {}} if params else method
    (folder / "spec.json").write_text(json.dumps(spec))
    exe = Path(sys.executable).with_name("surveyfuse")
    res = subprocess.run([str(exe), "run", str(folder / "spec.json"), "--json"], capture_output=True, text=True)
    if res.returncode != 0:
        raise SystemExit(f"size {size} failed: {res.stderr}")
    return json.loads(res.stdout)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000,5000,20000,70000,140000,280000")
    ap.add_argument("--method", default=None, help="method (default: the package default)")
    ap.add_argument("--draws", type=int, default=5)
    ap.add_argument("--params", type=json.loads, default=None,
                    help='JSON parameters of the method, e.g. \'{"levels": "none", "mi": "none"}\' (the forest before issue 14)')
    args = ap.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"Scale: donors = recipients = N, {len(BLOCK)}-variable block, {args.draws} draws, 2 cores")
    print(f"{'N':>8} {'method':>8} {'fit s':>8} {'impute s':>9} {'total s':>8} {'peak MB':>8} {'violations':>10}")
    for n in sizes:
        s = run_size(n, args.method, args.draws, args.params)
        sec = s["seconds"]
        print(f"{n:>8} {s['method']:>8} {sec['fit']:>8.2f} {sec['impute']:>9.2f} {sec['total']:>8.2f} "
              f"{s['peak_memory_mb']:>8.0f} {sum(s['constraints']['violations'].values()):>10}", flush=True)


if __name__ == "__main__":
    main()
