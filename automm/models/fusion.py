"""Multimodal fusion nets as registered models: late fusion ("fusion_late") and early fusion
("fusion_early") over table columns, text and images.

Frozen (the default, and the CPU mode): the text and image backbones ran once in the feature
pipeline, and the net trains on their cached embeddings, so every fold and model shares them.
Fine-tuned (`finetune=True`, meant for a GPU): the backbones are part of the net and train with a
lower, layer-wise decayed learning rate on the raw text (optionally with the table columns written
as text) and on augmented images. Saved as safetensors plus JSON; a net trained on a GPU predicts on CPU.
"""
from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import numpy as np

from ..device import torch_device
from ..features import FeatureSet
from ..features.backbones import require_torch
from ..features.token_batches import token_lengths
from ..search import Choice, Real
from .base import BaseModel, FitRecord, Monitor, Task, model_file
from .net_inputs import image_key, net_inputs
from .train import TrainConfig, train

NET_PARAMS = ("fusion", "finetune", "text_backbone", "image_backbone", "hidden", "dropout", "max_tokens",
              "tabular_as_text", "augment", "device", "finetune_layers", "text_tokens")


class FusionModel(BaseModel):
    name = "fusion"
    rounds_param = "epochs"
    fusion = "late"
    report_every, prune_after = 1, 3  # epochs
    search_space = {"lr": Real(1e-4, 3e-3, log=True, default=1e-3), "hidden": Choice((64, 128, 256), default=128),
                    "dropout": Real(0.0, 0.4, default=0.1), "weight_decay": Real(1e-4, 1e-1, log=True, default=1e-2)}

    text_tokens = False

    def __init__(self, fusion: str | None = None, finetune: bool = False, text_backbone: str = "minilm",
                 image_backbone: str = "efficientnet-lite0", hidden: int = 128, dropout: float = 0.1,
                 max_tokens: int = 128, tabular_as_text: bool = False, augment: bool = True, device: str = "auto",
                 finetune_layers: int | None = None, epochs: int | None = None, text_tokens: bool | None = None,
                 **train_params):
        """finetune_layers: with finetune, train only the text backbone's top k layers (None: all);
        cheaper on a CPU. text_tokens: the text read as tokens of the static tier's table, which trains
        with the net (images stay frozen embeddings unless finetune). Training settings (lr, batch_size,
        max_epochs, ...) are TrainConfig's."""
        text_tokens = self.text_tokens if text_tokens is None else text_tokens
        if text_tokens and finetune:
            raise ValueError(f"{self.name}: text_tokens and finetune both say how to read the text; choose one")
        if text_tokens:  # the token table is as shallow as the head: it learns at the head's rate (the table is
            # the backbone's embedding layer, whose rate param_groups lowers by one layer_decay)
            decay = train_params.get("layer_decay", TrainConfig.layer_decay)
            train_params.setdefault("backbone_lr", train_params.get("lr", TrainConfig.lr) / decay)
        self.params = {"fusion": fusion or self.fusion, "finetune": finetune, "text_backbone": text_backbone,
                       "image_backbone": image_backbone, "hidden": hidden, "dropout": dropout,
                       "max_tokens": max_tokens, "tabular_as_text": tabular_as_text, "augment": augment,
                       "device": device, "finetune_layers": finetune_layers, "epochs": epochs,
                       "text_tokens": text_tokens, **train_params}
        known = {f.name for f in fields(TrainConfig)}
        unknown = set(train_params) - known
        if unknown:
            raise ValueError(f"unknown {self.name} parameters {sorted(unknown)}; known: {sorted(set(NET_PARAMS) | known)}")
        self.info = FitRecord()

    # ---- building ----------------------------------------------------------------------------
    def _dims(self, X: FeatureSet) -> dict:
        """What the net is built from, saved with it: each kind's part (net_inputs.py)."""
        if X.neural is None:
            raise ValueError("the fusion nets need the neural view of the features")
        dims = {}
        for net_input in net_inputs():
            dims.update(net_input.dims(X, self))
        return dims

    def _build(self, dims: dict, n_out: int):
        """One encoder per column group of every kind, in the kinds' registered order."""
        from .nets import FusionNet
        encoders = {key: net_input.build(key, dims, self) for net_input in net_inputs() for key in net_input.keys(dims)}
        return FusionNet(self.params["fusion"], encoders, n_out, self.params["hidden"], self.params["dropout"])

    def _device(self):
        require_torch()
        return torch_device(self.params["device"])

    # ---- batches -----------------------------------------------------------------------------
    def _inputs(self, X: FeatureSet, idx: np.ndarray, rng: np.random.Generator | None) -> dict:
        """The rows `idx` of the neural view, as tensors on the device, keyed like the net's encoders."""
        return {key: net_input.feed(key, X, idx, self, rng) for net_input in net_inputs()
                for key in net_input.keys(self.dims_)}

    def _token_source(self, X: FeatureSet) -> tuple:
        """What token_batch and token_lengths read: the tokenizer, the rows' texts, the token limit, the key."""
        text = X.neural["text"]["all"]
        sources = tuple(text[k] for k in ("table", "raw") if k in text and (k == "raw" or self.params["tabular_as_text"]))
        tokenizer, longest = self._tokenizer()
        return (tokenizer, sources, min(self.params["max_tokens"], longest),
                (self.params["text_backbone"], self.params["text_tokens"]))

    def _tokenizer(self):
        """(the text tokenizer, the most tokens it may give a row)."""
        if self.params["text_tokens"]:
            if not hasattr(self, "_static_tokenizer"):
                from ..features.backbones import text_tokenizer
                self._static_tokenizer = text_tokenizer(self.params["text_backbone"])
            return self._static_tokenizer, 512
        return self._text_bb.tokenizer, self._text_bb.max_tokens

    # ---- the model protocol --------------------------------------------------------------------
    def fit(self, X: FeatureSet, y, X_val: FeatureSet | None, y_val, task: Task, deadline: float,
            monitor: Monitor | None = None):
        torch = require_torch()
        torch.manual_seed(task.seed)
        torch.set_num_threads(task.num_threads)
        self._task, self._device_ = task, self._device()
        self._table = None
        self.dims_ = self._dims(X)
        regression = task.is_regression
        self.y_mean_, self.y_std_ = (float(np.mean(y)), float(np.std(y)) or 1.0) if regression else (0.0, 1.0)
        target = torch.tensor((y - self.y_mean_) / self.y_std_, dtype=torch.float32) if regression \
            else torch.tensor(y, dtype=torch.long)
        self.net_ = self._build(self.dims_, task.n_outputs).to(self._device_)
        per_row = torch.nn.functional.mse_loss if regression else torch.nn.functional.cross_entropy
        weight = None if X.weight is None else torch.tensor(X.weight / X.weight.mean(), dtype=torch.float32)
        rng = np.random.default_rng(task.seed)

        def loss_fn(out, target):
            t, w = target
            if w is None:
                return per_row(out, t)
            return (per_row(out, t, reduction="none").reshape(len(w), -1).mean(1) * w).sum() / w.sum()

        def batches(epoch: int, size: int):
            order = rng.permutation(len(X))
            for s in range(0, len(order), size):
                idx = np.sort(order[s:s + size])
                t = target[idx].to(self._device_)
                w = None if weight is None else weight[idx].to(self._device_)
                yield self._inputs(X, idx, rng), (t.view(-1, 1) if regression else t, w)

        def evaluate() -> float:
            return -task.metric.error(y_val, self.predict(X_val), X_val.weight)

        cfg = TrainConfig(**{k: v for k, v in self.params.items() if k in {f.name for f in fields(TrainConfig)}})
        backbones = self.net_.backbone_prefixes()
        run = train(self.net_, loss_fn, batches, len(X), evaluate if X_val is not None else None, cfg,
                          deadline, self._device_, backbones, self.params["epochs"], monitor)
        self.info = FitRecord(run.pop("iterations"), run.pop("hit_deadline"),
                              tuned={k: v for k, v in self.params.items() if k != "epochs"},  # what a refit reuses
                              extra={**run, "dims": self.dims_, "target": [self.y_mean_, self.y_std_]})
        return self

    def predict(self, X: FeatureSet, batch: int = 512) -> np.ndarray:
        torch = require_torch()
        self.net_.eval()
        outs = []
        tokens = self.dims_["text"] and (self.params["finetune"] or self.params["text_tokens"])
        # rows of like length batched together: a batch is padded to its longest row
        order = np.argsort(token_lengths(*self._token_source(X)), kind="stable") if tokens else np.arange(len(X))
        with torch.inference_mode():
            for s in range(0, len(X), batch):
                outs.append(self.net_(self._inputs(X, order[s:s + batch], None)).float().cpu())
        out = torch.cat(outs) if outs else torch.zeros(0, self._task.n_outputs)
        out = out[torch.from_numpy(np.argsort(order))]  # back to the rows' order
        if self._task.is_regression:
            return (out.numpy().astype(np.float64) * self.y_std_ + self.y_mean_).reshape(-1, 1)
        return torch.softmax(out, 1).numpy().astype(np.float64)

    def save(self, prefix: Path) -> list[str]:
        from safetensors.torch import save_file
        path = model_file(prefix, ".safetensors")
        state = {k: v.detach().cpu().contiguous() for k, v in self.net_.state_dict().items()}
        save_file(state, str(path))
        self.info.extra["params"] = dict(self.params)
        return [path.name]

    @classmethod
    def load(cls, prefix: Path, info: FitRecord, task: Task):
        from safetensors.torch import load_file
        obj = cls(**info.extra["params"])
        obj._task, obj.info, obj.dims_ = task, info, info.extra["dims"]
        obj.y_mean_, obj.y_std_ = info.extra["target"]
        obj._device_, obj._table = obj._device(), None  # the table's trained vectors come with the weights
        obj.net_ = obj._build(obj.dims_, task.n_outputs)
        state = load_file(str(model_file(prefix, ".safetensors")))
        obj.net_.load_state_dict(state if any(k.startswith("encoders.") for k in state)
                                 else _from_one_piece_net(state, obj.dims_["images"]))
        obj.net_.to(obj._device_).eval()
        return obj


