"""Getting a fitted predictor ready to serve: drop the models predict does not use, hand out the
embeddings it computes, and distil the ensemble into one fast model. Functions of a predictor,
behind its methods of the same names."""
from __future__ import annotations

import copy
import time
from dataclasses import replace

import numpy as np
import pandas as pd

from .budget import time_left
from .ensemble import BaggedModel
from .features import FeaturePipeline
from .features.multimodal import EmbeddingFeatures, EmbeddingSettings, embeddings_of
from .fitted import FittedEnsemble
from .fitted_state import FULL, Ensembles, check_fitted
from .inference import measure
from .models.base import model_class
from .presets import DEFAULT_BACKBONES
from .progress import Progress
from .validation import as_frame, check_predict_input


# ---- delete_models ----------------------------------------------------------------------------
def delete_models(p, models_to_keep="best", dry_run: bool = False) -> list[str]:
    state = check_fitted(p)
    in_use = _in_use(state)
    keep = set(in_use) if models_to_keep == "best" else set([models_to_keep] if isinstance(models_to_keep, str)
                                                                else models_to_keep)
    unknown = sorted(keep - set(p.model_names()))
    if unknown:
        raise KeyError(f"models_to_keep names {unknown}, which are not in this predictor; its models are "
                       f"{p.model_names()}")
    missing = sorted(set(in_use) - keep)
    if missing:
        raise ValueError(f"predict uses {missing}; keep them, or first set_inference() to the other ensemble")
    deleted = [m for m in p.model_names() if m not in keep]
    if dry_run:
        return deleted
    bagged, refit = p.ensembles_["bagged"], p.ensembles_["refit"]
    bagged_needed = bagged.needed()
    for bag in list(bagged.models):
        if bag.name in keep:
            continue
        if bag.name in bagged_needed:
            bag.models = []  # its out-of-fold predictions stay: the ensemble's validation blend needs them
        else:
            bagged.models.remove(bag)
    if refit is not None:
        refit.models = [b for b in refit.models if b.name + FULL in keep]
        if not refit.models:
            p.state_ = p.state_.with_ensembles(refit=None)
    return deleted


def _in_use(state) -> list[str]:
    suffix = FULL if state.ensembles.active == "refit" else ""
    return [n + suffix for n in sorted(state.ensembles.current.needed())]


# ---- extract_embedding ------------------------------------------------------------------------
def extract_embedding(p, data, as_dict: bool = False):
    check_fitted(p)
    df = as_frame(data)
    check_predict_input(df, p.schema_)
    emb = p.pipeline_.emb_
    df = df.reset_index(drop=True)
    if emb is not None:
        neural = emb.transform(df, image_dir=p.image_dir)[2]
    else:  # fitted without embeddings: the backbones compute them now
        emb = EmbeddingFeatures(p.schema_, EmbeddingSettings(p.text_backbone or DEFAULT_BACKBONES[0],
                                                             p.image_backbone or DEFAULT_BACKBONES[1], p.image_dir,
                                                             num_threads=p.task_.num_threads, device=p.device))
        neural = emb.fit_transform(df, None)[2]
    parts = {("text" if k == "text" else k.split(":", 1)[1]): v for k, v in embeddings_of(neural).items()}
    if not parts:
        raise ValueError("this table has no text or image column to embed")
    return parts if as_dict else np.hstack([parts[k] for k in parts]).astype(np.float32)


