"""The static text tier: one vector per token of the text backbone's vocabulary, mean-pooled per row.

The Model2Vec recipe, in a few lines and offline: every vocabulary token goes through the backbone
once ("[CLS] token [SEP]", mean-pooled as the sentence model pools), PCA keeps `dims` components,
and a Zipf estimate of each token's frequency (its rank in the vocabulary) down-weights common
tokens (SIF). Embedding a row is then a tokenizer call and a sparse product, tens of thousands of
rows per second on 2 cores, so every text row always gets an embedding, whatever the time limit;
the transformer tier (`embeddings.TextEmbedder`) is an addition when time allows.

The table is made once per backbone and cached (`static_dir`), with the SHA-256 of its
vectors beside it: a damaged or edited file is made again, never used.
"""
from __future__ import annotations

import hashlib
import itertools
import json
import os
import time
import warnings
from functools import lru_cache
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from ..persistence import cache_root
from .token_batches import remember_plain

DIMS = 256
SIF = 1e-4        # Model2Vec's SIF coefficient
RECIPE = "m2v-1"  # part of the cache key: a change of the recipe makes new tables
REMEMBER_IDS = 20_000_000  # token ids kept for the fusion nets: 80 MB (a predict's batch; not a large fit's rows,
                           # whose nets run in the workers and tokenize there)
MAX_TOKENS = 512  # a row's tokens pooled, at most (the rest of a very long text adds little to a mean)


def _digest(vectors: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(vectors).tobytes()).hexdigest()


def _weights_digest(model) -> str:
    """Identifies the backbone by its weights, not its name: two checkpoints registered under one name
    (a test's random tiny model, a retrained folder) never share a table."""
    h = hashlib.sha1()
    for name, tensor in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def distill(backbone, dims: int = DIMS, batch: int = 512, deadline: float = float("inf")) -> np.ndarray:
    """(vocabulary, dims) float16 token vectors of a `backbones.TextBackbone`. Raises TimeoutError when
    the first batch projects the whole past `deadline` (time.monotonic())."""
    import torch
    tok, model = backbone.tokenizer, backbone.model
    vocab = model.get_input_embeddings().num_embeddings  # may exceed len(tok): padded for speed
    special = set(tok.all_special_ids)
    cls = tok.cls_token_id if tok.cls_token_id is not None else tok.bos_token_id
    sep = tok.sep_token_id if tok.sep_token_id is not None else tok.eos_token_id
    ids = torch.arange(vocab)
    out = np.zeros((vocab, backbone.hidden), np.float32)
    device = next(model.parameters()).device
    t0 = time.monotonic()
    with torch.inference_mode():
        for s in range(0, vocab, batch):
            if s == batch:
                projected = (time.monotonic() - t0) * vocab / batch
                if t0 + projected > deadline:
                    raise TimeoutError(f"making the static text table takes about {projected:.0f}s once per "
                                       f"backbone and machine, and {deadline - t0:.0f}s were left (a fit with a "
                                       "longer time_limit makes it, and later fits reuse it)")
            chunk = ids[s:s + batch, None]
            cols = [c for c in (None if cls is None else torch.full_like(chunk, cls), chunk,
                                None if sep is None else torch.full_like(chunk, sep)) if c is not None]
            inputs = torch.cat(cols, 1).to(device)
            hidden = model(input_ids=inputs, attention_mask=torch.ones_like(inputs)).last_hidden_state
            out[s:s + batch] = hidden.mean(1).float().cpu().numpy()
    keep = np.array([i not in special for i in range(vocab)])
    centred = out - out[keep].mean(0)
    k = min(dims, backbone.hidden, int(keep.sum()) - 1)
    _, _, vt = np.linalg.svd(centred[keep], full_matrices=False)
    table = centred @ vt[:k].T
    inv_rank = 1.0 / np.arange(2, vocab + 2)
    table *= (SIF / (SIF + inv_rank / inv_rank.sum()))[:, None]
    table[~keep] = 0.0  # [CLS], [PAD] and the like carry no meaning of their own
    return table.astype(np.float16)  # as stored in the cache and with a predictor: fit sees what predict will


