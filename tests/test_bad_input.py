"""Inputs that used to crash or mislead (issue 16): each gives a clear error naming the column and
what to do, or a warning and a documented behaviour."""
import os
import signal
import warnings

import numpy as np
import pandas as pd
import pytest

from automm import MultimodalPredictor
from automm.features.images import read_image
from automm.schema import detect_column
from automm.sklearn import AutoMMClassifier

FAST = {"linear": {}, "lightgbm": {}}


def fit(df, label="y", eval_metric=None, **kw):
    return MultimodalPredictor(label=label, eval_metric=eval_metric, verbosity=0).fit(
        df, **{"hyperparameters": FAST, "num_bag_folds": 0, **kw})


@pytest.fixture(scope="module")
def small(binary_df):
    return binary_df.head(200).reset_index(drop=True)


def messages(caught) -> str:
    return "\n".join(str(w.message) for w in caught)


def test_integer_column_names_get_a_clear_error(small):
    df = small.copy()
    df.columns = range(df.shape[1])
    with pytest.raises(TypeError, match=r"column names must be strings.*df.columns.astype\(str\)"):
        MultimodalPredictor(label=df.columns[-1]).fit(df)


@pytest.mark.slow
def test_dicts_mixed_offsets_and_lone_surrogates_are_read(small):
    df = small.assign(meta=[{"k": i % 3} for i in range(len(small))],
                      ts=[f"2021-0{3 + i % 2}-01T10:00:00+0{1 + i % 2}:00" for i in range(len(small))],
                      raw=pd.Series([os.fsdecode(b"file\xff") + f" name {i}" for i in range(len(small))],
                                    dtype=object))
    p = fit(df)
    kinds = {c.name: c.kind for c in p.schema_.columns}
    assert kinds["meta"] == "text" and kinds["ts"] == "datetime" and kinds["raw"] == "text"
    assert len(p.predict(df.head(5))) == 5


def test_a_csv_index_column_is_ignored(small, tmp_path):
    small.to_csv(tmp_path / "with_index.csv")  # pandas writes the index as 'Unnamed: 0' by default
    p = MultimodalPredictor(label="y", verbosity=0).fit(tmp_path / "with_index.csv", hyperparameters=FAST,
                                                        num_bag_folds=0)
    assert p.schema_["Unnamed: 0"].kind == "ignore" and "to_csv" in p.schema_["Unnamed: 0"].reason


def test_infinite_and_huge_values_keep_every_model(small):
    num = next(c.name for c in fit(small).schema_.columns if c.kind == "numeric")
    df = small.copy()
    df.loc[::7, num] = np.inf
    df.loc[1::7, num] = -np.inf
    df.loc[2::7, num] = 1e300
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        p = fit(df)
    text = messages(caught)
    assert f"column {num!r}" in text and "infinite" in text and "clipped" in text
    assert set(p.weights_) == {"linear_L1", "lightgbm_L1"}  # the linear model is no longer dropped
    assert np.isfinite(p.predict_proba(df).to_numpy()).all()


def test_text_in_a_numeric_column_at_predict_time_is_reported(small):
    num = next(c.name for c in fit(small).schema_.columns if c.kind == "numeric")
    p = fit(small)
    t = small.head(30).copy()
    t[num] = "abc"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        p.predict_proba(t)
    assert f"column {num!r}: 30 of 30 values are not numbers" in messages(caught)


def test_forcing_text_to_numeric_is_refused(small):
    text_col = next(c for c in small.columns if pd.api.types.is_string_dtype(small[c])
                    and small[c].str.len().mean() > 30)
    with pytest.raises(ValueError, match=f"forces column '{text_col}' to numeric.*none of its values"):
        MultimodalPredictor(label="y", column_types={text_col: "numeric"}).fit(small, hyperparameters=FAST)


def test_tuning_data_must_have_the_training_columns(small):
    train, tune = small.iloc[:150], small.iloc[150:].drop(columns=[small.columns[0]])
    with pytest.raises(KeyError, match=f"tuning_data lacks columns \\['{small.columns[0]}'\\]"):
        fit(train, tuning_data=tune)


def test_model_parameters_are_checked_before_any_work(small):
    with pytest.raises(ValueError, match=r"'lightgbm'\] has unknown parameters \['nonsense'\]"):
        fit(small, hyperparameters={"lightgbm": {"nonsense": 1}})
    with pytest.raises(ValueError, match="num_leaves"):
        fit(small, hyperparameters={"lightgbm": {"num_leaves": -3}})
    with pytest.raises(ValueError, match=r"'xgboost'\] has unknown parameters"):
        fit(small, hyperparameters={"xgboost": {"nonsense": 1}})
    with pytest.raises(ValueError, match=r"'linear'\] has unknown parameters \['alpha'\]"):
        fit(small, hyperparameters={"linear": {"alpha": 1}})


