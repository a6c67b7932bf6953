"""A model folder loses nothing, trusts nothing it should not and never reaches outside itself
(the persistence cases of the reliability review, issue 16)."""
import json
import os
import warnings

import numpy as np
import pandas as pd
import pytest

from automm import MultimodalPredictor
from automm.cli import main
from automm.features import backbones
from automm.persistence import MANIFEST, ModelFormatError, manifest_digest

from .conftest import split

FAST = {"linear": {}, "lightgbm": {}}


@pytest.fixture(scope="module")
def fitted(binary_df):
    train, test = split(binary_df, 0.8)
    p = MultimodalPredictor(label="y", verbosity=0).fit(train, presets="fast", time_limit=30)
    return p, train, test


def _manifest(folder):
    return json.loads((folder / MANIFEST).read_text())


def _rewrite(folder, m, redigest=True):
    """What a deliberate editor does: change the manifest and recompute its digest."""
    if redigest:
        m["digest"] = manifest_digest(m)
    (folder / MANIFEST).write_text(json.dumps(m))


def edited(p, folder, edit, redigest=True):
    """`p` saved to `folder`, then its manifest changed by `edit(manifest)`."""
    p.save(folder)
    m = _manifest(folder)
    edit(m)
    _rewrite(folder, m, redigest)
    return folder


def refused(folder, match):
    with pytest.raises(ModelFormatError, match=match):
        MultimodalPredictor.load(folder)


def test_save_from_inside_the_model_folder_replaces_it(fitted, tmp_path, monkeypatch):
    p, _, test = fitted
    p.save(tmp_path / "m")
    monkeypatch.chdir(tmp_path / "m")
    MultimodalPredictor.load(".").save(".", overwrite=True)
    assert os.getcwd() == str(tmp_path / "m") and (tmp_path / "m" / MANIFEST).is_file()
    pd.testing.assert_frame_equal(MultimodalPredictor.load(".").predict_proba(test), p.predict_proba(test))
    assert sorted(x.name for x in tmp_path.iterdir()) == ["m"]  # no temporary or old folder left


def test_cli_refit_of_the_current_folder_keeps_the_model(fitted, tmp_path, monkeypatch):
    p, train, _ = fitted
    p.save(tmp_path / "m")
    train.to_csv(tmp_path / "train.csv", index=False)
    monkeypatch.chdir(tmp_path / "m")
    assert main(["refit", "--model", ".", "--train", "../train.csv"]) == 0
    q = MultimodalPredictor.load(tmp_path / "m")
    assert q.models_full_ and q.inference_ == "refit"


def test_overwrite_never_deletes_what_is_not_the_model(fitted, tmp_path):
    p, _, _ = fitted
    project = tmp_path / "project"
    (project / "src").mkdir(parents=True)
    (project / MANIFEST).write_text('{"my": "config"}')
    (project / "src" / "analysis.py").write_text("years of work")
    with pytest.raises(FileExistsError, match="not an automm model"):
        p.save(project, overwrite=True)
    assert (project / "src" / "analysis.py").read_text() == "years of work"
    p.save(tmp_path / "m")
    (tmp_path / "m" / "submission.csv").write_text("id,y\n")
    with pytest.raises(FileExistsError, match=r"submission\.csv.*move them out"):
        p.save(tmp_path / "m", overwrite=True)
    assert (tmp_path / "m" / "submission.csv").exists()
    (tmp_path / "plainfile").write_text("x")
    with pytest.raises(FileExistsError, match="is a file, not a folder"):
        p.save(tmp_path / "plainfile" / "m")


def test_save_through_a_symlink_replaces_the_folder_it_names(fitted, tmp_path):
    p, _, _ = fitted
    p.save(tmp_path / "real")
    (tmp_path / "link").symlink_to(tmp_path / "real")
    p.save(tmp_path / "link", overwrite=True)
    assert (tmp_path / "link").is_symlink() and (tmp_path / "real" / MANIFEST).is_file()
    MultimodalPredictor.load(tmp_path / "link")


def test_any_edit_of_the_manifest_is_refused(fitted, tmp_path):
    p, _, _ = fitted
    p.save(tmp_path / "m")
    m = _manifest(tmp_path / "m")
    assert p.info()["digest"] == m["digest"] == manifest_digest(m)  # what a publisher would quote
    for key, value in (("classes", m["classes"][::-1]), ("weights", {"linear_L1": 1.0, "lightgbm_L1": 0.0}),
                       ("params", {**m["params"], "image_dir": "/etc"})):
        _rewrite(tmp_path / "m", {**m, key: value}, redigest=False)
        refused(tmp_path / "m", "digest")


@pytest.mark.parametrize("name", ["../outside.txt", "/etc/hostname", "models/../../outside.txt"])
def test_manifest_paths_outside_the_folder_are_refused_even_with_a_new_digest(fitted, tmp_path, name):
    (tmp_path / "outside.txt").write_text("secret")
    refused(edited(fitted[0], tmp_path / "m", lambda m: m["files"].update({name: "0" * 64})), "outside")


