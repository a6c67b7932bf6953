"""Fold fits on local worker processes and on Ray: the same predictions as a sequential fit, and a
worker that dies (or a model that raises) costs that model only."""
import os
import pickle

import numpy as np
import pytest

from automm import MultimodalPredictor
from automm.budget import Deadline
from automm.execution.base import FoldJob, LayerData, Packed, unpacked
from automm.execution.processes import ProcessExecutor
from automm.features import FeaturePipeline
from automm.metrics import get_metric
from automm.models import base
from automm.models.base import Task
from automm.schema import detect_schema
from tests.conftest import split

TREES = {"linear": {}, "lightgbm": {}, "xgboost": {}}


@pytest.fixture
def failing_models(monkeypatch, register):
    """Register the test's failing models; the workers import them from tests.crashing_model."""
    for name, cls in (("dying", "DyingModel"), ("raising", "RaisingModel")):
        register(name, f"tests.crashing_model:{cls}", "sklearn", "scikit-learn")
    monkeypatch.setenv("AUTOMM_TEST_PARENT", str(os.getpid()))


def fit(df, **kw):
    kw = {"hyperparameters": TREES, "presets": "medium", "embeddings": False, **kw}
    return MultimodalPredictor("y", verbosity=1).fit(df, **kw)


@pytest.mark.slow
def test_parallel_fit_gives_the_sequential_predictions(multiclass_df):
    train, test = split(multiclass_df)
    kw = {"num_bag_folds": 3, "hyperparameters": {"linear": {}, "lightgbm": {}}}
    one, two = fit(train, num_workers=1, **kw), fit(train, num_workers=2, **kw)
    assert one.info()["parallel"]["backend"] == "inline"
    assert two.info()["parallel"] == {"backend": "processes", "slots": 2, "max_running": 2}
    assert one.weights_ == two.weights_
    np.testing.assert_allclose(two.predict_proba(test).to_numpy(), one.predict_proba(test).to_numpy(),
                               rtol=0, atol=1e-12)


@pytest.mark.slow
def test_dead_worker_is_reported_and_the_fit_goes_on(binary_df, failing_models, capsys):
    train, test = split(binary_df)
    p = fit(train, num_workers=2, hyperparameters={"linear": {}, "dying": {}, "raising": {}, "lightgbm": {}})
    err = capsys.readouterr().err
    assert "dying_L1 fold 1: its worker process died (exit code 3); trying it again alone" in err
    assert "dying_L1 failed and is left out: its worker process died (exit code 3)" in err
    assert "raising_L1 failed and is left out: ValueError: this model always fails" in err
    assert set(p.leaderboard(test).model) == {"linear_L1", "lightgbm_L1", "ensemble"}
    assert p.evaluate(test)["score"] > 0.8


@pytest.mark.slow
def test_memory_budget_runs_fewer_jobs_at_once(binary_df, monkeypatch, capsys):
    from automm.execution import processes
    # a machine with 400 MB free: a job's estimate and another's (151 MB each at least) beside the two
    # workers (50-300 MB, as far as their imports have come) exceed the 320 MB budget
    monkeypatch.setattr(processes, "available_memory", lambda: 400 * processes.MB)
    p = fit(binary_df, num_workers=2, hyperparameters={"lightgbm": {}, "xgboost": {}})
    assert p.info()["parallel"]["max_running"] == 1
    assert "running fewer jobs at once" in capsys.readouterr().err
    assert {b.name for b in p.models_} == {"lightgbm_L1", "xgboost_L1"}


def test_worker_and_ray_arguments_are_checked_before_any_work(binary_df, monkeypatch):
    import sys
    p = MultimodalPredictor("y", verbosity=0)
    with pytest.raises(ValueError, match="num_workers"):
        p.fit(binary_df, num_workers=0)
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(ImportError, match=r"pip install 'automm\[ray\]'"):
        p.fit(binary_df, ray_address="auto")


@pytest.fixture(scope="module")
def local_ray():
    ray = pytest.importorskip("ray")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    # the workers import the test's models from this checkout, as a cluster's would from its image
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": root, "AUTOMM_TEST_PARENT": "ray"}})
    yield ray
    ray.shutdown()


@pytest.mark.slow
def test_ray_fit_matches_sequential_and_survives_failures(binary_df, local_ray, failing_models, capsys):
    train, test = split(binary_df)
    models = {"linear": {}, "lightgbm": {}, "dying": {}, "raising": {}}
    on_ray = fit(train, ray_address="auto", hyperparameters=models, hyperparameter_tune={"num_trials": 3})
    err = capsys.readouterr().err
    assert on_ray.info()["parallel"]["backend"] == "ray" and on_ray.info()["parallel"]["max_running"] == 2
    assert "dying_L1 failed and is left out: its Ray task failed" in err
    assert "raising_L1 failed and is left out: ValueError: this model always fails" in err
    assert on_ray.info()["models"]["lightgbm_L1"]["search"]["trials"] == 3
    local = fit(train, num_workers=1, hyperparameters={"linear": {}, "lightgbm": {}},
                hyperparameter_tune={"num_trials": 3})
    np.testing.assert_allclose(on_ray.predict_proba(test).to_numpy(), local.predict_proba(test).to_numpy(),
                               rtol=0, atol=1e-12)


