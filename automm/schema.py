"""Column modality detection: a pure function from a DataFrame to a frozen, overridable schema."""
from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import Enum

import numpy as np
import pandas as pd


class Modality(str, Enum):
    """What a column is. A str, so that a saved schema is plain JSON and `kind == "text"` reads as it says."""
    NUMERIC = "numeric"
    CATEGORICAL = "categorical"
    TEXT = "text"
    IMAGE = "image"
    IMAGE_LIST = "image_list"
    DATETIME = "datetime"
    IGNORE = "ignore"

    def __str__(self) -> str:
        return self.value


KINDS = tuple(m.value for m in Modality)  # the built-in kinds; a plug-in adds its own (register_kind)
_PLUGIN_KINDS: dict[str, None] = {}  # in the order they were registered
KIND_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
PROBLEM_TYPES = ("binary", "multiclass", "regression")
Detector = Callable[[pd.Series], "tuple[str, str] | None"]  # a column -> (kind, reason) when it claims it
IMAGE_EXT = re.compile(r"\.(?:png|jpe?g|gif|bmp|webp|tiff?)$", re.IGNORECASE)
CODE_NAME = re.compile(r"(zip|postal|postcode|fips|area_?code|phone|sku)", re.IGNORECASE)
INDEX_NAME = re.compile(r"^(Unnamed: \d+|index|level_0)$")  # what pandas writes for an index
ID_NAME = re.compile(r"(^id$|_id$|^id_|\bid\b|^index$|^uuid|^guid)", re.IGNORECASE)
LIST_SEP = re.compile(r"\s*[;,|]\s*")
SAMPLE = 2000


def register_kind(name: str) -> str:
    """A modality of a plug-in: a column kind the built-in ones do not cover (audio, say). Its
    featurizer registers it (features.modalities.register_modality); a schema then holds it as a plain
    string, saved and loaded like a built-in kind."""
    if not isinstance(name, str) or not KIND_NAME.match(name):
        raise ValueError(f"a modality's name is lower-case letters, digits and _, starting with a letter; not {name!r}")
    if name not in KINDS:
        _PLUGIN_KINDS[name] = None
    return name


def kinds() -> tuple[str, ...]:
    """Every column kind known now: the built-in ones, then the plug-ins'."""
    return KINDS + tuple(_PLUGIN_KINDS)


def as_kind(kind) -> "Modality | str":
    """A built-in kind as its Modality, a plug-in's as its name; anything else is refused."""
    if str(kind) in KINDS:
        return Modality(str(kind))
    if kind in _PLUGIN_KINDS:
        return str(kind)
    raise ValueError(f"{kind!r} is not a column type; use one of {kinds()} (a plug-in modality registers its own "
                     "with automm.features.modalities.register_modality)")


@dataclass(frozen=True)
class ColumnInfo:
    name: str
    kind: "Modality | str"  # a plug-in's kind is its registered name
    reason: str

    def __post_init__(self):
        object.__setattr__(self, "kind", as_kind(self.kind))


@dataclass(frozen=True)
class Schema:
    label: str
    problem_type: str
    problem_reason: str
    columns: tuple[ColumnInfo, ...] = field(default_factory=tuple)

    def of_kind(self, *kinds: str) -> list[str]:
        return [c.name for c in self.columns if c.kind in kinds]

    @property
    def used_columns(self) -> list[str]:
        return [c.name for c in self.columns if c.kind != "ignore"]

    def __getitem__(self, name: str) -> ColumnInfo:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)

    def table(self) -> str:
        w = max([len(str(c.name)) for c in self.columns] + [6])
        lines = [f"{'column':<{w}}  {'type':<11}  why", f"{'-' * w}  {'-' * 11}  ---"]
        lines += [f"{str(c.name):<{w}}  {c.kind:<11}  {c.reason}" for c in self.columns]
        lines.append(f"label {self.label!r}: {self.problem_type} ({self.problem_reason})")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {"label": self.label, "problem_type": self.problem_type, "problem_reason": self.problem_reason,
                "columns": [[c.name, c.kind, c.reason] for c in self.columns]}

    @classmethod
    def from_dict(cls, d: dict) -> "Schema":
        return cls(d["label"], d["problem_type"], d["problem_reason"],
                   tuple(ColumnInfo(*c) for c in d["columns"]))


