"""Scoring functions. Every metric is reported so that greater is better (`sign` flips losses)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy.stats import rankdata
from sklearn import metrics as skm

from .scorers import SklearnScorer, scorer_problem_types


@dataclass(frozen=True)
class Metric:
    """fn(y_true, pred, sample_weight) -> float, on encoded labels (class codes, or floats for regression)
    and a prediction matrix of shape (n, C). needs_threshold: a binary metric on hard labels whose
    score depends on where the probability is cut (F1, MCC, ...), so calibrating that cut can pay."""
    name: str
    fn: Callable[..., float]
    greater_is_better: bool
    needs_proba: bool
    problem_types: tuple[str, ...]
    needs_threshold: bool = False
    custom: bool = False  # not one of the names below: a saved model keeps only its name

    def score(self, y_true: np.ndarray, pred: np.ndarray, sample_weight: np.ndarray | None = None) -> float:
        """Score from encoded labels and a prediction matrix of shape (n, C)."""
        return float(self.fn(y_true, pred, sample_weight))

    def error(self, y_true: np.ndarray, pred: np.ndarray, sample_weight: np.ndarray | None = None) -> float:
        """Lower is better, whatever the metric: what ensemble selection minimises."""
        s = self.score(y_true, pred, sample_weight)
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


# Named functions, not lambdas: a predictor (and the scikit-learn wrappers) must pickle.
def _auc(y, p, w):
    if w is not None:
        return skm.roc_auc_score(y, p[:, 1], sample_weight=w) if p.shape[1] == 2 else \
            skm.roc_auc_score(y, p, multi_class="ovr", sample_weight=w, labels=np.arange(p.shape[1]))
    if p.shape[1] == 2:
        return binary_auc(np.asarray(y) == 1, p[:, 1])
    present = np.unique(y)
    if len(present) < p.shape[1]:  # one-vs-rest over the classes present in this sample
        q = p[:, present] / np.clip(p[:, present].sum(1, keepdims=True), 1e-12, None)
        return skm.roc_auc_score(np.searchsorted(present, y), q, multi_class="ovr") if len(present) > 2 \
            else binary_auc(y == present[1], q[:, 1])
    return skm.roc_auc_score(y, p, multi_class="ovr")


def _log_loss(y, p, w):
    return skm.log_loss(y, np.clip(p, 1e-15, 1), labels=np.arange(p.shape[1]), sample_weight=w)


def _average_precision(y, p, w):
    return skm.average_precision_score(np.asarray(y) == 1, p[:, 1], sample_weight=w)


def _accuracy(y, p, w):
    return skm.accuracy_score(y, _labels(p), sample_weight=w)


def _balanced_accuracy(y, p, w):
    return skm.balanced_accuracy_score(y, _labels(p), sample_weight=w)


def _f1(y, p, w):
    return skm.f1_score(y, _labels(p), sample_weight=w, zero_division=0)


def _f1_macro(y, p, w):
    return skm.f1_score(y, _labels(p), average="macro", labels=np.arange(p.shape[1]), sample_weight=w, zero_division=0)


def _f1_micro(y, p, w):
    return skm.f1_score(y, _labels(p), average="micro", sample_weight=w, zero_division=0)


def _f1_weighted(y, p, w):
    return skm.f1_score(y, _labels(p), average="weighted", sample_weight=w, zero_division=0)


def _precision(y, p, w):
    return skm.precision_score(y, _labels(p), sample_weight=w, zero_division=0)


def _recall(y, p, w):
    return skm.recall_score(y, _labels(p), sample_weight=w, zero_division=0)


def _mcc(y, p, w):
    return skm.matthews_corrcoef(y, _labels(p), sample_weight=w)


def _quadratic_kappa(y, p, w):
    """Cohen's kappa with quadratic weights on the class codes (the classes in their sorted order)."""
    return skm.cohen_kappa_score(y, _labels(p), weights="quadratic", labels=np.arange(p.shape[1]), sample_weight=w)


def _r2(y, p, w):
    return skm.r2_score(y, p[:, 0], sample_weight=w)


def _mse(y, p, w):
    return skm.mean_squared_error(y, p[:, 0], sample_weight=w)


