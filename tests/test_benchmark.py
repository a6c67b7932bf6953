import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from automm.bench import records, runner
from automm.datasets import DEFAULT_MIRRORS

needs_mirror = pytest.mark.skipif(not (DEFAULT_MIRRORS[0] / "imdb_genre_prediction").is_dir(),
                                  reason="the shared dataset mirror is not beside this checkout")


@pytest.mark.slow
@needs_mirror
def test_quick_mode_end_to_end_with_rerun_and_report(tmp_path):
    """Each record says what produced it and keeps its run's log and test predictions beside the results."""
    results = tmp_path / "results.jsonl"
    assert runner.main(["--quick", "--results", str(results), "--report", str(tmp_path / "report")]) == 0
    rows = [json.loads(line) for line in results.read_text().splitlines()]
    assert {r["system"] for r in rows} == {"automm-fast", "lgbm-tfidf-baseline"}
    for r in rows:
        assert r["status"] == "ok", r.get("error")
        assert 0.5 < r["score"] <= 1 and r["metric"] == "roc_auc"
        assert r["fit_s"] > 0 and r["predict_rows_per_s"] > 0 and r["peak_rss_mb"] > 50
        assert r["commit"] == runner.code_commit() and r["cores"] >= 1 and r["load_at_start"] >= 0
        assert r["versions"]["lightgbm"] and r["static_text_cache"] in ("warm", "cold")
        folder = tmp_path / r["run_dir"]
        assert (folder / "log.txt").exists() and len(pd.read_csv(folder / "predictions.csv")) == r["test_rows"] == 100
    fast = next(r for r in rows if r["system"] == "automm-fast")
    assert fast["layer1_expected"] == 2 and fast["layer1_trained"] == 2 and fast["starved"] is False
    board = pd.read_csv(tmp_path / fast["run_dir"] / "leaderboard.csv")
    assert {"linear_L1", "lightgbm_L1"} <= set(board.model) and "score_test" not in board  # validation only
    runner.main(["--quick", "--results", str(results)])  # a rerun skips what is done
    assert len(results.read_text().splitlines()) == 2
    md = (tmp_path / "report" / "results.md").read_text()
    assert "automm-fast" in md and "mean rank" in md and runner.code_commit() in md
    for plot in ("budget.png", "speed.png", "memory.png"):
        assert (tmp_path / "report" / plot).stat().st_size > 1000


def _run(system, dataset, score, status="ok", seed=0, **extra):
    return {"system": system, "dataset": dataset, "seed": seed, "time_limit": 300.0, "status": status,
            "metric": "r2", **({"score": score, "fit_s": 290.0, "predict_rows_per_s": 10.0, "peak_rss_mb": 100.0}
                               if status == "ok" else {}), **extra}


