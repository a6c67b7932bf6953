"""The public API: MultimodalPredictor, a facade over the training steps (training.py), the fitted
ensembles (fitted.py), the label codec (labels.py) and the model folder (persistence.py)."""
from __future__ import annotations

import json
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from . import __version__
from .budget import TimePlan
from .deployment import delete_models, distill, extract_embedding
from .ensemble import BaggedModel
from .execution import Executor, make_executor
from .execution.base import unpacked
from .features import FeaturePipeline, FeatureSet
from .fitted import FittedEnsemble
from .inference import apply_threshold, check_threshold_args, limit_inference, measure, threshold_for, wants_threshold
from .inspection import FULL, feature_importance, fit_summary, leaderboard
from .memory import release
from .metrics import get_metric, report
from .persistence import (
    MANIFEST,
    DiskFullError,
    ModelFormatError,
    check_target,
    read_model_dir,
)
from .presets import get_preset
from .progress import Progress
from .rows import RowOptions
from .saved import predictor_from, write_predictor
from .search import TuneSettings
from .second_round import second_round as run_second_round
from .training import (
    RoundSpec,
    bagging,
    check_device,
    check_parallel_args,
    choose_models,
    fit_layers,
    large_data,
    learning_problem,
    neural_settings,
    select_ensemble,
    training_rows,
)
from .validation import (
    as_frame,
    check_model_params,
    check_predict_input,
)


