"""Bagging with out-of-fold predictions, one stacking layer, and Caruana ensemble selection."""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from .budget import Deadline, TimePlan, time_left
from .execution import FoldJob, InlineExecutor, LayerData, Outcome
from .features import FeatureSet
from .folds import covered
from .metrics import score_at_best_cut
from .models.base import REGISTRY, model_class, require_model
from .portfolio import ModelConfig
from .progress import Progress
from .search import SearchJob, TuneSettings, split_params, study_name
from .task import Task


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
    sets: int = 1                        # bag sets (repeated k-fold) its fold models come from
    started_at: float | None = None      # when its first fold started (time.time()), for the fit's timeline
    params: dict = field(default_factory=dict)  # its configuration, as given (the fold models add what they tuned)
    inputs: list[str] | None = None      # a stacker's layer-1 models, whose predictions it reads

    def predict(self, X: FeatureSet) -> np.ndarray:
        return np.mean([m.predict(X) for m in self.models], axis=0)


@dataclass
class _Run:
    """One model type's way through the folds of a layer."""
    bag: BaggedModel
    spec: object
    params: dict
    deadline: float
    shares: list
    next_fold: int = 0
    done: dict = field(default_factory=dict)  # fold -> fitted model
    retry: list = field(default_factory=list)  # folds to run again alone, after their worker died
    searching: bool = False
    failed: bool = False
    started: float = field(default_factory=time.monotonic)
    started_at: float = field(default_factory=time.time)


def fit_layer(models: list[str | ModelConfig], X: FeatureSet, y: np.ndarray, folds, task: Task, deadline: float,
              layer: int,
              progress: Progress, params: dict | None = None, executor=None,
              tune: TuneSettings | None = None, one_at_a_time: set = frozenset(), on_model=None,
              failures: dict | None = None, plan: TimePlan | None = None,
              eval_weight: np.ndarray | None = None) -> list[BaggedModel]:
    """Fit each model (a registered name, its parameters from `params`, or a ModelConfig) on every fold
    within the deadline, sharing the time as `plan` says.

    Time a model leaves unused flows to the ones after it; a model that fails is logged and left
    out (its error and traceback in `failures`); validation scores weigh rows by `eval_weight`; in
    layer 1 the first model always runs so that there is something to predict with, and
    `on_model(bag)` is told of each model as it finishes. A model's first fold runs first (it may
    tune what the others reuse, or run the hyperparameter search), then its other folds and further
    models, as many at once as the executor allows (but never two jobs of the kinds in
    `one_at_a_time`, such as two nets on one GPU).
    """
    plan = plan or TimePlan(None, search_share=None if tune is None else tune.search_share)
    params = params or {}
    configs = [m if isinstance(m, ModelConfig) else ModelConfig(m, m, dict(params.get(m, {}))) for m in models]
    return _Layer(configs, X, y, folds, task, deadline, layer, progress, params or {},
                  executor or InlineExecutor(), tune, one_at_a_time, on_model,
                  {} if failures is None else failures, plan, eval_weight).run()


