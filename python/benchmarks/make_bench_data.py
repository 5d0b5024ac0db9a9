"""Build the bundled benchmark sample ``python/benchmarks/data/cps_bench.parquet``.

Source: /work/shared/data/cps_taxunits.parquet - 280,005 CPS tax units
(March CPS, filing years 2012-2014) as shipped in Tax-Calculator 6.8.5's
``cps.csv.gz`` (public domain, CC0 1.0). We keep a uniform random sample of
rows (seed 2026) and only the columns the benchmark tasks use, so the file
stays small. Run once; the benchmark itself never reads /work/shared.

    python python/benchmarks/make_bench_data.py [--rows 40000] [--source PATH]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

COLUMNS = [
    "RECID", "s006", "age_head", "age_spouse", "MARS", "XTOT", "nu18", "n24", "fips",
    "e00200", "e00200p", "e00200s", "e00300", "e00400", "e00600", "e00650", "e01100",
    "e01500", "e01700", "e02300", "e02400", "e00900",
    "e17500", "e18400", "e18500", "e19200", "e19800", "e20100",
    "e01400", "e00900p", "e00900s", "snap_ben", "ssi_ben", "housing_ben", "mcaid_ben", "mcare_ben",
]

OUT = Path(__file__).parent / "data" / "cps_bench.parquet"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=40000)
    ap.add_argument("--source", default="/work/shared/data/cps_taxunits.parquet")
    args = ap.parse_args()
    full = pd.read_parquet(args.source, columns=COLUMNS)
    sample = full.sample(n=args.rows, random_state=2026).reset_index(drop=True)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    sample.to_parquet(OUT, index=False, compression="zstd")
    print(f"wrote {OUT} ({len(sample)} rows, {OUT.stat().st_size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
