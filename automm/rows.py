"""What the user says about the training rows beyond their columns: how much each row counts
(sample_weight), which rows belong together (groups), and how to split them (folds, holdout_frac,
num_bag_sets). Checked before any long work; the column names are set aside, not used as features."""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .folds import bag_sets, user_folds


@dataclass(frozen=True)
class RowOptions:
    weight: str | np.ndarray | None = None   # a column name, or one value per row
    groups: str | np.ndarray | None = None
    folds: object = None                     # see folds.user_folds
    holdout_frac: float = 0.2
    num_bag_sets: int = 1

    def check(self, df: pd.DataFrame, label: str, n_folds: int) -> None:
        """Arguments that cannot work, before the schema and the features."""
        for arg, value in (("sample_weight", self.weight), ("groups", self.groups)):
            if isinstance(value, str):
                if value not in df.columns:
                    raise KeyError(f"{arg}={value!r} names a column that is not in the training data; its columns "
                                   f"are {list(df.columns)}")
                if value == label:
                    raise ValueError(f"{arg}={value!r} is the label column; name another column")
            elif value is not None and len(value) != len(df):
                raise ValueError(f"{arg} has {len(value)} values for {len(df)} training rows (train_data, then "
                                 "tuning_data); give one per row, or a column name")
        if not (isinstance(self.holdout_frac, (int, float)) and 0 < self.holdout_frac < 1):
            raise ValueError(f"holdout_frac must be a fraction between 0 and 1, not {self.holdout_frac!r}")
        if not (isinstance(self.num_bag_sets, (int, np.integer)) and self.num_bag_sets >= 1):
            raise ValueError(f"num_bag_sets must be a whole number >= 1, not {self.num_bag_sets!r}")
        if self.num_bag_sets > 1 and (n_folds < 2 or self.folds is not None):
            raise ValueError("num_bag_sets > 1 repeats k-fold bagging with new fold seeds: it needs num_bag_folds "
                             ">= 2 and no folds of your own")

    def aside(self) -> dict[str, str]:
        """{column: why} of the columns that are not features."""
        out = {}
        if isinstance(self.weight, str):
            out[self.weight] = "sample weights (sample_weight)"
        if isinstance(self.groups, str):
            out[self.groups] = "groups for the folds (groups)"
        return out

    def weights(self, df: pd.DataFrame, kept: np.ndarray) -> np.ndarray | None:
        """Each kept row's weight, checked: numbers, finite, >= 0, not all 0. Scaled to mean 1, so that
        the libraries' minimum leaf weights mean what they mean without weights."""
        if self.weight is None:
            return None
        values = df[self.weight] if isinstance(self.weight, str) else pd.Series(np.asarray(self.weight))
        name = f"sample_weight column {self.weight!r}" if isinstance(self.weight, str) else "sample_weight"
        w = pd.to_numeric(values.iloc[kept], errors="coerce").to_numpy(dtype=np.float64)
        if not np.isfinite(w).all():
            raise ValueError(f"{name} has missing or non-numeric values; give every row a number >= 0")
        if (w < 0).any():
            raise ValueError(f"{name} has negative values (e.g. {w[w < 0][0]:g}); weights must be >= 0")
        if w.sum() <= 0:
            raise ValueError(f"{name} is 0 for every row: nothing would count")
        return w / w.mean()

    def group_ids(self, df: pd.DataFrame, kept: np.ndarray) -> np.ndarray | None:
        if self.groups is None:
            return None
        values = df[self.groups] if isinstance(self.groups, str) else pd.Series(np.asarray(self.groups, dtype=object))
        values = values.iloc[kept]
        if values.isna().any():
            raise ValueError(f"groups {'column ' + repr(self.groups) if isinstance(self.groups, str) else ''} has "
                             "missing values; give every row a group")
        return pd.factorize(values)[0]

    def splits(self, y: np.ndarray, problem_type: str, n_folds: int, seed: int, kept: np.ndarray, n_rows: int,
               is_tuning: np.ndarray, groups: np.ndarray | None) -> list[list]:
        """One list of (train, validation) pairs per bag set."""
        if self.folds is not None:
            return [user_folds(self.folds, kept, n_rows, y, groups)]
        if n_folds == 0 and is_tuning.any():
            return [[(np.flatnonzero(~is_tuning), np.flatnonzero(is_tuning))]]
        return bag_sets(y, problem_type, n_folds, seed, self.num_bag_sets, self.holdout_frac, groups)


def evaluation_weights(df: pd.DataFrame, column, weight_evaluation: bool) -> np.ndarray | None:
    """Each row's weight in a score: the sample_weight column's values when the predictor weighs its
    evaluation by it, else None (every row the same)."""
    if not (weight_evaluation and isinstance(column, str)):
        return None
    if column not in df.columns:
        warnings.warn(f"the data has no sample_weight column {column!r}, so its rows weigh the same in these scores",
                      stacklevel=4)
        return None
    return pd.to_numeric(df[column], errors="raise").to_numpy(dtype=np.float64)
