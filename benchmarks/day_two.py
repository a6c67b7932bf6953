"""Figures for the day-two calls (issue 14): the decision threshold and distillation.

    python benchmarks/day_two.py                       # both, best preset, 300 s fits
    python benchmarks/day_two.py --part threshold --presets medium --time-limit 120

threshold: imdb_genre_prediction with eval_metric="f1": one fit; the test F1 with the threshold
calibrated on the out-of-fold predictions, and at 0.5 (the same models, predict(decision_threshold=0.5)).
distill: bookprice_prediction (r2): the ensemble, and a student distilled from it; each one's test
score and predict rows/s on the whole test file (features included, the embeddings computed as for
new rows, not read from the cache).
Appends one JSON line per part to benchmarks/results/day_two.jsonl (with the commit) and writes
benchmarks/results/day_two.md.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from time_limit import commit  # noqa: E402

RESULTS = Path(__file__).parent / "results"


def speed(predictor, df) -> float:
    """Rows per second of predict on new rows: the embeddings computed, not read from the cache."""
    from automm.features.embeddings import uncached
    with uncached():
        t0 = time.monotonic()
        predictor.predict(df)
        return round(len(df) / (time.monotonic() - t0), 1)


def threshold(presets: str, time_limit: float) -> dict:
    from automm import MultimodalPredictor, datasets
    ds = datasets.load("imdb_genre_prediction", download=False)
    p = MultimodalPredictor(ds.spec["label"], eval_metric="f1", verbosity=1)
    p.fit(ds.train, presets=presets, time_limit=time_limit)
    calibrated = p.evaluate(ds.test)
    t = p.decision_threshold_
    p.set_decision_threshold(None)
    plain = p.evaluate(ds.test)
    return {"dataset": "imdb_genre_prediction", "eval_metric": "f1", "threshold": t,
            "test_f1_calibrated": calibrated["f1"], "test_f1_at_0.5": plain["f1"],
            "test_roc_auc": plain["roc_auc"], "val_f1_at_0.5": p.val_score_}


def distill(presets: str, time_limit: float, distill_limit: float) -> dict:
    from automm import MultimodalPredictor, datasets
    ds = datasets.load("bookprice_prediction", download=False)
    p = MultimodalPredictor(ds.spec["label"], eval_metric=ds.spec["metric"], verbosity=1)
    p.fit(ds.train, presets=presets, time_limit=time_limit)
    t0 = time.monotonic()
    student = p.distill(time_limit=distill_limit)
    distill_s = time.monotonic() - t0
    return {"dataset": "bookprice_prediction", "eval_metric": ds.spec["metric"], "test_rows": len(ds.test),
            "ensemble_rows_per_s": speed(p, ds.test), "ensemble_test_score": p.evaluate(ds.test)["score"],
            "student_rows_per_s": speed(student, ds.test), "student_test_score": student.evaluate(ds.test)["score"],
            "student_model": student.models_[0].name,
            "distill_s": round(distill_s, 1), "ensemble_models": [n for n, w in p.weights_.items() if w > 0]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--part", choices=["threshold", "distill", "both"], default="both")
    ap.add_argument("--presets", default="best")
    ap.add_argument("--time-limit", type=float, default=300)
    ap.add_argument("--distill-limit", type=float, default=120)
    a = ap.parse_args()
    RESULTS.mkdir(exist_ok=True)
    sha = commit()
    rows = []
    with tempfile.TemporaryDirectory() as cache:
        os.environ["AUTOMM_EMBEDDING_CACHE"] = cache
        for part in (["threshold", "distill"] if a.part == "both" else [a.part]):
            out = threshold(a.presets, a.time_limit) if part == "threshold" else \
                distill(a.presets, a.time_limit, a.distill_limit)
            row = {"commit": sha, "part": part, "presets": a.presets, "time_limit": a.time_limit,
                   "cores": os.cpu_count(), "machine": platform.machine(), **out}
            print(json.dumps(row), flush=True)
            with open(RESULTS / "day_two.jsonl", "a") as f:
                f.write(json.dumps(row) + "\n")
            rows.append(row)
    lines = [f"# Day-two figures\n\n`python benchmarks/day_two.py {' '.join(sys.argv[1:])}` (raw records: day_two.jsonl)\n"]
    for r in rows:
        if r["part"] == "threshold":
            lines += [f"imdb_genre_prediction, eval_metric f1, presets {r['presets']}, time_limit {r['time_limit']:g} s, "
                      f"commit {r['commit']}:", "", "| decision threshold | test F1 |", "|---|---|",
                      f"| 0.5 (argmax) | {r['test_f1_at_0.5']:.4f} |",
                      f"| {r['threshold']:.3f} (calibrated out of fold) | {r['test_f1_calibrated']:.4f} |", ""]
        else:
            lines += [f"bookprice_prediction ({r['eval_metric']}), presets {r['presets']}, time_limit "
                      f"{r['time_limit']:g} s, distilled in {r['distill_s']:g} s, {r['test_rows']} test rows, commit "
                      f"{r['commit']}:", "", "| model | test score | predict rows/s |", "|---|---|---|",
                      f"| ensemble ({', '.join(r['ensemble_models'])}) | {r['ensemble_test_score']:.4f} | "
                      f"{r['ensemble_rows_per_s']:,.0f} |",
                      f"| distilled student ({r['student_model']}) | {r['student_test_score']:.4f} | "
                      f"{r['student_rows_per_s']:,.0f} |", ""]
    (RESULTS / "day_two.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
