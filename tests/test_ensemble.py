import numpy as np

from automm.ensemble import ensemble_selection
from automm.folds import make_folds
from automm.metrics import get_metric
from automm.models import Task


def test_caruana_is_at_least_the_best_single_model():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 1000)
    signal = y + rng.normal(scale=1.0, size=(4, 1000))
    oofs = [np.column_stack([1 - p, p]) for p in 1 / (1 + np.exp(-signal))]
    task = Task("binary", 2, get_metric("roc_auc", "binary"))
    w = ensemble_selection(oofs, y, task)
    assert np.isclose(w.sum(), 1) and (w >= 0).all()
    blend = sum(wi * p for wi, p in zip(w, oofs))
    best_single = max(task.metric.score(y, p) for p in oofs)
    assert task.metric.score(y, blend) > best_single  # independent errors: the blend must gain


def test_caruana_regression_prefers_the_good_model():
    rng = np.random.default_rng(1)
    y = rng.normal(size=500)
    good, bad = (y + rng.normal(scale=0.1, size=500))[:, None], rng.normal(size=(500, 1))
    w = ensemble_selection([bad, good], y, Task("regression", 0, get_metric("r2", "regression")))
    assert w[1] > 0.9


def test_folds_are_stratified_and_cover_every_row():
    y = np.array([0] * 90 + [1] * 10)
    folds = make_folds(y, "binary", 5, seed=0)
    assert len(folds) == 5
    assert sorted(np.concatenate([va for _, va in folds]).tolist()) == list(range(100))
    assert all(y[va].sum() == 2 for _, va in folds)
    (tr, va), = make_folds(y, "binary", 0, seed=0)
    assert len(va) == 20 and not set(tr) & set(va)
