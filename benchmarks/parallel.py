"""Wall time of 5-fold bagging with 1 and with 2 worker processes (the same seed, so the same models).

    python benchmarks/parallel.py --datasets imdb_genre_prediction,bookprice_prediction,women_clothing_review

The trees and the linear model on the engineered features, no time limit, so each fit runs to its
early stopping and the times compare the same work. Each fit is a line of results/parallel.jsonl;
`python benchmarks/report.py` writes parallel.md from them.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"

# CatBoost is left out: with no time limit it runs its 10,000 rounds for many minutes on bookprice
MODELS = {"linear": {}, "lightgbm": {}, "xgboost": {}}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--datasets", default="imdb_genre_prediction,bookprice_prediction,women_clothing_review")
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    from automm import MultimodalPredictor, datasets
    from automm.bench.runner import code_commit
    rows = []
    for name in a.datasets.split(","):
        ds = datasets.load(name, download=False)
        label, preds = ds.spec["label"], {}
        for w in [int(x) for x in a.workers.split(",")]:
            p = MultimodalPredictor(label, eval_metric=ds.spec["metric"], problem_type=ds.spec.get("problem_type"),
                                    verbosity=0, seed=a.seed)
            p.fit(ds.train, presets="medium", hyperparameters=MODELS, embeddings=False, num_bag_folds=5,
                  num_workers=w)
            preds[w] = p.predict_proba(ds.test).to_numpy() if p.task_.problem_type != "regression" \
                else p.predict(ds.test).to_numpy()
            row = {"commit": code_commit(), "dataset": name, "workers": w, "rows": len(ds.train),
                   "bagging_s": p.timings_["layer1"],
                   "fit_s": round(p.fit_time_, 1), "test_score": p.evaluate(ds.test)["score"],
                   "max_running": p.parallel_["max_running"],
                   "same_predictions": bool(np.allclose(preds[w], preds[min(preds)], rtol=0, atol=1e-9))}
            print(json.dumps(row), flush=True)
            with open(RESULTS / "parallel.jsonl", "a") as f:
                f.write(json.dumps(row) + "\n")
            rows.append(row)
    print(render(RESULTS / "parallel.jsonl"))


def render(path: Path) -> str:
    rows = [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
    commits = sorted({r["commit"] for r in rows if r.get("commit")})
    out = ["# Parallel folds: 5-fold bagging with 1 and 2 worker processes", "",
           f"`python benchmarks/parallel.py`, then `python benchmarks/report.py`, from parallel.jsonl; automm commits: "
           f"{', '.join(commits) or 'not recorded in these records (the git log of parallel.md names bd629c9)'}. "
           "The seconds are the layer-1 bagging stage only; fit s is the whole fit.", "",
           "| dataset | rows | workers | 5-fold bagging s | speed-up | whole fit s | speed-up | test score "
           "| predictions within 1e-9 of 1 worker's |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        base = next(b for b in rows if b["dataset"] == r["dataset"] and b["workers"] == 1)
        out.append(f"| {r['dataset']} | {r['rows']} | {r['workers']} | {r['bagging_s']:.1f} | "
                   f"{base['bagging_s'] / r['bagging_s']:.2f}x | {r['fit_s']:.1f} | {base['fit_s'] / r['fit_s']:.2f}x | "
                   f"{r['test_score']:.4f} | {r['same_predictions']} |")
    return "\n".join(out) + "\n"

if __name__ == "__main__":
    main()
