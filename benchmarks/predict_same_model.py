"""Predict speed of two versions of automm on the same saved model, on the same day and machine: the
speed of this machine moves between days (the static table took 23.1 s to make one day and 11.3 s
another, with the same code), so a before/after across days says little about the code.

    python benchmarks/predict_same_model.py MODEL_FOLDER DATASET --label after --model-commit SHA
    PYTHONPATH=<checkout of an older commit> python benchmarks/predict_same_model.py MODEL_FOLDER DATASET \
        --label before --model-commit SHA

The batch is cpu_neural.py's: 10,000 test rows drawn with replacement, a repeated row's text given a
number and its image one changed pixel, every embedding computed afresh. The model folder is one a
`best` fit saved (a saved model loads in later versions). Raw records: predict_same_model.jsonl.
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"


def new_rows(p, ds) -> tuple:
    """(the test rows without the label, 10,000 of them drawn with replacement, each repeat made new: a real
    batch has few exact repeats, and the embedders would reuse them)."""
    from automm.schema import Modality
    test = ds.test.drop(columns=[ds.spec["label"]])
    big = test.sample(10_000, replace=True, random_state=0).reset_index(drop=True)
    kinds = {info.name: info.kind for info in p.schema_.columns}
    repeat = big.duplicated(keep="first").to_numpy()
    texts = [c for c, k in kinds.items() if k == Modality.TEXT]
    if texts:
        big.loc[repeat, texts[0]] = big.loc[repeat, texts[0]].astype(str) + " #" + np.flatnonzero(repeat).astype(str)
    copies = tempfile.mkdtemp()
    for c in [c for c, k in kinds.items() if k == Modality.IMAGE]:
        from PIL import Image
        for i in np.flatnonzero(repeat):
            with Image.open(Path(ds.folder) / big.at[i, c]) as im:
                im = im.convert("RGBA")
                im.putpixel((0, 0), (i % 256, (i // 256) % 256, 7, 255))
                im.save(Path(copies) / f"{i}.png")
            big.at[i, c] = str(Path(copies) / f"{i}.png")
    return test, big


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("dataset")
    ap.add_argument("--label", default="")
    ap.add_argument("--model-commit", default=None, help="the commit whose fit saved the model, for the record")
    a = ap.parse_args()
    from automm import MultimodalPredictor, datasets
    from automm.bench.runner import code_commit
    from automm.features.embeddings import uncached
    ds = datasets.load(a.dataset, download=False)
    p = MultimodalPredictor.load(a.model)
    p.image_dir = str(ds.folder)
    test, big = new_rows(p, ds)
    p.predict(test.iloc[:5])  # loads the backbones: a service pays that once
    with uncached():
        t0 = time.monotonic()
        p.predict(big)
        seconds = time.monotonic() - t0
    row = {"commit": code_commit(), "label": a.label, "dataset": a.dataset, "model": Path(a.model).name,
           "model_fitted_at": a.model_commit, "rows": len(big), "seconds": round(seconds, 2),
           "predict_rows_per_s_10000": round(len(big) / seconds, 1), "cores": os.cpu_count(),
           "load_at_start": round(os.getloadavg()[0], 2)}
    print(json.dumps(row))
    with open(RESULTS / "predict_same_model.jsonl", "a") as f:
        f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
