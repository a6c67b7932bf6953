"""Hyperparameter search: TPE with pruning (Optuna) on a model's first fold, inside its time share.

Each model declares `search_space` next to its code with the primitives below; a user overrides
it through `hyperparameters` (a primitive there is searched, a plain value is fixed). Trial 0 is
the model's defaults, so on the searched fold the search never ends worse than no search; the
best trial's model becomes that fold's model, and the other folds reuse its parameters.
"""
from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from .budget import Deadline, time_left
from .task import Task


@dataclass(frozen=True)
class Real:
    low: float
    high: float
    log: bool = False
    default: float | None = None  # the model's own default: what trial 0 tries


@dataclass(frozen=True)
class Int:
    low: int
    high: int
    log: bool = False
    default: int | None = None


@dataclass(frozen=True)
class Choice:
    options: tuple
    default: Any = None


SPACES = (Real, Int, Choice)


@dataclass(frozen=True)
class TuneSettings:
    """num_trials: at most this many trials per model (None: as many as the time allows, or 20
    without a time limit). storage: an Optuna storage URL ("sqlite:///search.db", a database) so
    that a search resumes after an interruption or is shared by several machines. search_share:
    the part of a model's time that its search takes; the other folds share the rest."""
    num_trials: int | None = None
    storage: str | None = None
    study_name: str = "automm"
    search_share: float = 0.5

    @classmethod
    def from_arg(cls, value) -> "TuneSettings | None":
        if value is None or value is False:
            return None
        if value is True:
            return cls()
        if isinstance(value, cls):
            return value
        if isinstance(value, dict):
            unknown = set(value) - set(cls.__dataclass_fields__)
            if unknown:
                raise ValueError(f"hyperparameter_tune has unknown keys {sorted(unknown)}; "
                                 f"known: {sorted(cls.__dataclass_fields__)}")
            settings = cls(**value)
            if not 0 < settings.search_share < 1:
                raise ValueError(f"hyperparameter_tune search_share must be between 0 and 1, not {settings.search_share}")
            return settings
        raise TypeError(f"hyperparameter_tune must be True, False or a dict of {sorted(cls.__dataclass_fields__)}, "
                        f"not {value!r}")


@dataclass(frozen=True)
class SearchJob:
    """What a model's first fold needs to run its hyperparameter search (see budget.TimePlan)."""
    tune: TuneSettings
    study: str
    trial_seconds: float          # at most, for one trial
    model_deadline: Deadline      # when the model's other folds must be done too
    rest_folds: int               # the other folds, whose fits the search must leave time for
    reserve: float = 1.25         # it keeps this many times its best trial for each of them

    def stop_by(self, best_trial_seconds: float) -> float:
        """time.monotonic() by which the search stops, given its best trial's time so far."""
        return self.model_deadline.monotonic() - self.reserve * self.rest_folds * best_trial_seconds


def require_optuna():
    try:
        import optuna
    except ImportError:
        raise ImportError("hyperparameter_tune needs Optuna: pip install 'automm[tune]'") from None
    optuna.logging.set_verbosity(optuna.logging.ERROR)  # failed trials are counted in the search's summary
    return optuna


def split_params(params: dict, space: dict) -> tuple[dict, dict]:
    """User hyperparameters over a declared space -> (fixed values, the space left to search)."""
    fixed = {k: v for k, v in params.items() if not isinstance(v, SPACES)}
    searched = {k: v for k, v in {**space, **params}.items() if isinstance(v, SPACES) and k not in fixed}
    return fixed, searched


def has_space(params: dict) -> bool:
    return any(isinstance(v, SPACES) for v in params.values())


def _suggest(trial, name: str, s):
    if isinstance(s, Real):
        return trial.suggest_float(name, s.low, s.high, log=s.log)
    if isinstance(s, Int):
        return trial.suggest_int(name, s.low, s.high, log=s.log)
    return trial.suggest_categorical(name, list(s.options))


class _Pruning:
    """The monitor a trial's model reports to: every `every` steps, the best loss so far; no pruning
    before `warmup` steps (a slow learning rate must not be judged on its first rounds)."""

    def __init__(self, trial, every: int, warmup: int):
        self.trial, self.every, self.warmup, self.pruned, self.best = trial, every, warmup, False, np.inf

    def __call__(self, step: int, loss: float) -> bool:
        self.best = min(self.best, loss)
        if (step + 1) % self.every:
            return False
        self.trial.report(float(self.best), step)
        self.pruned = step + 1 >= self.warmup and self.trial.should_prune()
        return self.pruned


