"""The embedding cache, measured: embedding 10,000 rows that are all cached, adding 100 new rows to a
cache of 10,000, and the entries left after two fits that embed at the same time.

    python benchmarks/embed_cache.py [--only-fits | --only-writers]   # the automm it is run with
    git worktree add /tmp/before 89f146d && PYTHONPATH=/tmp/before python benchmarks/embed_cache.py

Text: women_clothing_review's reviews (MiniLM, 128 tokens). The two fits are separate processes
started together, each fitting `medium` with the transformer text tier on its own 1,000 rows of
women_clothing_review (no time limit, so both use the same cache setting; about a minute of
embedding each, so the two overlap), then each alone into an empty cache for the count expected.
Last, two processes that each add 2,000 rows in 20 calls at the same time ("interleaved"). One JSON
record per run is appended to benchmarks/results/embed_cache.jsonl, naming the commit measured.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
FIT = """
import sys, warnings
warnings.simplefilter("ignore")
from automm import MultimodalPredictor, datasets
part = int(sys.argv[1])
train = datasets.load("women_clothing_review", download=False).train.iloc[part * 1000:(part + 1) * 1000]
MultimodalPredictor(label="Rating", text_tier="transformer", verbosity=0, num_threads=1).fit(
    train, presets="medium", num_bag_folds=2, hyperparameters={"lightgbm": {}})
"""


WRITER = """
import sys, time, numpy as np
from automm.features.embeddings import EmbeddingCache
who, start = int(sys.argv[1]), float(sys.argv[2])
time.sleep(max(0.0, start - time.time()))  # both begin at the same instant, imports done
for batch in range(0, 2000, 100):  # 20 calls that each add 100 rows, as 20 embedding calls of a fit do
    c = EmbeddingCache("t")
    new = [bytes([who]) + i.to_bytes(4, "big") + bytes(15) for i in range(batch, batch + 100)]
    c.lookup(new)
    time.sleep(0.05)  # the backbone embedding the 100 rows that were not found
    c.add(new, np.random.default_rng(batch).normal(size=(100, 384)).astype(np.float32))
    c.flush()
"""


def interleaved_writers(folder: Path) -> dict:
    """Two processes adding 2,000 rows each in 20 calls (each looks up, embeds for 50 ms, stores), started
    at the same instant."""
    env = {**os.environ, "AUTOMM_EMBEDDING_CACHE": str(folder)}
    t0 = time.monotonic()
    start = str(time.time() + 5)
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(who), start], env=env, cwd=folder.parent)
             for who in (1, 2)]
    assert all(p.wait() == 0 for p in procs)
    return {"writers": 2, "rows_each": 2000, "calls_each": 20, "entries_present": len(keys(folder)),
            "entries_expected": 4000, "seconds": round(time.monotonic() - t0, 2)}


def keys(folder: Path) -> set[bytes]:
    """The keys stored in `folder`, in either cache format (one SQLite file, or an .npz per setting)."""
    import numpy as np
    db = folder / "embeddings.sqlite3"
    if db.exists():
        import sqlite3
        return {bytes(t.encode()) + bytes(k) for t, k in sqlite3.connect(db).execute("SELECT tag, key FROM vectors")}
    return {f.stem.encode() + bytes(k) for f in folder.glob("*.npz") for k in np.load(f)["keys"].tolist()}


def cached_rows(texts: list[str]) -> dict:
    from automm.features.embeddings import EmbeddingCache, TextEmbedder, _sha1
    emb = TextEmbedder("minilm", max_tokens=128)
    emb._load()
    t0 = time.monotonic()
    vecs = emb.embed(texts[:10_000])  # cold: the backbone computes them and the cache stores them
    cold = time.monotonic() - t0
    t0 = time.monotonic()
    again = emb.embed(texts[:10_000])
    warm = time.monotonic() - t0
    cache = EmbeddingCache(emb.tag)
    new = texts[10_000:10_100]
    t0 = time.monotonic()
    cache.lookup([_sha1(t) for t in new])
    cache.add([_sha1(t) for t in new], vecs[:len(new)])
    cache.flush()
    return {"rows": 10_000, "embed_cold_s": round(cold, 2), "embed_cached_s": round(warm, 3),
            "cached_vs_computed_max_abs_diff": float(abs(again - vecs).max()),
            "add_100_to_10000_s": round(time.monotonic() - t0, 3)}


def concurrent_fits(folder: Path) -> dict:
    env = {**os.environ, "AUTOMM_EMBEDDING_CACHE": str(folder), "OMP_NUM_THREADS": "1"}
    # from a folder of their own: `python -c` puts the current folder first on sys.path, which would
    # import the clone's automm instead of the one being measured
    procs = [subprocess.Popen([sys.executable, "-c", FIT, str(part)], env=env, cwd=folder.parent) for part in (0, 1)]
    assert all(p.wait() == 0 for p in procs)
    both = keys(folder)
    alone = []
    for part in (0, 1):  # each fit by itself, for what both should have left
        own = folder.parent / f"alone{part}"
        subprocess.run([sys.executable, "-c", FIT, str(part)], env={**env, "AUTOMM_EMBEDDING_CACHE": str(own)},
                       check=True, cwd=folder.parent)
        alone.append(keys(own))
    union = alone[0] | alone[1]
    return {"entries_after_two_concurrent_fits": len(both), "entries_of_each_fit_alone": [len(a) for a in alone],
            "entries_expected": len(union), "entries_lost": len(union - both)}


def main() -> int:
    only_fits, only_writers = "--only-fits" in sys.argv, "--only-writers" in sys.argv
    import automm
    from automm import datasets
    src = Path(automm.__file__).resolve().parents[1]
    commit = subprocess.run(["git", "-C", str(src), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    reviews = datasets.load("women_clothing_review", download=False).train["Review Text"].dropna().astype(str)
    texts = list(dict.fromkeys(reviews))
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["AUTOMM_EMBEDDING_CACHE"] = str(Path(tmp) / "cache")
        record = {"commit": commit, "automm_from": str(src)}
        if not (only_fits or only_writers):
            record.update(cached_rows(texts))
        if not only_writers:
            record.update(concurrent_fits(Path(tmp) / "fits"))
        record["interleaved"] = interleaved_writers(Path(tmp) / "writers")
    print(json.dumps(record))
    with open(HERE / "results" / "embed_cache.jsonl", "a") as f:
        f.write(json.dumps(record) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
