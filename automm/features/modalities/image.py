"""Images: for the trees, whether a row has an image (or how many); the pixels reach the models
through the frozen embeddings or the fine-tuned CNN (multimodal.py, models/encoders.py)."""
from __future__ import annotations

import pandas as pd

from ...schema import Modality, split_list
from .base import Block, ColumnFeatures, ColumnOutput, register_modality


@register_modality
class ImageFeatures(ColumnFeatures):
    kind, order = Modality.IMAGE, 40

    def transform(self, values: pd.Series) -> ColumnOutput:
        return ColumnOutput([Block(values.notna().to_numpy().reshape(-1, 1), [f"{self.column}.present"])])


@register_modality
class ImageListFeatures(ColumnFeatures):
    kind, order = Modality.IMAGE_LIST, 41

    def transform(self, values: pd.Series) -> ColumnOutput:
        counts = values.map(lambda v: len(split_list(v))).to_numpy().reshape(-1, 1)
        return ColumnOutput([Block(counts, [f"{self.column}.count"])])
