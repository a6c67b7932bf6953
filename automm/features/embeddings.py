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
import warnings
from pathlib import Path

import numpy as np

from ..device import torch_device
from ..persistence import cache_root, file_digest
from ..progress import bar
from .backbones import image_backbone, require_torch, text_backbone
from .images import ImageBatcher, cell_paths, image_side, resolve
from .vector_cache import VectorCache, in_scratch, thread_flag

TOKEN_LIMITS = (256, 128, 96, 64, 48, 32)
BATCH = 64


class BudgetExceeded(RuntimeError):
    """Embedding these rows would not fit the time given to it."""


_UNCACHED = threading.local()


def uncached():
    """Embeddings computed afresh inside the block (and not stored): what a predict speed on rows seen
    in training must measure, since new rows are not in the cache."""
    return thread_flag(_UNCACHED, "on")


def cache_dir() -> "Path | str | None":
    """$AUTOMM_EMBEDDING_CACHE, else <$AUTOMM_CACHE or ~/.cache/automm>/embeddings; "off" disables it,
    "memory" keeps a bounded store in this process (vector_cache.py)."""
    env = os.environ.get("AUTOMM_EMBEDDING_CACHE")
    if env == "off" or getattr(_UNCACHED, "on", False):
        return None
    if env == "memory" or in_scratch():
        return "memory"
    if env:
        return Path(env)
    return cache_root() / "embeddings"


class EmbeddingCache(VectorCache):
    """The cached vectors of one backbone and setting: float16 (half the disk, and far more precision
    than the trees or the fusion head can use), in the store that cache_dir() names."""

    def __init__(self, tag: str):
        super().__init__(tag, cache_dir())


def _device(device: str = "auto"):
    """The predictor's `device` setting, by the one device rule (automm.device)."""
    require_torch()
    return torch_device(device)


def _as_cached(vecs: np.ndarray) -> np.ndarray:
    """Rounded as the cache stores them, so a fit gives the same result with a cold or a warm cache."""
    return vecs.astype(np.float16).astype(np.float32)


def _sha1(s: str) -> bytes:
    return hashlib.sha1(s.encode("utf-8", "surrogatepass")).digest()


