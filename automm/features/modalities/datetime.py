"""Dates and times: their parts (year, month, day of week, ...) as numbers."""
from __future__ import annotations

import pandas as pd

from ...schema import Modality
from ..tabular import DATE_PARTS, datetime_parts
from .base import Block, ColumnFeatures, ColumnOutput, register_modality


@register_modality
class DatetimeFeatures(ColumnFeatures):
    kind, order = Modality.DATETIME, 30

    def transform(self, values: pd.Series) -> ColumnOutput:
        return ColumnOutput([Block(datetime_parts(values), [f"{self.column}.{p}" for p in DATE_PARTS])])