class MultimodalPredictor:
    """Fits an ensemble on a table whose columns mix numbers, categories, free text and images.

    >>> p = MultimodalPredictor(label="Price", eval_metric="r2").fit(train_df, time_limit=300)
    >>> p.predict(test_df); p.evaluate(test_df); p.leaderboard(test_df)
    """

    def __init__(self, label: str, problem_type: str | None = None, eval_metric=None,
                 column_types: dict[str, str] | None = None, verbosity: int = 2, seed: int = 0,
                 num_threads: int | None = None, image_dir: str | None = None, text_backbone: str | None = None,
                 image_backbone: str | None = None, device: str = "auto", path: str | None = None,
                 sample_weight: str | None = None, weight_evaluation: bool = True, groups: str | None = None,
                 positive_class=None, text_tier: str = "auto"):
        """eval_metric: a name (automm.metrics.METRICS, or a scikit-learn scorer name) or a scikit-learn
        scorer (sklearn.metrics.make_scorer); default roc_auc, accuracy or rmse.
        image_dir: the folder relative image paths start from (default: the current folder; it can be
        changed before predicting). text_backbone / image_backbone: a name (see automm.features.backbones),
        a local checkpoint folder or a Hub id; default: the preset's. device: "auto", "cpu" or "cuda".
        path: a folder where fit saves the model as it goes (after each finished model, so that a crash
        keeps what finished) and when it ends; None: nothing is written until save().
        sample_weight: the column of each row's weight (not a feature); every model trains with it, and
        with weight_evaluation (unlike AutoGluon, the default) validation scores, ensemble selection and
        evaluate() weigh rows by it too. groups: the column of row groups (not a feature): the folds keep
        each group whole. positive_class: for a binary label, the class whose probability is the score.
        text_tier: how text is embedded. "static": token vectors distilled from the text backbone, mean-pooled
        (every row, tens of thousands per second); "transformer": the backbone itself as well, when
        its projected time fits the embedding budget, else static; "auto": the transformer on a GPU, static
        on a CPU (where it predicts several times faster), and the transformer in a second round when the
        time left allows one (fit's second_round)."""
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
        self.sample_weight = sample_weight
        self.weight_evaluation = weight_evaluation
        self.groups = groups
        self.positive_class = positive_class
        self.text_tier = text_tier

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
            ray_address: str | None = None, executor: Executor | None = None, overwrite: bool = False,
            sample_weight=None, groups=None, folds=None, holdout_frac: float = 0.2, num_bag_sets: int = 1,
            included_model_types: list[str] | None = None, excluded_model_types: list[str] | None = None,
            calibrate_decision_threshold: bool | str = "auto", infer_limit: float | None = None,
            infer_limit_batch_size: int = 1000, second_round: bool | None = None) -> "MultimodalPredictor":
        """Train within `time_limit` seconds (wall clock; None = no limit).

        presets: a name (fast, medium, best, best_tuned, or AutoGluon's *_quality names) or a list,
        whose later entries override the earlier ones' settings.
        hyperparameters: {model name: {param: value}}; the names chosen are the models trained. A
        value may be a search space (automm.search.Real, Int, Choice), searched when tuning.
        included_model_types / excluded_model_types: keep only these models / leave these out (automm's
        names, or AutoGluon's GBM, CAT, XGB, LR).
        hyperparameter_tune: True, or a dict of automm.search.TuneSettings (num_trials, storage,
        study_name, search_share): search each model's parameters on its first fold with Optuna
        (TPE, pruning) within its share of the time (default: the preset's).
        num_workers: fold fits at once in local worker processes ("auto": one per core, as memory
        allows; 1: all in this process). ray_address: run them on a Ray cluster instead ("auto",
        "ray://host:port", or "local"). executor: an automm.execution.Executor of your own (both
        shorthands above make one); the fit closes it when it ends.
        tuning_data: validation rows for a non-bagged fit (added to the training rows when bagging).
        sample_weight / groups: a column name (default: the predictor's) or one value per row of
        train_data (then tuning_data). folds: your own validation splits instead of the preset's: a
        scikit-learn splitter (GroupKFold, TimeSeriesSplit, ...), a fold number per row, or a list of
        (train positions, validation positions). holdout_frac: the validation share of a fit without
        bagging. num_bag_sets: repeat the k-fold bagging with new fold seeds, while the time allows.
        calibrate_decision_threshold: for a binary label, the probability cut that predict uses, chosen
        on the out-of-fold predictions for the eval_metric ("auto": for metrics of hard labels such as
        f1, balanced_accuracy or mcc; accuracy keeps 0.5).
        infer_limit: seconds per row that predicting may take (features included), measured on batches
        of infer_limit_batch_size rows; the fit keeps the most accurate ensemble that meets it.
        second_round: when the fit leaves more time than it took while a modality was embedded on a weaker
        tier than it could have had (the text on the static tier on a CPU, an image column at a reduced
        size), fit again with the embeddings planned on the time left and keep the round that validates
        better (default: the preset's; best does). info()["second_round"] says what happened.
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
        rows = RowOptions(self.sample_weight if sample_weight is None else sample_weight,
                          self.groups if groups is None else groups, folds, holdout_frac, num_bag_sets)
        rows.check(df, self.label, n_folds)
        n_folds, n_stack, rows = large_data(len(df), n_folds, n_stack, rows, num_bag_folds, num_stack_levels, progress)
        check_threshold_args(calibrate_decision_threshold, infer_limit, infer_limit_batch_size)
        check_device(self.device)
        save_to = None if self.path is None else check_target(self.path, overwrite)
        models, stack_models = choose_models(hyperparameters, preset, included_model_types, excluded_model_types)
        check_model_params(hyperparameters)
        tune = TuneSettings.from_arg(preset.get("hyperparameter_tune") if hyperparameter_tune is None
                                     else hyperparameter_tune)
        check_parallel_args(num_workers, ray_address, tune, hyperparameters)
        plan = TimePlan.for_fit(time_limit, None if tune is None else tune.search_share)
        deadline = progress.deadline = plan.fit_deadline(start)
        problem = learning_problem(self, df, is_tuning, rows, n_folds, progress)
        df, y, schema, metric, labels, task = problem.df, problem.y, problem.schema, problem.metric, problem.labels, \
            problem.task
        weight, eval_weight, folds = problem.weight, problem.eval_weight, problem.fold_sets[0]
        cut = wants_threshold(calibrate_decision_threshold, metric, task.problem_type)  # a calibrated threshold
        progress.say(2, plan.describe() + ("" if time_limit is None else
                        f"; it ends by {time.strftime('%H:%M:%S', time.localtime(time.time() + float(time_limit)))}"))
        models, settings, hp = neural_settings(preset, models, hyperparameters, embeddings, plan, self.device,
                                               (self.text_backbone, self.image_backbone), self.image_dir,
                                               task.num_threads, progress, self.text_tier,
                                               bool(schema.of_kind("text")))
        # set now, so that a model saved as it goes (path=...) is a whole predictor; an earlier fit's
        # models go, so that a fit that fails leaves no mix of the two
        self.__dict__.pop("ensembles_", None)
        self.schema_, self.labels_, self.metric_, self.task_ = schema, labels, metric, task
        self.inference_, self.predict_rows_per_s_, self.decision_threshold_ = "bagged", {}, None
        self.parallel_, self.timings_, self.time_plan_ = None, None, plan.to_dict()
        self.failures_: dict[str, dict] = {}
        self.oof_index_ = df.index  # the training rows the out-of-fold predictions belong to
        self.oof_y_, self.oof_weight_ = y, eval_weight  # what the out-of-fold predictions are scored on
        spec = RoundSpec(models, stack_models if n_stack else [], hp, tune, plan, deadline, cut, num_workers,
                         ray_address, executor)
        embed_budget = None if plan.embed_budget is None else min(plan.embed_budget, deadline - time.monotonic())
        self._fit_round(problem, spec, settings, embed_budget, progress, start, save_to)
        self.second_round_ = run_second_round(self, problem, spec, preset if second_round is None else
                                              {**preset, "second_round": second_round}, progress, start, infer_limit)
        self._fit_data = (df, hp, weight)  # refit_full recomputes the features from it; not saved
        if infer_limit is not None:
            self.ensembles_["bagged"] = limit_inference(self, df, y, folds, infer_limit, infer_limit_batch_size,
                                                        progress, cut)
        self.predict_rows_per_s_ = {"bagged": measure(self._raw_predict, df, deadline)}
        if cut:
            self.decision_threshold_ = self.calibrate_decision_threshold(verbose=self.verbosity >= 1)
        used = ", ".join(f"{n} {w:.2f}" for n, w in self.weights_.items() if w > 0)
        progress.say(1, f"ensemble: validation {metric.name} {self.val_score_:.4f} ({used}); "
                        f"fit took {self.fit_time_:.1f}s")
        if save_to is not None:
            self._save(save_to, overwrite=True, complete=True)
            progress.say(1, f"saved the model to {self.path}")
        return self

    def _fit_round(self, problem, spec: RoundSpec, settings, embed_budget, progress, start: float, save_to=None,
                   wanted=None) -> bool:
        """Features, the layers and the ensemble, into this predictor's fitted state. wanted: a check of
        the fitted features; when it says no, the round stops there (False) and the state is half made."""
        df, y, task, eval_weight, folds = problem.df, problem.y, problem.task, problem.eval_weight, problem.fold_sets[0]
        self.failures_ = {}
        # the workers start while the features are computed
        with make_executor(spec.num_workers, spec.ray_address, task.num_threads, lambda m: progress.say(1, m),
                           spec.executor) as executor:
            t0 = time.monotonic()
            self.pipeline_ = FeaturePipeline(problem.schema, seed=self.seed, embeddings=settings)
            X = self.pipeline_.fit_transform(df.reset_index(drop=True), embed_budget, lambda msg: progress.say(1, msg),
                                             deadline=spec.deadline, budget=spec.plan.feature_budget
                                             ).with_weight(problem.weight)
            progress.say(1, f"features: {X.dense.shape[1]} for trees, {X.linear.shape[1]} for linear models "
                            f"({time.monotonic() - t0:.1f}s)")
            if wanted is not None and not wanted(self.pipeline_):
                return False
            X = executor.adopt(X)
            release()  # the heap copy of the features, and a distilled backbone's weights, go back to the OS
            timings = {"features": time.monotonic() - t0}
            finished: list[BaggedModel] = []
            disk_full: list[DiskFullError] = []

            def on_model(bag: BaggedModel | None):  # save as it goes: a crash keeps what finished
                if bag is not None:
                    finished.append(bag)
                if save_to is not None and not disk_full:
                    self._set_ensemble(select_ensemble(finished, y, folds, task, eval_weight, spec.cut), start)
                    try:
                        self._save(save_to, overwrite=True, complete=False)
                    except DiskFullError as exc:  # the fit goes on in memory; its final save says it again
                        disk_full.append(exc)
                        warnings.warn(f"{exc}; the fit goes on without saving as it goes", stacklevel=2)

            bags = fit_layers(spec.models, spec.stack_models, X, y, problem.fold_sets, task, spec.plan, spec.deadline,
                              spec.hp, spec.tune, executor, progress, timings, self.device, on_model, self.failures_,
                              eval_weight)
        for bag in bags:  # the workers are gone: the models come out of their bytes here, not in the first predict
            bag.models = [unpacked(m) for m in bag.models]
        self.parallel_ = {"backend": executor.backend, "slots": executor.slots, "max_running": executor.max_running,
                          **({"node_retries": executor.node_retries} if hasattr(executor, "node_retries") else {})}
        self.timings_ = {k: round(v, 2) for k, v in timings.items()}
        self._set_ensemble(select_ensemble(bags, y, folds, task, eval_weight, spec.cut), start)
        return True

    def _set_ensemble(self, bagged: FittedEnsemble, start: float):
        self.ensembles_ = {"bagged": bagged, "refit": None}
        self.fit_time_ = time.monotonic() - start

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

    def predict(self, data, model: str | None = None, decision_threshold: float | None = None) -> pd.Series:
        """model: one of model_names() instead of the ensemble. decision_threshold: for a binary label,
        the positive class's probability from which it is predicted (default: the calibrated one, else 0.5)."""
        return self._decode(self._raw_predict(data, model), data, decision_threshold)

    def _decode(self, raw: np.ndarray, data, decision_threshold=None) -> pd.Series:
        t = self.decision_threshold_ if decision_threshold is None else decision_threshold
        return self.labels_.decode(apply_threshold(raw, t) if self.task_.problem_type == "binary" else raw,
                                   data.index if isinstance(data, pd.DataFrame) else None)

    def predict_proba(self, data, model: str | None = None, as_multiclass: bool = True):
        """One column per class (as_multiclass=False, for a binary label: a Series of the positive
        class's probability); model: one of model_names() instead of the ensemble."""
        self._check_proba()
        return self._proba_frame(self._raw_predict(data, model), data.index if isinstance(data, pd.DataFrame)
                                 else None, as_multiclass)

    def _proba_frame(self, raw: np.ndarray, index, as_multiclass: bool = True):
        if not as_multiclass and self.task_.problem_type == "binary":
            return pd.Series(raw[:, 1], index=index, name=self.classes_[1])
        return pd.DataFrame(raw, index=index, columns=list(self.classes_))

    def predict_multi(self, data, models: list[str] | None = None) -> dict[str, pd.Series]:
        """{model: its predictions} for each of `models` (default: every one of model_names()), the
        features computed once."""
        return {m: self._decode(p, data) for m, p in self._each(data, models).items()}

    def predict_proba_multi(self, data, models: list[str] | None = None, as_multiclass: bool = True) -> dict:
        self._check_proba()
        index = data.index if isinstance(data, pd.DataFrame) else None
        return {m: self._proba_frame(p, index, as_multiclass) for m, p in self._each(data, models).items()}

    def _each(self, data, models: list[str] | None) -> dict[str, np.ndarray]:
        models = self.model_names() if models is None else list(models)
        wanted = [self._one_model(m) for m in models]  # unknown names fail before the features
        X = self._features(data)
        out = {}
        for mode, suffix in (("bagged", ""), ("refit", FULL)):
            names = {n for ens, n in wanted if ens is self.ensembles_[mode]}
            if names:
                out.update({n + suffix: p for n, (p, _) in self.ensembles_[mode].predict_each(X, names).items()})
        return {m: out[m] for m in models}

    def _check_proba(self):
        self._check_fitted()
        if self.task_.problem_type == "regression":
            raise ValueError("predict_proba is for classification; this predictor does regression: use predict")

    # ---- what the fit produced ---------------------------------------------------------------
    def model_names(self) -> list[str]:
        """The bagged models, then the models refit on all rows (suffix _FULL)."""
        self._check_fitted()
        return [b.name for b in self.models_ if b.models] + [b.name + FULL for b in self.models_full_]

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
        return self._decode(np.nan_to_num(raw), pd.DataFrame(index=self.oof_index_)).where(covered)

    def _oof(self, model: str | None) -> np.ndarray:
        self._check_fitted()
        bags = {b.name: b for b in self.models_}
        if model is None:
            return sum(w * bags[n].oof for n, w in self.weights_.items() if w > 0)
        if model not in bags:
            raise KeyError(f"out-of-fold predictions exist for the bagged models {list(bags)}, not {model!r}")
        return bags[model].oof

    def submission(self, data, id_column: str | None = None, proba: bool = False, as_multiclass: bool = False
                   ) -> pd.DataFrame:
        """What a competition expects: the id column (if named) then the prediction, or the probabilities:
        for a binary label one column (the positive class's, named by it) unless as_multiclass, else one
        column per class named by the class."""
        df = as_frame(data)
        if id_column is not None and id_column not in df.columns:
            raise KeyError(f"id column {id_column!r} is not in the data; its columns are {list(df.columns)}")
        out = self.predict_proba(df, as_multiclass=as_multiclass) if proba else self.predict(df)
        out = out.to_frame() if isinstance(out, pd.Series) else out
        out = out.reset_index(drop=True)
        if id_column is not None:
            out.insert(0, id_column, df[id_column].to_numpy())
        return out

    def evaluate(self, data, model: str | None = None) -> dict[str, float]:
        """Every metric that applies, plus `score`: the eval_metric. Rows weigh by the sample_weight column
        when the predictor has one and weight_evaluation; hard labels follow the decision threshold."""
        df = as_frame(data)
        y, w = self.labels_.encode(df), self._eval_weight(df)
        raw = self._raw_predict(df, model)
        scores = report(y, raw, self.task_.problem_type, w, self.decision_threshold_)
        if self.metric_.name not in scores:  # a scorer of the user's
            scores[self.metric_.name] = self._score(y, raw, w)
        return {"score": scores[self.metric_.name], "eval_metric": self.metric_.name, **scores}

    def _score(self, y, raw, w=None) -> float:
        """The eval_metric, hard labels cut at the decision threshold."""
        return self.metric_.score(y, raw if self.metric_.needs_proba else apply_threshold(raw, self.decision_threshold_),
                                  w)

    def _eval_weight(self, df: pd.DataFrame) -> np.ndarray | None:
        col = self.sample_weight
        if not (self.weight_evaluation and isinstance(col, str)):
            return None
        if col not in df.columns:
            warnings.warn(f"the data has no sample_weight column {col!r}, so its rows weigh the same in these scores",
                          stacklevel=3)
            return None
        return pd.to_numeric(df[col], errors="raise").to_numpy(dtype=np.float64)

    # ---- the decision threshold of a binary label --------------------------------------------
    def calibrate_decision_threshold(self, data=None, metric=None, model: str | None = None,
                                     verbose: bool = True) -> float:
        """The positive class's probability from which a binary label is predicted that scores best on
        `metric` (default: the eval_metric), on `data` or else on the out-of-fold predictions. It is
        returned, not applied: pass it to set_decision_threshold (fit(calibrate_decision_threshold=...)
        does both)."""
        self._check_fitted()
        if self.task_.problem_type != "binary":
            raise ValueError(f"a decision threshold is for binary labels; this is a {self.task_.problem_type} problem")
        m = self.metric_ if metric is None else get_metric(metric, "binary", self.classes_)
        if data is None:
            if self.oof_y_ is None:
                raise ValueError("this model was saved by an earlier automm without the labels of its out-of-fold "
                                 "predictions: pass data= (labelled rows) to calibrate on")
            y, proba, w = self.oof_y_, self._oof(model), self.oof_weight_
        else:
            df = as_frame(data)
            y, proba, w = self.labels_.encode(df), self._raw_predict(df, model), self._eval_weight(df)
        t, at_half, at_t = threshold_for(m, y, proba, w)
        if verbose:
            Progress(self.verbosity).say(1, f"decision threshold {t:.3f}: {m.name} {at_half:.4f} at 0.5, {at_t:.4f} "
                                            f"at {t:.3f} ({'out of fold' if data is None else 'on the data given'})")
        return t

    def set_decision_threshold(self, threshold: float | None) -> "MultimodalPredictor":
        """None: back to 0.5 (argmax)."""
        self._check_fitted()
        if threshold is not None and (self.task_.problem_type != "binary" or not 0 <= threshold <= 1):
            raise ValueError(f"decision_threshold must be between 0 and 1, for a binary label; not {threshold!r} "
                             f"for a {self.task_.problem_type} problem")
        self.decision_threshold_ = None if threshold is None else float(threshold)
        return self


    def leaderboard(self, data=None) -> pd.DataFrame:
        """Each model's validation score, fit time and (given labelled data) test score and predict time,
        end to end (the features, and a stacker's inputs from layer 1, included)."""
        return leaderboard(self, data)

    def feature_importance(self, data, num_shuffle_sets: int = 3, subsample_size: int = 1000) -> pd.DataFrame:
        """Permutation importance per input column: how much the score drops when it is shuffled. A text
        or image column is one input, so it gets one score however many features it makes."""
        return feature_importance(self, data, num_shuffle_sets, subsample_size)

    def fit_summary(self, verbosity: int = 1) -> str:
        """What the fit did, to read: the columns, the time plan and how the time went, each model's
        validation score, fit time and weight, the ensemble, the decision threshold and predict speed;
        verbosity 2 adds the failures' tracebacks."""
        return fit_summary(self, verbosity)

    # ---- refit on all rows --------------------------------------------------------------------
    def refit_full(self, train_data=None, time_limit: float | None = None, set_default: bool = True
                   ) -> "MultimodalPredictor":
        """Retrain the ensemble's models on all training rows, one model per bag.

        Boosting models train for the mean of their folds' best iteration counts; stackers train
        on the stored out-of-fold predictions. The bagged models are kept: `leaderboard` shows both
        and `set_inference("bagged" | "refit")` chooses which predict uses. With a `path`, the model
        saved there is updated.
        train_data: needed after `load` (a saved model does not keep its training data); it must be
        the data given to fit (sample weights given to fit as an array, not a column, are not kept).
        """
        self._check_fitted()
        if not self.ensembles_["bagged"].predictable:
            raise ValueError("the bagged models were deleted (delete_models), so there is nothing to refit")
        start = time.monotonic()
        deadline = TimePlan.for_fit(time_limit).fit_deadline(start)
        if train_data is not None:
            df, hp = as_frame(train_data, "train_data"), {}
            df = df[df[self.label].notna()]
        elif getattr(self, "_fit_data", None) is not None:
            df, hp, _ = self._fit_data
        else:
            raise ValueError("refit_full needs train_data: a loaded predictor does not keep its training data")
        df = df.reset_index(drop=True)
        X, y = self._features(df).with_weight(self._training_weights(df)), self.labels_.encode(df)
        if len(y) != len(self.models_[0].oof):
            raise ValueError(f"train_data has {len(y)} labelled rows, but the predictor was fitted on "
                             f"{len(self.models_[0].oof)}: refit_full needs the data given to fit")
        progress = Progress(self.verbosity, start)
        self.ensembles_["refit"] = self.ensembles_["bagged"].refit(X, y, deadline, hp, progress.say)
        mode = self.inference_
        self.inference_ = "refit"
        self.predict_rows_per_s_["refit"] = measure(self._raw_predict, df)
        self.inference_ = "refit" if set_default else mode
        progress.say(1, f"refit {len(self.models_full_)} models in {time.monotonic() - start:.1f}s; predict uses "
                        f"the {self.inference_} models")
        if self.path is not None:  # kept where fit keeps the model
            self._save(self.path, overwrite=True, complete=True)
        return self

    def _training_weights(self, df: pd.DataFrame) -> np.ndarray | None:
        """The sample weights of the training rows `df` (scaled to mean 1): this session's fit's, or read
        again from the sample_weight column (weights given to fit as an array are not kept by a save)."""
        if getattr(self, "_fit_data", None) is not None:
            return self._fit_data[2]
        if isinstance(self.sample_weight, str):
            return RowOptions(self.sample_weight).weights(df, np.arange(len(df)))
        return None

    def set_inference(self, mode: str) -> "MultimodalPredictor":
        """"bagged": the fold models of the ensemble; "refit": the models from refit_full."""
        if mode not in ("bagged", "refit"):
            raise ValueError(f"inference mode must be 'bagged' or 'refit', not {mode!r}")
        if mode == "refit" and not self.models_full_:
            raise ValueError("there are no refit models yet: call refit_full() first")
        if mode == "bagged" and not self.ensembles_["bagged"].predictable:
            raise ValueError("the bagged models were deleted (delete_models): predict with the refit models")
        self.inference_ = mode
        return self

    # ---- deployment -------------------------------------------------------------------------
    def delete_models(self, models_to_keep: str | list[str] = "best", dry_run: bool = False) -> list[str]:
        """Drop the models not in `models_to_keep` ("best": those predict uses now) and return their names;
        a save() afterwards writes only what is left. The out-of-fold predictions of deleted bagged models
        that the validation blend needs are kept (they are small), so the threshold and OOF stay."""
        return delete_models(self, models_to_keep, dry_run)

    def extract_embedding(self, data, as_dict: bool = False):
        """The frozen embeddings of each row: an (n, d) array of the text embedding (all text columns as
        one document) and each image column's, side by side; as_dict: {"text" or column: (n, d_i)}.
        A predictor fitted without embeddings computes them with its (or the default) backbones."""
        return extract_embedding(self, data, as_dict)

    def distill(self, train_data=None, time_limit: float | None = None, augment_factor: float = 1.0,
                hyperparameters: dict | None = None) -> "MultimodalPredictor":
        """A new predictor with one fast student model (LightGBM on the table's own features, no
        embeddings) trained on this ensemble's soft labels of the training rows and of augmented rows.
        It predicts, evaluates and saves like any predictor; its validation score and predict speed are
        logged against the teacher's. train_data: needed after load (the data given to fit)."""
        return distill(self, train_data, time_limit, augment_factor, hyperparameters=hyperparameters)

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
                "second_round": getattr(self, "second_round_", None), "digest": getattr(self, "digest_", None),
                "models": {b.name: {"folds": len(b.models), "val_score": b.val_score, "weight": self.weights_[b.name],
                                    "fit_time": b.fit_time, "search": b.models[0].info.search if b.models else None}
                           for b in self.models_}}

    def save(self, path, overwrite: bool = False) -> str:
        """Write the model to the folder `path`, atomically; overwrite=True replaces a saved model there
        (never a folder that holds anything else)."""
        self._check_fitted()
        return str(self._save(path, overwrite, complete=True))

    def _save(self, path, overwrite: bool, complete: bool):
        target = write_predictor(self, path, overwrite, complete)
        self.digest_ = json.loads((target / MANIFEST).read_text(encoding="utf-8"))["digest"]
        return target

    @classmethod
    def load(cls, path, eval_metric=None) -> "MultimodalPredictor":
        """A saved model; every file is checked against the manifest's checksums, the manifest against
        its digest, and nothing outside the folder is read. eval_metric: the scorer of a model fitted
        with a scorer object (a saved model keeps only its name; without it, the default metric scores)."""
        manifest, arrays = read_model_dir(path)
        try:
            p = predictor_from(cls, Path(path), manifest, arrays, eval_metric)
        except (KeyError, TypeError, IndexError, AttributeError) as exc:
            raise ModelFormatError(f"{MANIFEST} in {str(path)!r} is damaged: {type(exc).__name__}: {exc}") from exc
        if not manifest.get("complete", True):  # saved while fitting: see fit(path=...)
            warnings.warn(f"{str(path)!r} was saved while fitting, after {len(p.models_)} model(s) had finished; "
                          "the fit did not complete (it may have crashed or been stopped)", stacklevel=2)
        return p
