import json
import sys

import pytest

from automm.bench import runner
from automm.datasets import DEFAULT_MIRRORS

needs_mirror = pytest.mark.skipif(not (DEFAULT_MIRRORS[0] / "imdb_genre_prediction").is_dir(),
                                  reason="the shared dataset mirror is not beside this checkout")


@needs_mirror
def test_quick_mode_end_to_end_with_rerun_and_report(tmp_path):
    results = tmp_path / "results.jsonl"
    assert runner.main(["--quick", "--results", str(results), "--report", str(tmp_path / "report")]) == 0
    rows = [json.loads(line) for line in results.read_text().splitlines()]
    assert {r["system"] for r in rows} == {"automm-fast", "baseline"}
    for r in rows:
        assert r["status"] == "ok", r.get("error")
        assert 0.5 < r["score"] <= 1 and r["metric"] == "roc_auc"
        assert r["fit_s"] > 0 and r["predict_rows_per_s"] > 0 and r["peak_rss_mb"] > 50
    runner.main(["--quick", "--results", str(results)])  # a rerun skips what is done
    assert len(results.read_text().splitlines()) == 2
    md = (tmp_path / "report" / "results.md").read_text()
    assert "automm-fast" in md and "mean rank" in md
    assert (tmp_path / "report" / "scores.png").stat().st_size > 1000
    assert (tmp_path / "report" / "budget.png").stat().st_size > 1000


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
