"""Free text: statistics (length, words, digits, ...), the value itself as a category when values
repeat, TF-IDF of hashed word and character n-grams (the linear models' view), its SVD components
and the most frequent n-grams as counts (the trees' view)."""
from __future__ import annotations

import time

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.decomposition import TruncatedSVD

from ...schema import Modality
from ..tabular import CategoricalEncoder
from ..text import STAT_NAMES, HashedTfidf, clean_text, text_stats
from .base import Block, ColumnFeatures, ColumnOutput, register_modality

PARTS = ("word", "char")


@register_modality
class TextFeatures(ColumnFeatures):
    kind, order = Modality.TEXT, 60

    def fit_transform(self, values, settings, say=lambda msg: None, deadline=float("inf")) -> ColumnOutput:
        enc = CategoricalEncoder(min_count=3).fit(values)
        self.value_ = enc if len(enc.levels_) >= 2 else None  # a text column whose values repeat is also a category
        texts = clean_text(values)
        max_ngrams = settings["max_ngrams"]
        # character n-grams cost about 3x the words' time (hashed_ngrams.py); a large table's feature plan may
        # leave them out
        self.tfidf_ = (HashedTfidf("word", (1, 2), max_ngrams),) + \
            ((HashedTfidf("char_wb", (2, 4), max_ngrams),) if settings.get("char_ngrams", True) else ())
        mats = sp.hstack([t.fit_transform(texts) for t in self.tfidf_], format="csr")
        k = min(settings["svd_dims"], mats.shape[1] - 1, len(values) - 1)
        self.svd_ = None
        if k >= 2 and time.monotonic() > deadline:
            say(f"skipping the SVD of text column {self.column!r}: the time limit is reached")
        elif k >= 2:
            svd = TruncatedSVD(k, algorithm="randomized", n_iter=4, random_state=settings["seed"]).fit(mats)
            self.svd_ = svd.components_.astype(np.float32)
        # the most frequent words also go to the trees, as their own columns
        docfreq = np.asarray((mats[:, : len(self.tfidf_[0].columns_)] > 0).sum(0)).ravel()
        self.tree_ng_ = np.sort(np.argsort(-docfreq, kind="stable")[: settings["tree_ngrams"]]).astype(np.int64)
        return self._output(values, mats)

    def fit(self, values, settings, say=lambda msg: None, deadline=float("inf")):
        self.fit_transform(values, settings, say, deadline)
        return self

    def transform(self, values: pd.Series) -> ColumnOutput:
        texts = clean_text(values)
        return self._output(values, sp.hstack([v.transform(texts) for v in self.tfidf_], format="csr"))

    def _output(self, values: pd.Series, mats: sp.csr_matrix) -> ColumnOutput:
        c = self.column
        core = [Block(text_stats(values), [f"{c}.{n}" for n in STAT_NAMES])]
        if self.value_ is not None:
            core.append(Block(self.value_.transform(values).reshape(-1, 1), [f"{c}.value"], n_codes=self.value_.n_codes))
        if self.svd_ is not None:
            core.append(Block(mats @ self.svd_.T, [f"{c}.svd{i}" for i in range(self.svd_.shape[0])]))
        ngrams = Block(mats[:, self.tree_ng_].toarray(), [f"{c}.ngram{i}" for i in self.tree_ng_])
        return ColumnOutput(core, [ngrams], [mats])

    def get_state(self):
        meta = {p: v.get_state()[0] for p, v in zip(PARTS, self.tfidf_)}
        meta["value"] = None if self.value_ is None else self.value_.get_state()[0]
        arrays = {f"{p}/{k}": a for p, v in zip(PARTS, self.tfidf_) for k, a in v.get_state()[1].items()}
        arrays["tree_ng"] = self.tree_ng_
        if self.svd_ is not None:
            arrays["svd"] = self.svd_
        return meta, arrays

    @classmethod
    def from_state(cls, column, meta, arrays):
        obj = cls(column)
        obj.tfidf_ = tuple(HashedTfidf.from_state(meta[p], {k: arrays[f"{p}/{k}"] for k in ("columns", "idf")})
                           for p in PARTS if p in meta)
        obj.value_ = None if meta.get("value") is None else CategoricalEncoder.from_state(meta["value"], {})
        obj.tree_ng_, obj.svd_ = arrays["tree_ng"], arrays.get("svd")
        return obj