def test_auto_uses_a_worker_per_core_and_the_environment_can_override(monkeypatch):
    from automm.execution import InlineExecutor, ProcessExecutor, make_executor
    monkeypatch.delenv("AUTOMM_NUM_WORKERS", raising=False)
    with make_executor("auto", None, threads=2) as ex:
        assert isinstance(ex, ProcessExecutor) and ex.slots == 2 and ex.threads == 1
    monkeypatch.setenv("AUTOMM_NUM_WORKERS", "1")
    assert isinstance(make_executor("auto", None, threads=2), InlineExecutor)
    assert isinstance(make_executor(1, None, threads=2), InlineExecutor)


@pytest.mark.slow
def test_workers_exit_when_their_parent_is_killed(tmp_path):
    """SIGKILL (the OOM killer, a scheduler) gives the parent no chance to stop its workers."""
    import signal
    import subprocess
    import sys
    import time
    code = ("import os, sys, time, signal; from automm.execution import ProcessExecutor; "
            "ex = ProcessExecutor(2, 1); print(' '.join(str(w.process.pid) for w in ex.workers), flush=True); "
            "time.sleep(2); os.kill(os.getpid(), signal.SIGKILL)")
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    pids = [int(x) for x in parent.stdout.readline().split()]
    parent.wait(timeout=60)
    assert parent.returncode == -signal.SIGKILL and len(pids) == 2

    def alive(pid):
        try:
            with open(f"/proc/{pid}/stat") as f:
                return f.read().split()[2] != "Z"  # a zombie has exited
        except FileNotFoundError:
            return False
    deadline = time.monotonic() + 10
    while any(alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(alive(p) for p in pids)


def test_an_interrupted_fit_stops_busy_workers_at_once(binary_df, register):
    import time

    from automm import execution as parallel
    from automm.budget import Deadline
    from automm.features import FeaturePipeline
    from automm.folds import make_folds
    from automm.metrics import get_metric
    from automm.schema import detect_schema
    register("sleeping", "tests.crashing_model:SleepingModel", "sklearn", "scikit-learn")
    schema = detect_schema(binary_df, "y")
    X = FeaturePipeline(schema).fit_transform(binary_df)
    y = (binary_df["y"] == "yes").to_numpy().astype(int)
    task = base.Task("binary", 2, get_metric("roc_auc", "binary"), 0, 1)
    ex = parallel.ProcessExecutor(2, 1)
    ex.start_layer(parallel.LayerData(X, y, make_folds(y, "binary", 2, 0), task))
    for fold in (0, 1):
        ex.submit(("sleeping", fold), parallel.FoldJob("sleeping", base.REGISTRY["sleeping"], fold, {},
                                                       Deadline.after(600)))
    time.sleep(1)
    t0 = time.monotonic()
    ex.close(now=True)  # returns at once; the busy workers are killed, not waited for
    while any(w.process.poll() is None for w in ex.workers) and time.monotonic() - t0 < 10:
        time.sleep(0.05)
    assert time.monotonic() - t0 < 3


@pytest.mark.slow
def test_models_come_back_packed_and_are_unpacked_only_to_predict(binary_df, tmp_path):
    """A worker's model reaches the fit as bytes: saving it (as the fit does after each model) leaves it
    packed, sending it on keeps it packed, and it unpacks to the predictions it made in the worker."""
    schema = detect_schema(binary_df, "y")
    X = FeaturePipeline(schema).fit_transform(binary_df)
    y = (binary_df["y"] == binary_df["y"].iloc[0]).to_numpy().astype(int)
    folds = [(np.arange(0, len(y), 2), np.arange(1, len(y), 2))]
    task = Task("binary", 2, get_metric("roc_auc", "binary"), 0, 1)
    with ProcessExecutor(workers=1, threads=1) as ex:
        ex.start_layer(LayerData(ex.adopt(X), y, folds, task))
        ex.submit("k", FoldJob("lightgbm", base.REGISTRY["lightgbm"], 0, {}, Deadline.after(60)))
        (outcome,) = ex.wait()
    model = outcome.result.model
    assert isinstance(model, Packed) and model._model is None
    fresh = pickle.loads(pickle.dumps(model))
    assert fresh._model is None and fresh.info.to_dict() == model.info.to_dict()
    assert fresh.save(tmp_path / "m") and fresh._model is None
    X_va = X.rows(folds[0][1], base.REGISTRY["lightgbm"].reads)
    np.testing.assert_allclose(fresh.predict(X_va), outcome.result.oof, rtol=0, atol=1e-12)
    assert fresh._model is not None and fresh._model.info is fresh.info
    assert not isinstance(unpacked(model), Packed)
