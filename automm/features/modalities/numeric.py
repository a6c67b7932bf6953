"""Numbers: parsed as they come (numbers stored as text, thousands separators, percentages)."""
from __future__ import annotations

import pandas as pd

from ...schema import Modality
from ..tabular import to_numeric
from .base import Block, ColumnFeatures, ColumnOutput, register_modality


@register_modality
class NumericFeatures(ColumnFeatures):
    kind, order = Modality.NUMERIC, 10

    def transform(self, values: pd.Series) -> ColumnOutput:
        return ColumnOutput([Block(to_numeric(values).reshape(-1, 1), [self.column])])
