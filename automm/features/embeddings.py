"""Frozen text and image embeddings, computed once per input, cached on disk, within a time budget.

On a 2-core CPU a 6-layer transformer embeds some tens of rows per second, so the work is cut
where it costs nothing: rows are sorted by length so batches carry little padding, the token limit
is the largest one whose projected time fits the budget, and every embedding is cached under a
key made of the backbone, the settings and the SHA-1 of the input, so a second fit, a second
model or the test rows seen again never recompute it.
"""
from __future__ import annotations

import hashlib
import os
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from ..persistence import cache_root, file_digest
from .backbones import image_backbone, require_torch, text_backbone
from .images import ImageBatcher, cell_paths, resolve

TOKEN_LIMITS = (256, 128, 96, 64, 48, 32)
BATCH = 64


class BudgetExceeded(RuntimeError):
    """Embedding these rows would not fit the time given to it."""


_UNCACHED = threading.local()


@contextmanager
def uncached():
    """Embeddings computed afresh inside the block (and not stored): what a predict speed on rows seen
    in training must measure, since new rows are not in the cache."""
    before = getattr(_UNCACHED, "on", False)
    _UNCACHED.on = True
    try:
        yield
    finally:
        _UNCACHED.on = before


def cache_dir() -> Path | None:
    """$AUTOMM_EMBEDDING_CACHE, else <$AUTOMM_CACHE or ~/.cache/automm>/embeddings; "off" disables it."""
    env = os.environ.get("AUTOMM_EMBEDDING_CACHE")
    if env == "off" or getattr(_UNCACHED, "on", False):
        return None
    if env:
        return Path(env)
    return cache_root() / "embeddings"


class EmbeddingCache:
    """One .npz per backbone and setting: SHA-1 keys and float16 vectors (half the disk, and
    far more precision than the trees or the fusion head can use)."""

    def __init__(self, tag: str):
        folder = cache_dir()
        self.file = None if folder is None else folder / f"{tag}.npz"
        self.store: dict[bytes, np.ndarray] = {}
        if self.file is not None and self.file.exists():
            try:
                with np.load(self.file, allow_pickle=False) as z:
                    self.store = dict(zip(z["keys"].tolist(), z["vecs"]))
            except (OSError, ValueError, KeyError):
                self.store = {}  # a damaged cache is only lost time

    def lookup(self, keys: list[bytes]) -> tuple[np.ndarray, dict[int, np.ndarray]]:
        found = {i: self.store[k] for i, k in enumerate(keys) if k in self.store}
        todo = np.array([i for i in range(len(keys)) if i not in found], dtype=np.int64)
        return todo, found

    def add(self, keys: list[bytes], vecs: np.ndarray) -> None:
        self.store.update(zip(keys, vecs.astype(np.float16)))
        self.dirty = True

    def flush(self) -> None:
        """One write per embedding call, however many batches it added (not one per batch)."""
        if self.file is None or not getattr(self, "dirty", False):
            return
        self.dirty = False
        self.file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.file.with_name(f"{self.file.stem}.{os.getpid()}.tmp.npz")
        np.savez(tmp, keys=np.array(list(self.store), dtype="S20"), vecs=np.stack(list(self.store.values())))
        os.replace(tmp, self.file)


def _device(device: str = "auto"):
    """The predictor's `device` setting: "cpu" is always honoured; "auto" takes a GPU when there is one."""
    torch = require_torch()
    return torch.device("cuda" if device != "cpu" and torch.cuda.is_available() else "cpu")


def _as_cached(vecs: np.ndarray) -> np.ndarray:
    """Rounded as the cache stores them, so a fit gives the same result with a cold or a warm cache."""
    return vecs.astype(np.float16).astype(np.float32)


def _sha1(s: str) -> bytes:
    return hashlib.sha1(s.encode("utf-8", "surrogatepass")).digest()


