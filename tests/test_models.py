import time

import numpy as np
import pytest

from automm.features import FeaturePipeline
from automm.metrics import get_metric
from automm.models import REGISTRY, Task, is_available, model_class
from automm.schema import detect_schema
from automm.synthetic import make_multimodal

METRIC = {"binary": "roc_auc", "multiclass": "accuracy", "regression": "r2"}
BASELINE = {"binary": 0.5, "multiclass": 0.5, "regression": 0.0}  # a model must clearly beat chance


def prepared(problem_type):
    df = make_multimodal(400, problem_type, seed=5)
    schema = detect_schema(df, "y", problem_type=problem_type)
    X = FeaturePipeline(schema).fit_transform(df)
    if problem_type == "regression":
        y, n_classes = df["y"].to_numpy(dtype=float), 0
    else:
        classes = sorted(df["y"].unique())
        y, n_classes = df["y"].map({c: i for i, c in enumerate(classes)}).to_numpy(), len(classes)
    task = Task(problem_type, n_classes, get_metric(METRIC[problem_type], problem_type), seed=0, num_threads=1)
    return X, y, task


@pytest.fixture(scope="module", params=["binary", "multiclass", "regression"])
def data(request):
    return prepared(request.param)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_model_fits_predicts_saves_and_loads(name, data, tmp_path):
    X, y, task = data
    tr, va = np.arange(300), np.arange(300, 400)
    model = model_class(name)().fit(X.rows(tr), y[tr], X.rows(va), y[va], task, time.monotonic() + 60)
    pred = model.predict(X.rows(va))
    assert pred.shape == (100, task.n_outputs)
    assert np.isfinite(pred).all()
    if task.problem_type != "regression":
        assert np.allclose(pred.sum(1), 1, atol=1e-6)
    assert task.metric.score(y[va], pred) > BASELINE[task.problem_type] + 0.15
    files = model.save(tmp_path / "m.fold0")
    assert all((tmp_path / f).is_file() for f in files)
    loaded = model_class(name).load(tmp_path / "m.fold0", model.info, task)
    assert np.array_equal(loaded.predict(X.rows(va)), pred)


@pytest.mark.parametrize("name", [n for n in sorted(REGISTRY) if n != "linear"])
def test_iterative_models_stop_at_their_deadline(name):
    X, y, task = prepared("binary")
    tr, va = np.arange(300), np.arange(300, 400)
    # an early-stopping patience it can never reach: only the deadline can stop it
    params = {"lightgbm": {"learning_rate": 1e-5}, "xgboost": {"eta": 1e-5},
              "catboost": {"learning_rate": 1e-5}, "fusion_late": {"max_epochs": 10**6, "patience": 10**6},
              "fusion_early": {"max_epochs": 10**6, "patience": 10**6},
              "fusion_tokens": {"max_epochs": 10**6, "patience": 10**6}}[name]
    start = time.monotonic()
    model = model_class(name)(**params).fit(X.rows(tr), y[tr], X.rows(va), y[va], task, start + 1.5)
    assert time.monotonic() - start < 6
    assert model.predict(X.rows(va)).shape == (100, 2)


def test_registry_reports_missing_library(monkeypatch):
    import automm.models.base as base
    monkeypatch.setitem(base.REGISTRY, "fake", base.ModelSpec("fake", "automm.models.lgbm", "LightGBMModel",
                                                               "no_such_library_xyz", "automm[fake]", 1.0))
    assert not is_available("fake")
    with pytest.raises(ImportError, match=r"pip install 'automm\[fake\]'"):
        model_class("fake")
    with pytest.raises(ValueError, match="not registered"):
        model_class("nonexistent")


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_without_validation_a_model_trains_the_rounds_it_is_given(name):
    X, y, task = prepared("binary")
    cls = model_class(name)
    rounds = getattr(cls, "rounds_param", None)
    model = cls(**({rounds: 37} if rounds else {"C": 1.0})).fit(X, y, None, None, task, time.monotonic() + 60)
    assert model.predict(X.rows(np.arange(10))).shape == (10, 2)
    if rounds:
        assert model.info.iterations == 37
