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
_PLAIN: list[tuple] = []  # (texts array, backbone, ids, offsets, limit): the static tier's tokens of an array
_SPECIALS: dict = {}      # backbone -> (ids before, ids after) a text's own, or None: they cannot be derived


def remember_plain(texts: np.ndarray, backbone: str, ids: np.ndarray, offsets: np.ndarray, limit: int) -> None:
    """The static text tier's tokens of `texts` (no special tokens, at most `limit` a row). A fusion
    net reading the same array with the same backbone's tokenizer takes its ids from them (the special
    tokens added, the rows cut to its own limit) instead of tokenizing the texts again: with bookprice's
    synopses, 2 of a 10,000-row predict's 25 seconds."""
    _PLAIN.insert(0, (texts, backbone, ids, offsets, limit))
    del _PLAIN[KEEP:]


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
    derived = _from_plain(tokenizer, sources, max_length, key)
    if derived is not None:
        _CACHE.insert(0, (full_key, sources, *derived))
        del _CACHE[KEEP:]
        return derived
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


def _from_plain(tokenizer, sources, max_length: int, key) -> tuple[np.ndarray, np.ndarray] | None:
    """(ids, offsets) from the static tier's tokens of this very array, when there are some for this
    backbone and they make what the tokenizer would have made (checked once per backbone on a few rows)."""
    backbone = key[0] if isinstance(key, tuple) else key
    entry = next((e for e in _PLAIN if len(sources) == 1 and e[0] is sources[0] and e[1] == backbone), None)
    if entry is None:
        return None
    texts, _, ids, offsets, limit = entry
    if backbone not in _SPECIALS:
        _SPECIALS[backbone] = _specials(tokenizer)
        if _SPECIALS[backbone] is not None:  # the same tokens as the tokenizer's own, or never derived
            sample = np.arange(min(len(texts), 16))
            mine = _cut(ids, offsets, sample, *_SPECIALS[backbone], max_length)
            theirs = tokenizer(list(texts[sample]), truncation=True, max_length=max_length,
                               return_attention_mask=False, return_token_type_ids=False)["input_ids"]
            if [list(mine[0][a:b]) for a, b in zip(mine[1][:-1], mine[1][1:])] != [list(t) for t in theirs]:
                _SPECIALS[backbone] = None
    if _SPECIALS[backbone] is None or max_length - sum(map(len, _SPECIALS[backbone])) > limit:
        return None
    return _cut(ids, offsets, np.arange(len(texts)), *_SPECIALS[backbone], max_length)


def _specials(tokenizer) -> tuple[list[int], list[int]] | None:
    """The ids the tokenizer puts before and after a text's own, found from a probe text."""
    plain = tokenizer("automl probe", add_special_tokens=False)["input_ids"]
    full = tokenizer("automl probe")["input_ids"]
    for i in range(len(full) - len(plain) + 1):
        if full[i:i + len(plain)] == plain:
            return list(full[:i]), list(full[i + len(plain):])
    return None


def _cut(ids, offsets, rows, before, after, max_length) -> tuple[np.ndarray, np.ndarray]:
    """Rows `rows` of flat ids, each cut to max_length with the special ids around it."""
    own = np.minimum(offsets[rows + 1] - offsets[rows], max_length - len(before) - len(after))
    lengths = own + len(before) + len(after)
    new_offsets = np.r_[0, np.cumsum(lengths)].astype(np.int64)
    out = np.empty(int(new_offsets[-1]), np.int32)
    starts = new_offsets[:-1]
    for j, t in enumerate(before):
        out[starts + j] = t
    for j, t in enumerate(after):
        out[new_offsets[1:] - len(after) + j] = t
    position = np.arange(int(own.sum())) - np.repeat(np.cumsum(own) - own, own)  # each kept id's place in its row
    out[np.repeat(starts + len(before), own) + position] = ids[np.repeat(offsets[rows], own) + position]
    return out, new_offsets
