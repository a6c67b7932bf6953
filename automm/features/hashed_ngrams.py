"""Hashed word and character n-grams, computed with numpy over whole chunks of text.

The same matrix as scikit-learn's `HashingVectorizer(alternate_sign=False, norm=None)` with
analyzer "word" (lower-cased tokens of `token_pattern`, joined by a space) or "char_wb" (character
n-grams inside each lower-cased word padded with a space on either side), bucket for bucket, so the
buckets a fitted model kept still mean what they meant, at a fraction of its time: scikit-learn
builds every n-gram as a Python string, which made character n-grams most of a text table's predict
time. Here a chunk of texts becomes one UTF-8 byte buffer, each n-gram a (start, length) pair in it,
and MurmurHash3 (x86, 32 bit, seed 0, as scikit-learn's) runs over all pairs at once.
"""
from __future__ import annotations

import re

import numpy as np
import scipy.sparse as sp

TOKEN_PATTERN = r"(?u)\b\w+\b"
MAX_CHARS = 2_000_000  # per call: about 6 million n-grams, some 300 MB of temporary arrays
_C1, _C2 = np.uint32(0xCC9E2D51), np.uint32(0x1B873593)
_TAIL_MASK = np.array([0, 0xFF, 0xFFFF, 0xFFFFFF], np.uint32)


def _rotl(x: np.ndarray, r: int) -> np.ndarray:
    return (x << np.uint32(r)) | (x >> np.uint32(32 - r))


def murmurhash3_32(buf: np.ndarray, start: np.ndarray, length: np.ndarray) -> np.ndarray:
    """MurmurHash3_x86_32 with seed 0 of the byte strings buf[start:start + length], as int32 (the
    signed value scikit-learn's murmurhash3_32 returns). `buf` must extend 3 bytes past the last string."""
    b = buf.astype(np.uint32)
    word = b[:-3] | (b[1:-2] << np.uint32(8)) | (b[2:-1] << np.uint32(16)) | (b[3:] << np.uint32(24))
    del b  # word[i]: the 4 bytes at offset i, little-endian: one gather per block below
    h = np.zeros(len(start), np.uint32)
    blocks = length // 4
    for j in range(int(blocks.max(initial=0))):
        rows = np.flatnonzero(blocks > j)
        k = _rotl(word[start[rows] + 4 * j] * _C1, 15) * _C2
        h[rows] = _rotl(h[rows] ^ k, 13) * np.uint32(5) + np.uint32(0xE6546B64)
    k = word[start + 4 * blocks] & _TAIL_MASK[length & 3]  # no tail: k = 0, which the mixing keeps 0
    h ^= _rotl(k * _C1, 15) * _C2
    h ^= length.astype(np.uint32)
    h ^= h >> np.uint32(16)
    h *= np.uint32(0x85EBCA6B)
    h ^= h >> np.uint32(13)
    h *= np.uint32(0xC2B2AE35)
    h ^= h >> np.uint32(16)
    return h.view(np.int32)


