"""More models for a fitted predictor, later (AutoGluon's fit_extra and fit_weighted_ensemble):
`fit_extra` trains further configurations, the preset's portfolio or the user's hyperparameters, on
the fit's own folds and features, then the stackers again over every layer-1 model, then ensemble
selection again (anytime.py does the work, as it does for a fit's time left); `reweighted` selects a
blend of chosen models only. Both return a new FittedState; the predictor keeps it."""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from .budget import TimePlan
from .ensemble import config_of, ensemble_selection
from .fitted import FittedEnsemble
from .fitted_state import Ensembles, FittedState
from .portfolio import PORTFOLIO, ModelConfig, model_configs, user_configs
from .training import Problem, RoundSpec, check_parallel_args, choose_models
from .validation import check_model_params


def shared_params(state: FittedState) -> dict[str, dict]:
    """What the fit set for every model of a family (the nets' backbones, device and fine-tuning), read
    from the family's first trained model, so that more of it read the same inputs."""
    keys = ("finetune", "text_backbone", "image_backbone", "device")
    out: dict[str, dict] = {}
    for b in state.ensembles.bagged.layer1:
        out.setdefault(b.kind, {k: b.params[k] for k in keys if k in b.params})
    return out


def _unique_names(configs: list[ModelConfig], taken: set[str]) -> list[ModelConfig]:
    """A configuration named like a trained model becomes <kind>_<n>, the first n free."""
    out = []
    for c in configs:
        name, n = c.name, 2
        while name in taken:
            name, n = f"{c.kind}_{n}", n + 1
        taken.add(name)
        out.append(ModelConfig(name, c.kind, c.params, c.planned))
    return out


def extra_configs(state: FittedState, hyperparameters: dict | None) -> list[ModelConfig]:
    """The configurations fit_extra trains: the user's (each family's list or dict, new families too), else
    the rest of the portfolio of every family in layer 1, round-robin."""
    shared, trained = shared_params(state), {config_of(b).name for b in state.ensembles.bagged.layer1}
    if hyperparameters is not None:
        choose_models(hyperparameters, _any_preset())  # unknown model names fail here, with what there is
        check_model_params(hyperparameters)
        check_parallel_args("auto", None, None, hyperparameters)
        configs = [ModelConfig(c.name, c.kind, {**shared.get(c.kind, {}), **c.params})
                   for kind, given in hyperparameters.items() for c in user_configs(kind, given)]
        return _unique_names(configs, set(trained))
    kinds = list(dict.fromkeys(b.kind for b in state.ensembles.bagged.layer1))
    depth = max((len(v) for v in PORTFOLIO.values()), default=1)
    return [c for c in model_configs(kinds, shared, None, depth) if c.name not in trained]


def _any_preset():
    from .presets import get_preset
    return get_preset("best")


def continuation(state: FittedState, df, y: np.ndarray, weight, configs: list[ModelConfig], time_limit,
                 start: float) -> tuple[Problem, RoundSpec]:
    """What anytime.spend_time_left needs to go on from `state`: its rows and folds, and the configurations
    to train with a deadline of their own."""
    plan = TimePlan.for_fit(time_limit)
    problem = Problem(df, y, state.schema, state.metric, state.labels, state.task, weight, state.oof_weight,
                      [list(state.folds)])
    stackers = [config_of(b).name for b in state.ensembles.bagged.models if b.layer == 2]
    spec = RoundSpec(sorted({c.kind for c in configs}), stackers, shared_params(state), None, plan,
                     plan.fit_deadline(start), state.decision_threshold is not None, "auto", None, None,
                     extra=tuple(configs))
    return problem, spec


def reweighted(state: FittedState, models: list[str]) -> FittedState:
    """The bagged ensemble's blend chosen again among `models` only (Caruana selection on the rows every
    one of them validated); every model stays, for predict(model=...) and the leaderboard."""
    ens = state.ensembles.bagged
    names = [b.name for b in ens.models]
    unknown = [m for m in models if m not in names]
    if not models or unknown:
        raise ValueError(f"fit_weighted_ensemble needs models of this predictor; {unknown or 'none'} given, "
                         f"its models are {names}")
    chosen = [b for b in ens.models if b.name in models]
    rows = np.flatnonzero(np.all([np.isfinite(b.oof).all(1) for b in chosen], axis=0))
    w = None if state.oof_weight is None else state.oof_weight[rows]
    y = state.oof_y[rows]
    weights = ensemble_selection([b.oof[rows] for b in chosen], y, state.task, sample_weight=w,
                                 at_best_cut=state.decision_threshold is not None)
    blend = sum(wt * b.oof[rows] for b, wt in zip(chosen, weights))
    new = FittedEnsemble(list(ens.models), {n: 0.0 for n in names} | {b.name: float(wt) for b, wt in zip(chosen, weights)},
                         state.task, val_score=state.metric.score(y, blend, w))
    return replace(state, ensembles=Ensembles(new))
