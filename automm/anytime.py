"""The time a fit's rounds leave, turned into accuracy: the portfolio's further configurations
(portfolio.py) train one after another on the same features and folds, each chosen by expected gain
per second, until none fits in the time left or the queue is empty; then the stackers that train in
seconds train again over every layer-1 model (a slow one keeps the inputs it had), and ensemble
selection chooses among all of them.

A configuration's cost is its family's measured one (the family's first model, trained in the plan);
its expected gain is higher the better its family validated and lower the more of the family already
ran. `fit_extra` (after_fit.py) runs the same steps later, on a fitted or loaded predictor.
"""
from __future__ import annotations

import time
from dataclasses import replace

import numpy as np

from .ensemble import BaggedModel, config_of, fit_layer
from .execution import make_executor
from .execution.base import unpacked
from .fitted import stack_view
from .fitted_state import Ensembles, FittedState
from .portfolio import ModelConfig, relative_cost
from .training import select_ensemble


def _cost(config: ModelConfig, family_s: dict[str, float]) -> float:
    """A configuration's expected seconds: its family's measured ones, scaled by how much more it does."""
    return family_s[config.kind] * relative_cost(config.kind, config.params)


def _priority(config: ModelConfig, family_rank: dict[str, int], family_s: dict[str, float], ran: dict[str, int]) -> float:
    gain = 1.0 / (1 + family_rank[config.kind]) / (1 + ran.get(config.kind, 0))
    return gain / max(_cost(config, family_s), 1e-3)


def family_costs(layer1: list[BaggedModel], greater_is_better: bool) -> tuple[dict[str, float], dict[str, int]]:
    """Each family's measured seconds (its fastest trained model) and its rank by validation (0: best)."""
    cost: dict[str, float] = {}
    best: dict[str, float] = {}
    sign = 1.0 if greater_is_better else -1.0
    for b in layer1:
        cost[b.kind] = min(cost.get(b.kind, np.inf), b.fit_time)
        best[b.kind] = max(best.get(b.kind, -np.inf), sign * b.val_score)
    return cost, {k: i for i, k in enumerate(sorted(best, key=lambda k: -best[k]))}


def _batch(queue: list[ModelConfig], rank: dict, cost: dict, ran: dict, deadline: float, plan, slots: int
           ) -> list[ModelConfig]:
    """The next configurations to train side by side (as many as there are slots), best expected gain per
    second first, while their expected seconds, shared by the slots, fit before `deadline`."""
    batch: list[ModelConfig] = []
    planned_s, ran = 0.0, dict(ran)
    for _ in range(slots):
        fits = [c for c in queue if c not in batch and plan.portfolio_fits((planned_s + _cost(c, cost)) / slots, deadline)]
        if not fits:
            break
        pick = max(fits, key=lambda c: _priority(c, rank, cost, ran))
        batch.append(pick)
        planned_s += _cost(pick, cost)
        ran[pick.kind] = ran.get(pick.kind, 0) + 1
    return batch


def run_queue(queue: list[ModelConfig], bags: list[BaggedModel], X, problem, spec, deadline: float, progress,
              executor, failures: dict, greater_is_better: bool, new_families: bool = False
              ) -> tuple[list[BaggedModel], list[str]]:
    """Trains the queue's configurations, best expected gain per second first, while one fits before
    `deadline`. Returns the new bags and the names of the configurations left untrained. new_families:
    a family no model of which trained yet is priced at the trained families' median time (else its
    configurations are left out: its first model failed or was skipped)."""
    layer1 = [b for b in bags if b.layer == 1]
    cost, rank = family_costs(layer1, greater_is_better)
    if new_families:
        prior = float(np.median(list(cost.values()))) if cost else 10.0
        for c in queue:
            rank.setdefault(c.kind, len(rank))
            cost.setdefault(c.kind, prior)
    queue = [c for c in queue if c.kind in cost and f"{c.name}_L1" not in {b.name for b in bags}]
    ran: dict[str, int] = {}
    new: list[BaggedModel] = []
    y, folds, task = problem.y, problem.fold_sets[0], problem.task
    while queue:
        batch = _batch(queue, rank, cost, ran, deadline, spec.plan, executor.slots)
        if not batch:
            break
        for c in batch:
            queue.remove(c)
            ran[c.kind] = ran.get(c.kind, 0) + 1
        progress.say(1, "anytime: " + ", ".join(f"{c.name} (about {_cost(c, cost):.0f}s)" for c in batch)
                        + (f"; {deadline - time.monotonic():.0f}s left for them" if deadline != float("inf") else ""))
        new += fit_layer([replace(c, budget_s=spec.plan.portfolio_overrun * _cost(c, cost)) for c in batch], X, y,
                         folds, task, deadline, 1, progress, spec.hp, executor, failures=failures, plan=spec.plan,
                         eval_weight=problem.eval_weight)
    return new, [c.name for c in queue]


