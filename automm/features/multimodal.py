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

from ..device import gpu_available
from ..schema import Schema, text_value
from .images import cell_paths, resolve
from .sampling import fit_sample
from .static_text import StaticText
from .text import MAX_CHARS, clean_text

TEXT_TIERS = ("auto", "static", "transformer")


@dataclass
class EmbeddingSettings:
    text_backbone: str = "minilm"
    image_backbone: str = "efficientnet-lite0"
    image_dir: str | None = None     # relative image paths are read from here (default: the current folder)
    tree_dims: int = 16               # PCA components of each embedding offered to the trees
    num_threads: int = 1
    device: str = "auto"              # "cpu" keeps the backbones off a GPU
    # "static": token vectors distilled from the text backbone (every row, in seconds); "transformer":
    # the backbone itself as well, when its projected time fits; "auto": the transformer on a GPU only
    text_tier: str = "auto"
    int8: bool = False                # the transformer tier's linear layers in int8 on a CPU (1.2x, cosine 0.97)
    # the rows' text as strings for the nets that read it (fine-tuned or token models), and the table
    # written as text for a fine-tuned backbone: a million rows of strings cost seconds and memory
    raw_text: bool = True
    table_text: bool = True


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
    """Every text and image column embedded, by a plan made from measured speed (printed, and kept in
    `plan_`): the static text tier first (seconds), then each image column at the largest image size
    whose projected time fits its share, then the transformer text tier when the time left allows it."""

    def __init__(self, schema: Schema, settings: EmbeddingSettings):
        self.schema, self.settings = schema, settings

    @property
    def image_cols(self) -> list[str]:
        return self.schema.of_kind("image") + self.schema.of_kind("image_list")

    def fit_transform(self, df: pd.DataFrame, budget: float | None, say=lambda msg: None):
        from .embeddings import BudgetExceeded
        t0 = time.monotonic()
        end = float("inf") if budget is None else t0 + budget
        self.text_cols_, self.text_tier_, self.max_tokens_, self.static_ = self.schema.of_kind("text"), None, None, None
        self.images_, self.image_sizes_, self.image_best_, self.plan_ = [], {}, {}, []
        self.pca_: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        neural = {}
        docs = np.array(text_document(df, self.text_cols_), dtype=object) if self.text_cols_ else []
        if len(docs):
            try:
                neural["text"] = {"all": {"embedding": self._static(docs, say, end)}}
            except (ImportError, OSError, TimeoutError) as exc:
                self._say_plan(say, f"text: left out ({exc})")
        for i, c in enumerate(self.image_cols):
            left = end - time.monotonic()
            try:
                emb, miss = self._image(df[c], c, left / (len(self.image_cols) - i), say)
            except (BudgetExceeded, ImportError, OSError) as exc:
                self._say_plan(say, f"image {c!r}: left out ({exc})")
                continue
            neural.setdefault("image", {})[c] = {"embedding": emb, "missing": miss.astype(np.float32)}
        if "text" in neural and self._transformer_wanted():
            upgraded = self._transformer(list(docs), end - time.monotonic(), say)
            if upgraded is not None:
                neural["text"]["all"]["embedding"] = upgraded
        rows = fit_sample(len(df), 0)
        for key, emb in embeddings_of(neural).items():
            emb = emb if rows is None else emb[rows]
            mean = emb.mean(0)
            k = min(self.settings.tree_dims, emb.shape[0] - 1, emb.shape[1])
            if k >= 1:  # PCA by SVD of the centred embeddings: a few dense columns the trees can split on
                _, _, vt = np.linalg.svd(emb - mean, full_matrices=False)
                self.pca_[key] = (mean.astype(np.float32), vt[:k].astype(np.float32))
        return self._finish(df, neural, self.settings.image_dir, docs)

    def _say_plan(self, say, line: str) -> None:
        self.plan_.append(line)
        say(f"embedding plan: {line}")

    def _static(self, docs: list[str], say, end: float) -> np.ndarray:
        from .static_text import static_text
        s, t0 = self.settings, time.monotonic()
        self.static_ = static_text(s.text_backbone, say, end)
        emb = self.static_.embed(docs)
        self.text_tier_ = "static"
        self._say_plan(say, f"text: static tier of {s.text_backbone} ({self.static_.dims} dims), {len(docs)} rows "
                            f"in {time.monotonic() - t0:.1f}s")
        return emb

    def _transformer_wanted(self) -> bool:
        tier = self.settings.text_tier
        return tier == "transformer" or (tier == "auto" and gpu_available(self.settings.device))

    def _transformer(self, docs: list[str], left: float, say) -> np.ndarray | None:
        """The transformer tier's embeddings, or None (the static tier stays) when they would not fit."""
        from .embeddings import BudgetExceeded, TextEmbedder, _unique
        s, t0 = self.settings, time.monotonic()
        embedder = TextEmbedder(s.text_backbone, num_threads=s.num_threads, device=s.device, int8=s.int8)
        what = f"{s.text_backbone}{' int8' if 'int8' in embedder.tag else ''}"
        try:
            unique = _unique(docs)[0]
            limit, projected = embedder.choose_limit(unique, None if left == float("inf") else left)
            self._say_plan(say, f"text: transformer tier {what} at {limit} tokens, {len(unique)} distinct texts"
                                + ("" if projected is None else f", projected {projected:.0f}s of {left:.0f}s left"))
            embedder.max_tokens = limit
            emb = embedder.embed(docs)
        except (BudgetExceeded, ImportError, OSError) as exc:
            self._say_plan(say, f"text: transformer tier {what} skipped ({exc}); the static tier stays")
            return None
        self.text_tier_, self.max_tokens_ = "transformer", limit
        say(f"text embeddings ({what}, {limit} tokens): {time.monotonic() - t0:.1f}s")
        return emb

    def _image(self, values: pd.Series, column: str, share: float, say) -> tuple[np.ndarray, np.ndarray]:
        """The column embedded at the largest size whose projected time fits `share` seconds (cost measured
        at the largest and the smallest size, a + b * size^2 between them); at the smallest size when none
        fits, as long as that takes less than twice the share."""
        from .embeddings import BudgetExceeded, ImageEmbedder
        s, t0, kind = self.settings, time.monotonic(), self.schema[column].kind
        embedder = ImageEmbedder(s.image_backbone, s.image_dir, s.num_threads, device=s.device)
        sizes, n = embedder.sizes(), len(values)
        native = embedder.native_side(values, kind)
        if native is not None:  # an image upscaled beyond its own size gives the CNN nothing new, at a cost
            sizes = tuple(z for z in sizes if z <= min((z for z in sizes if z >= native), default=sizes[0]))
        size, bounded = sizes[0], share != float("inf")
        self.image_best_[column] = size  # what it could have had, for a second round (second_round.py)
        cost = {size: embedder.seconds_per_row(values, kind, size) * n} if bounded else {}  # nothing to fit: unmeasured
        if bounded and cost[size] > share - (time.monotonic() - t0) and len(sizes) > 1:
            cost[sizes[-1]] = embedder.seconds_per_row(values, kind, sizes[-1]) * n
            b = (cost[sizes[0]] - cost[sizes[-1]]) / max(sizes[0] ** 2 - sizes[-1] ** 2, 1)
            a = cost[sizes[-1]] - b * sizes[-1] ** 2
            cost.update({z: a + b * z * z for z in sizes[1:-1]})
            left = share - (time.monotonic() - t0)
            size = next((z for z in sizes if cost[z] <= left), sizes[-1])
        left = share - (time.monotonic() - t0)
        self._say_plan(say, f"image {column!r}: {s.image_backbone} at {size} px, {n} rows"
                            + (f", projected {cost[size]:.0f}s of {left:.0f}s" if bounded else "")
                            + ("" if native is None else f" (the images are about {native} px)"))
        if bounded and cost[size] > 2 * left:
            raise BudgetExceeded(f"about {cost[size]:.0f}s even at {size} px; {left:.0f}s were available")
        embedder.image_size = size
        emb, miss = embedder.embed(values, kind, column, 2 * left if bounded else None)
        self.images_.append(column)
        self.image_sizes_[column] = size
        say(f"image embeddings of {column!r} ({s.image_backbone} at {size} px; {int(miss.sum())} rows without an "
            f"image): {time.monotonic() - t0:.1f}s")
        return emb, miss

    def transform(self, df: pd.DataFrame, image_dir=None):
        """image_dir: where relative image paths start now (the data may sit elsewhere than at fit)."""
        from .vector_cache import read_only
        with read_only():  # new rows' embeddings are not written to the cache at predict (unless asked)
            return self._transform(df, image_dir)

    def _transform(self, df: pd.DataFrame, image_dir=None):
        from .embeddings import ImageEmbedder, TextEmbedder
        s, neural = self.settings, {}
        if not hasattr(self, "_embedders"):  # loaded once, so that small predict calls stay fast
            self._embedders = {"text": TextEmbedder(s.text_backbone, self.max_tokens_, s.num_threads, s.device, s.int8),
                               "image": ImageEmbedder(s.image_backbone, s.image_dir, s.num_threads, device=s.device)}
        docs = np.array(text_document(df, self.text_cols_), dtype=object) if self.text_cols_ else None
        if self.text_tier_ == "static":
            neural["text"] = {"all": {"embedding": self.static_.embed(docs)}}
        elif self.text_tier_ == "transformer":
            neural["text"] = {"all": {"embedding": self._embedders["text"].embed(list(docs))}}
        image = self._embedders["image"]
        image.image_dir = image_dir
        for c in self.images_:
            image.image_size = self.image_sizes_.get(c)
            emb, miss = image.embed(df[c], self.schema[c].kind, c)
            neural.setdefault("image", {})[c] = {"embedding": emb, "missing": miss.astype(np.float32)}
        return self._finish(df, neural, image_dir, docs)

    def _finish(self, df: pd.DataFrame, neural: dict, image_dir, docs: np.ndarray | None = None):
        """(tree columns, their names, the fusion nets' inputs) with the raw text and paths for fine-tuning:
        {"text": {"all": {"embedding", "raw", "table"}}, "image": {column: {"embedding", "missing", "paths"}}}."""
        blocks, names = [], []
        embedded = embeddings_of(neural)
        for key, (mean, comps) in self.pca_.items():
            blocks.append((embedded[key] - mean) @ comps.T)
            names += [f"{key}.emb{i}" for i in range(comps.shape[0])]
        if self.text_cols_ and self.settings.raw_text:  # the array the static tier tokenized: a fusion net reuses
            neural.setdefault("text", {}).setdefault("all", {})["raw"] = docs  # its tokens (token_batches.py)
        table_cols = self.schema.of_kind("numeric") + self.schema.of_kind("categorical")
        if table_cols and self.settings.table_text:  # the table as text, for a fine-tuned backbone (tabular_as_text)
            neural.setdefault("text", {}).setdefault("all", {})["table"] = np.array(
                text_document(df, table_cols, labelled=True), dtype=object)
        for c in self.image_cols:
            neural.setdefault("image", {}).setdefault(c, {})["paths"] = image_paths(df, c, self.schema[c].kind, image_dir)
        tree = np.hstack(blocks).astype(np.float32) if blocks else np.zeros((len(df), 0), np.float32)
        return tree, names, neural

    def get_state(self):
        meta = {"settings": asdict(self.settings), "text_cols": self.text_cols_, "max_tokens": self.max_tokens_,
                "text_tier": self.text_tier_, "images": self.images_, "image_sizes": self.image_sizes_,
                "pca": list(self.pca_), "plan": self.plan_}
        arrays = {}
        if self.text_tier_ == "static":  # float16 as distilled: half the folder
            arrays["static_table"] = self.static_.table.astype(np.float16)
            spec = self.static_.tokenizer_json()  # so that predicting needs neither the backbone nor torch
            if spec is not None:
                arrays["static_tokenizer"] = np.frombuffer(spec.encode("utf-8"), dtype=np.uint8)
        for i, (mean, comps) in enumerate(self.pca_.values()):
            arrays[f"emb{i}/mean"], arrays[f"emb{i}/comps"] = mean, comps
        return meta, arrays

    @classmethod
    def from_state(cls, schema: Schema, meta: dict, arrays: dict) -> "EmbeddingFeatures":
        settings = EmbeddingSettings(**meta["settings"])
        obj = cls(schema, settings)
        obj.text_cols_, obj.max_tokens_, obj.images_ = meta["text_cols"], meta["max_tokens"], meta["images"]
        # saved before the static tier existed: the transformer tier, when a token limit was chosen
        obj.text_tier_ = meta.get("text_tier", None if meta["max_tokens"] is None else "transformer")
        obj.image_sizes_, obj.plan_ = meta.get("image_sizes", {}), meta.get("plan", [])
        table = arrays.get("static_table")
        spec = arrays.get("static_tokenizer")
        obj.static_ = None if table is None else StaticText(
            table, settings.text_backbone, tokenizer_json=None if spec is None else bytes(spec).decode("utf-8"))
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
