"""The public API: MultimodalPredictor."""
from __future__ import annotations

import json
import os
import re
import sys
import time
import warnings
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd

from . import __version__
from .ensemble import (BaggedModel, covered, ensemble_selection, fit_layer, make_folds, refit_bag,
                       stack_features)
from .features import FeaturePipeline, FeatureSet
from .metrics import DEFAULT_METRIC, get_metric, metric_problem_types, report
from .models.base import REGISTRY, Task, is_available, model_class
from .persistence import FORMAT, FORMAT_VERSION, MANIFEST, ModelFormatError, check_target, read_model_dir, write_model_dir
from .features.multimodal import EmbeddingSettings
from .presets import DEFAULT_BACKBONES, EMBED_SHARE, MIN_EMBED_SECONDS, NEURAL_MODELS, get_preset
from .parallel import make_executor
from .progress import Progress
from .search import TuneSettings, has_space, require_optuna
from .schema import PROBLEM_TYPES, Schema, detect_schema
from .validation import (as_frame, check_fit_input, check_forced_columns, check_label, check_model_params,
                         check_predict_input, check_tuning_input)

ENSEMBLE = "ensemble"
PARAMS = ("label", "problem_type", "eval_metric", "column_types", "verbosity", "seed", "num_threads", "image_dir",
          "text_backbone", "image_backbone", "device")  # saved with the model; `path` is where it was, not what
MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")  # a saved model's name becomes a file name
FULL = "_FULL"  # suffix of the models refit on all rows, in the leaderboard
LIBRARIES = ("numpy", "pandas", "scipy", "scikit-learn", "lightgbm", "xgboost-cpu", "xgboost", "catboost")


