"""The command line at parity with Python: every fit option, the deployment commands, errors in the
command line's own words, a traceback on request, and each message once."""
import inspect
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from automm import MultimodalPredictor
from automm.cli import build_parser, main

from .conftest import split

ROOT = Path(__file__).resolve().parents[1]
# Python's names that the command line spells otherwise, and those that are Python objects only
RENAMED = {"train_data": "train", "tuning_data": "tuning", "path": "out", "hyperparameter_tune": "tune",
           "num_workers": "workers", "column_types": "column_type"}
PYTHON_ONLY = {"self", "executor"}


def fit_flags() -> set[str]:
    fit = next(a for a in build_parser()._subparsers._group_actions[0].choices.items() if a[0] == "fit")[1]
    return {a.dest for a in fit._actions}


def test_every_option_of_the_python_fit_has_a_flag():
    params = set(inspect.signature(MultimodalPredictor.__init__).parameters) | \
        set(inspect.signature(MultimodalPredictor.fit).parameters)
    wanted = {RENAMED.get(p, p) for p in params - PYTHON_ONLY}
    assert wanted - fit_flags() == set()


@pytest.fixture(scope="module")
def files(tmp_path_factory, binary_df):
    d = tmp_path_factory.mktemp("parity")
    train, test = split(binary_df)
    train = train.assign(w=np.where(train["y"] == "yes", 2.0, 1.0), fold=np.arange(len(train)) % 3)
    train.to_csv(d / "train.csv", index=False)
    test.to_csv(d / "test.csv", index=False)
    return d, train, test


def test_fit_takes_the_python_options_from_the_command_line(files, capsys):
    d, train, _ = files
    assert main(["fit", "--train", str(d / "train.csv"), "--label", "y", "--out", str(d / "m"), "--verbosity", "0",
                 "--hyperparameters", '{"lightgbm": {"num_leaves": 7}, "linear": {}}',
                 "--excluded-model-types", "linear", "--folds", "fold", "--sample-weight", "w",
                 "--no-embeddings", "--num-stack-levels", "0", "--num-threads", "1", "--device", "cpu",
                 "--calibrate-decision-threshold", "false", "--time-limit", "60"]) == 0
    p = MultimodalPredictor.load(d / "m")
    assert p.model_names() == ["lightgbm_L1"] and len(p.models_[0].models) == 3  # the three folds of --folds
    trees = p.models_[0].models[0].booster_.dump_model()["tree_info"]
    assert max(t["num_leaves"] for t in trees) <= 7  # --hyperparameters reached LightGBM
    assert "fold" not in {c.name for c in p.schema_.columns} and p.sample_weight == "w"
    assert p.decision_threshold_ in (None, 0.5) and p.num_threads == 1 and p.device == "cpu"
    assert capsys.readouterr().err.count("saved the model") == 1


def test_importance_embed_slim_and_distill(files, tmp_path, capsys):
    d, _, test = files
    model = str(d / "m")
    assert main(["importance", "--model", model, "--data", str(d / "test.csv"), "--shuffle-sets", "1",
                 "--out", str(tmp_path / "imp.csv")]) == 0
    imp = pd.read_csv(tmp_path / "imp.csv")
    assert "column" in imp.columns and {"x", "review"} <= set(imp["column"])
    assert main(["slim", "--model", model, "--out", str(tmp_path / "slim.zip"), "--archive"]) == 0
    assert "kept 1 of 1 models" in capsys.readouterr().err
    assert MultimodalPredictor.load(tmp_path / "slim.zip").predict(test).equals(MultimodalPredictor.load(model).predict(test))
    assert main(["distill", "--model", model, "--train", str(d / "train.csv"), "--out", str(tmp_path / "student"),
                 "--time-limit", "30"]) == 0
    student = MultimodalPredictor.load(tmp_path / "student")
    assert len(student.predict(test)) == len(test)


@pytest.mark.slow
def test_embed_writes_one_row_of_vectors_per_row(files, tmp_path):
    pytest.importorskip("torch")
    d, _, test = files
    test.head(30).to_csv(tmp_path / "rows.csv", index=False)
    assert main(["embed", "--model", str(d / "m"), "--data", str(tmp_path / "rows.csv"), "--id-column", "id",
                 "--out", str(tmp_path / "emb.parquet")]) == 0
    emb = pd.read_parquet(tmp_path / "emb.parquet")
    assert len(emb) == 30 and list(emb["id"]) == list(test.head(30)["id"])
    assert emb.filter(like="text_").shape[1] >= 16 and np.isfinite(emb.filter(like="text_").to_numpy()).all()


def test_cache_info_and_clear(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("AUTOMM_CACHE", str(tmp_path))
    monkeypatch.delenv("AUTOMM_EMBEDDING_CACHE", raising=False)
    from automm.features.embeddings import EmbeddingCache
    c = EmbeddingCache("t")
    c.add([bytes(20)], np.ones((1, 4), np.float32))
    c.flush()
    del c
    assert main(["cache", "info"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["embeddings"]["entries"] == {"t": 1} and info["embeddings"]["bytes"] > 0
    assert main(["cache", "clear"]) == 0
    assert not (tmp_path / "embeddings").exists()


def test_errors_speak_the_command_line_and_traceback_shows_the_stack(files, tmp_path, capsys):
    d, _, _ = files
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "notes.txt").write_text("mine")
    args = ["fit", "--train", str(d / "train.csv"), "--label", "y", "--out", str(tmp_path / "taken")]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "--overwrite" in err and "overwrite=True" not in err and "Traceback" not in err
    assert main(["--traceback", *args]) == 2
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and err.count("automm: error:") == 1
    assert main(["fit", "--train", str(d / "train.csv"), "--label", "y", "--out", str(d / "n"),
                 "--hyperparameters", "{not json"]) == 2
    assert "--hyperparameters takes JSON" in capsys.readouterr().err


@pytest.mark.slow
def test_the_fit_log_says_saved_once(files, tmp_path):
    d, _, _ = files
    run = subprocess.run([sys.executable, "-m", "automm", "fit", "--train", str(d / "train.csv"), "--label", "y",
                          "--out", str(tmp_path / "m"), "--presets", "fast", "--time-limit", "30"],
                         capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert run.returncode == 0, run.stderr
    assert run.stderr.count("saved the model") == 1, run.stderr


def test_python_spellings_of_options_become_flags():
    from automm.cli import cli_message
    assert cli_message(ValueError("set problem_type='regression' to predict numbers")) == \
        "set --problem-type regression to predict numbers"
    assert cli_message(ValueError("pass hyperparameter_tune=True, or embeddings=False")) == "pass --tune, or --no-embeddings"
    assert cli_message(KeyError("pass overwrite=True to replace a saved model")) == "pass --overwrite to replace a saved model"
