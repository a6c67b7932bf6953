"""What each modality turns a column into: one small class per modality, fitted once per column on
the training rows, giving the trees dense columns (`core`, then `extra` after every core column),
the linear models extra sparse blocks (`sparse`), and saving its state as JSON plus arrays.

`FeaturePipeline` loops over `MODALITIES` in their `order`; the frozen text and image embeddings (a
block of their own, see multimodal.py) sit at `EMBEDDINGS_ORDER` among them. A new modality is a
Modality value, one class here registered with `register_modality` (with a `detect` rule, tried
before the built-in ones, and its `neural` inputs per column), and an encoder for the fusion nets
registered with `models.encoders.register_encoder`.
"""
from __future__ import annotations

from . import categorical, datetime, image, numeric, text  # noqa: E402,F401,I001  (they register themselves)
from .base import (  # noqa: F401  (the face of the featurizers: a plug-in imports these from here)
    EMBEDDINGS_ORDER,
    MODALITIES,
    Block,
    ColumnFeatures,
    ColumnOutput,
    detectors,
    featurizer,
    in_order,
    register_modality,
)