def _rmse(y, p, w):
    return float(np.sqrt(skm.mean_squared_error(y, p[:, 0], sample_weight=w)))


def _mae(y, p, w):
    return skm.mean_absolute_error(y, p[:, 0], sample_weight=w)


def _rmsle(y, p, w):
    """Predictions below zero count as zero (the log needs them >= 0; a model of the mean may dip below)."""
    return float(np.sqrt(skm.mean_squared_log_error(y, np.clip(p[:, 0], 0, None), sample_weight=w)))


def _mape(y, p, w):
    return skm.mean_absolute_percentage_error(y, p[:, 0], sample_weight=w)


def _pinball(y, p, w):
    """At the median (alpha 0.5); another quantile is make_scorer(mean_pinball_loss, alpha=...)."""
    return skm.mean_pinball_loss(y, p[:, 0], alpha=0.5, sample_weight=w)


_CLS = ("binary", "multiclass")
_BIN = ("binary",)
_REG = ("regression",)
METRICS: dict[str, Metric] = {
    m.name: m
    for m in [
        Metric("accuracy", _accuracy, True, False, _CLS),
        Metric("balanced_accuracy", _balanced_accuracy, True, False, _CLS, needs_threshold=True),
        Metric("roc_auc", _auc, True, True, _CLS),
        Metric("log_loss", _log_loss, False, True, _CLS),
        Metric("average_precision", _average_precision, True, True, _BIN),
        Metric("f1", _f1, True, False, _BIN, needs_threshold=True),
        Metric("f1_macro", _f1_macro, True, False, _CLS, needs_threshold=True),
        Metric("f1_micro", _f1_micro, True, False, _CLS, needs_threshold=True),
        Metric("f1_weighted", _f1_weighted, True, False, _CLS, needs_threshold=True),
        # not calibrated by default: alone, each is best at a degenerate cut (nothing or everything positive)
        Metric("precision", _precision, True, False, _BIN),
        Metric("recall", _recall, True, False, _BIN),
        Metric("mcc", _mcc, True, False, _CLS, needs_threshold=True),
        Metric("quadratic_kappa", _quadratic_kappa, True, False, _CLS, needs_threshold=True),
        Metric("r2", _r2, True, False, _REG),
        Metric("mse", _mse, False, False, _REG),
        Metric("rmse", _rmse, False, False, _REG),
        Metric("mae", _mae, False, False, _REG),
        Metric("rmsle", _rmsle, False, False, _REG),
        Metric("mape", _mape, False, False, _REG),
        Metric("pinball_loss", _pinball, False, False, _REG),
    ]
}
# AutoGluon's and scikit-learn's spellings of the same metrics
ALIASES = {"acc": "accuracy", "auc": "roc_auc", "logloss": "log_loss",
           "root_mean_squared_error": "rmse", "mean_squared_error": "mse", "mean_absolute_error": "mae",
           "root_mean_squared_log_error": "rmsle", "mean_absolute_percentage_error": "mape", "pinball": "pinball_loss",
           "ap": "average_precision", "pr_auc": "average_precision", "matthews_corrcoef": "mcc", "qwk": "quadratic_kappa",
           "f1_binary": "f1"}
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


def _lookup(name) -> Metric | None:
    """One of ours by name or alias; None for anything else."""
    if isinstance(name, Metric):
        return name
    if not isinstance(name, str):
        return None
    return METRICS.get(ALIASES.get(name.lower(), name.lower()))


def _known() -> str:
    return f"{sorted(METRICS)}, a scikit-learn scorer name (sklearn.metrics.get_scorer_names()) or a " \
           "scorer made with sklearn.metrics.make_scorer"


def metric_problem_types(name) -> tuple[str, ...]:
    metric = _lookup(name)
    if metric is not None:
        return metric.problem_types
    if isinstance(name, str) and name not in skm.get_scorer_names():
        raise ValueError(f"eval_metric={name!r} is not known; choose one of {_known()}")
    return scorer_problem_types(skm.get_scorer(name) if isinstance(name, str) else name, name)