class _Layer:
    def __init__(self, configs, X, y, folds, task, deadline, layer, progress, params, executor, tune, one_at_a_time,
                 on_model, failures, plan, eval_weight):
        self.configs, self.X, self.y, self.folds, self.task = configs, X, y, folds, task
        self.deadline, self.layer, self.progress, self.params = deadline, layer, progress, params
        self.executor, self.tune, self.one_at_a_time = executor, tune, one_at_a_time
        self.on_model, self.failures, self.plan, self.eval_weight = on_model, failures, plan, eval_weight
        self.todo, self.runs, self.running = list(configs), [], {}
        self.order = [c.name for c in configs]

    def run(self) -> list[BaggedModel]:
        self.executor.start_layer(LayerData(self.X, self.y, self.folds, self.task))
        fitted = []
        while True:
            while len(self.running) < self.executor.slots and (nxt := self._next_job()) is not None:
                run, job = nxt
                self.progress.step(f"{run.bag.name} fold {job.fold + 1}/{len(self.folds)}"
                                   + (" (hyperparameter search)" if job.search else ""), self.deadline)
                self.executor.submit((run.bag.name, job.fold), job)
                self.running[(run.bag.name, job.fold)] = (run, job)
            if not self.running:
                break
            for outcome in self.executor.wait():
                run, job = self.running.pop(outcome.key)
                if not run.failed:
                    self._outcome(run, job, outcome)
                    if not run.failed and len(run.done) == len(self.folds):
                        fitted.append(self._finish(run))
                        if self.on_model is not None:
                            self.on_model(fitted[-1])
        return sorted(fitted, key=lambda b: self.order.index(config_of(b).name))  # the same order however they ran

    def _outcome(self, run: _Run, job: FoldJob, outcome: Outcome):
        say = self.progress.say
        if outcome.status == "ok":
            result = outcome.result
            run.done[job.fold] = result.model
            run.bag.oof[self.folds[job.fold][1]] = result.oof
            if result.model.info.search is not None:
                s = result.model.info.search
                default = "n/a" if s["default_score"] is None else f"{s['default_score']:.4f}"
                failed = f", {s['failed']} failed" if s["failed"] else ""
                say(1, f"{run.bag.name}: search ran {s['new_trials']} trials ({s['pruned']} pruned{failed}, "
                       f"{s['trials']} in the study) in {s['seconds']:.1f}s; fold 1 {s['metric']} {default} "
                       f"with the defaults, {s['best_score']:.4f} with the best {_short(s['best_params'])}"
                       + (f" (trials on {s['trial_rows']} sampled rows; the model kept trained on all {s['rows']})"
                          if "trial_rows" in s else ""))
        elif outcome.status == "died" and outcome.retry_alone and not job.exclusive:
            say(1, f"{run.bag.name} fold {job.fold + 1}: {outcome.message}; trying it again alone")
            run.retry.append(job.fold)
        else:  # one failing model never sinks the fit
            run.failed = True
            self.failures[run.bag.name] = {"error": outcome.message, "traceback": outcome.traceback}
            say(1, f"{run.bag.name} failed and is left out: {outcome.message}")
            if outcome.traceback:
                say(3, outcome.traceback)

    def _next_job(self):
        """A started model's next fold (its other folds wait for the first), else the next model."""
        n_running, k = len(self.running), len(self.folds)
        blocked = set(self.one_at_a_time) if any(j.kind in self.one_at_a_time for _, j in self.running.values()) \
            else set()
        for run in self.runs:
            if run.failed or run.bag.kind in blocked:
                continue
            if run.retry:
                fold = run.retry[0]
            elif run.next_fold < k and 0 in run.done:
                fold = run.next_fold
            else:
                continue
            job = self._job(run, fold, exclusive=bool(run.retry))
            if not self.executor.can_start(job, n_running):
                return None
            if run.retry:
                run.retry.pop(0)
            else:
                run.next_fold += 1
            return run, job
        while self.todo and self.todo[0].kind not in blocked:
            run = self._start(self.todo[0])
            if run is None:
                self.todo.pop(0)
                continue
            job = self._job(run, 0, exclusive=False)
            if not self.executor.can_start(job, n_running):
                return None
            self.todo.pop(0)
            self.runs.append(run)
            run.next_fold = 1
            return run, job
        return None

    def _start(self, config: ModelConfig) -> _Run | None:
        kind = config.kind
        weights_left = sum(REGISTRY[c.kind].time_weight for c in self.todo)
        model_deadline = self.plan.model_deadline(self.deadline, REGISTRY[kind].time_weight, weights_left,
                                                  self.executor.slots) if config.budget_s is None \
            else min(self.deadline, time.monotonic() + config.budget_s)
        k = len(self.folds)
        # layer 1's first model runs whatever the time, so that there is something to predict with
        must_run = self.layer == 1 and not any(not r.failed for r in self.runs)
        if not must_run and self.plan.too_short(model_deadline, k):
            self.progress.say(1, f"skipping {config.name} (layer {self.layer}): {time_left(self.deadline):.1f}s left")
            return None
        try:  # the fit itself does not import the model's library: the workers do (torch alone is 300 MB)
            spec = require_model(kind)
        except ImportError as exc:
            self.progress.say(1, f"{config.name} is left out: {exc}")
            return None
        params = config.params
        searching = (self.tune is not None and self.layer == 1
                     and bool(split_params(params, model_class(kind).search_space)[1]))
        shares = self.plan.fold_weights(k, searching, spec.tunes_on_first_fold)
        bag = BaggedModel(f"{config.name}_L{self.layer}", kind, self.layer,
                          oof=np.full((len(self.y), self.task.n_outputs), np.nan), params=dict(params))
        return _Run(bag, REGISTRY[kind], params, model_deadline, shares, searching=searching)

    def _job(self, run: _Run, fold: int, exclusive: bool) -> FoldJob:
        k = len(self.folds)
        # the first fold runs alone (the others wait for what it tunes); later ones side by side
        parallel = 1 if exclusive or fold == 0 else min(self.executor.slots, k - fold)
        deadline = self.plan.fold_deadline(run.deadline, run.shares, fold, parallel)
        if fold > 0:  # what the first fold tuned (a regularisation strength, a search's best) the others reuse
            return FoldJob(run.bag.kind, run.spec, fold, {**run.params, **run.done[0].info.tuned},
                           deadline, exclusive=exclusive)
        if not run.searching:
            return FoldJob(run.bag.kind, run.spec, 0, run.params, deadline, exclusive=exclusive)
        name = study_name(self.tune.study_name, run.bag.kind, self.y, self.X.dense.shape[1], self.task)
        search = SearchJob(self.tune, name, self.plan.trial_seconds(time_left(run.deadline), k),
                           Deadline.from_monotonic(run.deadline), k - 1, self.plan.search_reserve)
        # one after another: other models may hold the other slots
        return FoldJob(run.bag.kind, run.spec, 0, run.params, deadline, search=search, exclusive=exclusive)

    def _finish(self, run: _Run) -> BaggedModel:
        bag, rows = run.bag, covered(self.folds)
        bag.models = [run.done[f] for f in range(len(self.folds))]
        bag.fit_time = time.monotonic() - run.started
        bag.started_at = run.started_at
        bag.val_score = self.task.metric.score(self.y[rows], bag.oof[rows], _at(self.eval_weight, rows))
        self.progress.say(1, f"{bag.name}: validation {self.task.metric.name} {bag.val_score:.4f} in "
                             f"{bag.fit_time:.1f}s" + (" (stopped by the deadline)" if any(
                                 m.info.hit_deadline for m in bag.models) else ""))
        return bag


