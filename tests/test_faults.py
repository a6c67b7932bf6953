"""Faults a fit survives (issue 27): image files that would crash or hang a reader, damaged caches,
a disk that fills up, and Ctrl-C at any moment. Each case is listed in docs/robustness.md."""
import os
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
