"""Turns a DataFrame into the two views the models read: a dense matrix for the trees and a
sparse matrix for linear models. Every statistic is computed once, in `fit_transform`."""
from __future__ import annotations

import time
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.decomposition import TruncatedSVD

from ..schema import Schema, split_list
from .multimodal import EmbeddingFeatures, EmbeddingSettings
from .tabular import DATE_PARTS, CategoricalEncoder, datetime_parts, to_numeric
from .text import STAT_NAMES, HashedTfidf, clean_text, text_stats


@dataclass(frozen=True)
class FeatureSet:
    dense: np.ndarray          # (n, d) float32, NaN = missing; the trees' view
    names: tuple[str, ...]
    cat_cols: tuple[int, ...]  # categorical codes within `dense`
    n_core: int                # columns before the n-gram block (CatBoost reads only these)
    linear: sp.csr_matrix      # scaled, imputed, one-hot and TF-IDF; the linear models' view
    neural: dict | None = None  # the fusion nets' view: {"num", "cat", "text", "image:<col>", ...}, all n rows
    cat_cards: tuple[int, ...] = ()  # the number of codes of each column of neural["cat"]
    weight: np.ndarray | None = None  # the rows' sample weights in training (None: all equal)

    def __len__(self) -> int:
        return self.dense.shape[0]

    def rows(self, idx) -> "FeatureSet":
        neural = None if self.neural is None else {k: v[idx] for k, v in self.neural.items()}
        weight = None if self.weight is None else self.weight[idx]
        return replace(self, dense=self.dense[idx], linear=self.linear[idx], neural=neural, weight=weight)

    def with_weight(self, weight: np.ndarray | None) -> "FeatureSet":
        return replace(self, weight=None if weight is None else np.asarray(weight, dtype=np.float64))

    def with_stack(self, preds: np.ndarray, names: list[str], probabilities: bool) -> "FeatureSet":
        """The stackers' view: a lower layer's predictions next to the core features.

        Out-of-fold predictions of one fold come from models that saw the other folds' labels, so a
        stacker that can also memorise rows (n-grams, TF-IDF) learns that leak: on shuffled labels
        a linear stacker on TF-IDF plus predictions validated at 0.75 AUC. So the n-gram block is
        dropped, and the linear stacker sees only the predictions (as logits for probabilities).
        """
        p = preds.astype(np.float32)
        dense = np.hstack([self.dense[:, : self.n_core], p])
        q = np.clip(p, 1e-4, 1 - 1e-4)
        logits = np.log(q / (1 - q)) if probabilities else p
        return FeatureSet(dense, self.names[: self.n_core] + tuple(names), self.cat_cols, self.n_core + p.shape[1],
                          sp.csr_matrix(logits.astype(np.float32)), weight=self.weight)


