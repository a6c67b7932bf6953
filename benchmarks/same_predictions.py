"""Does a change keep the results? `best` with a fixed seed and no time limit, on real datasets, so
that nothing depends on the machine's speed; the test-set predictions are saved, or compared with
a saved run.

    python benchmarks/same_predictions.py --save /tmp/before.npz          # on the old code
    python benchmarks/same_predictions.py --compare /tmp/before.npz       # on the new code

Prints one JSON line per dataset: the commit, the test score, the models, and (with --compare)
the largest absolute difference from the saved predictions.
"""
from __future__ import annotations

import argparse
import json
import subprocess

import numpy as np

from automm import MultimodalPredictor, datasets


def predictions(name: str, presets: str, seed: int, models: str | None = None) -> tuple[np.ndarray, dict]:
    ds = datasets.load(name, download=False)
    p = MultimodalPredictor(ds.spec["label"], eval_metric=ds.spec["metric"], problem_type=ds.spec.get("problem_type"),
                            verbosity=0, seed=seed)
    hp = None if models is None else {m: {} for m in models.split(",")}
    p.fit(ds.train, presets=presets, num_workers=1, hyperparameters=hp)
    out = p.predict(ds.test).to_numpy(dtype=float) if p.task_.problem_type == "regression" \
        else p.predict_proba(ds.test).to_numpy()
    return out, {"test_score": p.evaluate(ds.test)["score"], "weights": p.weights_}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--datasets", default="imdb_genre_prediction,bookprice_prediction")
    ap.add_argument("--presets", default="best")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--models", default=None, help="only these models (comma-separated), e.g. to leave out the nets")
    ap.add_argument("--save", default=None, help="write the predictions to this .npz")
    ap.add_argument("--compare", default=None, help="compare with the predictions in this .npz")
    a = ap.parse_args()
    sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    saved = dict(np.load(a.compare, allow_pickle=False)) if a.compare else {}
    new = {}
    for name in a.datasets.split(","):
        new[name], summary = predictions(name, a.presets, a.seed, a.models)
        row = {"commit": sha, "dataset": name, "presets": a.presets, "seed": a.seed, "models": a.models, **summary}
        if name in saved:
            row["max_abs_difference"] = float(np.max(np.abs(saved[name] - new[name])))
            row["identical"] = bool(np.array_equal(saved[name], new[name]))
        print(json.dumps(row), flush=True)
        if a.save:  # after each dataset, so that an interrupted run keeps what finished
            np.savez(a.save, **new)


if __name__ == "__main__":
    main()
