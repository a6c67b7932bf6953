"""The multimodal half on a CPU: test score, fit wall time, predict speed and peak memory of one fit,
with a cold embedding cache, and the embedding plan the fit printed.

    python benchmarks/cpu_neural.py imdb_genre_prediction bookprice_prediction women_clothing_review \
        pokemon_image_stats --time-limit 300 --presets best

Each dataset runs in its own process (peak memory is the whole process tree's resident memory,
sampled every 0.5 s) with an empty embedding cache. Predict speed is measured with the embeddings
computed afresh: batch 10,000 is drawn from the test rows with replacement, and a repeated row's
text gets a number appended and its image one pixel changed, so that no two rows are the same (a
real batch has few repeats, and the embedders skip repeats); batch 1 is the mean latency of 20
single-row calls.
Raw records: benchmarks/results/cpu_neural.jsonl.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
from pathlib import Path

from automm.bench.runner import code_commit, run_sampled

RESULTS = Path(__file__).resolve().parent / "results"
PLAN_WORDS = ("embedding", "text tier", "image tier", "plan", "second round")

ONE_FIT = r"""
import json, sys, time
from automm import MultimodalPredictor, datasets
from automm.features.embeddings import uncached

name, presets, limit = sys.argv[1], sys.argv[2], float(sys.argv[3])
extra = json.loads(sys.argv[4])  # predictor settings of this variant, e.g. {"text_tier": "transformer"}
fit_args = extra.pop("fit", {})  # and fit's, e.g. {"infer_limit": 0.002}
ds = datasets.load(name, download=False)
spec = ds.spec
t0 = time.monotonic()
p = MultimodalPredictor(spec["label"], problem_type=spec["problem_type"], eval_metric=spec["metric"], verbosity=2,
                        image_dir=str(ds.folder), **extra)  # the tables' image paths are relative to the dataset
p.fit(ds.train, presets=presets, time_limit=limit, **fit_args)
fit_s = time.monotonic() - t0
score = p.evaluate(ds.test)["score"]
sys.path.insert(0, sys.argv[5])  # benchmarks/: the batch of new rows is predict_same_model.py's
from predict_same_model import new_rows
test, big = new_rows(p, ds)
with uncached():
    t1 = time.monotonic(); p.predict(big); batch_s = time.monotonic() - t1
    ones = [test.iloc[[i % len(test)]] for i in range(20)]
    p.predict(ones[0])  # the first call loads the backbones: a service pays that once
    t1 = time.monotonic()
    for r in ones:
        p.predict(r)
    latency = (time.monotonic() - t1) / len(ones)
board = p.leaderboard()
print(json.dumps({"test_score": score, "val_score": p.val_score_, "fit_s": round(fit_s, 1),
                  "val_scores": {r.model: round(r.score_val, 4) for r in board.itertuples() if r.score_val == r.score_val},
                  "weights": {r.model: round(r.ensemble_weight, 3) for r in board.itertuples() if r.ensemble_weight},
                  "predict_rows_per_s_10000": round(len(big) / batch_s, 1), "latency_1_row_s": round(latency, 4),
                  "models": [m.name for m in p.models_]}))
"""


def run_one(dataset: str, presets: str, limit: float, extra: dict) -> dict:
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "AUTOMM_EMBEDDING_CACHE": cache, "PYTHONUNBUFFERED": "1"}
        log = Path(cache) / "log.txt"
        code, stdout, peak, _ = run_sampled([sys.executable, "-c", ONE_FIT, dataset, presets, str(limit), json.dumps(extra),
                                             str(Path(__file__).resolve().parent)],
                                         env, log)
        lines = log.read_text().splitlines()
    if code != 0:
        raise SystemExit(f"{dataset} failed:\n" + "\n".join(lines[-40:]))
    plan = [ln.strip() for ln in lines if any(w in ln.lower() for w in PLAN_WORDS)]
    return {**json.loads(stdout.splitlines()[-1]), "peak_tree_mb": round(peak / 2**20), "plan": plan}


def report(path: Path) -> str:
    """The latest record of each (label, dataset, commit) side by side, with the notes added to records
    (a figure known to be wrong says so): cpu_neural.md, written by benchmarks/report.py."""
    latest = {}
    for line in path.read_text().splitlines():
        r = json.loads(line)
        latest[(r["label"], r["dataset"], r["commit"])] = r
    head = ("| dataset | run | commit | test score | validation | fit wall (s) | predict rows/s, batch 10,000 | "
            "latency, 1 row (s) | peak memory, tree (MB) |\n|---|---|---|---|---|---|---|---|---|")
    order = sorted(latest.items(), key=lambda kv: (kv[0][1], kv[0][0], kv[0][2]))
    rows = [f"| {d} | {label}{' (note)' if 'note' in r else ''} | {sha} | {r['test_score']:.4f} | {r['val_score']:.4f} | "
            f"{r['fit_s']} | {r['predict_rows_per_s_10000']:,.0f} | {r['latency_1_row_s']:.3f} | {r['peak_tree_mb']:,} |"
            for (label, d, sha), r in order]
    plans = [f"- {d}, {label}, {sha}: " + "; ".join(p.split("] ", 1)[-1] for p in r["plan"] if "time plan" not in p)
             for (label, d, sha), r in order]
    notes = [f"- {d}, {label}, {sha}: {r['note']}" for (label, d, sha), r in order if "note" in r]
    weights = [f"- {d}, {label}, {sha}: " + ", ".join(f"{m} {w}" for m, w in r["weights"].items() if m != "ensemble")
               for (label, d, sha), r in order if "weights" in r]
    return "\n".join([head, *rows, "", "Notes:", "", *notes, "", "The embedding plan each fit printed:", "", *plans,
                      "", "Ensemble weights:", "", *weights])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("datasets", nargs="*")
    ap.add_argument("--time-limit", type=float, default=300)
    ap.add_argument("--presets", default="best")
    ap.add_argument("--label", default="", help="a word for the record (before, after, ...)")
    ap.add_argument("--text-tier", default=None, help="the predictor's text_tier (default: its own default)")
    ap.add_argument("--infer-limit", type=float, default=None, help="fit's infer_limit, seconds per row")
    a = ap.parse_args()
    RESULTS.mkdir(exist_ok=True)
    sha = code_commit()
    extra = ({} if a.text_tier is None else {"text_tier": a.text_tier}) | (
        {} if a.infer_limit is None else {"fit": {"infer_limit": a.infer_limit}})
    for name in a.datasets:
        row = {"commit": sha, "label": a.label, "dataset": name, "presets": a.presets, "time_limit": a.time_limit,
               "settings": extra,
               "cores": os.cpu_count(), "machine": platform.machine(), "load_at_start": round(os.getloadavg()[0], 2),
               **run_one(name, a.presets, a.time_limit, extra)}
        print(json.dumps(row), flush=True)
        with open(RESULTS / "cpu_neural.jsonl", "a") as f:
            f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
