"""What a benchmark record holds and how its predictions are scored: read by the runner that writes
records, by the report that summarises them and by the worker that makes them, so it lives below all
three."""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..metrics import get_metric

RENAMED = {"baseline": "lgbm-tfidf-baseline"}  # the names older records use


def prediction_arrays(pred: pd.DataFrame, test: pd.DataFrame, spec: dict) -> tuple[np.ndarray, np.ndarray]:
    """(labels, predictions) as the metric reads them: values and a (n, 1) column for regression, class
    codes and one probability column per class (the predictions' columns name the classes) otherwise."""
    y = test[spec["label"]]
    if spec["problem_type"] == "regression":
        return y.to_numpy(dtype=float), pred.iloc[:, 0].to_numpy(dtype=float).reshape(-1, 1)
    lookup = {str(c): i for i, c in enumerate(pred.columns)}
    codes = y.astype(str).map(lookup)
    if codes.isna().any():
        raise ValueError(f"test labels {sorted(set(y.astype(str)) - set(lookup))[:3]} have no prediction column")
    return codes.to_numpy(dtype=int), pred.to_numpy(dtype=float)


def score(pred: pd.DataFrame, test: pd.DataFrame, spec: dict, problem_type: str) -> float:
    return get_metric(spec["metric"], problem_type).score(*prediction_arrays(pred, test, {**spec, "problem_type":
                                                                                          problem_type}))
