"""`automm fit | refit | predict | evaluate | leaderboard | info | benchmark` from the shell; CSV and Parquet
in and out."""
from __future__ import annotations

import argparse
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


def _image_dir(a, data_file: str) -> str:
    """Relative image paths in a table start from its own folder unless --image-dir says otherwise."""
    return a.image_dir or str(Path(data_file).resolve().parent)


def cmd_fit(a):
    from .persistence import check_target
    from .predictor import MultimodalPredictor
    check_target(a.out, a.overwrite)  # refused now, not after an hour of fitting
    train = _read(a.train, "--train")
    test = _read(a.test, "--test") if a.test else None
    # the model is saved to --out as it goes (each finished model), so a crash keeps what finished
    p = MultimodalPredictor(label=a.label, problem_type=a.problem_type, eval_metric=a.eval_metric,
                            column_types=_column_types(a.column_type), verbosity=a.verbosity, seed=a.seed,
                            image_dir=_image_dir(a, a.train), text_backbone=a.text_backbone,
                            image_backbone=a.image_backbone, path=a.out, text_tier=a.text_tier)
    tuning = _read(a.tuning, "--tuning") if a.tuning else None
    tune = None
    if a.tune or a.tune_trials or a.tune_storage:
        tune = {k: v for k, v in (("num_trials", a.tune_trials), ("storage", a.tune_storage)) if v is not None} or True
    workers = a.workers if a.workers == "auto" else _positive_int(a.workers, "--workers")
    p.fit(train, time_limit=a.time_limit, presets=a.presets, tuning_data=tuning, hyperparameter_tune=tune,
          num_workers=workers, ray_address=a.ray_address, overwrite=a.overwrite)
    if a.refit_full:
        p.refit_full()
        p.save(a.out, overwrite=True)
    print(f"saved the model to {a.out}", file=sys.stderr)
    if test is not None:
        p.image_dir = _image_dir(a, a.test)
        print(json.dumps(p.evaluate(test), indent=1))


def _load(a):
    from .predictor import MultimodalPredictor
    p = MultimodalPredictor.load(a.model)
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


def build_parser() -> argparse.ArgumentParser:
    """`benchmark` is handed to automm.bench.runner whole (see main)."""
    ap = argparse.ArgumentParser(prog="automm", description=__doc__)
    ap.add_argument("--version", action="version", version=f"automm {_version()}")
    ap.add_argument("--log-file", default=None, help="also write the log to this file")
    sub = ap.add_subparsers(dest="command", required=True)
    defaults = argparse.ArgumentDefaultsHelpFormatter  # each option's default shown in its help

    f = sub.add_parser("fit", help="train a model and save it to a directory", formatter_class=defaults)
    f.add_argument("--train", required=True, help="training data, CSV or Parquet")
    f.add_argument("--label", required=True, help="the column to predict")
    f.add_argument("--out", required=True, help="directory to save the model in")
    f.add_argument("--time-limit", type=float, default=None, help="seconds of wall clock for the whole fit")
    f.add_argument("--presets", default="medium", help="fast, medium, best or best_tuned (best with a hyperparameter search)")
    f.add_argument("--eval-metric", default=None)
    f.add_argument("--problem-type", default=None, choices=["binary", "multiclass", "regression"])
    f.add_argument("--column-type", action="append", metavar="COLUMN=TYPE",
                   help="override a column's type (numeric, categorical, text, image, image_list, datetime, ignore)")
    f.add_argument("--tuning", default=None, help="validation data for a non-bagged fit")
    f.add_argument("--test", default=None, help="labelled data to evaluate on after fitting")
    f.add_argument("--seed", type=int, default=0)
    f.add_argument("--verbosity", type=int, default=2)
    f.add_argument("--overwrite", action="store_true", help="replace a model already saved at --out")
    f.add_argument("--refit-full", action="store_true", help="also refit the chosen models on all rows")
    f.add_argument("--text-backbone", default=None, help="minilm, mpnet, a local checkpoint folder or a Hub id")
    f.add_argument("--image-backbone", default=None, help="efficientnet-lite0, -lite1 or -lite2")
    f.add_argument("--text-tier", default="auto", choices=("auto", "static", "transformer"),
                   help="static: token vectors distilled from the text backbone (fast, every row); transformer: "
                        "the backbone itself when it fits the time limit; auto: transformer on a GPU only")
    f.add_argument("--image-dir", default=None, help="folder relative image paths start from (default: the CSV's)")
    f.add_argument("--tune", action="store_true", help="search each model's hyperparameters (Optuna) within its time")
    f.add_argument("--tune-trials", type=int, default=None, help="at most this many search trials per model")
    f.add_argument("--tune-storage", default=None,
                   help="Optuna storage URL (sqlite:///search.db) to resume or share the search")
    f.add_argument("--workers", default="auto", help="fold fits at once in local processes: auto or a number")
    f.add_argument("--ray-address", default=None, help="run the fold fits on Ray: auto, local or ray://host:port")
    f.set_defaults(run=cmd_fit)

    r = sub.add_parser("refit", help="refit a saved model's ensemble on all its training rows", formatter_class=defaults)
    r.add_argument("--model", required=True, help="directory of a saved model (updated in place)")
    r.add_argument("--train", required=True, help="the training data it was fitted on")
    r.add_argument("--image-dir", default=None, help="folder relative image paths start from (default: the CSV's)")
    r.set_defaults(run=cmd_refit)

    for name, fn, hlp in (("predict", cmd_predict, "predict with a saved model"),
                          ("evaluate", cmd_evaluate, "score a saved model on labelled data"),
                          ("leaderboard", cmd_leaderboard, "each model's scores and speed"),
                          ("info", cmd_info, "what a saved model is and how it was trained")):
        p = sub.add_parser(name, help=hlp, formatter_class=defaults)
        p.add_argument("--model", required=True, help="directory of a saved model")
        if name in ("predict", "evaluate"):
            p.add_argument("--data", required=True, help="CSV or Parquet")
        if name == "leaderboard":
            p.add_argument("--data", default=None, help="labelled CSV or Parquet for test scores")
        if name == "info":
            p.add_argument("--json", action="store_true", help="everything as JSON instead of the summary to read")
        if name != "info":
            p.add_argument("--image-dir", default=None, help="folder relative image paths start from (default: the CSV's)")
        if name in ("predict", "leaderboard"):
            p.add_argument("--out", default=None, help="CSV or Parquet file (default: standard output)")
        if name == "predict":
            p.add_argument("--proba", action="store_true",
                           help="class probabilities: for a binary label the positive class's only")
            p.add_argument("--all-classes", action="store_true", help="with --proba: one column per class, binary too")
            p.add_argument("--id-column", default=None, help="copy this column first, as in a submission file")
            p.add_argument("--fast", action="store_true", help="use the refit-full models (see automm refit)")
        p.set_defaults(run=fn)
    sub.add_parser("benchmark", help="run the benchmark against AutoGluon (automm benchmark --help)", add_help=False)
    return ap


