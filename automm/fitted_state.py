"""Everything a fit produces, in one object: `FittedState`. Training builds it, the predictor holds it
as one attribute (`state_`, read through the old names `schema_`, `metric_`, ...), and saving and
loading write and read it (`to_manifest` / `from_manifest`). It is frozen: a step after the fit (a
threshold, a refit, a second round kept or not) makes a new one with `dataclasses.replace`, so no
code sets a fitted attribute by hand and a new fitted field is a change to this file.

`Ensembles` holds the two fitted ensembles, "bagged" (the fold models) and "refit" (one model per bag
on all rows, after refit_full), and which of them predict uses.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from .features import FeaturePipeline, FeatureSet
from .fitted import FittedEnsemble
from .labels import LabelCodec
from .metrics import Metric, apply_threshold
from .schema import Schema
from .task import Task
from .validation import check_predict_input

MODES = ("bagged", "refit")
FULL = "_FULL"  # suffix of the models refit on all rows, in model names and file names


def check_fitted(predictor) -> "FittedState":
    """The predictor's fitted state, or the error that says to fit or load it first."""
    state = getattr(predictor, "state_", None)
    if state is None or not state.fitted:
        raise RuntimeError("this predictor is not fitted yet: call fit() or MultimodalPredictor.load()")
    return state


@dataclass(frozen=True)
class Ensembles:
    bagged: FittedEnsemble
    refit: FittedEnsemble | None = None
    active: str = "bagged"  # the one predict uses

    def __getitem__(self, mode: str) -> FittedEnsemble | None:
        if mode not in MODES:
            raise KeyError(f"an ensemble is 'bagged' or 'refit', not {mode!r}")
        return self.bagged if mode == "bagged" else self.refit

    @property
    def current(self) -> FittedEnsemble:
        return self.refit if self.active == "refit" else self.bagged


