"""Turns a DataFrame into the two views the models read: a dense matrix for the trees and a
sparse matrix for linear models. Every statistic is computed once, in `fit_transform`."""
from __future__ import annotations

import time
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..memory import GB, available_memory
from ..schema import Modality, Schema, as_kind
from . import sampling
from .modalities import EMBEDDINGS_ORDER, MODALITIES, Block, ColumnFeatures, ColumnOutput, featurizer, in_order
from .multimodal import EmbeddingFeatures, EmbeddingSettings
from .static_text import DIMS as STATIC_DIMS

VIEWS = ("dense", "linear", "neural")


class Unread:
    """A view left out of `FeatureSet.rows`: a model that uses it has not declared it in its
    ModelSpec's `reads`, and is told so rather than handed something else."""

    def __init__(self, view: str, views: tuple[str, ...], n: int):
        self._view, self._views, self._n = view, views, n

    def __len__(self) -> int:
        return self._n

    def __getattr__(self, name):
        raise AttributeError(f"this model reads the {self._view!r} features, but its ModelSpec reads only "
                             f"{list(self._views)}: add {self._view!r} to `reads` where it is registered")

    def __getitem__(self, idx):
        self.__getattr__("[]")


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
        return len(self.dense) if isinstance(self.dense, Unread) else self.dense.shape[0]

    def rows(self, idx, views: tuple[str, ...] = VIEWS) -> "FeatureSet":
        """These rows of the `views` a model reads; the others are not copied (at a million rows, each
        view is a gigabyte or more) and any use of them raises."""
        n = len(np.arange(len(self))[idx])
        dense = self.dense[idx] if "dense" in views else Unread("dense", views, n)
        linear = self.linear[idx] if "linear" in views else Unread("linear", views, n)
        neural = None if self.neural is None else Unread("neural", views, n) if "neural" not in views else {
            m: {c: {k: v[idx] for k, v in parts.items()} for c, parts in cols.items()} for m, cols in self.neural.items()}
        weight = None if self.weight is None else self.weight[idx]
        return replace(self, dense=dense, linear=linear, neural=neural, weight=weight)

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