def test_when_no_model_trains_the_error_says_why(small, register):
    register("raising", "tests.crashing_model:RaisingModel", "sklearn", "scikit-learn")
    with pytest.raises(RuntimeError, match="raising_L1: ValueError: this model always fails"):
        fit(small, hyperparameters={"raising": {}})


def test_labels_that_contradict_the_metric(small):
    boolean = small.assign(y=small["y"] == "yes")
    with pytest.warns(UserWarning, match="is boolean.*rmse"):
        p = fit(boolean, eval_metric="rmse")
    assert p.task_.problem_type == "regression"
    continuous = small.assign(y=np.linspace(0.5, 99.5, len(small)))
    with pytest.raises(ValueError, match="200 distinct non-integer numbers.*regression metric"):
        fit(continuous, eval_metric="accuracy")
    singletons = small.assign(y=[f"class_{i}" for i in range(len(small))])
    with pytest.raises(ValueError, match="each appears only once"):
        fit(singletons)


def test_messages_show_values_as_written_and_numpy_numbers_are_accepted(small):
    with pytest.raises(ValueError, match=r"\(True\)"):
        fit(small.assign(y=True))
    assert fit(small, time_limit=np.int64(20)).models_


def test_sklearn_wrapper_keeps_a_user_column_named_like_its_label(small):
    X = small.drop(columns="y").assign(__automm_label__=np.arange(len(small)) % 2)
    clf = AutoMMClassifier(time_limit=20, hyperparameters=FAST).fit(X, small["y"])
    assert "__automm_label__" in clf.predictor_.schema_.used_columns


def test_image_urls_are_not_taken_for_local_images():
    s = pd.Series([f"https://example.com/{i}.jpg" for i in range(50)])
    kind, why = detect_column(s)
    assert kind == "ignore" and "download" in why


def test_bad_image_files_become_missing_images(tmp_path):
    from PIL import Image
    Image.new("1", (20000, 20000)).save(tmp_path / "bomb.png")  # 400 megapixels in a small file
    Image.new("RGB", (9000, 8000)).save(tmp_path / "big.png")   # over the limit, under PIL's own
    os.mkfifo(tmp_path / "pipe.png")                             # opening it would block forever
    (tmp_path / "folder.png").mkdir()
    (tmp_path / "text.png").write_text("not an image")
    old = signal.signal(signal.SIGALRM, lambda *a: pytest.fail("reading an image hung"))
    signal.alarm(30)
    try:
        got = {f: read_image(tmp_path / f, 32)[1] for f in
               ("bomb.png", "big.png", "pipe.png", "folder.png", "text.png", "absent.png")}
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    assert got == {"bomb.png": "too large", "big.png": "too large", "pipe.png": "not a file",
                   "folder.png": "not a file", "text.png": "unreadable", "absent.png": "missing"}


def test_a_large_jpeg_is_decoded_at_a_reduced_scale(tmp_path):
    from PIL import Image
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (3000, 4000, 3), dtype=np.uint8)).save(tmp_path / "photo.jpg", quality=90)
    arr, why = read_image(tmp_path / "photo.jpg", 64)
    assert why == "" and arr.shape == (3, 64, 64) and np.isfinite(arr).all()
    with Image.open(tmp_path / "photo.jpg") as im:
        im.draft("RGB", (128, 128))
        assert im.size == (500, 375)  # 1/8 scale: what the decoder really produces


def test_an_image_edited_in_place_is_embedded_again(tmp_path):
    from automm.features.embeddings import _file_key
    f = tmp_path / "a.png"
    f.write_bytes(b"first version!")
    st = f.stat()
    before = _file_key("a.png", "image", tmp_path, 4)
    f.write_bytes(b"other version!")  # same size
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))  # and the same time, as cp -p or rsync -t leave it
    assert _file_key("a.png", "image", tmp_path, 4) != before
    os.mkfifo(tmp_path / "pipe.png")
    assert _file_key("pipe.png", "image", tmp_path, 4).endswith("missing")  # and never blocks


def test_a_device_that_cannot_be_used_is_refused_before_any_work(small, monkeypatch):
    from automm import device
    with pytest.raises(ValueError, match="device must be 'auto', 'cpu' or 'cuda', not 'gpu'"):
        MultimodalPredictor("y", device="gpu", verbosity=0).fit(small)
    monkeypatch.setattr(device, "gpu_available", lambda device: False)  # as on this machine: no CUDA
    p = MultimodalPredictor("y", device="cuda", verbosity=0)
    with pytest.raises(ValueError, match="device='cuda', but no CUDA device is visible.*device='auto'"):
        p.fit(small)
    assert not hasattr(p, "schema_")  # refused before the columns are looked at, let alone a model trained
