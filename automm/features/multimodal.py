"""Text and image embeddings as features: full width for the fusion nets, reduced by PCA for the trees
(so that image columns count for the boosted trees too).

All text columns of a row are embedded together, as one document "Title: ... | Review: ...", the
way a person would read the row. Embedding stays within a time budget; a modality that would not
fit it (or a machine without torch) is left out with a message, and the fit goes on without it.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from ..schema import Schema, text_value
from .images import cell_paths, resolve
from .text import MAX_CHARS, clean_text


@dataclass
class EmbeddingSettings:
    text_backbone: str = "minilm"
    image_backbone: str = "efficientnet-lite0"
    image_dir: str | None = None     # relative image paths are read from here (default: the current folder)
    tree_dims: int = 16               # PCA components of each embedding offered to the trees
    num_threads: int = 1
    device: str = "auto"              # "cpu" keeps the backbones off a GPU


def text_document(df: pd.DataFrame, columns: list[str], labelled: bool | None = None) -> list[str]:
    """Each row's columns as one text; "column: value" pairs unless it is a single column
    (labelled=None) or labelled=False."""
    if not (len(columns) > 1 if labelled is None else labelled):
        return clean_text(df[columns[0]]).tolist()
    parts = [(c, df[c].astype("object").map(text_value).where(df[c].notna(), None)) for c in columns]
    return [" | ".join(f"{c}: {str(v)[:MAX_CHARS]}" for c, v in zip(columns, row) if v is not None and str(v).strip())
            for row in zip(*(p for _, p in parts))]


def image_paths(df: pd.DataFrame, column: str, kind: str, image_dir) -> np.ndarray:
    """Each row's resolved image paths, for the models that fine-tune the CNN on the pixels."""
    out = np.empty(len(df), dtype=object)
    out[:] = [[str(resolve(p, image_dir)) for p in cell_paths(v, kind)] for v in df[column].to_numpy(dtype=object)]
    return out