def ngram_counts(texts, analyzer: str, ngram_range: tuple[int, int], n_features: int,
                 keep: np.ndarray | None = None, token_pattern: str = TOKEN_PATTERN) -> sp.csr_matrix:
    """(len(texts), n_features) float32 counts of each text's hashed n-grams; analyzer "word" or
    "char_wb" (a word shorter than the smallest n counts once, whole, as in scikit-learn). keep: sorted
    buckets; the result has only those columns, in that order (what a fitted TF-IDF reads, without
    building the rest)."""
    texts = list(texts)
    sizes = np.cumsum([len(t) for t in texts])
    if len(texts) > 1 and sizes[-1] > MAX_CHARS:  # a few arrays of int64 per n-gram: bound their size
        half = int(np.searchsorted(sizes, sizes[-1] / 2)) or 1
        return sp.vstack([ngram_counts(part, analyzer, ngram_range, n_features, keep, token_pattern)
                          for part in (texts[:half], texts[half:])]).tocsr()
    if analyzer == "word":
        find = re.compile(token_pattern).findall
        units = [find(t.lower()) for t in texts]
        joined = "".join(" ".join(u) + " " for u in units if u)  # "t1 t2 t3 ": a space ends each token
    elif analyzer == "char_wb":
        units = [t.lower().split() for t in texts]
        joined = "".join(" " + "  ".join(u) + " " for u in units if u)  # " w1  w2 ": each word padded
    else:
        raise ValueError(f"analyzer must be 'word' or 'char_wb', not {analyzer!r}")
    doc_of_unit = np.repeat(np.arange(len(units)), np.fromiter(map(len, units), np.int64, len(units)))
    points = np.frombuffer(joined.encode("utf-32-le", "surrogatepass"), np.uint32)
    spaces = np.flatnonzero(points == 32)  # neither tokens nor words hold a space
    utf8_len = np.ones(len(points) + 1, np.int64)
    utf8_len[:-1] += (points >= 0x80).astype(np.int64) + (points >= 0x800) + (points >= 0x10000)
    byte_at = np.concatenate([[0], np.cumsum(utf8_len[:-1])])  # each character's first byte
    if analyzer == "word":
        first, end = np.concatenate([[0], spaces[:-1] + 1])[: len(spaces)], spaces
        grams = _word_grams(first, end, doc_of_unit, ngram_range)
    else:
        grams = _char_grams(spaces[0::2], spaces[1::2] + 1, doc_of_unit, ngram_range)
    start, stop, doc = (np.concatenate(a) if a else np.zeros(0, np.int64) for a in zip(*grams))
    buf = np.frombuffer(joined.encode("utf-8", "surrogatepass") + b"\0\0\0\0", np.uint8)
    return _count_matrix(buf, byte_at[start], byte_at[stop] - byte_at[start], doc, len(texts), n_features, keep)


def _word_grams(first, end, doc, ngram_range):
    """(start, stop, doc) in characters of each run of n tokens of one text, for each n."""
    for n in range(ngram_range[0], ngram_range[1] + 1):
        i = np.flatnonzero(doc[: len(doc) - n + 1] == doc[n - 1:]) if len(doc) >= n else np.zeros(0, np.int64)
        yield first[i], end[i + n - 1], doc[i]


def _char_grams(first, end, doc, ngram_range):
    """(start, stop, doc) in characters of each n-gram inside each padded word [first, end), for each n."""
    length = end - first
    min_n, max_n = ngram_range
    short = np.flatnonzero(length < min_n)  # shorter than every n: counted once, whole
    yield first[short], end[short], doc[short]
    for n in range(min_n, max_n + 1):
        count = np.where(length >= n, length - n + 1, 0)
        word = np.repeat(np.arange(len(first)), count)
        at = first[word] + np.arange(len(word)) - np.repeat(np.cumsum(count) - count, count)
        yield at, at + n, doc[word]


def _count_matrix(buf, start, nbytes, doc, n_docs: int, n_features: int, keep) -> sp.csr_matrix:
    h = murmurhash3_32(buf, start, nbytes).astype(np.int64)
    bucket = np.abs(h) % n_features
    bucket[h == -2**31] = (2**31 - 1 - (n_features - 1)) % n_features  # scikit-learn's rule for abs(INT_MIN)
    width = n_features
    if keep is not None:
        column = np.full(n_features, -1, np.int32)
        column[keep] = np.arange(len(keep), dtype=np.int32)
        column = column[bucket]  # a table lookup: a search of the kept buckets took longer than the hashing
        kept = column >= 0
        doc, bucket, width = doc[kept], column[kept], len(keep)
    # by way of columns: summing repeats sorts each column's few rows rather than each row's many columns
    out = sp.csc_matrix((np.ones(len(doc), np.float32), (doc, bucket)), shape=(n_docs, width)).tocsr()
    out.sum_duplicates()  # a no-op: the format is canonical already
    return out
