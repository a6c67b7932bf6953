"""Leak check: `best` on a dataset whose training labels are shuffled must validate at chance.

    python benchmarks/shuffled_labels.py imdb_genre_prediction --time-limit 120

A stacker that saw the TF-IDF beside the out-of-fold predictions once validated at 0.75 ROC AUC on
shuffled labels. Each run is a line of results/shuffled_labels.jsonl with every model's validation
score (out of fold), which should all sit near chance (0.5 for ROC AUC).
"""
import argparse
import json
import os
from pathlib import Path

import numpy as np

from automm import MultimodalPredictor, datasets
from automm.bench.runner import code_commit

RESULTS = Path(__file__).resolve().parent / "results"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("dataset")
    ap.add_argument("--time-limit", type=float, default=120)
    ap.add_argument("--presets", default="best")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    ds = datasets.load(a.dataset, download=False)
    spec, train = ds.spec, ds.train.copy()
    train[spec["label"]] = np.random.default_rng(a.seed).permutation(train[spec["label"]].to_numpy())
    p = MultimodalPredictor(spec["label"], problem_type=spec["problem_type"], eval_metric=spec["metric"],
                            verbosity=0, seed=a.seed, image_dir=str(ds.folder))
    p.fit(train, presets=a.presets, time_limit=a.time_limit)
    board = p.leaderboard()
    row = {"commit": code_commit(), "dataset": a.dataset, "presets": a.presets, "time_limit": a.time_limit,
           "seed": a.seed, "metric": spec["metric"], "val_score": round(float(p.val_score_), 4),
           "val_scores": {m: round(float(s), 4) for m, s in zip(board.model, board.score_val) if s == s},
           "cores": os.cpu_count()}
    print(json.dumps(row))
    with open(RESULTS / "shuffled_labels.jsonl", "a") as f:
        f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
