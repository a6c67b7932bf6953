"""The model protocol, the registry of model types, and the deadline every model honours."""
from __future__ import annotations

import importlib
import importlib.util
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np

from ..budget import time_left  # noqa: F401  (models import it from here)
from ..features import FeatureSet
from ..task import Monitor, Task  # noqa: F401  (the model protocol's types, re-exported for plug-ins)


@dataclass
class FitRecord:
    """What a model's fit learned, saved with it and read by the rest of automm.

    iterations: the rounds or epochs it kept (early-stopped); a refit on all rows trains that many.
    hit_deadline: the deadline, not early stopping, ended it. tuned: what its first fold tuned (a
    regularisation strength, a search's best parameters) that the other folds and a refit reuse.
    search: the hyperparameter search's summary. extra: the model's own facts (a net's input widths),
    which only the model reads."""
    iterations: int | None = None
    hit_deadline: bool = False
    tuned: dict = field(default_factory=dict)
    search: dict | None = None
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """Flat, as saved in the manifest."""
        out = {k: v for k, v in (("iterations", self.iterations), ("hit_deadline", self.hit_deadline),
                                 ("tuned", self.tuned), ("search", self.search)) if v is not None}
        return {**self.extra, **out}

    @classmethod
    def from_dict(cls, d: dict) -> "FitRecord":
        known = {f: d[f] for f in ("iterations", "hit_deadline", "tuned", "search") if f in d}
        return cls(**known, extra={k: v for k, v in d.items() if k not in known})


class BaseModel(ABC):
    """What every model is. The registry (`register_model`) says where a model lives and what it costs;
    the class says how it trains. Class attributes, with their defaults:

    search_space: the hyperparameters a search samples (automm.search.Real, Int, Choice), each with
        the default the first trial uses. rounds_param: the parameter that fixes the number of rounds
        or epochs when refit_full trains on all rows (None: the model has none). report_every /
        prune_after: how often the model tells `monitor` its validation loss, and from which step a
        search may prune it. (That it tunes something on its first fold is said where it is
        registered, `ModelSpec.tunes_on_first_fold`: the fit plans its folds without importing it.)
    """
    name: ClassVar[str] = ""
    search_space: ClassVar[dict] = {}
    rounds_param: ClassVar[str | None] = None
    report_every: ClassVar[int] = 1
    prune_after: ClassVar[int] = 3

    def __init__(self, **params):
        self.params = params
        self.info = FitRecord()  # what training learned that the other folds and a refit need

    @classmethod
    def check_params(cls, params: dict) -> None:
        """Raise ValueError for parameters the model does not know or cannot use, before any work."""

    @abstractmethod
    def fit(self, X: FeatureSet, y: np.ndarray, X_val: FeatureSet | None, y_val: np.ndarray | None, task: Task,
            deadline: float, monitor: Monitor | None = None) -> "BaseModel":
        """deadline: time.monotonic() by which to stop, keeping the best so far. X_val None: no early
        stopping (a refit on all rows with the rounds fixed by params). monitor: told the validation
        loss as training goes; a True answer stops the fit (how a search prunes a hopeless trial)."""

    @abstractmethod
    def predict(self, X: FeatureSet) -> np.ndarray:
        """(n, task.n_outputs): one column for regression, one probability per class."""

    @abstractmethod
    def save(self, prefix: Path) -> list[str]:
        """Write the model next to `prefix` in its library's own format; return the file names."""

    @classmethod
    @abstractmethod
    def load(cls, prefix: Path, info: FitRecord, task: Task) -> "BaseModel": ...


@dataclass(frozen=True)
class ModelSpec:
    name: str
    module: str            # the dotted module path, imported only when the model is used
    cls: str
    requires: str          # the library it needs, to say what to install
    install: str
    time_weight: float     # its share of a layer's time, relative to the others
    memory_mb: float = 100  # what fitting it needs beyond the data, to plan parallel workers
    data_copies: float = 2  # and how many times the training data it holds while fitting
    neural: bool = False    # a torch model: one at a time on a GPU; needs the embeddings when frozen
    text_tokens: bool = False  # reads the text as static-tier tokens: needs a text column, never fine-tuned
    # the FeatureSet views it reads (dense, linear, neural): a fold's rows are copied of these only
    reads: tuple[str, ...] = ("dense", "linear", "neural")
    # it tunes something on its first fold (returned in info.tuned) that the other folds reuse, so
    # that fold gets a double share of the time
    tunes_on_first_fold: bool = False

    @property
    def import_path(self) -> str:
        return self.module


REGISTRY: dict[str, ModelSpec] = {s.name: s for s in [
    ModelSpec("linear", "automm.models.linear", "LinearModel", "sklearn", "scikit-learn", 1.0, 50, 3, reads=("linear",),
              tunes_on_first_fold=True),  # its own search over the regularisation strength
    ModelSpec("lightgbm", "automm.models.lgbm", "LightGBMModel", "lightgbm", "lightgbm", 1.0, 150, 1.5,
              reads=("dense",)),
    ModelSpec("xgboost", "automm.models.xgb", "XGBoostModel", "xgboost", "automm[xgboost]", 1.0, 250, 1.5,
              reads=("dense",)),
    ModelSpec("catboost", "automm.models.catboost_model", "CatBoostModel", "catboost", "automm[catboost]", 1.4, 400, 4,
              reads=("dense",)),
    # torch itself is some 400 MB; fine-tuning adds the backbone, its gradients and Adam's state
    ModelSpec("fusion_late", "automm.models.fusion", "LateFusionModel", "torch", "automm[neural]", 1.0, 900, 2,
              neural=True, reads=("neural",)),
    ModelSpec("fusion_early", "automm.models.fusion", "EarlyFusionModel", "torch", "automm[neural]", 1.0, 900, 2,
              neural=True, reads=("neural",)),
    # the static token table (30k x 256) and Adam's state of it: some 100 MB
    ModelSpec("fusion_tokens", "automm.models.fusion", "TokenFusionModel", "torch", "automm[neural]", 1.0, 400, 2,
              neural=True, text_tokens=True, reads=("neural",)),
]}


