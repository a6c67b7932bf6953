"""Scoring functions. Every metric is reported so that greater is better (`sign` flips losses)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy.stats import rankdata
from sklearn import metrics as skm


@dataclass(frozen=True)
class Metric:
    name: str
    fn: Callable[..., float]
    greater_is_better: bool
    needs_proba: bool
    problem_types: tuple[str, ...]

    def score(self, y_true: np.ndarray, pred: np.ndarray) -> float:
        """Score from encoded labels and a prediction matrix of shape (n, C)."""
        return float(self.fn(y_true, pred))

    def error(self, y_true: np.ndarray, pred: np.ndarray) -> float:
        """Lower is better, whatever the metric: what ensemble selection minimises."""
        s = self.score(y_true, pred)
        return -s if self.greater_is_better else s

    @property
    def sign(self) -> float:
        return 1.0 if self.greater_is_better else -1.0


def _labels(pred: np.ndarray) -> np.ndarray:
    return pred.argmax(axis=1)


def binary_auc(positive: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC as the Mann-Whitney statistic over average ranks (ties count one half): sklearn's value,
    some 30 times faster, which matters to ensemble selection's hundreds of scorings."""
    positive = np.asarray(positive, dtype=bool)
    n_pos = int(positive.sum())
    n_neg = len(positive) - n_pos
    if n_pos == 0 or n_neg == 0:
        raise ValueError("Only one class present in y_true. ROC AUC score is not defined in that case.")
    ranks = rankdata(score)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _auc(y, p):
    if p.shape[1] == 2:
        return binary_auc(np.asarray(y) == 1, p[:, 1])
    present = np.unique(y)
    if len(present) < p.shape[1]:  # one-vs-rest over the classes present in this sample
        q = p[:, present] / np.clip(p[:, present].sum(1, keepdims=True), 1e-12, None)
        return skm.roc_auc_score(np.searchsorted(present, y), q, multi_class="ovr") if len(present) > 2 \
            else binary_auc(y == present[1], q[:, 1])
    return skm.roc_auc_score(y, p, multi_class="ovr")


def _log_loss(y, p):
    return skm.log_loss(y, np.clip(p, 1e-15, 1), labels=np.arange(p.shape[1]))


def _f1(y, p):
    avg = "binary" if p.shape[1] == 2 else "macro"
    return skm.f1_score(y, _labels(p), average=avg)


# Named functions, not lambdas: a predictor (and the scikit-learn wrappers) must pickle.
def _accuracy(y, p):
    return skm.accuracy_score(y, _labels(p))


def _balanced_accuracy(y, p):
    return skm.balanced_accuracy_score(y, _labels(p))


def _r2(y, p):
    return skm.r2_score(y, p[:, 0])


def _rmse(y, p):
    return float(np.sqrt(skm.mean_squared_error(y, p[:, 0])))


def _mae(y, p):
    return skm.mean_absolute_error(y, p[:, 0])


_CLS = ("binary", "multiclass")
_REG = ("regression",)
METRICS: dict[str, Metric] = {
    m.name: m
    for m in [
        Metric("accuracy", _accuracy, True, False, _CLS),
        Metric("balanced_accuracy", _balanced_accuracy, True, False, _CLS),
        Metric("roc_auc", _auc, True, True, _CLS),
        Metric("log_loss", _log_loss, False, True, _CLS),
        Metric("f1", _f1, True, False, _CLS),
        Metric("r2", _r2, True, False, _REG),
        Metric("rmse", _rmse, False, False, _REG),
        Metric("mae", _mae, False, False, _REG),
    ]
}
ALIASES = {"acc": "accuracy", "auc": "roc_auc", "logloss": "log_loss", "root_mean_squared_error": "rmse",
           "mean_absolute_error": "mae", "f1_macro": "f1"}
DEFAULT_METRIC = {"binary": "roc_auc", "multiclass": "accuracy", "regression": "rmse"}


# each library's name for the metrics it can stop early on; on any other metric it stops on the loss
LIBRARY_METRICS = {
    "lightgbm": {"roc_auc": "auc", "mae": "l1"},
    "xgboost": {"roc_auc": "auc", "mae": "mae"},
    "catboost": {"roc_auc": "AUC", "mae": "MAE"},
}


def library_metric(library: str, metric: Metric, problem_type: str, loss: str) -> str:
    """`library`'s name for `metric` when it can stop on it (ROC AUC for binary problems only), else `loss`."""
    if metric.name == "roc_auc" and problem_type != "binary":
        return loss
    return LIBRARY_METRICS[library].get(metric.name, loss)


def _lookup(name: str) -> Metric:
    key = ALIASES.get(str(name).lower(), str(name).lower())
    if key not in METRICS:
        raise ValueError(f"eval_metric={name!r} is not known; choose one of {sorted(METRICS)}")
    return METRICS[key]


def metric_problem_types(name: str) -> tuple[str, ...]:
    return _lookup(name).problem_types


def get_metric(name: str, problem_type: str) -> Metric:
    metric = _lookup(name)
    if problem_type not in metric.problem_types:
        raise ValueError(
            f"eval_metric={name!r} does not apply to a {problem_type} problem; "
            f"choose one of {sorted(k for k, m in METRICS.items() if problem_type in m.problem_types)} "
            f"or set problem_type to match the metric"
        )
    return metric


def report(y: np.ndarray, pred: np.ndarray, problem_type: str) -> dict[str, float]:
    """Every metric that applies to the problem type, for `evaluate`."""
    out = {}
    for name, m in METRICS.items():
        if problem_type in m.problem_types:
            try:
                out[name] = m.score(y, pred)
            except ValueError:  # e.g. AUC on a sample with one class
                out[name] = float("nan")
    return out
