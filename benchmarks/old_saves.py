"""Do models saved by an older automm load and predict the same? (fusion nets, issue 12)

    PYTHONPATH=<old checkout> python benchmarks/old_saves.py make <old checkout> /tmp/old   # with the old code
    python benchmarks/old_saves.py check . /tmp/old                                        # with this code

`make` fits a late- and an early-fusion predictor (tiny random backbones, the tests' image table) and
saves them with their test predictions; `check` loads them with this code and prints the largest
absolute difference of the predictions.
"""
from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np


def main() -> None:
    mode, checkout, out = sys.argv[1], Path(sys.argv[2]).resolve(), Path(sys.argv[3])
    sys.path.insert(0, str(checkout))
    from automm import MultimodalPredictor
    from automm.features.backbones import register_image_backbone, register_text_backbone
    from tests.neural_fixtures import image_table, register_tiny, tiny_image_backbone
    warnings.simplefilter("ignore")
    data = out / "data"
    if mode == "make":
        data.mkdir(parents=True, exist_ok=True)
        register_tiny(data / "tiny-text")
    else:
        register_text_backbone("tiny-text", lambda: str(data / "tiny-text"))
        register_image_backbone("tiny-image", tiny_image_backbone)
    df = image_table(data)
    for fusion in ("fusion_late", "fusion_early"):
        if mode == "make":
            p = MultimodalPredictor("y", image_dir=str(data), text_backbone="tiny-text", image_backbone="tiny-image",
                                    verbosity=0)
            p.fit(df.iloc[:130], num_bag_folds=2, hyperparameters={fusion: {"max_epochs": 3}}, embeddings=True)
            p.save(out / fusion, overwrite=True)
            np.save(out / f"{fusion}.npy", p.predict_proba(df.iloc[130:]).to_numpy())
        else:
            q = MultimodalPredictor.load(out / fusion)
            diff = np.abs(q.predict_proba(df.iloc[130:]).to_numpy() - np.load(out / f"{fusion}.npy")).max()
            print(f"{fusion}: max abs difference {diff:.3g}")


if __name__ == "__main__":
    main()
