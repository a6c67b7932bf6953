"""The "weekday" modality's featurizer: it claims columns of weekday names and embeds each day with a
frozen embedder (fixed vectors, as a pretrained model's would be; nothing is learnt from the labels).
The trees get the vectors as columns, the fusion nets get them as their own input."""
import numpy as np

from automm.features.backbones import backbone, register_backbone
from automm.features.modalities import Block, ColumnFeatures, ColumnOutput, register_modality

DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
DIMS = 4


class WeekdayEmbedder:
    """Frozen: the same vector for a day in every fit and every process."""
    def __init__(self):
        self.table = np.random.default_rng(7).normal(size=(len(DAYS) + 1, DIMS)).astype(np.float32)
        self.table[-1] = 0.0  # an unknown or missing day

    def __call__(self, values) -> np.ndarray:
        idx = [DAYS.index(v) if v in DAYS else len(DAYS) for v in values]
        return self.table[idx]


register_backbone("weekday", "fixed-7", WeekdayEmbedder)  # the modality's backbones, found by name as text's are


@register_modality
class WeekdayFeatures(ColumnFeatures):
    kind, order = "weekday", 35
    embedder = backbone("weekday", "fixed-7")

    @classmethod
    def detect(cls, values):
        sample = values.dropna()
        return "weekday names" if len(sample) and sample.map(lambda v: v in DAYS).all() else None

    def transform(self, values):
        vecs = self.embedder(values.tolist())
        return ColumnOutput([Block(vecs, [f"{self.column}.emb{i}" for i in range(DIMS)])],
                            neural={"embedding": vecs})