class LateFusionModel(FusionModel):
    name, fusion = "fusion_late", "late"


class EarlyFusionModel(FusionModel):
    name, fusion = "fusion_early", "early"


class TokenFusionModel(FusionModel):
    """Late fusion whose text is the static tier's tokens, their vectors fine-tuned on each fold's rows:
    a representation of the text that learns from the label, at a cost a CPU can pay."""
    name, fusion, text_tokens = "fusion_tokens", "late", True


def _from_one_piece_net(state: dict, images: list[str]) -> dict:
    """The weights of a net saved before it had an encoder per modality (automm <= 0.6), renamed to the
    encoders' names: the same net (the token order of early fusion moves, which a transformer without
    position embeddings does not see)."""
    renames = [("num_proj.", "encoders.numeric:all.proj."), ("num_w", "encoders.numeric:all.weight"),
               ("num_b", "encoders.numeric:all.bias"), ("cat_emb.", "encoders.categorical:all.emb."),
               ("cat_proj.", "encoders.categorical:all.proj."), ("text_proj.", "encoders.text:all.proj."),
               ("text_model.", "encoders.text:all.backbone.")]
    out = {}
    for key, value in state.items():
        if key == "image_missing":
            out.update({f"encoders.{image_key(c)}.missing": value[j] for j, c in enumerate(images)})
            continue
        for old, new in renames + [(f"{part}{c}.", f"encoders.{image_key(c)}.{to}") for c in images
                                   for part, to in (("image_proj.", "proj."), ("image_models.", "backbone."))]:
            if key.startswith(old):
                key = new + key[len(old):]
                break
        out[key] = value
    return out

