"""Named trade-offs between time and accuracy: each a frozen `Preset`, resolved once per fit with the
user's overrides, so that a setting is read by name with one default and a misspelt key fails."""
from __future__ import annotations

from dataclasses import dataclass, fields, replace

PRESETS = {
    # one hold-out split, the two fastest models, no embeddings
    "fast": {"num_bag_folds": 0, "num_stack_levels": 0, "models": ["linear", "lightgbm"], "embeddings": False},
    # bagged, every available model (the late-fusion net among them), no stacking
    "medium": {"num_bag_folds": 5, "num_stack_levels": 0, "embeddings": True,
               "models": ["linear", "lightgbm", "fusion_late", "xgboost", "catboost"]},
    # bagged and stacked, the fusion nets; on a GPU the larger backbones, fine-tuned. Not fusion_tokens (the
    # text's static token vectors trained on the label): at 300 s on the three text sets here it moved the
    # ensemble's validation score by -0.0009 to +0.0004 (a seed's noise) for about 1 GB more peak memory and
    # the largest fit time of any model (benchmarks/results/ablation.md); it stays a model to ask for
    "best": {"num_bag_folds": 5, "num_stack_levels": 1, "embeddings": True,
             "models": ["linear", "lightgbm", "fusion_late", "fusion_early", "xgboost", "catboost"],
             "stack_models": ["linear", "lightgbm", "catboost"],
             "gpu_backbones": ("mpnet", "efficientnet-lite2"),
             # the time left unused buys the text's transformer tier and larger images (second_round.py),
             # then the portfolio's further configurations of each family (portfolio.py, anytime.py)
             "second_round": True, "portfolio": 6},
}
# best, plus an Optuna search of each model's hyperparameters on its first fold (extra "tune")
PRESETS["best_tuned"] = {**PRESETS["best"], "hyperparameter_tune": True}
# AutoGluon's names: its good_quality and high_quality are bagged and stacked, as best is
ALIASES = {"medium_quality": "medium", "best_quality": "best", "high_quality": "best", "good_quality": "best",
           "fast_quality": "fast"}
DEFAULT_BACKBONES = ("minilm", "efficientnet-lite0")  # they install from PyPI and run on a CPU




@dataclass(frozen=True)
class Preset:
    num_bag_folds: int                  # 0: one hold-out split
    num_stack_levels: int
    models: tuple[str, ...]             # layer 1, in the order they train
    embeddings: bool                    # frozen text and image embeddings for the trees and the nets
    stack_models: tuple[str, ...] = ()  # layer 2, when num_stack_levels
    gpu_backbones: tuple[str, str] = DEFAULT_BACKBONES  # (text, image) on a GPU
    second_round: bool = False          # the time left buys stronger embedding tiers (second_round.py)
    hyperparameter_tune: bool | dict | None = None  # automm.search.TuneSettings.from_arg
    portfolio: int = 1                  # configurations per family (portfolio.py); past the first, in the time left

    @classmethod
    def from_dict(cls, settings: dict, name: str = "") -> "Preset":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(settings) - known)
        if unknown:
            raise ValueError(f"preset {name!r} has settings automm does not know: {unknown}; a preset's settings "
                             f"are {sorted(known)}")
        lists = {k: tuple(v) for k, v in settings.items() if k in ("models", "stack_models", "gpu_backbones")}
        return cls(**{**settings, **lists})

    def with_overrides(self, **overrides) -> "Preset":
        """The preset with the user's settings where they gave one (None: the preset's)."""
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})


def get_preset(names: str | list[str] | tuple[str, ...]) -> Preset:
    """One preset by name, or several in a list: a later one's settings override an earlier one's
    (as AutoGluon's presets=["best_quality", ...] does)."""
    names = [names] if isinstance(names, str) else list(names)
    if not names:
        raise ValueError("presets is an empty list; name at least one of " + str(sorted(PRESETS)))
    out: dict = {}
    for name in names:
        key = ALIASES.get(name, name)
        if key not in PRESETS:
            raise ValueError(f"presets={name!r} is not known; choose one of {sorted(PRESETS)} "
                             f"(or AutoGluon's names {sorted(ALIASES)})")
        out.update(PRESETS[key])
    return Preset.from_dict(out, "+".join(names))
