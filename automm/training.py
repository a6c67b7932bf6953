"""What `fit` does, in three steps: the settings (the models, their parameters, the embeddings, the
device), the features and folds, and the layers of bagged models that become a fitted ensemble."""
from __future__ import annotations

import time
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from .budget import TimePlan
from .device import cores, gpu_available
from .ensemble import BaggedModel, config_of, ensemble_selection, fit_layer, merge_sets
from .execution import Executor, make_executor
from .execution.base import unpacked
from .features import FeaturePipeline, FeatureSet
from .features.modalities import detectors as modality_detectors
from .features.multimodal import TEXT_TIERS, EmbeddingSettings
from .fitted import FittedEnsemble, stack_view
from .fitted_state import Ensembles, FittedState
from .folds import covered
from .labels import LabelCodec
from .memory import release
from .metrics import DEFAULT_METRIC, Metric, check_metric, get_metric, metric_problem_types
from .models.base import REGISTRY, is_available, is_neural, model_class
from .presets import DEFAULT_BACKBONES, Preset
from .progress import Progress
from .schema import PROBLEM_TYPES, Schema, detect_schema
from .search import TuneSettings, has_space, require_optuna
from .task import Task
from .validation import as_frame, check_fit_input, check_forced_columns, check_label, check_tuning_input


@dataclass(frozen=True)
class RoundSpec:
    """What every round of a fit trains (a second round, second_round.py, changes only the embeddings)."""
    models: list[str]
    stack_models: list[str]
    hp: dict
    tune: TuneSettings | None
    plan: TimePlan
    deadline: float
    cut: bool               # a calibrated decision threshold: ensemble selection scores at the best cut
    num_workers: int | str
    ray_address: str | None
    executor: Executor | None  # the user's, or None (the fit makes one per round)
    configs: tuple = ()     # layer 1's planned ModelConfigs (default: one per model in `models`, of `hp`)
    extra: tuple = ()       # the portfolio's further ModelConfigs, for the time the rounds leave (anytime.py)


# ---- the data and what it is ---------------------------------------------------------------------
def bagging(preset: Preset, num_bag_folds: int | None, num_stack_levels: int | None) -> tuple[int, int]:
    n_folds = preset.num_bag_folds if num_bag_folds is None else num_bag_folds
    n_stack = preset.num_stack_levels if num_stack_levels is None else num_stack_levels
    if n_stack not in (0, 1):
        raise ValueError(f"num_stack_levels must be 0 or 1, not {n_stack!r}")
    if n_folds == 1 or n_folds < 0:
        raise ValueError(f"num_bag_folds must be 0 (one hold-out split) or at least 2, not {n_folds!r}")
    return n_folds, n_stack


LARGE_ROWS = 250_000       # from this many rows on, each model trains once on a hold-out split by default
LARGE_VALIDATION = 50_000  # rows that split validates: ample to stop the boosting and pick the ensemble


def large_data(n_rows: int, n_folds: int, n_stack: int, rows, num_bag_folds, num_stack_levels, progress: Progress):
    """(folds, stack levels, row options) for a large table: k-fold bagging would fit every model k times
    on nearly all the rows, which a million rows on a few cores cannot afford, and its variance
    reduction is small at that size. A choice of the user's (num_bag_folds, folds, num_bag_sets) stands."""
    if n_rows < LARGE_ROWS or n_folds == 0 or num_bag_folds is not None or rows.folds is not None \
            or rows.num_bag_sets > 1:
        return n_folds, n_stack, rows
    n_val = round(min(rows.holdout_frac, LARGE_VALIDATION / n_rows) * n_rows)
    stack = 0 if num_stack_levels is None else n_stack
    progress.say(1, f"large data: {n_rows} rows, so each model trains once on {n_rows - n_val} of them and is "
                    f"validated on {n_val}, rather than {n_folds}-fold bagging"
                    + (" and a stacking layer" if n_stack and not stack else "")
                    + "; pass num_bag_folds to bag anyway")
    return 0, stack, replace(rows, holdout_frac=n_val / n_rows)


