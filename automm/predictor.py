"""The public API: MultimodalPredictor, a facade over the training steps (training.py), the fitted
ensembles (fitted.py), the label codec (labels.py) and the model folder (persistence.py)."""
from __future__ import annotations

import json
import shutil
import time
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np

from . import __version__
from .after_fit import AfterFitMixin
from .anytime import spend_time_left
from .archive import is_archive, save_folder_or_archive, tie, unpack
from .budget import TimePlan
from .compat import check_requirements, check_versions
from .device import check_device
from .ensemble import BaggedModel
from .execution import Executor
from .explaining import ExplainMixin
from .fitted import FittedEnsemble, fold_records
from .fitted_state import FULL, FittedState
from .inference import check_threshold_args, limit_inference, measure, wants_threshold
from .persistence import (
    MANIFEST,
    DiskFullError,
    ModelFormatError,
    check_target,
    read_model_dir,
)
from .portfolio import model_configs
from .predicting import PredictMixin
from .presets import get_preset
from .progress import Progress, with_bars
from .rows import RowOptions
from .saved import predictor_from, write_predictor
from .search import TuneSettings
from .second_round import second_round as run_second_round
from .training import (
    RoundSpec,
    bagging,
    check_parallel_args,
    choose_models,
    fit_round,
    large_data,
    learning_problem,
    neural_settings,
    training_rows,
)
from .validation import (
    check_model_params,
)


def _view(name: str, doc: str = "") -> property:
    """A fitted attribute of the predictor: a read-only view of its FittedState's field `name`."""
    def get(self):
        state = self.__dict__.get("state_")
        if state is None:
            raise AttributeError(f"{name}_: this predictor is not fitted yet")
        return getattr(state, name)
    return property(get, doc=doc or f"the fitted state's {name}")


