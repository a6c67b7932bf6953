"""What a saved predictor is: the manifest and arrays written from a fitted predictor, and the
predictor rebuilt from them. The folder itself (checksums, digest, the atomic swap) is persistence.py's."""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from . import __version__
from .compat import installed_versions
from .device import cores
from .features import FeaturePipeline
from .fitted import FittedEnsemble
from .inspection import FULL
from .labels import LabelCodec
from .metrics import DEFAULT_METRIC, get_metric
from .persistence import FORMAT, FORMAT_VERSION, write_model_dir
from .schema import Schema
from .task import Task

PARAMS = ("label", "problem_type", "eval_metric", "column_types", "verbosity", "seed", "num_threads", "image_dir",
          "text_backbone", "image_backbone", "device", "sample_weight", "weight_evaluation", "groups",
          "positive_class", "text_tier", "progress_bar")  # saved with the model; `path` is where it was, not what


def write_predictor(p, path, overwrite: bool, complete: bool) -> Path:
    """The predictor's manifest, arrays and model files, written to the folder `path` (persistence.py)."""
    feat_meta, arrays = p.pipeline_.get_state()
    bagged, refit = p.ensembles_["bagged"], p.ensembles_["refit"]
    manifest = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "automm_version": __version__,
        "libraries": installed_versions(), "complete": complete,
        "params": {**{k: _plain(getattr(p, k)) for k in PARAMS}, "eval_metric": p.metric_.name},
        "schema": p.schema_.to_dict(), "metric": p.metric_.name, "n_classes": p.task_.n_classes,
        "metric_custom": p.metric_.custom, "decision_threshold": p.decision_threshold_,
        "classes": [c.item() if isinstance(c, np.generic) else c for c in p.classes_],
        "features": feat_meta, "weights": p.weights_, "val_score": p.val_score_, "fit_time": p.fit_time_,
        "models": bagged.entries(), "models_full": refit.entries() if refit else [],
        "inference": p.inference_, "predict_rows_per_s": p.predict_rows_per_s_,
        "parallel": p.parallel_, "timings": p.timings_, "time_plan": p.time_plan_,
        "failures": p.failures_, "second_round": getattr(p, "second_round_", None),
    }
    for b in bagged.models:  # OOF predictions are kept: leaderboard and refits need them
        arrays[f"oof/{b.name}"] = b.oof
    arrays["oof_y"] = p.oof_y_  # and what they are scored on (the decision threshold, infer_limit)
    if p.oof_weight_ is not None:
        arrays["oof_weight"] = p.oof_weight_

    def write_files(tmp: Path):
        (tmp / "models").mkdir()
        bagged.write_files(tmp, manifest["models"], "")
        if refit:
            refit.write_files(tmp, manifest["models_full"], FULL)

    return write_model_dir(path, manifest, arrays, write_files, overwrite)


def predictor_from(cls, path: Path, manifest: dict, arrays: dict, eval_metric=None):
    """A predictor of class `cls` rebuilt from a folder's manifest and arrays, read and checked by persistence.py."""
    p = cls(**{k: v for k, v in manifest["params"].items() if k in PARAMS})
    p.schema_ = Schema.from_dict(manifest["schema"])
    ptype = p.schema_.problem_type
    p.labels_ = LabelCodec(p.label, ptype, manifest["classes"])
    metric = manifest["metric"]
    if eval_metric is None and manifest.get("metric_custom"):
        warnings.warn(f"{str(path)!r} was fitted with a scorer of its own ({metric!r}), which a saved model does "
                      f"not keep: evaluate and leaderboard use {DEFAULT_METRIC[ptype]!r}; pass "
                      "load(path, eval_metric=<the scorer>) to use it", stacklevel=3)
        metric = DEFAULT_METRIC[ptype]
    p.metric_ = get_metric(metric if eval_metric is None else eval_metric, ptype, p.labels_.classes_)
    p.eval_metric = p.metric_.name if eval_metric is None else eval_metric
    p.task_ = Task(ptype, manifest["n_classes"], p.metric_, p.seed, cores(p.num_threads))
    p.decision_threshold_ = manifest.get("decision_threshold")
    p.oof_y_, p.oof_weight_ = arrays.get("oof_y"), arrays.get("oof_weight")
    p.pipeline_ = FeaturePipeline.from_state(p.schema_, manifest["features"], arrays)
    p.fit_time_, p.inference_ = manifest["fit_time"], manifest["inference"]
    p.predict_rows_per_s_ = manifest["predict_rows_per_s"]
    p.parallel_, p.timings_, p.time_plan_ = manifest.get("parallel"), manifest.get("timings"), manifest.get("time_plan")
    p.digest_ = manifest.get("digest")
    p.failures_ = manifest.get("failures", {})
    p.second_round_ = manifest.get("second_round")
    p.oof_index_ = pd.RangeIndex(len(next(iter(arrays[k] for k in arrays if k.startswith("oof/")))))
    listed, weights = set(manifest["files"]), manifest["weights"]
    bagged = FittedEnsemble.load(path, manifest["models"], "", p.task_, weights, listed, arrays)
    bagged.val_score = manifest["val_score"]
    refit = FittedEnsemble.load(path, manifest["models_full"], FULL, p.task_, weights, listed) \
        if manifest["models_full"] else None
    p.ensembles_ = {"bagged": bagged, "refit": refit}
    return p


def _plain(value):
    """A parameter as JSON holds it: numpy scalars as Python ones; arrays and objects by their type name."""
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (str, int, float, bool, list, dict)):
        return value
    return f"<{type(value).__name__}>"

