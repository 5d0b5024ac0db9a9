"""Harmonise predictors across surveys before fitting: rename, recode, transform.

Two surveys rarely name or code the same concept alike (the SCF's ``age`` is
the CPS's ``age_head``; five education codes against three). A harmonisation
maps each survey's own columns onto the shared predictor vocabulary, so users
never edit their source files. Rules, per side (``donor`` / ``recipient``),
applied in this order::

    "rename":    {"age": "age_head"}                    own column -> predictor name
    "recode":    {"educ": {"1": "lths", "2": "hs", "3": "hs", "*": "college"}}
                                                        value map on the renamed column; "*" is the default
    "transform": {"e00200": {"scale": 0.001, "offset": 0, "top_code": 500, "bottom_code": 0}}

Values without a recode entry (and no "*") raise ``unmatched_category``
naming the column and value. The user's frames are never modified: a
harmonised copy of the predictor columns is what the model sees, and the
output carries the recipient's original columns.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..data.types import numeric_values
from ..errors import SurveyfuseError

TRANSFORMS = ("scale", "offset", "top_code", "bottom_code")


@dataclass
class SideRules:
    rename: dict[str, str] = field(default_factory=dict)
    recode: dict[str, dict[str, Any]] = field(default_factory=dict)
    transform: dict[str, dict[str, float]] = field(default_factory=dict)

    @classmethod
    def parse(cls, data: Any, side: str) -> "SideRules":
        if data is None:
            return cls()
        if not isinstance(data, dict):
            raise SurveyfuseError("bad_harmonise", f"harmonise.{side} must be an object", side=side)
        unknown = sorted(set(data) - {"rename", "recode", "transform"})
        if unknown:
            raise SurveyfuseError(
                "bad_harmonise", f"harmonise.{side} has unknown rule '{unknown[0]}' (rename, recode, transform)", side=side
            )
        rules = cls(dict(data.get("rename", {})), dict(data.get("recode", {})), dict(data.get("transform", {})))
        targets = list(rules.rename.values())
        dup = sorted({t for t in targets if targets.count(t) > 1})
        if dup:
            raise SurveyfuseError("bad_harmonise", f"harmonise.{side}.rename maps two columns onto '{dup[0]}'", column=dup[0])
        for col, spec in rules.transform.items():
            bad = sorted(set(spec) - set(TRANSFORMS))
            if bad:
                raise SurveyfuseError(
                    "bad_harmonise",
                    f"harmonise.{side}.transform.{col}: unknown transform '{bad[0]}' (use {', '.join(TRANSFORMS)})",
                    column=col,
                )
        return rules

    def to_json(self) -> dict[str, Any]:
        return {"rename": self.rename, "recode": self.recode, "transform": self.transform}


class Harmoniser:
    """Applies the declared rules to the predictor columns of each survey.

    Parameters
    ----------
    rules : dict, optional
        ``{"donor": {...}, "recipient": {...}}``, each side with ``rename``,
        ``recode`` and ``transform`` rules (see the module docstring). The
        :class:`~surveyfuse.Imputer` takes the same dict as ``harmonise=``.

    Examples
    --------
    >>> import pandas as pd
    >>> from surveyfuse import Harmoniser
    >>> h = Harmoniser({"recipient": {"rename": {"wages_k": "wage", "status": "married"},
    ...                               "recode": {"married": {"joint": "yes", "*": "no"}},
    ...                               "transform": {"wage": {"scale": 1000}}}})
    >>> other = pd.DataFrame({"wages_k": [12.5, 0.0], "status": ["joint", "single"]})
    >>> h.apply(other, "recipient")
          wage married
    0  12500.0     yes
    1      0.0      no
    """

    def __init__(self, rules: dict[str, Any] | None = None) -> None:
        rules = rules or {}
        unknown = sorted(set(rules) - {"donor", "recipient"})
        if unknown:
            raise SurveyfuseError("bad_harmonise", f"harmonise has unknown side '{unknown[0]}' (donor, recipient)")
        self.raw = rules
        self.donor = SideRules.parse(rules.get("donor"), "donor")
        self.recipient = SideRules.parse(rules.get("recipient"), "recipient")

    @property
    def active(self) -> bool:
        return any(vars(side)[k] for side in (self.donor, self.recipient) for k in ("rename", "recode", "transform"))

    def apply(self, frame: pd.DataFrame, side: str, needed: list[str] | None = None) -> pd.DataFrame:
        """A new frame of the ``needed`` columns (default: all) in the shared vocabulary; input untouched.

        ``side`` is ``"donor"`` or ``"recipient"``.

        Examples
        --------
        >>> import pandas as pd
        >>> from surveyfuse import Harmoniser
        >>> h = Harmoniser({"donor": {"rename": {"age_head": "age"}}})
        >>> list(h.apply(pd.DataFrame({"age_head": [40], "x": [1]}), "donor", needed=["age"]).columns)
        ['age']
        """
        rules: SideRules = getattr(self, side)
        if not self.active:
            return frame
        for source, target in rules.rename.items():
            if source not in frame.columns and (needed is None or target in needed):
                raise SurveyfuseError(
                    "missing_column",
                    f"harmonise.{side}.rename names column '{source}', which is not in the {side}",
                    column=source, table=side,
                )
        for source, target in rules.rename.items():
            if target in frame.columns and target not in rules.rename:
                raise SurveyfuseError(
                    "bad_harmonise",
                    f"harmonise.{side}.rename maps '{source}' onto '{target}', which the {side} already has",
                    column=target, table=side,
                )
        keep = [c for c in frame.columns if needed is None or rules.rename.get(c, c) in needed]
        out = frame[keep].rename(columns=rules.rename).copy()
        for col, mapping in _ruled_columns(rules.recode, "recode", out, side, needed):
            out[col] = _recode(out[col], mapping, side, col)
        for col, spec in _ruled_columns(rules.transform, "transform", out, side, needed):
            values = numeric_values(out[col], role=f"harmonised {side} column")
            values = values * float(spec.get("scale", 1.0)) + float(spec.get("offset", 0.0))
            if "top_code" in spec:
                values = np.minimum(values, float(spec["top_code"]))
            if "bottom_code" in spec:
                values = np.maximum(values, float(spec["bottom_code"]))
            out[col] = values
        return out


def _ruled_columns(rules: dict[str, Any], kind: str, frame: pd.DataFrame, side: str, needed: list[str] | None):
    """(column, rule) pairs that apply, refusing rules that name a column the frame lacks."""
    for col, rule in rules.items():
        if needed is not None and col not in needed:
            continue
        if col not in frame.columns:
            raise SurveyfuseError(
                "missing_column", f"harmonise.{side}.{kind} names column '{col}', which is not in the {side}",
                column=col, table=side,
            )
        yield col, rule


def _recode(series: pd.Series, mapping: dict[str, Any], side: str, col: str) -> pd.Series:
    """Map values through ``mapping`` (keys compared as text); '*' is the default."""
    keys = {str(k): v for k, v in mapping.items()}
    default = keys.pop("*", None)
    text = series.astype(object).map(lambda v: None if v is None or (isinstance(v, float) and np.isnan(v)) else _key(v))
    mapped = text.map(lambda k: None if k is None else keys.get(k, default))
    unmatched = text.notna() & mapped.isna() & (default is None)
    if unmatched.any():
        row = int(np.flatnonzero(unmatched.to_numpy())[0])
        raise SurveyfuseError(
            "unmatched_category",
            f"harmonise.{side}.recode.{col}: value '{text.iloc[row]}' (row {row}) has no entry; add it to the map "
            f"or give a default with \"*\"",
            column=col, value=text.iloc[row], row=row, side=side,
        )
    return mapped


def _key(v: Any) -> str:
    if isinstance(v, (float, np.floating)) and float(v).is_integer():
        return str(int(v))
    return str(v)
