"""Deploying a fitted folder: one-file archives, version checks at load, a copy with only what predict
uses, and a trees-only model that loads and predicts where torch is not installed."""
import json
import subprocess
import sys
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest

from automm import MultimodalPredictor, compat
from automm.persistence import MANIFEST, ModelFormatError
from tests.conftest import split

ROOT = Path(__file__).resolve().parents[1]
# torch, transformers and safetensors made unimportable, as on a machine where they were never installed
NO_TORCH = """
import importlib.machinery, sys
class NotInstalled(importlib.machinery.PathFinder):
    @classmethod
    def find_spec(cls, name, path=None, target=None):
        if name.split('.')[0] in ('torch', 'transformers', 'safetensors'):
            return None
        return super().find_spec(name, path, target)
sys.meta_path[:] = [NotInstalled if f is importlib.machinery.PathFinder else f for f in sys.meta_path]
"""


@pytest.fixture(scope="module")
def fitted(binary_df):
    train, test = split(binary_df, 0.8)
    p = MultimodalPredictor(label="y", verbosity=0).fit(train, presets="fast", time_limit=30)
    return p, test


def test_an_archive_loads_with_the_same_predictions_and_digest(fitted, tmp_path):
    p, test = fitted
    path = p.save(tmp_path / "model.zip", archive=True)
    assert Path(path).is_file() and zipfile.is_zipfile(path)
    q = MultimodalPredictor.load(path)
    assert q.digest_ == p.digest_
    np.testing.assert_array_equal(q.predict_proba(test).to_numpy(), p.predict_proba(test).to_numpy())
    with pytest.raises(FileExistsError, match="already exists"):
        p.save(path, archive=True)
    p.save(path, archive=True, overwrite=True)  # an archive replaces an archive
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not an automm model archive"):
        p.save(tmp_path / "notes.txt", archive=True, overwrite=True)
    assert (tmp_path / "notes.txt").read_text() == "mine"


def _rezip(src: Path, dst: Path, edit) -> Path:
    with zipfile.ZipFile(src) as z, zipfile.ZipFile(dst, "w") as out:
        for info in z.infolist():
            name, data = edit(info.filename, z.read(info))
            if name is not None:
                out.writestr(name, data)
    return dst


def test_an_archive_gets_the_folder_checks(fitted, tmp_path):
    p, _ = fitted
    src = Path(p.save(tmp_path / "model.zip", archive=True))
    edited = _rezip(src, tmp_path / "edited.zip",
                    lambda n, d: (n, d + b" " if n.endswith(".txt") else d))
    with pytest.raises(ModelFormatError, match="does not match its recorded checksum"):
        MultimodalPredictor.load(edited)
    climbing = _rezip(src, tmp_path / "climb.zip", lambda n, d: ("../" + n if n == MANIFEST else n, d))
    with pytest.raises(ModelFormatError, match="outside the model folder"):
        MultimodalPredictor.load(climbing)
    assert not (tmp_path / MANIFEST).exists()
    link = tmp_path / "link.zip"
    with zipfile.ZipFile(src) as z, zipfile.ZipFile(link, "w") as out:
        for info in z.infolist():
            out.writestr(info, z.read(info))
        sym = zipfile.ZipInfo("models/evil")
        sym.external_attr = (0o120777 << 16)
        out.writestr(sym, "/etc/passwd")
    with pytest.raises(ModelFormatError, match="symlink"):
        MultimodalPredictor.load(link)


def test_versions_are_compared_at_load(fitted, tmp_path, monkeypatch):
    p, test = fitted
    folder = p.save(tmp_path / "m")
    saved = json.loads((Path(folder) / MANIFEST).read_text())["libraries"]
    assert {"numpy", "pandas", "scikit-learn", "lightgbm"} <= set(saved)
    real = compat.installed_versions

    def installed(lightgbm):
        return lambda libraries=compat.LIBRARIES: {**real(libraries), "lightgbm": lightgbm}
    major = str(int(saved["lightgbm"].split(".")[0]) + 1) + ".0.0"
    monkeypatch.setattr(compat, "installed_versions", installed(major))
    with pytest.raises(compat.VersionMismatchError, match=f"lightgbm {saved['lightgbm']} -> {major}"):
        MultimodalPredictor.load(folder)
    with pytest.warns(UserWarning, match="other versions"):
        q = MultimodalPredictor.load(folder, require_version_match=False)
    assert q.predict(test).equals(p.predict(test))
    a, b, *_ = saved["lightgbm"].split(".")
    monkeypatch.setattr(compat, "installed_versions", installed(f"{a}.{int(b) + 1}.0"))
    with pytest.warns(UserWarning, match="lightgbm"):
        MultimodalPredictor.load(folder)
    monkeypatch.setattr(compat, "installed_versions", real)
    import automm.predictor
    monkeypatch.setattr(automm.predictor, "__version__", "1.0.0")  # automm 0.1 -> 1.0 is a major step
    with pytest.raises(compat.VersionMismatchError, match="automm 0.1.0 -> 1.0.0"):
        MultimodalPredictor.load(folder)


@pytest.mark.parametrize("saved, now, kind", [("2.1.3", "2.1.9", None), ("2.1.3", "2.2.0", "minor"),
                                              ("2.1.3", "3.0.0", "major"), ("0.1.0", "0.2.0", "major"),
                                              ("1.26.4", "2.0.0rc1", "major"), ("4.6.0+cpu", "4.6.0", None)])
def test_version_differences(saved, now, kind):
    major, minor = compat.differences({"lib": saved}, {"lib": now})
    assert (major, minor) == ({"major": ([f"lib {saved} -> {now}"], []), "minor": ([], [f"lib {saved} -> {now}"]),
                               None: ([], [])}[kind])