def study_name(prefix: str, kind: str, y: np.ndarray, n_features: int, task: Task) -> str:
    """The same data and seed give the same name, so a rerun with a storage resumes its study."""
    digest = hashlib.sha1(np.ascontiguousarray(y).tobytes() + f"{n_features}/{task.seed}".encode()).hexdigest()
    return f"{prefix}-{kind}-{digest[:12]}"


def search(cls, params: dict, fit_fold: Callable, task: Task, deadline: float, trial_seconds: float,
           settings: TuneSettings, name: str, reserve: Callable[[float], float] = lambda s: np.inf
           ) -> tuple[Any, dict, dict]:
    """Run trials until `deadline` (or num_trials). fit_fold(model, trial_deadline, monitor) fits a
    model on the fold and returns its validation error. reserve(seconds of the best trial) is the
    time by which the search must stop so that the other folds can fit with what it found: with a
    tight budget, the search stops after the defaults rather than starve the bagging. Returns
    (best model, its parameters, a summary for info()); the model is None when the best trial ran
    before a resume."""
    optuna = require_optuna()
    fixed, space = split_params(params, cls.search_space)
    study = optuna.create_study(
        direction="minimize", storage=settings.storage, study_name=name, load_if_exists=True,
        sampler=optuna.samplers.TPESampler(seed=task.seed, n_startup_trials=5),
        # compare a trial with the median of the trials before it at the same step, once 5 are done
        pruner=optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=0))
    done = [t for t in study.trials if t.state.is_finished()]
    if not done:
        study.enqueue_trial({k: s.default for k, s in space.items() if s.default is not None},
                            user_attrs={"defaults": True})
    every = cls.report_every
    best: dict = {}

    def objective(trial):
        defaults = trial.user_attrs.get("defaults", False)
        # trial 0 leaves the parameters without a declared default to the model
        sampled = {k: _suggest(trial, k, s) for k, s in space.items() if not defaults or s.default is not None}
        model = cls(**fixed, **sampled)
        pruning = _Pruning(trial, every, cls.prune_after)
        t0 = time.monotonic()
        err = fit_fold(model, min(stop_by(), t0 + trial_seconds), pruning)
        if pruning.pruned:
            raise optuna.TrialPruned()
        if err < best.get("err", np.inf):
            best.update(err=err, model=model, params={**fixed, **sampled}, seconds=time.monotonic() - t0)
        return err

    def stop_by() -> float:
        return min(deadline, reserve(best["seconds"])) if best else deadline

    limit = settings.num_trials or (20 if not np.isfinite(deadline) else 1000)
    remaining = max(0, limit - len(done))
    t0 = time.monotonic()
    while remaining and time_left(stop_by()) > 0:
        # one trial at a time so that the deadline is checked between trials; a trial that raises
        # is recorded as failed and the search goes on
        study.optimize(objective, n_trials=1, catch=(Exception,))
        remaining -= 1
    best_trial, summary = _summary(optuna, study, task, name, len(done), time.monotonic() - t0)
    params = {**fixed, **best_trial.params}
    model = best["model"] if best and best["err"] <= best_trial.value else None
    return model, params, summary


def _plain(v):
    """numpy scalars -> Python ones, for the JSON manifest."""
    return v.item() if hasattr(v, "item") else v


def _summary(optuna, study, task: Task, name: str, n_before: int, seconds: float):
    """The best finished trial, and what the search did, for info()."""
    trials = study.trials
    complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not complete:
        failed = [t for t in trials if t.state == optuna.trial.TrialState.FAIL]
        raise RuntimeError(f"no search trial finished ({len(failed)} failed, {len(trials)} in all); "
                           "give a larger time_limit")
    best_trial = min(complete, key=lambda t: t.value)
    default_trial = next((t for t in complete if t.user_attrs.get("defaults")), None)
    to_score = lambda err: -task.metric.sign * float(err)  # noqa: E731  (the metric, as the user reads it)
    return best_trial, {
        "study": name, "trials": len(trials), "new_trials": len(trials) - n_before,
        "pruned": sum(t.state == optuna.trial.TrialState.PRUNED for t in trials),
        "failed": sum(t.state == optuna.trial.TrialState.FAIL for t in trials),
        "seconds": round(seconds, 2), "metric": task.metric.name,
        "default_score": None if default_trial is None else to_score(default_trial.value),
        "best_score": to_score(best_trial.value), "best_params": {k: _plain(v) for k, v in best_trial.params.items()}}
