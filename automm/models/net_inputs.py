"""How each modality enters the fusion nets: one `NetInput` per kind, registered in `NET_INPUTS`, in the
order the net concatenates their tokens (the late-fusion head's weights depend on it).

A NetInput answers three questions, and the net asks them of every registered kind in one loop:
- `dims(X, model)`: what the net is built from for this kind (widths, which columns), saved with it;
- `keys(dims)`: the net's encoder names of this kind's columns;
- `build(key, dims, model)` / `feed(key, X, idx, model, rng)`: the encoder, and a batch's tensors.

The built-in kinds (the table's numbers and categories, the text, each image column) are below. Any
other kind in the neural view is read by `ArrayInput`: its columns' arrays go as they are to the
encoder registered for the kind with `encoders.register_encoder`. A kind that needs more (its own
backbone, say) registers a NetInput of its own with `register_net_input`.
"""
from __future__ import annotations

import numpy as np

from ..features import FeatureSet
from ..features.backbones import image_backbone, require_torch, text_backbone
from ..features.images import ImageBatcher
from ..features.token_batches import token_batch


def image_key(column: str) -> str:
    """The net's name for an image column's encoder (torch module names cannot hold a dot)."""
    return "image:" + column.replace(".", "_")


def _tensor(a: np.ndarray, idx: np.ndarray, model):
    return require_torch().from_numpy(a[idx]).to(model._device_)


class NetInput:
    kind = ""

    def dims(self, X: FeatureSet, model) -> dict:
        return {}

    def keys(self, dims: dict) -> list[str]:
        raise NotImplementedError

    def build(self, key: str, dims: dict, model):
        raise NotImplementedError

    def feed(self, key: str, X: FeatureSet, idx: np.ndarray, model, rng) -> dict:
        raise NotImplementedError


class NumericInput(NetInput):
    kind = "numeric"

    def dims(self, X, model):
        return {"n_num": X.neural["numeric"]["all"]["values"].shape[1]}

    def keys(self, dims):
        return ["numeric:all"] if dims["n_num"] else []

    def build(self, key, dims, model):
        from .encoders import NumericEncoder
        return NumericEncoder(dims["n_num"], model.params["hidden"], model.params["fusion"] == "early")

    def feed(self, key, X, idx, model, rng):
        return {"values": _tensor(X.neural["numeric"]["all"]["values"], idx, model)}


class CategoricalInput(NetInput):
    kind = "categorical"

    def dims(self, X, model):
        return {"cat_cards": list(X.cat_cards)}

    def keys(self, dims):
        return ["categorical:all"] if dims["cat_cards"] else []

    def build(self, key, dims, model):
        from .encoders import CategoricalEncoder
        return CategoricalEncoder(dims["cat_cards"], model.params["hidden"], model.params["fusion"] == "early")

    def feed(self, key, X, idx, model, rng):
        return {"codes": _tensor(X.neural["categorical"]["all"]["codes"], idx, model)}


class TextInput(NetInput):
    """All text columns as one document: its frozen embedding, the static tier's tokens (trained with the
    net), or the raw text for a fine-tuned backbone."""
    kind = "text"

    def dims(self, X, model):
        p, text = model.params, X.neural.get("text", {}).get("all", {})
        if p["finetune"]:
            return {"text": "raw" in text or (p["tabular_as_text"] and "table" in text)}
        if p["text_tokens"]:
            if "raw" not in text:
                return {"text": False}
            from ..features.static_text import static_text
            static = static_text(p["text_backbone"])
            model._table, model._static_tokenizer = static.table, static.tokenizer
            return {"text": True, "vocab": static.table.shape[0], "token_dim": static.table.shape[1]}
        return {"text": "embedding" in text, **({"text_dim": text["embedding"].shape[1]} if "embedding" in text else {})}

    def keys(self, dims):
        return ["text:all"] if dims["text"] else []

    def build(self, key, dims, model):
        from .encoders import StaticTokens, TextEncoder
        p, h = model.params, model.params["hidden"]
        early = p["fusion"] == "early"
        if p["text_tokens"]:
            return TextEncoder(dims["token_dim"], h, early, StaticTokens(dims["vocab"], dims["token_dim"], model._table))
        if p["finetune"]:
            model._text_bb = text_backbone(p["text_backbone"])
            net = model._text_bb.model.train()
            if p["finetune_layers"] is not None:
                _freeze_below_top(net, p["finetune_layers"])
            return TextEncoder(model._text_bb.hidden, h, early, net)
        return TextEncoder(dims["text_dim"], h, early)

    def feed(self, key, X, idx, model, rng):
        if not (model.params["finetune"] or model.params["text_tokens"]):
            return {"embedding": _tensor(X.neural["text"]["all"]["embedding"], idx, model)}
        torch, dev = require_torch(), model._device_
        ids, mask = token_batch(*model._token_source(X), idx)
        return {"input_ids": torch.from_numpy(ids).to(dev), "attention_mask": torch.from_numpy(mask).to(dev)}


