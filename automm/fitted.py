"""A fitted ensemble: layers of bagged models and the weights that blend them.

`predict` runs it; `refit` makes another one, with one model per bag trained on all rows. The
predictor keeps two of these, "bagged" and "refit", and predicts with one of them. Stacking (layer 2
reads layer 1's predictions next to the core features) is put together here, for fit, refit and
predict alike.
"""
from __future__ import annotations

import re
import time
from collections.abc import MutableSequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .budget import TimePlan
from .ensemble import BaggedModel, refit_bag, stack_features
from .features import FeatureSet
from .models.base import FitRecord, model_class, require_model
from .persistence import ModelFormatError
from .task import Task

MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")  # a saved model's name becomes a file name


def stack_view(X: FeatureSet, layer1_preds: list[np.ndarray], names: list[str], task: Task,
               fill_missing: bool = False) -> FeatureSet:
    """The stackers' view of `X`: layer 1's predictions next to the core features. fill_missing: rows
    no validation fold covered (out-of-fold predictions at fit time) get the column mean."""
    preds, cols = stack_features(layer1_preds, names, task)
    if fill_missing:
        preds = np.where(np.isnan(preds), np.nanmean(preds, axis=0), preds)
    return X.with_stack(preds, cols, not task.is_regression)


class DeferredFolds(MutableSequence):
    """A bag's fold models, read from disk on first use. A loaded model reads only the bags its blend
    uses: a net beside a trees-only blend costs neither torch's import (seconds, and a dependency a
    trees-only deployment need not install) nor its files. Its length is known without reading it."""

    def __init__(self, load, records: list[FitRecord]):
        self._load, self._items, self.records = load, None, records

    @property
    def loaded(self) -> bool:
        return self._items is not None

    def _get(self) -> list:
        if self._items is None:
            self._items = self._load()
        return self._items

    def __len__(self) -> int:
        return len(self._items) if self._items is not None else len(self.records)

    def __getitem__(self, i):
        return self._get()[i]

    def __setitem__(self, i, value):
        self._get()[i] = value

    def __delitem__(self, i):
        del self._get()[i]

    def insert(self, i, value):
        self._get().insert(i, value)

    def __add__(self, other):
        return list(self) + list(other)

    def __reduce__(self):  # a worker process gets the models themselves
        return list, (list(self),)


def fold_records(bag: BaggedModel) -> list[FitRecord]:
    """What each fold model of a bag recorded at fit, without reading a deferred bag's models."""
    folds = bag.models
    return folds.records if isinstance(folds, DeferredFolds) and not folds.loaded else [m.info for m in folds]