def _version() -> str:
    from . import __version__
    return __version__


def _positive_int(value: str, flag: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise UsageError(f"{flag} must be 'auto' or a whole number of at least 1, not {value!r}")
    return int(value)


INTERRUPTED = "automm: interrupted; nothing was saved that was not already complete"


def main(argv: list[str] | None = None) -> int:
    """The command line. Nothing heavy is imported before this function runs (automm's package and this
    module import only the standard library), so that Ctrl-C at any moment after Python itself has
    started, the heavy imports included, ends in one line and exit status 130."""
    import signal
    interrupted = _watch_interrupts()
    try:
        code = _main(sys.argv[1:] if argv is None else argv, interrupted)
    except KeyboardInterrupt:
        print(INTERRUPTED, file=sys.stderr)
        code = 130
    except BaseException:
        if not interrupted:  # an interrupt that a library re-raised as its own error (numpy: ImportError)
            raise
        print(INTERRUPTED, file=sys.stderr)
        code = 130
    if argv is not None:
        if interrupted is not None:
            signal.signal(signal.SIGINT, signal.default_int_handler)  # a caller's process gets its own back
        return code
    # the console command: a second Ctrl-C while Python shuts down would print a traceback
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if code == 130:
        _exit_interrupted()
    return code


def _exit_interrupted():
    """Exit status 130 for certain. An interrupt raised inside Python code that a C extension ran on import
    (PyRun_*) marks the interpreter, which then kills itself with SIGINT at exit (status -2) even though
    the interrupt was handled; so the exit handlers run here and the process ends with os._exit."""
    import atexit
    import os
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(130)


def _watch_interrupts() -> list | None:
    """A SIGINT handler that raises KeyboardInterrupt as Python's does and remembers that it did (the list
    is not empty then; None: the handler was left alone), so that an interrupt another library caught
    and re-raised as something else is still reported as one."""
    import signal
    import threading
    if threading.current_thread() is not threading.main_thread() or \
            signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        return None  # a caller that handles SIGINT itself keeps its handler
    seen: list = []

    def on_interrupt(signum, frame):
        seen.append(signum)
        raise KeyboardInterrupt
    signal.signal(signal.SIGINT, on_interrupt)
    return seen


def _main(argv: list[str], interrupted) -> int:
    if argv[:1] == ["benchmark"]:
        from .bench.runner import main as benchmark
        return benchmark(argv[1:])
    args = build_parser().parse_args(argv)
    log_file = None
    if args.log_file:
        from .progress import log_to_file
        log_file = log_to_file(args.log_file)
    try:
        return _run(args, interrupted)
    finally:
        if log_file is not None:
            from .progress import LOGGER
            LOGGER.removeHandler(log_file)
            log_file.close()


def _run(args, interrupted=None) -> int:
    try:
        args.run(args)  # a KeyboardInterrupt goes up to main, which reports it
    # every failure the user can act on is one line naming what to change, with exit status 2
    except (ValueError, KeyError, TypeError, ImportError, ConnectionError, OSError, RuntimeError) as exc:
        if interrupted:  # a library turned the KeyboardInterrupt into its own error (numpy: ImportError)
            raise KeyboardInterrupt from exc  # main reports it
        msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"automm: error: {msg}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
