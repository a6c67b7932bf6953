"""Faults a fit survives (issue 27): image files that would crash or hang a reader, damaged caches,
a disk that fills up, and Ctrl-C at any moment. Each case is listed in docs/robustness.md."""
import os
import re
import warnings

import numpy as np
import pytest

pytest.importorskip("torch", reason="the neural tests need the neural extra: pip install -e '.[test]'")

from automm import MultimodalPredictor  # noqa: E402
from automm.features.images import UnusableImage, image_side, open_image  # noqa: E402

from .neural_fixtures import image_table, register_tiny  # noqa: E402


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    folder = tmp_path_factory.mktemp("faults")
    register_tiny(folder / "tiny-text")
    return image_table(folder, n=120), folder


def _hostile_images(df, folder):
    """The table with a decompression bomb, a named pipe and a folder among its photos, early enough
    that the image-size planning (the first rows' headers) meets them."""
    from PIL import Image
    Image.new("1", (20000, 20000)).save(folder / "img" / "bomb.png")  # 400 megapixels in a few kB
    if not (folder / "img" / "pipe.png").exists():
        os.mkfifo(folder / "img" / "pipe.png")
    (folder / "img" / "dir.png").mkdir(exist_ok=True)
    df = df.copy()
    df.loc[0, "photo"], df.loc[1, "photo"], df.loc[2, "photo"] = "img/bomb.png", "img/pipe.png", "img/dir.png"
    return df


def test_the_one_opener_refuses_each_kind_of_unusable_file(table):
    df, folder = table
    _hostile_images(df, folder)
    why = {}
    for name in ("bomb.png", "pipe.png", "dir.png", "corrupt.png", "absent.png", "0.png"):
        try:
            with open_image(folder / "img" / name) as im:
                why[name] = im.size
        except UnusableImage as exc:
            why[name] = str(exc)
    assert why == {"bomb.png": "too large", "pipe.png": "not a file", "dir.png": "not a file",
                   "corrupt.png": "unreadable", "absent.png": "missing", "0.png": (24, 24)}
    assert image_side(folder / "img" / "bomb.png") is None and image_side(folder / "img" / "0.png") == 24


