"""Turns a DataFrame into the two views the models read: a dense matrix for the trees and a
sparse matrix for linear models. Every statistic is computed once, in `fit_transform`."""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..schema import Modality, Schema
from .modalities import EMBEDDINGS_ORDER, MODALITIES, Block, ColumnFeatures, ColumnOutput, featurizer, in_order
from .multimodal import EmbeddingFeatures, EmbeddingSettings


@dataclass(frozen=True)
class FeatureSet:
    dense: np.ndarray          # (n, d) float32, NaN = missing; the trees' view
    names: tuple[str, ...]
    cat_cols: tuple[int, ...]  # categorical codes within `dense`
    n_core: int                # columns before the n-gram block (CatBoost reads only these)
    linear: sp.csr_matrix      # scaled, imputed, one-hot and TF-IDF; the linear models' view
    # the fusion nets' view, all n rows: {modality: {column ("all": every column of it together): {part: array}}},
    # e.g. {"numeric": {"all": {"values"}}, "categorical": {"all": {"codes"}}, "text": {"all": {"embedding",
    # "raw", "table"}}, "image": {"photo": {"embedding", "missing", "paths"}}}
    neural: dict | None = None
    cat_cards: tuple[int, ...] = ()  # the number of codes of each column of the categorical codes
    weight: np.ndarray | None = None  # the rows' sample weights in training (None: all equal)

    def __len__(self) -> int:
        return self.dense.shape[0]

    def rows(self, idx) -> "FeatureSet":
        neural = None if self.neural is None else {
            m: {c: {k: v[idx] for k, v in parts.items()} for c, parts in cols.items()} for m, cols in self.neural.items()}
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

    @property
    def settings(self) -> dict:
        return {"max_ngrams": self.max_ngrams, "tree_ngrams": self.tree_ngrams, "svd_dims": self.svd_dims,
                "seed": self.seed}

    def _columns(self) -> list[str]:
        """The featurized columns, modality by modality in their order, then as in the data."""
        return [c for kind in in_order() for c in self.schema.of_kind(kind)]

    # ---- fit -------------------------------------------------------------------------------
    def fit_transform(self, df: pd.DataFrame, embed_budget: float | None = None, say=lambda msg: None,
                      deadline: float = float("inf")) -> FeatureSet:
        """embed_budget: seconds the embeddings may take (None: no limit). deadline (time.monotonic()):
        the optional steps (the SVD of each text column) that would start after it are skipped."""
        s = self.schema
        self.emb_ = None
        embedded = _no_embeddings(len(df))
        if self.embeddings is not None and s.of_kind("text", "image", "image_list"):
            self.emb_ = EmbeddingFeatures(s, self.embeddings)
            embedded = self.emb_.fit_transform(df, embed_budget, say)
        self.columns_: dict[str, ColumnFeatures] = {}
        outputs = {}
        for c in self._columns():
            self.columns_[c] = featurizer(s[c].kind, c)
            outputs[c] = self.columns_[c].fit_transform(df[c], self.settings, say, deadline)
        core, names, cats, extra = self._tree_blocks(outputs, embedded[:2], len(df))
        numeric_idx = [i for i in range(core.shape[1]) if i not in cats]
        z = _signed_log(core[:, numeric_idx])
        self.lin_idx_ = np.array(numeric_idx, dtype=np.int64)
        self.lin_median_ = np.nan_to_num(np.nanmedian(z, axis=0) if len(z) else np.zeros(0), nan=0.0)
        filled = np.where(np.isnan(z), self.lin_median_, z)
        self.lin_mean_, self.lin_std_ = filled.mean(0), filled.std(0) + 1e-6
        self.lin_missing_ = np.flatnonzero(np.isnan(z).any(0)).astype(np.int64)
        return self._assemble(core, names, cats, extra, outputs, embedded[2])

    def transform(self, df: pd.DataFrame, image_dir=None) -> FeatureSet:
        """image_dir: where relative image paths start now (they may have moved since fit)."""
        embedded = self.emb_.transform(df, image_dir) if self.emb_ is not None else _no_embeddings(len(df))
        outputs = {c: f.transform(df[c]) for c, f in self.columns_.items()}
        return self._assemble(*self._tree_blocks(outputs, embedded[:2], len(df)), outputs, embedded[2])

    # ---- shared by fit and predict ---------------------------------------------------------
    def _tree_blocks(self, outputs: dict[str, ColumnOutput], embedded, n: int):
        """The core columns of every modality in order (the embeddings' among them), and the extra ones."""
        blocks, names, cats, extra = [], [], {}, []
        embedding_block = Block(embedded[0], list(embedded[1]))
        placed = False
        for c, out in outputs.items():
            if not placed and self.columns_[c].order > EMBEDDINGS_ORDER:
                blocks.append(embedding_block)
                placed = True
            blocks += out.core
            extra += out.extra
        if not placed:
            blocks.append(embedding_block)
        start = 0
        for b in blocks:
            names += b.names
            if b.n_codes is not None:
                cats[start] = b.n_codes
            start += len(b.names)
        core = np.hstack([np.asarray(b.values, dtype=np.float32).reshape(n, -1) for b in blocks]) if blocks \
            else np.zeros((n, 0), np.float32)
        return core, names, cats, extra

    def _assemble(self, core, names, cats: dict[int, int], extra, outputs, neural: dict) -> FeatureSet:
        ngrams = [np.asarray(b.values) for b in extra]
        dense = np.hstack([core] + ngrams).astype(np.float32) if ngrams else core
        z = _signed_log(core[:, self.lin_idx_])
        miss = np.isnan(z)
        z = (np.where(miss, self.lin_median_, z) - self.lin_mean_) / self.lin_std_
        lin = [sp.csr_matrix(z.astype(np.float32)), sp.csr_matrix(miss[:, self.lin_missing_].astype(np.float32))]
        for i, n_codes in cats.items():  # one-hot; missing codes get no column
            codes = core[:, i]
            ok = ~np.isnan(codes)
            rows = np.flatnonzero(ok)
            lin.append(sp.csr_matrix((np.ones(len(rows), np.float32), (rows, codes[ok].astype(int))),
                                     shape=(len(codes), n_codes)))
        lin.extend(m for out in outputs.values() for m in out.sparse)
        codes = np.column_stack([np.nan_to_num(core[:, i], nan=-1).astype(np.int64) + 1 for i in cats]) if cats \
            else np.zeros((len(core), 0), np.int64)
        neural = {Modality.NUMERIC.value: {"all": {"values": np.hstack([z, miss[:, self.lin_missing_]]).astype(np.float32)}},
                  Modality.CATEGORICAL.value: {"all": {"codes": codes}}, **neural}
        for c, out in outputs.items():  # a plug-in modality's own inputs for the nets
            if out.neural:
                neural.setdefault(self.columns_[c].kind.value, {})[c] = out.neural
        return FeatureSet(dense, tuple(names) + tuple(n for b in extra for n in b.names), tuple(cats), core.shape[1],
                          sp.hstack(lin, format="csr", dtype=np.float32), neural, tuple(cats.values()))

    # ---- persistence: JSON metadata plus plain arrays ----------------------------------------
    def get_state(self):
        meta = {**self.settings, "columns": {}, "embeddings": None}
        arrays = {k: getattr(self, k + "_") for k in ("lin_idx", "lin_median", "lin_mean", "lin_std", "lin_missing")}
        if self.emb_ is not None:
            meta["embeddings"], emb_arrays = self.emb_.get_state()
            arrays.update({f"emb/{k}": v for k, v in emb_arrays.items()})
        for i, (c, f) in enumerate(self.columns_.items()):
            col_meta, col_arrays = f.get_state()
            meta["columns"][c] = {"kind": f.kind.value, "key": f"col{i}", **col_meta}
            arrays.update({f"col{i}/{k}": v for k, v in col_arrays.items()})
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
        if "columns" not in meta:  # saved before the modalities had a class each (automm <= 0.6)
            meta, arrays = _from_old_layout(obj, meta, arrays)
        obj.columns_ = {}
        for c in obj._columns():
            m = meta["columns"][c]
            prefix = m["key"] + "/"
            obj.columns_[c] = MODALITIES[Modality(m["kind"])].from_state(
                c, m, {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)})
        return obj


def _from_old_layout(obj: FeaturePipeline, meta: dict, arrays: dict) -> tuple[dict, dict]:
    """The per-kind layout of earlier saves ("cats", "text_cats", "text") as per-column states."""
    columns, new = {}, dict(arrays)
    for c in obj._columns():
        kind = obj.schema[c].kind
        if kind == Modality.CATEGORICAL:
            columns[c] = {"kind": kind.value, "key": c, **meta["cats"][c]}
        elif kind == Modality.TEXT:
            old = meta["text"][c]
            columns[c] = {"kind": kind.value, "key": old["key"], "word": old["word"], "char": old["char"],
                          "value": meta["text_cats"].get(c)}
        else:
            columns[c] = {"kind": kind.value, "key": c}
    return {**meta, "columns": columns}, new


def _signed_log(x: np.ndarray) -> np.ndarray:
    """Tames heavy tails (vote counts, revenues) so one scale suits a linear model."""
    return np.sign(x) * np.log1p(np.abs(x))


def _no_embeddings(n: int):
    """What EmbeddingFeatures gives when there is nothing to embed: no tree columns, no neural inputs."""
    return np.zeros((n, 0), np.float32), [], {}