class MultimodalPredictor(PredictMixin, AfterFitMixin, ExplainMixin):
    """Fits an ensemble on a table whose columns mix numbers, categories, free text and images.

    >>> p = MultimodalPredictor(label="Price", eval_metric="r2").fit(train_df, time_limit=300)
    >>> p.predict(test_df); p.evaluate(test_df); p.leaderboard(test_df)
    """

    def __init__(self, label: str, problem_type: str | None = None, eval_metric=None,
                 column_types: dict[str, str] | None = None, verbosity: int = 2, seed: int = 0,
                 num_threads: int | None = None, image_dir: str | None = None, text_backbone: str | None = None,
                 image_backbone: str | None = None, device: str = "auto", path: str | None = None,
                 sample_weight: str | None = None, weight_evaluation: bool = True, groups: str | None = None,
                 positive_class=None, text_tier: str = "auto", progress_bar: bool | None = None):
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
        time left allows one (fit's second_round). progress_bar: a tqdm bar over the long loops that log
        nothing while they run (embedding, importance, explain); None: on in a notebook only."""
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
        self.progress_bar = progress_bar

    # ---- fitted state: one FittedState (fitted_state.py), read through these names -----------------
    schema_ = _view("schema", "each column's modality and the problem type")
    labels_ = _view("labels", "the label codec (its classes_, the positive class)")
    metric_ = _view("metric")
    task_ = _view("task")
    pipeline_ = _view("pipeline", "the fitted features")
    ensembles_ = _view("ensembles", 'the "bagged" and the "refit" ensemble, and which one predict uses')
    decision_threshold_ = _view("decision_threshold")
    oof_index_ = _view("oof_index", "the training rows the out-of-fold predictions belong to")
    oof_y_ = _view("oof_y")
    oof_weight_ = _view("oof_weight")
    timings_ = _view("timings")
    parallel_ = _view("parallel")
    time_plan_ = _view("time_plan")
    failures_ = _view("failures")
    second_round_ = _view("second_round")
    digest_ = _view("digest", "the saved manifest's digest")
    fit_time_ = _view("fit_time")
    predict_rows_per_s_ = _view("predict_rows_per_s")

    @property
    def inference_(self) -> str:
        """"bagged" or "refit": the ensemble predict uses."""
        return self.state_.ensembles.active

    @property
    def models_(self) -> list[BaggedModel]:
        return self.state_.ensembles.bagged.models

    @property
    def models_full_(self) -> list[BaggedModel]:
        refit = self.state_.ensembles.refit
        return refit.models if refit else []

    @property
    def weights_(self) -> dict[str, float]:
        return self.state_.ensembles.bagged.weights

    @property
    def val_score_(self) -> float:
        return self.state_.ensembles.bagged.val_score

    @property
    def classes_(self) -> np.ndarray:
        return self.state_.labels.classes_

    def __getstate__(self) -> dict:
        """A pickled predictor, like a saved one, leaves its training data behind (refit_full then needs
        train_data): the scikit-learn wrappers' pickles were twice the model's size."""
        return {k: v for k, v in self.__dict__.items() if k != "_fit_data"}

    def _ensemble(self) -> FittedEnsemble:
        return self.state_.ensembles.current

    # ---- fit ------------------------------------------------------------------------------
    @with_bars
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
        preset = get_preset(presets).with_overrides(second_round=second_round, hyperparameter_tune=hyperparameter_tune)
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
        tune = TuneSettings.from_arg(preset.hyperparameter_tune)
        check_parallel_args(num_workers, ray_address, tune, hyperparameters)
        plan = TimePlan.for_fit(time_limit, None if tune is None else tune.search_share)
        deadline = progress.deadline = plan.fit_deadline(start)
        problem = learning_problem(self, df, is_tuning, rows, n_folds, progress)
        df, y, schema, metric, labels, task = problem.df, problem.y, problem.schema, problem.metric, problem.labels, \
            problem.task
        weight, eval_weight = problem.weight, problem.eval_weight
        cut = wants_threshold(calibrate_decision_threshold, metric, task.problem_type)  # a calibrated threshold
        progress.say(2, plan.describe() + ("" if time_limit is None else
                        f"; it ends by {time.strftime('%H:%M:%S', time.localtime(time.time() + float(time_limit)))}"))
        models, settings, hp = neural_settings(preset, models, hyperparameters, embeddings, plan, self.device,
                                               (self.text_backbone, self.image_backbone), self.image_dir,
                                               task.num_threads, progress, self.text_tier,
                                               bool(schema.of_kind("text")))
        # the state starts now, so that a model saved as it goes (path=...) is a whole predictor; an earlier
        # fit's goes, so that a fit that fails leaves no mix of the two
        self.__dict__.pop("state_", None)
        state = FittedState(schema, labels, metric, task, oof_index=df.index, oof_y=y, oof_weight=eval_weight,
                            time_plan=plan.to_dict(), folds=tuple(problem.fold_sets[0]))
        configs = model_configs(models, hp, hyperparameters, preset.portfolio)
        spec = RoundSpec(models, stack_models if n_stack else [], hp, tune, plan, deadline, cut, num_workers,
                         ray_address, executor, tuple(c for c in configs if c.planned),
                         tuple(c for c in configs if not c.planned))
        embed_budget = plan.embed_budget_now(deadline)
        features: dict = {}  # each round's training features, by its pipeline, for the time left after them
        self.state_ = fit_round(state, problem, spec, settings, embed_budget, progress, start, self.seed, self.device,
                                None if save_to is None else self._checkpoint(save_to), features_out=features)
        record, self.state_ = run_second_round(self.state_, problem, spec, preset, progress, start,
                                               infer_limit, self.seed, self.device, self.image_dir, features)
        self.state_, anytime = spend_time_left(self.state_, problem, spec, features.pop(id(self.state_.pipeline), None),
                                               progress, start)
        features.clear()
        self.state_ = replace(self.state_, second_round=record, anytime=anytime)
        self._fit_data = (df, hp, weight)  # refit_full recomputes the features from it; not saved
        return self._after_rounds(problem, spec, infer_limit, infer_limit_batch_size, progress, save_to)

    def _after_rounds(self, problem, spec: RoundSpec, infer_limit, batch_size: int, progress: Progress,
                      save_to) -> "MultimodalPredictor":
        """What a fit does once its rounds are over: the blend that meets infer_limit, the predict speed,
        the calibrated threshold, the final save."""
        df, y, folds = problem.df, problem.y, problem.fold_sets[0]
        if infer_limit is not None:
            self.state_ = self.state_.with_ensembles(bagged=limit_inference(self.state_, self.image_dir, df, y, folds,
                                                                            infer_limit, batch_size, progress,
                                                                            spec.cut))
        self.state_ = replace(self.state_, predict_rows_per_s={"bagged": measure(self._raw_predict, df,
                                                                                 spec.deadline)})
        if spec.cut:
            self.set_decision_threshold(self.calibrate_decision_threshold(verbose=self.verbosity >= 1))
        used = ", ".join(f"{n} {w:.2f}" for n, w in self.weights_.items() if w > 0)
        progress.say(1, f"ensemble: validation {self.metric_.name} {self.val_score_:.4f} ({used}); "
                        f"fit took {self.fit_time_:.1f}s")
        if save_to is not None:
            self._save(save_to, overwrite=True, complete=True)
            progress.say(1, f"saved the model to {self.path}")
        return self

    def _checkpoint(self, save_to):
        """Saving as the fit goes (a crash keeps what finished); a full disk costs one warning, and the
        fit goes on in memory (its final save then says it again)."""
        disk_full: list[DiskFullError] = []

        def save(state: FittedState):
            self.state_ = state
            if disk_full:
                return
            try:
                self._save(save_to, overwrite=True, complete=False)
            except DiskFullError as exc:
                disk_full.append(exc)
                warnings.warn(f"{exc}; the fit goes on without saving as it goes", stacklevel=2)
        return save

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
                "second_round": getattr(self, "second_round_", None), "anytime": self.state_.anytime,
                "digest": getattr(self, "digest_", None),
                "models": {b.name: {"folds": len(b.models), "val_score": b.val_score, "weight": self.weights_[b.name],
                                    "fit_time": b.fit_time, "search": fold_records(b)[0].search if b.models else None,
                                    "params": {**b.params, **(fold_records(b)[0].tuned if b.models else {})},
                                    **({"inputs": b.inputs} if b.inputs is not None else {})}
                           for b in self.models_}}

    def save(self, path, overwrite: bool = False, archive: bool = False) -> str:
        """Write the model to the folder `path`, atomically; overwrite=True replaces a saved model there
        (never a folder that holds anything else). archive=True: one .zip file at `path` instead, which
        load reads with the same checks."""
        self._check_fitted()
        return str(save_folder_or_archive(path, lambda folder, ow: self._save(folder, ow, complete=True), overwrite,
                                          archive))

    def _save(self, path, overwrite: bool, complete: bool):
        target = write_predictor(self, path, overwrite, complete)
        self.state_ = replace(self.state_, digest=json.loads((target / MANIFEST).read_text(encoding="utf-8"))["digest"])
        return target

    @classmethod
    def load(cls, path, eval_metric=None, require_version_match: bool = True,
             num_threads: int | None = None) -> "MultimodalPredictor":
        """A saved model (a folder, or a .zip from save(archive=True)); every file is checked against the
        manifest's checksums, the manifest against its digest, and nothing outside the folder is read.
        The versions that saved it are compared with those installed (automm.compat): another major
        version is an error unless require_version_match=False, another minor one a warning. Only the
        models its blend uses are read now (the others on first use), so a blend without a net never
        imports torch. eval_metric: the scorer of a model fitted with a scorer object (a saved model
        keeps only its name; without it, the default metric scores). num_threads: the threads predict
        uses here (default: those it was fitted with, or every core)."""
        folder = unpack(path) if is_archive(path) else Path(path)
        try:
            manifest, arrays = read_model_dir(folder)
            check_versions(manifest, str(path), __version__, require_version_match)
            check_requirements(manifest)
            if num_threads is not None:
                manifest["params"]["num_threads"] = int(num_threads)
            try:
                p = predictor_from(cls, folder, manifest, arrays, eval_metric)
            except (KeyError, TypeError, IndexError, AttributeError) as exc:
                raise ModelFormatError(f"{MANIFEST} in {str(path)!r} is damaged: {type(exc).__name__}: {exc}") from exc
        except BaseException:
            if folder != Path(path):
                shutil.rmtree(folder, ignore_errors=True)
            raise
        if folder != Path(path):
            tie(folder, p)
        if not manifest.get("complete", True):  # saved while fitting: see fit(path=...)
            warnings.warn(f"{str(path)!r} was saved while fitting, after {len(p.models_)} model(s) had finished; "
                          "the fit did not complete (it may have crashed or been stopped)", stacklevel=2)
        return p
