"""scikit-learn scorers as automm metrics: every name of sklearn.metrics.get_scorer_names() and any
make_scorer(...) of a label-, probability- or threshold-based function.

A scorer sees predictions as a fitted scikit-learn estimator would give them: labels in their own
values and dtype (bool, int or str; an object array would make scikit-learn's type_of_target answer
"unknown" and refuse it), probabilities in the order of `classes_`, and for a binary label the
positive class (automm's second class) as pos_label when the function's own default would not name
one of the classes (pos_label=1 for "yes"/"no").
"""
from __future__ import annotations

import copy
import inspect

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin

CLASSIFICATION, REGRESSION = ("binary", "multiclass"), ("regression",)


def _score_func(scorer):
    return getattr(scorer, "_score_func", None)


def scorer_problem_types(scorer, name) -> tuple[str, ...]:
    """The problem types a scorer applies to, from where its function lives: scikit-learn's regression
    metrics score numbers, its classification, ranking and clustering metrics score labels. A scorer of
    multilabel targets (the *_samples averages) is refused: automm fits one label per row."""
    fn = _score_func(scorer)
    module = getattr(fn, "__module__", "") or ""
    kwargs = getattr(scorer, "_kwargs", {}) or {}
    if kwargs.get("average") == "samples":
        raise ValueError(f"eval_metric={name!r} averages over the labels of a multilabel target, which automm "
                         "does not fit (one label per row); use the _macro, _micro or _weighted average")
    if module.startswith("sklearn.metrics._regression"):
        return REGRESSION
    if module.startswith(("sklearn.metrics._classification", "sklearn.metrics._ranking", "sklearn.metrics.cluster")):
        if kwargs.get("average", _default(fn, "average")) == "binary":
            return ("binary",)
        return CLASSIFICATION
    if isinstance(name, str) and "likelihood_ratio" in name:
        return ("binary",)
    return CLASSIFICATION + REGRESSION  # a function of the user's own: the label decides


def _default(fn, param: str):
    try:
        p = inspect.signature(fn).parameters.get(param)
    except (TypeError, ValueError):
        return None
    return None if p is None or p.default is inspect.Parameter.empty else p.default


def _natural(classes) -> np.ndarray:
    """The classes as numpy would type them (bool, int64, <U...), not as an object array."""
    arr = np.asarray(list(classes))
    return arr if arr.dtype != object else np.asarray([str(c) for c in classes])


def _left_open(scorer, param: str) -> bool:
    """Whether the scorer's function takes `param` and the scorer was not given it (make_scorer's kwargs)."""
    fn, kwargs = _score_func(scorer), getattr(scorer, "_kwargs", None)
    if fn is None or kwargs is None or param in kwargs:
        return False
    try:
        return param in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


def _given(scorer, param: str, value):
    scorer = copy.copy(scorer)  # the caller's scorer stays as it was
    scorer._kwargs = {**scorer._kwargs, param: value}
    return scorer


def _with_all_classes(scorer, classes: np.ndarray):
    """`scorer`, given labels=classes when its function takes them and was not given them: a fold, or a
    sample of predictions, that lacks a class must still be scored over all of them (log loss, Brier,
    top-k accuracy and the multiclass AUC refuse otherwise)."""
    if len(classes) < 3 or not _left_open(scorer, "labels"):
        return scorer
    return _given(scorer, "labels", classes)


def _with_positive_class(scorer, classes: np.ndarray):
    """`scorer`, given pos_label=classes[1] when it takes one, was not given one, and its own default
    would not name one of the classes (None works for {0, 1} and {-1, 1} only)."""
    if len(classes) != 2 or not _left_open(scorer, "pos_label"):
        return scorer
    default = _default(_score_func(scorer), "pos_label")
    numeric = classes.dtype.kind in "biuf"
    fine = (numeric and set(classes.tolist()) <= {-1, 0, 1}) if default is None else default in classes.tolist()
    return scorer if fine else _given(scorer, "pos_label", classes[1].item())


class _Predictions(ClassifierMixin, BaseEstimator):
    """What a scikit-learn scorer calls: an estimator whose predictions are already made."""

    def __init__(self, pred=None, classes=None):
        self.pred, self.classes = pred, classes

    @property
    def classes_(self):
        return self.classes

    def predict(self, X):
        return self.classes[self.pred.argmax(1)]

    def predict_proba(self, X):
        return self.pred

    def decision_function(self, X):
        return self.pred[:, 1] if self.pred.shape[1] == 2 else self.pred


# Deviances need predictions > 0 and the squared log error predictions > -1; a model of the mean may dip
# below, which would stop the fit. As automm's own rmsle does, such predictions count as the floor.
_FLOORS = {"mean_poisson_deviance": 1e-9, "mean_gamma_deviance": 1e-9, "mean_tweedie_deviance": 1e-9,
           "mean_squared_log_error": 0.0, "root_mean_squared_log_error": 0.0}


class _Regression(RegressorMixin, BaseEstimator):
    def __init__(self, pred=None, floor=None):
        self.pred, self.floor = pred, floor

    def predict(self, X):
        return self.pred[:, 0] if self.floor is None else np.maximum(self.pred[:, 0], self.floor)


class SklearnScorer:
    """A scikit-learn scorer (sklearn.metrics.make_scorer(...), or a name from get_scorer_names()) as a
    metric function: it sees the labels in their own values, and its output is greater-is-better."""

    def __init__(self, scorer, classes=None):
        self.classes = None if classes is None else _natural(classes)
        self.scorer = scorer if self.classes is None else \
            _with_all_classes(_with_positive_class(scorer, self.classes), self.classes)
        self.floor = _FLOORS.get(getattr(_score_func(scorer), "__name__", None))

    def __call__(self, y, p, w):
        if self.classes is None:
            est, y_true = _Regression(p, self.floor), y
        else:
            est, y_true = _Predictions(p, self.classes), self.classes[np.asarray(y, dtype=int)]
        return float(self.scorer(est, p, y_true, **({} if w is None else {"sample_weight": w})))