def training_rows(train_data, tuning_data, label: str, time_limit, n_folds: int) -> tuple[pd.DataFrame, np.ndarray]:
    """The rows to learn from, checked, with a flag for those that came as tuning_data."""
    df = as_frame(train_data, "train_data")
    is_tuning = np.zeros(len(df), dtype=bool)
    if tuning_data is not None:
        tuning = as_frame(tuning_data, "tuning_data")
        check_tuning_input(df, tuning, label)
        is_tuning = np.r_[is_tuning, np.ones(len(tuning), dtype=bool)]
        df = pd.concat([df, tuning], ignore_index=True)
    check_fit_input(df, label, time_limit, n_folds)
    return df, is_tuning


def understand(df: pd.DataFrame, is_tuning: np.ndarray, label: str, column_types, problem_type, eval_metric,
               progress: Progress, positive_class=None, kept_aside: dict | None = None):
    """The labelled rows (and their positions in `df`), each column's type, the metric and the label
    codec; printed as the schema table. kept_aside: {column: why} of columns that are not features
    (the sample weights, the groups)."""
    kept = np.flatnonzero(df[label].notna().to_numpy())
    if len(kept) < len(df):
        progress.say(1, f"dropping {len(df) - len(kept)} rows whose label is missing")
        is_tuning = is_tuning[kept]
        df = df.iloc[kept]
    metric_types = PROBLEM_TYPES if eval_metric is None else metric_problem_types(eval_metric)
    schema = detect_schema(df, label, column_types, problem_type, metric_types, kept_aside,
                           detectors=modality_detectors())
    check_label(df[label], schema, eval_metric if isinstance(eval_metric, str) else None)
    check_forced_columns(df, schema)
    labels = LabelCodec(label, schema.problem_type, positive_class=positive_class).fit(df[label])
    metric = get_metric(eval_metric or DEFAULT_METRIC[schema.problem_type], schema.problem_type, labels.classes_)
    check_metric(metric, labels.encode_training(df[label]), 1 if schema.problem_type == "regression"
                 else len(labels.classes_))
    progress.say(1, "columns:\n" + schema.table())
    if not schema.used_columns:
        raise ValueError("no usable feature columns: every column was ignored (see the table above); "
                         "set column_types to use some of them")
    return df, is_tuning, kept, schema, metric, labels


@dataclass
class Problem:
    """What is learnt from what: the labelled rows, their types, the metric, the label codec, the
    rows' weights (eval_weight: those the scores use) and one split per bag set."""
    df: pd.DataFrame
    y: np.ndarray
    schema: Schema
    metric: Metric
    labels: LabelCodec
    task: Task
    weight: np.ndarray | None
    eval_weight: np.ndarray | None
    fold_sets: list


def learning_problem(p, df: pd.DataFrame, is_tuning: np.ndarray, rows, n_folds: int, progress: Progress) -> Problem:
    """The predictor `p`'s settings (label, column types, problem type, metric, positive class, seed)
    applied to the training rows; `rows` (a RowOptions) says how to weigh and split them."""
    labelled, is_tuning, kept, schema, metric, labels = understand(
        df, is_tuning, p.label, p.column_types, p.problem_type, p.eval_metric, progress, p.positive_class, rows.aside())
    y = labels.encode_training(labelled[p.label])
    weight, group_ids = rows.weights(df, kept), rows.group_ids(df, kept)
    fold_sets = rows.splits(y, schema.problem_type, n_folds, p.seed, kept, len(df), is_tuning, group_ids)
    task = Task(schema.problem_type, len(labels.classes_), metric, p.seed, cores(p.num_threads))
    return Problem(labelled, y, schema, metric, labels, task, weight, weight if p.weight_evaluation else None,
                   fold_sets)


# ---- settings ------------------------------------------------------------------------------------
# AutoGluon's model type names
MODEL_ALIASES = {"GBM": "lightgbm", "CAT": "catboost", "XGB": "xgboost", "LR": "linear"}


def _model_names(arg: str, names) -> list[str]:
    names = [names] if isinstance(names, str) else list(names or [])
    out = [MODEL_ALIASES.get(n, n) for n in names]
    unknown = [n for n, m in zip(names, out) if m not in REGISTRY]
    if unknown:
        raise ValueError(f"{arg} names unknown models {unknown}; known models: {sorted(REGISTRY)} "
                         f"(or AutoGluon's {sorted(MODEL_ALIASES)})")
    return out