@dataclass(frozen=True)
class FittedState:
    schema: Schema
    labels: LabelCodec
    metric: Metric
    task: Task
    oof_index: pd.Index               # the training rows the out-of-fold predictions belong to
    oof_y: np.ndarray | None          # and what they are scored on (the threshold, infer_limit, distill)
    oof_weight: np.ndarray | None = None
    time_plan: dict | None = None
    pipeline: FeaturePipeline | None = None  # None until the round's features are fitted
    ensembles: Ensembles | None = None
    failures: dict = field(default_factory=dict)
    timings: dict | None = None
    parallel: dict | None = None
    fit_time: float = 0.0
    second_round: dict | None = None
    anytime: dict | None = None       # the portfolio's further models, trained in the time the rounds left
    folds: tuple | None = None        # the first bag set's (train rows, validation rows): fit_extra's folds
    predict_rows_per_s: dict = field(default_factory=dict)
    decision_threshold: float | None = None
    digest: str | None = None

    @property
    def fitted(self) -> bool:
        return self.ensembles is not None

    # ---- what predicting and scoring read ------------------------------------------------------
    def features(self, df: pd.DataFrame, image_dir: str | None) -> FeatureSet:
        """The features of new rows, checked against the schema; image paths start from image_dir."""
        check_predict_input(df, self.schema)
        return self.pipeline.transform(df.reset_index(drop=True), image_dir=image_dir)

    def model_names(self) -> list[str]:
        """The bagged models that can predict, then the models refit on all rows (suffix _FULL)."""
        refit = self.ensembles.refit.models if self.ensembles.refit else []
        return [b.name for b in self.ensembles.bagged.models if b.models] + [b.name + FULL for b in refit]

    def one_model(self, model: str) -> tuple[FittedEnsemble, str]:
        """The ensemble that holds `model` (a name from model_names()) and its name there."""
        if model not in self.model_names():
            raise KeyError(f"model {model!r} is not in this predictor; its models are {self.model_names()}")
        if model.endswith(FULL):
            return self.ensembles.refit, model[: -len(FULL)]
        return self.ensembles.bagged, model

    def predict_raw(self, X: FeatureSet, model: str | None = None) -> np.ndarray:
        """(n, n_outputs) of the ensemble predict uses, or of one model."""
        if model is None:
            return self.ensembles.current.predict(X)
        ens, name = self.one_model(model)
        return ens.predict_each(X, {name})[name][0]

    def predict_frame(self, df: pd.DataFrame, image_dir: str | None, model: str | None = None) -> np.ndarray:
        """predict_raw of new rows' features."""
        return self.predict_raw(self.features(df, image_dir), model)

    def oof(self, model: str | None = None) -> np.ndarray:
        """The out-of-fold predictions of the training rows: the bagged blend's, or one bagged model's."""
        bags = {b.name: b for b in self.ensembles.bagged.models}
        if model is None:
            return sum(w * bags[n].oof for n, w in self.ensembles.bagged.weights.items() if w > 0)
        if model not in bags:
            raise KeyError(f"out-of-fold predictions exist for the bagged models {list(bags)}, not {model!r}")
        return bags[model].oof

    def score(self, y: np.ndarray, raw: np.ndarray, w: np.ndarray | None = None) -> float:
        """The eval_metric, hard labels cut at the decision threshold."""
        m = self.metric
        return m.score(y, raw if m.needs_proba else apply_threshold(raw, self.decision_threshold), w)

    def with_ensembles(self, **changes) -> "FittedState":
        """A copy whose Ensembles has these fields changed (bagged, refit, active)."""
        return replace(self, ensembles=replace(self.ensembles, **changes))

    # ---- the manifest ------------------------------------------------------------------------
    def to_manifest(self) -> tuple[dict, dict[str, np.ndarray]]:
        """The fitted part of a model folder's manifest, and its arrays (the features' state, the
        out-of-fold predictions and their labels)."""
        feat_meta, arrays = self.pipeline.get_state()
        bagged, refit = self.ensembles.bagged, self.ensembles.refit
        manifest = {
            "schema": self.schema.to_dict(), "metric": self.metric.name, "n_classes": self.task.n_classes,
            "metric_custom": self.metric.custom, "decision_threshold": self.decision_threshold,
            "classes": [c.item() if isinstance(c, np.generic) else c for c in self.labels.classes_],
            "features": feat_meta, "weights": bagged.weights, "val_score": bagged.val_score,
            "fit_time": self.fit_time, "models": bagged.entries(), "models_full": refit.entries() if refit else [],
            "inference": self.ensembles.active, "predict_rows_per_s": self.predict_rows_per_s,
            "parallel": self.parallel, "timings": self.timings, "time_plan": self.time_plan,
            "failures": self.failures, "second_round": self.second_round, "anytime": self.anytime,
        }
        for b in bagged.models:  # OOF predictions are kept: leaderboard and refits need them
            arrays[f"oof/{b.name}"] = b.oof
        arrays["oof_y"] = self.oof_y
        if self.oof_weight is not None:
            arrays["oof_weight"] = self.oof_weight
        for i, (train, val) in enumerate(self.folds or ()):
            arrays[f"folds/{i}/train"], arrays[f"folds/{i}/val"] = train.astype(np.int32), val.astype(np.int32)
        return manifest, arrays

    def write_model_files(self, folder: Path, manifest: dict) -> None:
        (folder / "models").mkdir()
        self.ensembles.bagged.write_files(folder, manifest["models"], "")
        if self.ensembles.refit:
            self.ensembles.refit.write_files(folder, manifest["models_full"], FULL)

    @classmethod
    def from_manifest(cls, folder: Path, manifest: dict, arrays: dict, label: str, metric: Metric,
                      task: Task) -> "FittedState":
        """The state of a model folder (read and checked by persistence.py); `metric` and `task` are the
        loader's (a scorer of the user's own is not saved, and threads are this machine's)."""
        schema = Schema.from_dict(manifest["schema"])
        listed, weights = set(manifest["files"]), manifest["weights"]
        bagged = FittedEnsemble.load(folder, manifest["models"], "", task, weights, listed, arrays)
        bagged.val_score = manifest["val_score"]
        refit = FittedEnsemble.load(folder, manifest["models_full"], FULL, task, weights, listed) \
            if manifest["models_full"] else None
        n_oof = len(next(iter(arrays[k] for k in arrays if k.startswith("oof/"))))
        n_folds = len([k for k in arrays if k.startswith("folds/") and k.endswith("/val")])
        folds = tuple((arrays[f"folds/{i}/train"].astype(np.int64), arrays[f"folds/{i}/val"].astype(np.int64))
                      for i in range(n_folds)) or None  # None: saved before the folds were kept
        return cls(
            schema=schema, labels=LabelCodec(label, schema.problem_type, manifest["classes"]), metric=metric,
            task=task, oof_index=pd.RangeIndex(n_oof), oof_y=arrays.get("oof_y"), oof_weight=arrays.get("oof_weight"),
            time_plan=manifest.get("time_plan"), pipeline=FeaturePipeline.from_state(schema, manifest["features"], arrays),
            ensembles=Ensembles(bagged, refit, manifest["inference"]), failures=manifest.get("failures", {}),
            timings=manifest.get("timings"), parallel=manifest.get("parallel"), fit_time=manifest["fit_time"],
            second_round=manifest.get("second_round"), anytime=manifest.get("anytime"), folds=folds,
            predict_rows_per_s=manifest["predict_rows_per_s"],
            decision_threshold=manifest.get("decision_threshold"), digest=manifest.get("digest"))
