"""Permutation importance of each input column, with a confidence interval and a p-value.

A column's importance is the drop of the eval_metric when its values are shuffled among the rows (a
text or an image moves whole), in the metric's better direction, averaged over shuffle sets. Every
shuffle set shuffles each column once, and all columns of a set go through one predict call, so that
embeddings and other features of the values are computed once per distinct value. The interval and
the p-value come from a bootstrap over the rows of the scores already computed, so they cost no
predictions: a resample draws rows, and the drop is scored again on those rows for each shuffle set.
"""
from __future__ import annotations

import time

import numpy as np
import pandas as pd

from ..progress import bar

BOOTSTRAPS = 200


def _shuffled_set(df: pd.DataFrame, columns: list[str], rng) -> pd.DataFrame:
    """len(columns) copies of df stacked, copy j with column j shuffled among the rows."""
    parts = []
    for c in columns:
        part = df.copy()
        part[c] = df[c].to_numpy()[rng.permutation(len(df))]
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def _bootstrap(score, y, w, base_pred, shuffled_preds, sign, rng, n_boot: int) -> np.ndarray:
    """(n_boot,) drops of one column, each over a resample of the rows and averaged over shuffle sets."""
    n = len(y)
    out = np.empty(n_boot)
    for b in range(n_boot):
        idx = rng.integers(0, n, n)
        wb = None if w is None else w[idx]
        try:
            base = score(y[idx], base_pred[idx], wb)
            out[b] = np.mean([sign * (base - score(y[idx], p[idx], wb)) for p in shuffled_preds])
        except ValueError:  # a resample with one class only, for a metric that needs two
            out[b] = np.nan
    return out[~np.isnan(out)]


def permutation_importance(target, data: pd.DataFrame, features: list[str] | None = None,
                           num_shuffle_sets: int = 5, subsample_size: int = 1000, time_limit: float | None = None,
                           confidence_level: float = 0.99, seed: int = 0) -> pd.DataFrame:
    """One row per input column: importance, stddev (over shuffle sets), ci_low/ci_high (the bootstrap's
    confidence_level interval), p_value (of importance <= 0, one-sided), n (shuffle sets run), type.
    time_limit: no shuffle set starts after it (the first always runs)."""
    columns = target.columns if features is None else target.check_features(features)
    df = data.sample(subsample_size, random_state=seed) if len(data) > subsample_size else data
    df = df.reset_index(drop=True)
    y, w = target.labels(df), target.weights(df)
    rng = np.random.default_rng(seed)
    start = time.monotonic()
    base_pred = target.raw(df)
    per_set = []  # per shuffle set: {column: predictions}
    with bar(total=num_shuffle_sets, desc="importance", unit="set") as progress:
        for s in range(num_shuffle_sets):
            elapsed = time.monotonic() - start
            if s and time_limit is not None and elapsed + elapsed / s > time_limit:
                break  # the next set would end past the limit
            preds = target.raw(_shuffled_set(df, columns, rng))
            per_set.append({c: preds[j * len(df):(j + 1) * len(df)] for j, c in enumerate(columns)})
            progress.update(1)
    sign, score = target.sign, target.score
    alpha = 1 - confidence_level
    rows = []
    for c in columns:
        preds = [s[c] for s in per_set]
        drops = [sign * (score(y, base_pred, w) - score(y, p, w)) for p in preds]
        boot = _bootstrap(score, y, w, base_pred, preds, sign, rng, BOOTSTRAPS)
        rows.append({"column": c, "type": target.kind(c), "importance": float(np.mean(drops)),
                     "stddev": float(np.std(drops, ddof=1)) if len(drops) > 1 else float("nan"),
                     "ci_low": float(np.quantile(boot, alpha / 2)) if len(boot) else float("nan"),
                     "ci_high": float(np.quantile(boot, 1 - alpha / 2)) if len(boot) else float("nan"),
                     "p_value": float((1 + np.sum(boot <= 0)) / (1 + len(boot))), "n": len(drops)})
    return pd.DataFrame(rows).sort_values("importance", ascending=False).set_index("column")
