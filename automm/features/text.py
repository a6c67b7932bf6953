"""Text n-grams with bounded memory, and cheap text statistics."""
from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.preprocessing import normalize

from ..schema import text_value
from .hashed_ngrams import ngram_counts

HASH_DIM = 2**20
CHUNK_ROWS = 4096
MAX_CHARS = 4000  # long documents add little signal per character and a lot of memory


def as_text(s: pd.Series, missing="") -> pd.Series:
    """Each value as a string (missing ones as `missing`); lone surrogates, which pandas' string
    dtype cannot hold, become U+FFFD."""
    obj = s.astype("object")
    try:
        return obj.where(s.notna(), missing).astype(str)
    except UnicodeEncodeError:
        return obj.map(text_value).where(s.notna(), missing).astype(str)


def clean_text(s: pd.Series) -> pd.Series:
    return as_text(s).str.slice(0, MAX_CHARS)


class HashedTfidf:
    """TF-IDF over hashed n-grams, keeping the `max_features` most frequent ones.

    Hashing in row chunks keeps fit memory bounded by one chunk plus one count per hash bucket,
    whatever the vocabulary size; the fitted state is two arrays (kept buckets and their idf).
    """

    def __init__(self, analyzer: str = "word", ngram_range=(1, 2), max_features: int = 50_000, min_df: int = 2):
        self.analyzer = analyzer
        self.ngram_range = tuple(ngram_range)
        self.max_features = max_features
        self.min_df = min_df

    def _hashed_chunks(self, texts: pd.Series, keep: np.ndarray | None = None):
        """The counts of each chunk of rows; with `keep`, of those buckets only (a fitted transform)."""
        for start in range(0, max(len(texts), 1), CHUNK_ROWS):
            yield ngram_counts(texts.iloc[start:start + CHUNK_ROWS], self.analyzer, self.ngram_range, HASH_DIM, keep)

    def fit_transform(self, texts: pd.Series) -> sp.csr_matrix:
        """One hashing pass: chunks are kept (their size is about that of the result) and sliced."""
        chunks, docfreq = [], np.zeros(HASH_DIM, dtype=np.int64)
        for chunk in self._hashed_chunks(texts):
            docfreq += np.bincount(chunk.indices, minlength=HASH_DIM)
            chunks.append(chunk)
        keep = np.flatnonzero(docfreq >= self.min_df)
        if len(keep) > self.max_features:
            keep = keep[np.argsort(-docfreq[keep], kind="stable")[: self.max_features]]
        self.columns_ = np.sort(keep).astype(np.int64)
        n = len(texts)
        self.idf_ = (np.log((1 + n) / (1 + docfreq[self.columns_])) + 1).astype(np.float32)
        return self._weigh(chunk[:, self.columns_] for chunk in chunks)

    def transform(self, texts: pd.Series) -> sp.csr_matrix:
        return self._weigh(self._hashed_chunks(texts, self.columns_))

    def _weigh(self, chunks) -> sp.csr_matrix:
        parts = []
        for chunk in chunks:
            chunk.data = 1 + np.log(chunk.data)
            parts.append(chunk @ sp.diags(self.idf_))
        out = sp.vstack(parts).tocsr().astype(np.float32)
        # no n-gram reached min_df (a few rows of empty or unique strings): no columns, and nothing to normalise
        return normalize(out) if out.shape[1] else out

    def get_state(self):
        return ({"analyzer": self.analyzer, "ngram_range": list(self.ngram_range),
                 "max_features": self.max_features, "min_df": self.min_df},
                {"columns": self.columns_, "idf": self.idf_})

    @classmethod
    def from_state(cls, meta, arrays) -> "HashedTfidf":
        obj = cls(meta["analyzer"], meta["ngram_range"], meta["max_features"], meta["min_df"])
        obj.columns_, obj.idf_ = arrays["columns"], arrays["idf"]
        return obj


STAT_NAMES = ("chars", "words", "unique_word_ratio", "punctuation", "upper_ratio", "digits", "exclaims", "missing")


def text_stats(s: pd.Series) -> np.ndarray:
    missing = s.isna().to_numpy()
    t = clean_text(s)
    chars = t.str.len().to_numpy(dtype=np.float32)
    words = t.str.split()
    n_words = words.str.len().to_numpy(dtype=np.float32)
    uniq = words.map(lambda w: len(set(w))).to_numpy(dtype=np.float32)
    denom = np.maximum(chars, 1)
    out = np.column_stack([
        chars, n_words, uniq / np.maximum(n_words, 1),
        t.str.count(r"[^\w\s]").to_numpy(dtype=np.float32),
        t.str.count(r"[A-Z]").to_numpy(dtype=np.float32) / denom,
        t.str.count(r"\d").to_numpy(dtype=np.float32),
        t.str.count("!").to_numpy(dtype=np.float32),
        missing.astype(np.float32),
    ])
    out[missing, :-1] = np.nan  # missing text is not the same as empty text for the trees
    return out.astype(np.float32)