def choose_models(hyperparameters: dict | None, preset: Preset, included=None, excluded=None
                  ) -> tuple[list[str], list[str]]:
    """(layer-1 models, stackers): the ones named in `hyperparameters`, else the preset's that are
    installed; then only the `included` ones, without the `excluded` ones."""
    models, stackers = _choose(hyperparameters, preset)
    inc, exc = _model_names("included_model_types", included), _model_names("excluded_model_types", excluded)
    keep = [m for m in models if (not inc or m in inc) and m not in exc]
    if not keep:
        raise ValueError(f"no model is left to train: the models {models} minus excluded_model_types "
                         f"{exc or '[]'}, within included_model_types {inc or 'all'}")
    return keep, [m for m in stackers if (not inc or m in inc) and m not in exc] or ([] if not stackers else keep[:1])


def _choose(hyperparameters: dict | None, preset: Preset) -> tuple[list[str], list[str]]:
    if hyperparameters is not None:
        unknown = [k for k in hyperparameters if k not in REGISTRY]
        if unknown:
            raise ValueError(f"hyperparameters names unknown models {unknown}; known models: {sorted(REGISTRY)}")
        for name in hyperparameters:
            model_class(name)  # says what to install when the library is missing
        chosen = list(hyperparameters)
        return chosen, [m for m in preset.stack_models if m in chosen] or chosen[:1]
    models = [m for m in preset.models if is_available(m)]
    return models, [m for m in preset.stack_models if is_available(m)]


def neural_settings(preset: Preset, models: list[str], hyperparameters, embeddings, plan: TimePlan, device: str,
                    backbones: tuple[str | None, str | None], image_dir, threads: int, progress: Progress,
                    text_tier: str = "auto", has_text: bool = True):
    """The models kept, the embedding settings and every model's parameters: the fusion nets share the
    backbones, and fine-tune them when there is a GPU. Frozen nets train on the embeddings, so they
    are left out (with a message) when the embeddings are off or the time limit is too short for them."""
    if text_tier not in TEXT_TIERS:
        raise ValueError(f"text_tier={text_tier!r} is not known; use one of {TEXT_TIERS}")
    readers = [m for m in models if REGISTRY[m].text_tokens]
    if readers and not has_text and len(models) > len(readers):
        progress.say(2, f"{', '.join(readers)} left out: they read text, and the table has no text column")
        models = [m for m in models if m not in readers]
    neural = [m for m in models if is_neural(m)]
    gpu = gpu_available(device) if neural else False  # no torch import unless a net is chosen
    text_bb, image_bb = preset.gpu_backbones if gpu else DEFAULT_BACKBONES
    text_bb, image_bb = backbones[0] or text_bb, backbones[1] or image_bb
    # a model's parameters; for a list (several configurations) those the fit sets for all of them
    hp = {k: dict(v) if isinstance(v, dict) else {} for k, v in (hyperparameters or {}).items()}
    for m in neural:
        hp[m] = {"finetune": gpu and not REGISTRY[m].text_tokens, "text_backbone": text_bb,
                 "image_backbone": image_bb, "device": device, **hp.get(m, {})}
    wanted = preset.embeddings if embeddings is None else bool(embeddings)
    frozen = [m for m in neural if hp[m].get("finetune") is False]
    if frozen and embeddings is None:
        wanted = True  # the preset's frozen nets train on the embeddings
    if wanted and not plan.embeddings_fit:
        progress.say(1, f"embeddings skipped: time_limit={plan.time_limit:g}s leaves {plan.embed_budget:.1f}s "
                        f"for them, less than the {plan.min_embed_s:.0f}s it takes to load the backbones "
                        f"(give time_limit >= {plan.min_embed_s / plan.embed_share:.0f})")
        wanted = False
    if frozen and not wanted:
        progress.say(1, f"leaving out {frozen}: on this machine they train on the embeddings, which are off")
        models = [m for m in models if m not in frozen]
    finetuned = any(hp[m].get("finetune") for m in neural) or any(
        c.get("finetune") for m in neural for c in (hyperparameters or {}).get(m, {}) if isinstance(c, dict))
    settings = EmbeddingSettings(text_bb, image_bb, image_dir, num_threads=threads, device=device, text_tier=text_tier,
                                 raw_text=finetuned or any(REGISTRY[m].text_tokens for m in neural),
                                 table_text=finetuned) if wanted else None
    return models, settings, hp