class TextEmbedder:
    """Mean-pooled hidden states of a text backbone (the sentence-transformers recipe)."""

    def __init__(self, backbone: str = "minilm", max_tokens: int | None = None, num_threads: int = 1,
                 device: str = "auto"):
        self.backbone, self.max_tokens, self.num_threads, self.device = backbone, max_tokens, num_threads, device

    def _load(self):
        if not hasattr(self, "_bb"):
            self._bb = text_backbone(self.backbone)
            self._bb.model.to(_device(self.device))
        return self._bb

    def embed(self, texts: list[str], budget: float | None = None) -> np.ndarray:
        """(n, hidden) float32. At fit (max_tokens None) the token limit is chosen to fit `budget`
        seconds, and BudgetExceeded is raised when even the smallest does not."""
        torch = require_torch()
        torch.set_num_threads(self.num_threads)
        t0 = time.monotonic()
        bb = self._load()
        if self.max_tokens is None:
            loading = time.monotonic() - t0  # part of the budget too
            if budget is not None and loading >= budget:
                raise BudgetExceeded(f"loading the text backbone took {loading:.1f}s of the {budget:.1f}s available")
            self.max_tokens = self._choose_limit(texts, None if budget is None else budget - loading)
        cache = EmbeddingCache(f"text-{_sha1(self.backbone).hex()[:10]}-{self.max_tokens}")
        keys = [_sha1(t) for t in texts]
        todo, found = cache.lookup(keys)
        out = np.zeros((len(texts), bb.hidden), np.float32)
        for i, v in found.items():
            out[i] = v
        if len(todo):
            vecs = self._run([texts[i] for i in todo])
            out[todo] = vecs
            cache.add([keys[i] for i in todo], vecs)
            cache.flush()
        return out

    def _run(self, texts: list[str]) -> np.ndarray:
        torch = require_torch()
        bb = self._load()
        order = np.argsort([len(t) for t in texts], kind="stable")
        out = np.zeros((len(texts), bb.hidden), np.float32)
        with torch.inference_mode():
            for s in range(0, len(order), BATCH):
                idx = order[s:s + BATCH]
                tokens = bb.tokenizer([texts[i] for i in idx], padding=True, truncation=True,
                                      max_length=min(self.max_tokens, bb.max_tokens), return_tensors="pt")
                hidden = bb.model(**tokens.to(_device(self.device))).last_hidden_state
                mask = tokens["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                out[idx] = ((hidden * mask).sum(1) / mask.sum(1).clamp(min=1)).float().cpu().numpy()
        return _as_cached(out)

    def _choose_limit(self, texts: list[str], budget: float | None) -> int:
        """Times one batch of random rows at 128 tokens, then projects each limit's cost from the
        token counts (sorted batches pad less than this sample, so the projection errs on the safe side)."""
        if budget is None or not texts:
            return 128
        bb = self._load()
        counted = texts[:20_000]  # the lengths of up to 20k rows stand for all of them
        lengths = np.array([len(x) for x in bb.tokenizer(counted, truncation=False, verbose=False)["input_ids"]])
        scale = len(texts) / len(counted)
        sample = np.random.default_rng(0).choice(len(texts), size=min(BATCH, len(texts)), replace=False)
        self.max_tokens = 128
        t0 = time.monotonic()
        self._run([texts[i] for i in sample])
        took = time.monotonic() - t0
        per_token = took / max(1, int(np.minimum(lengths[sample[sample < len(lengths)]], 128).sum()))
        projected = float("inf")
        for limit in TOKEN_LIMITS:
            projected = per_token * np.minimum(lengths, limit).sum() * scale
            if projected <= budget - took:
                return limit
        raise BudgetExceeded(f"embedding {len(texts)} texts would take about {projected:.0f}s even at "
                             f"{TOKEN_LIMITS[-1]} tokens; {budget:.0f}s were available")


class ImageEmbedder:
    """Pooled CNN features of each image column (mean over the images of a row) and a missing flag."""

    def __init__(self, backbone: str = "efficientnet-lite0", image_dir: str | None = None, num_threads: int = 1,
                 max_per_row: int = 4, device: str = "auto"):
        self.backbone, self.image_dir, self.device = backbone, image_dir, device
        self.num_threads, self.max_per_row = num_threads, max_per_row

    def embed(self, values, kind: str, column: str, budget: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        torch = require_torch()
        torch.set_num_threads(self.num_threads)
        t0 = time.monotonic()
        if not hasattr(self, "_bb"):
            self._bb = image_backbone(self.backbone)
            self._bb.model.to(_device(self.device))
        bb = self._bb
        if budget is not None:
            budget -= time.monotonic() - t0  # loading the backbone counts
            if budget <= 0:
                raise BudgetExceeded(f"image column {column!r}: loading the image backbone used up its time")
        batcher = ImageBatcher(kind, self.image_dir, bb.image_size, self.max_per_row)
        values = np.asarray(values, dtype=object)
        cache = EmbeddingCache(f"image-{_sha1(self.backbone).hex()[:10]}-{bb.image_size}")
        out, missing = np.zeros((len(values), bb.hidden), np.float32), np.ones(len(values), bool)
        try:
            self._embed_chunks(values, kind, column, budget, batcher, cache, out, missing)
        finally:  # what was embedded before the budget ran out is kept for the next fit
            cache.flush()
        batcher.report_bad(column, batcher.bad, batcher.why)
        return out, missing

    def _embed_chunks(self, values, kind, column, budget, batcher, cache, out, missing) -> None:
        torch, bb = require_torch(), self._bb
        t0, step = time.monotonic(), 32
        for s in range(0, len(values), step):
            chunk = values[s:s + step]
            keys = [_sha1(_file_key(v, kind, self.image_dir, self.max_per_row)) for v in chunk]
            todo, found = cache.lookup(keys)
            for i, v in found.items():
                out[s + i], missing[s + i] = v[:-1], v[-1] > 0.5
            if len(todo):
                pix, owner, miss = batcher(chunk[todo], column=column, report=False)
                vecs = np.zeros((len(todo), bb.hidden), np.float32)
                if len(pix):
                    with torch.inference_mode():
                        feats = bb.model(torch.from_numpy(pix).to(_device(self.device))).float().cpu().numpy()
                    np.add.at(vecs, owner, feats)
                    vecs = _as_cached(vecs / np.maximum(np.bincount(owner, minlength=len(todo)), 1)[:, None])
                out[s + todo], missing[s + todo] = vecs, miss
                cache.add([keys[i] for i in todo], np.hstack([vecs, miss[:, None].astype(np.float32)]))
            done = s + len(chunk)
            if budget is not None and done < len(values):
                projected = (time.monotonic() - t0) / done * len(values)
                if projected > budget:
                    raise BudgetExceeded(f"image column {column!r}: embedding {len(values)} rows would take about "
                                         f"{projected:.0f}s; {budget:.0f}s were available")


def _file_key(value, kind: str, image_dir, max_per_row: int) -> str:
    """The SHA-1 of each image file's bytes: an edited image is re-embedded even when its size and
    modification time were kept (cp -p, rsync -t), and a moved one is found again."""
    parts = []
    for p in cell_paths(value, kind)[:max_per_row]:
        path = resolve(p, image_dir)
        try:
            if not path.is_file():  # never open a pipe or a device: reading it could block forever
                raise OSError
            parts.append(file_digest(path, "sha1"))
        except OSError:
            parts.append(f"{path}|missing")
    return "\n".join(parts)
