"""Large tables: one shared copy of the features, fold rows copied of the views a model reads, features
fitted on a sample and built in chunks, a plan that fits the time and refuses what cannot fit in
memory, and a hold-out split instead of bagging. The sizes are shrunk by monkeypatching the
thresholds, so that the paths a million rows take run on a few hundred."""
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from automm import MultimodalPredictor
from automm.execution import shared
from automm.features import FeaturePipeline, pipeline, sampling
from automm.schema import detect_schema
from automm.synthetic import make_multimodal


def test_shared_data_is_one_file_mapped_by_every_reader(tmp_path, monkeypatch):
    monkeypatch.setenv("AUTOMM_SHARED_DIR", str(tmp_path))
    dense = np.random.default_rng(0).random((300, 7)).astype(np.float32)
    sparse = sp.random(300, 50, 0.1, format="csr", dtype=np.float32, random_state=0)
    obj = {"dense": dense, "sparse": sparse, "text": np.array(["a", None], dtype=object), "part": dense[:, :2]}
    first = shared.share(obj)
    assert first.nbytes >= dense.nbytes + sparse.data.nbytes
    mine = first.load(writable=False)
    assert not mine["dense"].flags.writeable
    np.testing.assert_array_equal(mine["dense"], dense)
    assert (mine["sparse"] != sparse).nnz == 0 and list(mine["text"]) == ["a", None]
    np.testing.assert_array_equal(mine["part"], dense[:, :2])
    # sharing what holds the mapped arrays writes only the others (the slice, pickled as a copy, and the new one)
    second = shared.share({"features": mine, "new": np.arange(5)})
    assert second.nbytes == mine["part"].nbytes + np.arange(5).nbytes
    theirs = second.load()
    np.testing.assert_array_equal(theirs["features"]["dense"], dense)
    copy = theirs["new"]
    copy[0] = 99  # copy-on-write: the file, and every other reader, keep the value
    assert second.load()["new"][0] == 0
    first.close()
    second.close()
    assert not list(tmp_path.iterdir())


def test_a_dead_fits_shared_folder_is_removed_by_the_next(tmp_path, monkeypatch):
    monkeypatch.setenv("AUTOMM_SHARED_DIR", str(tmp_path))
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    orphan = tmp_path / f"{shared.PREFIX}{dead.stdout.strip()}-x"
    orphan.mkdir()
    live = tmp_path / f"{shared.PREFIX}{os.getpid()}-y"
    live.mkdir()
    shared.share({"a": np.zeros(3)}).close()
    assert not orphan.exists() and live.exists()


def test_fold_rows_copy_only_the_views_a_model_reads(binary_df):
    X = FeaturePipeline(detect_schema(binary_df, "y")).fit_transform(binary_df)
    part = X.rows(np.arange(10), ("dense",))
    assert len(part) == 10 and part.dense.shape == (10, X.dense.shape[1])
    with pytest.raises(AttributeError, match=r"reads the 'linear' features, but its ModelSpec reads only \['dense'\]"):
        _ = part.linear.shape
    with pytest.raises(AttributeError, match="'neural'"):
        _ = part.neural["numeric"]


@pytest.mark.slow
def test_a_model_that_reads_an_undeclared_view_is_told_so(binary_df, register):
    register("dense_only", "automm.models.linear:LinearModel", "sklearn", reads=("dense",))
    p = MultimodalPredictor("y", verbosity=0).fit(binary_df, hyperparameters={"dense_only": {}, "lightgbm": {}},
                                                  embeddings=False, num_bag_folds=2)
    assert "add 'linear' to `reads`" in p.model_failures()["dense_only_L1"]["error"]
    with pytest.raises(ValueError, match="not views"):
        register("bad", "automm.models.linear:LinearModel", "sklearn", reads=("pixels",))


@pytest.fixture
def small_thresholds(monkeypatch):
    """The sampled, chunked path of a large table on 1,200 rows: statistics from 300, chunks of 250."""
    monkeypatch.setattr(sampling, "SAMPLED_FROM", 1000)
    monkeypatch.setattr(sampling, "FIT_ROWS", 300)
    monkeypatch.setattr(pipeline, "CHUNK_ROWS", 250)
    monkeypatch.setattr(pipeline, "PLAN_ROWS", 100)