CHUNK_ROWS = 100_000  # rows featurized at once
PLAN_ROWS = 4_000     # rows timed to plan a large table's features


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
                      deadline: float = float("inf"), budget: float | None = None) -> FeatureSet:
        """embed_budget: seconds the embeddings may take (None: no limit). budget: seconds the table's
        own features may take; a large table's are planned from a timed sample to fit it. deadline
        (time.monotonic()): the optional steps (the SVD of each text column) that would start after
        it are skipped.

        The statistics (n-gram vocabulary and idf, SVD, scaling) are learnt from at most FIT_ROWS
        rows, and the rows are featurized CHUNK_ROWS at a time, so that the transient memory of the
        n-gram blocks is a chunk's, not the table's."""
        s, n = self.schema, len(df)
        self.light_ = self._plan(df, budget, say) if n >= 10 * PLAN_ROWS else ()
        self.emb_ = None
        embedded = _no_embeddings(n)
        if self.embeddings is not None and s.of_kind("text", "image", "image_list"):
            self.emb_ = EmbeddingFeatures(s, self.embeddings)
            embedded = self.emb_.fit_transform(df, embed_budget, say)
        fit_rows = sampling.fit_sample(n, self.seed)
        sample = df if fit_rows is None else df.iloc[fit_rows]
        self.columns_: dict[str, ColumnFeatures] = {}
        outputs = {}
        for c in self._columns():
            self.columns_[c] = featurizer(s[c].kind, c)
            outputs[c] = self.columns_[c].fit_transform(sample[c], self._settings(c), say, deadline)
        tree_emb = embedded[0] if fit_rows is None else embedded[0][fit_rows]
        core, names, cats, extra = self._tree_blocks(outputs, (tree_emb, embedded[1]), len(sample))
        numeric_idx = [i for i in range(core.shape[1]) if i not in cats]
        z = _signed_log(core[:, numeric_idx])
        self.lin_idx_ = np.array(numeric_idx, dtype=np.int64)
        self.lin_median_ = np.nan_to_num(np.nanmedian(z, axis=0) if len(z) else np.zeros(0), nan=0.0)
        filled = np.where(np.isnan(z), self.lin_median_, z)
        self.lin_mean_, self.lin_std_ = filled.mean(0), filled.std(0) + 1e-6
        self.lin_missing_ = np.flatnonzero(np.isnan(z).any(0)).astype(np.int64)
        if fit_rows is None:
            return self._assemble(core, names, cats, extra, outputs, embedded[2])
        del outputs, core, extra, z, filled
        return self._in_chunks(df, embedded)

    def _settings(self, column: str) -> dict:
        return {**self.settings, "char_ngrams": column not in self.light_}

    def _plan(self, df: pd.DataFrame, budget: float | None, say) -> tuple[str, ...]:
        """The text columns whose character n-grams are left out so that featurizing every row fits
        `budget` seconds (None: no limit), from each column's featurizer timed on PLAN_ROWS rows, with
        and without them; and their memory, projected the same way, checked against the machine's."""
        n, rows = len(df), np.random.default_rng(self.seed).choice(len(df), PLAN_ROWS, replace=False)
        probe, cost, saving, size, smaller = df.iloc[np.sort(rows)], 0.0, {}, 0.0, {}
        sampled, small = n >= sampling.SAMPLED_FROM, PLAN_ROWS // 4

        def timed(kind, c, settings) -> tuple[float, ColumnOutput]:
            """Seconds for every row: fitted on the sample (or all rows), then (sampled) all transformed.
            The fit is timed on all and then a quarter of the probe's rows, and its cost per row is the
            difference's, so that fixed costs (an SVD's setup) are not multiplied by the rows; the
            first, cold call counting in that cost errs towards leaving n-grams out, not towards
            overrunning. A transform has no fixed cost to speak of: its time is the probe's, in
            proportion (the difference of two timings, at a million rows, varied by 25 s between runs)."""
            t0 = time.monotonic()
            fitted = featurizer(kind, c)
            out = fitted.fit_transform(probe[c], settings)
            t1 = time.monotonic()
            featurizer(kind, c).fit_transform(probe[c].iloc[:small], settings)
            t_all, t_small = t1 - t0, time.monotonic() - t1
            fit_rows = sampling.FIT_ROWS if sampled else n
            seconds = t_small + max(0.0, t_all - t_small) * (fit_rows - small) / (PLAN_ROWS - small)
            if sampled:
                t0 = time.monotonic()
                fitted.transform(probe[c])
                seconds += (time.monotonic() - t0) * n / PLAN_ROWS
            return seconds, out

        for c in self._columns():
            kind = self.schema[c].kind
            seconds, out = timed(kind, c, self.settings)
            cost, size = cost + seconds, size + _bytes_per_row(out)
            if kind == Modality.TEXT:
                words_only, lighter = timed(kind, c, {**self.settings, "char_ngrams": False})
                saving[c], smaller[c] = seconds - words_only, _bytes_per_row(out) - _bytes_per_row(lighter)
        light = []
        for c in sorted(saving, key=saving.get, reverse=True):
            if budget is None or cost <= budget:
                break
            light.append(c)
            cost, size = cost - saving[c], size - smaller[c]
        total = n * (size + self._embedding_bytes_per_row())
        check_memory(total, n)
        say(f"feature plan: {n} rows" + (f", their statistics learnt from {sampling.FIT_ROWS}, {CHUNK_ROWS} rows featurized "
                                       "at a time" if n >= sampling.SAMPLED_FROM else "")
            + ("" if budget is None else f"; projected {cost:.0f}s of {budget:.0f}s")
            + (f"; character n-grams left out of {light} (they would add "
               f"{sum(saving[c] for c in light):.0f}s)" if light else "")
            + f"; about {total / GB:.1f} GB of features")
        return tuple(light)

    def _embedding_bytes_per_row(self) -> float:
        """float32 embeddings (the static text tier's dims; an EfficientNet's 1,280 per image column) and
        the text the nets read, about 100 bytes a row."""
        if self.embeddings is None:
            return 0.0
        text = bool(self.schema.of_kind("text"))
        images = len(self.schema.of_kind("image", "image_list"))
        return 4 * (STATIC_DIMS * text + 1280 * images) + 100 * text * (self.embeddings.raw_text + 1)

    def transform(self, df: pd.DataFrame, image_dir=None) -> FeatureSet:
        """image_dir: where relative image paths start now (they may have moved since fit)."""
        embedded = self.emb_.transform(df, image_dir) if self.emb_ is not None else _no_embeddings(len(df))
        return self._in_chunks(df, embedded)

    def _in_chunks(self, df: pd.DataFrame, embedded) -> FeatureSet:
        """Every row's features, CHUNK_ROWS rows at a time, written into arrays of the full size."""
        n = len(df)
        if n <= CHUNK_ROWS:
            outputs = {c: f.transform(df[c]) for c, f in self.columns_.items()}
            return self._assemble(*self._tree_blocks(outputs, embedded[:2], n), outputs, embedded[2])
        first, dense, linear, neural = None, None, [], {}
        for start in range(0, n, CHUNK_ROWS):
            rows = slice(start, start + CHUNK_ROWS)
            sub = df.iloc[rows]
            outputs = {c: f.transform(sub[c]) for c, f in self.columns_.items()}
            part = self._assemble(*self._tree_blocks(outputs, (embedded[0][rows], embedded[1]), len(sub)), outputs, {})
            if first is None:
                first, dense = part, np.empty((n, part.dense.shape[1]), np.float32)
                neural = {m: {c: {k: np.empty((n,) + v.shape[1:], v.dtype) for k, v in parts.items()}
                              for c, parts in cols.items()} for m, cols in part.neural.items()}
            dense[rows] = part.dense
            linear.append(part.linear)
            for m, cols in part.neural.items():
                for c, parts in cols.items():
                    for k, v in parts.items():
                        neural[m][c][k][rows] = v
            del part, outputs
        for m, cols in embedded[2].items():  # computed for every row already: merged, not copied
            neural[m] = {**cols, **neural.get(m, {})}
        return replace(first, dense=dense, linear=sp.vstack(linear, format="csr", dtype=np.float32), neural=neural)

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
                neural.setdefault(str(self.columns_[c].kind), {})[c] = out.neural
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
            meta["columns"][c] = {"kind": str(f.kind), "key": f"col{i}", **col_meta}
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
            obj.columns_[c] = MODALITIES[as_kind(m["kind"])].from_state(
                c, m, {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)})
        return obj


