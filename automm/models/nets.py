"""The fusion networks (torch; imported only when a neural model is used).

Inputs arrive as a dict of tensors, one entry per modality:
    "num"  (B, k) standardised numeric columns and missing flags
    "cat"  (B, m) category codes, 0 = missing or unseen
    "text" (B, d) a frozen sentence embedding, or "input_ids"/"attention_mask" when fine-tuning
    "image:<col>" (B, d) a frozen image embedding, or "pixels:<col>" + "owner:<col>" when fine-tuning
    "image_missing:<col>" (B,) 1 where the row has no readable image
Late fusion encodes each modality to one vector and concatenates; early fusion turns every column,
the text tokens and each image into tokens of one transformer.
"""
from __future__ import annotations

import torch
from torch import nn

MAX_NUM_TOKENS = 32


def _pool_rows(feats: torch.Tensor, owner: torch.Tensor, n_rows: int) -> torch.Tensor:
    """Mean of the image features of each row (rows with no image get zeros)."""
    out = feats.new_zeros(n_rows, feats.shape[1]).index_add_(0, owner, feats)
    count = torch.bincount(owner, minlength=n_rows).clamp(min=1).unsqueeze(1).to(feats.dtype)
    return out / count


class FusionNet(nn.Module):
    def __init__(self, fusion: str, n_num: int, cat_cards: list[int], text_dim: int, image_dims: dict[str, int],
                 n_out: int, hidden: int = 128, dropout: float = 0.1, text_model=None, image_models=None,
                 layers: int = 2, heads: int = 4):
        super().__init__()
        self.fusion, self.n_num, self.hidden = fusion, n_num, hidden
        self.text_model = text_model                     # fine-tuned backbone, or None (frozen embeddings)
        self.image_models = nn.ModuleDict(image_models or {})
        self.image_cols = list(image_dims)
        early = fusion == "early"
        cat_dim = hidden if early else 16
        self.cat_emb = nn.ModuleList(nn.Embedding(c + 1, cat_dim) for c in cat_cards)
        if early:
            # one token per numeric column; past MAX_NUM_TOKENS, neighbouring columns (which come from the
            # same source: one text column's statistics, one embedding's components) share a token
            self.groups = min(n_num, MAX_NUM_TOKENS)
            self.group_size = -(-n_num // self.groups) if n_num else 0
            self.num_w = nn.Parameter(torch.randn(self.groups, self.group_size, hidden) * 0.1)
            self.num_b = nn.Parameter(torch.zeros(self.groups, hidden))
            self.cls = nn.Parameter(torch.randn(1, 1, hidden) * 0.02)
            layer = nn.TransformerEncoderLayer(hidden, heads, hidden * 2, dropout, batch_first=True, norm_first=True)
            self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
            width = hidden
        else:
            self.num_proj = nn.Sequential(nn.Linear(n_num, hidden), nn.GELU()) if n_num else None
            self.cat_proj = nn.Sequential(nn.Linear(16 * len(cat_cards), hidden), nn.GELU()) if cat_cards else None
            width = hidden * (bool(n_num) + bool(cat_cards) + bool(text_dim) + len(image_dims))
        self.text_proj = nn.Sequential(nn.LayerNorm(text_dim), nn.Linear(text_dim, hidden)) if text_dim else None
        self.image_proj = nn.ModuleDict({c: nn.Sequential(nn.LayerNorm(d), nn.Linear(d, hidden))
                                         for c, d in image_dims.items()})
        self.image_missing = nn.Parameter(torch.zeros(len(image_dims), hidden))
        self.head = nn.Sequential(nn.LayerNorm(width), nn.Dropout(dropout), nn.Linear(width, hidden), nn.GELU(),
                                  nn.Dropout(dropout), nn.Linear(hidden, n_out))

    def _text(self, b: dict) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(B, hidden) pooled text, and for fine-tuning the (B, T, hidden) tokens with their mask."""
        if self.text_model is None:
            return self.text_proj(b["text"]), None
        mask = b["attention_mask"]
        states = self.text_model(input_ids=b["input_ids"], attention_mask=mask).last_hidden_state
        m = mask.unsqueeze(-1).to(states.dtype)
        pooled = (states * m).sum(1) / m.sum(1).clamp(min=1)
        return self.text_proj(pooled), (self.text_proj(states), mask)

    def _images(self, b: dict, n_rows: int) -> list[torch.Tensor]:
        out = []
        for j, c in enumerate(self.image_cols):
            if c in self.image_models:
                feats = _pool_rows(self.image_models[c](b[f"pixels:{c}"]), b[f"owner:{c}"], n_rows)
            else:
                feats = b[f"image:{c}"]
            miss = b[f"image_missing:{c}"].unsqueeze(1).to(feats.dtype)
            out.append(self.image_proj[c](feats) * (1 - miss) + self.image_missing[j] * miss)
        return out

    def forward(self, b: dict) -> torch.Tensor:
        n = b["num"].shape[0]
        text, tokens = self._text(b) if self.text_proj is not None else (None, None)
        images = self._images(b, n)
        cats = [emb(b["cat"][:, i]) for i, emb in enumerate(self.cat_emb)]
        if self.fusion == "late":
            parts = [self.num_proj(b["num"])] if self.num_proj is not None else []
            parts += [self.cat_proj(torch.cat(cats, 1))] if cats else []
            parts += ([text] if text is not None else []) + images
            return self.head(torch.cat(parts, 1))
        seq = [self.cls.expand(n, -1, -1)]
        if self.n_num:
            x = nn.functional.pad(b["num"], (0, self.groups * self.group_size - self.n_num))
            seq.append(torch.einsum("bgs,gsh->bgh", x.view(n, self.groups, self.group_size), self.num_w) + self.num_b)
        seq += [c.unsqueeze(1) for c in cats] + [i.unsqueeze(1) for i in images]
        pad = [torch.zeros(n, sum(s.shape[1] for s in seq), dtype=torch.bool, device=seq[0].device)]
        if tokens is not None:  # every text token joins the sequence; padding is masked out
            seq.append(tokens[0])
            pad.append(tokens[1] == 0)
        elif text is not None:
            seq.append(text.unsqueeze(1))
            pad.append(torch.zeros(n, 1, dtype=torch.bool, device=seq[0].device))
        h = self.encoder(torch.cat(seq, 1), src_key_padding_mask=torch.cat(pad, 1))
        return self.head(h[:, 0])
