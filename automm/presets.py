"""Named trade-offs between time and accuracy."""
from __future__ import annotations

PRESETS = {
    # one hold-out split, the two fastest models, no embeddings
    "fast": {"num_bag_folds": 0, "num_stack_levels": 0, "models": ["linear", "lightgbm"], "embeddings": False},
    # bagged, every available model (the late-fusion net among them), no stacking
    "medium": {"num_bag_folds": 5, "num_stack_levels": 0, "embeddings": True,
               "models": ["linear", "lightgbm", "fusion_late", "xgboost", "catboost"]},
    # bagged and stacked, both fusion nets; on a GPU the larger backbones, fine-tuned
    "best": {"num_bag_folds": 5, "num_stack_levels": 1, "embeddings": True,
             "models": ["linear", "lightgbm", "fusion_late", "fusion_early", "xgboost", "catboost"],
             "stack_models": ["linear", "lightgbm", "catboost"],
             "gpu_backbones": ("mpnet", "efficientnet-lite2")},
}
# best, plus an Optuna search of each model's hyperparameters on its first fold (extra "tune")
PRESETS["best_tuned"] = {**PRESETS["best"], "hyperparameter_tune": True}
ALIASES = {"medium_quality": "medium", "best_quality": "best", "good_quality": "medium", "fast_quality": "fast"}
DEFAULT_BACKBONES = ("minilm", "efficientnet-lite0")  # they install from PyPI and run on a CPU


def get_preset(name: str) -> dict:
    key = ALIASES.get(name, name)
    if key not in PRESETS:
        raise ValueError(f"presets={name!r} is not known; choose one of {sorted(PRESETS)}")
    return dict(PRESETS[key])
