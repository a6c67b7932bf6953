"""Seconds for 300 LightGBM rounds on automm's tree features, with 1 and 2 threads.

    python benchmarks/threads.py                          # OMP_WAIT_POLICY=PASSIVE (automm's default)
    OMP_WAIT_POLICY=ACTIVE python benchmarks/threads.py   # busy-waiting OpenMP threads
"""
import os
import time

import lightgbm as lgb

from automm import datasets
from automm.features import FeaturePipeline
from automm.schema import detect_schema

for name in ("bookprice_prediction", "women_clothing_review"):
    ds = datasets.load(name, download=False)
    label = ds.spec["label"]
    X = FeaturePipeline(detect_schema(ds.train, label, problem_type="regression")).fit_transform(ds.train)
    for threads in (1, 2):
        t0 = time.time()
        lgb.train({"objective": "regression", "num_threads": threads, "verbose": -1, "learning_rate": 0.05,
                   "force_row_wise": True},
                  lgb.Dataset(X.dense, ds.train[label].to_numpy(), categorical_feature=list(X.cat_cols)), 300)
        print(f"{name} {X.dense.shape} threads={threads} {time.time() - t0:.2f}s "
              f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}")