def _from_old_layout(obj: FeaturePipeline, meta: dict, arrays: dict) -> tuple[dict, dict]:
    """The per-kind layout of earlier saves ("cats", "text_cats", "text") as per-column states."""
    columns, new = {}, dict(arrays)
    for c in obj._columns():
        kind = obj.schema[c].kind
        if kind == Modality.CATEGORICAL:
            columns[c] = {"kind": str(kind), "key": c, **meta["cats"][c]}
        elif kind == Modality.TEXT:
            old = meta["text"][c]
            columns[c] = {"kind": str(kind), "key": old["key"], "word": old["word"], "char": old["char"],
                          "value": meta["text_cats"].get(c)}
        else:
            columns[c] = {"kind": str(kind), "key": c}
    return {**meta, "columns": columns}, new


def _bytes_per_row(out: ColumnOutput) -> float:
    """A column's share of the features, per row: its dense columns in the trees' view, its core ones in
    the nets' and (with its sparse blocks) the linear models'."""
    blocks = out.core + out.extra
    n = max(1, max((len(b.values) for b in blocks), default=1))
    dense = sum(np.asarray(b.values).reshape(n, -1).shape[1] for b in blocks)
    nnz = sum(m.nnz for m in out.sparse) / n
    core = sum(np.asarray(b.values).reshape(n, -1).shape[1] for b in out.core)
    return 4 * dense + 4 * core + 8 * (core + nnz)


def check_memory(need: float, n: int) -> None:
    """Refuses, before the long work, features that would not fit in memory with a job's copy beside them."""
    have = available_memory() * 0.8
    if 1.5 * need > have:
        fits = int(n * have / (1.5 * need)) // 1000 * 1000
        raise MemoryError(f"the features of {n} rows would take about {need / GB:.1f} GB, and with a model's copy "
                          f"of its rows beside them more than the {have / GB:.1f} GB this machine has available: "
                          f"fit on fewer rows (about {fits} fit: train_data.sample({fits})), leave columns out "
                          "(column_types={'column': 'ignore'}) or the embeddings (embeddings=False), or use a "
                          "machine with more memory")


def _signed_log(x: np.ndarray) -> np.ndarray:
    """Tames heavy tails (vote counts, revenues) so one scale suits a linear model."""
    return np.sign(x) * np.log1p(np.abs(x))


def _no_embeddings(n: int):
    """What EmbeddingFeatures gives when there is nothing to embed: no tree columns, no neural inputs."""
    return np.zeros((n, 0), np.float32), [], {}