def check_parallel_args(num_workers, ray_address, tune, hyperparameters):
    """Before any long work: the arguments make sense and what they need is installed."""
    if num_workers != "auto" and not (isinstance(num_workers, int) and num_workers >= 1):
        raise ValueError(f"num_workers must be 'auto' or a whole number >= 1, not {num_workers!r}")
    if ray_address is not None:
        if not isinstance(ray_address, str) or not ray_address:
            raise ValueError(f"ray_address must be 'auto', 'local' or 'ray://host:port', not {ray_address!r}")
        from .execution.ray_cluster import require_ray
        require_ray()
    if tune is not None:
        require_optuna()
    spaces = [m for m, given in (hyperparameters or {}).items()
              if any(has_space(p) for p in (given if isinstance(given, (list, tuple)) else [given]))]
    if spaces and tune is None:
        raise ValueError(f"hyperparameters of {spaces} hold search spaces: pass hyperparameter_tune=True to "
                         "search them, or give plain values")


# ---- layers --------------------------------------------------------------------------------------
def fit_layers(spec: RoundSpec, problem: Problem, X: FeatureSet, executor, progress: Progress, timings: dict,
               device: str, on_model=None, failures: dict | None = None) -> list[BaggedModel]:
    """Layer 1 of spec.models on the features, then (with spec.stack_models) layer 2 on its out-of-fold
    predictions. The models that failed go to `failures` ({name: {"error", "traceback"}}).

    problem.fold_sets: one split per bag set. The first set has layer 1's whole time; each further set
    (new fold seeds, its models averaged into the same bags) runs while the time left allows one more
    like it."""
    models, stack_models, plan, deadline, hp, tune = (spec.models, spec.stack_models, spec.plan, spec.deadline,
                                                      spec.hp, spec.tune)
    y, fold_sets, task, eval_weight = problem.y, problem.fold_sets, problem.task, problem.eval_weight
    folds = fold_sets[0]
    if executor.slots > 1:
        progress.say(1, f"fitting up to {executor.slots} folds at once ({executor.backend})")
    # one fusion net at a time on a GPU: two would fight over its memory
    nets = {m for m in models if is_neural(m)}
    one_at_a_time = nets if nets and gpu_available(device) else set()
    layer1_deadline = plan.layer_deadline(deadline, bool(stack_models))
    t0 = time.monotonic()
    failures = {} if failures is None else failures
    bags = fit_layer(list(spec.configs) or models, X, y, folds, task, layer1_deadline, 1, progress, hp, executor,
                     tune, one_at_a_time, on_model, failures, plan, eval_weight)
    set_seconds = time.monotonic() - t0
    for s, more_folds in enumerate(fold_sets[1:], start=2):
        if not bags or not plan.another_bag_set(layer1_deadline, set_seconds):
            progress.say(1, f"stopping after {s - 1} of {len(fold_sets)} bag sets: the next would take about "
                            f"{set_seconds:.0f}s, {max(0.0, layer1_deadline - time.monotonic()):.0f}s are left")
            break
        progress.say(1, f"bag set {s} of {len(fold_sets)}")
        more = fit_layer([config_of(b) for b in bags], X, y, more_folds, task, layer1_deadline, 1, progress, hp, executor,
                         None, one_at_a_time, None, {}, plan, eval_weight)
        bags = merge_sets(bags, more, y, folds, task, eval_weight)
        if on_model is not None and more:
            on_model(None)  # save what the new set added
    timings["layer1"] = time.monotonic() - t0
    if not bags:
        why = "; ".join(f"{k}: {v['error']}" for k, v in failures.items())
        raise RuntimeError(f"no model could be trained: {why or 'the time limit ran out'}"
                           + ("" if failures else "; give a larger time_limit"))
    if stack_models and time.monotonic() >= deadline:
        progress.say(1, "skipping the stacking layer: the time limit is reached")
    elif stack_models:
        t0 = time.monotonic()
        Xs = stack_view(X, [b.oof for b in bags], [b.name for b in bags], task, fill_missing=True)
        stackers = fit_layer(stack_models, Xs, y, folds, task, deadline, 2, progress, hp, executor,
                             on_model=on_model, plan=plan, failures=failures, eval_weight=eval_weight)
        bags += [replace(b, inputs=[m.name for m in bags]) for b in stackers]
        timings["layer2"] = time.monotonic() - t0
    return bags


