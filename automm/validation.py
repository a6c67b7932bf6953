"""Checks at the boundary, so that bad input fails in seconds with a message that says what to do."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .schema import Schema


def as_frame(data, what: str = "data") -> pd.DataFrame:
    """A pandas frame from a frame, a polars frame, or a CSV/Parquet path. Never modifies the input."""
    if isinstance(data, pd.DataFrame):
        return data
    if isinstance(data, (str, Path)):
        path = Path(data)
        if not path.exists():
            raise FileNotFoundError(f"{what}: no file at {str(path)!r}")
        if path.suffix.lower() in (".parquet", ".pq"):
            return pd.read_parquet(path)
        return pd.read_csv(path)
    if hasattr(data, "to_pandas"):  # polars, pyarrow tables
        return data.to_pandas()
    raise TypeError(f"{what} must be a pandas DataFrame, a polars DataFrame or a CSV/Parquet path, "
                    f"not {type(data).__name__}")


def check_fit_input(df: pd.DataFrame, label: str, time_limit, n_folds: int):
    if df.shape[1] == 0 or len(df) == 0:
        raise ValueError(f"the training data is empty ({df.shape[0]} rows, {df.shape[1]} columns)")
    dup = df.columns[df.columns.duplicated()].unique().tolist()
    if dup:
        raise ValueError(f"the training data has duplicate column names {dup}; rename them so each is unique")
    if label not in df.columns:
        raise KeyError(f"label column {label!r} is not in the training data; its columns are {list(df.columns)}")
    if df.shape[1] < 2:
        raise ValueError(f"the training data has only the label column {label!r}; it needs feature columns too")
    y = df[label]
    n_labelled = int(y.notna().sum())
    if n_labelled == 0:
        raise ValueError(f"label column {label!r} is all missing: there is nothing to learn from")
    if y.dropna().nunique() < 2:
        raise ValueError(f"label column {label!r} has a single value ({y.dropna().iloc[0]!r}): "
                         "a model needs at least two classes or distinct values")
    if time_limit is not None:
        if isinstance(time_limit, bool) or not isinstance(time_limit, (int, float)) or not np.isfinite(time_limit) \
                or time_limit <= 0:
            raise ValueError(f"time_limit must be a positive number of seconds (or None for no limit), "
                             f"not {time_limit!r}")
    min_rows = max(n_folds, 2) * 2
    if n_labelled < min_rows:
        raise ValueError(f"only {n_labelled} rows have a label in {label!r}, fewer than the {min_rows} needed for "
                         f"{max(n_folds, 1)} fold(s) of training and validation; add rows or use presets='fast'")


def check_predict_input(df: pd.DataFrame, schema: Schema):
    if len(df) == 0:
        raise ValueError("the data to predict on has no rows")
    dup = df.columns[df.columns.duplicated()].unique().tolist()
    if dup:
        raise ValueError(f"the data has duplicate column names {dup}; rename them so each is unique")
    missing = [c for c in schema.used_columns if c not in df.columns]
    if missing:
        raise KeyError(f"columns {missing} were used in training but are missing from the data; "
                       "add them (all missing values are allowed)")