def test_a_model_name_that_climbs_out_is_refused(fitted, tmp_path):
    refused(edited(fitted[0], tmp_path / "m", lambda m: m["models"][0].update(name="../../outside/lgbm")),
            "not a plain model name")


def test_symlinks_and_unlisted_model_files_are_refused(fitted, tmp_path):
    p, _, _ = fitted
    p.save(tmp_path / "m")
    model_file = next((tmp_path / "m" / "models").glob("lightgbm_L1.fold0*"))
    outside = tmp_path / "copy.txt"
    outside.write_bytes(model_file.read_bytes())
    model_file.unlink()
    model_file.symlink_to(outside)  # same bytes, same checksum: still outside the folder
    refused(tmp_path / "m", "outside the model folder")
    p.save(tmp_path / "n")
    (tmp_path / "n" / "models" / "extra.lgb.txt").write_text("tree")
    refused(tmp_path / "n", "does not list")


@pytest.mark.parametrize("key", ["files", "models", "schema"])
def test_a_manifest_missing_a_key_is_a_format_error(fitted, tmp_path, key):
    refused(edited(fitted[0], tmp_path / "m", lambda m: m.pop(key)), "damaged")


def test_pickled_arrays_are_refused_with_a_format_error(fitted, tmp_path):
    from automm.persistence import sha256
    arrays = tmp_path / "m" / "arrays.npz"

    def pickled(m):
        np.savez(arrays, x=np.array([{"a": 1}], dtype=object))
        m["files"]["arrays.npz"] = sha256(arrays)
    refused(edited(fitted[0], tmp_path / "m", pickled), "cannot be read safely")


def test_a_format_1_model_without_a_digest_still_loads(fitted, tmp_path):
    p, _, test = fitted
    edited(p, tmp_path / "m", lambda m: (m.update(format_version=1), m.pop("digest")), redigest=False)
    pd.testing.assert_series_equal(MultimodalPredictor.load(tmp_path / "m").predict(test), p.predict(test))


@pytest.mark.slow
def test_fit_with_a_path_keeps_what_finished_when_it_dies(binary_df, tmp_path, register):
    register("interrupting", "tests.crashing_model:InterruptingModel", "sklearn", "scikit-learn")
    train, test = split(binary_df, 0.8)
    p = MultimodalPredictor(label="y", verbosity=0, path=str(tmp_path / "m"))
    with pytest.raises(KeyboardInterrupt):
        p.fit(train, hyperparameters={"linear": {}, "lightgbm": {}, "interrupting": {}}, num_bag_folds=2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        q = MultimodalPredictor.load(tmp_path / "m")
    assert any("did not complete" in str(w.message) for w in caught)
    assert [b.name for b in q.models_] == ["linear_L1", "lightgbm_L1"]
    assert q.predict(test).isin(["yes", "no"]).all()
    # the next fit there must be told to replace it, before it starts
    with pytest.raises(FileExistsError, match="overwrite=True"):
        MultimodalPredictor(label="y", path=str(tmp_path / "m")).fit(train, hyperparameters=FAST)
    done = MultimodalPredictor(label="y", verbosity=0, path=str(tmp_path / "m")).fit(
        train, hyperparameters=FAST, num_bag_folds=2, overwrite=True)
    assert _manifest(tmp_path / "m")["complete"] is True
    pd.testing.assert_series_equal(MultimodalPredictor.load(tmp_path / "m").predict(test), done.predict(test))


def test_cli_checks_out_before_fitting(fitted, tmp_path, monkeypatch, capsys):
    p, train, _ = fitted
    p.save(tmp_path / "m")
    train.to_csv(tmp_path / "train.csv", index=False)

    def no_fit(*a, **k):
        raise AssertionError("the fit started")
    monkeypatch.setattr(MultimodalPredictor, "fit", no_fit)
    args = ["fit", "--train", str(tmp_path / "train.csv"), "--label", "y", "--presets", "fast"]
    assert main(args + ["--out", str(tmp_path / "m")]) == 2
    assert "already exists" in capsys.readouterr().err
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "a.txt").write_text("mine")
    assert main(args + ["--out", str(tmp_path / "notes"), "--overwrite"]) == 2
    assert "not an automm model" in capsys.readouterr().err and (tmp_path / "notes" / "a.txt").exists()


def test_default_backbone_files_are_pinned_and_checked(tmp_path, monkeypatch):
    assert backbones._minilm()  # the installed files match their pins
    f = tmp_path / "weights.pth"
    f.write_bytes(b"changed weights")
    with pytest.raises(backbones.WeightsMismatch, match="AUTOMM_SKIP_WEIGHT_CHECK"):
        backbones.verify_file(f, "0" * 64, "image backbone 'x'")
    monkeypatch.setenv("AUTOMM_SKIP_WEIGHT_CHECK", "1")
    backbones.verify_file(f, "0" * 64, "image backbone 'x'")
