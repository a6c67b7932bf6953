"""What a saved predictor is: its parameters and its fitted state (fitted_state.py) as a manifest,
arrays and model files, and the predictor rebuilt from them. The folder itself (checksums, digest,
the atomic swap) is persistence.py's."""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from . import __version__
from .compat import installed_versions
from .device import cores
from .fitted_state import FittedState
from .metrics import DEFAULT_METRIC, get_metric
from .persistence import FORMAT, FORMAT_VERSION, write_model_dir
from .task import Task

PARAMS = ("label", "problem_type", "eval_metric", "column_types", "verbosity", "seed", "num_threads", "image_dir",
          "text_backbone", "image_backbone", "device", "sample_weight", "weight_evaluation", "groups",
          "positive_class", "text_tier", "progress_bar")  # saved with the model; `path` is where it was, not what


def write_predictor(p, path, overwrite: bool, complete: bool) -> Path:
    """The predictor's manifest, arrays and model files, written to the folder `path` (persistence.py)."""
    state: FittedState = p.state_
    fitted, arrays = state.to_manifest()
    manifest = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "automm_version": __version__,
        "libraries": installed_versions(), "complete": complete,
        "params": {**{k: _plain(getattr(p, k)) for k in PARAMS}, "eval_metric": state.metric.name}, **fitted,
    }
    return write_model_dir(path, manifest, arrays, lambda tmp: state.write_model_files(tmp, manifest), overwrite)


def predictor_from(cls, path: Path, manifest: dict, arrays: dict, eval_metric=None):
    """A predictor of class `cls` rebuilt from a folder's manifest and arrays, read and checked by persistence.py."""
    params = {k: v for k, v in manifest["params"].items() if k in PARAMS}
    ptype = manifest["schema"]["problem_type"]
    metric = manifest["metric"]
    if eval_metric is None and manifest.get("metric_custom"):
        warnings.warn(f"{str(path)!r} was fitted with a scorer of its own ({metric!r}), which a saved model does "
                      f"not keep: evaluate and leaderboard use {DEFAULT_METRIC[ptype]!r}; pass "
                      "load(path, eval_metric=<the scorer>) to use it", stacklevel=3)
        metric = DEFAULT_METRIC[ptype]
    metric = get_metric(metric if eval_metric is None else eval_metric, ptype,
                        np.array(manifest["classes"], dtype=object))
    params["eval_metric"] = metric.name if eval_metric is None else eval_metric
    p = cls(**params)
    task = Task(ptype, manifest["n_classes"], metric, p.seed, cores(p.num_threads))
    p.state_ = FittedState.from_manifest(path, manifest, arrays, p.label, metric, task)
    return p


def _plain(value):
    """A parameter as JSON holds it: numpy scalars as Python ones; arrays and objects by their type name."""
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (str, int, float, bool, list, dict)):
        return value
    return f"<{type(value).__name__}>"
