"""How predictions are made and how fast: the decision threshold of a binary label, the predict speed
measured on rows as new (embeddings computed, not read from the cache), and the most accurate
ensemble that meets a speed limit (infer_limit)."""
from __future__ import annotations

import time

import numpy as np
import pandas as pd

from .features.embeddings import uncached
from .fitted import FittedEnsemble
from .metrics import Metric, best_threshold, hard
from .training import select_ensemble


def check_threshold_args(calibrate, infer_limit, batch_size) -> None:
    if calibrate not in (True, False, "auto"):
        raise ValueError(f"calibrate_decision_threshold must be True, False or 'auto', not {calibrate!r}")
    if infer_limit is not None and not (isinstance(infer_limit, (int, float)) and infer_limit > 0):
        raise ValueError(f"infer_limit must be seconds per row (> 0), e.g. 0.01 for 100 rows/s, not {infer_limit!r}")
    if not (isinstance(batch_size, (int, np.integer)) and batch_size >= 1):
        raise ValueError(f"infer_limit_batch_size must be a whole number >= 1, not {batch_size!r}")


def wants_threshold(calibrate, metric: Metric, problem_type: str) -> bool:
    """"auto": the metrics of hard labels whose best cut need not be 0.5 (not accuracy, whose is).
    Ensemble selection then scores each candidate blend at its own best cut (metrics.score_at_best_cut):
    scored at 0.5, it chose blends for their F1 at 0.5, on the very out-of-fold predictions the cut is
    then chosen on, and the cut stayed at 0.5 (imdb_genre_prediction, f1)."""
    if problem_type != "binary" or calibrate is False:
        return False
    return calibrate is True or metric.needs_threshold


def threshold_for(metric: Metric, y: np.ndarray, proba: np.ndarray, weight=None) -> tuple[float, float, float]:
    """(the best cut, the score at 0.5, the score at the cut) on rows with predictions."""
    ok = ~np.isnan(proba).any(axis=1)
    y, proba, weight = y[ok], proba[ok], None if weight is None else weight[ok]
    t = best_threshold(metric, y, proba[:, 1], weight)
    return t, metric.score(y, hard(proba[:, 1], 0.5), weight), metric.score(y, hard(proba[:, 1], t), weight)


def measure(predict, df: pd.DataFrame, deadline: float = float("inf"), rows: int = 200) -> float | None:
    """Rows per second of predict(frame) on a batch of the training rows (of `rows` when the time left
    allows, else of 20), the embeddings computed as for new rows; None when the time limit is reached."""
    speed = None
    with uncached():
        for n in (20, rows):
            if n > 20 and (speed is None or n / speed > deadline - time.monotonic()):
                break
            if time.monotonic() > deadline:
                break
            sample = df.head(n)
            t0 = time.monotonic()
            predict(sample)
            speed = round(len(sample) / max(time.monotonic() - t0, 1e-9), 1)
    return speed


def limit_inference(state, image_dir: str | None, df: pd.DataFrame, y: np.ndarray, folds, limit: float,
                    batch_size: int, progress, at_best_cut: bool = False) -> FittedEnsemble:
    """The most accurate blend whose predict time per row (features + the models it needs, measured on
    a batch of training rows) is at most `limit`: the slowest model the blend needs goes until it fits
    (a layer-1 model takes the stackers that read it with it); ensemble selection reruns
    on what is left each time. state: the fit's FittedState."""
    ens: FittedEnsemble = state.ensembles.bagged
    sample = df.head(batch_size)
    with uncached():
        t0 = time.monotonic()
        X = state.features(sample, image_dir)
        feature_s = (time.monotonic() - t0) / len(sample)
        per_row = {n: secs / len(sample) for n, (_, secs) in ens.predict_each(X, {b.name for b in ens.models}).items()}
    allowed = list(ens.models)
    while True:
        selected = select_ensemble(allowed, y, folds, ens.task, state.oof_weight, at_best_cut)
        chosen = FittedEnsemble(ens.models, {b.name: selected.weights.get(b.name, 0.0) for b in ens.models},
                                ens.task, val_score=selected.val_score)
        cost = feature_s + sum(per_row[n] for n in chosen.needed())
        if cost <= limit or len(allowed) == 1:
            break
        slowest = max(chosen.needed(), key=lambda n: per_row[n])
        allowed = [b for b in allowed if b.name != slowest
                   and not (b.layer == 2 and slowest in {m.name for m in ens.inputs(b)})]
    fits = cost <= limit
    progress.say(1, f"infer_limit {limit:g}s/row: {'kept' if fits else 'no blend meets it; kept the fastest,'} "
                    f"{sorted(n for n, x in chosen.weights.items() if x > 0)} at {cost:.2g}s/row "
                    f"({feature_s:.2g}s/row of it for the features), validation {ens.task.metric.name} "
                    f"{chosen.val_score:.4f} (all models: {ens.val_score:.4f})"
                    + ("" if fits else "; the features alone take too long: try embeddings=False, or distill()"
                       if feature_s > limit else ""))
    return chosen