def test_clone_for_deployment_keeps_only_what_predict_uses(binary_df, tmp_path):
    train, test = split(binary_df, 0.8)
    p = MultimodalPredictor(label="y", verbosity=0).fit(
        train, presets="fast", time_limit=60, hyperparameters={"linear": {}, "lightgbm": {}})
    p.ensembles_["bagged"].weights = {"linear_L1": 0.0, "lightgbm_L1": 1.0}  # one model outside the blend
    path = p.clone_for_deployment(tmp_path / "deploy")
    clone = MultimodalPredictor.load(path)
    assert clone.model_names() == ["lightgbm_L1"] and p.model_names() == ["linear_L1", "lightgbm_L1"]
    assert clone.predict_proba(test).equals(p.predict_proba(test))
    assert not list((Path(path) / "models").glob("linear_L1*"))


def _run(code: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", NO_TORCH + code], cwd=cwd, capture_output=True, text=True,
                          timeout=300, env={"PATH": "", "PYTHONPATH": str(ROOT), "HOME": str(cwd)})


@pytest.mark.slow
def test_a_trees_only_model_loads_and_predicts_without_torch(fitted, tmp_path):
    p, test = fitted
    p.save(tmp_path / "m")
    test.to_csv(tmp_path / "test.csv", index=False)
    run = _run("import pandas as pd\nfrom automm import MultimodalPredictor\n"
               "q = MultimodalPredictor.load('m')\nq.predict_proba(pd.read_csv('test.csv')).to_csv('out.csv', index=False)\n"
               "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'transformers')))", tmp_path)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]"
    import pandas as pd
    np.testing.assert_allclose(pd.read_csv(tmp_path / "out.csv").to_numpy(), p.predict_proba(test).to_numpy(),
                               rtol=1e-12)


@pytest.mark.slow
def test_a_net_outside_the_blend_is_not_read_and_one_inside_names_the_extra(binary_df, tmp_path):
    pytest.importorskip("torch")
    train, _ = split(binary_df, 0.8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p = MultimodalPredictor(label="y", verbosity=0).fit(
            train, presets="medium", num_bag_folds=2, time_limit=120,
            hyperparameters={"lightgbm": {}, "fusion_late": {"max_epochs": 2}})
    assert "fusion_late_L1" in p.model_names()
    weights = dict(p.ensembles_["bagged"].weights)
    p.ensembles_["bagged"].weights = {"lightgbm_L1": 1.0, "fusion_late_L1": 0.0}
    p.save(tmp_path / "trees")
    p.ensembles_["bagged"].weights = {"lightgbm_L1": 0.5, "fusion_late_L1": 0.5}
    p.save(tmp_path / "net")
    p.ensembles_["bagged"].weights = weights
    train.head(20).to_csv(tmp_path / "rows.csv", index=False)
    trees = _run("import pandas as pd\nfrom automm import MultimodalPredictor\nq = MultimodalPredictor.load('trees')\n"
                 "print(len(q.predict(pd.read_csv('rows.csv'))), q.model_names())", tmp_path)
    assert trees.returncode == 0, trees.stderr
    assert trees.stdout.split("\n")[0] == "20 ['lightgbm_L1', 'fusion_late_L1']"
    net = _run("from automm import MultimodalPredictor\nMultimodalPredictor.load('net')", tmp_path)
    assert net.returncode != 0
    assert "fusion_late_L1" in net.stderr and "pip install 'automm[neural]'" in net.stderr, net.stderr[-2000:]
    # with torch installed, the net outside the blend is read on first use, not at load
    q = MultimodalPredictor.load(tmp_path / "trees")
    assert not q.ensembles_["bagged"].models[1].models.loaded
    assert len(q.leaderboard(train.head(50))) == 3 and q.ensembles_["bagged"].models[1].models.loaded


@pytest.mark.slow
def test_a_model_that_embeds_images_names_the_extra_at_load_without_torch(tmp_path):
    pytest.importorskip("torch")
    from tests.neural_fixtures import image_table, register_tiny
    register_tiny(tmp_path / "tiny")
    df = image_table(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p = MultimodalPredictor("y", image_dir=str(tmp_path), image_backbone="tiny-image", verbosity=0).fit(
            df, presets="medium", num_bag_folds=2, time_limit=60, hyperparameters={"lightgbm": {}})
    assert p.pipeline_.emb_.images_ == ["photo"]
    p.save(tmp_path / "m")
    run = _run("from automm import MultimodalPredictor\nMultimodalPredictor.load('m')", tmp_path)
    assert run.returncode != 0
    assert "image column 'photo'" in run.stderr and "automm[neural]" in run.stderr, run.stderr[-2000:]


def test_only_the_libraries_a_model_uses_are_compared(fitted, tmp_path, monkeypatch):
    p, test = fitted
    folder = p.save(tmp_path / "m")
    manifest = json.loads((Path(folder) / MANIFEST).read_text())
    assert compat.used_libraries(manifest) == set(compat.CORE)  # linear and LightGBM on tables and n-grams
    real = compat.installed_versions
    monkeypatch.setattr(compat, "installed_versions",
                        lambda libraries=compat.LIBRARIES: {**real(libraries), "torch": "99.0", "catboost": "99.0"})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # not even a warning: this model reads no torch or CatBoost file
        assert MultimodalPredictor.load(folder).predict(test).equals(p.predict(test))
    with_net = {**manifest, "models": manifest["models"] + [{"kind": "fusion_late"}]}
    assert {"torch", "transformers"} <= compat.used_libraries(with_net)
