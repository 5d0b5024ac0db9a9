"""Write examples/stata/: small CPS donor and recipient files as a Stata user has them.

Value labels on MARS (filing status), variable labels on every column, and
Stata's extended missing value .a ("refused") on a few wages of the
recipient. Run from the repository root: python tools/make_stata_example.py
"""

from pathlib import Path

import numpy as np
import pandas as pd

from surveyfuse.data.io import STATA_META, tagged_na, write_table

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "shared-specs" / "data"
OUT = ROOT / "examples" / "stata"
PREDICTORS = ["age_head", "age_spouse", "MARS", "XTOT", "nu18", "e00200", "e02400", "e01500"]
BLOCK = ["e00300", "e00400", "e00600", "e00650", "e01100"]
LABELS = {
    "RECID": "record id", "age_head": "age of head", "age_spouse": "age of spouse", "MARS": "filing status",
    "XTOT": "exemptions", "nu18": "people under 18", "e00200": "wages and salaries", "e02400": "social security",
    "e01500": "pensions and annuities", "s006": "sampling weight", "e00300": "taxable interest",
    "e00400": "tax-exempt interest", "e00600": "ordinary dividends", "e00650": "qualified dividends",
    "e01100": "capital gain distributions",
}
MARS = {"1": "single", "2": "joint", "3": "separate", "4": "head of household"}


def stata_frame(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.reset_index(drop=True)
    frame.attrs[STATA_META] = {"variable_labels": {c: LABELS[c] for c in frame.columns if c in LABELS},
                               "value_labels": {"MARS": MARS}, "formats": {}, "missing_by_row": {}}
    return frame


def main() -> None:
    donor = pd.read_parquet(DATA / "cps_donor.parquet").iloc[:2000]
    recipient = pd.read_parquet(DATA / "cps_recipient.parquet").iloc[:1000]
    donor = donor[["RECID", *PREDICTORS, "s006", *BLOCK]].astype("float64")
    recipient = recipient[["RECID", *PREDICTORS, "s006"]].astype("float64")
    wages = recipient["e00200"].to_numpy().copy()
    wages[np.arange(0, 1000, 97)] = tagged_na("a")  # refused: an extended missing value (numpy keeps its bits)
    recipient["e00200"] = wages
    write_table(stata_frame(donor), OUT / "cps_donor.dta")
    write_table(stata_frame(recipient), OUT / "cps_recipient.dta")


if __name__ == "__main__":
    main()
