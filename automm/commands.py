"""What each `automm` command does, given its parsed arguments (cli.py builds the parser and reports
errors). Files are checked before any long work, and every message is printed once."""
from __future__ import annotations

import json
import sys
from pathlib import Path


class UsageError(ValueError):
    """A command line that cannot work; reported in one line with exit status 2."""


def _read(path: str, what: str = "data"):
    from .validation import read_table
    return read_table(path, what)


def _check_out_file(path: str | None) -> None:
    """Before any long work: an output file can be written there."""
    if path is None or path == "-":
        return
    p = Path(path)
    if p.is_dir():
        raise UsageError(f"--out {path!r} is a folder; give a file name such as {str(p / 'predictions.csv')!r}")
    parent = next((q for q in p.resolve().parents if q.exists()), None)
    if parent is not None and not parent.is_dir():
        raise UsageError(f"--out {path!r}: {str(parent)!r} is a file, not a folder")


def _write(df, path: str | None, index: bool = False):
    if path is None or path == "-":
        df.to_csv(sys.stdout, index=index)
        return
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    if p.suffix.lower() in (".parquet", ".pq"):
        df.to_parquet(p, index=index)
    else:
        df.to_csv(p, index=index)
    print(f"wrote {len(df)} rows to {p}", file=sys.stderr)


def _column_types(pairs: list[str] | None) -> dict[str, str] | None:
    if not pairs:
        return None
    out = {}
    for pair in pairs:
        name, sep, kind = pair.rpartition("=")
        if not sep or not name:
            raise UsageError(f"--column-type takes COLUMN=TYPE, not {pair!r}")
        out[name] = kind
    return out


def _names(values: list[str] | None) -> list[str] | None:
    """A list flag given repeated or comma-separated (--excluded-model-types catboost,xgboost)."""
    return None if not values else [v.strip() for item in values for v in item.split(",") if v.strip()]


def _json_arg(value: str | None, flag: str):
    """A JSON value given inline or as the path of a .json file."""
    if value is None:
        return None
    text = Path(value).read_text() if not value.lstrip().startswith(("{", "[")) and Path(value).is_file() else value
    try:
        return json.loads(text)
    except ValueError as exc:
        raise UsageError(f"{flag} takes JSON ({{\"lightgbm\": {{\"num_leaves\": 63}}}}) or a .json file, "
                         f"not {value!r}: {exc}") from None


def _threshold(value: str):
    low = value.lower()
    return {"auto": "auto", "true": True, "false": False}.get(low, value)  # else a metric name


def _image_dir(a, data_file: str) -> str:
    """Relative image paths in a table start from its own folder unless --image-dir says otherwise."""
    return a.image_dir or str(Path(data_file).resolve().parent)


