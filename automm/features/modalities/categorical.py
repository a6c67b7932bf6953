"""Categories: integer codes (the trees split on them as categories; linear models and nets one-hot
or embed them), rare levels pooled."""
from __future__ import annotations

import pandas as pd

from ...schema import Modality
from ..tabular import CategoricalEncoder
from .base import Block, ColumnFeatures, ColumnOutput, register_modality


@register_modality
class CategoricalFeatures(ColumnFeatures):
    kind, order = Modality.CATEGORICAL, 20

    def fit(self, values, settings, say=lambda msg: None, deadline=float("inf")):
        self.encoder_ = CategoricalEncoder().fit(values)
        return self

    def transform(self, values: pd.Series) -> ColumnOutput:
        codes = self.encoder_.transform(values).reshape(-1, 1)
        return ColumnOutput([Block(codes, [self.column], n_codes=self.encoder_.n_codes)])

    def get_state(self):
        return self.encoder_.get_state()[0], {}

    @classmethod
    def from_state(cls, column, meta, arrays):
        obj = cls(column)
        obj.encoder_ = CategoricalEncoder.from_state(meta, {})
        return obj
