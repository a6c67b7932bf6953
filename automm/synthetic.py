"""Synthetic multimodal tables whose text carries signal: for tests, examples and quick benchmarks."""
from __future__ import annotations

import numpy as np
import pandas as pd

POSITIVE = ["excellent", "wonderful", "superb", "lovely", "perfect", "great", "delightful", "brilliant"]
NEGATIVE = ["awful", "terrible", "poor", "broken", "disappointing", "bad", "horrible", "useless"]
FILLER = ["the", "item", "arrived", "and", "it", "was", "really", "quite", "very", "product", "color", "size",
          "fabric", "shipping", "price", "would", "buy", "again", "this", "one"]


def make_multimodal(n: int = 600, problem_type: str = "binary", seed: int = 0) -> pd.DataFrame:
    """Columns: a signal number, a noisy mostly-complete number, a category, a review text whose
    sentiment words drive the label, a short title, a zip code, an ID and a constant."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    noise = rng.normal(size=n)
    noise[rng.random(n) < 0.2] = np.nan
    cat = rng.choice(["red", "green", "blue", "black"], size=n)
    sentiment = rng.normal(size=n)
    reviews = []
    for s in sentiment:
        k = rng.integers(8, 25)
        words = list(rng.choice(FILLER, size=k))
        n_signal = 1 + int(abs(s) * 2)
        pool = POSITIVE if s > 0 else NEGATIVE
        words += list(rng.choice(pool, size=n_signal))
        rng.shuffle(words)
        reviews.append(" ".join(words).capitalize() + ".")
    titles = [" ".join(rng.choice(FILLER, size=3)) for _ in range(n)]
    score = 1.2 * sentiment + 0.8 * x + 0.5 * (cat == "red")
    df = pd.DataFrame({
        "id": [f"row{i:05d}" for i in range(n)],
        "x": x, "noise": noise, "color": cat, "review": reviews, "title": titles,
        "zip": [f"{z:05d}" for z in rng.integers(0, 3000, size=n)],
        "constant": 1,
    })
    if problem_type == "binary":
        df["y"] = np.where(score + 0.3 * rng.normal(size=n) > 0, "yes", "no")
    elif problem_type == "multiclass":
        df["y"] = np.digitize(score + 0.3 * rng.normal(size=n), [-1.0, 1.0]).astype(int)
        df["y"] = df["y"].map({0: "low", 1: "mid", 2: "high"})
    else:
        df["y"] = score + 0.3 * rng.normal(size=n)
    return df