# ---- distill ----------------------------------------------------------------------------------
def distill(p, df: pd.DataFrame, weight, time_limit: float | None = None, augment_factor: float = 1.0,
            swap_prob: float = 0.3, hyperparameters: dict | None = None, verbosity: int | None = None):
    """The student: one model on the table's own features (numbers, categories, n-grams, TF-IDF and
    text statistics; no embeddings, the teacher's slowest part at predict time), trained on the
    teacher's soft labels: out-of-fold predictions on the training rows, and the teacher's predictions
    on augmented rows (each column's value swapped, with probability swap_prob, for another row's).
    LightGBM or the linear model, whichever validates better on 15% of the real rows, by their labels.
    df / weight: the rows given to fit and their weights. hyperparameters: {"lightgbm": {...}, "linear": {...}}."""
    state = check_fitted(p)
    start = time.monotonic()
    deadline = start + time_limit if time_limit is not None else float("inf")
    progress = Progress(p.verbosity if verbosity is None else verbosity, start, deadline)
    oof = state.oof()
    if np.isnan(oof).any():
        raise ValueError("distill needs out-of-fold predictions for every training row: fit with bagging "
                         "(num_bag_folds >= 2)")
    # the augmented rows, as many as the teacher can label in a third of the time
    speed = p.predict_rows_per_s_.get(p.inference_) or 100.0
    n_aug = int(len(df) * augment_factor)
    if time_limit is not None:
        n_aug = min(n_aug, int(speed * time_limit / 3))
    rng = np.random.default_rng(p.seed)
    n_real = len(df)
    # validation rows first, and no augmented row made from them: a near copy of a row would leak its label
    val = np.sort(rng.permutation(n_real)[: max(1, int(0.15 * n_real))])
    rest = np.setdiff1d(np.arange(n_real), val)
    aug = _augment(df[p.schema_.used_columns].iloc[rest], n_aug, swap_prob, rng)
    progress.say(1, f"distill: {len(df)} training rows, {len(aug)} augmented rows labelled by the teacher")
    soft_aug = state.predict_frame(aug, p.image_dir) if len(aug) else np.zeros((0, oof.shape[1]))
    student = copy.copy(p)  # the teacher's settings, schema and labels; not its training data (__getstate__)
    student.path = None
    rows = pd.concat([df[p.schema_.used_columns], aug], ignore_index=True)
    pipeline = FeaturePipeline(p.schema_, seed=p.seed, embeddings=None)
    X = pipeline.fit_transform(rows, None, lambda msg: progress.say(2, msg), deadline=deadline)
    if weight is not None:  # the training rows count as in the teacher's fit; an augmented row as an average one
        X = X.with_weight(np.r_[weight, np.ones(len(aug))])
    soft = np.vstack([oof, soft_aug])
    train = np.setdiff1d(np.arange(len(rows)), val)
    y, w = p.oof_y_, p.oof_weight_
    wv = None if w is None else w[val]
    kind, model, score = _fit_student(p, X, soft, train, val, y[val], wv, deadline, hyperparameters or {}, progress)
    oof_student = np.full_like(oof, np.nan)
    oof_student[val] = model.predict(X.rows(val))
    bag = BaggedModel(f"{kind}_distilled_L1", kind, 1, [model], oof=oof_student, val_score=score,
                      fit_time=time.monotonic() - start)
    student.state_ = replace(p.state_, pipeline=pipeline, failures={}, fit_time=time.monotonic() - start, digest=None,
                             ensembles=Ensembles(FittedEnsemble([bag], {bag.name: 1.0}, p.task_, val_score=score)))
    student.state_ = replace(student.state_, predict_rows_per_s={"bagged": measure(
        lambda frame: student.state_.predict_frame(frame, student.image_dir), df)})
    teacher = p.metric_.score(y[val], oof[val], wv)
    progress.say(1, f"distill: student validation {p.metric_.name} {score:.4f} on {len(val)} held-out rows (the "
                    f"teacher's out of fold: {teacher:.4f}; its labels reached the student through the teacher, so "
                    f"score both on new data); predict {student.predict_rows_per_s_['bagged'] or 0:,.0f} rows/s (the "
                    f"teacher's {speed:,.0f}); {time.monotonic() - start:.1f}s")
    return student


def _augment(df: pd.DataFrame, n: int, swap_prob: float, rng) -> pd.DataFrame:
    """Rows that look like the data: a random row with each column swapped, with probability swap_prob,
    for the same column of another random row (so that no value is ever invented)."""
    if n <= 0:
        return df.iloc[:0].copy()
    base = rng.integers(0, len(df), n)
    out = {}
    for c in df.columns:
        src = np.where(rng.random(n) < swap_prob, rng.integers(0, len(df), n), base)
        out[c] = df[c].to_numpy()[src]
    return pd.DataFrame(out, columns=df.columns)


def _fit_student(p, X, soft, train, val, y_val, w_val, deadline, params: dict, progress):
    """The student that validates best on the held-out rows' labels: LightGBM (n-gram counts, SVD and the
    table's columns) or, where it can learn from the teacher's labels, the linear model (all of the TF-IDF).
    A binary student learns the probability (LightGBM's cross-entropy on soft labels); a regression
    student the teacher's predictions; a multiclass one the teacher's classes."""
    task = p.task_
    if task.is_binary:
        targets = {"lightgbm": soft[:, 1]}
        params = {"lightgbm": {"objective": "cross_entropy", "metric": "cross_entropy", **params.get("lightgbm", {})}}
    else:
        target = soft[:, 0] if task.is_regression else soft.argmax(1)
        targets = {"lightgbm": target, "linear": target}
    best = None
    for i, (kind, target) in enumerate(targets.items()):
        left = time_left(deadline)
        share = left / (len(targets) - i) if np.isfinite(left) else 1e9
        try:
            model = model_class(kind)(**params.get(kind, {})).fit(X.rows(train), target[train], X.rows(val),
                                                                   target[val], task, time.monotonic() + share)
        except Exception as exc:  # one failing candidate never sinks the distillation
            progress.say(1, f"distill: the {kind} student failed: {type(exc).__name__}: {exc}")
            continue
        score = task.metric.score(y_val, model.predict(X.rows(val)), w_val)
        progress.say(2, f"distill: {kind} student, validation {task.metric.name} {score:.4f}")
        if best is None or task.metric.sign * score > task.metric.sign * best[2]:
            best = (kind, model, score)
    if best is None:
        raise RuntimeError("distill: no student could be trained")
    return best
