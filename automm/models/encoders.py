"""One encoder per modality for the fusion nets (torch; imported only when a neural model is used).

Each encoder reads its entry of the neural view (a dict of tensors) and returns tokens (B, t, hidden)
with a padding mask (B, t) (True where a token is padding), as pytorch-frame's stype encoders do.
Late fusion wants one token per encoder (it concatenates them); early fusion puts every token of
every encoder into one transformer. The built-in modalities' encoders are below; a plug-in modality's
is registered with `register_encoder(kind, factory)`, and the nets build one for each of its columns.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

MAX_NUM_TOKENS = 32


def _no_padding(tokens: torch.Tensor) -> torch.Tensor:
    return torch.zeros(tokens.shape[:2], dtype=torch.bool, device=tokens.device)


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone: nn.Module | None = None  # a fine-tuned backbone: trained at a lower, layer-wise decayed rate

    def forward(self, x: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError


class NumericEncoder(Encoder):
    """The table's numbers (standardised columns and missing flags). Late: one token; early: one token
    per column, and past MAX_NUM_TOKENS neighbouring columns (which come from the same source: one text
    column's statistics, one embedding's components) share a token."""

    def __init__(self, n_num: int, hidden: int, early: bool):
        super().__init__()
        self.n_num, self.early = n_num, early
        if early:
            self.groups = min(n_num, MAX_NUM_TOKENS)
            self.group_size = -(-n_num // self.groups)
            self.weight = nn.Parameter(torch.randn(self.groups, self.group_size, hidden) * 0.1)
            self.bias = nn.Parameter(torch.zeros(self.groups, hidden))
        else:
            self.proj = nn.Sequential(nn.Linear(n_num, hidden), nn.GELU())

    def forward(self, x):
        v = x["values"]
        if not self.early:
            out = self.proj(v).unsqueeze(1)
        else:
            v = nn.functional.pad(v, (0, self.groups * self.group_size - self.n_num))
            out = torch.einsum("bgs,gsh->bgh", v.view(len(v), self.groups, self.group_size), self.weight) + self.bias
        return out, _no_padding(out)


class CategoricalEncoder(Encoder):
    """Category codes (0 = missing or unseen). Late: small embeddings, concatenated and projected to one
    token; early: one token per column."""

    def __init__(self, cards: list[int], hidden: int, early: bool):
        super().__init__()
        self.early = early
        self.emb = nn.ModuleList(nn.Embedding(c + 1, hidden if early else 16) for c in cards)
        self.proj = None if early else nn.Sequential(nn.Linear(16 * len(cards), hidden), nn.GELU())

    def forward(self, x):
        cats = [emb(x["codes"][:, i]) for i, emb in enumerate(self.emb)]
        out = torch.stack(cats, 1) if self.early else self.proj(torch.cat(cats, 1)).unsqueeze(1)
        return out, _no_padding(out)


class TextEncoder(Encoder):
    """Frozen: the sentence embedding, projected to one token. Fine-tuned: the backbone's token states;
    late fusion pools them to one token, early fusion keeps every token (padding masked)."""

    def __init__(self, dim: int, hidden: int, early: bool, backbone: nn.Module | None = None):
        super().__init__()
        self.early, self.backbone = early, backbone
        self.proj = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, hidden))

    def forward(self, x):
        if self.backbone is None:
            out = self.proj(x["embedding"]).unsqueeze(1)
            return out, _no_padding(out)
        mask = x["attention_mask"]
        if not self.early and isinstance(self.backbone, StaticTokens):  # the mean of the tokens' vectors, summed
            out = self.proj(self.backbone.mean(x["input_ids"], mask)).unsqueeze(1)  # without a (B, T, dim) tensor
            return out, _no_padding(out)
        states = self.backbone(input_ids=x["input_ids"], attention_mask=mask).last_hidden_state
        if self.early:
            return self.proj(states), mask == 0
        m = mask.unsqueeze(-1).to(states.dtype)
        out = self.proj((states * m).sum(1) / m.sum(1).clamp(min=1)).unsqueeze(1)
        return out, _no_padding(out)


class ImageEncoder(Encoder):
    """One image column: the frozen embedding, or the fine-tuned CNN's features averaged over a row's
    images; a learned token stands in for rows without a readable image."""

    def __init__(self, dim: int, hidden: int, backbone: nn.Module | None = None):
        super().__init__()
        self.backbone = backbone
        self.proj = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, hidden))
        self.missing = nn.Parameter(torch.zeros(hidden))

    def forward(self, x):
        miss = x["missing"].unsqueeze(1)
        if self.backbone is None:
            feats = x["embedding"]
        else:
            feats = _pool_rows(self.backbone(x["pixels"]), x["owner"], len(miss))
        miss = miss.to(feats.dtype)
        out = (self.proj(feats) * (1 - miss) + self.missing * miss).unsqueeze(1)
        return out, _no_padding(out)


class StaticTokens(nn.Module):
    """The static text tier's token table as a backbone the fusion nets fine-tune: a row's tokens are
    their vectors (initialised from the distilled table), and training moves them towards the label."""

    def __init__(self, vocab: int, dim: int, table=None):
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        if table is not None:
            self.embed.weight.data.copy_(torch.as_tensor(table, dtype=torch.float32))

    def mean(self, input_ids, attention_mask) -> torch.Tensor:
        """(B, dim): each row's mean token vector, padding left out."""
        weights = attention_mask.to(self.embed.weight.dtype)
        summed = nn.functional.embedding_bag(input_ids, self.embed.weight, mode="sum", per_sample_weights=weights)
        return summed / weights.sum(1, keepdim=True).clamp(min=1)

    def forward(self, input_ids, attention_mask):  # the text encoder's LayerNorm takes care of the scale
        from types import SimpleNamespace
        return SimpleNamespace(last_hidden_state=self.embed(input_ids))


# plug-in modalities: kind -> factory(shapes of the column's parts without the row axis, hidden, early) -> Encoder
ENCODERS: dict[str, Callable[[dict[str, tuple], int, bool], Encoder]] = {}


def register_encoder(kind: str, factory: Callable[[dict[str, tuple], int, bool], Encoder]) -> None:
    ENCODERS[str(kind)] = factory


def _pool_rows(feats: torch.Tensor, owner: torch.Tensor, n_rows: int) -> torch.Tensor:
    """Mean of the image features of each row (rows with no image get zeros)."""
    out = feats.new_zeros(n_rows, feats.shape[1]).index_add_(0, owner, feats)
    count = torch.bincount(owner, minlength=n_rows).clamp(min=1).unsqueeze(1).to(feats.dtype)
    return out / count
