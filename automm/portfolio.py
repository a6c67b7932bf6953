"""A portfolio of configurations per model family, tried in order: each family's defaults first, then
diverse configurations that did well across many tables.

The tree configurations are AutoGluon's zero-shot portfolio (hyperparameter_portfolio_zeroshot_2023,
learnt with TabRepo over some 200 tables; the suffix after `_r` is its configuration's number there),
taken in its priority order; hyperparameter values are facts about the libraries and carry over
(XGBoost's learning rate under its own name, eta, which automm's XGBoost model sets). The
fusion nets' alternatives vary width, dropout and learning rate around the defaults. The linear model
has none: it already searches its one strength on the first fold, and its n-grams are the features'.

Each configuration becomes its own bagged model on the same folds (`lightgbm_r131_L1`), and all of them
reach the stacker and ensemble selection. A user's `hyperparameters={"lightgbm": [{...}, {...}]}` is a
portfolio of their own, all of it trained: its first entry keeps the family's name, later ones are
`lightgbm_2`, ....
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

PORTFOLIO: dict[str, list[tuple[str, dict]]] = {
    "lightgbm": [
        ("", {}),
        ("_xt", {"extra_trees": True}),
        ("_large", {"learning_rate": 0.03, "num_leaves": 128, "feature_fraction": 0.9, "min_data_in_leaf": 3}),
        ("_r131", {"extra_trees": False, "feature_fraction": 0.7024, "learning_rate": 0.01214, "min_data_in_leaf": 14,
                   "num_leaves": 53}),
        ("_r96", {"extra_trees": True, "feature_fraction": 0.5637, "learning_rate": 0.01519, "min_data_in_leaf": 48,
                  "num_leaves": 16}),
        ("_r188", {"extra_trees": True, "feature_fraction": 0.8283, "learning_rate": 0.03393, "min_data_in_leaf": 6,
                   "num_leaves": 127}),
    ],
    "catboost": [
        ("", {}),
        ("_r177", {"depth": 6, "grow_policy": "SymmetricTree", "l2_leaf_reg": 2.154, "learning_rate": 0.06864,
                   "max_ctr_complexity": 4, "one_hot_max_size": 10}),
        ("_r9", {"depth": 8, "grow_policy": "Depthwise", "l2_leaf_reg": 2.800, "learning_rate": 0.03138,
                 "max_ctr_complexity": 2, "one_hot_max_size": 3}),
        ("_r137", {"depth": 4, "grow_policy": "SymmetricTree", "l2_leaf_reg": 4.559, "learning_rate": 0.04940,
                   "max_ctr_complexity": 3, "one_hot_max_size": 3}),
    ],
    "xgboost": [
        ("", {}),
        ("_r33", {"colsample_bytree": 0.6917, "eta": 0.01806, "max_depth": 10, "min_child_weight": 0.6029}),
        ("_r89", {"colsample_bytree": 0.6628, "eta": 0.08776, "max_depth": 5, "min_child_weight": 0.6294}),
        ("_r194", {"colsample_bytree": 0.9090, "eta": 0.09290, "max_depth": 7, "min_child_weight": 0.8042}),
    ],
    "fusion_late": [
        ("", {}),
        ("_wide", {"hidden": 256, "dropout": 0.2, "lr": 5e-4}),
        ("_small", {"hidden": 64, "dropout": 0.0, "lr": 2e-3}),
    ],
    "fusion_early": [
        ("", {}),
        ("_small", {"hidden": 64, "dropout": 0.05, "lr": 2e-3}),
    ],
}


# the defaults of automm's models that a configuration's cost is compared with (models/*.py)
BASE = {"lightgbm": {"learning_rate": 0.05, "num_leaves": 31}, "xgboost": {"eta": 0.05, "max_depth": 6},
        "catboost": {"learning_rate": 0.06, "depth": 6}, "fusion_late": {"lr": 1e-3, "hidden": 128},
        "fusion_early": {"lr": 1e-3, "hidden": 128}}


def relative_cost(kind: str, params: dict) -> float:
    """About how many times its family's defaults a configuration takes to train: boosting needs about
    1/learning rate rounds to converge, and a round costs about its depth (or the root of its leaves);
    a net's epochs, fewer at a higher rate, cost about the root of its width. Clipped to [0.5, 6]."""
    base = BASE.get(kind)
    if base is None:
        return 1.0
    rate = next((k for k in ("learning_rate", "eta", "lr") if k in base), None)
    factor = (base[rate] / float(params.get(rate, base[rate]))) ** (0.5 if kind.startswith("fusion") else 1.0)
    if "num_leaves" in base:
        factor *= (float(params.get("num_leaves", base["num_leaves"])) / base["num_leaves"]) ** 0.5
    for size in ("max_depth", "depth"):
        if size in base:
            factor *= float(params.get(size, base[size])) / base[size]
    if "hidden" in base:
        factor *= (float(params.get("hidden", base["hidden"])) / base["hidden"]) ** 0.5
    return float(min(6.0, max(0.5, factor)))


@dataclass(frozen=True)
class ModelConfig:
    """One configuration of a registered model: its bagged model is `name` + "_L<layer>". planned: it
    trains in the layer's plan (the families' defaults, a user's configurations); else it is one of the
    portfolio's further configurations, which train in the time the plan leaves (anytime.py)."""
    name: str
    kind: str
    params: dict = field(default_factory=dict)
    planned: bool = True
    budget_s: float | None = None  # its seconds from its start (None: its share of the layer's time)


def user_configs(kind: str, given) -> list[ModelConfig]:
    """hyperparameters[kind]: one dict (one model) or a list of dicts (one model each, all planned)."""
    if isinstance(given, dict):
        return [ModelConfig(kind, kind, dict(given))]
    if not isinstance(given, (list, tuple)) or not given or not all(isinstance(g, dict) for g in given):
        raise ValueError(f"hyperparameters[{kind!r}] must be a dict of parameters or a non-empty list of such "
                         f"dicts (one model each), not {given!r}")
    return [ModelConfig(kind if i == 0 else f"{kind}_{i + 1}", kind, dict(g)) for i, g in enumerate(given)]


def portfolio_configs(kind: str, depth: int) -> list[ModelConfig]:
    """The first `depth` configurations of a family's portfolio (the defaults alone for a family without one)."""
    entries = PORTFOLIO.get(kind, [("", {})])[:max(1, depth)]
    return [ModelConfig(kind + suffix, kind, dict(params), planned=not suffix) for suffix, params in entries]


def model_configs(models: list[str], shared: dict, user_hp: dict | None, depth: int) -> list[ModelConfig]:
    """Every configuration of layer 1: the planned ones in the models' order, then the portfolio's others
    round-robin (each family's second, then each one's third...), so that the time left is spread over
    the families rather than spent on one. shared[kind]: what the fit sets for every model of a family
    (the nets' backbones and device), under each configuration's own parameters."""
    families = [user_configs(m, user_hp[m]) if user_hp and m in user_hp else portfolio_configs(m, depth)
                for m in models]
    families = [[replace(c, params={**shared.get(c.kind, {}), **c.params}) for c in fam] for fam in families]
    planned = [c for fam in families for c in fam if c.planned]
    longest = max((len(f) for f in families), default=0)
    return planned + [fam[i] for i in range(longest) for fam in families if i < len(fam) and not fam[i].planned]