def test_a_failed_run_ranks_last_and_a_starved_one_is_flagged(tmp_path):
    """Nothing is dropped: a time-out counts as the worst score of its dataset, normalised scores cover
    only the datasets every system finished, and a starved run is marked with its leaderboard."""
    from automm.bench.report import load_results, score_table, summarize
    rows = [_run("a", "d1", 0.9), _run("b", "d1", 0.5), _run("c", "d1", None, "timeout"),
            _run("a", "d2", 0.2, fit_s=900.0), _run("b", "d2", 0.8, starved=True, layer1_trained=2, layer1_expected=8,
                                         run_dir="runs/b.d2.s0.300"), _run("c", "d2", 0.7),
            _run("a", "d2", 0.4, seed=1), _run("b", "d2", 0.6, seed=1), _run("c", "d2", 0.5, seed=1),
            _run("baseline", "d1", 0.1), _run("baseline", "d2", 0.0),  # an old record's name
            _run("a", "d1", 0.3, time_limit=600.0), _run("b", "d1", 0.95, time_limit=600.0)]  # two systems at 600 s
    (tmp_path / "r.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    df = load_results(tmp_path / "r.jsonl")
    scores, summary = summarize(df)
    assert scores.loc[("d1", 300.0), "c"] == 0.1  # the worst score on d1 (lgbm-tfidf-baseline's), not left out
    at300 = summary.xs(300, level="budget s")
    assert at300.loc["c", "runs failed"] == 1 and at300.loc["b", "runs starved"] == 1
    assert at300.loc["a", "runs overran"] == 1 and at300.loc["b", "runs overran"] == 0
    assert at300.loc["a", "mean rank"] == (1 + 3) / 2  # d1: first; d2: 0.3 against 0.7 and 0.6; 600 s apart
    assert at300.loc["b", "mean normalised score"] == 1.0  # d2 only: d1 has a time-out
    assert (at300["datasets normalised"] == 1).all()
    at600 = summary.xs(600, level="budget s")  # only the systems run at 600 s, ranked among themselves
    assert set(at600.index) == {"a", "b"} and at600.loc["b", "mean rank"] == 1 and at600.loc["a", "mean rank"] == 2
    assert at600.loc["a", "mean normalised score"] == 0 and at600.loc["a", "runs overran"] == 0
    table = score_table(df)
    assert table.loc["d1 (r2, 300 s)", "c"] == "timeout"
    assert table.loc["d2 (r2, 300 s)", "a"] == "0.3000 ± 0.1414 (2); ⏱ s0: fit 900 s"
    assert "[†](runs/b.d2.s0.300/leaderboard.csv) s0: 2 of 8 model kinds" in table.loc["d2 (r2, 300 s)", "b"]
    assert "lgbm-tfidf-baseline" in table


def test_the_paired_bootstrap_compares_the_same_test_rows(tmp_path, monkeypatch):
    """automm better on every row: the difference is positive, its interval excludes 0 and automm is
    ahead in every resample; the same predictions for both: a difference of exactly 0."""
    from types import SimpleNamespace

    from automm import datasets
    from automm.bench.report import paired_bootstrap
    rng = np.random.default_rng(0)
    y = rng.normal(size=300)
    test = pd.DataFrame({"y": y, "x": 1.0})
    monkeypatch.setattr(datasets, "load", lambda name, **kw: SimpleNamespace(
        spec={"label": "y", "metric": "r2", "problem_type": "regression"}, test=test))
    rows = []
    for system, pred in (("automm-best", y + rng.normal(0, 0.3, 300)), ("autogluon-best", y + rng.normal(0, 1, 300)),
                         ("other", y + rng.normal(0, 1, 300))):
        for seed in (0, 1):
            folder = tmp_path / "runs" / f"{system}.{seed}"
            folder.mkdir(parents=True)
            pd.DataFrame({"prediction": pred}).to_csv(folder / "predictions.csv", index=False)
            rows.append(_run(system, "d", 0.0, seed=seed, run_dir=f"runs/{system}.{seed}"))
    df = pd.DataFrame(rows)
    out = paired_bootstrap(df, runs_root=tmp_path, resamples=200).iloc[0]
    assert out["seeds"] == 2 and out["test rows"] == 300 and out["automm-best - autogluon-best"] > 0.5
    low = float(out["95% interval"].strip("[]").split(",")[0])
    assert low > 0 and out["automm-best ahead"] == "100%"
    same = paired_bootstrap(df, runs_root=tmp_path, pair=("autogluon-best", "autogluon-best"), resamples=50)
    assert same.iloc[0]["autogluon-best - autogluon-best"] == 0


@needs_mirror
def test_failures_are_recorded_and_the_rest_go_on(tmp_path, monkeypatch):
    monkeypatch.setitem(runner.SYSTEMS, "automm-broken", ("automm", "no_such_preset"))
    monkeypatch.setattr(runner, "AG_PYTHON", tmp_path / "missing" / "python")
    results = tmp_path / "r.jsonl"
    rows = runner.run(["automm-broken", "autogluon-medium"], ["imdb_genre_prediction", "wine_reviews"], [0], [5],
                      results, max_train_rows=100, max_test_rows=50, echo=lambda *_: None)
    status = {(r["system"], r["dataset"]): r["status"] for r in rows}
    assert status[("automm-broken", "imdb_genre_prediction")] == "crash"
    assert "no_such_preset" in next(r for r in rows if r["status"] == "crash")["error"]
    assert status[("autogluon-medium", "imdb_genre_prediction")] == "unavailable"
    assert status[("automm-broken", "wine_reviews")] == "unavailable"
    assert len(results.read_text().splitlines()) == 4


def test_wall_clock_and_memory_caps(tmp_path):
    status, secs, _ = runner.run_capped([sys.executable, "-c", "import time; time.sleep(30)"], 1.0, 2**34,
                                        tmp_path / "a.log")
    assert status == "timeout" and secs < 10
    hog = "import time; x = bytearray(400 * 2**20); time.sleep(30)"
    status, secs, peak = runner.run_capped([sys.executable, "-c", hog], 60, 200 * 2**20, tmp_path / "b.log")
    assert status == "memory" and peak > 200 * 2**20 and secs < 20


def test_retry_failed_reruns_only_what_failed(tmp_path):
    results = tmp_path / "r.jsonl"
    rows = [{"system": "a", "dataset": "d", "seed": 0, "time_limit": 5, "status": "timeout"},
            {"system": "b", "dataset": "d", "seed": 0, "time_limit": 5, "status": "ok", "score": 1.0}]
    results.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert runner.finished(results) == {("a", "d", 0, 5.0), ("b", "d", 0, 5.0)}
    assert runner.finished(results, retry_failed=True) == {("b", "d", 0, 5.0)}
    with open(results, "a") as f:
        f.write(json.dumps({**rows[0], "status": "ok", "score": 0.5}) + "\n")
    from automm.bench.report import load_results
    df = load_results(results)
    assert len(df) == 2 and df.loc[df.system == "a", "status"].item() == "ok"


def _record_values(results) -> list[float]:
    """Every number the committed records hold: the values in the JSON records, and the figures of the
    pages made from them."""
    import json
    import re
    values = []

    def walk(v):
        if isinstance(v, bool):
            return
        if isinstance(v, (int, float)):
            values.append(float(v))
        elif isinstance(v, dict):
            for x in v.values():
                walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)
    for f in sorted(results.glob("*.jsonl")):
        for line in f.read_text().splitlines():
            if line.strip():
                walk(json.loads(line))
    for f in sorted(results.glob("*.md")):
        values += [float(x) for x in re.findall(r"(?<![\w.])-?\d+\.\d+(?![\d.])", f.read_text())]
    return values


