"""What every executor shares: the data of a layer, the jobs (one model on one fold, on its first fold
perhaps a whole hyperparameter search), how a job runs, and the three outcomes of a job, which read
the same whatever ran it: ok (the fitted model), error (the model raised) or died (the process or
task running it vanished: killed for memory, a crash in a native library).

An executor is an `Executor`: `start_layer` ships a layer's data once, `can_start` says whether a job
may start beside the ones running, `submit` starts it, `wait` returns the outcomes of finished jobs,
`close` stops everything. Inline (this process), local processes and Ray are one file each.
"""
from __future__ import annotations

import importlib
import pickle
import time
import traceback
from abc import ABC, abstractmethod
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np

from ..budget import Deadline
from ..features import FeatureSet
from ..models.base import ModelSpec
from ..search import SearchJob, search
from ..task import Task


@dataclass
class LayerData:
    """What every job of a layer reads; shipped once to each worker."""
    X: FeatureSet
    y: np.ndarray
    folds: list
    task: Task

    def with_threads(self, n: int) -> "LayerData":
        return replace(self, task=replace(self.task, num_threads=n))


@dataclass
class FoldJob:
    kind: str
    spec: ModelSpec
    fold: int
    params: dict
    deadline: Deadline
    search: SearchJob | None = None  # the first fold of a model whose parameters are searched
    exclusive: bool = False          # a retry after a worker died: run with nothing beside it


@dataclass
class FoldResult:
    model: Any
    oof: np.ndarray


@dataclass
class Outcome:
    """What became of a job. retry_alone: it died beside other jobs, so running it again alone may
    succeed (it may have been killed for their memory)."""
    key: Any
    status: Literal["ok", "error", "died"]
    result: FoldResult | None = None
    message: str = ""
    traceback: str = ""
    retry_alone: bool = False

    def packed(self) -> "Outcome":
        """This outcome with its model as `Packed` bytes: how a worker sends it back."""
        if self.result is None:
            return self
        return replace(self, result=FoldResult(Packed(self.result.model), self.result.oof))


class Packed:
    """A fitted model as the bytes its worker sent. The fit reads its `info` and saves it without
    keeping it unpacked; it is unpacked, once, only when something predicts with it. So the fit's own
    process imports no model library (torch, catboost, ...) and holds no trees while its workers train:
    at 10,000 rows that was a quarter of the whole fit's peak memory."""

    def __init__(self, model):
        self.info, self.blob, self._model = model.info, pickle.dumps(model, protocol=5), None

    def __reduce__(self):  # sent again (to a refit, a distillation), it travels packed
        return _repack, (self.info, self.blob)

    def unpack(self):
        model = pickle.loads(self.blob)
        model.info = self.info  # one record: what the fit writes into info is what the model reads
        return model

    def save(self, path):
        return self.unpack().save(path)

    def __getattr__(self, name):
        if name.startswith("__") or name in ("info", "blob", "_model"):
            raise AttributeError(name)
        if self._model is None:
            self._model = self.unpack()
        return getattr(self._model, name)


def unpacked(model):
    """The model itself, whether or not it came packed."""
    return model.unpack() if isinstance(model, Packed) else model


def _repack(info, blob) -> Packed:
    out = Packed.__new__(Packed)
    out.info, out.blob, out._model = info, blob, None
    return out


SEARCH_ROWS = 100_000  # a search's trials train on at most this many sampled rows of the fold


def run_job(job: FoldJob, data: LayerData) -> FoldResult:
    deadline = job.deadline.monotonic()
    cls = getattr(importlib.import_module(job.spec.import_path), job.spec.cls)
    tr, va = data.folds[job.fold]
    X, y, task = data.X, data.y, data.task
    X_va = X.rows(va, job.spec.reads)
    if job.search is None:
        model = cls(**job.params).fit(X.rows(tr, job.spec.reads), y[tr], X_va, y[va], task, deadline)
    else:
        model = _search_fold(cls, job, data, tr, va, X_va, deadline)
    return FoldResult(model, model.predict(X_va))


def _search_fold(cls, job: FoldJob, data: LayerData, tr, va, X_va, deadline: float):
    """The search on the first fold. Past SEARCH_ROWS training rows, the trials train on a sample of
    them (parameters rank alike on 100,000 rows and on a million, at a tenth of the cost), leaving
    time for the best parameters' fit on all the rows, which is the model kept."""
    X, y, task, s = data.X, data.y, data.task, job.search
    sample = tr if len(tr) <= SEARCH_ROWS else np.sort(
        np.random.default_rng(task.seed).choice(tr, SEARCH_ROWS, replace=False))
    scale = len(tr) / len(sample)  # the full fit, in trials' time
    X_tr = X.rows(sample, job.spec.reads)

    def fit_fold(model, trial_deadline, monitor) -> float:
        model.fit(X_tr, y[sample], X_va, y[va], task, trial_deadline, monitor=monitor)
        return task.metric.error(y[va], model.predict(X_va), X_va.weight)

    def stop_by(best_seconds: float) -> float:
        return s.stop_by(best_seconds) - (s.reserve * scale * best_seconds if len(sample) < len(tr) else 0)

    model, params, summary = search(cls, job.params, fit_fold, task, deadline, s.trial_seconds, s.tune, s.study,
                                    stop_by)
    if len(sample) < len(tr):
        del X_tr
        model = cls(**params).fit(X.rows(tr, job.spec.reads), y[tr], X_va, y[va], task, deadline)
        summary = {**summary, "trial_rows": len(sample), "rows": len(tr)}
    elif model is None:  # the best trial ran before a resume: fit its parameters on this fold
        model = cls(**params).fit(X_tr, y[tr], X_va, y[va], task, time.monotonic() + s.trial_seconds)
    model.info.tuned = {**model.info.tuned, **params}
    model.info.search = summary
    return model


def run_outcome(key, job: FoldJob, data: LayerData) -> Outcome:
    """run_job, with a model that raises reported rather than raised: one failing model never sinks the fit."""
    try:
        return Outcome(key, "ok", run_job(job, data))
    except Exception as exc:
        return Outcome(key, "error", message=f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc())


class Executor(ABC):
    """Used in a `with` block, so that its workers always stop."""
    slots: int = 1          # jobs that may run at once
    backend: str = ""
    max_running: int = 0    # the most that did

    def adopt(self, X: FeatureSet) -> FeatureSet:
        """The features as the fit should hold them from now on (an executor whose workers share one
        copy with the fit gives that copy; the fit drops its own)."""
        return X

    @abstractmethod
    def start_layer(self, data: LayerData) -> None:
        """The data every job of the next layer reads."""

    @abstractmethod
    def can_start(self, job: FoldJob, running: int) -> bool:
        """Whether `job` may start now, beside `running` jobs."""

    @abstractmethod
    def submit(self, key, job: FoldJob) -> None: ...

    @abstractmethod
    def wait(self) -> list[Outcome]:
        """The outcomes of one or more finished jobs (blocks until there is one)."""

    def close(self, now: bool = False) -> None:
        """now: the fit was interrupted or failed; stop at once rather than let jobs finish."""

    def __enter__(self):
        return self

    def __exit__(self, exc_type, *exc):
        self.close(now=exc_type is not None)
