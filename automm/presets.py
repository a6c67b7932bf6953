"""Named trade-offs between time and accuracy."""
from __future__ import annotations

PRESETS = {
    # one hold-out split, the two fastest models
    "fast": {"num_bag_folds": 0, "num_stack_levels": 0, "models": ["linear", "lightgbm"]},
    # bagged, every available model, no stacking
    "medium": {"num_bag_folds": 5, "num_stack_levels": 0, "models": ["linear", "lightgbm", "xgboost", "catboost"]},
    # bagged and stacked: the second layer sees the first layer's out-of-fold predictions
    "best": {"num_bag_folds": 5, "num_stack_levels": 1, "models": ["linear", "lightgbm", "xgboost", "catboost"],
             "stack_models": ["linear", "lightgbm", "catboost"]},
}
ALIASES = {"medium_quality": "medium", "best_quality": "best", "good_quality": "medium", "fast_quality": "fast"}


def get_preset(name: str) -> dict:
    key = ALIASES.get(name, name)
    if key not in PRESETS:
        raise ValueError(f"presets={name!r} is not known; choose one of {sorted(PRESETS)}")
    return dict(PRESETS[key])
