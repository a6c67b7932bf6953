"""Embedding throughput on this machine: text rows/s (women_clothing_review, 128 tokens) for each tier,
the int8 transformer's cosine similarity to fp32, the static table's making, and images/s on pokemon
(at 224 px, and at the 128 px the plan gives its 120 px sprites) and on large JPEGs.

    python benchmarks/embed_speed.py --label after
    PYTHONPATH=<checkout of an older commit> python benchmarks/embed_speed.py --label before

Runs against whichever automm is imported (so an older commit measures "before"), every embedding
computed afresh (cache off). Raw records: benchmarks/results/embed_speed.jsonl.
"""
from __future__ import annotations

import argparse
import inspect
import json
import os
import platform
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"


def commit() -> str:
    """automm.bench.runner.code_commit, repeated: this script also measures older commits, which lack it."""
    import automm
    root = Path(automm.__file__).resolve().parents[1]
    run = lambda *a: subprocess.run(["git", "-C", str(root), *a], capture_output=True, text=True).stdout.strip()  # noqa: E731
    return run("rev-parse", "--short", "HEAD") + ("-dirty" if run("status", "--porcelain", "automm") else "")


def large_jpegs(folder: Path, n: int, side: int = 3000) -> list[str]:
    """Photo-sized JPEGs (side x 2/3 side) of smooth random colour fields: decoding, not the CNN, is their cost."""
    from PIL import Image
    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        small = rng.integers(0, 255, size=(12, 18, 3), dtype=np.uint8)
        im = Image.fromarray(small).resize((side, side * 2 // 3), Image.Resampling.BICUBIC)
        path = folder / f"photo{i}.jpg"
        im.save(path, quality=90)
        paths.append(str(path))
    return paths


def text_speeds(texts: list[str], threads: int) -> dict:
    from automm.features import embeddings
    out = {}
    has_int8 = "int8" in inspect.signature(embeddings.TextEmbedder).parameters
    variants = {"fp32": {"int8": False} if has_int8 else {}}
    if has_int8:
        variants["int8"] = {"int8": True}
    vecs = {}
    for name, kw in variants.items():
        emb = embeddings.TextEmbedder("minilm", max_tokens=128, num_threads=threads, device="cpu", **kw)
        emb._load()
        t0 = time.monotonic()
        vecs[name] = emb._run(texts)
        out[f"transformer_{name}_rows_per_s"] = round(len(texts) / (time.monotonic() - t0), 1)
    if "int8" in vecs:
        a, b = vecs["fp32"], vecs["int8"]
        cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1) + 1e-12)
        out["int8_cosine_mean"], out["int8_cosine_min"] = round(float(cos.mean()), 4), round(float(cos.min()), 4)
    try:
        from automm.features import static_text
    except ImportError:
        return out
    with tempfile.TemporaryDirectory() as cache:
        os.environ["AUTOMM_STATIC_CACHE"] = cache
        t0 = time.monotonic()
        st = static_text.static_text("minilm")
        out["static_distill_s"] = round(time.monotonic() - t0, 1)
    t0 = time.monotonic()
    st.embed(texts)
    out["static_rows_per_s"] = round(len(texts) / (time.monotonic() - t0), 1)
    return out


def image_speed(paths: list[str], threads: int, size: int | None = None) -> float:
    from automm.features.embeddings import ImageEmbedder
    emb = ImageEmbedder("efficientnet-lite0", None, threads, device="cpu", **({"image_size": size} if size else {}))
    emb.embed(np.asarray(paths[:8], dtype=object), "image", "warm-up")
    t0 = time.monotonic()
    emb.embed(np.asarray(paths, dtype=object), "image", "photo")
    return round(len(paths) / (time.monotonic() - t0), 1)


FIELDS = {"transformer_fp32_rows_per_s": "transformer fp32, rows/s", "transformer_int8_rows_per_s":
          "transformer int8, rows/s", "int8_cosine_mean": "int8 cosine to fp32, mean", "int8_cosine_min":
          "int8 cosine, min", "static_distill_s": "static table made in (s)", "static_rows_per_s": "static tier, rows/s",
          "pokemon_images_per_s": "pokemon images/s, 224 px", "pokemon_images_per_s_at_128px":
          "pokemon images/s, 128 px", "large_jpeg_images_per_s": "3000x2000 JPEGs/s, 224 px"}


def report(path: Path) -> str:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    head = "| | " + " | ".join(f"{r['label']} ({r['commit']})" for r in rows) + " |\n|---|" + "---|" * len(rows)
    body = [f"| {name} | " + " | ".join(str(r.get(k, "-")) for r in rows) + " |" for k, name in FIELDS.items()]
    return "\n".join([head, *body])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--label", default="")
    ap.add_argument("--text-rows", type=int, default=2000)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    os.environ["AUTOMM_EMBEDDING_CACHE"] = "off"  # every embedding computed afresh
    from automm import datasets
    from automm.features.embeddings import ImageEmbedder
    women = datasets.load("women_clothing_review", download=False).train
    texts = (women["Title"].fillna("") + " | " + women["Review Text"].fillna("")).tolist()[: a.text_rows]
    pokemon = datasets.load("pokemon_image_stats", download=False)
    pokemon_paths = [str(Path(pokemon.folder) / p) for p in pokemon.train["image_path"].tolist()[:400]]
    row = {"commit": commit(), "label": a.label, "cores": os.cpu_count(), "machine": platform.machine(),
           "threads": a.threads, "text_rows": len(texts), **text_speeds(texts, a.threads)}
    row["pokemon_images_per_s"] = image_speed(pokemon_paths, a.threads)
    if "image_size" in inspect.signature(ImageEmbedder).parameters:  # the plan's size for 120 px sprites
        row["pokemon_images_per_s_at_128px"] = image_speed(pokemon_paths, a.threads, 128)
    with tempfile.TemporaryDirectory() as folder:
        row["large_jpeg_images_per_s"] = image_speed(large_jpegs(Path(folder), 48), a.threads)
    print(json.dumps(row), flush=True)
    RESULTS.mkdir(exist_ok=True)
    with open(RESULTS / "embed_speed.jsonl", "a") as f:
        f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
