import shutil

import pytest

from automm import datasets

SHARED = datasets.DEFAULT_MIRRORS[0]
needs_mirror = pytest.mark.skipif(not (SHARED / "imdb_genre_prediction").is_dir(),
                                  reason="the shared dataset mirror is not beside this checkout")


def test_registry_lists_the_benchmark_and_the_local_image_set():
    reg = datasets.registry()
    names = {s["name"] for s in reg.values()}
    text_suite = {s["name"] for s in reg.values() if "text_table" in s["suites"]}
    assert len(text_suite) == 18 and "pokemon_image_stats" in names
    book = reg["book"]  # aliases resolve
    assert book["name"] == "bookprice_prediction" and "log10" in book["label_transform"]
    assert all({"label", "metric", "problem_type", "files", "license"} <= set(s) for s in reg.values())


@needs_mirror
def test_load_from_the_mirror_verifies_and_returns_the_splits():
    d = datasets.load("bookprice_prediction", download=False)
    assert len(d.train) == 4989 and len(d.test) == 1248 and len(d.competition) == 1560
    assert "Price" not in d.competition.columns


@needs_mirror
def test_checksum_mismatch_is_refused_by_name(tmp_path):
    copy = tmp_path / "imdb_genre_prediction"
    shutil.copytree(SHARED / "imdb_genre_prediction", copy)
    with open(copy / "test.csv", "a") as f:
        f.write("tampered\n")
    with pytest.raises(datasets.ChecksumError, match="test.csv"):
        datasets.load("imdb_genre_prediction", data_dir=tmp_path, download=False)
    assert len(datasets.load("imdb_genre_prediction", data_dir=tmp_path, download=False, verify=False).test) > 200


def test_missing_dataset_says_where_it_looked_and_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("AUTOMM_CACHE", str(tmp_path / "cache"))
    with pytest.raises(FileNotFoundError) as err:
        datasets.load("wine_reviews", data_dir=tmp_path, download=False)
    msg = str(err.value)
    assert str(tmp_path / "wine_reviews") in msg and "AUTOMM_DATA_DIR" in msg
    with pytest.raises(KeyError, match="not in datasets.yaml"):
        datasets.load("no_such_dataset")
