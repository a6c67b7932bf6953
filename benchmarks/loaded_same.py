"""Does a model saved by older code predict the same when this code loads it? The saved model's test
predictions are written by the old code, then compared with what this code's load predicts.

    PYTHONPATH=<a worktree of the old commit> python benchmarks/loaded_same.py save M D /tmp/before.npy
    python benchmarks/loaded_same.py compare M D /tmp/before.npy

M: a saved model folder; D: its dataset (the test split is predicted). `compare` prints one JSON
record (the commit, the model, the largest absolute difference of the probabilities, or of the
values for regression) and appends it to benchmarks/results/loaded_same.jsonl.
"""
from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def predictions(model: str, dataset: str) -> np.ndarray:
    import automm
    from automm import MultimodalPredictor, datasets
    warnings.simplefilter("ignore")
    d = datasets.load(dataset, download=False)
    p = MultimodalPredictor.load(model)
    p.image_dir = str(d.folder)
    test = d.test.drop(columns=[d.spec["label"]])
    out = p.predict(test) if p.task_.problem_type == "regression" else p.predict_proba(test)
    print(f"predicted with automm from {Path(automm.__file__).parent}", file=sys.stderr)
    return np.asarray(out, dtype=np.float64)


def main() -> int:
    mode, model, dataset, path = sys.argv[1:5]
    pred = predictions(model, dataset)
    if mode == "save":
        np.save(path, pred)
        return 0
    before = np.load(path)
    commit = subprocess.run(["git", "-C", str(HERE.parent), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    record = {"commit": commit, "model": model, "dataset": dataset, "rows": len(pred),
              "max_abs_diff": float(np.max(np.abs(pred - before))) if pred.shape == before.shape else None,
              "shapes": [list(before.shape), list(pred.shape)]}
    print(json.dumps(record))
    with open(HERE / "results" / "loaded_same.jsonl", "a") as fh:
        fh.write(json.dumps(record) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