def register_model(name: str, target: str, requires: str, install: str | None = None, time_weight: float = 1.0,
                   memory_mb: float = 100, data_copies: float = 2, neural: bool = False,
                   reads: tuple[str, ...] = ("dense", "linear", "neural"), tunes_on_first_fold: bool = False
                   ) -> ModelSpec:
    """Make a model type available by name to `hyperparameters`, the presets and the workers.

    target: "package.module:ClassName" of a BaseModel subclass, imported only when the model is used
    (the worker processes import it too, so it must be importable there). requires: the library it
    needs, to say what to install when it is missing. reads: the FeatureSet views its `fit` and
    `predict` use (a fold's rows are copied of these only). tunes_on_first_fold: see ModelSpec."""
    module, sep, cls = target.partition(":")
    if not sep or not module or not cls:
        raise ValueError(f"register_model target must be 'package.module:ClassName', not {target!r}")
    unknown = set(reads) - {"dense", "linear", "neural"}
    if unknown:
        raise ValueError(f"register_model reads={reads!r}: {sorted(unknown)} are not views; use dense, linear, neural")
    spec = ModelSpec(name, module, cls, requires, install or requires, time_weight, memory_mb, data_copies, neural,
                     reads=tuple(reads), tunes_on_first_fold=tunes_on_first_fold)
    REGISTRY[name] = spec
    return spec


def is_neural(name: str) -> bool:
    return name in REGISTRY and REGISTRY[name].neural


def is_available(name: str) -> bool:
    """Whether the model's library is installed; found, not imported (torch alone takes 3 s to import)."""
    try:
        return importlib.util.find_spec(REGISTRY[name].requires) is not None
    except (ImportError, ValueError):
        return False


def require_model(name: str) -> ModelSpec:
    """The model's spec, or an ImportError that says what to install; nothing is imported."""
    if name not in REGISTRY:
        raise ValueError(f"model {name!r} is not registered; known models: {sorted(REGISTRY)}")
    spec = REGISTRY[name]
    if not is_available(name):
        raise ImportError(f"model {name!r} needs the {spec.requires} package: pip install '{spec.install}'")
    return spec


def model_class(name: str) -> type:
    spec = require_model(name)
    return getattr(importlib.import_module(spec.import_path), spec.cls)


def model_file(prefix: Path, ext: str) -> Path:
    """`models/lightgbm_L1.fold0` + `.lgb.txt` (Path.with_suffix would eat the `.fold0`)."""
    return prefix.parent / (prefix.name + ext)


def to_matrix(raw: np.ndarray, task: Task) -> np.ndarray:
    """Library output (n,), (n, C) or binary positive-class probabilities -> (n, n_outputs)."""
    raw = np.asarray(raw, dtype=np.float64)
    if task.is_regression:
        return raw.reshape(-1, 1)
    if task.is_binary and (raw.ndim == 1 or raw.shape[1] == 1):
        p = raw.reshape(-1)
        return np.column_stack([1 - p, p])
    return raw


def expand_classes(proba: np.ndarray, present: np.ndarray, n_classes: int) -> np.ndarray:
    """Probabilities over the classes a fold saw -> over all classes (absent ones get 0)."""
    out = np.zeros((proba.shape[0], n_classes))
    out[:, np.asarray(present, dtype=int)] = proba
    return out


class DeadlineCallback:
    """Tracks the best validation score and stops on patience or when the deadline passes."""

    def __init__(self, deadline: float, patience: int, higher_better: bool, monitor: Monitor | None = None):
        self.deadline, self.patience, self.higher_better = deadline, patience, higher_better
        self.monitor = monitor
        self.best_score, self.best_iter, self.hit_deadline, self.pruned = None, 0, False, False

    def update(self, iteration: int, score: float | None = None) -> bool:
        """Returns True when training should stop. Without a score (no validation set: a refit
        for a fixed number of rounds) every iteration counts as the best and only time stops it."""
        if score is None:
            self.best_iter = iteration
        elif self.best_score is None or (score > self.best_score if self.higher_better else score < self.best_score):
            self.best_score, self.best_iter = score, iteration
        if time.monotonic() > self.deadline:
            self.hit_deadline = True
            return True
        if self.monitor is not None and score is not None:
            if self.monitor(iteration, -score if self.higher_better else score):
                self.pruned = True
                return True
        return iteration - self.best_iter >= self.patience



def tiny_data(rows: int = 40, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A small random binary problem, for the dry runs that check user parameters before any work."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, 3))
    return X, (X[:, 0] > 0).astype(float)


def fixed_params(params: dict, drop: tuple = ()) -> dict:
    """The plain values of user parameters (search spaces are checked when they are sampled)."""
    from ..search import SPACES
    return {k: v for k, v in params.items() if not isinstance(v, SPACES) and k not in drop}


def bad_params(model: str, exc: Exception) -> ValueError:
    msg = str(exc).strip().splitlines()
    return ValueError(f"hyperparameters[{model!r}] are not valid for it: {msg[-1] if msg else type(exc).__name__}")
