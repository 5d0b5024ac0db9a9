"""Rebuild the bundled CPS samples in shared-specs/data/ (run by hand, never at run time).

Source: ../shared/data/cps_taxunits.parquet, 280,005 CPS tax units (filing
years 2012-2014) from Tax-Calculator 6.8.5's cps.csv.gz, public domain (CC0).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

INVESTMENT_BLOCK = ["e00300", "e00400", "e00600", "e00650", "e01100"]


def main(source: str = "../shared/data/cps_taxunits.parquet") -> None:
    out = Path(__file__).resolve().parents[1] / "shared-specs" / "data"
    table = pq.read_table(source)
    rng = np.random.default_rng(20261125)
    idx = rng.permutation(table.num_rows)
    donor = table.take(pa.array(np.sort(idx[:8000])))
    recip = table.take(pa.array(np.sort(idx[8000:12000])))
    pq.write_table(donor, out / "cps_donor.parquet")
    pq.write_table(recip.select(["RECID"] + INVESTMENT_BLOCK), out / "cps_recipient_truth.parquet")
    pq.write_table(recip.drop_columns(INVESTMENT_BLOCK), out / "cps_recipient.parquet")


if __name__ == "__main__":
    main(*sys.argv[1:])
