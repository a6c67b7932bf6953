"""Checks at the boundary, so that bad input fails in seconds with a message that says what to do."""
from __future__ import annotations

import numbers
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from .features.tabular import parse_numbers
from .schema import Schema


def as_frame(data, what: str = "data") -> pd.DataFrame:
    """A pandas frame from a frame, a polars frame, or a CSV/Parquet path. Never modifies the input."""
    if isinstance(data, pd.DataFrame):
        return data
    if isinstance(data, (str, Path)):
        return read_table(data, what)
    if hasattr(data, "to_pandas"):  # polars, pyarrow tables
        return data.to_pandas()
    raise TypeError(f"{what} must be a pandas DataFrame, a polars DataFrame or a CSV/Parquet path, "
                    f"not {type(data).__name__}")


def read_table(path, what: str = "data") -> pd.DataFrame:
    """A CSV or Parquet file; every failure names the file and says what is wrong with it."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{what}: no file at {str(path)!r}")
    if not path.is_file():
        raise FileNotFoundError(f"{what}: {str(path)!r} is a folder, not a CSV or Parquet file")
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            return pd.read_parquet(path)
        return pd.read_csv(path)
    except PermissionError as exc:
        raise PermissionError(f"{what}: cannot read {str(path)!r}: permission denied") from exc
    except pd.errors.EmptyDataError as exc:
        raise ValueError(f"{what}: {str(path)!r} is empty (no columns to read)") from exc
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError, OSError) as exc:
        raise ValueError(f"{what}: {str(path)!r} could not be read as "
                         f"{'Parquet' if path.suffix.lower() in ('.parquet', '.pq') else 'CSV'}: {exc}") from exc


def _plain(v):
    """A value as the user would write it (True, not np.True_)."""
    return v.item() if isinstance(v, np.generic) else v


def check_fit_input(df: pd.DataFrame, label: str, time_limit, n_folds: int):
    if df.shape[1] == 0 or len(df) == 0:
        raise ValueError(f"the training data is empty ({df.shape[0]} rows, {df.shape[1]} columns)")
    not_str = [c for c in df.columns if not isinstance(c, str)]
    if not_str or not isinstance(label, str):
        bad = not_str[0] if not_str else label
        raise TypeError(f"column names must be strings, but {bad!r} is a {type(bad).__name__} (a frame made from "
                        "an array has numbered columns); rename them, e.g. df.columns = df.columns.astype(str), "
                        "and give the label by its string name")
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
        raise ValueError(f"label column {label!r} has a single value ({_plain(y.dropna().iloc[0])!r}): "
                         "a model needs at least two classes or distinct values")
    if time_limit is not None:
        if isinstance(time_limit, (bool, np.bool_)) or not isinstance(time_limit, numbers.Real) \
                or not np.isfinite(time_limit) or time_limit <= 0:
            raise ValueError(f"time_limit must be a positive number of seconds (or None for no limit), "
                             f"not {time_limit!r}")
    min_rows = max(n_folds, 2) * 2
    if n_labelled < min_rows:
        raise ValueError(f"only {n_labelled} rows have a label in {label!r}, fewer than the {min_rows} needed for "
                         f"{max(n_folds, 1)} fold(s) of training and validation; add rows"
                         + (" or use fewer folds (num_bag_folds=2, or presets='fast')" if n_folds > 2 else ""))


def check_tuning_input(train: pd.DataFrame, tuning: pd.DataFrame, label: str):
    """tuning_data must describe the same rows as train_data: the same feature columns and the label."""
    missing = [c for c in train.columns if c not in tuning.columns]
    if missing:
        raise KeyError(f"tuning_data lacks columns {missing} that train_data has; give it the same columns "
                       "(missing values are allowed)")
    extra = [c for c in tuning.columns if c not in train.columns]
    if extra:
        warnings.warn(f"tuning_data has columns {extra} that train_data lacks; they are ignored", stacklevel=3)


def check_label(y: pd.Series, schema: Schema, eval_metric: str | None):
    """The label and the problem type agree, before any long work: a problem type chosen by the metric
    that the label does not look like is an error or a warning, never a silent surprise."""
    name, values = schema.label, y.dropna()
    user_set = schema.problem_reason == "set by the user"
    if schema.problem_type == "regression":
        if pd.api.types.is_bool_dtype(values) or set(pd.unique(values)) <= {True, False} and values.dtype == object:
            warnings.warn(f"label column {name!r} is boolean, but "
                          + (f"eval_metric={eval_metric!r} is a regression metric" if not user_set
                             else "problem_type='regression' was set")
                          + ": the predictions are numbers between 0 and 1, not classes. For classes set "
                          "problem_type='binary' (with eval_metric='log_loss' or 'roc_auc')", stacklevel=3)
        return
    counts = values.value_counts()
    if pd.api.types.is_float_dtype(values) and not user_set:
        fractional = bool((np.mod(values.to_numpy(dtype=float), 1) != 0).any())
        if fractional and len(counts) > 20:
            raise ValueError(f"label column {name!r} holds {len(counts)} distinct non-integer numbers, but "
                             f"eval_metric={eval_metric!r} makes this a {len(counts)}-class classification. "
                             "Choose a regression metric (rmse, mae, r2), or set problem_type='multiclass' "
                             "if these values really are classes")
    if (counts < 2).all():
        raise ValueError(f"label column {name!r} has {len(counts)} classes in {len(values)} rows and each "
                         "appears only once: no model can learn a class from a single example. Group rare "
                         "classes, or set problem_type='regression' if the label is a number")
    rare = int((counts < 2).sum())
    if rare > len(counts) / 2:
        warnings.warn(f"label column {name!r}: {rare} of its {len(counts)} classes appear only once; those "
                      "classes cannot be validated and will hardly ever be predicted", stacklevel=3)


def check_forced_columns(df: pd.DataFrame, schema: Schema):
    """A column the user forced to numeric must hold numbers."""
    for c in schema.columns:
        if c.kind != "numeric" or c.reason != "set by the user":
            continue
        s = df[c.name]
        if pd.api.types.is_bool_dtype(s):
            continue
        present = s.notna()
        _, bad = parse_numbers(s)
        if present.any() and bad.sum() == present.sum():
            raise ValueError(f"column_types forces column {c.name!r} to numeric, but none of its values are "
                             f"numbers (e.g. {str(s[present].iloc[0])[:40]!r}); choose 'text' or 'categorical'")


def check_model_params(hyperparameters: dict | None):
    """Each model checks its own parameters (unknown names, invalid values) before any work starts."""
    from .models.base import model_class
    for name, given in (hyperparameters or {}).items():
        configs = given if isinstance(given, (list, tuple)) else [given]
        if not configs or not all(isinstance(c, dict) for c in configs):
            raise TypeError(f"hyperparameters[{name!r}] must be a dict of parameters or a non-empty list of dicts "
                            f"(one model each), not {given!r}")
        for params in configs:
            model_class(name).check_params(params)


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