def test_a_large_tables_features_are_fitted_on_a_sample_and_built_in_chunks(small_thresholds):
    df = make_multimodal(1200, "regression", seed=5)
    messages = []
    pipe = FeaturePipeline(detect_schema(df, "y"))
    X = pipe.fit_transform(df, say=messages.append, budget=1e6)
    assert any("statistics learnt from 300, 250 rows featurized at a time" in m for m in messages)
    assert X.dense.shape[0] == X.linear.shape[0] == len(X.neural["numeric"]["all"]["values"]) == 1200
    # fit's chunks and predict's chunks are the same rows' features, and one chunk gives the same again
    again = pipe.transform(df)
    np.testing.assert_array_equal(again.dense, X.dense)
    assert (again.linear != X.linear).nnz == 0
    pipeline.CHUNK_ROWS = 10_000
    whole = pipe.transform(df)
    np.testing.assert_allclose(whole.dense, X.dense, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(whole.linear.toarray(), X.linear.toarray(), rtol=1e-6, atol=1e-6)


def test_the_feature_plan_drops_character_ngrams_to_fit_its_time(small_thresholds):
    df = make_multimodal(1200, "regression", seed=5)
    schema = detect_schema(df, "y")
    messages = []
    tight = FeaturePipeline(schema)
    tight.fit_transform(df, say=messages.append, budget=0.0)
    texts = schema.of_kind("text")
    left_out = messages[0].split("character n-grams left out of ")[1]
    assert "review" in texts and all(repr(c) in left_out for c in texts)
    assert all([t.analyzer for t in tight.columns_[c].tfidf_] == ["word"] for c in texts)
    roomy = FeaturePipeline(schema)
    roomy.fit_transform(df, budget=1e6)
    assert [t.analyzer for t in roomy.columns_["review"].tfidf_] == ["word", "char_wb"]
    # a model saved without them loads and predicts the same
    meta, arrays = tight.get_state()
    loaded = FeaturePipeline.from_state(schema, meta, arrays)
    np.testing.assert_array_equal(loaded.transform(df).dense, tight.transform(df).dense)


def test_features_that_cannot_fit_in_memory_are_refused_before_the_work(small_thresholds, monkeypatch):
    monkeypatch.setattr(pipeline, "available_memory", lambda: 2 ** 20)
    df = make_multimodal(1200, "regression", seed=5)
    with pytest.raises(MemoryError, match=r"features of 1200 rows would take about .* train_data.sample\("):
        MultimodalPredictor("y", verbosity=0).fit(df, presets="fast", time_limit=60)


@pytest.mark.slow
def test_a_large_table_trains_each_model_once_on_a_holdout(monkeypatch, capsys):
    from automm import training
    monkeypatch.setattr(training, "LARGE_ROWS", 400)
    monkeypatch.setattr(training, "LARGE_VALIDATION", 100)
    df = make_multimodal(500, "regression", seed=6)
    hp = {"linear": {}, "lightgbm": {}}
    p = MultimodalPredictor("y", verbosity=1).fit(df, presets="best", hyperparameters=hp, embeddings=False)
    assert "large data: 500 rows, so each model trains once on 400 of them and is validated on 100, rather than " \
           "5-fold bagging and a stacking layer" in capsys.readouterr().err
    assert [len(b.models) for b in p.models_] == [1, 1]
    assert not p.predict_oof().isna().all() and p.predict_oof().notna().sum() == 100
    bagged = MultimodalPredictor("y", verbosity=0).fit(df, presets="best", hyperparameters=hp, embeddings=False,
                                                       num_bag_folds=3, num_stack_levels=0)
    assert [len(b.models) for b in bagged.models_] == [3, 3]


def test_the_static_tier_tokenizes_without_transformers_and_the_same_ids():
    code = ("import sys, numpy as np; from automm.features.static_text import StaticText; "
            "t = StaticText(np.zeros((1, 1)), 'minilm'); print(t._token_ids(['Ünïcode café, 3 words!'] * 2)[0]); "
            "print('torch' in sys.modules, 'transformers' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split("\n")
    assert out[1] == "False False"
    from automm.features.backbones import text_tokenizer
    wrapped = text_tokenizer("minilm")(["Ünïcode café, 3 words!"], add_special_tokens=False)["input_ids"][0]
    assert out[0] == str(wrapped)


@pytest.mark.slow
def test_a_recycled_worker_is_a_fresh_process(binary_df, monkeypatch):
    from automm.execution import processes
    monkeypatch.setattr(processes, "RECYCLE_BYTES", 0)
    pids = []
    spawn = processes.ProcessExecutor._spawn

    def counting(self):
        w = spawn(self)
        pids.append(w.process.pid)
        return w

    monkeypatch.setattr(processes.ProcessExecutor, "_spawn", counting)
    three = {"linear": {}, "lightgbm": {}, "xgboost": {}}  # three kinds on two workers: one worker turns, whatever the timing
    p = MultimodalPredictor("y", verbosity=0).fit(binary_df, hyperparameters=three,
                                                  embeddings=False, num_bag_folds=2, num_workers=2)
    assert len(pids) > 2  # two at the start, and one at least when a worker turned to another kind
    assert {b.name for b in p.models_} == {"linear_L1", "lightgbm_L1", "xgboost_L1"}
    assert isinstance(p.predict(binary_df), pd.Series)