class StaticText:
    """A token table and the tokenizer of text backbone `backbone`; `embed` mean-pools a row's token
    vectors. Without `tokenizer` (a table loaded with a predictor), the tokenizer alone is loaded on
    first use: the transformer itself is never needed to predict."""

    def __init__(self, table: np.ndarray, backbone: str, tokenizer=None, tokenizer_json: str | None = None):
        self.table, self.backbone, self._tokenizer = np.asarray(table, dtype=np.float32), backbone, tokenizer
        self._tokenizer_json = tokenizer_json  # saved with a predictor: predict needs no backbone package

    def __getstate__(self) -> dict:
        """A pickled table leaves its encoder behind (a closure over a tokenizer); the first embed after
        unpickling builds it again from the tokenizer.json."""
        return {k: v for k, v in self.__dict__.items() if k != "_encode"}

    def tokenizer_json(self) -> str | None:
        """The backbone's tokenizer.json, to be saved with a predictor (None: the backbone has none)."""
        if self._tokenizer_json is None:
            file = _tokenizer_path(self.backbone)
            self._tokenizer_json = file.read_text(encoding="utf-8") if file is not None else None
        return self._tokenizer_json

    @property
    def tokenizer(self):
        if self._tokenizer is None:
            from .backbones import text_tokenizer
            self._tokenizer = text_tokenizer(self.backbone)
        return self._tokenizer

    @property
    def dims(self) -> int:
        return self.table.shape[1]

    def embed(self, texts, chunk: int = 50_000) -> np.ndarray:
        """Each text's mean token vector. Given an array, its tokens are kept for a fusion net that reads
        the same array with this backbone's tokenizer (features/token_batches.py), which then does not
        tokenize it again."""
        out, flats, all_lengths = np.zeros((len(texts), self.dims), np.float32), [], []
        keep = isinstance(texts, np.ndarray) and len(texts) > 0
        for s in range(0, len(texts), chunk):
            ids = self._token_ids(list(texts[s:s + chunk]))
            lengths = np.fromiter(map(len, ids), np.int64, len(ids))
            flat = np.fromiter(itertools.chain.from_iterable(ids), np.int64, int(lengths.sum()))
            counts = sp.csr_matrix((np.ones(len(flat), np.float32), flat, np.r_[0, np.cumsum(lengths)]),
                                   shape=(len(ids), len(self.table)))
            out[s:s + len(ids)] = (counts @ self.table) / np.maximum(lengths, 1)[:, None]
            keep = keep and sum(map(len, flats)) + len(flat) <= REMEMBER_IDS
            flats, all_lengths = (flats + [flat.astype(np.int32)], all_lengths + [lengths]) if keep else ([], [])
        if keep:
            remember_plain(texts, self.backbone, np.concatenate(flats), np.r_[0, np.cumsum(np.concatenate(all_lengths))],
                           MAX_TOKENS)
        return out

    def _token_ids(self, texts: list[str]) -> list[list[int]]:
        if self._tokenizer is None and getattr(self, "_encode", None) is None:
            spec = self.tokenizer_json()
            self._encode = _fast_encoder(spec) or _plain_encoder(spec) or False
        if getattr(self, "_encode", None):
            return self._encode(texts)
        return self.tokenizer(texts, add_special_tokens=False, truncation=True, max_length=MAX_TOKENS,
                              return_attention_mask=False, return_token_type_ids=False, verbose=False)["input_ids"]


def _tokenizer_path(backbone: str) -> Path | None:
    from .backbones import text_source
    try:
        source = text_source(backbone)
    except ImportError:  # the backbone's package is not installed (a core install that only predicts)
        return None
    file = Path(str(source)) / "tokenizer.json" if isinstance(source, (str, Path)) else None
    return file if file is not None and file.is_file() else None


def _fast_encoder(spec: str | None):
    """texts -> token ids by the `tokenizers` library on a tokenizer.json, or None: the same ids as
    transformers' fast tokenizer, without importing transformers and torch (225 MB and 3 s in every
    process that embeds text on the static tier, a predicting one included)."""
    if spec is None:
        return None
    try:
        from tokenizers import Tokenizer
        tok = Tokenizer.from_str(spec)
    except Exception:  # not installed, or a format this tokenizers cannot read: transformers converts it
        return None
    tok.no_padding()
    tok.enable_truncation(MAX_TOKENS)
    return lambda texts: [e.ids for e in tok.encode_batch(texts, add_special_tokens=False)]


def _plain_encoder(spec: str | None):
    """The same in plain Python (wordpiece.py), where `tokenizers` is not installed (a core install)."""
    if spec is None:
        return None
    from .wordpiece import WordPiece
    return WordPiece.from_json(spec, MAX_TOKENS).encode_batch


