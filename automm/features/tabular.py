"""Numeric, categorical and datetime columns."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from ..schema import text_value

FLOAT32_MAX = float(np.finfo(np.float32).max)
UNPARSEABLE_WARN = 0.05  # the share of values that are not numbers above which a column is reported


def to_numeric(s: pd.Series) -> np.ndarray:
    """float32 with NaN for missing. Infinities count as missing, values beyond float32's range are
    clipped to it, and text that is not a number becomes missing: each with a warning naming the column."""
    if pd.api.types.is_bool_dtype(s):
        return s.astype(float).to_numpy(dtype=np.float32)
    v, bad = parse_numbers(s)
    if bad.any():
        present = s.notna().to_numpy()
        if bad.sum() > UNPARSEABLE_WARN * present.sum():
            examples = sorted({str(x)[:20] for x in s[bad].head(50)})[:3]
            warnings.warn(f"column {s.name!r}: {int(bad.sum())} of {int(present.sum())} values are not numbers "
                          f"(e.g. {examples}) and are treated as missing; clean the column, or check that it "
                          "holds what it held in training", stacklevel=4)
    inf = np.isinf(v)
    if inf.any():
        warnings.warn(f"column {s.name!r}: {int(inf.sum())} infinite value(s) are treated as missing", stacklevel=4)
        v[inf] = np.nan
    huge = np.abs(v) > FLOAT32_MAX
    if huge.any():
        warnings.warn(f"column {s.name!r}: {int(huge.sum())} value(s) beyond +-3.4e38 are clipped to that range",
                      stacklevel=4)
        v = np.clip(v, -FLOAT32_MAX, FLOAT32_MAX)
    return v.astype(np.float32)


def parse_numbers(s: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """float64 values (NaN for missing) and a mask of the present values that are not numbers."""
    if pd.api.types.is_numeric_dtype(s):
        return s.to_numpy(dtype=np.float64, na_value=np.nan, copy=True), np.zeros(len(s), dtype=bool)
    v = pd.to_numeric(s.astype("object").map(_strip), errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    return v, s.notna().to_numpy() & np.isnan(v)


def _strip(x):
    return x.strip() if isinstance(x, str) else x


def category_keys(s: pd.Series) -> pd.Series:
    """Strings that compare equal across fit and predict even when pandas reads 3 as 3.0 in one of
    them; missing values stay missing (NaN)."""
    if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
        v = pd.to_numeric(s, errors="coerce")
        whole = v.notna() & (v == v.round())
        out = v.astype(str)
        out[whole] = v[whole].astype("int64").astype(str)
        return out.where(v.notna())
    obj = s.astype("object")
    try:
        keys = obj.map(lambda x: str(x).strip())
    except UnicodeEncodeError:  # lone surrogates, which pandas' string dtype cannot hold
        keys = obj.map(lambda x: text_value(str(x)).strip())
    return keys.where(s.notna())


class CategoricalEncoder:
    """Integer codes by frequency; rare and unseen levels share one 'other' code, missing stays NaN."""

    def __init__(self, min_count: int = 3, max_levels: int = 1000):
        self.min_count = min_count
        self.max_levels = max_levels

    def fit(self, s: pd.Series) -> "CategoricalEncoder":
        counts = category_keys(s).value_counts()
        counts = counts[counts >= self.min_count].head(self.max_levels)
        self.levels_ = [str(x) for x in counts.index]
        return self

    @property
    def n_codes(self) -> int:
        return len(self.levels_) + 1  # the last code is 'other'

    def transform(self, s: pd.Series) -> np.ndarray:
        lookup = {v: i for i, v in enumerate(self.levels_)}
        keys = category_keys(s)
        codes = keys.map(lambda k: lookup.get(k, len(self.levels_))).to_numpy(dtype=np.float32)
        codes[keys.isna().to_numpy()] = np.nan
        return codes

    def get_state(self):
        return {"min_count": self.min_count, "max_levels": self.max_levels, "levels": self.levels_}, {}

    @classmethod
    def from_state(cls, meta, arrays) -> "CategoricalEncoder":
        obj = cls(meta["min_count"], meta["max_levels"])
        obj.levels_ = list(meta["levels"])
        return obj


DATE_PARTS = ("year", "month", "day", "dayofweek", "hour", "days_since_2000")


def datetime_parts(s: pd.Series) -> np.ndarray:
    if pd.api.types.is_datetime64_any_dtype(s):
        d = s
    else:
        # utc=True: strings with mixed UTC offsets (a daylight-saving change) parse; naive ones count as UTC
        d = pd.to_datetime(s.astype("object"), errors="coerce", format="mixed", utc=True)
    if getattr(d.dt, "tz", None) is not None:
        d = d.dt.tz_convert(None)
    days = (d - pd.Timestamp("2000-01-01")).dt.total_seconds() / 86400
    parts = [d.dt.year, d.dt.month, d.dt.day, d.dt.day_of_week, d.dt.hour, days]
    return np.column_stack([p.to_numpy(dtype=np.float32, na_value=np.nan) for p in parts])
