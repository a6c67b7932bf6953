"""The fusion network (torch; imported only when a neural model is used): a dict of per-modality
encoders (encoders.py), each turning its inputs into tokens, and a head.

The inputs arrive as a dict keyed like the encoders ("numeric:all", "categorical:all", "text:all",
"image:<column>"), each a dict of tensors. Late fusion concatenates the encoders' single tokens;
early fusion runs every token, after a learned [CLS] token, through a transformer and reads the
[CLS] token.
"""
from __future__ import annotations

import torch
from torch import nn

from .encoders import Encoder


class FusionNet(nn.Module):
    def __init__(self, fusion: str, encoders: dict[str, Encoder], n_out: int, hidden: int = 128,
                 dropout: float = 0.1, layers: int = 2, heads: int = 4):
        super().__init__()
        self.fusion, self.hidden = fusion, hidden
        self.encoders = nn.ModuleDict(encoders)
        if fusion == "early":
            self.cls = nn.Parameter(torch.randn(1, 1, hidden) * 0.02)
            layer = nn.TransformerEncoderLayer(hidden, heads, hidden * 2, dropout, batch_first=True, norm_first=True)
            self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
            width = hidden
        else:
            width = hidden * len(encoders)
        self.head = nn.Sequential(nn.LayerNorm(width), nn.Dropout(dropout), nn.Linear(width, hidden), nn.GELU(),
                                  nn.Dropout(dropout), nn.Linear(hidden, n_out))

    def backbone_prefixes(self) -> tuple[str, ...]:
        """Where the fine-tuned backbones' parameters are named, for their lower learning rates."""
        return tuple(f"encoders.{k}.backbone" for k, e in self.encoders.items() if e.backbone is not None)

    @property
    def text_model(self) -> nn.Module | None:
        enc = self.encoders["text:all"] if "text:all" in self.encoders else None
        return None if enc is None else enc.backbone

    def forward(self, inputs: dict[str, dict[str, torch.Tensor]]) -> torch.Tensor:
        tokens = [enc(inputs[name]) for name, enc in self.encoders.items()]
        if self.fusion == "late":
            return self.head(torch.cat([t.flatten(1) for t, _ in tokens], 1))
        n = tokens[0][0].shape[0]
        seq = torch.cat([self.cls.expand(n, -1, -1)] + [t for t, _ in tokens], 1)
        pad = torch.cat([torch.zeros(n, 1, dtype=torch.bool, device=seq.device)] + [p for _, p in tokens], 1)
        return self.head(self._cls_state(seq, pad))

    def _cls_state(self, seq: torch.Tensor, pad: torch.Tensor) -> torch.Tensor:
        """The [CLS] token's output of the transformer. The head reads nothing else, so the last layer
        computes only that token (as FT-Transformer does): the others are just its keys and values, and
        the last layer's query, output projection and feed-forward cost one token a row instead of all
        of them (a third of the transformer's work with two layers)."""
        *below, last = self.encoder.layers
        for layer in below:
            seq = layer(seq, src_key_padding_mask=pad)
        h = last.norm1(seq)  # the layers normalise first (norm_first=True)
        attended = last.self_attn(h[:, :1], h, h, key_padding_mask=pad, need_weights=False)[0]
        cls = seq[:, :1] + last.dropout1(attended)
        return (cls + last._ff_block(last.norm2(cls)))[:, 0]
