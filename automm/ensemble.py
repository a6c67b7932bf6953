"""Bagging with out-of-fold predictions, one stacking layer, and Caruana ensemble selection."""
from __future__ import annotations

import time
import traceback
from dataclasses import dataclass, field

import numpy as np
from sklearn.model_selection import KFold, StratifiedKFold, train_test_split

from .features import FeatureSet
from .models.base import REGISTRY, Task, model_class, time_left
from .progress import Progress

MIN_FOLD_SECONDS = 0.5


@dataclass
class BaggedModel:
    """One model type trained on each fold; predicts the mean of its fold models."""
    name: str
    kind: str
    layer: int
    models: list = field(default_factory=list)
    oof: np.ndarray | None = None        # (n, C); rows of no validation fold are NaN
    val_score: float = float("nan")
    fit_time: float = 0.0

    def predict(self, X: FeatureSet) -> np.ndarray:
        return np.mean([m.predict(X) for m in self.models], axis=0)


def make_folds(y: np.ndarray, problem_type: str, n_folds: int, seed: int, holdout_frac: float = 0.2):
    """k (train, validation) index pairs; n_folds < 2 means one hold-out split."""
    idx = np.arange(len(y))
    stratify = problem_type != "regression"
    if n_folds >= 2:
        if stratify and np.bincount(y).min() >= n_folds:
            return list(StratifiedKFold(n_folds, shuffle=True, random_state=seed).split(idx, y))
        return list(KFold(n_folds, shuffle=True, random_state=seed).split(idx))
    n_val = int(np.ceil(len(y) * holdout_frac))
    strat = y if stratify and np.bincount(y).min() >= 2 and n_val >= len(np.unique(y)) else None
    tr, va = train_test_split(idx, test_size=holdout_frac, random_state=seed, stratify=strat)
    return [(np.sort(tr), np.sort(va))]


def covered(folds) -> np.ndarray:
    return np.unique(np.concatenate([va for _, va in folds]))


def fit_layer(kinds: list[str], X: FeatureSet, y: np.ndarray, folds, task: Task, deadline: float, layer: int,
              progress: Progress, params: dict | None = None) -> list[BaggedModel]:
    """Fit each model type on every fold within the deadline, sharing the time by weight.

    Time a model leaves unused flows to the ones after it; a model that fails is logged and
    left out; the first model always runs so that there is something to predict with.
    """
    params = params or {}
    rows, fitted = covered(folds), []
    weights = {k: REGISTRY[k].time_weight for k in kinds}
    for i, kind in enumerate(kinds):
        share = weights[kind] / sum(weights[k] for k in kinds[i:])
        model_deadline = time.monotonic() + time_left(deadline) * share
        if fitted and time_left(model_deadline) < MIN_FOLD_SECONDS * len(folds):
            progress.say(1, f"skipping {kind} (layer {layer}): {time_left(deadline):.1f}s left")
            continue
        bag = BaggedModel(f"{kind}_L{layer}", kind, layer, oof=np.full((len(y), task.n_outputs), np.nan))
        t0 = time.monotonic()
        try:
            # a model that tunes on its first fold (and reuses the result) gets a double share there
            shares = [2.0 if f == 0 and getattr(model_class(kind), "tunes_on_first_fold", False) else 1.0
                      for f in range(len(folds))]
            for f, (tr, va) in enumerate(folds):
                fold_deadline = time.monotonic() + time_left(model_deadline) * shares[f] / sum(shares[f:])
                progress.step(f"{bag.name} fold {f + 1}/{len(folds)}", deadline)
                # what the first fold tuned (a regularisation strength, say) the others reuse
                tuned = bag.models[0].info.get("tuned", {}) if bag.models else {}
                model = model_class(kind)(**{**params.get(kind, {}), **tuned})
                model.fit(X.rows(tr), y[tr], X.rows(va), y[va], task, fold_deadline)
                bag.oof[va] = model.predict(X.rows(va))
                bag.models.append(model)
        except Exception as exc:  # one failing model never sinks the fit
            progress.say(1, f"{bag.name} failed and is left out: {type(exc).__name__}: {exc}")
            progress.say(3, traceback.format_exc())
            continue
        bag.fit_time = time.monotonic() - t0
        bag.val_score = task.metric.score(y[rows], bag.oof[rows])
        progress.say(1, f"{bag.name}: validation {task.metric.name} {bag.val_score:.4f} in {bag.fit_time:.1f}s"
                        + (" (stopped by the deadline)" if any(m.info.get("hit_deadline") for m in bag.models) else ""))
        fitted.append(bag)
    return fitted


def refit_bag(bag: BaggedModel, X: FeatureSet, y: np.ndarray, task: Task, deadline: float,
              params: dict | None = None) -> BaggedModel:
    """One model on all rows, with what bagging learned: the tuned settings and, for boosting,
    the mean of the folds' best iteration counts (there is no validation fold left to stop on)."""
    cls = model_class(bag.kind)
    p = {**(params or {}).get(bag.kind, {}), **bag.models[0].info.get("tuned", {})}
    rounds_param = getattr(cls, "rounds_param", None)
    if rounds_param:
        p[rounds_param] = max(1, int(round(np.mean([m.info["iterations"] for m in bag.models]))))
    t0 = time.monotonic()
    model = cls(**p).fit(X, y, None, None, task, deadline)
    return BaggedModel(bag.name, bag.kind, bag.layer, [model], oof=None, fit_time=time.monotonic() - t0)


def stack_features(preds: list[np.ndarray], names: list[str], task: Task) -> tuple[np.ndarray, list[str]]:
    """Lower-layer predictions as stacker inputs (the positive class only, for binary problems)."""
    cols, col_names = [], []
    for p, n in zip(preds, names):
        p = p[:, 1:] if task.problem_type == "binary" else p
        cols.append(p)
        col_names += [f"{n}.pred{j}" for j in range(p.shape[1])]
    return np.hstack(cols), col_names


def ensemble_selection(oofs: list[np.ndarray], y: np.ndarray, task: Task, n_iter: int = 50) -> np.ndarray:
    """Caruana et al. (2004): greedily add (with replacement) the model that most lowers the error."""
    counts, current = np.zeros(len(oofs)), np.zeros_like(oofs[0])
    best_err, best_counts = np.inf, None
    for it in range(n_iter):
        errs = [task.metric.error(y, (current * it + p) / (it + 1)) for p in oofs]
        j = int(np.argmin(errs))
        counts[j] += 1
        current = (current * it + oofs[j]) / (it + 1)
        if errs[j] < best_err - 1e-12:
            best_err, best_counts = errs[j], counts.copy()
    return best_counts / best_counts.sum()
