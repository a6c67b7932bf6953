"""explain(): the parts of an Explanation, each within its share of one time limit."""
from __future__ import annotations

import time

import numpy as np
import pandas as pd

from ..features.vector_cache import scratch
from ..validation import as_frame
from . import diagnostics, shapley
from .dependence import partial_dependence
from .explanation import Explanation
from .importance import permutation_importance
from .target import Target

SHARES = {"contributions": 0.5, "importance": 0.35, "dependence": 0.15}
DEFAULT_ROWS = 100        # rows explained when `rows` is not given
BACKGROUND = 16           # background rows: at most two sampled paths each
DEPENDENCE_COLUMNS = 6    # the most important numeric and categorical columns get curves


def _explained_rows(df: pd.DataFrame, rows, seed: int) -> pd.DataFrame:
    if rows is None:
        return df if len(df) <= DEFAULT_ROWS else df.sample(DEFAULT_ROWS, random_state=seed)
    if np.isscalar(rows):
        rows = [rows]
    try:
        return df.loc[rows]
    except KeyError as exc:
        raise KeyError(f"rows {exc.args[0]} are not in the data's index (rows= takes index labels, a slice "
                       "or a boolean mask of the data)") from None


def _class_frames(c: shapley.Contributions, target: Target, index, class_):
    """(contributions, base, prediction, what is explained, every class's frame) for the output chosen."""
    cols = list(c.columns)
    base = np.broadcast_to(c.base, c.predicted.shape)
    frames = {name: pd.DataFrame(c.values[:, :, k], index=index, columns=cols)
              for k, name in enumerate(target.outputs())}
    if target.problem_type == "regression":
        name = target.outputs()[0]
        return frames[name], float(base[0, 0]) if np.allclose(base[:, 0], base[0, 0]) else \
            pd.Series(base[:, 0], index=index), pd.Series(c.predicted[:, 0], index=index), f"the value of {name!r}", None
    if class_ is None and target.problem_type == "binary":
        class_ = target.classes[1]
    if class_ is not None:
        if class_ not in target.classes:
            raise KeyError(f"class_ {class_!r} is not a class of this model; its classes are {target.classes}")
        k = target.classes.index(class_)
        return frames[class_], float(base[0, k]), pd.Series(c.predicted[:, k], index=index), \
            f"the probability of {class_!r}", frames
    k = c.predicted.argmax(axis=1)  # multiclass: each row's own predicted class
    rows = np.arange(len(k))
    contrib = pd.DataFrame(c.values[rows, :, k], index=index, columns=cols)
    return contrib, pd.Series(base[rows, k], index=index), pd.Series(c.predicted[rows, k], index=index), \
        "the probability of each row's predicted class", frames


def contributions(target: Target, df: pd.DataFrame, rows: pd.DataFrame, background, time_limit: float,
                  method: str, say) -> shapley.Contributions:
    if method not in ("auto", "sampling", "tree"):
        raise ValueError(f"method must be 'auto', 'sampling' or 'tree', not {method!r}")
    if method in ("auto", "tree"):
        inputs = target.tree_inputs(rows)
        tree = None if inputs is None else shapley.tree_blend(*inputs, target.columns)
        if tree is not None:
            return tree
        if method == "tree":
            raise ValueError("method='tree' needs a regression blend of boosted trees only (LightGBM, XGBoost, "
                             "CatBoost in layer 1); this one is not: use method='sampling'")
    bg = as_frame(background) if background is not None else df
    bg = bg.sample(min(BACKGROUND, len(bg)), random_state=target.seed)
    return shapley.sampled(target.raw, rows, bg, target.columns, time_limit, seed=target.seed, say=say)


def explain(predictor, data, rows=None, model: str | None = None, features=None, background=None,
            time_limit: float = 120.0, class_=None, importance: bool = True, dependence: bool = True,
            method: str = "auto", confidence_level: float = 0.99, say=lambda msg: None) -> Explanation:
    with scratch():  # the same texts and images come back in every combination: each is embedded once
        return _explain(Target(predictor, model), data, rows, features, background, time_limit, class_, importance,
                        dependence, method, confidence_level, say)


def _explain(target: Target, data, rows, features, background, time_limit: float, class_, importance: bool,
             dependence: bool, method: str, confidence_level: float, say) -> Explanation:
    df = as_frame(data)
    if df.empty:
        raise ValueError("explain needs at least one row of data")
    labelled = target.has_labels(df)
    ex, start = Explanation(), time.monotonic()
    chosen = _explained_rows(df, rows, target.seed)
    if len(chosen):
        t0 = time.monotonic()
        c = contributions(target, df, chosen, background, SHARES["contributions"] * time_limit, method, say)
        ex.contributions, ex.base, ex.prediction, ex.explained, ex.contributions_by_class = \
            _class_frames(c, target, chosen.index, class_)
        ex.values, ex.method, ex.paths = chosen[list(c.columns)], c.method, c.paths
        ex.seconds["contributions"] = time.monotonic() - t0
    if importance and labelled:
        t0 = time.monotonic()
        ex.importance = permutation_importance(target, df, features, time_limit=SHARES["importance"] * time_limit,
                                               confidence_level=confidence_level, seed=target.seed)
        ex.seconds["importance"] = time.monotonic() - t0
    if dependence:
        t0 = time.monotonic()
        ex.partial_dependence = partial_dependence(target, df, _dependence_columns(target, ex.importance, features))
        ex.seconds["dependence"] = time.monotonic() - t0
    if labelled:
        t0 = time.monotonic()
        _diagnose(ex, target, df)
        ex.seconds["diagnostics"] = time.monotonic() - t0
    ex.seconds["total"] = time.monotonic() - start
    return ex


def _dependence_columns(target: Target, importance: pd.DataFrame | None, features) -> list[str]:
    order = list(importance.index) if importance is not None else target.columns
    if features is not None:
        order = [c for c in order if c in target.check_features(features)]
    return [c for c in order if target.kind(c) in ("numeric", "categorical")][:DEPENDENCE_COLUMNS]


def _diagnose(ex: Explanation, target: Target, df: pd.DataFrame) -> None:
    y, raw = target.labels(df), target.raw(df)
    if target.problem_type == "regression":
        ex.residuals = diagnostics.residuals(y, raw, df.index)
    else:
        ex.confusion_matrix, ex.per_class = diagnostics.confusion(target, y, raw)
        ex.calibration = diagnostics.calibration(target, y, raw)
    texts = [c for c in target.columns if target.kind(c) == "text"]
    ex.ngrams = diagnostics.ngram_effects(target, df, texts)
