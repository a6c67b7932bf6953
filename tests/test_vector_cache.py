"""The embedding cache as fits and servers meet it: two writers at once, a bound with least-recently-used
eviction, no writes at predict unless asked, and the in-memory store."""
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from automm.features import vector_cache as vc
from automm.features.embeddings import EmbeddingCache

ROOT = Path(__file__).resolve().parents[1]
WRITER = """
import sys, time, numpy as np
from automm.features.embeddings import EmbeddingCache
who, n, start = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
rng = np.random.default_rng(who)
time.sleep(max(0.0, start - time.time()))  # both open the new file at the same instant
for batch in range(0, n, 100):  # many small calls, interleaved with the other writer's
    c = EmbeddingCache("t")
    keys = [bytes([who]) + i.to_bytes(4, "big") + bytes(15) for i in range(batch, batch + 100)]
    c.lookup(keys)
    time.sleep(0.02)  # the embedding, between the lookup and the write
    c.add(keys, rng.normal(size=(100, 64)).astype(np.float32))
    c.flush()
"""


def keys_of(who: int, n: int) -> list[bytes]:
    return [bytes([who]) + i.to_bytes(4, "big") + bytes(15) for i in range(n)]


@pytest.fixture
def cache_here(tmp_path, monkeypatch):
    monkeypatch.setenv("AUTOMM_EMBEDDING_CACHE", str(tmp_path))
    return tmp_path


@pytest.mark.slow
def test_four_writers_at_once_lose_no_entry(cache_here):
    import time
    env = {"AUTOMM_EMBEDDING_CACHE": str(cache_here), "PYTHONPATH": str(ROOT), "PATH": ""}
    start = str(time.time() + 5)  # after both interpreters have imported automm
    procs = [subprocess.Popen([sys.executable, "-W", "error", "-c", WRITER, str(who), "1000", start], env=env,
                              stderr=subprocess.PIPE, cwd=cache_here) for who in (1, 2, 3, 4)]
    for p in procs:
        assert p.wait(timeout=120) == 0, p.stderr.read().decode()  # a warning (a lost write) fails it too
    for who in (1, 2, 3, 4):
        todo, found = EmbeddingCache("t").lookup(keys_of(who, 1000))
        assert len(todo) == 0 and len(found) == 1000
    assert vc.summary(cache_here)["entries"] == {"t": 4000}


def test_the_file_is_bounded_and_the_least_recently_used_go_first(cache_here, monkeypatch):
    monkeypatch.setenv("AUTOMM_EMBEDDING_CACHE_MB", "1")
    first = keys_of(1, 100)
    c = EmbeddingCache("t")
    c.add(first, np.ones((100, 384), np.float32))
    c.flush()
    for batch in range(1, 12):  # 11 x 100 vectors of 768 bytes: about 0.85 MB of vectors more
        keys = keys_of(2, batch * 100)[-100:]
        c = EmbeddingCache("t")
        c.lookup(first[:10])  # a fit that reads the first ten again keeps them recent
        c.add(keys, np.ones((100, 384), np.float32))
        c.flush()
    live = vc.summary(cache_here)
    entries = live["entries"]["t"]
    assert entries < 1200, entries  # some were evicted
    todo, found = EmbeddingCache("t").lookup(first)
    assert set(range(10)) <= set(found) and len(todo) > 0  # the ten in use stayed; old ones went first
    assert len(EmbeddingCache("t").lookup(keys_of(2, 1100)[-100:])[1]) == 100  # the newest are all there


def test_predict_writes_nothing_unless_asked(cache_here, monkeypatch):
    c = EmbeddingCache("t")
    c.add(keys_of(1, 10), np.ones((10, 8), np.float32))
    c.flush()
    with vc.read_only():
        c = EmbeddingCache("t")
        todo, found = c.lookup(keys_of(1, 20))
        c.add(keys_of(1, 20)[10:], np.ones((10, 8), np.float32))
        c.flush()
    assert (len(todo), len(found)) == (10, 10)
    assert vc.summary(cache_here)["entries"] == {"t": 10}
    monkeypatch.setenv("AUTOMM_EMBEDDING_CACHE_PREDICT", "write")
    with vc.read_only():
        c = EmbeddingCache("t")
        c.add(keys_of(1, 20)[10:], np.ones((10, 8), np.float32))
        c.flush()
    assert vc.summary(cache_here)["entries"] == {"t": 20}


def test_a_read_only_lookup_never_creates_the_file(cache_here):
    with vc.read_only():
        assert len(EmbeddingCache("t").lookup(keys_of(1, 5))[0]) == 5
    assert not (cache_here / vc.FILE).exists()


def test_the_memory_store_is_bounded_and_writes_no_file(tmp_path, monkeypatch):
    monkeypatch.setenv("AUTOMM_EMBEDDING_CACHE", "memory")
    monkeypatch.setattr(vc, "MEMORY_ENTRIES", 150)
    monkeypatch.chdir(tmp_path)
    vc._MEMORY.clear()
    for who in (1, 2):
        c = EmbeddingCache("m")
        c.add(keys_of(who, 100), np.full((100, 4), who, np.float32))
        c.flush()
    assert len(vc._MEMORY) == 150
    todo, found = EmbeddingCache("m").lookup(keys_of(2, 100))
    assert len(found) == 100 and found[0][0] == 2  # the oldest of the first writer's went
    assert list(tmp_path.iterdir()) == []
    vc._MEMORY.clear()


def test_a_folder_that_cannot_hold_the_file_costs_a_warning(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    monkeypatch.setenv("AUTOMM_EMBEDDING_CACHE", str(blocker / "below"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        c = EmbeddingCache("t")
        c.add(keys_of(1, 3), np.ones((3, 4), np.float32))
        c.flush()
        todo, found = c.lookup(keys_of(1, 3))
    assert any("could not be opened" in str(w.message) for w in caught)
    assert len(found) == 3  # kept for this run


@pytest.mark.slow
def test_a_fitted_model_predicts_without_writing_its_new_rows(cache_here, tmp_path):
    pytest.importorskip("torch")
    from automm import MultimodalPredictor
    from automm.synthetic import make_multimodal
    from tests.neural_fixtures import register_tiny
    register_tiny(tmp_path / "tiny")
    df = make_multimodal(240, "binary", seed=5)
    train, new = df.iloc[:200], df.iloc[200:]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p = MultimodalPredictor("y", text_backbone="tiny-text", text_tier="transformer", verbosity=0).fit(
            train, presets="medium", num_bag_folds=2, time_limit=60, hyperparameters={"lightgbm": {}})
    assert p.pipeline_.emb_.text_tier_ == "transformer"
    before = sum(vc.summary(cache_here)["entries"].values())
    assert before >= 200  # the fit stored its rows
    p.predict(new)
    assert sum(vc.summary(cache_here)["entries"].values()) == before