class FeaturePipeline:
    def __init__(self, schema: Schema, max_ngrams: int = 40_000, tree_ngrams: int = 150, svd_dims: int = 24,
                 seed: int = 0, embeddings: EmbeddingSettings | None = None):
        """embeddings: compute frozen text/image embeddings (None: n-grams and statistics only)."""
        self.schema = schema
        self.embeddings = embeddings
        self.max_ngrams = max_ngrams
        self.tree_ngrams = tree_ngrams
        self.svd_dims = svd_dims
        self.seed = seed

    # ---- fit -------------------------------------------------------------------------------
    def fit_transform(self, df: pd.DataFrame, embed_budget: float | None = None, say=lambda msg: None,
                      deadline: float = float("inf")) -> FeatureSet:
        """embed_budget: seconds the embeddings may take (None: no limit). deadline (time.monotonic()):
        the optional steps (the SVD of each text column) that would start after it are skipped."""
        s, fitted_tfidf = self.schema, {}
        self.emb_ = None
        embedded = _no_embeddings(len(df))
        if self.embeddings is not None and (s.of_kind("text") or s.of_kind("image") or s.of_kind("image_list")):
            self.emb_ = EmbeddingFeatures(s, self.embeddings)
            embedded = self.emb_.fit_transform(df, embed_budget, say)
        self.cats_ = {c: CategoricalEncoder().fit(df[c]) for c in s.of_kind("categorical")}
        self.text_cats_, self.tfidf_, self.svd_, self.tree_ng_ = {}, {}, {}, {}
        for c in s.of_kind("text"):
            enc = CategoricalEncoder(min_count=3).fit(df[c])
            if len(enc.levels_) >= 2:  # a text column whose values repeat is also a category
                self.text_cats_[c] = enc
            texts = clean_text(df[c])
            word, char = HashedTfidf("word", (1, 2), self.max_ngrams), HashedTfidf("char_wb", (2, 4), self.max_ngrams)
            mats = sp.hstack([word.fit_transform(texts), char.fit_transform(texts)], format="csr")
            self.tfidf_[c], fitted_tfidf[c] = (word, char), mats
            k = min(self.svd_dims, mats.shape[1] - 1, len(df) - 1)
            if k >= 2 and time.monotonic() > deadline:
                say(f"skipping the SVD of text column {c!r}: the time limit is reached")
            elif k >= 2:
                svd = TruncatedSVD(k, algorithm="randomized", n_iter=4, random_state=self.seed).fit(mats)
                self.svd_[c] = svd.components_.astype(np.float32)
            # the most frequent words also go to the trees, as their own columns
            docfreq = np.asarray((mats[:, : len(word.columns_)] > 0).sum(0)).ravel()
            self.tree_ng_[c] = np.sort(np.argsort(-docfreq, kind="stable")[: self.tree_ngrams]).astype(np.int64)
        core, names, cats, ngrams, ng_names, tfidf_blocks = self._tree_blocks(df, embedded[:2], fitted_tfidf)
        numeric_idx = [i for i in range(core.shape[1]) if i not in cats]
        z = _signed_log(core[:, numeric_idx])
        self.lin_idx_ = np.array(numeric_idx, dtype=np.int64)
        self.lin_median_ = np.nan_to_num(np.nanmedian(z, axis=0) if len(z) else np.zeros(0), nan=0.0)
        filled = np.where(np.isnan(z), self.lin_median_, z)
        self.lin_mean_, self.lin_std_ = filled.mean(0), filled.std(0) + 1e-6
        self.lin_missing_ = np.flatnonzero(np.isnan(z).any(0)).astype(np.int64)
        return self._assemble(core, names, cats, ngrams, ng_names, tfidf_blocks, embedded[2])

    def transform(self, df: pd.DataFrame, image_dir=None) -> FeatureSet:
        """image_dir: where relative image paths start now (they may have moved since fit)."""
        embedded = self.emb_.transform(df, image_dir) if self.emb_ is not None else _no_embeddings(len(df))
        return self._assemble(*self._tree_blocks(df, embedded[:2]), embedded[2])

    # ---- shared by fit and predict ---------------------------------------------------------
    def _tfidf(self, col: str, texts: pd.Series) -> sp.csr_matrix:
        word, char = self.tfidf_[col]
        return sp.hstack([word.transform(texts), char.transform(texts)], format="csr")

    def _tree_blocks(self, df: pd.DataFrame, embedded, fitted_tfidf: dict | None = None):
        s, blocks, names, cats, ngrams, ng_names, tfidf_blocks = self.schema, [], [], [], [], [], []

        def add(arr, cols, categorical=False):
            start = sum(b.shape[1] for b in blocks)
            blocks.append(np.asarray(arr, dtype=np.float32).reshape(len(df), -1))
            names.extend(cols)
            if categorical:
                cats.extend(range(start, start + len(cols)))

        for c in s.of_kind("numeric"):
            add(to_numeric(df[c]), [c])
        for c, enc in self.cats_.items():
            add(enc.transform(df[c]), [c], categorical=True)
        for c in s.of_kind("datetime"):
            add(datetime_parts(df[c]), [f"{c}.{p}" for p in DATE_PARTS])
        for c in s.of_kind("image"):
            add(df[c].notna().to_numpy(), [f"{c}.present"])
        for c in s.of_kind("image_list"):
            add(df[c].map(lambda v: len(split_list(v))).to_numpy(), [f"{c}.count"])
        add(embedded[0], embedded[1])
        for c in s.of_kind("text"):
            add(text_stats(df[c]), [f"{c}.{n}" for n in STAT_NAMES])
            if c in self.text_cats_:
                add(self.text_cats_[c].transform(df[c]), [f"{c}.value"], categorical=True)
            mats = fitted_tfidf[c] if fitted_tfidf else self._tfidf(c, clean_text(df[c]))
            tfidf_blocks.append(mats)
            if c in self.svd_:
                comps = self.svd_[c]
                add(mats @ comps.T, [f"{c}.svd{i}" for i in range(comps.shape[0])])
            ngrams.append(mats[:, self.tree_ng_[c]].toarray())
            ng_names.extend(f"{c}.ngram{i}" for i in self.tree_ng_[c])
        core = np.hstack(blocks) if blocks else np.zeros((len(df), 0), np.float32)
        return core, names, cats, ngrams, ng_names, tfidf_blocks

    def _assemble(self, core, names, cats, ngrams, ng_names, tfidf_blocks, neural: dict) -> FeatureSet:
        dense = np.hstack([core] + ngrams).astype(np.float32) if ngrams else core
        z = _signed_log(core[:, self.lin_idx_])
        miss = np.isnan(z)
        z = (np.where(miss, self.lin_median_, z) - self.lin_mean_) / self.lin_std_
        lin = [sp.csr_matrix(z.astype(np.float32)), sp.csr_matrix(miss[:, self.lin_missing_].astype(np.float32))]
        for i in cats:  # one-hot; missing codes get no column
            codes, n_codes = core[:, i], self._n_codes(names[i])
            ok = ~np.isnan(codes)
            rows = np.flatnonzero(ok)
            lin.append(sp.csr_matrix((np.ones(len(rows), np.float32), (rows, codes[ok].astype(int))),
                                     shape=(len(codes), n_codes)))
        lin.extend(tfidf_blocks)
        codes = np.column_stack([np.nan_to_num(core[:, i], nan=-1).astype(np.int64) + 1 for i in cats]) if cats \
            else np.zeros((len(core), 0), np.int64)
        neural = {"num": np.hstack([z, miss[:, self.lin_missing_]]).astype(np.float32), "cat": codes, **neural}
        return FeatureSet(dense, tuple(names) + tuple(ng_names), tuple(cats), core.shape[1],
                          sp.hstack(lin, format="csr", dtype=np.float32), neural,
                          tuple(self._n_codes(names[i]) for i in cats))

    def _n_codes(self, name: str) -> int:
        if name in self.cats_:
            return self.cats_[name].n_codes
        return self.text_cats_[name[: -len(".value")]].n_codes

    # ---- persistence: JSON metadata plus plain arrays ----------------------------------------
    def get_state(self):
        meta = {"max_ngrams": self.max_ngrams, "tree_ngrams": self.tree_ngrams, "svd_dims": self.svd_dims,
                "seed": self.seed, "cats": {}, "text_cats": {}, "text": {}, "embeddings": None}
        arrays = {k: getattr(self, k + "_") for k in ("lin_idx", "lin_median", "lin_mean", "lin_std", "lin_missing")}
        if self.emb_ is not None:
            meta["embeddings"], emb_arrays = self.emb_.get_state()
            arrays.update({f"emb/{k}": v for k, v in emb_arrays.items()})
        for c, enc in self.cats_.items():
            meta["cats"][c] = enc.get_state()[0]
        for c, enc in self.text_cats_.items():
            meta["text_cats"][c] = enc.get_state()[0]
        for i, (c, (word, char)) in enumerate(self.tfidf_.items()):
            meta["text"][c] = {"word": word.get_state()[0], "char": char.get_state()[0], "key": f"text{i}"}
            for part, vec in (("word", word), ("char", char)):
                for k, v in vec.get_state()[1].items():
                    arrays[f"text{i}/{part}/{k}"] = v
            arrays[f"text{i}/tree_ng"] = self.tree_ng_[c]
            if c in self.svd_:
                arrays[f"text{i}/svd"] = self.svd_[c]
        return meta, arrays

    @classmethod
    def from_state(cls, schema: Schema, meta, arrays) -> "FeaturePipeline":
        obj = cls(schema, meta["max_ngrams"], meta["tree_ngrams"], meta["svd_dims"], meta["seed"])
        emb = meta.get("embeddings")
        obj.emb_ = None if emb is None else EmbeddingFeatures.from_state(
            schema, emb, {k[4:]: v for k, v in arrays.items() if k.startswith("emb/")})
        obj.embeddings = None if obj.emb_ is None else obj.emb_.settings
        for k in ("lin_idx", "lin_median", "lin_mean", "lin_std", "lin_missing"):
            setattr(obj, k + "_", arrays[k])
        obj.cats_ = {c: CategoricalEncoder.from_state(m, {}) for c, m in meta["cats"].items()}
        obj.text_cats_ = {c: CategoricalEncoder.from_state(m, {}) for c, m in meta["text_cats"].items()}
        obj.tfidf_, obj.svd_, obj.tree_ng_ = {}, {}, {}
        for c, m in meta["text"].items():
            key = m["key"]
            obj.tfidf_[c] = tuple(
                HashedTfidf.from_state(m[part], {k: arrays[f"{key}/{part}/{k}"] for k in ("columns", "idf")})
                for part in ("word", "char"))
            obj.tree_ng_[c] = arrays[f"{key}/tree_ng"]
            if f"{key}/svd" in arrays:
                obj.svd_[c] = arrays[f"{key}/svd"]
        return obj


def _signed_log(x: np.ndarray) -> np.ndarray:
    """Tames heavy tails (vote counts, revenues) so one scale suits a linear model."""
    return np.sign(x) * np.log1p(np.abs(x))


def _no_embeddings(n: int):
    """What EmbeddingFeatures gives when there is nothing to embed: no tree columns, no neural inputs."""
    return np.zeros((n, 0), np.float32), [], {}
