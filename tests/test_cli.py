import json
import subprocess
import sys

import pandas as pd
import pytest

from automm.cli import main

from .conftest import split


@pytest.fixture(scope="module")
def files(tmp_path_factory, binary_df):
    d = tmp_path_factory.mktemp("cli")
    train, test = split(binary_df)
    train.to_csv(d / "train.csv", index=False)
    test.to_parquet(d / "test.parquet", index=False)
    assert main(["fit", "--train", str(d / "train.csv"), "--label", "y", "--out", str(d / "model"),
                 "--presets", "fast", "--time-limit", "60", "--verbosity", "0",
                 "--column-type", "zip=categorical", "--test", str(d / "test.parquet")]) == 0
    return d, test


def test_fit_saves_a_model_and_reports_the_test_score(files, capsys):
    d, _ = files
    assert (d / "model" / "automm.json").is_file()
    assert main(["evaluate", "--model", str(d / "model"), "--data", str(d / "test.parquet")]) == 0
    scores = json.loads(capsys.readouterr().out)
    assert scores["eval_metric"] == "roc_auc" and scores["roc_auc"] > 0.8


def test_predict_writes_csv_and_parquet_with_ids_and_probabilities(files):
    d, test = files
    assert main(["predict", "--model", str(d / "model"), "--data", str(d / "test.parquet"),
                 "--out", str(d / "pred.csv"), "--id-column", "id"]) == 0
    pred = pd.read_csv(d / "pred.csv")
    assert list(pred.columns) == ["id", "y"] and (pred["id"] == test["id"]).all()
    assert set(pred["y"]) <= {"yes", "no"}
    assert main(["predict", "--model", str(d / "model"), "--data", str(d / "test.parquet"),
                 "--out", str(d / "proba.parquet"), "--proba"]) == 0
    proba = pd.read_parquet(d / "proba.parquet")
    assert list(proba.columns) == ["yes"] and len(proba) == len(test)  # binary: the positive class only
    assert main(["predict", "--model", str(d / "model"), "--data", str(d / "test.parquet"),
                 "--out", str(d / "proba.parquet"), "--proba", "--all-classes"]) == 0
    assert list(pd.read_parquet(d / "proba.parquet").columns) == ["no", "yes"]


