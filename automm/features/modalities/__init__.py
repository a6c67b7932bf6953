"""What each modality turns a column into: one small class per modality, fitted once per column on
the training rows, giving the trees dense columns (`core`, then `extra` after every core column),
the linear models extra sparse blocks (`sparse`), and saving its state as JSON plus arrays.

`FeaturePipeline` loops over `MODALITIES` in their `order`; the frozen text and image embeddings (a
block of their own, see multimodal.py) sit at `EMBEDDINGS_ORDER` among them. A new modality is a
class registered with `register_modality`, whose `kind` is a new name (registered as a column type:
schema.register_kind) or a built-in Modality it replaces; its `detect` rule is tried before the
built-in ones (fit hands `detectors()` to `detect_schema`), its `neural` outputs are the fusion nets'
input of each column, and their encoder is registered with `models.encoders.register_encoder`
(tests/plugin_weekday is a whole one in two files).
"""
from __future__ import annotations

from . import categorical, datetime, image, numeric, text  # noqa: F401  (they register themselves)
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
