"""The label: raw values to what models train on (floats, or class codes) and back."""
from __future__ import annotations

import numpy as np
import pandas as pd


class LabelCodec:
    """classes_: the classes in a fixed order (empty for regression); codes index into it."""

    def __init__(self, name: str, problem_type: str, classes=(), positive_class=None):
        """positive_class: for a binary label, the class whose probability is the score (the second
        class; default: the greater of the two in sort order)."""
        self.name, self.problem_type, self.positive_class = name, problem_type, positive_class
        self.classes_ = np.array(list(classes), dtype=object)

    def fit(self, y: pd.Series) -> "LabelCodec":
        if self.problem_type != "regression":
            self.classes_ = np.array(sorted(y.unique(), key=lambda v: (str(type(v)), v)), dtype=object)
        if self.positive_class is None:
            return self
        if self.problem_type != "binary":
            raise ValueError(f"positive_class={self.positive_class!r} is for binary labels; this is a "
                             f"{self.problem_type} problem")
        match = [c for c in self.classes_ if c == self.positive_class or str(c) == str(self.positive_class)]
        if not match:
            raise ValueError(f"positive_class={self.positive_class!r} is not a class of label column "
                             f"{self.name!r}; its classes are {list(self.classes_)}")
        i = [str(c) for c in self.classes_].index(str(match[0]))
        self.classes_ = self.classes_[[1 - i, i]]
        return self

    def encode_training(self, y: pd.Series) -> np.ndarray:
        if self.problem_type == "regression":
            values = pd.to_numeric(y, errors="coerce")
            if values.isna().any():
                bad = y[values.isna()].iloc[0]
                raise ValueError(f"label column {self.name!r} has non-numeric value {bad!r} for a regression; "
                                 "set problem_type='multiclass' or clean the label")
            return values.to_numpy(dtype=np.float64)
        lookup = {c: i for i, c in enumerate(self.classes_)}
        return y.map(lookup).to_numpy(dtype=np.int64)

    def encode(self, df: pd.DataFrame) -> np.ndarray:
        """The label of labelled data to score on, checked: present, complete, and of known classes."""
        if self.name not in df.columns:
            raise KeyError(f"label column {self.name!r} is needed to score but is not in the data")
        y = df[self.name]
        if y.isna().any():
            raise ValueError(f"label column {self.name!r} has missing values; drop those rows to score")
        if self.problem_type == "regression":
            return pd.to_numeric(y).to_numpy(dtype=np.float64)
        lookup = {c: i for i, c in enumerate(self.classes_)}
        unseen = sorted({str(v) for v in y if v not in lookup})
        if unseen:
            raise ValueError(f"label column {self.name!r} has classes never seen in training: {unseen[:5]}")
        return y.map(lookup).to_numpy(dtype=np.int64)

    def decode(self, raw: np.ndarray, index=None) -> pd.Series:
        """Model output (n, C) -> predictions in the label's own type."""
        if self.problem_type == "regression":
            return pd.Series(raw[:, 0], index=index, name=self.name)
        return pd.Series(self.classes_[raw.argmax(1)], index=index, name=self.name).infer_objects()