@dataclass
class FittedEnsemble:
    models: list[BaggedModel]            # layer 1, then layer 2
    weights: dict[str, float]
    task: Task
    val_score: float = float("nan")
    predict_seconds: dict = field(default_factory=dict)  # filled by predict_each, for the leaderboard

    @property
    def layer1(self) -> list[BaggedModel]:
        return [b for b in self.models if b.layer == 1]

    @property
    def predictable(self) -> bool:
        """False when delete_models dropped fold models the blend needs (their out-of-fold predictions stay)."""
        by_name = {b.name: b for b in self.models}
        return all(by_name[n].models for n in self.needed())

    def inputs(self, stacker: BaggedModel) -> list[BaggedModel]:
        """The layer-1 models a stacker reads, in the order it was trained on (all of layer 1 for one
        saved before stackers named theirs)."""
        if stacker.inputs is None:
            return self.layer1
        by_name = {b.name: b for b in self.layer1}
        return [by_name[n] for n in stacker.inputs]

    def needed(self) -> set[str]:
        """The models whose predictions the blend needs: a stacker in the blend needs its inputs too."""
        names = {n for n, w in self.weights.items() if w > 0}
        for b in self.models:
            if b.layer == 2 and b.name in names:
                names |= {m.name for m in self.inputs(b)}
        return names

    def predict_each(self, X: FeatureSet, names: set[str] | None = None) -> dict[str, tuple[np.ndarray, float]]:
        """Each named model's predictions and the seconds they took (default: what the blend needs)."""
        names = {n for n, w in self.weights.items() if w > 0} if names is None else names
        stacked = [b for b in self.models if b.layer == 2 and b.name in names]
        read = names | {m.name for b in stacked for m in self.inputs(b)}
        out = {}
        for b in self.layer1:
            if b.name in read:
                t0 = time.monotonic()
                out[b.name] = (b.predict(X), time.monotonic() - t0)
        for b in stacked:
            inputs = self.inputs(b)
            Xs = stack_view(X, [out[m.name][0] for m in inputs], [m.name for m in inputs], self.task)
            t0 = time.monotonic()
            out[b.name] = (b.predict(Xs), time.monotonic() - t0)
        return out

    def blend(self, preds: dict) -> np.ndarray:
        return sum(w * preds[n][0] for n, w in self.weights.items() if w > 0)

    def predict(self, X: FeatureSet) -> np.ndarray:
        return self.blend(self.predict_each(X))

    def refit(self, X: FeatureSet, y: np.ndarray, deadline: float, params: dict, say=lambda level, msg: None
              ) -> "FittedEnsemble":
        """One model per bag the blend needs, on all rows; stackers on the stored out-of-fold predictions."""
        needed, layer1, full = self.needed(), self.layer1, []
        for b in layer1 + [b for b in self.models if b.layer == 2]:
            if b.name not in needed:
                continue
            inputs = self.inputs(b) if b.layer == 2 else []
            Xb = X if b.layer == 1 else stack_view(X, [m.oof for m in inputs], [m.name for m in inputs], self.task,
                                                   fill_missing=True)
            say(2, f"refitting {b.name} on all {len(y)} rows")
            full.append(refit_bag(b, Xb, y, self.task, TimePlan.even_share(deadline, len(needed) - len(full)),
                                  params))
        return FittedEnsemble(full, dict(self.weights), self.task)

    # ---- persistence: a manifest entry per bag, each fold model in its library's own files ----
    def entries(self) -> list[dict]:
        return [{"name": b.name, "kind": b.kind, "layer": b.layer, "val_score": b.val_score,
                 "fit_time": b.fit_time, "started_at": b.started_at, "params": _plain(b.params), "folds": [],
                 **({} if b.inputs is None else {"inputs": list(b.inputs)})}
                for b in self.models]

    def write_files(self, folder: Path, entries: list[dict], suffix: str) -> None:
        """Each fold model into `folder/models`; the files it wrote are listed in its entry."""
        for b, entry in zip(self.models, entries):
            for f, m in enumerate(b.models):
                files = m.save(folder / "models" / f"{b.name}{suffix}.fold{f}")
                entry["folds"].append({"files": [f"models/{x}" for x in files], "info": m.info.to_dict()})

    @classmethod
    def load(cls, folder: Path, entries: list[dict], suffix: str, task: Task, weights: dict, listed: set[str],
             oofs: dict | None = None) -> "FittedEnsemble":
        """oofs: each bag's out-of-fold predictions (the bagged ensemble keeps them; a refit has none)."""
        used = cls([BaggedModel(e["name"], e["kind"], e["layer"]) for e in entries], weights, task).needed()
        models = []
        for entry in entries:
            name = entry["name"]
            if not isinstance(name, str) or not MODEL_NAME.match(name) or ".." in name:
                raise ModelFormatError(f"{str(folder)!r} names a model {name!r}, which is not a plain model "
                                       "name; refusing to load it")
            for fold in entry["folds"]:
                unlisted = [x for x in fold["files"] if x not in listed]
                if unlisted:
                    raise ModelFormatError(f"{str(folder)!r}: model {name!r} reads files without a checksum "
                                           f"({unlisted}); refusing to load it")
            bag = BaggedModel(name, entry["kind"], entry["layer"], oof=None if oofs is None else oofs[f"oof/{name}"],
                              val_score=entry["val_score"], fit_time=entry["fit_time"],
                              started_at=entry.get("started_at"), params=entry.get("params", {}),
                              inputs=entry.get("inputs"))
            records = [FitRecord.from_dict(fold["info"]) for fold in entry["folds"]]

            def read(entry=entry, records=records, name=name) -> list:
                model_cls = _model_class(entry["kind"], name + suffix)
                return [model_cls.load(folder / "models" / f"{name}{suffix}.fold{f}", records[f], task)
                        for f in range(len(records))]
            bag.models = read() if name in used else DeferredFolds(read, records)
            models.append(bag)
        return cls(models, weights, task)


def _plain(params: dict) -> dict:
    """The parameters a manifest can hold (a search space given to tune stays out: its result is in `tuned`)."""
    plain = (str, int, float, bool, type(None))
    return {k: v for k, v in params.items()
            if isinstance(v, plain) or (isinstance(v, (list, tuple)) and all(isinstance(x, plain) for x in v))}


def _model_class(kind: str, name: str) -> type:
    """The class of a saved model, or an ImportError that names the model and the extra to install."""
    try:
        require_model(kind)
    except ImportError as exc:
        raise ImportError(f"this saved model's {name} is a {kind} model: {exc}") from exc
    return model_class(kind)