def static_dir() -> Path:
    """$AUTOMM_STATIC_CACHE, else <$AUTOMM_CACHE or ~/.cache/automm>/static."""
    return Path(os.environ.get("AUTOMM_STATIC_CACHE") or cache_root() / "static")


_LOADED: dict[tuple, StaticText] = {}  # (file, size, mtime): each fold of each model would read it again


def static_text(name: str, say=lambda msg: None, deadline: float = float("inf")) -> StaticText:
    """The static tier of text backbone `name`, distilled on first use (a minute at most for MiniLM on
    2 cores) and read from the cache afterwards (once per process). Raises TimeoutError when
    distilling would start after `deadline` (time.monotonic())."""
    from .backbones import text_backbone
    backbone, key = _identity(name)
    file = static_dir() / f"{RECIPE}-{key}-{DIMS}.npz"
    stamp = _stamp(file)
    if stamp in _LOADED:
        return _LOADED[stamp]
    table = _read(file)
    if table is None:
        if time.monotonic() > deadline:
            raise TimeoutError(f"no time was left to make the static text table of {name!r}, made once per "
                               "backbone and machine (a fit with a longer time_limit makes it; later fits reuse it)")
        backbone = backbone or text_backbone(name)
        t0 = time.monotonic()
        say(f"static text table of {name!r}: distilling it once from the backbone's vocabulary "
            f"({len(backbone.tokenizer)} tokens); it is cached in {file.parent}")
        table = distill(backbone, deadline=deadline)
        _write(file, table)
        say(f"static text table of {name!r}: {table.shape[0]} x {table.shape[1]} in {time.monotonic() - t0:.1f}s")
    loaded = StaticText(table, name, backbone.tokenizer if backbone else None)
    _LOADED[_stamp(file)] = loaded
    return loaded


def _stamp(path: Path) -> tuple:
    try:
        st = path.stat()
    except OSError:
        return (str(path), None, None)
    return (str(path), st.st_size, st.st_mtime_ns)


@lru_cache(maxsize=None)
def _files_key(stamps: tuple) -> str:
    """The digest of weights files, computed once per process for each (path, size, mtime)."""
    from ..persistence import file_digest
    return hashlib.sha1("".join(file_digest(Path(s[0])) for s in stamps).encode()).hexdigest()[:16]


def _identity(name: str):
    """(the loaded backbone or None, a key of its weights). A checkpoint folder is known by its weights
    files' digests, without loading the model (a fit whose table is cached needs only the tokenizer)."""
    from .backbones import text_backbone, text_source
    source = text_source(name)
    folder = Path(str(source)) if not hasattr(source, "model") else None
    weights = sorted(folder.glob("*.safetensors")) + sorted(folder.glob("*.bin")) if folder and folder.is_dir() else []
    if weights:
        return None, _files_key(tuple(_stamp(w) for w in weights))
    backbone = text_backbone(name)
    return backbone, _weights_digest(backbone.model)


def _read(file: Path) -> np.ndarray | None:
    """The cached table, or None when there is none or it is damaged (then with a warning: it is
    distilled again); the checksum beside it means a garbled table is never used."""
    if not file.exists():
        return None
    try:
        with open(file, "rb") as f, np.load(f, allow_pickle=False) as z:  # closed even when numpy fails
            table = z["table"]
        expected = json.loads(file.with_suffix(".json").read_text())["sha256"]
        if _digest(table) != expected:
            raise ValueError("its checksum does not match")
    except Exception as exc:  # noqa: BLE001 - zipfile, zlib, json and numpy each raise their own kind
        warnings.warn(f"static text table {file} is damaged ({type(exc).__name__}: {exc}); it is distilled "
                      "again", stacklevel=3)
        return None
    return table


def _write(file: Path, table: np.ndarray) -> None:
    tmp = file.with_name(f"{file.stem}.{os.getpid()}.tmp.npz")
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        np.savez(tmp, table=table)
        file.with_suffix(".json").write_text(json.dumps({"sha256": _digest(table), "recipe": RECIPE}))
        os.replace(tmp, file)
    except OSError as exc:  # the table is in memory: this fit goes on, the next one distills it again
        tmp.unlink(missing_ok=True)
        warnings.warn(f"static text table could not be cached in {file.parent} ({exc.strerror or exc}); free "
                      "space there or set AUTOMM_STATIC_CACHE to another folder", stacklevel=3)
