"""Per-row contributions by input column: Shapley values in which each input column, a whole text or
a whole image included, is one player.

Sampling (any model): for a permutation of the columns and a background row b, the path from b to
the explained row x switches one column at a time from b's value to x's; each column is credited with
the change of the prediction at its switch. Along one path the credits add up to f(x) - f(b) exactly,
so averaged over paths that share the same background rows for every explained row, the contributions
plus the base value (the mean of f over those background rows) equal the prediction, whatever the
number of paths. Paths come in antithetic pairs (a permutation and its reverse, with the same b),
which halves the variance for the same cost, and are added while the time limit allows.

Tree (regression blends of boosted trees only): the libraries' exact TreeSHAP (`pred_contrib`,
`pred_contribs`, `ShapValues`) of each fold model, averaged as the bag averages and weighted as the
blend weighs, the engineered features summed back to the input column they came from.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..progress import bar

MAX_BATCH_ROWS = 20_000  # hybrid rows per predict call: bounds memory for wide tables
TREE_KINDS = ("lightgbm", "xgboost", "catboost")


@dataclass(frozen=True)
class Contributions:
    values: np.ndarray   # (n, d, C): each explained row's credit per input column, per output
    base: np.ndarray     # (C,) or (n, C): the base value
    predicted: np.ndarray  # (n, C): f of the explained rows, equal to values.sum(1) + base
    columns: tuple[str, ...]
    method: str          # "sampling" or "tree"
    paths: int           # sampled paths per row (0 for tree)


def _hybrids(x: pd.DataFrame, b: pd.Series, ranks: np.ndarray, columns: list[str]) -> pd.DataFrame:
    """Rows k = 1 .. d-1 of every path, stacked step by step: a column takes x's value when its rank in
    that row's permutation is below k, else the background row's."""
    n, d = ranks.shape
    parts = []
    for k in range(1, d):
        h = x.copy()
        for j, c in enumerate(columns):
            keep = ranks[:, j] < k
            if not keep.all():
                h[c] = x[c].where(pd.Series(keep, index=x.index), b[c])
        parts.append(h)
    return pd.concat(parts, ignore_index=True) if parts else x.iloc[:0]


def _predict_in_batches(f, frame: pd.DataFrame) -> np.ndarray:
    step = MAX_BATCH_ROWS
    return np.concatenate([f(frame.iloc[s:s + step]) for s in range(0, max(len(frame), 1), step)])


def _path_credits(f, x: pd.DataFrame, fx: np.ndarray, b: pd.Series, fb: np.ndarray, perms: np.ndarray,
                  columns: list[str]) -> np.ndarray:
    """(n, d, C) credits of one path per row, from the background row b to each row of x."""
    n, d = perms.shape
    ranks = np.argsort(perms, axis=1)  # ranks[i, j]: the step at which column j switches in row i
    inner = _predict_in_batches(f, _hybrids(x, b, ranks, columns)).reshape(d - 1, n, -1) if d > 1 else \
        np.empty((0, n, fx.shape[1]))
    steps = np.concatenate([np.broadcast_to(fb, (1, n, fx.shape[1])), inner, fx[None]], axis=0)  # (d+1, n, C)
    gains = np.diff(steps, axis=0)  # (d, n, C): the change at step k is column perms[:, k]'s credit
    credits = np.zeros((n, d, fx.shape[1]))
    rows = np.arange(n)
    for k in range(d):
        credits[rows, perms[:, k]] = gains[k]
    return credits


def sampled(f, x: pd.DataFrame, background: pd.DataFrame, columns: list[str], time_limit: float,
            seed: int = 0, max_paths: int = 32, say=lambda msg: None) -> Contributions:
    """Sampling Shapley values of f (a frame -> (n, C) array) for the rows of x over `columns`.

    At least one antithetic pair of paths runs; more pairs run while the time measured for the first
    says they fit in `time_limit`, up to `max_paths` (and at most two per background row)."""
    rng = np.random.default_rng(seed)
    x = x.reset_index(drop=True)
    d, n = len(columns), len(x)
    start = time.monotonic()
    fx = _predict_in_batches(f, x)
    fbs = _predict_in_batches(f, background.reset_index(drop=True))
    total, done, fb_sum = np.zeros((n, d, fx.shape[1])), 0, np.zeros(fx.shape[1])
    pairs = min(max_paths // 2, len(background))
    with bar(total=pairs, desc="contributions", unit="pair") as progress:
        for j in range(pairs):
            t0 = time.monotonic()
            b = background.iloc[j]
            perms = np.argsort(rng.random((n, d)), axis=1)
            for p in (perms, perms[:, ::-1]):
                total += _path_credits(f, x, fx, b, fbs[j], p, columns)
                fb_sum += fbs[j]
                done += 1
            progress.update(1)
            pair_s = time.monotonic() - t0
            if time.monotonic() - start + pair_s > time_limit:
                if j + 1 < pairs:
                    say(f"contributions: {done} paths per row in {time.monotonic() - start:.0f}s "
                        f"(time_limit {time_limit:g}s)")
                break
    return Contributions(total / done, fb_sum / done, fx, tuple(columns), "sampling", done)


def column_of_features(feature_names, columns: list[str]) -> np.ndarray:
    """The input column index of each engineered feature: `col` or `col.<part>` (the longest match,
    since a column's own name may hold a dot)."""
    by_length = sorted(range(len(columns)), key=lambda j: -len(columns[j]))
    out = np.full(len(feature_names), -1)
    for i, name in enumerate(feature_names):
        for j in by_length:
            c = columns[j]
            if name == c or name.startswith(c + "."):
                out[i] = j
                break
    return out


def tree_blend(ensemble, X, columns: list[str]) -> Contributions | None:
    """TreeSHAP for a regression blend of layer-1 tree models, or None when the blend is anything else
    (a net, a linear model, a stacker, classification: their credits would not add up to the
    probability in the boosting libraries' margin space)."""
    weights = {n: w for n, w in ensemble.weights.items() if w > 0}
    bags = {b.name: b for b in ensemble.models}
    if not ensemble.task.is_regression or any(
            bags[n].layer != 1 or bags[n].kind not in TREE_KINDS for n in weights):
        return None
    width = len(X.names)
    total = np.zeros((len(X), width + 1))
    for name, w in weights.items():
        folds = [m.shap_values(X) for m in bags[name].models]
        for s in folds:  # CatBoost reads only the core features: its credits pad to the full width
            total[:, : s.shape[1] - 1] += w * s[:, :-1] / len(folds)
            total[:, -1] += w * s[:, -1] / len(folds)
    owner = column_of_features(X.names, columns)
    if (owner < 0).any():  # a feature of no one input column: its credit would belong to no player
        return None
    values = np.zeros((len(X), len(columns), 1))
    for j in range(len(columns)):
        values[:, j, 0] = total[:, :width][:, owner == j].sum(axis=1)
    base = total[:, -1:]
    return Contributions(values, base, ensemble.predict(X), tuple(columns), "tree", 0)