def get_metric(name, problem_type: str, classes=None) -> Metric:
    """name: one of METRICS (or an alias), a Metric, a scikit-learn scorer name, or a scorer object.
    classes: the label's classes in code order (scorers see the labels in their own values)."""
    metric = _lookup(name)
    if metric is None:
        metric_problem_types(name)  # unknown names fail here
        scorer = skm.get_scorer(name) if isinstance(name, str) else name
        if not callable(scorer):
            raise ValueError(f"eval_metric={name!r} is neither a name nor a callable; choose one of {_known()}")
        label = name if isinstance(name, str) else getattr(getattr(scorer, "_score_func", None), "__name__", "custom")
        fn = SklearnScorer(scorer, None if problem_type == "regression" else classes)
        return Metric(label, fn, True, False, (problem_type,), custom=not isinstance(name, str))
    if problem_type not in metric.problem_types:
        hint = "; for several classes f1_macro, f1_micro or f1_weighted" if metric.name == "f1" else ""
        raise ValueError(
            f"eval_metric={metric.name!r} does not apply to a {problem_type} problem{hint}; "
            f"choose one of {sorted(k for k, m in METRICS.items() if problem_type in m.problem_types)} "
            f"or set problem_type to match the metric"
        )
    return metric


def check_metric(metric: Metric, y: np.ndarray, n_outputs: int) -> None:
    """Score a trivial prediction once, so that a metric that cannot work on this label fails before the fit."""
    n = min(len(y), 200)
    sample = y[:n]
    pred = np.full((n, n_outputs), 1.0 / n_outputs) if n_outputs > 1 else np.full((n, 1), float(np.mean(sample)))
    try:
        metric.score(sample, pred)
    except (TypeError, AttributeError) as exc:
        raise ValueError(f"eval_metric={metric.name!r} could not score predictions ({exc}); a callable must be a "
                         "scikit-learn scorer: sklearn.metrics.make_scorer(fn, greater_is_better=...)") from exc
    except ValueError as exc:
        if metric.name == "rmsle" and (np.asarray(y) < 0).any():
            raise ValueError("eval_metric='rmsle' needs a label >= 0; this one has negative values") from exc
        if "one class" in str(exc) or "Only one class" in str(exc):
            return  # a sample of one class; the folds hold both
        hint = "; pass pos_label= to make_scorer" if "pos_label" in str(exc) else ""
        raise ValueError(f"eval_metric={metric.name!r} cannot score this label: {str(exc).splitlines()[0]}{hint}"
                         ) from exc


def report(y: np.ndarray, pred: np.ndarray, problem_type: str, sample_weight=None, threshold=None
           ) -> dict[str, float]:
    """Every metric that applies to the problem type, for `evaluate`; for a binary label, the metrics of
    hard labels see the classes cut at `threshold` (None: 0.5)."""
    out = {}
    labels = hard(pred[:, 1], threshold) if problem_type == "binary" and threshold is not None else pred
    for name, m in METRICS.items():
        if problem_type in m.problem_types:
            try:
                out[name] = m.score(y, pred if m.needs_proba else labels, sample_weight)
            except ValueError:  # e.g. AUC on a sample with one class
                out[name] = float("nan")
    return out


def hard(p1: np.ndarray, threshold: float) -> np.ndarray:
    """Binary probabilities of the positive class -> one-hot predictions cut at `threshold`."""
    positive = (np.asarray(p1) >= threshold).astype(np.float64)
    return np.column_stack([1 - positive, positive])


def apply_threshold(proba: np.ndarray, threshold: float | None) -> np.ndarray:
    """What argmax turns into the predicted class: the one-hot cut for a binary label with a threshold."""
    return proba if threshold is None or proba.shape[1] != 2 else hard(proba[:, 1], threshold)


def best_threshold(metric: Metric, y: np.ndarray, p1: np.ndarray, sample_weight=None) -> float:
    """The cut of the positive class's probability that scores best on (y, p1); ties go to the cut
    nearest 0.5, so that the threshold moves only when the metric says so."""
    cuts, scores = cut_scores(metric, y, p1, sample_weight, n=99)
    best = np.flatnonzero(metric.sign * scores >= np.max(metric.sign * scores) - 1e-12)
    return float(cuts[best[np.argmin(np.abs(cuts[best] - 0.5))]])


