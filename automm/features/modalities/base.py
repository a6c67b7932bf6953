"""The featurizer protocol and its registry: what a column's featurizer gives (`Block`,
`ColumnOutput`), the class every modality's featurizer is (`ColumnFeatures`), and `MODALITIES`, which
the built-ins and the plug-ins register into. The package's face re-exports all of it."""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ...schema import Modality, as_kind, register_kind


@dataclass
class Block:
    """Dense columns for the trees (and, unless categorical, the linear models and nets as numbers)."""
    values: np.ndarray            # (n, k) float32, NaN = missing
    names: list[str]
    n_codes: int | None = None    # a category-code column (k == 1) with this many codes


@dataclass
class ColumnOutput:
    core: list[Block] = field(default_factory=list)
    extra: list[Block] = field(default_factory=list)   # after every core column (CatBoost reads only the core)
    sparse: list[sp.csr_matrix] = field(default_factory=list)  # the linear models only
    neural: dict[str, np.ndarray] = field(default_factory=dict)  # the fusion nets' inputs of this column, by part


class ColumnFeatures:
    """One column's featurizer. Subclasses set `kind` and `order`, and override `fit` (statistics
    computed once, on the training rows), `transform`, and the state when they have one."""
    kind: ClassVar[Modality]
    order: ClassVar[int]

    def __init__(self, column: str):
        self.column = column

    def fit(self, values: pd.Series, settings: dict, say=lambda msg: None, deadline: float = float("inf")
            ) -> "ColumnFeatures":
        return self

    def fit_transform(self, values: pd.Series, settings: dict, say=lambda msg: None,
                      deadline: float = float("inf")) -> ColumnOutput:
        return self.fit(values, settings, say, deadline).transform(values)

    def transform(self, values: pd.Series) -> ColumnOutput:
        raise NotImplementedError

    @classmethod
    def detect(cls, values: pd.Series) -> str | None:
        """For a plug-in modality: the reason this column is of it, or None (the built-in rules then run)."""
        return None

    def get_state(self) -> tuple[dict, dict[str, np.ndarray]]:
        return {}, {}

    @classmethod
    def from_state(cls, column: str, meta: dict, arrays: dict[str, np.ndarray]) -> "ColumnFeatures":
        return cls(column)


MODALITIES: dict[Modality, type[ColumnFeatures]] = {}
EMBEDDINGS_ORDER = 50  # the frozen embeddings' tree columns: after the table's columns, before the text's


def register_modality(cls: type[ColumnFeatures]) -> type[ColumnFeatures]:
    """A featurizer for its `kind`: a built-in Modality (replacing the built-in one) or a new kind's name,
    which this registers as a column type (schema.register_kind)."""
    MODALITIES[as_kind(register_kind(str(cls.kind)))] = cls
    return cls


def featurizer(kind: Modality | str, column: str) -> ColumnFeatures:
    return MODALITIES[as_kind(kind)](column)


def in_order() -> list[Modality]:
    return sorted(MODALITIES, key=lambda k: MODALITIES[k].order)


def detectors() -> list:
    """The plug-in modalities' `detect` rules, as `schema.detect_schema(detectors=)` takes them: each
    answers (kind, reason) for a column it claims, or None."""
    return [_detector(kind, cls) for kind, cls in MODALITIES.items()
            if cls.detect.__func__ is not ColumnFeatures.detect.__func__]


def _detector(kind, cls):
    def detect(s: pd.Series):
        """A plug-in's rule that fails on a column (odd values it did not foresee) claims nothing: the
        built-in rules decide that column, with a warning that names the plug-in, instead of the fit failing."""
        try:
            why = cls.detect(s)
        except Exception as exc:  # noqa: BLE001 -- any failure of a user's rule
            warnings.warn(f"the {str(kind)!r} modality's detect rule ({cls.__name__}) failed on column {s.name!r} "
                          f"({type(exc).__name__}: {exc}); the built-in rules decide that column", stacklevel=2)
            return None
        return None if why is None else (kind, why)
    return detect