class MultimodalPredictor:
    """Fits an ensemble on a table whose columns mix numbers, categories, free text and images.

    >>> p = MultimodalPredictor(label="Price", eval_metric="r2").fit(train_df, time_limit=300)
    >>> p.predict(test_df); p.evaluate(test_df); p.leaderboard(test_df)
    """

    def __init__(self, label: str, problem_type: str | None = None, eval_metric: str | None = None,
                 column_types: dict[str, str] | None = None, verbosity: int = 2, seed: int = 0,
                 num_threads: int | None = None, image_dir: str | None = None, text_backbone: str | None = None,
                 image_backbone: str | None = None, device: str = "auto", path: str | None = None):
        """image_dir: the folder relative image paths start from (default: the current folder; it can be
        changed before predicting). text_backbone / image_backbone: a name (see automm.features.backbones),
        a local checkpoint folder or a Hub id; default: the preset's. device: "auto", "cpu" or "cuda".
        path: a folder where fit saves the model as it goes (after each finished model, so that a crash
        keeps what finished) and when it ends; None: nothing is written until save()."""
        self.label = label
        self.problem_type = problem_type
        self.eval_metric = eval_metric
        self.column_types = column_types
        self.verbosity = verbosity
        self.seed = seed
        self.num_threads = num_threads
        self.image_dir = image_dir
        self.text_backbone = text_backbone
        self.image_backbone = image_backbone
        self.device = device
        self.path = path

    # ---- fit ------------------------------------------------------------------------------
    def fit(self, train_data, time_limit: float | None = None, presets: str = "medium",
            tuning_data=None, hyperparameters: dict | None = None, num_bag_folds: int | None = None,
            num_stack_levels: int | None = None, embeddings: bool | None = None,
            hyperparameter_tune: bool | dict | None = None, num_workers: int | str = "auto",
            ray_address: str | None = None, overwrite: bool = False) -> "MultimodalPredictor":
        """Train within `time_limit` seconds (wall clock; None = no limit).

        hyperparameters: {model name: {param: value}}; the names chosen are the models trained. A
        value may be a search space (automm.search.Real, Int, Choice), searched when tuning.
        hyperparameter_tune: True, or a dict of automm.search.TuneSettings (num_trials, storage,
        study_name, search_share): search each model's parameters on its first fold with Optuna
        (TPE, pruning) within its share of the time (default: the preset's).
        num_workers: fold fits at once in local worker processes ("auto": one per core, as memory
        allows; 1: all in this process). ray_address: run them on a Ray cluster instead ("auto",
        "ray://host:port", or "local").
        tuning_data: validation rows for a non-bagged fit (added to the training rows when bagging).
        embeddings: compute frozen text/image embeddings for the trees and the fusion nets (default: the
        preset's). False leaves out the fusion nets that would train on them (all of them on a CPU).
        overwrite: let fit replace a model already saved at the predictor's `path`.
        Everything after the argument checks counts against time_limit, imports included.
        """
        start = time.monotonic()
        progress = Progress(self.verbosity, start)
        preset = get_preset(presets)
        n_folds = preset["num_bag_folds"] if num_bag_folds is None else num_bag_folds
        n_stack = preset["num_stack_levels"] if num_stack_levels is None else num_stack_levels
        if n_stack not in (0, 1):
            raise ValueError(f"num_stack_levels must be 0 or 1, not {n_stack!r}")
        if n_folds == 1 or n_folds < 0:
            raise ValueError(f"num_bag_folds must be 0 (one hold-out split) or at least 2, not {n_folds!r}")
        df = as_frame(train_data, "train_data")
        is_tuning = np.zeros(len(df), dtype=bool)
        if tuning_data is not None:
            tune = as_frame(tuning_data, "tuning_data")
            check_tuning_input(df, tune, self.label)
            is_tuning = np.r_[is_tuning, np.ones(len(tune), dtype=bool)]
            df = pd.concat([df, tune], ignore_index=True)
        check_fit_input(df, self.label, time_limit, n_folds)
        save_to = None if self.path is None else check_target(self.path, overwrite)
        models, stack_models = self._choose_models(hyperparameters, preset)
        check_model_params(hyperparameters)
        tune = TuneSettings.from_arg(preset.get("hyperparameter_tune") if hyperparameter_tune is None
                                     else hyperparameter_tune)
        _check_parallel_args(num_workers, ray_address, tune, hyperparameters)
        metric_types = PROBLEM_TYPES if self.eval_metric is None else metric_problem_types(self.eval_metric)
        deadline = start + time_limit * 0.97 - 0.5 if time_limit else float("inf")

        n_missing = int(df[self.label].isna().sum())
        if n_missing:
            progress.say(1, f"dropping {n_missing} rows whose label is missing")
            is_tuning = is_tuning[df[self.label].notna().to_numpy()]
            df = df[df[self.label].notna()]
        schema = detect_schema(df, self.label, self.column_types, self.problem_type, metric_types)
        metric = get_metric(self.eval_metric or DEFAULT_METRIC[schema.problem_type], schema.problem_type)
        check_label(df[self.label], schema, self.eval_metric)
        check_forced_columns(df, schema)
        y, classes = self._encode_labels(df[self.label], schema.problem_type)
        if schema.problem_type != "regression" and len(classes) < 2:
            raise ValueError(f"label column {self.label!r} has a single class: a classifier needs two or more")
        progress.say(1, "columns:\n" + schema.table())
        if not schema.used_columns:
            raise ValueError("no usable feature columns: every column was ignored (see the table above); "
                             "set column_types to use some of them")
        task = Task(schema.problem_type, len(classes), metric, self.seed, self._threads())

        models, settings, hp = self._neural_settings(preset, models, task, hyperparameters, embeddings, time_limit,
                                                     progress)
        # set now, so that a model saved as it goes (path=...) is a whole predictor; an earlier fit's
        # models go, so that a fit that fails leaves no mix of the two
        self.__dict__.pop("models_", None)
        self.schema_, self.classes_, self.metric_, self.task_ = schema, classes, metric, task
        self.models_full_, self.inference_, self.predict_rows_per_s_ = [], "bagged", {}
        self.parallel_, self.timings_ = None, None
        # the workers start while the features are computed
        with make_executor(num_workers, ray_address, task.num_threads, lambda m: progress.say(1, m)) as executor:
            t0 = time.monotonic()
            pipeline = FeaturePipeline(schema, seed=self.seed, embeddings=settings)
            budget = min(EMBED_SHARE * time_limit, deadline - time.monotonic()) if time_limit else None
            X = pipeline.fit_transform(df.reset_index(drop=True), budget, lambda msg: progress.say(1, msg),
                                       deadline=deadline)
            self.pipeline_ = pipeline
            progress.say(1, f"features: {X.dense.shape[1]} for trees, {X.linear.shape[1]} for linear models "
                            f"({time.monotonic() - t0:.1f}s)")
            timings = {"features": time.monotonic() - t0}
            if n_folds == 0 and is_tuning.any():
                folds = [(np.flatnonzero(~is_tuning), np.flatnonzero(is_tuning))]
            else:
                folds = make_folds(y, task.problem_type, n_folds, self.seed)
            finished: list[BaggedModel] = []

            def on_model(bag: BaggedModel):  # save as it goes: a crash keeps what finished
                finished.append(bag)
                if save_to is not None:
                    self._set_ensemble(finished, y, folds, start)
                    self._save(save_to, overwrite=True, complete=False)

            bags = self._fit_layers(models, stack_models if n_stack else [], X, y, folds, task, deadline, hp,
                                    tune, executor, progress, timings, on_model)
        self.parallel_ = {"backend": executor.backend, "slots": executor.slots, "max_running": executor.max_running}
        self.timings_ = {k: round(v, 2) for k, v in timings.items()}
        self._set_ensemble(bags, y, folds, start)
        self._fit_data = (df, hp)  # refit_full recomputes the features from it; not saved
        self.predict_rows_per_s_ = {"bagged": self._measure_speed(df, deadline)}
        used = ", ".join(f"{n} {w:.2f}" for n, w in self.weights_.items() if w > 0)
        progress.say(1, f"ensemble: validation {metric.name} {self.val_score_:.4f} ({used}); "
                        f"fit took {self.fit_time_:.1f}s")
        if save_to is not None:
            self._save(save_to, overwrite=True, complete=True)
            progress.say(1, f"saved the model to {self.path}")
        return self

    def _set_ensemble(self, bags: list[BaggedModel], y: np.ndarray, folds, start: float):
        """The ensemble of `bags`: weights chosen on the rows their folds validated."""
        rows = covered(folds)
        weights = ensemble_selection([b.oof[rows] for b in bags], y[rows], self.task_)
        self.models_ = list(bags)
        self.weights_ = {b.name: float(w) for b, w in zip(bags, weights)}
        blend = sum(w * b.oof[rows] for b, w in zip(bags, weights))
        self.val_score_ = self.metric_.score(y[rows], blend)
        self.fit_time_ = time.monotonic() - start

    def _fit_layers(self, models, stack_models, X, y, folds, task, deadline, hp, tune, executor, progress, timings,
                    on_model=None):
        """Layer 1 on the features, then (with stack_models) layer 2 on its out-of-fold predictions."""
        if executor.slots > 1:
            progress.say(1, f"fitting up to {executor.slots} folds at once ({executor.backend})")
        # one fusion net at a time on a GPU: two would fight over its memory
        one_at_a_time = {m for m in models if m in NEURAL_MODELS} if self._gpu() else set()
        layer1_deadline = deadline if not stack_models else time.monotonic() + (deadline - time.monotonic()) * 0.65
        t0 = time.monotonic()
        failures: dict[str, str] = {}
        bags = fit_layer(models, X, y, folds, task, layer1_deadline, 1, progress, hp, executor, tune, one_at_a_time,
                         on_model, failures)
        timings["layer1"] = time.monotonic() - t0
        if not bags:
            why = "; ".join(f"{k}: {v}" for k, v in failures.items())
            raise RuntimeError(f"no model could be trained: {why or 'the time limit ran out'}"
                               + ("" if failures else "; give a larger time_limit"))
        if stack_models and time.monotonic() >= deadline:
            progress.say(1, "skipping the stacking layer: the time limit is reached")
        elif stack_models:
            t0 = time.monotonic()
            preds, names = _oof_stack(bags, task)
            Xs = X.with_stack(preds, names, task.problem_type != "regression")
            bags += fit_layer(stack_models, Xs, y, folds, task, deadline, 2, progress, hp, executor,
                              on_model=on_model)
            timings["layer2"] = time.monotonic() - t0
        return bags

    def _measure_speed(self, df: pd.DataFrame, deadline: float, rows: int = 200) -> float | None:
        """Predict rows per second on a sample of the training rows (a batch of `rows` when the time
        left allows, else of 20), or None when the time limit is reached."""
        speed = None
        for n in (20, rows):
            if n > 20 and (speed is None or n / speed > deadline - time.monotonic()):
                break
            if time.monotonic() > deadline:
                break
            sample = df.head(n)
            t0 = time.monotonic()
            self._raw_predict(sample)
            speed = round(len(sample) / max(time.monotonic() - t0, 1e-9), 1)
        return speed

    def _choose_models(self, hyperparameters, preset) -> tuple[list[str], list[str]]:
        if hyperparameters is not None:
            unknown = [k for k in hyperparameters if k not in REGISTRY]
            if unknown:
                raise ValueError(f"hyperparameters names unknown models {unknown}; known models: {sorted(REGISTRY)}")
            for name in hyperparameters:
                model_class(name)  # says what to install when the library is missing
            chosen = list(hyperparameters)
            return chosen, [m for m in preset.get("stack_models", []) if m in chosen] or chosen[:1]
        models = [m for m in preset["models"] if is_available(m)]
        return models, [m for m in preset.get("stack_models", []) if is_available(m)]

    def _neural_settings(self, preset: dict, models: list[str], task: Task, hyperparameters, embeddings,
                         time_limit, progress):
        """The models kept, the embedding settings and every model's parameters: the fusion nets share the
        backbones, and fine-tune them when there is a GPU. Frozen nets train on the embeddings, so they
        are left out (with a message) when the embeddings are off or the time limit is too short for them."""
        neural = [m for m in models if m in NEURAL_MODELS]
        gpu = self._gpu() if neural else False  # no torch import unless a net is chosen
        text_bb, image_bb = preset.get("gpu_backbones", DEFAULT_BACKBONES) if gpu else DEFAULT_BACKBONES
        text_bb, image_bb = self.text_backbone or text_bb, self.image_backbone or image_bb
        hp = {k: dict(v) for k, v in (hyperparameters or {}).items()}
        for m in neural:
            hp[m] = {"finetune": gpu, "text_backbone": text_bb, "image_backbone": image_bb,
                     "device": self.device, **hp.get(m, {})}
        wanted = preset.get("embeddings", False) if embeddings is None else bool(embeddings)
        frozen = [m for m in neural if hp[m].get("finetune") is False]
        if frozen and embeddings is None:
            wanted = True  # the preset's frozen nets train on the embeddings
        budget = EMBED_SHARE * time_limit if time_limit else None
        if wanted and budget is not None and budget < MIN_EMBED_SECONDS:
            progress.say(1, f"embeddings skipped: time_limit={time_limit:g}s leaves {budget:.1f}s for them, less "
                            f"than the {MIN_EMBED_SECONDS:.0f}s it takes to load the backbones "
                            f"(give time_limit >= {MIN_EMBED_SECONDS / EMBED_SHARE:.0f})")
            wanted = False
        if frozen and not wanted:
            progress.say(1, f"leaving out {frozen}: on this machine they train on the embeddings, which are off")
            models = [m for m in models if m not in frozen]
        settings = EmbeddingSettings(text_bb, image_bb, self.image_dir, num_threads=task.num_threads) \
            if wanted else None
        return models, settings, hp

    def _gpu(self) -> bool:
        if self.device == "cpu":
            return False
        if "torch" not in sys.modules and sys.platform.startswith("linux") and not Path("/proc/driver/nvidia").exists():
            return False  # no NVIDIA driver: no CUDA, and no 3 s torch import inside the time limit to learn it
        try:
            import torch
        except ImportError:
            return False
        return torch.cuda.is_available()

    def _threads(self) -> int:
        if self.num_threads:
            return int(self.num_threads)
        return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)

    def _encode_labels(self, y: pd.Series, problem_type: str):
        if problem_type == "regression":
            values = pd.to_numeric(y, errors="coerce")
            if values.isna().any():
                bad = y[values.isna()].iloc[0]
                raise ValueError(f"label column {self.label!r} has non-numeric value {bad!r} for a regression; "
                                 "set problem_type='multiclass' or clean the label")
            return values.to_numpy(dtype=np.float64), np.array([])
        classes = np.array(sorted(y.unique(), key=lambda v: (str(type(v)), v)), dtype=object)
        lookup = {c: i for i, c in enumerate(classes)}
        return y.map(lookup).to_numpy(dtype=np.int64), classes

    # ---- predict ----------------------------------------------------------------------------
    def _check_fitted(self):
        if not hasattr(self, "models_"):
            raise RuntimeError("this predictor is not fitted yet: call fit() or MultimodalPredictor.load()")

    def _features(self, data) -> FeatureSet:
        self._check_fitted()
        df = as_frame(data)
        check_predict_input(df, self.schema_)
        if self.pipeline_.emb_ is not None:  # image paths are read from where the predictor is told now
            self.pipeline_.emb_.settings.image_dir = self.image_dir
        return self.pipeline_.transform(df.reset_index(drop=True))

    def _predict_models(self, X: FeatureSet, names: set[str] | None = None, models: list | None = None
                        ) -> dict[str, tuple[np.ndarray, float]]:
        """Each needed model's predictions and seconds taken; a layer-2 model needs all of layer 1."""
        if names is None:
            names = {n for n, w in self.weights_.items() if w > 0}
        if models is None:
            models = self.models_full_ if self.inference_ == "refit" else self.models_
        layer1 = [b for b in models if b.layer == 1]
        stacked = [b for b in models if b.layer == 2 and b.name in names]
        out = {}
        for b in layer1:
            if b.name in names or stacked:
                t0 = time.monotonic()
                out[b.name] = (b.predict(X), time.monotonic() - t0)
        if stacked:
            preds, cols = stack_features([out[b.name][0] for b in layer1], [b.name for b in layer1], self.task_)
            Xs = X.with_stack(preds, cols, self.task_.problem_type != "regression")
            for b in stacked:
                t0 = time.monotonic()
                out[b.name] = (b.predict(Xs), time.monotonic() - t0)
        return out

    def _blend(self, preds: dict) -> np.ndarray:
        return sum(w * preds[n][0] for n, w in self.weights_.items() if w > 0)

    def _raw_predict(self, data) -> np.ndarray:
        return self._blend(self._predict_models(self._features(data)))

    def predict(self, data) -> pd.Series:
        raw = self._raw_predict(data)
        index = data.index if isinstance(data, pd.DataFrame) else None
        if self.task_.problem_type == "regression":
            return pd.Series(raw[:, 0], index=index, name=self.label)
        return pd.Series(self.classes_[raw.argmax(1)], index=index, name=self.label).infer_objects()

    def predict_proba(self, data) -> pd.DataFrame:
        self._check_fitted()
        if self.task_.problem_type == "regression":
            raise ValueError("predict_proba is for classification; this predictor does regression: use predict")
        index = data.index if isinstance(data, pd.DataFrame) else None
        return pd.DataFrame(self._raw_predict(data), index=index, columns=list(self.classes_))

    def submission(self, data, id_column: str | None = None, proba: bool = False) -> pd.DataFrame:
        """What a competition expects: the id column (if named) then the prediction, or one
        probability column per class named by the class."""
        df = as_frame(data)
        if id_column is not None and id_column not in df.columns:
            raise KeyError(f"id column {id_column!r} is not in the data; its columns are {list(df.columns)}")
        out = self.predict_proba(df) if proba else self.predict(df).to_frame(self.label)
        out = out.reset_index(drop=True)
        if id_column is not None:
            out.insert(0, id_column, df[id_column].to_numpy())
        return out

    def _labels_of(self, df: pd.DataFrame) -> np.ndarray:
        if self.label not in df.columns:
            raise KeyError(f"label column {self.label!r} is needed to score but is not in the data")
        if df[self.label].isna().any():
            raise ValueError(f"label column {self.label!r} has missing values; drop those rows to score")
        if self.task_.problem_type == "regression":
            return pd.to_numeric(df[self.label]).to_numpy(dtype=np.float64)
        lookup = {c: i for i, c in enumerate(self.classes_)}
        unseen = sorted({str(v) for v in df[self.label] if v not in lookup})
        if unseen:
            raise ValueError(f"label column {self.label!r} has classes never seen in training: {unseen[:5]}")
        return df[self.label].map(lookup).to_numpy(dtype=np.int64)

    def evaluate(self, data) -> dict[str, float]:
        """Every metric that applies, plus `score`: the eval_metric."""
        df = as_frame(data)
        y = self._labels_of(df)
        scores = report(y, self._raw_predict(df), self.task_.problem_type)
        return {"score": scores[self.metric_.name], "eval_metric": self.metric_.name, **scores}

    def leaderboard(self, data=None) -> pd.DataFrame:
        """Each model's validation score, fit time and (given labelled data) test score and speed."""
        self._check_fitted()
        rows = [{"model": b.name, "layer": b.layer, "score_val": b.val_score, "fit_time": b.fit_time,
                 "ensemble_weight": self.weights_[b.name]} for b in self.models_]
        top = max(b.layer for b in self.models_) + 1
        rows.append({"model": ENSEMBLE, "layer": top, "score_val": self.val_score_, "fit_time": self.fit_time_,
                     "ensemble_weight": 1.0})
        rows += [{"model": b.name + FULL, "layer": b.layer, "score_val": np.nan, "fit_time": b.fit_time,
                  "ensemble_weight": self.weights_[b.name]} for b in self.models_full_]
        if self.models_full_:
            rows.append({"model": ENSEMBLE + FULL, "layer": top, "score_val": np.nan,
                         "fit_time": sum(b.fit_time for b in self.models_full_), "ensemble_weight": 1.0})
        board = pd.DataFrame(rows)
        board["inference"] = np.where(board.model.str.endswith(FULL) == (self.inference_ == "refit"), "*", "")
        if data is not None:
            df = as_frame(data)
            y = self._labels_of(df)
            t0 = time.monotonic()
            X = self._features(df)
            t_feat = time.monotonic() - t0
            for models, suffix in ((self.models_, ""), (self.models_full_, FULL)):
                if not models:
                    continue
                preds = self._predict_models(X, {b.name for b in models}, models)
                for name, (p, secs) in preds.items():
                    i = board.index[board.model == name + suffix][0]
                    board.loc[i, "score_test"] = self.metric_.score(y, p)
                    board.loc[i, "pred_time_test"] = secs
                ens = board.index[board.model == ENSEMBLE + suffix][0]
                board.loc[ens, "score_test"] = self.metric_.score(y, self._blend(preds))
                board.loc[ens, "pred_time_test"] = t_feat + sum(s for n, (_, s) in preds.items()
                                                                if n in self._needed_names())
            board["rows_per_s"] = len(df) / board["pred_time_test"]
        key = "score_test" if data is not None else "score_val"
        return board.sort_values(key, ascending=not self.metric_.greater_is_better).reset_index(drop=True)

    def _needed_names(self) -> set[str]:
        names = {n for n, w in self.weights_.items() if w > 0}
        if any(b.layer == 2 and b.name in names for b in self.models_):
            names |= {b.name for b in self.models_ if b.layer == 1}
        return names

    def feature_importance(self, data, num_shuffle_sets: int = 3, subsample: int = 1000) -> pd.DataFrame:
        """Permutation importance per input column: how much the score drops when it is shuffled.

        A text or image column is one input, so it gets one score however many features it makes.
        """
        df = as_frame(data)
        if len(df) > subsample:
            df = df.sample(subsample, random_state=self.seed)
        df = df.reset_index(drop=True)
        y = self._labels_of(df)
        base = self.metric_.score(y, self._raw_predict(df))
        rng = np.random.default_rng(self.seed)
        rows = []
        for col in self.schema_.used_columns:
            drops = []
            for _ in range(num_shuffle_sets):
                shuffled = df.copy()
                shuffled[col] = df[col].to_numpy()[rng.permutation(len(df))]
                drops.append(self.metric_.sign * (base - self.metric_.score(y, self._raw_predict(shuffled))))
            rows.append({"column": col, "type": self.schema_[col].kind, "importance": float(np.mean(drops)),
                         "stddev": float(np.std(drops))})
        return pd.DataFrame(rows).sort_values("importance", ascending=False).set_index("column")

    # ---- refit on all rows --------------------------------------------------------------------
    def refit_full(self, train_data=None, time_limit: float | None = None, set_default: bool = True
                   ) -> "MultimodalPredictor":
        """Retrain the ensemble's models on all training rows, one model per bag.

        Boosting models train for the mean of their folds' best iteration counts; stackers train
        on the stored out-of-fold predictions. The bagged models are kept: `leaderboard` shows both
        and `set_inference("bagged" | "refit")` chooses which predict uses. With a `path`, the model
        saved there is updated.
        train_data: needed after `load` (a saved model does not keep its training data); it must be
        the data given to fit.
        """
        self._check_fitted()
        start = time.monotonic()
        deadline = start + time_limit if time_limit else float("inf")
        if train_data is not None:
            df, hp = as_frame(train_data, "train_data"), {}
        elif getattr(self, "_fit_data", None) is not None:
            df, hp = self._fit_data
        else:
            raise ValueError("refit_full needs train_data: a loaded predictor does not keep its training data")
        df = df[df[self.label].notna()].reset_index(drop=True)
        X, y = self._features(df), self._labels_of(df)
        if len(y) != len(self.models_[0].oof):
            raise ValueError(f"train_data has {len(y)} labelled rows, but the predictor was fitted on "
                             f"{len(self.models_[0].oof)}: refit_full needs the data given to fit")
        progress = Progress(self.verbosity, start)
        needed = self._needed_names()
        layer1 = [b for b in self.models_ if b.layer == 1]
        full = []
        for b in layer1 + [b for b in self.models_ if b.layer == 2]:
            if b.name not in needed:
                continue
            Xb = X
            if b.layer == 2:
                preds, names = _oof_stack(layer1, self.task_)
                Xb = X.with_stack(preds, names, self.task_.problem_type != "regression")
            progress.say(2, f"refitting {b.name} on all {len(y)} rows")
            left = (deadline - time.monotonic()) / max(1, len(needed) - len(full))
            full.append(refit_bag(b, Xb, y, self.task_, time.monotonic() + left, hp))
        self.models_full_ = full
        mode = self.inference_
        self.inference_ = "refit"
        self.predict_rows_per_s_["refit"] = self._measure_speed(df, float("inf"))
        self.inference_ = "refit" if set_default else mode
        progress.say(1, f"refit {len(full)} models in {time.monotonic() - start:.1f}s; predict uses the "
                        f"{self.inference_} models")
        if self.path is not None:  # kept where fit keeps the model
            self._save(self.path, overwrite=True, complete=True)
        return self

    def set_inference(self, mode: str) -> "MultimodalPredictor":
        """"bagged": the fold models of the ensemble; "refit": the models from refit_full."""
        if mode not in ("bagged", "refit"):
            raise ValueError(f"inference mode must be 'bagged' or 'refit', not {mode!r}")
        if mode == "refit" and not getattr(self, "models_full_", None):
            raise ValueError("there are no refit models yet: call refit_full() first")
        self.inference_ = mode
        return self

    # ---- info, save, load -------------------------------------------------------------------
    def info(self) -> dict:
        self._check_fitted()
        return {"automm_version": __version__, "label": self.label, "problem_type": self.task_.problem_type,
                "eval_metric": self.metric_.name, "classes": list(self.classes_), "val_score": self.val_score_,
                "fit_time": self.fit_time_, "schema": self.schema_.to_dict()["columns"], "inference": self.inference_,
                "predict_rows_per_s": self.predict_rows_per_s_,
                "refit_models": [b.name + FULL for b in self.models_full_],
                "embeddings": None if self.pipeline_.emb_ is None else self.pipeline_.emb_.get_state()[0],
                "parallel": getattr(self, "parallel_", None), "timings": getattr(self, "timings_", None),
                "digest": getattr(self, "digest_", None),
                "models": {b.name: {"folds": len(b.models), "val_score": b.val_score, "weight": self.weights_[b.name],
                                    "fit_time": b.fit_time, "search": b.models[0].info.get("search")}
                           for b in self.models_}}

    def save(self, path, overwrite: bool = False) -> str:
        """Write the model to the folder `path`, atomically; overwrite=True replaces a saved model there
        (never a folder that holds anything else)."""
        self._check_fitted()
        return str(self._save(path, overwrite, complete=True))

    def _save(self, path, overwrite: bool, complete: bool):
        feat_meta, arrays = self.pipeline_.get_state()
        manifest = {
            "format": FORMAT, "format_version": FORMAT_VERSION, "automm_version": __version__,
            "libraries": _library_versions(), "complete": complete,
            "params": {k: getattr(self, k) for k in PARAMS},
            "schema": self.schema_.to_dict(), "metric": self.metric_.name, "n_classes": self.task_.n_classes,
            "classes": [c.item() if isinstance(c, np.generic) else c for c in self.classes_],
            "features": feat_meta, "weights": self.weights_, "val_score": self.val_score_, "fit_time": self.fit_time_,
            "models": [_entry(b) for b in self.models_], "models_full": [_entry(b) for b in self.models_full_],
            "inference": self.inference_, "predict_rows_per_s": self.predict_rows_per_s_,
            "parallel": self.parallel_, "timings": self.timings_,
        }
        for b in self.models_:  # OOF predictions are kept: leaderboard and refits need them
            arrays[f"oof/{b.name}"] = b.oof

        def write_files(tmp: Path):
            (tmp / "models").mkdir()
            for key, suffix, models in (("models", "", self.models_), ("models_full", FULL, self.models_full_)):
                for b, entry in zip(models, manifest[key]):
                    for f, m in enumerate(b.models):
                        files = m.save(tmp / "models" / f"{b.name}{suffix}.fold{f}")
                        entry["folds"].append({"files": [f"models/{x}" for x in files], "info": m.info})

        target = write_model_dir(path, manifest, arrays, write_files, overwrite)
        self.digest_ = json.loads((target / MANIFEST).read_text(encoding="utf-8"))["digest"]
        return target

    @classmethod
    def load(cls, path) -> "MultimodalPredictor":
        """A saved model; every file is checked against the manifest's checksums, the manifest against
        its digest, and nothing outside the folder is read."""
        manifest, arrays = read_model_dir(path)
        try:
            p = cls._from_manifest(Path(path), manifest, arrays)
        except (KeyError, TypeError, IndexError, AttributeError) as exc:
            raise ModelFormatError(f"{MANIFEST} in {str(path)!r} is damaged: {type(exc).__name__}: {exc}") from exc
        if not manifest.get("complete", True):
            warnings.warn(f"{str(path)!r} was saved while fitting, after {len(p.models_)} model(s) had finished; "
                          "the fit did not complete (it may have crashed or been stopped)", stacklevel=2)
        return p

    @classmethod
    def _from_manifest(cls, path: Path, manifest: dict, arrays: dict) -> "MultimodalPredictor":
        p = cls(**{k: v for k, v in manifest["params"].items() if k in PARAMS})
        p.schema_ = Schema.from_dict(manifest["schema"])
        p.metric_ = get_metric(manifest["metric"], p.schema_.problem_type)
        p.task_ = Task(p.schema_.problem_type, manifest["n_classes"], p.metric_, p.seed, p._threads())
        p.classes_ = np.array(manifest["classes"], dtype=object)
        p.pipeline_ = FeaturePipeline.from_state(p.schema_, manifest["features"], arrays)
        p.weights_, p.val_score_, p.fit_time_ = manifest["weights"], manifest["val_score"], manifest["fit_time"]
        p.predict_rows_per_s_ = manifest["predict_rows_per_s"]
        p.parallel_, p.timings_ = manifest.get("parallel"), manifest.get("timings")
        p.digest_ = manifest.get("digest")
        p.models_, p.models_full_, p.inference_ = [], [], manifest["inference"]
        listed = set(manifest["files"])
        for key, suffix, models in (("models", "", p.models_), ("models_full", FULL, p.models_full_)):
            for entry in manifest[key]:
                name = entry["name"]
                if not isinstance(name, str) or not MODEL_NAME.match(name) or ".." in name:
                    raise ModelFormatError(f"{str(path)!r} names a model {name!r}, which is not a plain model "
                                           "name; refusing to load it")
                cls_ = model_class(entry["kind"])
                oof = arrays[f"oof/{name}"] if key == "models" else None
                bag = BaggedModel(name, entry["kind"], entry["layer"], oof=oof,
                                  val_score=entry["val_score"], fit_time=entry["fit_time"])
                for f, fold in enumerate(entry["folds"]):
                    unlisted = [x for x in fold["files"] if x not in listed]
                    if unlisted:
                        raise ModelFormatError(f"{str(path)!r}: model {name!r} reads files without a checksum "
                                               f"({unlisted}); refusing to load it")
                    bag.models.append(cls_.load(path / "models" / f"{name}{suffix}.fold{f}", fold["info"], p.task_))
                models.append(bag)
        return p