def detect_schema(df: pd.DataFrame, label: str, column_types: dict[str, str] | None = None,
                  problem_type: str | None = None, metric_types: tuple[str, ...] = PROBLEM_TYPES,
                  aside: dict[str, str] | None = None, detectors: Sequence[Detector] = ()) -> Schema:
    """Decide each column's modality and the problem type; `column_types` and `problem_type` win.
    aside: {column: why} of columns that are not features (sample weights, groups). detectors: rules
    tried before the built-in ones, each answering (kind, reason) for a column it claims or None (the
    plug-in modalities' rules: automm.features.modalities.detectors())."""
    aside = aside or {}
    column_types = dict(column_types or {})
    for name, kind in column_types.items():
        if kind not in kinds():
            raise ValueError(f"column_types[{name!r}]={kind!r} is not a column type; use one of {kinds()}")
        if name not in df.columns:
            raise ValueError(f"column_types names column {name!r}, which is not in the data")
    cols = []
    for name in df.columns:
        if name == label:
            continue
        if name in aside:
            cols.append(ColumnInfo(name, "ignore", aside[name]))
        elif name in column_types:
            cols.append(ColumnInfo(name, column_types[name], "set by the user"))
        else:
            cols.append(ColumnInfo(name, *(_claimed(df[name], detectors) or detect_column(df[name]))))
    ptype, why = infer_problem_type(df[label], problem_type, metric_types)
    return Schema(label, ptype, why, tuple(cols))


def _claimed(s: pd.Series, detectors: Sequence[Detector]) -> tuple[str, str] | None:
    for detect in detectors:
        claim = detect(s)
        if claim is not None:
            return claim
    return None


def infer_problem_type(y: pd.Series, problem_type: str | None = None,
                       metric_types: tuple[str, ...] = PROBLEM_TYPES) -> tuple[str, str]:
    """`metric_types`: the problem types the chosen eval_metric allows (r2 settles a 1-5 rating as regression)."""
    if problem_type is not None:
        if problem_type not in PROBLEM_TYPES:
            raise ValueError(f"problem_type={problem_type!r} is not known; use one of {PROBLEM_TYPES}")
        return problem_type, "set by the user"
    if metric_types == ("regression",):
        return "regression", "the eval_metric is a regression metric"
    y = y.dropna()
    n_unique = y.nunique()
    if n_unique == 2 and "binary" in metric_types:
        return "binary", "two distinct values"
    if metric_types == ("binary", "multiclass") and n_unique > 2:
        return "multiclass", f"{n_unique} classes and a classification eval_metric"
    if pd.api.types.is_bool_dtype(y) or not pd.api.types.is_numeric_dtype(y):
        return "multiclass", f"{n_unique} distinct non-numeric values"
    is_int = pd.api.types.is_integer_dtype(y) or bool(np.all(np.mod(y.to_numpy(dtype=float), 1) == 0))
    # Same rule of thumb as AutoGluon: few integer levels relative to the rows are classes.
    if is_int and n_unique <= 20 and n_unique <= 0.1 * len(y):
        return "multiclass", f"{n_unique} distinct integers (set problem_type='regression' to predict a number)"
    return "regression", "numeric with many distinct values" if not is_int else f"{n_unique} distinct integers"


def detect_column(s: pd.Series) -> tuple[str, str]:
    """(kind, reason) for one column. Values no rule expects (dicts, objects) are read as text."""
    n = len(s)
    nonnull = s.dropna()
    if len(nonnull) == 0:
        return "ignore", "all values missing"
    if s.dtype == object:
        if nonnull.map(_is_list).any():
            return _list_column(nonnull)
        if nonnull.map(lambda v: isinstance(v, dict)).any():
            return "text", "dicts (written as text)"
        if nonnull.map(lambda v: isinstance(v, str) and _has_surrogates(v)).any():
            nonnull = nonnull.map(text_value)
    try:
        n_unique = nonnull.nunique()
    except TypeError:  # values that cannot be hashed
        return "text", "values of mixed types (written as text)"
    if INDEX_NAME.match(str(s.name)) and _is_row_numbers(nonnull):
        return "ignore", "a row index written into the file (to_csv without index=False)"
    if n_unique == 1:
        return "ignore", "constant"
    missing = 1 - len(nonnull) / n
    if pd.api.types.is_bool_dtype(s):
        return "categorical", "boolean"
    if pd.api.types.is_datetime64_any_dtype(s):
        return "datetime", "datetime dtype"
    if isinstance(s.dtype, pd.CategoricalDtype):
        return "categorical", "categorical dtype"
    if pd.api.types.is_numeric_dtype(s):
        return _numeric_column(s.name, nonnull, n_unique, missing)
    return _string_column(s.name, nonnull.astype(str), n_unique, missing)


