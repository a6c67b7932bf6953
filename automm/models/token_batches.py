"""A fusion net's token ids, tokenized once per text array rather than once per batch and model.

A bagged fusion net predicts with each of its fold models in turn, batch by batch, and trains epoch by
epoch over the same rows: tokenizing inside each batch did the same work 5 times per predict (and
once per epoch in a fit). Measured on imdb_genre_prediction, `best`, 10,000 rows: 8 of the 38
seconds of a predict were the tokenizer. The ids are kept flat (int32 and row offsets, not lists of
Python ints: a million rows of text would otherwise take gigabytes), and a batch is padded to its
own longest row, as the tokenizer's padding=True did, so the tensors are the ones it made.
"""
from __future__ import annotations

import itertools

import numpy as np

_CACHE: list[tuple] = []  # (key, the source arrays, ids, offsets); the arrays are held: their id()s stay theirs
KEEP = 2                  # a predict's texts, or a fit's training and validation rows


def token_lengths(tokenizer, sources: tuple[np.ndarray, ...], max_length: int, key) -> np.ndarray:
    """Each row's number of tokens (a predict sorts its rows by it, so that a batch pads little)."""
    return np.diff(_tokenized(tokenizer, sources, max_length, key)[1])


def token_batch(tokenizer, sources: tuple[np.ndarray, ...], max_length: int, key, idx: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray]:
    """(input_ids, attention_mask) of rows `idx` of the documents that `sources` make (a row's texts
    joined by " | "), truncated to `max_length`, padded right. key: the tokenizer's identity."""
    ids, offsets = _tokenized(tokenizer, sources, max_length, key)
    lengths = offsets[idx + 1] - offsets[idx]
    out = np.full((len(idx), max(int(lengths.max(initial=0)), 1)), tokenizer.pad_token_id or 0, dtype=np.int64)
    mask = np.zeros(out.shape, dtype=np.int64)
    for r, (start, n) in enumerate(zip(offsets[idx], lengths)):
        out[r, :n] = ids[start:start + n]
        mask[r, :n] = 1
    return out, mask


def _tokenized(tokenizer, sources: tuple[np.ndarray, ...], max_length: int, key) -> tuple[np.ndarray, np.ndarray]:
    full_key = (tuple(map(id, sources)), max_length, key)
    for entry in _CACHE:
        if entry[0] == full_key and all(a is b for a, b in zip(entry[1], sources)):
            return entry[2], entry[3]
    texts = [" | ".join(p) for p in zip(*sources)]
    chunks, lengths = [], []
    for s in range(0, len(texts), 10_000):
        enc = tokenizer(texts[s:s + 10_000], truncation=True, max_length=max_length,
                        return_attention_mask=False, return_token_type_ids=False)["input_ids"]
        lengths.extend(map(len, enc))
        chunks.append(np.fromiter(itertools.chain.from_iterable(enc), np.int32, sum(map(len, enc))))
    ids = np.concatenate(chunks) if chunks else np.zeros(0, np.int32)
    offsets = np.r_[0, np.cumsum(lengths)].astype(np.int64)
    _CACHE.insert(0, (full_key, sources, ids, offsets))
    del _CACHE[KEEP:]
    return ids, offsets