def _positive_int(value: str, flag: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise UsageError(f"{flag} must be 'auto' or a whole number of at least 1, not {value!r}")
    return int(value)


# ---- fit ---------------------------------------------------------------------------------------
def cmd_fit(a):
    from .persistence import check_target
    from .predictor import MultimodalPredictor
    check_target(a.out, a.overwrite)  # refused now, not after an hour of fitting
    hyperparameters = _json_arg(a.hyperparameters, "--hyperparameters")
    train = _read(a.train, "--train")
    test = _read(a.test, "--test") if a.test else None
    folds = None
    if a.folds:  # a fold number per row, from a column that is then no feature
        if a.folds not in train.columns:
            raise UsageError(f"--folds {a.folds!r} is not a column of --train; its columns are {list(train.columns)}")
        folds, train = train[a.folds].to_numpy(), train.drop(columns=[a.folds])
    # the model is saved to --out as it goes (each finished model), so a crash keeps what finished
    p = MultimodalPredictor(label=a.label, problem_type=a.problem_type, eval_metric=a.eval_metric,
                            column_types=_column_types(a.column_type), verbosity=a.verbosity, seed=a.seed,
                            num_threads=a.num_threads, image_dir=_image_dir(a, a.train), text_backbone=a.text_backbone,
                            image_backbone=a.image_backbone, device=a.device, path=a.out,
                            sample_weight=a.sample_weight, weight_evaluation=a.weight_evaluation, groups=a.groups,
                            positive_class=a.positive_class, text_tier=a.text_tier,
                            progress_bar=a.progress_bar)
    tuning = _read(a.tuning, "--tuning") if a.tuning else None
    tune = None
    if a.tune or a.tune_trials or a.tune_storage:
        tune = {k: v for k, v in (("num_trials", a.tune_trials), ("storage", a.tune_storage)) if v is not None} or True
    workers = a.workers if a.workers == "auto" else _positive_int(a.workers, "--workers")
    p.fit(train, time_limit=a.time_limit, presets=a.presets, tuning_data=tuning, hyperparameters=hyperparameters,
          num_bag_folds=a.num_bag_folds, num_stack_levels=a.num_stack_levels, embeddings=a.embeddings,
          hyperparameter_tune=tune, num_workers=workers, ray_address=a.ray_address, overwrite=a.overwrite,
          folds=folds, holdout_frac=a.holdout_frac, num_bag_sets=a.num_bag_sets,
          included_model_types=_names(a.included_model_types), excluded_model_types=_names(a.excluded_model_types),
          calibrate_decision_threshold=_threshold(a.calibrate_decision_threshold), infer_limit=a.infer_limit,
          infer_limit_batch_size=a.infer_limit_batch_size, second_round=a.second_round)
    if a.refit_full:
        p.refit_full()
        p.save(a.out, overwrite=True)
    if a.verbosity < 1:  # the log said it already otherwise
        print(f"saved the model to {a.out}", file=sys.stderr)
    if test is not None:
        p.image_dir = _image_dir(a, a.test)
        print(json.dumps(p.evaluate(test), indent=1))


# ---- a saved model ------------------------------------------------------------------------------
def _load(a):
    from .predictor import MultimodalPredictor
    p = MultimodalPredictor.load(a.model, require_version_match=not getattr(a, "no_version_check", False))
    data = getattr(a, "data", None) or getattr(a, "train", None)
    if data:
        p.image_dir = _image_dir(a, data)
    return p


def cmd_predict(a):
    _check_out_file(a.out)
    data = _read(a.data, "--data")
    p = _load(a)
    if a.fast:
        p.set_inference("refit")
    _write(p.submission(data, a.id_column, a.proba, as_multiclass=a.all_classes), a.out)


def cmd_refit(a):
    train = _read(a.train, "--train")
    p = _load(a)
    p.refit_full(train)
    p.save(a.model, overwrite=True)  # written beside it first, then swapped in whole
    print(f"refit {len(p.models_full_)} models on all rows; saved to {a.model}", file=sys.stderr)


def cmd_evaluate(a):
    data = _read(a.data, "--data")
    print(json.dumps(_load(a).evaluate(data), indent=1))


def cmd_leaderboard(a):
    _check_out_file(a.out)
    data = _read(a.data, "--data") if a.data else None
    board = _load(a).leaderboard(data)
    if a.out:
        _write(board, a.out)
    else:
        import pandas as pd
        with pd.option_context("display.width", 200, "display.max_columns", 20):
            print(board.to_string(index=False))


def cmd_info(a):
    p = _load(a)
    print(json.dumps(p.info(), indent=1, default=str) if a.json else p.fit_summary())


def cmd_importance(a):
    _check_out_file(a.out)
    data = _read(a.data, "--data")
    table = _load(a).feature_importance(data, num_shuffle_sets=a.shuffle_sets, subsample_size=a.subsample,
                                        time_limit=a.time_limit)
    _write(table.rename_axis("column").reset_index(), a.out)


def cmd_explain(a):
    """The contributions of the first --rows rows, with each row's base and prediction beside them."""
    _check_out_file(a.out)
    data = _read(a.data, "--data")
    ex = _load(a).explain(data, rows=data.index[: a.rows], time_limit=a.time_limit, importance=False,
                          dependence=False, method=a.method)
    table = ex.contributions.assign(base=ex.base, prediction=ex.prediction)
    _write(table.rename_axis("row").reset_index(), a.out)
    print(f"explained {ex.explained} for {len(table)} rows ({ex.method}); the contributions plus base equal the "
          f"prediction within {ex.additivity_error():.1e}", file=sys.stderr)


def cmd_report(a):
    _check_out_file(a.out)
    data = _read(a.data, "--data") if a.data else None
    path = _load(a).report(a.out, data=data, time_limit=a.time_limit)
    print(f"wrote {path}", file=sys.stderr)


def cmd_embed(a):
    import pandas as pd
    _check_out_file(a.out)
    data = _read(a.data, "--data")
    p = _load(a)
    if a.id_column and a.id_column not in data.columns:
        raise UsageError(f"--id-column {a.id_column!r} is not a column of --data; its columns are {list(data.columns)}")
    parts = p.extract_embedding(data, as_dict=True)
    blocks = [pd.DataFrame(v, columns=[f"{k}_{i}" for i in range(v.shape[1])]) for k, v in parts.items()]
    table = pd.concat(([data[[a.id_column]].reset_index(drop=True)] if a.id_column else []) + blocks, axis=1)
    _write(table, a.out)


def cmd_distill(a):
    from .persistence import check_target
    check_target(a.out, a.overwrite)
    train = _read(a.train, "--train")
    student = _load(a).distill(train, time_limit=a.time_limit, augment_factor=a.augment_factor)
    student.save(a.out, overwrite=a.overwrite)
    print(f"saved the distilled model to {a.out}", file=sys.stderr)


def cmd_slim(a):
    """A copy with only the models predict uses; in place unless --out."""
    out = a.out or a.model
    if a.out and not a.archive:
        from .persistence import check_target
        check_target(a.out, a.overwrite)
    p = _load(a)
    before = p.model_names()
    path = p.clone_for_deployment(out, overwrite=a.overwrite or out == a.model, archive=a.archive)
    from .predictor import MultimodalPredictor
    kept = MultimodalPredictor.load(path).model_names()
    print(f"kept {len(kept)} of {len(before)} models ({', '.join(kept)}); saved to {path}", file=sys.stderr)


def cmd_cache(a):
    import shutil

    from .features.embeddings import cache_dir
    from .features.static_text import static_dir
    from .features.vector_cache import summary
    from .persistence import cache_root
    folders = {"embeddings": cache_dir(), "static": static_dir(), "backbones": cache_root() / "backbones",
               "datasets": cache_root() / "datasets"}
    if a.action == "info":
        out = {}
        for name, folder in folders.items():
            if not isinstance(folder, Path):
                out[name] = {"folder": folder}
                continue
            files = [f for f in folder.rglob("*") if f.is_file()] if folder.is_dir() else []
            out[name] = {"folder": str(folder), "bytes": sum(f.stat().st_size for f in files), "files": len(files)}
        if isinstance(folders["embeddings"], Path):
            out["embeddings"]["entries"] = summary(folders["embeddings"])["entries"]
        print(json.dumps(out, indent=1))
        return
    chosen = list(folders) if a.what == "all" else [a.what]
    for name in chosen:
        folder = folders[name]
        if isinstance(folder, Path) and folder.is_dir():
            shutil.rmtree(folder)
            print(f"removed the {name} cache {folder}", file=sys.stderr)


def cmd_serve(a):
    from .serving import ServeSettings, serve
    if not 0 <= a.port <= 65535:
        raise UsageError(f"--port must be between 0 and 65535, not {a.port}")
    for flag, value in (("--workers", a.workers), ("--max-rows", a.max_rows), ("--threads", a.threads or 1)):
        if value < 1:
            raise UsageError(f"{flag} must be at least 1, not {value}")
    if a.max_body_mb <= 0:
        raise UsageError(f"--max-body-mb must be more than 0, not {a.max_body_mb}")
    serve(ServeSettings(a.model, a.host, a.port, a.workers, a.max_body_mb, a.max_rows, a.threads, a.access_log))