def _numeric_column(name, nonnull, n_unique, missing):
    integer = bool(np.all(np.mod(nonnull.to_numpy(dtype=float), 1) == 0))
    if integer and CODE_NAME.search(str(name)):
        return "categorical", "integer code (name looks like a zip/postal/area code)"
    if integer and n_unique == len(nonnull) and ID_NAME.search(str(name)):
        return "ignore", "ID: unique integers and an ID-like name"
    return "numeric", "numeric dtype" + (f", {missing:.0%} missing" if missing > 0.5 else "")


def _string_column(name, values: pd.Series, n_unique: int, missing: float):
    sample = values.sample(min(len(values), SAMPLE), random_state=0) if len(values) > SAMPLE else values
    stripped = sample.str.strip()
    if (stripped.str.contains(IMAGE_EXT)).mean() >= 0.8:
        if stripped.str.contains(r"[;,|]\s*\S+\.(?:png|jpe?g|gif|bmp|webp|tiff?)", case=False).mean() > 0.2:
            return "image_list", "several image paths per row"
        if stripped.str.match(r"(?i)(https?|s3|gs|ftp)://").mean() > 0.5:
            # automm reads local files only: a column of URLs would be all blank images
            return "ignore", "image URLs: automm reads local files; download them and give the paths"
        return "image", "image paths (file extension)"
    as_num = pd.to_numeric(stripped, errors="coerce")
    share_num = as_num.notna().mean()
    if share_num >= 0.95:
        leading_zero = stripped.str.match(r"^0\d").any()
        if leading_zero or CODE_NAME.search(str(name)):
            return "categorical", "digits that are a code (leading zeros or code-like name)"
        return "numeric", "numbers stored as text" + (f" ({1 - share_num:.1%} unparseable become missing)"
                                                    if share_num < 1 else "")
    words = sample.str.split().str.len()
    mean_words = float(words.mean())
    unique_ratio = n_unique / len(values)
    if _looks_like_dates(stripped):
        return "datetime", "values parse as dates"
    if unique_ratio >= 0.999 and mean_words < 1.5 and len(values) >= 20:
        return "ignore", "ID: every value unique, single tokens"
    # Few levels that repeat a lot are categories even when each is several words ("Sci-Fi & Fantasy").
    if unique_ratio < 0.1 and mean_words < 8:
        return "categorical", f"{n_unique} levels" + (" (high-cardinality)" if n_unique > 100 else "")
    if mean_words >= 3 or (mean_words >= 1.8 and unique_ratio >= 0.3):
        return "text", f"free text ({mean_words:.1f} words on average, {unique_ratio:.0%} unique)"
    return "categorical", f"{n_unique} levels" + (" (high-cardinality)" if n_unique > 100 else "")


def _looks_like_dates(sample: pd.Series) -> bool:
    head = sample.head(200)
    if not head.str.contains(r"\d").all() or head.str.len().max() > 40:
        return False
    if not head.str.match(r"^\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}|^\d{4}-\d{2}|^[A-Za-z]{3,9}\.? \d{1,2},? \d{4}").mean() > 0.9:
        return False
    parsed = pd.to_datetime(head, errors="coerce", format="mixed", utc=True)  # mixed UTC offsets (DST) too
    return parsed.notna().mean() >= 0.9


def _has_surrogates(v: str) -> bool:
    try:
        v.encode("utf-8")
        return False
    except UnicodeEncodeError:
        return True


def text_value(v):
    """A string that encodes as UTF-8: lone surrogates (from os.fsdecode of a bad file name) become U+FFFD."""
    if isinstance(v, str) and _has_surrogates(v):
        return v.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    return v


def _is_row_numbers(values: pd.Series) -> bool:
    v = pd.to_numeric(values, errors="coerce")
    return bool(v.notna().all() and (v == v.round()).all() and v.is_unique)


def _is_list(v) -> bool:
    return isinstance(v, (list, tuple, np.ndarray))


def _list_column(nonnull: pd.Series):
    flat = [str(x) for v in nonnull.head(200) if _is_list(v) for x in v]
    if flat and np.mean([bool(IMAGE_EXT.search(x.strip())) for x in flat]) >= 0.8:
        return "image_list", "lists of image paths"
    return "text", "lists of values (joined as text)"


def split_list(value) -> list[str]:
    """The paths in one cell of an image_list column."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return []
    if _is_list(value):
        return [str(v) for v in value]
    text = str(value).strip().strip("[]")
    return [p.strip().strip("'\"") for p in LIST_SEP.split(text) if p.strip().strip("'\"")]
