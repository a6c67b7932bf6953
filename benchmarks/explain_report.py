"""explain() and the HTML report on a fitted model, measured: the time of the contributions of 100 test
rows and of the whole explanation, the additivity error (max over rows), the three most important input
columns with their intervals, and the report's size; the report rendered by Chromium (playwright) to a
screenshot.

    python benchmarks/explain_report.py --model automm_models/imdb_best --dataset imdb_genre_prediction \\
        --screenshot docs/report-imdb.png

One JSON record per run is appended to benchmarks/results/explain.jsonl, naming the commit.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--dataset", required=True)
    ap.add_argument("--rows", type=int, default=100)
    ap.add_argument("--time-limit", type=float, default=120.0)
    ap.add_argument("--screenshot", default=None, help="PNG of the report as Chromium renders it")
    a = ap.parse_args()
    from automm import MultimodalPredictor, datasets
    ds = datasets.load(a.dataset, download=False)
    p = MultimodalPredictor.load(a.model)
    p.image_dir = str(ds.folder)
    test = ds.test
    t0 = time.perf_counter()
    rows = p.explain(test, rows=test.index[: a.rows], importance=False, dependence=False,
                     time_limit=2 * 60.0)  # the contributions get half of it: 60 s
    rows_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    ex = p.explain(test, rows=test.index[: a.rows], time_limit=a.time_limit)
    whole_s = time.perf_counter() - t0
    out = Path(tempfile.mkdtemp()) / "report.html"
    t0 = time.perf_counter()
    p.report(out, data=test, explanation=ex)
    report_s = time.perf_counter() - t0
    top = ex.importance.head(3)
    record = {
        "commit": subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                                 text=True).stdout.strip(),
        "dataset": a.dataset, "model": Path(a.model).name, "blend": sorted(n for n, w in p.weights_.items() if w > 0),
        "rows": a.rows, "test_rows": len(test), "contributions_s": round(rows_s, 1), "method": rows.method,
        "paths_per_row": rows.paths, "additivity_error": rows.additivity_error(),
        "explain_s": round(whole_s, 1), "explain_parts_s": {k: round(v, 1) for k, v in ex.seconds.items()},
        "explain_additivity_error": ex.additivity_error(),
        "top_columns": [{"column": c, "importance": round(float(r.importance), 4), "ci_low": round(float(r.ci_low), 4),
                         "ci_high": round(float(r.ci_high), 4), "p_value": round(float(r.p_value), 4), "n": int(r.n)}
                        for c, r in top.iterrows()],
        "metric": p.metric_.name, "report_bytes": out.stat().st_size, "report_s": round(report_s, 1)}
    if a.screenshot:
        from tests.browser import open_page
        page = open_page(out, screenshot=Path(a.screenshot))
        record["browser"] = {"requests_other_than_the_file": len(page["requests"]) - 1,
                             "images": len(page["images"]), "images_loaded": sum(ok for ok, _ in page["images"])}
    print(json.dumps(record))
    with open(HERE / "results" / "explain.jsonl", "a") as f:
        f.write(json.dumps(record) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