def config_of(bag: BaggedModel) -> ModelConfig:
    """The configuration a bagged model was trained from (to train it again: another bag set, fit_extra)."""
    return ModelConfig(bag.name.rsplit("_L", 1)[0], bag.kind, dict(bag.params))


def refit_bag(bag: BaggedModel, X: FeatureSet, y: np.ndarray, task: Task, deadline: float,
              params: dict | None = None) -> BaggedModel:
    """One model on all rows, with what bagging learned: the tuned settings and, for boosting,
    the mean of the folds' best iteration counts (there is no validation fold left to stop on)."""
    cls = model_class(bag.kind)
    p = {**(bag.params or (params or {}).get(bag.kind, {})), **bag.models[0].info.tuned}
    if cls.rounds_param:
        p[cls.rounds_param] = max(1, int(round(np.mean([m.info.iterations for m in bag.models]))))
    t0 = time.monotonic()
    model = cls(**p).fit(X, y, None, None, task, deadline)
    return BaggedModel(bag.name, bag.kind, bag.layer, [model], oof=None, fit_time=time.monotonic() - t0,
                       params=bag.params, inputs=bag.inputs)


def merge_sets(bags: list[BaggedModel], more: list[BaggedModel], y: np.ndarray, folds, task: Task,
               eval_weight: np.ndarray | None = None) -> list[BaggedModel]:
    """Another bag set's models joined to the first sets': each bag predicts the mean of all its fold
    models, and its out-of-fold predictions are the mean over the sets (a model that failed in the new
    set keeps the sets it has)."""
    new = {b.name: b for b in more}
    rows = covered(folds)
    for bag in bags:
        if bag.name not in new:
            continue
        extra = new[bag.name]
        bag.models = bag.models + extra.models
        bag.oof = (bag.oof * bag.sets + extra.oof) / (bag.sets + 1)
        bag.sets += 1
        bag.fit_time += extra.fit_time
        bag.val_score = task.metric.score(y[rows], bag.oof[rows], _at(eval_weight, rows))
    return bags


def _at(weight: np.ndarray | None, rows: np.ndarray) -> np.ndarray | None:
    return None if weight is None else weight[rows]


def stack_features(preds: list[np.ndarray], names: list[str], task: Task) -> tuple[np.ndarray, list[str]]:
    """Lower-layer predictions as stacker inputs (the positive class only, for binary problems)."""
    cols, col_names = [], []
    for p, n in zip(preds, names):
        p = p[:, 1:] if task.is_binary else p
        cols.append(p)
        col_names += [f"{n}.pred{j}" for j in range(p.shape[1])]
    return np.hstack(cols), col_names


def ensemble_selection(oofs: list[np.ndarray], y: np.ndarray, task: Task, n_iter: int = 50,
                       sample_weight: np.ndarray | None = None, at_best_cut: bool = False) -> np.ndarray:
    """Caruana et al. (2004): greedily add (with replacement) the model that most lowers the error.
    at_best_cut: a binary metric of hard labels is scored at the cut that suits the blend best (predict
    will use a calibrated threshold), not at 0.5."""
    def error(pred):
        if at_best_cut:
            return -task.metric.sign * score_at_best_cut(task.metric, y, pred, sample_weight)
        return task.metric.error(y, pred, sample_weight)

    if len(oofs) == 1:  # nothing to choose between: 50 scorings of the same predictions (each over a
        return np.ones(1)  # hundred cuts with a calibrated threshold) took 47 s of a 120-row fit
    counts, current = np.zeros(len(oofs)), np.zeros_like(oofs[0])
    best_err, best_counts = np.inf, None
    for it in range(n_iter):
        errs = [error((current * it + p) / (it + 1)) for p in oofs]
        j = int(np.argmin(errs))
        counts[j] += 1
        current = (current * it + oofs[j]) / (it + 1)
        if errs[j] < best_err - 1e-12 or best_counts is None:
            best_err, best_counts = errs[j], counts.copy()
    return best_counts / best_counts.sum()


def _short(params: dict) -> str:
    return "{" + ", ".join(f"{k}: {v:.3g}" if isinstance(v, float) else f"{k}: {v}" for k, v in params.items()) + "}"
