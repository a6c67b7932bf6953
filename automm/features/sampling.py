"""Which rows a large table's featurizers learn their statistics from. Its own module because both
the feature pipeline and the embedding featurizer sample the same rows, and the pipeline imports
the featurizer. The thresholds are read at call time (a test lowers them to exercise the path)."""
from __future__ import annotations

import numpy as np

FIT_ROWS = 50_000     # a large table's featurizer statistics are learnt from this many rows: n-gram
SAMPLED_FROM = 200_000  # frequencies and SVD directions settle long before; from this many rows on, the
#                       refitting costs at most 25% more than fitting on all


def fit_sample(n: int, seed: int) -> np.ndarray | None:
    """The sorted positions of FIT_ROWS of `n` rows, or None when every row is used."""
    if n < SAMPLED_FROM:
        return None
    return np.sort(np.random.default_rng(seed).choice(n, FIT_ROWS, replace=False))