def _entry(b: BaggedModel) -> dict:
    return {"name": b.name, "kind": b.kind, "layer": b.layer, "val_score": b.val_score, "fit_time": b.fit_time,
            "folds": []}


def _oof_stack(layer1: list[BaggedModel], task: Task) -> tuple[np.ndarray, list[str]]:
    """The stackers' inputs at fit time: out-of-fold predictions (rows no fold covered get the mean)."""
    preds, names = stack_features([b.oof for b in layer1], [b.name for b in layer1], task)
    return np.where(np.isnan(preds), np.nanmean(preds, axis=0), preds), names


def _library_versions() -> dict[str, str]:
    out = {}
    for lib in LIBRARIES:
        try:
            out[lib] = metadata.version(lib)
        except metadata.PackageNotFoundError:
            pass
    return out


def _check_parallel_args(num_workers, ray_address, tune, hyperparameters):
    """Before any long work: the arguments make sense and what they need is installed."""
    if num_workers != "auto" and not (isinstance(num_workers, int) and num_workers >= 1):
        raise ValueError(f"num_workers must be 'auto' or a whole number >= 1, not {num_workers!r}")
    if ray_address is not None:
        if not isinstance(ray_address, str) or not ray_address:
            raise ValueError(f"ray_address must be 'auto', 'local' or 'ray://host:port', not {ray_address!r}")
        from .cluster import require_ray
        require_ray()
    if tune is not None:
        require_optuna()
    spaces = [m for m, p in (hyperparameters or {}).items() if has_space(p)]
    if spaces and tune is None:
        raise ValueError(f"hyperparameters of {spaces} hold search spaces: pass hyperparameter_tune=True to "
                         "search them, or give plain values")

