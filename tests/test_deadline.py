"""The time limit holds (issue 16): nothing inside it is paid for without need (torch imports,
backbone loads), a step that cannot start in time is skipped with a message, and the linear
model's solver stops at the deadline."""
import subprocess
import sys
import time

import numpy as np
import pytest

from automm import MultimodalPredictor
from automm.features import FeaturePipeline
from automm.metrics import get_metric
from automm.models.base import Task
from automm.models.linear import LinearModel
from automm.schema import detect_schema

from .conftest import split


@pytest.mark.slow
def test_fast_never_imports_torch():
    code = ("import sys; from automm import MultimodalPredictor; from automm.synthetic import make_multimodal; "
            "MultimodalPredictor('y', verbosity=0).fit(make_multimodal(200, 'binary'), presets='fast', "
            "time_limit=30, num_workers=1); print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_embeddings_false_is_honoured_and_the_nets_that_need_them_are_left_out(binary_df, capsys):
    train, _ = split(binary_df)
    p = MultimodalPredictor("y", verbosity=1, device="cpu").fit(
        train, presets="medium", embeddings=False, num_bag_folds=2, time_limit=60,
        hyperparameters={"linear": {}, "fusion_late": {}})
    assert "leaving out ['fusion_late']" in capsys.readouterr().err
    assert p.info()["embeddings"] is None and [b.kind for b in p.models_] == ["linear"]


@pytest.mark.slow
def test_a_time_limit_too_short_for_the_backbones_skips_the_embeddings(binary_df, capsys):
    train, _ = split(binary_df)
    t0 = time.monotonic()
    p = MultimodalPredictor("y", verbosity=1, device="cpu").fit(train, presets="medium", time_limit=8,
                                                                num_workers=1)
    wall = time.monotonic() - t0
    err = capsys.readouterr().err
    assert "embeddings skipped" in err and p.info()["embeddings"] is None
    assert not any(b.kind.startswith("fusion") for b in p.models_)
    assert wall < 8 * 1.5, err  # loose: the figures against the limit come from benchmarks/time_limit.py


def test_the_stacking_layer_is_skipped_when_the_time_is_gone(binary_df, capsys):
    train, _ = split(binary_df)
    p = MultimodalPredictor("y", verbosity=1).fit(train, hyperparameters={"linear": {}, "lightgbm": {}},
                                                  num_bag_folds=2, num_stack_levels=1, time_limit=1.5)
    assert {b.layer for b in p.models_} == {1}
    assert p.predict(train.head(3)).notna().all()


@pytest.mark.slow
def test_the_linear_solver_stops_at_the_deadline():
    rng = np.random.default_rng(0)
    import pandas as pd
    n, vocab = 600, [f"w{i}" for i in range(3000)]
    df = pd.DataFrame({"a": rng.normal(size=n), "t": [" ".join(rng.choice(vocab, 20)) for _ in range(n)],
                       "y": [f"c{i % 200}" for i in range(n)]})
    schema = detect_schema(df, "y", problem_type="multiclass")
    X = FeaturePipeline(schema).fit_transform(df)
    y = np.arange(n) % 200
    task = Task("multiclass", 200, get_metric("accuracy", "multiclass"), 0, 1)
    stopped = LinearModel(C=16.0).fit(X, y, None, None, task, deadline=time.monotonic())
    free = LinearModel(C=16.0).fit(X, y, None, None, task, deadline=float("inf"))
    assert stopped.info.extra["solver_iterations"] <= 2 < free.info.extra["solver_iterations"]
    assert stopped.predict(X).shape == (n, 200)


@pytest.mark.parametrize("limit", [np.int64(20), np.float32(20.0)])
def test_numpy_numbers_are_time_limits(binary_df, limit):
    assert MultimodalPredictor("y", verbosity=0).fit(binary_df, presets="fast", time_limit=limit).models_
