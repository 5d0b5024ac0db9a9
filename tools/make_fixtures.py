"""Rebuild the small test fixtures in shared-specs/data/ from the bundled CPS donor sample.

Deterministic; run by hand after changing it. Each fixture exists for one
shared task spec in shared-specs/tasks/.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

DATA = Path(__file__).resolve().parents[1] / "shared-specs" / "data"
REGIONS = {1: "northeast", 2: "midwest", 3: "south", 4: "west"}


def region_of(fips: pd.Series) -> pd.Series:
    # census regions by state FIPS (coarse, for a text-valued categorical fixture)
    northeast = {9, 23, 25, 33, 44, 50, 34, 36, 42}
    midwest = {17, 18, 26, 39, 55, 19, 20, 27, 29, 31, 38, 46}
    west = {4, 8, 16, 30, 32, 35, 49, 56, 2, 6, 15, 41, 53}
    return fips.map(lambda f: "northeast" if f in northeast else "midwest" if f in midwest else "west" if f in west else "south")


def main() -> None:
    donor = pd.read_parquet(DATA / "cps_donor.parquet")
    small = donor.sample(600, random_state=1).reset_index(drop=True)
    cols = ["RECID", "age_head", "MARS", "XTOT", "e00200", "e00200p", "e00200s", "e00600", "e00650", "e00300", "s006", "fips"]
    small = small[cols].copy()
    small["region"] = region_of(small["fips"])
    small["has_div"] = (small["e00600"] > 0)
    d, r = small.iloc[:500], small.iloc[500:]
    d.to_csv(DATA / "tiny_donor.csv", index=False)
    r.drop(columns=["e00600", "e00650", "e00300", "region", "has_div"]).to_csv(DATA / "tiny_recipient.csv", index=False)

    bad = d.copy()
    bad["age_head"] = bad["age_head"].astype(object)
    bad.loc[bad.index[7], "age_head"] = "forty"
    bad.to_csv(DATA / "tiny_donor_text_in_numeric.csv", index=False)

    neg = d.copy()
    neg.loc[neg.index[3], "s006"] = -5
    neg.to_csv(DATA / "tiny_donor_negative_weight.csv", index=False)

    zero = d.copy()
    zero["s006"] = 0
    zero.to_csv(DATA / "tiny_donor_zero_weights.csv", index=False)

    wages = donor.drop(index=donor.index[:0]).sample(1000, random_state=2)[["RECID", "age_head", "MARS", "XTOT", "e00200", "e02400", "s006"]]
    wages.to_csv(DATA / "tiny_recipient_wages.csv", index=False)
    d.iloc[:0].to_parquet(DATA / "tiny_donor_empty.parquet", index=False)
    (DATA / "not_parquet.parquet").write_text("RECID,age_head\n1,40\n")
    # a donor for a categorical block with text values and a dta input
    d.to_stata(DATA / "tiny_donor.dta", write_index=False, version=118)



def cross_survey_example() -> None:
    """examples/cross_survey: donor = 2012 tax units, recipient = 2014 units in another survey's vocabulary."""
    out = Path(__file__).resolve().parents[1] / "examples" / "cross_survey"
    out.mkdir(parents=True, exist_ok=True)
    donor = pd.read_parquet(DATA / "cps_donor.parquet")
    donor = donor[donor["FLPDYR"] == 2012].reset_index(drop=True)
    recip = pd.read_parquet(DATA / "cps_recipient.parquet")
    truth = pd.read_parquet(DATA / "cps_recipient_truth.parquet")
    keep = recip["FLPDYR"] == 2014
    recip, truth = recip[keep].reset_index(drop=True), truth[keep].reset_index(drop=True)
    status = {1: "single", 2: "joint", 3: "separate", 4: "head_of_household"}
    other = pd.DataFrame({
        "id": recip["RECID"],
        "age": recip["age_head"],
        "filing_status": recip["MARS"].map(status),
        "persons": recip["XTOT"],
        "wages_k": (recip["e00200"] / 1000).round(3),
        "social_security": recip["e02400"],
        "weight": recip["s006"],
    })
    donor.to_parquet(out / "donor_2012.parquet", index=False)
    other.to_parquet(out / "recipient_2014.parquet", index=False)
    truth.rename(columns={"RECID": "id"}).to_parquet(out / "recipient_2014_truth.parquet", index=False)


if __name__ == "__main__":
    main()
    cross_survey_example()