def test_a_decompression_bomb_among_the_training_images_does_not_stop_the_fit(table):
    """The regression of ad8c6f2: the image-size planning opened the files itself and let PIL's
    DecompressionBombError through. Now every bad image is a missing one, with one warning a column."""
    df, folder = table
    hostile = _hostile_images(df, folder)
    p = MultimodalPredictor("y", text_backbone="tiny-text", image_backbone="tiny-image", image_dir=str(folder),
                            verbosity=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        p.fit(hostile, presets="medium", time_limit=60, hyperparameters={"lightgbm": {}}, num_bag_folds=0)
        pred = p.predict(hostile.head(10))
    assert len(pred) == 10
    said = [str(w.message) for w in caught if "image column 'photo'" in str(w.message)]
    assert said and all(s.count("image column") == 1 for s in said)
    first = said[0]
    assert "too large" in first and "not a file" in first and "unreadable" in first and "missing" in first
    assert np.isfinite(p.predict_proba(hostile.head(10)).to_numpy()).all()


# ---- damaged caches ---------------------------------------------------------------------------
def _garble(file, how: str):
    data = file.read_bytes()
    if how == "truncated":
        file.write_bytes(data[: len(data) // 2])
    elif how == "garbled":  # the same length, bytes flipped in the middle (inside the stored arrays)
        mid = len(data) // 2
        file.write_bytes(data[:mid] + bytes(b ^ 0xFF for b in data[mid:mid + 64]) + data[mid + 64:])
    else:
        file.write_bytes(b"")


@pytest.mark.parametrize("how", ["truncated", "garbled", "empty"])
def test_a_damaged_embedding_cache_is_rebuilt_with_a_warning(table, tmp_path, monkeypatch, how):
    from automm.features.embeddings import EmbeddingCache
    from automm.features.vector_cache import FILE
    monkeypatch.setenv("AUTOMM_EMBEDDING_CACHE", str(tmp_path))
    keys = [bytes([i]) * 20 for i in range(50)]
    vecs = np.random.default_rng(0).normal(size=(50, 384)).astype(np.float32)
    cache = EmbeddingCache("t")
    cache.add(keys, vecs)
    cache.flush()
    del cache  # the last connection closed: the write-ahead log is folded into the file
    _garble(tmp_path / FILE, how)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        again = EmbeddingCache("t")
        todo, found = again.lookup(keys)
    said = [str(w.message) for w in caught]
    if how != "empty":  # an empty file is an empty database, nothing to warn about
        assert any(re.search("embedding cache .* (is damaged|fail their checksum)", s) for s in said), said
    # nothing wrong is read from the damaged file: every vector found is the one stored
    assert len(todo) + len(found) == 50 and all(np.array_equal(v, vecs[i].astype(np.float16)) for i, v in found.items())
    again.add([keys[i] for i in todo], vecs[todo])
    again.flush()  # rebuilt
    np.testing.assert_array_equal(EmbeddingCache("t").lookup(keys)[1][7], vecs[7].astype(np.float16))
    assert len(EmbeddingCache("t").lookup(keys)[1]) == 50


@pytest.mark.parametrize("how", ["truncated", "garbled", "empty"])
def test_a_damaged_static_text_table_is_distilled_again_with_a_warning(table, tmp_path, monkeypatch, how):
    from automm.features import static_text as st
    monkeypatch.setenv("AUTOMM_STATIC_CACHE", str(tmp_path))
    monkeypatch.setattr(st, "_LOADED", {})
    first = st.static_text("tiny-text").table.copy()
    (file,) = tmp_path.glob("*.npz")
    _garble(file, how)
    st._LOADED.clear()
    with pytest.warns(UserWarning, match="static text table .* is damaged"):
        again = st.static_text("tiny-text").table
    np.testing.assert_allclose(again, first, rtol=1e-5, atol=1e-6)  # distilled again, not read garbled
    st._LOADED.clear()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # and written back whole: the next read is silent
        np.testing.assert_array_equal(st.static_text("tiny-text").table, again)


# ---- a disk that fills up ---------------------------------------------------------------------
@pytest.fixture
def small_disk(tmp_path):
    """A tmpfs of a given size, mounted for the test (the tests run as root, as in CI)."""
    import subprocess
    mounted = []

    def mount(megabytes: float):
        folder = tmp_path / f"disk{len(mounted)}"
        folder.mkdir()
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={int(megabytes * 1024)}k", "tmpfs", str(folder)],
                       check=True, capture_output=True)
        mounted.append(folder)
        return folder
    yield mount
    for folder in mounted:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def _model_size(folder) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


@pytest.fixture(scope="module")
def fitted(binary_df, tmp_path_factory):
    p = MultimodalPredictor("y", verbosity=0).fit(binary_df.head(200), hyperparameters={"linear": {}, "lightgbm": {}},
                                                  num_bag_folds=0, time_limit=60)
    where = tmp_path_factory.mktemp("sized") / "m"
    p.save(where)
    return p, _model_size(where)


def test_a_full_disk_during_save_names_the_folder_and_keeps_the_old_model(fitted, binary_df, small_disk):
    from automm.persistence import DiskFullError
    p, size = fitted
    disk = small_disk(size * 1.5 / 1e6)  # room for one model, not for a new one written beside it
    p.save(disk / "m")
    before = MultimodalPredictor.load(disk / "m").predict_proba(binary_df.tail(20))
    with pytest.raises(DiskFullError, match=rf"no space left to save the model in '{disk}': it needs about "
                                            rf"\d+\.\d MB, \d+\.\d MB are free there.*model already there is unchanged"):
        p.save(disk / "m", overwrite=True)
    assert sorted(f.name for f in disk.iterdir()) == ["m"]  # nothing half-written beside it
    np.testing.assert_array_equal(MultimodalPredictor.load(disk / "m").predict_proba(binary_df.tail(20)), before)


def test_a_full_disk_during_a_path_fit_warns_goes_on_and_fails_the_final_save_clearly(fitted, binary_df, small_disk):
    from automm.persistence import DiskFullError
    _, size = fitted
    disk = small_disk(size * 0.5 / 1e6)  # not even one model fits
    p = MultimodalPredictor("y", verbosity=0, path=str(disk / "m"))
    with warnings.catch_warnings(record=True) as caught, pytest.raises(DiskFullError, match=f"'{disk}'"):
        warnings.simplefilter("always")
        p.fit(binary_df.head(200), hyperparameters={"linear": {}, "lightgbm": {}}, num_bag_folds=0, time_limit=60)
    said = [str(w.message) for w in caught if "no space left" in str(w.message)]
    assert len(said) == 1 and "goes on without saving" in said[0]  # once, not once per model
    assert list(disk.iterdir()) == []  # no half-written folder
    assert len(p.predict(binary_df.tail(5))) == 5  # the fitted predictor is whole in memory: save it elsewhere


def test_the_embedding_cache_on_a_full_disk_costs_a_warning_not_the_fit(small_disk, monkeypatch):
    from automm.features.embeddings import EmbeddingCache
    disk = small_disk(0.1)
    monkeypatch.setenv("AUTOMM_EMBEDDING_CACHE", str(disk))
    cache = EmbeddingCache("t")
    cache.add([bytes([i % 256, i // 256]) * 10 for i in range(5000)], np.ones((5000, 384), np.float32))
    with pytest.warns(UserWarning, match="could not be written"):
        cache.flush()  # 3.8 MB of vectors on a 0.1 MB disk
    assert len(EmbeddingCache("t").lookup([bytes([7, 0]) * 10])[0]) == 1  # the failed transaction left nothing


# ---- Ctrl-C at any moment ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def train_csv(binary_df, tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "train.csv"
    binary_df.to_csv(path, index=False)
    return path


def _alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False


@pytest.mark.slow
@pytest.mark.parametrize("after", [0.3, 0.6, 1.0, 2.5, 6.0])
def test_ctrl_c_at_any_moment_is_one_line_exit_130_and_no_process_left(train_csv, tmp_path, after):
    """SIGINT to `automm fit` (with two worker processes) during the imports, the reading, the features
    or the models: one line, exit status 130, nothing left running, and no half-written model. (Python
    itself takes some 0.15 s to start here, before any code of automm's runs: 0.3 s is in the imports.)"""
    import signal
    import subprocess
    import sys
    import time
    env = {**os.environ, "AUTOMM_NUM_WORKERS": "2"}
    proc = subprocess.Popen([sys.executable, "-m", "automm", "fit", "--train", str(train_csv), "--label", "y",
                             "--out", str(tmp_path / "m"), "--time-limit", "60", "--presets", "medium",
                             "--verbosity", "0"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    time.sleep(after)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    lines = [line for line in err.splitlines() if line.strip()]
    assert proc.returncode == 130, err
    assert "Traceback" not in err and lines == ["automm: interrupted; nothing was saved that was not already complete"
                                                ], err
    deadline = time.monotonic() + 10
    while _alive(proc.pid) and time.monotonic() < deadline:  # the group of the command and its workers
        time.sleep(0.1)
    assert not _alive(proc.pid), "a process of the fit was left running"
    assert not (tmp_path / "m").exists() or MultimodalPredictor.load(tmp_path / "m") is not None
    assert not [f for f in tmp_path.iterdir() if f.name.startswith(".m.new-")]