def _unquoted(text: str, values: list[float]) -> list[str]:
    """The decimal figures of `text` that no record value gives when rounded as the figure is written."""
    import re
    out = []
    rounded = {}
    for fig in set(re.findall(r"(?<![\w.])\d+\.\d+(?![\d.])", text)):
        places = len(fig.split(".")[1])
        if places not in rounded:
            rounded[places] = {round(abs(v), places) for v in values}
        if float(fig) not in rounded[places]:
            out.append(fig)
    return sorted(out)


def test_every_figure_in_the_benchmark_pages_is_a_committed_records_value():
    """Each decimal figure (a score, a speed-up, rows/s with a decimal) in docs/benchmarks.md and the
    README's standing is a value of a record under benchmarks/results, rounded as written: the pages
    quote records, never numbers typed by hand (0.85 does not pass for a record of 0.8577)."""
    from pathlib import Path
    root = Path(__file__).resolve().parents[1]
    readme = root / "README.md"
    standing = readme.read_text().split("**Standing**", 1)[1].split("\n## ", 1)[0]
    pages = (root / "docs" / "benchmarks.md").read_text() + standing
    values = _record_values(root / "benchmarks" / "results")
    assert _unquoted("0.6186 0.8524", values) == [] and _unquoted("0.6187 0.852", values) == ["0.6187"], \
        "the check must tell a record's value from one next to it"
    assert "0.6186" in standing, "the standing quotes no figure: this test would check nothing"
    assert _unquoted(pages, values) == []