def test_leaderboard_and_info(files, capsys):
    d, _ = files
    assert main(["leaderboard", "--model", str(d / "model"), "--data", str(d / "test.parquet")]) == 0
    out = capsys.readouterr().out
    assert "lightgbm_L1" in out and "score_test" in out
    assert main(["info", "--model", str(d / "model")]) == 0
    summary = capsys.readouterr().out
    assert "lightgbm_L1" in summary and "set by the user" in summary and len(summary.splitlines()) < 60
    assert main(["info", "--model", str(d / "model"), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["problem_type"] == "binary" and ["zip", "categorical", "set by the user"] in info["schema"]
    # complete after load: how the fit ran and how its time went
    assert info["parallel"]["slots"] >= 1 and info["timings"]["features"] > 0 and info["time_plan"] is not None


def test_errors_are_one_line_and_exit_2(files, capsys):
    d, _ = files
    assert main(["fit", "--train", str(d / "train.csv"), "--label", "nope", "--out", str(d / "m2"),
                 "--verbosity", "0"]) == 2
    assert "label column 'nope' is not in" in capsys.readouterr().err
    assert main(["fit", "--train", str(d / "train.csv"), "--label", "y", "--out", str(d / "model"),
                 "--presets", "fast", "--verbosity", "0"]) == 2  # an existing model is not overwritten
    assert "overwrite" in capsys.readouterr().err
    assert not (d / "m2").exists()


def test_console_script_runs_in_a_fresh_process(files):
    d, _ = files
    run = subprocess.run([sys.executable, "-m", "automm", "predict", "--model", str(d / "model"),
                          "--data", str(d / "test.parquet")], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines()[0] == "y"


def test_refit_then_fast_submission(files, tmp_path, capsys):
    d, test = files
    import shutil
    shutil.copytree(d / "model", tmp_path / "model")
    assert main(["refit", "--model", str(tmp_path / "model"), "--train", str(d / "train.csv")]) == 0
    assert main(["info", "--model", str(tmp_path / "model"), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["inference"] == "refit" and info["refit_models"]
    assert info["predict_rows_per_s"]["bagged"] > 0 and info["predict_rows_per_s"]["refit"] > 0
    assert main(["predict", "--model", str(tmp_path / "model"), "--data", str(d / "test.parquet"), "--proba",
                 "--id-column", "id", "--out", str(tmp_path / "sub.csv")]) == 0
    sub = pd.read_csv(tmp_path / "sub.csv")
    assert list(sub.columns) == ["id", "yes"] and len(sub) == len(test)


@pytest.mark.slow
def test_image_paths_start_from_each_csv_folder(tmp_path):
    """Fit on a CSV beside its images, predict on a copy kept in another folder with its own images."""
    import shutil
    import warnings

    pytest.importorskip("torch")
    from .neural_fixtures import image_table, register_tiny
    register_tiny(tmp_path / "tiny-text")
    df = image_table(tmp_path / "a")
    df.iloc[:130].to_csv(tmp_path / "a" / "train.csv", index=False)
    shutil.copytree(tmp_path / "a" / "img", tmp_path / "b" / "img")
    df.iloc[130:].to_csv(tmp_path / "b" / "test.csv", index=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main(["fit", "--train", str(tmp_path / "a" / "train.csv"), "--label", "y", "--out", str(tmp_path / "m"),
                     "--presets", "medium", "--time-limit", "40", "--verbosity", "0", "--text-backbone", "tiny-text",
                     "--image-backbone", "tiny-image"]) == 0
    shutil.rmtree(tmp_path / "a" / "img")  # predicting must read the images next to the test CSV
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        code = main(["predict", "--model", str(tmp_path / "m"), "--data", str(tmp_path / "b" / "test.csv"),
                     "--out", str(tmp_path / "pred.csv")])
    assert code == 0 and len(pd.read_csv(tmp_path / "pred.csv")) == 30
    assert not [w for w in caught if "image" in str(w.message)]  # every test image was found
    info = json.loads((tmp_path / "m" / "automm.json").read_text())
    assert info["features"]["embeddings"]["images"] == ["photo"]


@pytest.mark.slow
def test_fit_with_search_and_workers(files, tmp_path, capsys):
    d, _ = files
    db = tmp_path / "search.db"
    assert main(["fit", "--train", str(d / "train.csv"), "--label", "y", "--out", str(tmp_path / "m"),
                 "--presets", "fast", "--verbosity", "0", "--tune-trials", "3", "--tune-storage", f"sqlite:///{db}",
                 "--workers", "2"]) == 0
    assert db.is_file()
    capsys.readouterr()
    assert main(["info", "--model", str(tmp_path / "m"), "--json"]) == 0
    search = json.loads(capsys.readouterr().out)["models"]["lightgbm_L1"]["search"]
    assert search["trials"] == 3 and search["best_score"] >= search["default_score"]
    assert main(["fit", "--train", str(d / "train.csv"), "--label", "y", "--out", str(tmp_path / "m2"),
                 "--workers", "none", "--verbosity", "0"]) == 2
    assert "--workers must be 'auto' or a whole number" in capsys.readouterr().err


def test_bad_files_and_arguments_exit_2_with_one_line_naming_them(files, tmp_path, capsys, monkeypatch):
    d, _ = files
    model = str(d / "model")
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "garbage.csv").write_bytes(bytes(range(256)) * 40)
    (tmp_path / "adir").mkdir()
    cases = [
        (["predict", "--model", model, "--data", str(tmp_path / "missing.csv")], "no file at"),
        (["predict", "--model", model, "--data", str(tmp_path / "adir")], "is a folder"),
        (["predict", "--model", model, "--data", str(tmp_path / "empty.csv")], "empty.csv' is empty"),
        (["predict", "--model", model, "--data", str(tmp_path / "garbage.csv")], "garbage.csv' could not be read"),
        (["predict", "--model", model, "--data", str(d / "test.parquet"), "--out", str(tmp_path / "adir")],
         "is a folder; give a file name"),
        (["fit", "--train", str(d / "train.csv"), "--label", "y", "--out", str(tmp_path / "m"),
          "--column-type", "zip"], "COLUMN=TYPE"),
    ]
    for argv, message in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip()
        assert message in err and "Traceback" not in err and len(err.splitlines()) == 1, err

    def unreadable(*a, **k):
        raise PermissionError(13, "Permission denied")
    monkeypatch.setattr(pd, "read_csv", unreadable)  # the tests run as root, who may read anything
    assert main(["evaluate", "--model", model, "--data", str(d / "train.csv")]) == 2
    assert "permission denied" in capsys.readouterr().err


def test_ctrl_c_is_one_line(files, monkeypatch, capsys):
    d, _ = files
    import automm.commands as commands

    def interrupted(a):
        raise KeyboardInterrupt
    monkeypatch.setattr(commands, "cmd_info", interrupted)
    assert main(["info", "--model", str(d / "model")]) == 130
    assert capsys.readouterr().err.strip() == "automm: interrupted; nothing was saved that was not already complete"


def test_version_help_defaults_and_the_benchmark_command_are_listed(capsys):
    import automm
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0 and capsys.readouterr().out.strip() == f"automm {automm.__version__}"
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "benchmark" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["fit", "--help"])
    assert "(default: medium)" in capsys.readouterr().out


def test_log_file_gets_the_fit_log(files, tmp_path):
    d, _ = files
    log = tmp_path / "fit.log"
    assert main(["--log-file", str(log), "fit", "--train", str(d / "train.csv"), "--label", "y", "--out",
                 str(tmp_path / "m"), "--presets", "fast", "--verbosity", "1"]) == 0
    text = log.read_text()
    assert "columns:" in text and "ensemble: validation roc_auc" in text