class EmbeddingFeatures:
    def __init__(self, schema: Schema, settings: EmbeddingSettings):
        self.schema, self.settings = schema, settings

    @property
    def image_cols(self) -> list[str]:
        return self.schema.of_kind("image") + self.schema.of_kind("image_list")

    def fit_transform(self, df: pd.DataFrame, budget: float | None, say=lambda msg: None):
        from .embeddings import BudgetExceeded, ImageEmbedder, TextEmbedder
        s, t0 = self.settings, time.monotonic()
        self.text_cols_, self.max_tokens_, self.images_ = self.schema.of_kind("text"), None, []
        self.pca_: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        neural, modalities = {}, (1 if self.text_cols_ else 0) + len(self.image_cols)
        if self.text_cols_:
            say(f"text embeddings ({s.text_backbone}) of {len(df)} rows: starting")
            embedder = TextEmbedder(s.text_backbone, num_threads=s.num_threads, device=s.device)
            try:
                neural["text"] = {"all": {"embedding": embedder.embed(text_document(df, self.text_cols_),
                                                                      None if budget is None else budget / modalities)}}
                self.max_tokens_ = embedder.max_tokens
                say(f"text embeddings ({s.text_backbone}, {self.max_tokens_} tokens): {time.monotonic() - t0:.1f}s")
            except (BudgetExceeded, ImportError, OSError) as exc:
                say(f"text embeddings left out: {exc}")
        for c in self.image_cols:
            say(f"image embeddings of {c!r} ({s.image_backbone}): starting")
            left = None if budget is None else budget - (time.monotonic() - t0)
            try:
                emb, miss = ImageEmbedder(s.image_backbone, s.image_dir, s.num_threads, device=s.device).embed(
                    df[c], self.schema[c].kind, c, left)
            except (BudgetExceeded, ImportError, OSError) as exc:
                say(f"image embeddings of {c!r} left out: {exc}")
                continue
            neural.setdefault("image", {})[c] = {"embedding": emb, "missing": miss.astype(np.float32)}
            self.images_.append(c)
            say(f"image embeddings of {c!r} ({s.image_backbone}; {int(miss.sum())} rows without an image)")
        for key, emb in embeddings_of(neural).items():
            mean = emb.mean(0)
            k = min(self.settings.tree_dims, emb.shape[0] - 1, emb.shape[1])
            if k >= 1:  # PCA by SVD of the centred embeddings: a few dense columns the trees can split on
                _, _, vt = np.linalg.svd(emb - mean, full_matrices=False)
                self.pca_[key] = (mean.astype(np.float32), vt[:k].astype(np.float32))
        return self._finish(df, neural, s.image_dir)

    def transform(self, df: pd.DataFrame, image_dir=None):
        """image_dir: where relative image paths start now (the data may sit elsewhere than at fit)."""
        from .embeddings import ImageEmbedder, TextEmbedder
        s, neural = self.settings, {}
        if not hasattr(self, "_embedders"):  # loaded once, so that small predict calls stay fast
            self._embedders = {"text": TextEmbedder(s.text_backbone, self.max_tokens_, s.num_threads, s.device),
                               "image": ImageEmbedder(s.image_backbone, s.image_dir, s.num_threads, device=s.device)}
        if self.max_tokens_ is not None:
            neural["text"] = {"all": {"embedding": self._embedders["text"].embed(text_document(df, self.text_cols_))}}
        image = self._embedders["image"]
        image.image_dir = image_dir
        for c in self.images_:
            emb, miss = image.embed(df[c], self.schema[c].kind, c)
            neural.setdefault("image", {})[c] = {"embedding": emb, "missing": miss.astype(np.float32)}
        return self._finish(df, neural, image_dir)

    def _finish(self, df: pd.DataFrame, neural: dict, image_dir):
        """(tree columns, their names, the fusion nets' inputs) with the raw text and paths for fine-tuning:
        {"text": {"all": {"embedding", "raw", "table"}}, "image": {column: {"embedding", "missing", "paths"}}}."""
        blocks, names = [], []
        embedded = embeddings_of(neural)
        for key, (mean, comps) in self.pca_.items():
            blocks.append((embedded[key] - mean) @ comps.T)
            names += [f"{key}.emb{i}" for i in range(comps.shape[0])]
        if self.text_cols_:
            neural.setdefault("text", {}).setdefault("all", {})["raw"] = np.array(text_document(df, self.text_cols_),
                                                                                 dtype=object)
        table_cols = self.schema.of_kind("numeric") + self.schema.of_kind("categorical")
        if table_cols:  # the table written as text, for a fine-tuned text backbone to read (tabular_as_text)
            neural.setdefault("text", {}).setdefault("all", {})["table"] = np.array(
                text_document(df, table_cols, labelled=True), dtype=object)
        for c in self.image_cols:
            neural.setdefault("image", {}).setdefault(c, {})["paths"] = image_paths(df, c, self.schema[c].kind, image_dir)
        tree = np.hstack(blocks).astype(np.float32) if blocks else np.zeros((len(df), 0), np.float32)
        return tree, names, neural

    def get_state(self):
        meta = {"settings": asdict(self.settings), "text_cols": self.text_cols_, "max_tokens": self.max_tokens_,
                "images": self.images_, "pca": list(self.pca_)}
        arrays = {}
        for i, (mean, comps) in enumerate(self.pca_.values()):
            arrays[f"emb{i}/mean"], arrays[f"emb{i}/comps"] = mean, comps
        return meta, arrays

    @classmethod
    def from_state(cls, schema: Schema, meta: dict, arrays: dict) -> "EmbeddingFeatures":
        obj = cls(schema, EmbeddingSettings(**meta["settings"]))
        obj.text_cols_, obj.max_tokens_, obj.images_ = meta["text_cols"], meta["max_tokens"], meta["images"]
        obj.pca_ = {k: (arrays[f"emb{i}/mean"], arrays[f"emb{i}/comps"]) for i, k in enumerate(meta["pca"])}
        return obj


def embeddings_of(neural: dict) -> dict[str, np.ndarray]:
    """The frozen embeddings in the view, under the names their PCA is saved by ("text", "image:<column>")."""
    out = {}
    if "embedding" in neural.get("text", {}).get("all", {}):
        out["text"] = neural["text"]["all"]["embedding"]
    for c, parts in neural.get("image", {}).items():
        if "embedding" in parts:
            out[f"image:{c}"] = parts["embedding"]
    return out
