"""Tiny randomly initialised backbones and a table with image files, so the neural code paths run
end to end in seconds and offline."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from automm.synthetic import FILLER, NEGATIVE, POSITIVE, make_multimodal

COLORS = {"yes": (220, 40, 40), "no": (40, 40, 220)}


def tiny_text_folder(folder: Path) -> str:
    from transformers import BertConfig, BertModel, BertTokenizerFast
    folder.mkdir(parents=True, exist_ok=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", "|", ":"] + sorted(set(FILLER + POSITIVE + NEGATIVE))
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n")
    # transformers 5 takes the vocabulary as a dict (a vocab_file is silently ignored there)
    BertTokenizerFast(vocab={w: i for i, w in enumerate(vocab)}).save_pretrained(folder)
    config = BertConfig(vocab_size=len(vocab), hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=64)
    BertModel(config).save_pretrained(folder)
    return str(folder)


def tiny_image_backbone():
    import torch

    from automm.features.backbones import ImageBackbone
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, stride=2), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1),
                              torch.nn.Flatten())
    return ImageBackbone(net.eval(), 8, 32)


def register_tiny(folder: Path) -> None:
    from automm.features.backbones import register_image_backbone, register_text_backbone
    path = tiny_text_folder(folder)
    register_text_backbone("tiny-text", lambda: path)
    register_image_backbone("tiny-image", tiny_image_backbone)


def image_table(folder: Path, n: int = 160, seed: int = 0) -> pd.DataFrame:
    """make_multimodal's binary table plus a photo per row whose colour follows the label; a few rows
    point at a missing file and one at a corrupt one."""
    from PIL import Image
    df = make_multimodal(n, "binary", seed=seed)
    (folder / "img").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for i, label in enumerate(df["y"]):
        base = np.array(COLORS[label]) + rng.integers(-30, 30, size=3)
        pixels = np.clip(base + rng.normal(0, 20, size=(24, 24, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(folder / "img" / f"{i}.png")
        paths.append(f"img/{i}.png")
    paths[3] = paths[7] = "img/missing.png"
    (folder / "img" / "corrupt.png").write_bytes(b"not a png")
    paths[5] = "img/corrupt.png"
    df["photo"] = paths
    return df