def restack(layer1: list[BaggedModel], stackers: list[BaggedModel], X, problem, spec, deadline: float, progress,
            executor, failures: dict) -> list[BaggedModel]:
    """The stackers trained again over every layer-1 model (replacing those of fewer inputs); a stacker not
    trained again keeps reading the models it was trained on."""
    y, folds, task = problem.y, problem.fold_sets[0], problem.task
    Xs = stack_view(X, [b.oof for b in layer1], [b.name for b in layer1], task, fill_missing=True)
    again = fit_layer([config_of(b) for b in stackers], Xs, y, folds, task, deadline, 2, progress, spec.hp, executor,
                      failures=failures, plan=spec.plan, eval_weight=problem.eval_weight)
    return [replace(b, inputs=[m.name for m in layer1]) for b in again]


def spend_time_left(state: FittedState, problem, spec, X, progress, start: float, later: bool = False
                    ) -> tuple[FittedState, dict | None]:
    """`state` with the configurations of spec.extra trained in the time left, the stackers again over
    them, and the ensemble chosen again; and what happened, for info()["anytime"] (None: nothing to do).
    later: fit_extra's call, which trains new families too and runs without a time limit as well (a fit
    without one trains only its planned models)."""
    if not spec.extra or X is None or (spec.deadline == float("inf") and not later):
        return state, None
    t0 = time.monotonic()
    bags = list(state.ensembles.bagged.models)
    stackers = [b for b in bags if b.layer == 2]
    for b in stackers:  # the stackers say which models they read before any join layer 1
        if b.inputs is None:
            b.inputs = [m.name for m in bags if m.layer == 1]
    again_s = [b for b in stackers if spec.plan.restacks(b.fit_time)]
    restack_s = sum(b.fit_time for b in again_s)
    deadline = spec.plan.portfolio_deadline(spec.deadline, restack_s)
    failures = dict(state.failures)
    with make_executor(spec.num_workers, spec.ray_address, problem.task.num_threads, lambda m: progress.say(2, m),
                       None) as executor:
        X = executor.adopt(X)
        new, left = run_queue(list(spec.extra), bags, X, problem, spec, deadline, progress, executor, failures,
                              state.metric.greater_is_better, new_families=later)
        layer1 = [b for b in bags if b.layer == 1] + new
        if new and again_s and time.monotonic() + restack_s < spec.deadline:
            again = restack(layer1, again_s, X, problem, spec, spec.deadline, progress, executor, failures)
            kept = {b.name for b in again}
            stackers = [b for b in stackers if b.name not in kept] + again
    for bag in new + stackers:
        bag.models = [unpacked(m) for m in bag.models]
    all_bags = layer1 + stackers
    ensemble = select_ensemble(all_bags, problem.y, problem.fold_sets[0], problem.task, problem.eval_weight, spec.cut)
    before = state.ensembles.bagged.val_score
    now = time.monotonic()
    limit = "no time limit" if not spec.plan.time_limit else f"{spec.plan.time_limit:g}s"
    why = (f"queue empty at {now - start:.0f}s of {limit}" if not left else
           f"time limit: {len(left)} configurations did not fit in the time left")
    progress.say(1, f"anytime: {len(new)} more models in {now - t0:.0f}s; validation {state.metric.name} "
                    f"{before:.4f} -> {ensemble.val_score:.4f}; {why}")
    record = {"trained": [b.name for b in new], "left": left, "seconds": round(now - t0, 1),
              "val_scores": {"before": before, "after": ensemble.val_score}, "ended": why}
    fit_time = state.fit_time + now - t0 if later else now - start
    return replace(state, ensembles=Ensembles(ensemble), failures=failures, fit_time=fit_time), record
