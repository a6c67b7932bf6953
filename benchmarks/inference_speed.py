"""Bagged ensemble against refit_full: test score, and predict rows per second by batch size.

    python benchmarks/inference_speed.py bookprice_prediction --time-limit 300 --presets best

Batch 1 is the mean of 20 single-row calls; larger batches are rows drawn (with replacement)
from the test split, so 10,000 works for small test sets too.
"""
from __future__ import annotations

import argparse
import json
import sys
import time

from automm import MultimodalPredictor, datasets

BATCHES = (1, 100, 10_000)


def rows_per_s(p: MultimodalPredictor, test, batch: int, seed: int = 0) -> float:
    if batch == 1:
        rows = [test.iloc[[i % len(test)]] for i in range(20)]
        t0 = time.monotonic()
        for r in rows:
            p.predict(r)
        return 20 / (time.monotonic() - t0)
    sample = test.sample(batch, replace=True, random_state=seed).reset_index(drop=True)
    t0 = time.monotonic()
    p.predict(sample)
    return batch / (time.monotonic() - t0)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("dataset")
    ap.add_argument("--time-limit", type=float, default=300)
    ap.add_argument("--presets", default="best")
    ap.add_argument("--data-dir", default=None)
    a = ap.parse_args()
    ds = datasets.load(a.dataset, data_dir=a.data_dir, download=False)
    spec = ds.spec
    p = MultimodalPredictor(spec["label"], problem_type=spec["problem_type"], eval_metric=spec["metric"],
                            verbosity=1).fit(ds.train, time_limit=a.time_limit, presets=a.presets)
    bagged = p.evaluate(ds.test)["score"]
    t0 = time.monotonic()
    p.refit_full()
    refit_s = time.monotonic() - t0
    refit = p.evaluate(ds.test)["score"]
    test = ds.test.drop(columns=[spec["label"]])
    speed = {}
    for mode in ("bagged", "refit"):
        p.set_inference(mode)
        speed[mode] = {b: round(rows_per_s(p, test, b), 1) for b in BATCHES}
    print(json.dumps({"dataset": ds.name, "metric": spec["metric"], "time_limit": a.time_limit,
                      "presets": a.presets, "score_bagged": round(bagged, 4), "score_refit_full": round(refit, 4),
                      "refit_s": round(refit_s, 1), "rows_per_s": speed}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