@pytest.mark.slow
@needs_mirror  # results.md's paired bootstrap reads the test labels
def test_the_published_pages_are_what_the_records_make(tmp_path):
    """results.md, ablation.md, search.md, parallel.md, cpu_neural.md and embed_speed.md are exactly
    what `python benchmarks/report.py` makes from the committed records: none is edited by hand."""
    import importlib.util

    from automm.bench.report import write_report
    root = Path(__file__).resolve().parents[1]
    results = root / "benchmarks" / "results"
    spec = importlib.util.spec_from_file_location("benchmark_pages", root / "benchmarks" / "report.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    pages = module.pages()
    assert set(pages) == {"ablation.md", "search.md", "parallel.md", "cpu_neural.md", "embed_speed.md"}
    for name, text in pages.items():
        assert (results / name).read_text() == text, f"{name} differs from what its records make"
    write_report(results / "results.jsonl", tmp_path)
    assert (results / "results.md").read_text() == (tmp_path / "results.md").read_text()


def test_autogluon_layer1_families_come_from_its_leaderboard_names():
    """Bagged (best_quality, zeroshot names) and plain (medium_quality) names; stackers and ensembles
    do not count: a run with 4 of the 8 families trained is starved."""
    best = ["LightGBMXT_BAG_L1", "LightGBM_r131_BAG_L1", "CatBoost_BAG_L1", "NeuralNetFastAI_r145_BAG_L1",
            "RandomForestGini_BAG_L1", "WeightedEnsemble_L2", "XGBoost_BAG_L2", "KNeighborsDist_BAG_L2"]
    assert runner.ag_layer1_families(best) == ["CAT", "FASTAI", "GBM", "RF"]
    medium = ["LightGBM", "CatBoost", "KNeighborsUnif", "NeuralNetTorch", "ExtraTreesEntr", "WeightedEnsemble_L2"]
    assert runner.ag_layer1_families(medium) == ["CAT", "GBM", "KNN", "NN_TORCH", "XT"]
    assert runner.layer1_expected("autogluon-best", {}) == 8
    assert runner.layer1_expected("autogluon-medium-norfxt", {}) == 6  # without RF and XT


def test_an_ablation_compares_its_variant_with_the_suites_run_at_the_same_seed_and_limit(tmp_path):
    """The ablation pages take automm-best from the suite's records (not run twice), match the variant's
    seed and time limit, and list each model's validation score from both run folders."""
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        "ablation_page", Path(__file__).resolve().parents[1] / "benchmarks" / "ablation.py")
    ablation = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ablation)
    for system, score, lin in (("automm-best", 0.70, 0.61), ("automm-best-notokens", 0.68, 0.62)):
        folder = tmp_path / "runs" / f"{system}.women.s0.600"
        folder.mkdir(parents=True)
        (folder / "leaderboard.csv").write_text(f"model,layer,score_val\nensemble,3,{score + 0.01}\nlinear_L1,1,{lin}\n")
    suite = [_run("automm-best", "women", 0.70, time_limit=600.0, commit="abc1234", run_dir="runs/automm-best.women.s0.600"),
             _run("automm-best", "women", 0.99, seed=1, time_limit=600.0),  # another seed: not compared
             _run("automm-best", "women", 0.98, commit="abc1234")]       # another limit (300 s): not compared
    variant = [_run("automm-best-notokens", "women", 0.68, time_limit=600.0, commit="abc1234",
                    run_dir="runs/automm-best-notokens.women.s0.600")]
    for name, rows in (("results.jsonl", suite), ("ablation.jsonl", variant)):
        (tmp_path / name).write_text("".join(json.dumps(r) + "\n" for r in rows))
    page = ablation.render([tmp_path / "ablation.jsonl", tmp_path / "results.jsonl"], "automm-best",
                           ["automm-best-notokens"], 600)
    assert "| women (r2) | 0.7000 | 0.6800 (-0.0200) |" in page
    assert "automm-best abc1234; automm-best-notokens abc1234" in page
    assert "ensemble 0.7100 -> 0.6900" in page and "linear_L1 0.6100 -> 0.6200" in page
    empty = ablation.render([tmp_path / "ablation.jsonl", tmp_path / "results.jsonl"], "automm-best",
                            ["automm-best-noneural"], 600)
    assert empty.startswith("No run of automm-best-noneural at 600 s")


STUB_AUTOGLUON = '''
import json, os
import pandas as pd
__version__ = "0.0-stub"

class TabularPredictor:
    def __init__(self, label, **kwargs):
        self.label, self.calls = label, {"init": {k: v for k, v in kwargs.items() if k != "path"}}

    def fit(self, train, **kwargs):
        self.calls["fit"] = {**kwargs, "rows": len(train)}
        self.classes = sorted(train[self.label].unique())
        self.prior = train[self.label].value_counts(normalize=True)

    def predict_proba(self, X):
        self.calls["predict_columns"] = list(X.columns)
        with open(os.environ["STUB_CALLS"], "w") as f:
            json.dump(self.calls, f)
        return pd.DataFrame({c: [self.prior[c]] * len(X) for c in self.classes})

    def leaderboard(self, silent=True):
        return pd.DataFrame({"model": ["WeightedEnsemble_L2", "LightGBM_BAG_L1", "CatBoost_r9_BAG_L1"],
                             "score_val": [0.6, 0.55, 0.5]})
'''