class ImageInput(NetInput):
    """Each image column: its frozen embedding, or the pixels for a fine-tuned CNN (augmented in training)."""
    kind = "image"

    def dims(self, X, model):
        part = "paths" if model.params["finetune"] else "embedding"
        images = [c for c, parts in X.neural.get("image", {}).items() if part in parts]
        sizes = {} if model.params["finetune"] else {c: X.neural["image"][c]["embedding"].shape[1] for c in images}
        return {"images": images, "image_dims": sizes}

    def keys(self, dims):
        return [image_key(c) for c in dims["images"]]

    def _column(self, key, dims) -> str:
        return next(c for c in dims["images"] if image_key(c) == key)

    def build(self, key, dims, model):
        from .encoders import ImageEncoder
        h = model.params["hidden"]
        if not model.params["finetune"]:
            return ImageEncoder(dims["image_dims"][self._column(key, dims)], h)
        bb = image_backbone(model.params["image_backbone"])
        model._image_size = bb.image_size
        return ImageEncoder(bb.hidden, h, bb.model)

    def feed(self, key, X, idx, model, rng):
        c = self._column(key, model.dims_)
        parts = X.neural["image"][c]
        if not model.params["finetune"]:
            return {"embedding": _tensor(parts["embedding"], idx, model), "missing": _tensor(parts["missing"], idx, model)}
        torch, dev = require_torch(), model._device_
        pix, owner, miss = ImageBatcher("image_list", None, model._image_size)(
            parts["paths"][idx], rng if model.params["augment"] else None, column=c)
        return {"pixels": torch.from_numpy(pix).to(dev), "owner": torch.from_numpy(owner).to(dev),
                "missing": torch.from_numpy(miss.astype(np.float32)).to(dev)}


class ArrayInput(NetInput):
    """Every other kind in the neural view: each column's arrays, as they are, to the encoder registered
    for its kind (encoders.register_encoder). Saved as {"plugins": {"kind:column": {part: shape}}}."""

    def dims(self, X, model):
        return {"plugins": {f"{kind}:{c}": {part: list(a.shape[1:]) for part, a in parts.items()}
                            for kind, cols in X.neural.items() if kind not in NET_INPUTS for c, parts in cols.items()}}

    def keys(self, dims):
        return [key.replace(".", "_") for key in dims.get("plugins", {})]

    def _source(self, key, dims) -> tuple[str, str, dict]:
        source = next(k for k in dims["plugins"] if k.replace(".", "_") == key)
        kind, column = source.split(":", 1)
        return kind, column, dims["plugins"][source]

    def build(self, key, dims, model):
        from .encoders import ENCODERS
        kind, _, shapes = self._source(key, dims)
        if kind not in ENCODERS:
            raise ValueError(f"no encoder is registered for the {kind!r} modality (models.encoders.register_encoder)")
        return ENCODERS[kind]({k: tuple(v) for k, v in shapes.items()}, model.params["hidden"],
                              model.params["fusion"] == "early")

    def feed(self, key, X, idx, model, rng):
        kind, column, _ = self._source(key, model.dims_)
        return {part: _tensor(a, idx, model) for part, a in X.neural[kind][column].items()}


NET_INPUTS: dict[str, NetInput] = {}


def register_net_input(net_input: NetInput) -> None:
    """A kind's own way into the nets, after those registered before it (the built-ins first)."""
    NET_INPUTS[net_input.kind] = net_input


for _builtin in (NumericInput(), CategoricalInput(), TextInput(), ImageInput()):
    register_net_input(_builtin)
OTHER_KINDS = ArrayInput()


def net_inputs() -> list[NetInput]:
    """Every kind's NetInput in the net's order: the registered ones, then the other kinds' arrays."""
    return [*NET_INPUTS.values(), OTHER_KINDS]


def _freeze_below_top(model, k: int) -> None:
    from .train import layer_of
    layers = [layer_of(n) for n, _ in model.named_parameters()]
    top = max([i for i in layers if i is not None], default=0)
    for (_name, param), layer in zip(model.named_parameters(), layers):
        param.requires_grad = layer is not None and layer > top - k