def _cut_counts(y, p1, w):
    """Weighted true and false positives when the top k rows (by p1, ties kept together) are called
    positive, for every k from none to all."""
    order = np.argsort(-p1, kind="stable")
    ys, ws, ps = np.asarray(y)[order] == 1, (np.ones(len(p1)) if w is None else np.asarray(w)[order]), p1[order]
    last = np.r_[np.flatnonzero(np.diff(ps) != 0), len(ps) - 1]  # the end of each group of tied scores
    tp, fp = np.cumsum(ws * ys)[last], np.cumsum(ws * ~ys)[last]
    return np.r_[0.0, tp], np.r_[0.0, fp]


def _confusion_scores(name: str, tp, fp, pos: float, neg: float):
    fn, tn = pos - tp, neg - fp
    with np.errstate(divide="ignore", invalid="ignore"):
        if name == "f1":
            out = 2 * tp / (2 * tp + fp + fn)
        elif name == "precision":
            out = tp / (tp + fp)
        elif name == "recall":
            out = tp / pos
        elif name == "balanced_accuracy":
            out = (tp / pos + tn / neg) / 2
        elif name in ("f1_macro", "f1_weighted"):  # the negative class's F1 from the same counts, seen from its side
            f1_pos, f1_neg = 2 * tp / (2 * tp + fp + fn), 2 * tn / (2 * tn + fn + fp)
            f1_pos, f1_neg = np.nan_to_num(f1_pos, nan=0.0), np.nan_to_num(f1_neg, nan=0.0)
            out = (f1_pos + f1_neg) / 2 if name == "f1_macro" else (pos * f1_pos + neg * f1_neg) / (pos + neg)
        elif name == "f1_micro":
            out = (tp + tn) / (pos + neg)
        elif name == "quadratic_kappa":  # two classes: the weights are those of Cohen's plain kappa
            n = pos + neg
            out = 1 - (fp + fn) / ((pos * (tn + fn) + neg * (tp + fp)) / n)
        else:  # mcc
            out = (tp * tn - fp * fn) / np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    return np.nan_to_num(out, nan=0.0)


FAST_CUTS = ("f1", "precision", "recall", "balanced_accuracy", "mcc", "f1_macro", "f1_micro", "f1_weighted",
             "quadratic_kappa")


def cut_scores(metric: Metric, y: np.ndarray, p1: np.ndarray, sample_weight=None, n: int = 25
               ) -> tuple[np.ndarray, np.ndarray]:
    """Cuts of the positive class's probability (p1 >= cut is positive) and the metric at each, 0.5
    among them. F1 (and its averages), precision, recall, balanced accuracy, MCC and kappa: every cut that changes a prediction
    (midway between neighbouring scores), all at once from cumulative counts; other metrics: 0.01 to
    0.99 and `n` quantiles of p1, scored one by one."""
    p1 = np.asarray(p1, dtype=np.float64)
    if metric.name not in FAST_CUTS:
        cuts = np.unique(np.r_[0.5, np.linspace(0.01, 0.99, 99), np.quantile(p1, np.linspace(0, 1, n + 2)[1:-1])])
        return cuts, np.array([metric.score(y, hard(p1, t), sample_weight) for t in cuts])
    tp, fp = _cut_counts(y, p1, sample_weight)
    scores = _confusion_scores(metric.name, tp, fp, tp[-1], fp[-1])
    values = np.unique(p1)[::-1]  # the top k distinct scores are positive at cut k
    top = min(1.0, float(np.nextafter(values[0], np.inf)))
    cuts = np.r_[top, (values[:-1] + values[1:]) / 2, values[-1] / 2 if values[-1] > 0 else values[-1]]
    k_half = int(np.sum(values >= 0.5))
    return np.r_[cuts, 0.5], np.r_[scores, scores[k_half]]


def score_at_best_cut(metric: Metric, y: np.ndarray, proba: np.ndarray, sample_weight=None) -> float:
    """A binary metric of hard labels at the positive-class cut that suits it best: what ensemble
    selection maximises when predict will use a calibrated threshold, so that the blend is chosen for
    the score it will have."""
    _, scores = cut_scores(metric, y, proba[:, 1], sample_weight)
    return float(np.max(metric.sign * scores) * metric.sign)
