"""Seconds for 300 LightGBM rounds on automm's tree features, with 1 and 2 threads.

    python benchmarks/threads.py                          # OMP_WAIT_POLICY=PASSIVE (automm's default)
    OMP_WAIT_POLICY=ACTIVE python benchmarks/threads.py   # busy-waiting OpenMP threads

Each timing is a line of results/threads.jsonl.
"""
import json
import os
import time
from pathlib import Path

import lightgbm as lgb

from automm import datasets
from automm.bench.runner import code_commit
from automm.features import FeaturePipeline
from automm.schema import detect_schema

RESULTS = Path(__file__).resolve().parent / "results"

for name in ("bookprice_prediction", "women_clothing_review"):
    ds = datasets.load(name, download=False)
    label = ds.spec["label"]
    X = FeaturePipeline(detect_schema(ds.train, label, problem_type="regression")).fit_transform(ds.train)
    for threads in (1, 2):
        t0 = time.time()
        lgb.train({"objective": "regression", "num_threads": threads, "verbose": -1, "learning_rate": 0.05,
                   "force_row_wise": True},
                  lgb.Dataset(X.dense, ds.train[label].to_numpy(), categorical_feature=list(X.cat_cols)), 300)
        row = {"commit": code_commit(), "dataset": name, "shape": list(X.dense.shape), "threads": threads,
               "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"), "seconds": round(time.time() - t0, 2),
               "cores": os.cpu_count(), "load_at_start": round(os.getloadavg()[0], 2)}
        print(json.dumps(row), flush=True)
        with open(RESULTS / "threads.jsonl", "a") as f:
            f.write(json.dumps(row) + "\n")