class TextEmbedder:
    """The transformer tier: mean-pooled hidden states of a text backbone (the sentence-transformers
    recipe). int8=True runs its linear layers in int8 on a CPU (torch's dynamic quantization, per
    channel): on MiniLM here 1.2x the speed at a mean cosine similarity of 0.97 to fp32, so it is off
    by default (benchmarks/results/embed_speed.md)."""

    def __init__(self, backbone: str = "minilm", max_tokens: int | None = None, num_threads: int = 1,
                 device: str = "auto", int8: bool = False):
        self.backbone, self.max_tokens, self.num_threads, self.device = backbone, max_tokens, num_threads, device
        self.int8 = int8

    def _load(self):
        if not hasattr(self, "_bb"):
            self._bb = text_backbone(self.backbone)
            device = _device(self.device)
            self._bb.model.to(device)
            if self.int8 and device.type == "cpu":
                self._bb.model = quantized(self._bb.model)
        return self._bb

    @property
    def tag(self) -> str:
        on_cpu = _device(self.device).type == "cpu"
        return f"text-{_sha1(self.backbone).hex()[:10]}-{self.max_tokens}" + ("-int8" if self.int8 and on_cpu else "")

    def embed(self, texts: list[str], budget: float | None = None) -> np.ndarray:
        """(n, hidden) float32. At fit (max_tokens None) the token limit is chosen to fit `budget`
        seconds, and BudgetExceeded is raised when even the smallest does not. A text that repeats
        is embedded once."""
        torch = require_torch()
        torch.set_num_threads(self.num_threads)
        t0 = time.monotonic()
        bb = self._load()
        unique, inverse = _unique(texts)
        if self.max_tokens is None:
            loading = time.monotonic() - t0  # part of the budget too
            if budget is not None and loading >= budget:
                raise BudgetExceeded(f"loading the text backbone took {loading:.1f}s of the {budget:.1f}s available")
            self.max_tokens = self.choose_limit(unique, None if budget is None else budget - loading)[0]
        cache = EmbeddingCache(self.tag)
        keys = [_sha1(t) for t in unique]
        todo, found = cache.lookup(keys)
        out = np.zeros((len(unique), bb.hidden), np.float32)
        for i, v in found.items():
            out[i] = v
        if len(todo):
            vecs = self._run([unique[i] for i in todo])
            out[todo] = vecs
            cache.add([keys[i] for i in todo], vecs)
        cache.flush()  # the new rows, and the hits marked as used (the least recently used go first)
        return out[inverse]

    def _run(self, texts: list[str]) -> np.ndarray:
        torch = require_torch()
        bb = self._load()
        order = np.argsort([len(t) for t in texts], kind="stable")
        out = np.zeros((len(texts), bb.hidden), np.float32)
        with torch.inference_mode(), bar(total=len(order), desc="embedding text", unit="row") as progress:
            for s in range(0, len(order), BATCH):
                idx = order[s:s + BATCH]
                tokens = bb.tokenizer([texts[i] for i in idx], padding=True, truncation=True,
                                      max_length=min(self.max_tokens, bb.max_tokens), return_tensors="pt")
                hidden = bb.model(**tokens.to(_device(self.device))).last_hidden_state
                mask = tokens["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                out[idx] = ((hidden * mask).sum(1) / mask.sum(1).clamp(min=1)).float().cpu().numpy()
                progress.update(len(idx))
        return _as_cached(out)

    def projection(self, texts: list[str]) -> tuple[float, dict[int, float]]:
        """(seconds spent measuring, projected seconds for all `texts` at each token limit): one batch of
        random rows timed at 128 tokens, each limit's cost projected from the token counts (sorted
        batches pad less than this sample, so the projection errs on the safe side)."""
        t0 = time.monotonic()
        bb = self._load()
        counted = texts[:20_000]  # the lengths of up to 20k rows stand for all of them
        lengths = np.array([len(x) for x in bb.tokenizer(counted, truncation=False, verbose=False)["input_ids"]])
        scale = len(texts) / max(1, len(counted))
        sample = np.random.default_rng(0).choice(len(texts), size=min(BATCH, len(texts)), replace=False)
        limit, self.max_tokens = self.max_tokens, 128
        t1 = time.monotonic()
        self._run([texts[i] for i in sample])
        per_token = (time.monotonic() - t1) / max(1, int(np.minimum(lengths[sample[sample < len(lengths)]], 128).sum()))
        self.max_tokens = limit
        return time.monotonic() - t0, {k: float(per_token * np.minimum(lengths, k).sum() * scale) for k in TOKEN_LIMITS}

    def choose_limit(self, texts: list[str], budget: float | None) -> tuple[int, float | None]:
        """(the largest token limit whose projected time fits `budget`, that projection; None when there
        is no budget, and nothing is measured)."""
        if budget is None or not texts:
            return 128, None
        took, projected = self.projection(texts)
        for limit in TOKEN_LIMITS:
            if projected[limit] <= budget - took:
                return limit, projected[limit]
        raise BudgetExceeded(f"embedding {len(texts)} texts would take about {projected[TOKEN_LIMITS[-1]]:.0f}s even "
                             f"at {TOKEN_LIMITS[-1]} tokens; {budget:.0f}s were available")


def quantized(model):
    """The model with int8 weights in its linear layers (a scale per output channel: one per tensor
    gave a cosine similarity to fp32 of 0.92 on MiniLM), activations quantized on the fly."""
    import warnings

    import torch
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic
    with warnings.catch_warnings():  # torch.ao.quantization is deprecated in favour of torchao, not installed here
        warnings.simplefilter("ignore")
        return quantize_dynamic(model, {torch.nn.Linear: per_channel_dynamic_qconfig})


def _unique(texts: list[str]) -> tuple[list[str], np.ndarray]:
    """The distinct texts in first-seen order, and each text's position among them."""
    index: dict[str, int] = {}
    inverse = np.fromiter((index.setdefault(t, len(index)) for t in texts), np.int64, len(texts))
    return list(index), inverse


class ImageEmbedder:
    """Pooled CNN features of each image column (mean over the images of a row) and a missing flag, at
    `image_size` (default: the backbone's). Decoding in a thread beside the CNN was measured and left
    out: it did not change images/s on 2 cores (embed_speed.md), where the CNN is the cost (JPEGs
    already decode at a reduced scale, in draft mode); on a CPU the CNN runs frozen (`_cnn`)."""

    def __init__(self, backbone: str = "efficientnet-lite0", image_dir: str | None = None, num_threads: int = 1,
                 max_per_row: int = 4, device: str = "auto", image_size: int | None = None):
        self.backbone, self.image_dir, self.device = backbone, image_dir, device
        self.num_threads, self.max_per_row, self.image_size = num_threads, max_per_row, image_size

    def _load(self):
        torch = require_torch()
        torch.set_num_threads(self.num_threads)
        if not hasattr(self, "_bb"):
            self._bb = image_backbone(self.backbone)
            self._bb.model.to(_device(self.device))
        return self._bb

    def sizes(self) -> tuple[int, ...]:
        """The image sizes the plan chooses from: the backbone's own, then smaller by 32 pixels down to
        half of it (the CNN's cost falls with the square of the side)."""
        full = self._load().image_size
        return tuple(range(full, max(full // 2, 32) - 1, -32)) or (full,)

    def native_side(self, values, kind: str, rows: int = 32) -> int | None:
        """The median short side of the first readable images (from their headers, not decoded)."""
        sides = []
        for v in np.asarray(values, dtype=object)[:rows]:
            for p in cell_paths(v, kind)[:1]:
                side = image_side(resolve(p, self.image_dir))
                if side is not None:
                    sides.append(side)
        return int(np.median(sides)) if sides else None

    def seconds_per_row(self, values, kind: str, size: int, rows: int = 16) -> float:
        """Measured on a few rows (uncached): decoding and the CNN at `size`, after a first call on two rows
        that loads the backbone and traces the CNN at that size (a second or two, once; timed with the rows,
        it made 16 rows of pokemon look 30 times slower than they are)."""
        sample = np.asarray(values, dtype=object)[:rows]
        keep, self.image_size = self.image_size, size
        with uncached():
            self.embed(sample[:2], kind, column="", report=False)
            t0 = time.monotonic()
            self.embed(sample, kind, column="", report=False)
        self.image_size = keep
        return (time.monotonic() - t0) / max(1, len(sample))

    def embed(self, values, kind: str, column: str, budget: float | None = None,
              report: bool = True) -> tuple[np.ndarray, np.ndarray]:
        t0 = time.monotonic()
        bb = self._load()
        if budget is not None:
            budget -= time.monotonic() - t0  # loading the backbone counts
            if budget <= 0:
                raise BudgetExceeded(f"image column {column!r}: loading the image backbone used up its time")
        size = self.image_size or bb.image_size
        batcher = ImageBatcher(kind, self.image_dir, size, self.max_per_row)
        values = np.asarray(values, dtype=object)
        cache = EmbeddingCache(f"image-{_sha1(self.backbone).hex()[:10]}-{size}")
        out, missing = np.zeros((len(values), bb.hidden), np.float32), np.ones(len(values), bool)
        try:
            self._embed_chunks(values, kind, column, budget, batcher, cache, out, missing)
        finally:  # what was embedded before the budget ran out is kept for the next fit
            cache.flush()
        if report:
            batcher.report_bad(column, batcher.bad, batcher.why)
        return out, missing

    def _embed_chunks(self, values, kind, column, budget, batcher, cache, out, missing) -> None:
        t0, step = time.monotonic(), 32
        with bar(total=len(values), desc=f"embedding {column}", unit="row") as progress:
            self._embed_steps(values, kind, column, budget, batcher, cache, out, missing, t0, step, progress)

    def _embed_steps(self, values, kind, column, budget, batcher, cache, out, missing, t0, step, progress) -> None:
        torch, bb = require_torch(), self._bb
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
                        feats = self._cnn(torch.from_numpy(pix).to(_device(self.device))).float().cpu().numpy()
                    np.add.at(vecs, owner, feats)
                    vecs = _as_cached(vecs / np.maximum(np.bincount(owner, minlength=len(todo)), 1)[:, None])
                out[s + todo], missing[s + todo] = vecs, miss
                cache.add([keys[i] for i in todo], np.hstack([vecs, miss[:, None].astype(np.float32)]))
            done = s + len(chunk)
            progress.update(len(chunk))
            if budget is not None and done < len(values):
                projected = (time.monotonic() - t0) / done * len(values)
                if projected > budget:
                    raise BudgetExceeded(f"image column {column!r}: embedding {len(values)} rows would take about "
                                         f"{projected:.0f}s; {budget:.0f}s were available")

    def __getstate__(self) -> dict:  # a TorchScript module does not pickle: traced again after unpickling
        return {k: v for k, v in self.__dict__.items() if k != "_frozen"}

    def _cnn(self, pixels):
        """The backbone for inference: on a CPU, a frozen TorchScript trace in channels-last memory, which
        folds each batch norm into its convolution and lets oneDNN fuse the activations (EfficientNet-
        lite0 at 128 px, 32 images, 2 threads: 120 ms against 230-310 ms eager; the same features to
        2e-5). A backbone that cannot be traced runs as it is."""
        torch = require_torch()
        if pixels.device.type != "cpu":
            return self._bb.model(pixels)
        pixels = pixels.contiguous(memory_format=torch.channels_last)
        frozen, key = self.__dict__.setdefault("_frozen", {}), tuple(pixels.shape[1:])  # one trace per image size
        if key not in frozen:
            frozen[key] = _frozen(self._bb.model, pixels)
        return frozen[key](pixels)


def _frozen(model, example):
    import copy

    import torch
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            traced = torch.jit.trace(copy.deepcopy(model).eval().to(memory_format=torch.channels_last), example)
            return torch.jit.freeze(traced)
    except Exception:  # noqa: BLE001 - whatever tracing refuses, the eager module computes the same
        return model


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