def select_ensemble(bags: list[BaggedModel], y: np.ndarray, folds, task: Task, eval_weight=None,
                    at_best_cut: bool = False) -> FittedEnsemble:
    """Caruana selection on the rows the folds validated, and the blend's validation score (at 0.5)."""
    rows = covered(folds)
    w = None if eval_weight is None else eval_weight[rows]
    weights = ensemble_selection([b.oof[rows] for b in bags], y[rows], task, sample_weight=w, at_best_cut=at_best_cut)
    blend = sum(wt * b.oof[rows] for b, wt in zip(bags, weights))
    return FittedEnsemble(list(bags), {b.name: float(wt) for b, wt in zip(bags, weights)}, task,
                          val_score=task.metric.score(y[rows], blend, w))


# ---- one round: the features, the layers and the ensemble -----------------------------------------
def fit_round(state: FittedState, problem: Problem, spec: RoundSpec, settings, embed_budget, progress: Progress,
              start: float, seed: int, device: str, checkpoint=None, wanted=None,
              features_out: dict | None = None) -> FittedState | None:
    """`state` with this round's features, models and ensemble. checkpoint(state): told the state after
    each finished model (to save as it goes). wanted(pipeline): a check of the fitted features; when it
    says no, the round stops there and returns None. features_out: given the round's training features,
    keyed by id(pipeline), for more models on them later (anytime.py)."""
    df, y, task, eval_weight, folds = problem.df, problem.y, problem.task, problem.eval_weight, problem.fold_sets[0]
    failures: dict[str, dict] = {}
    # the workers start while the features are computed
    with make_executor(spec.num_workers, spec.ray_address, task.num_threads, lambda m: progress.say(1, m),
                       spec.executor) as executor:
        t0 = time.monotonic()
        pipeline = FeaturePipeline(problem.schema, seed=seed, embeddings=settings)
        X = pipeline.fit_transform(df.reset_index(drop=True), embed_budget, lambda msg: progress.say(1, msg),
                                   deadline=spec.deadline, budget=spec.plan.feature_budget).with_weight(problem.weight)
        progress.say(1, f"features: {X.dense.shape[1]} for trees, {X.linear.shape[1]} for linear models "
                        f"({time.monotonic() - t0:.1f}s)")
        if wanted is not None and not wanted(pipeline):
            return None
        X = executor.adopt(X)
        if features_out is not None:
            features_out[id(pipeline)] = X
        release()  # the heap copy of the features, and a distilled backbone's weights, go back to the OS
        timings = {"features": time.monotonic() - t0}
        state = replace(state, pipeline=pipeline, failures=failures)
        finished: list[BaggedModel] = []

        def on_model(bag: BaggedModel | None):
            if bag is not None:
                finished.append(bag)
            if checkpoint is not None:
                checkpoint(replace(state, ensembles=Ensembles(select_ensemble(finished, y, folds, task, eval_weight,
                                                                              spec.cut)),
                                   fit_time=time.monotonic() - start))

        bags = fit_layers(spec, problem, X, executor, progress, timings, device, on_model, failures)
    for bag in bags:  # the workers are gone: the models come out of their bytes here, not in the first predict
        bag.models = [unpacked(m) for m in bag.models]
    parallel = {"backend": executor.backend, "slots": executor.slots, "max_running": executor.max_running,
                **({"node_retries": executor.node_retries} if hasattr(executor, "node_retries") else {})}
    return replace(state, parallel=parallel, timings={k: round(v, 2) for k, v in timings.items()},
                   ensembles=Ensembles(select_ensemble(bags, y, folds, task, eval_weight, spec.cut)),
                   fit_time=time.monotonic() - start)
