"""Partial dependence and individual conditional expectation (ICE) of numeric and categorical columns:
the model's output as one column is set to each value of a grid, every other column as it is, for a
sample of rows (ICE) and their mean (partial dependence)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..progress import bar

GRID = 20       # values per column: quantiles of a numeric column, the most frequent levels of a category
ICE_ROWS = 50   # rows whose own curves are kept


def grid(values: pd.Series, kind: str, size: int = GRID) -> list:
    present = values.dropna()
    if kind == "numeric":
        numbers = pd.to_numeric(present, errors="coerce").dropna()
        if not len(numbers):
            return []
        points = np.quantile(numbers, np.linspace(0, 1, size))
        # an integer column (a year, a count) is set to integers: 2011.5 is no value it takes
        return sorted({int(round(q)) for q in points} if _integers(values) else set(points.tolist()))
    return list(present.value_counts().index[:size])


def _integers(values: pd.Series) -> bool:
    return pd.api.types.is_integer_dtype(values) and not pd.api.types.is_bool_dtype(values)


def _grid_dtype(values: pd.Series, kind: str):
    """The dtype a column set to one grid value keeps: its own for integers, float64 for other numbers
    (a bool or float32 column would round the grid), object for categories."""
    if kind != "numeric":
        return object
    return values.dtype if _integers(values) else "float64"


def partial_dependence(target, data: pd.DataFrame, columns: list[str], output: int | None = None,
                       rows: int = ICE_ROWS, seed: int = 0) -> pd.DataFrame:
    """Long format: column, value, row (the row's position in the sample; -1 for the mean over rows),
    prediction (the output explained: the positive class's probability, class `output`'s, or the value)."""
    out = []
    sample = data.sample(min(rows, len(data)), random_state=seed).reset_index(drop=True)
    k = (1 if target.problem_type == "binary" else 0) if output is None else output
    with bar(total=len(columns), desc="dependence", unit="column") as progress:
        for c in columns:
            values = grid(data[c], target.kind(c))
            if not values:
                progress.update(1)
                continue
            frames = []
            for v in values:
                f = sample.copy()
                f[c] = pd.Series([v] * len(f), dtype=_grid_dtype(sample[c], target.kind(c)))
                frames.append(f)
            pred = target.raw(pd.concat(frames, ignore_index=True))[:, k].reshape(len(values), len(sample))
            for i, v in enumerate(values):
                out.append(pd.DataFrame({"column": c, "value": [v] * (len(sample) + 1),
                                         "row": np.r_[np.arange(len(sample)), -1],
                                         "prediction": np.r_[pred[i], pred[i].mean()]}))
            progress.update(1)
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame(columns=["column", "value", "row", "prediction"])
