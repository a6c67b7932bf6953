"""Fit automm on one dataset folder and print one JSON line of figures.

    python benchmarks/run_dataset.py ../shared/datasets/imdb_genre_prediction \
        --label Genre_is_Drama --metric roc_auc --time-limit 300 --presets best

Run each dataset in its own process: peak memory is the process's maximum resident set size.
"""
from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import pandas as pd

from automm import MultimodalPredictor


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("folder", help="dataset folder with train.csv and test.csv")
    ap.add_argument("--label", required=True)
    ap.add_argument("--metric", required=True)
    ap.add_argument("--problem-type", default=None)
    ap.add_argument("--time-limit", type=float, default=300)
    ap.add_argument("--presets", default="best")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--verbosity", type=int, default=1)
    a = ap.parse_args()
    folder = Path(a.folder)
    train, test = pd.read_csv(folder / "train.csv"), pd.read_csv(folder / "test.csv")
    t0 = time.monotonic()
    p = MultimodalPredictor(a.label, problem_type=a.problem_type, eval_metric=a.metric, verbosity=a.verbosity,
                            seed=a.seed).fit(train, time_limit=a.time_limit, presets=a.presets)
    fit_s = time.monotonic() - t0
    t0 = time.monotonic()
    p.predict(test)
    predict_s = time.monotonic() - t0
    board = p.leaderboard(test)
    print(board.to_string(index=False), file=sys.stderr)
    print(json.dumps({
        "dataset": folder.name, "system": f"automm-{a.presets}", "time_limit": a.time_limit, "seed": a.seed,
        "metric": a.metric, "test_score": p.evaluate(test)["score"], "val_score": p.val_score_,
        "fit_s": round(fit_s, 1), "predict_rows_per_s": round(len(test) / predict_s, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "models": {r.model: round(r.score_test, 4) for r in board.itertuples()},
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
