"""The public API: MultimodalPredictor, a facade over the training steps (training.py), the fitted
ensembles (fitted.py), the label codec (labels.py) and the model folder (persistence.py)."""
from __future__ import annotations

import json
import time
import warnings
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd

from . import __version__
from .budget import TimePlan
from .ensemble import BaggedModel, make_folds
from .execution import Executor, make_executor
from .features import FeaturePipeline, FeatureSet
from .fitted import FittedEnsemble
from .labels import LabelCodec
from .metrics import get_metric, report
from .models.base import Task
from .persistence import (
    FORMAT,
    FORMAT_VERSION,
    MANIFEST,
    ModelFormatError,
    check_target,
    read_model_dir,
    write_model_dir,
)
from .presets import get_preset
from .progress import Progress
from .schema import Schema
from .search import TuneSettings
from .training import (
    bagging,
    check_parallel_args,
    choose_models,
    cores,
    fit_layers,
    neural_settings,
    select_ensemble,
    training_rows,
    understand,
)
from .validation import (
    as_frame,
    check_model_params,
    check_predict_input,
)

ENSEMBLE = "ensemble"
FULL = "_FULL"  # suffix of the models refit on all rows, in the leaderboard
PARAMS = ("label", "problem_type", "eval_metric", "column_types", "verbosity", "seed", "num_threads", "image_dir",
          "text_backbone", "image_backbone", "device")  # saved with the model; `path` is where it was, not what
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

    # ---- fitted state: the two ensembles, and views of them --------------------------------------
    @property
    def models_(self) -> list[BaggedModel]:
        return self.ensembles_["bagged"].models

    @property
    def models_full_(self) -> list[BaggedModel]:
        return self.ensembles_["refit"].models if self.ensembles_["refit"] else []

    @property
    def weights_(self) -> dict[str, float]:
        return self.ensembles_["bagged"].weights

    @property
    def val_score_(self) -> float:
        return self.ensembles_["bagged"].val_score

    @property
    def classes_(self) -> np.ndarray:
        return self.labels_.classes_

    def __getstate__(self) -> dict:
        """A pickled predictor, like a saved one, leaves its training data behind (refit_full then needs
        train_data): the scikit-learn wrappers' pickles were twice the model's size."""
        return {k: v for k, v in self.__dict__.items() if k != "_fit_data"}

    def _ensemble(self) -> FittedEnsemble:
        return self.ensembles_["refit" if self.inference_ == "refit" else "bagged"]

    # ---- fit ------------------------------------------------------------------------------
    def fit(self, train_data, time_limit: float | None = None, presets: str | list[str] = "medium",
            tuning_data=None, hyperparameters: dict | None = None, num_bag_folds: int | None = None,
            num_stack_levels: int | None = None, embeddings: bool | None = None,
            hyperparameter_tune: bool | dict | None = None, num_workers: int | str = "auto",
            ray_address: str | None = None, executor: Executor | None = None, overwrite: bool = False
            ) -> "MultimodalPredictor":
        """Train within `time_limit` seconds (wall clock; None = no limit).

        presets: a name (fast, medium, best, best_tuned, or AutoGluon's *_quality names) or a list,
        whose later entries override the earlier ones' settings.
        hyperparameters: {model name: {param: value}}; the names chosen are the models trained. A
        value may be a search space (automm.search.Real, Int, Choice), searched when tuning.
        hyperparameter_tune: True, or a dict of automm.search.TuneSettings (num_trials, storage,
        study_name, search_share): search each model's parameters on its first fold with Optuna
        (TPE, pruning) within its share of the time (default: the preset's).
        num_workers: fold fits at once in local worker processes ("auto": one per core, as memory
        allows; 1: all in this process). ray_address: run them on a Ray cluster instead ("auto",
        "ray://host:port", or "local"). executor: an automm.execution.Executor of your own (both
        shorthands above make one); the fit closes it when it ends.
        tuning_data: validation rows for a non-bagged fit (added to the training rows when bagging).
        embeddings: compute frozen text/image embeddings for the trees and the fusion nets (default: the
        preset's). False leaves out the fusion nets that would train on them (all of them on a CPU).
        overwrite: let fit replace a model already saved at the predictor's `path`.
        Everything after the argument checks counts against time_limit, imports included.
        """
        start = time.monotonic()
        progress = Progress(self.verbosity, start)
        preset = get_preset(presets)
        n_folds, n_stack = bagging(preset, num_bag_folds, num_stack_levels)
        df, is_tuning = training_rows(train_data, tuning_data, self.label, time_limit, n_folds)
        save_to = None if self.path is None else check_target(self.path, overwrite)
        models, stack_models = choose_models(hyperparameters, preset)
        check_model_params(hyperparameters)
        tune = TuneSettings.from_arg(preset.get("hyperparameter_tune") if hyperparameter_tune is None
                                     else hyperparameter_tune)
        check_parallel_args(num_workers, ray_address, tune, hyperparameters)
        plan = TimePlan.for_fit(time_limit, None if tune is None else tune.search_share)
        deadline = progress.deadline = plan.fit_deadline(start)
        df, is_tuning, schema, metric, labels = understand(df, is_tuning, self.label, self.column_types,
                                                           self.problem_type, self.eval_metric, progress)
        y = labels.encode_training(df[self.label])
        task = Task(schema.problem_type, len(labels.classes_), metric, self.seed, cores(self.num_threads))
        progress.say(2, plan.describe() + ("" if time_limit is None else
                        f"; it ends by {time.strftime('%H:%M:%S', time.localtime(time.time() + float(time_limit)))}"))
        models, settings, hp = neural_settings(preset, models, hyperparameters, embeddings, plan, self.device,
                                               (self.text_backbone, self.image_backbone), self.image_dir,
                                               task.num_threads, progress)
        # set now, so that a model saved as it goes (path=...) is a whole predictor; an earlier fit's
        # models go, so that a fit that fails leaves no mix of the two
        self.__dict__.pop("ensembles_", None)
        self.schema_, self.labels_, self.metric_, self.task_ = schema, labels, metric, task
        self.inference_, self.predict_rows_per_s_ = "bagged", {}
        self.parallel_, self.timings_, self.time_plan_ = None, None, plan.to_dict()
        self.failures_: dict[str, dict] = {}
        # the workers start while the features are computed
        with make_executor(num_workers, ray_address, task.num_threads, lambda m: progress.say(1, m),
                           executor) as executor:
            t0 = time.monotonic()
            self.pipeline_ = FeaturePipeline(schema, seed=self.seed, embeddings=settings)
            budget = None if plan.embed_budget is None else min(plan.embed_budget, deadline - time.monotonic())
            X = self.pipeline_.fit_transform(df.reset_index(drop=True), budget, lambda msg: progress.say(1, msg),
                                             deadline=deadline)
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
                    self._set_ensemble(select_ensemble(finished, y, folds, task), start)
                    self._save(save_to, overwrite=True, complete=False)

            bags = fit_layers(models, stack_models if n_stack else [], X, y, folds, task, plan, deadline, hp, tune,
                              executor, progress, timings, self.device, on_model, self.failures_)
        self.parallel_ = {"backend": executor.backend, "slots": executor.slots, "max_running": executor.max_running}
        self.timings_ = {k: round(v, 2) for k, v in timings.items()}
        self._set_ensemble(select_ensemble(bags, y, folds, task), start)
        self._fit_data = (df, hp)  # refit_full recomputes the features from it; not saved
        self.oof_index_ = df.index  # the training rows the out-of-fold predictions belong to
        self.predict_rows_per_s_ = {"bagged": self._measure_speed(df, deadline)}
        used = ", ".join(f"{n} {w:.2f}" for n, w in self.weights_.items() if w > 0)
        progress.say(1, f"ensemble: validation {metric.name} {self.val_score_:.4f} ({used}); "
                        f"fit took {self.fit_time_:.1f}s")
        if save_to is not None:
            self._save(save_to, overwrite=True, complete=True)
            progress.say(1, f"saved the model to {self.path}")
        return self

    def _set_ensemble(self, bagged: FittedEnsemble, start: float):
        self.ensembles_ = {"bagged": bagged, "refit": None}
        self.fit_time_ = time.monotonic() - start

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

    # ---- predict ----------------------------------------------------------------------------
    def _check_fitted(self):
        if not hasattr(self, "ensembles_"):
            raise RuntimeError("this predictor is not fitted yet: call fit() or MultimodalPredictor.load()")

    def _features(self, data) -> FeatureSet:
        self._check_fitted()
        df = as_frame(data)
        check_predict_input(df, self.schema_)
        # image paths are read from where the predictor is told now
        return self.pipeline_.transform(df.reset_index(drop=True), image_dir=self.image_dir)

    def _raw_predict(self, data, model: str | None = None) -> np.ndarray:
        X = self._features(data)  # checks that the predictor is fitted, first
        if model is None:
            return self._ensemble().predict(X)
        ens, name = self._one_model(model)
        return ens.predict_each(X, {name})[name][0]

    def _one_model(self, model: str) -> tuple[FittedEnsemble, str]:
        """The ensemble that holds `model` (a name from model_names()) and its name there."""
        if model not in self.model_names():
            raise KeyError(f"model {model!r} is not in this predictor; its models are {self.model_names()}")
        if model.endswith(FULL):
            return self.ensembles_["refit"], model[: -len(FULL)]
        return self.ensembles_["bagged"], model

    def predict(self, data, model: str | None = None) -> pd.Series:
        """model: one of model_names() instead of the ensemble."""
        raw = self._raw_predict(data, model)
        return self.labels_.decode(raw, data.index if isinstance(data, pd.DataFrame) else None)

    def predict_proba(self, data, model: str | None = None) -> pd.DataFrame:
        """One column per class; model: one of model_names() instead of the ensemble."""
        self._check_proba()
        index = data.index if isinstance(data, pd.DataFrame) else None
        return pd.DataFrame(self._raw_predict(data, model), index=index, columns=list(self.classes_))

    def _check_proba(self):
        self._check_fitted()
        if self.task_.problem_type == "regression":
            raise ValueError("predict_proba is for classification; this predictor does regression: use predict")

    # ---- what the fit produced ---------------------------------------------------------------
    def model_names(self) -> list[str]:
        """The bagged models, then the models refit on all rows (suffix _FULL)."""
        self._check_fitted()
        return [b.name for b in self.models_] + [b.name + FULL for b in self.models_full_]

    def model_best(self) -> str:
        """The model, or the ensemble, with the best validation score (out of fold)."""
        board = self.leaderboard()
        return str(board.loc[board["score_val"].notna()].iloc[0]["model"])

    def model_failures(self) -> dict[str, dict]:
        """The models that failed and were left out: {name: {"error": ..., "traceback": ...}}."""
        self._check_fitted()
        return {k: dict(v) for k, v in self.failures_.items()}

    def predict_proba_oof(self, model: str | None = None) -> pd.DataFrame:
        """Out-of-fold class probabilities of the training rows: each row predicted by the models of
        the fold that did not train on it (model None: the ensemble's blend). Rows no validation fold
        held (a hold-out fit validates a fifth of them) are NaN."""
        self._check_proba()
        return pd.DataFrame(self._oof(model), index=self.oof_index_, columns=list(self.classes_))

    def predict_oof(self, model: str | None = None) -> pd.Series:
        """Out-of-fold predictions of the training rows, in the label's type (see predict_proba_oof)."""
        self._check_fitted()
        raw = self._oof(model)
        covered = ~np.isnan(raw).any(axis=1)
        out = self.labels_.decode(np.nan_to_num(raw), self.oof_index_)
        return out.where(covered)

    def _oof(self, model: str | None) -> np.ndarray:
        self._check_fitted()
        bags = {b.name: b for b in self.models_}
        if model is None:
            return sum(w * bags[n].oof for n, w in self.weights_.items() if w > 0)
        if model not in bags:
            raise KeyError(f"out-of-fold predictions exist for the bagged models {list(bags)}, not {model!r}")
        return bags[model].oof

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

    def evaluate(self, data) -> dict[str, float]:
        """Every metric that applies, plus `score`: the eval_metric."""
        df = as_frame(data)
        y = self.labels_.encode(df)
        scores = report(y, self._raw_predict(df), self.task_.problem_type)
        return {"score": scores[self.metric_.name], "eval_metric": self.metric_.name, **scores}

    def leaderboard(self, data=None) -> pd.DataFrame:
        """Each model's validation score, fit time and (given labelled data) test score and speed."""
        self._check_fitted()
        top = max(b.layer for b in self.models_) + 1
        rows = []
        for mode, suffix in (("bagged", ""), ("refit", FULL)):
            ens = self.ensembles_[mode]
            if ens is None:
                continue
            bagged = mode == "bagged"
            rows += [{"model": b.name + suffix, "layer": b.layer, "score_val": b.val_score if bagged else np.nan,
                      "fit_time": b.fit_time, "ensemble_weight": self.weights_[b.name]} for b in ens.models]
            rows.append({"model": ENSEMBLE + suffix, "layer": top, "score_val": self.val_score_ if bagged else np.nan,
                         "fit_time": self.fit_time_ if bagged else sum(b.fit_time for b in ens.models),
                         "ensemble_weight": 1.0})
        board = pd.DataFrame(rows)
        board["inference"] = np.where(board.model.str.endswith(FULL) == (self.inference_ == "refit"), "*", "")
        if data is not None:
            df = as_frame(data)
            y = self.labels_.encode(df)
            t0 = time.monotonic()
            X = self._features(df)
            t_feat = time.monotonic() - t0
            needed = self.ensembles_["bagged"].needed()
            for mode, suffix in (("bagged", ""), ("refit", FULL)):
                ens = self.ensembles_[mode]
                if ens is None:
                    continue
                preds = ens.predict_each(X, {b.name for b in ens.models})
                layer1_secs = sum(s for n, (_, s) in preds.items() if n in {b.name for b in ens.layer1})
                for name, (p, secs) in preds.items():
                    i = board.index[board.model == name + suffix][0]
                    board.loc[i, "score_test"] = self.metric_.score(y, p)
                    # end to end, as the ensemble's: the features, and a stacker's inputs from layer 1
                    stacker = board.loc[i, "layer"] == 2
                    board.loc[i, "pred_time_test"] = t_feat + secs + (layer1_secs if stacker else 0.0)
                i = board.index[board.model == ENSEMBLE + suffix][0]
                board.loc[i, "score_test"] = self.metric_.score(y, ens.blend(preds))
                board.loc[i, "pred_time_test"] = t_feat + sum(s for n, (_, s) in preds.items() if n in needed)
            board["rows_per_s"] = len(df) / board["pred_time_test"]
        key = "score_test" if data is not None else "score_val"
        return board.sort_values(key, ascending=not self.metric_.greater_is_better).reset_index(drop=True)

    def feature_importance(self, data, num_shuffle_sets: int = 3, subsample: int = 1000) -> pd.DataFrame:
        """Permutation importance per input column: how much the score drops when it is shuffled.

        A text or image column is one input, so it gets one score however many features it makes.
        """
        df = as_frame(data)
        if len(df) > subsample:
            df = df.sample(subsample, random_state=self.seed)
        df = df.reset_index(drop=True)
        y = self.labels_.encode(df)
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
        deadline = TimePlan.for_fit(time_limit).fit_deadline(start)
        if train_data is not None:
            df, hp = as_frame(train_data, "train_data"), {}
        elif getattr(self, "_fit_data", None) is not None:
            df, hp = self._fit_data
        else:
            raise ValueError("refit_full needs train_data: a loaded predictor does not keep its training data")
        df = df[df[self.label].notna()].reset_index(drop=True)
        X, y = self._features(df), self.labels_.encode(df)
        if len(y) != len(self.models_[0].oof):
            raise ValueError(f"train_data has {len(y)} labelled rows, but the predictor was fitted on "
                             f"{len(self.models_[0].oof)}: refit_full needs the data given to fit")
        progress = Progress(self.verbosity, start)
        self.ensembles_["refit"] = self.ensembles_["bagged"].refit(X, y, deadline, hp, progress.say)
        mode = self.inference_
        self.inference_ = "refit"
        self.predict_rows_per_s_["refit"] = self._measure_speed(df, float("inf"))
        self.inference_ = "refit" if set_default else mode
        progress.say(1, f"refit {len(self.models_full_)} models in {time.monotonic() - start:.1f}s; predict uses "
                        f"the {self.inference_} models")
        if self.path is not None:  # kept where fit keeps the model
            self._save(self.path, overwrite=True, complete=True)
        return self

    def set_inference(self, mode: str) -> "MultimodalPredictor":
        """"bagged": the fold models of the ensemble; "refit": the models from refit_full."""
        if mode not in ("bagged", "refit"):
            raise ValueError(f"inference mode must be 'bagged' or 'refit', not {mode!r}")
        if mode == "refit" and not self.models_full_:
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
                "parallel": self.parallel_, "timings": self.timings_, "time_plan": self.time_plan_,
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
        bagged, refit = self.ensembles_["bagged"], self.ensembles_["refit"]
        manifest = {
            "format": FORMAT, "format_version": FORMAT_VERSION, "automm_version": __version__,
            "libraries": _library_versions(), "complete": complete,
            "params": {k: getattr(self, k) for k in PARAMS},
            "schema": self.schema_.to_dict(), "metric": self.metric_.name, "n_classes": self.task_.n_classes,
            "classes": [c.item() if isinstance(c, np.generic) else c for c in self.classes_],
            "features": feat_meta, "weights": self.weights_, "val_score": self.val_score_, "fit_time": self.fit_time_,
            "models": bagged.entries(), "models_full": refit.entries() if refit else [],
            "inference": self.inference_, "predict_rows_per_s": self.predict_rows_per_s_,
            "parallel": self.parallel_, "timings": self.timings_, "time_plan": self.time_plan_,
            "failures": self.failures_,
        }
        for b in bagged.models:  # OOF predictions are kept: leaderboard and refits need them
            arrays[f"oof/{b.name}"] = b.oof

        def write_files(tmp: Path):
            (tmp / "models").mkdir()
            bagged.write_files(tmp, manifest["models"], "")
            if refit:
                refit.write_files(tmp, manifest["models_full"], FULL)

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
        if not manifest.get("complete", True):  # saved while fitting: see fit(path=...)
            warnings.warn(f"{str(path)!r} was saved while fitting, after {len(p.models_)} model(s) had finished; "
                          "the fit did not complete (it may have crashed or been stopped)", stacklevel=2)
        return p

    @classmethod
    def _from_manifest(cls, path: Path, manifest: dict, arrays: dict) -> "MultimodalPredictor":
        p = cls(**{k: v for k, v in manifest["params"].items() if k in PARAMS})
        p.schema_ = Schema.from_dict(manifest["schema"])
        p.metric_ = get_metric(manifest["metric"], p.schema_.problem_type)
        p.task_ = Task(p.schema_.problem_type, manifest["n_classes"], p.metric_, p.seed, cores(p.num_threads))
        p.labels_ = LabelCodec(p.label, p.schema_.problem_type, manifest["classes"])
        p.pipeline_ = FeaturePipeline.from_state(p.schema_, manifest["features"], arrays)
        p.fit_time_, p.inference_ = manifest["fit_time"], manifest["inference"]
        p.predict_rows_per_s_ = manifest["predict_rows_per_s"]
        p.parallel_, p.timings_, p.time_plan_ = manifest.get("parallel"), manifest.get("timings"), manifest.get("time_plan")
        p.digest_ = manifest.get("digest")
        p.failures_ = manifest.get("failures", {})
        p.oof_index_ = pd.RangeIndex(len(next(iter(arrays[k] for k in arrays if k.startswith("oof/")))))
        listed, weights = set(manifest["files"]), manifest["weights"]
        bagged = FittedEnsemble.load(path, manifest["models"], "", p.task_, weights, listed, arrays)
        bagged.val_score = manifest["val_score"]
        refit = FittedEnsemble.load(path, manifest["models_full"], FULL, p.task_, weights, listed) \
            if manifest["models_full"] else None
        p.ensembles_ = {"bagged": bagged, "refit": refit}
        return p


def _library_versions() -> dict[str, str]:
    out = {}
    for lib in LIBRARIES:
        try:
            out[lib] = metadata.version(lib)
        except metadata.PackageNotFoundError:
            pass
    return out