@needs_mirror
def test_the_autogluon_worker_gets_the_seed_the_preset_and_the_variant_and_its_leaderboard_decides_starved(
        tmp_path, monkeypatch):
    """ag_worker.py run as the suite runs it, against a stand-in for AutoGluon that records what it was
    given: the seed reaches the splits and the models, the variant's exclusions reach fit, predict never
    sees the label, and two model families of the six a no-RF/XT medium has mean starved."""
    package = tmp_path / "stub" / "autogluon" / "tabular"
    package.mkdir(parents=True)
    (package.parent / "__init__.py").write_text("")
    (package / "__init__.py").write_text(STUB_AUTOGLUON)
    monkeypatch.setenv("PYTHONPATH", str(tmp_path / "stub"))
    monkeypatch.setenv("STUB_CALLS", str(tmp_path / "calls.json"))
    monkeypatch.setattr(runner, "AG_PYTHON", Path(sys.executable))
    r = runner.run_one("autogluon-medium-norfxt", "imdb_genre_prediction", 3, 5.0, None, 4, max_train_rows=120,
                       max_test_rows=60, runs_dir=tmp_path / "runs")
    assert r["status"] == "ok", r.get("error")
    calls = json.loads((tmp_path / "calls.json").read_text())
    assert calls["init"]["learner_kwargs"] == {"random_state": 3} and calls["init"]["eval_metric"] == "roc_auc"
    assert calls["fit"]["presets"] == "medium_quality" and calls["fit"]["time_limit"] == 5.0
    assert calls["fit"]["excluded_model_types"] == ["RF", "XT"] and calls["fit"]["rows"] == 120
    assert calls["fit"]["ag_args_ensemble"] == {"model_random_seed": 3}
    assert "Genre_is_Drama" not in calls["predict_columns"]
    assert r["score"] == 0.5 and r["versions"]["autogluon"] == "0.0-stub"  # a constant prediction's ROC AUC
    assert (r["layer1_families"], r["layer1_trained"], r["layer1_expected"], r["starved"]) == (["CAT", "GBM"], 2, 6, True)
    assert len(pd.read_csv(tmp_path / r["run_dir"] / "predictions.csv")) == 60
    assert "CatBoost_r9_BAG_L1" in (tmp_path / r["run_dir"] / "leaderboard.csv").read_text()


def test_scores_map_class_columns_by_name_and_read_regression_as_values():
    from sklearn.metrics import accuracy_score, r2_score
    test = pd.DataFrame({"y": ["b", "c", "a", "b"], "v": [1.0, 2.0, 3.0, 4.0]})
    proba = pd.DataFrame({"c": [0.1, 0.8, 0.1, 0.2], "a": [0.1, 0.1, 0.7, 0.1], "b": [0.8, 0.1, 0.2, 0.7]})
    spec = {"label": "y", "metric": "accuracy"}
    assert records.score(proba, test, spec, "multiclass") == 1.0
    assert records.score(proba[["a", "b", "c"]], test, spec, "multiclass") == 1.0  # column order does not matter
    assert records.score(proba.rename(columns={"a": "b", "b": "a"}), test, spec, "multiclass") == accuracy_score(
        test.y, ["a", "c", "b", "a"])
    pred = pd.DataFrame({"prediction": [1.5, 2.0, 2.5, 4.5]})
    assert records.score(pred, test, {"label": "v", "metric": "r2"}, "regression") == pytest.approx(
        r2_score(test.v, pred.prediction))
    with pytest.raises(ValueError, match="no prediction column"):
        records.score(proba[["a", "b"]], test, spec, "multiclass")


@needs_mirror
def test_the_automm_worker_predicts_the_same_whatever_the_test_labels_are():
    """The worker is handed the labelled test split (the runner scores it): scrambling those labels
    must not move a single prediction, or the fit saw them."""
    from automm import datasets
    from automm.bench import worker
    ds = datasets.load("imdb_genre_prediction")
    label = ds.spec["label"]
    train, test = ds.train.sample(200, random_state=0).reset_index(drop=True), ds.test.head(80).reset_index(drop=True)
    scrambled = test.assign(**{label: np.random.default_rng(0).permutation(test[label].to_numpy())})
    assert (scrambled[label] != test[label]).any()
    preds = [worker.fit_predict_automm(train, t, label, "roc_auc", "binary", "fast", 30, 0)[0] for t in (test, scrambled)]
    pd.testing.assert_frame_equal(*preds)
