"""`automm fit | refit | predict | evaluate | leaderboard | importance | explain | report | embed | info |
distill | slim | serve | cache | benchmark` from the shell; CSV and Parquet in and out."""
from __future__ import annotations

import argparse
import os
import sys

from . import commands

DEFAULTS = argparse.ArgumentDefaultsHelpFormatter  # each option's default shown in its help


def build_parser() -> argparse.ArgumentParser:
    """`benchmark` is handed to automm.bench.runner whole (see main)."""
    ap = argparse.ArgumentParser(prog="automm", description=__doc__)
    ap.add_argument("--version", action="version", version=f"automm {_version()}")
    ap.add_argument("--log-file", default=None, help="also write the log to this file")
    ap.add_argument("--traceback", action="store_true", help="on an error, the full stack (also AUTOMM_DEBUG=1)")
    sub = ap.add_subparsers(dest="command", required=True)
    _fit_parser(sub)
    _model_parsers(sub)
    _deploy_parsers(sub)
    c = sub.add_parser("cache", help="the caches under ~/.cache/automm (or $AUTOMM_CACHE)", formatter_class=DEFAULTS)
    c.add_argument("action", choices=("info", "clear"))
    c.add_argument("--what", default="embeddings", choices=("embeddings", "static", "backbones", "datasets", "all"),
                   help="with clear: which cache")
    c.set_defaults(run=commands.cmd_cache)
    sub.add_parser("benchmark", help="run the benchmark against AutoGluon (automm benchmark --help)", add_help=False)
    return ap


def _fit_parser(sub) -> None:
    f = sub.add_parser("fit", help="train a model and save it to a directory", formatter_class=DEFAULTS)
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
    f.add_argument("--progress-bar", action=argparse.BooleanOptionalAction, default=None,
                   help="a bar over the embedding passes (default: none outside a notebook)")
    f.add_argument("--overwrite", action="store_true", help="replace a model already saved at --out")
    f.add_argument("--refit-full", action="store_true", help="also refit the chosen models on all rows")
    f.add_argument("--text-backbone", default=None, help="minilm, mpnet, a local checkpoint folder or a Hub id")
    f.add_argument("--image-backbone", default=None, help="efficientnet-lite0, -lite1 or -lite2")
    f.add_argument("--text-tier", default="auto", choices=("auto", "static", "transformer"),
                   help="static: token vectors distilled from the text backbone (fast, every row); transformer: "
                        "the backbone itself when it fits the time limit; auto: transformer on a GPU only")
    f.add_argument("--image-dir", default=None, help="folder relative image paths start from (default: the CSV's)")
    f.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    f.add_argument("--num-threads", type=int, default=None, help="threads for the models (default: every core)")
    _fit_plan_options(f)
    f.set_defaults(run=commands.cmd_fit)


def _fit_plan_options(f) -> None:
    """The options of Python's fit() beyond the data and the predictor's settings."""
    f.add_argument("--hyperparameters", default=None, metavar="JSON",
                   help="{model: {param: value}} inline or a .json file; the models named are those trained")
    f.add_argument("--included-model-types", action="append", metavar="NAMES", help="only these models (comma list)")
    f.add_argument("--excluded-model-types", action="append", metavar="NAMES", help="leave these models out")
    f.add_argument("--num-bag-folds", type=int, default=None, help="0: one hold-out split; k >= 2: k-fold bagging")
    f.add_argument("--num-stack-levels", type=int, default=None, help="0 or 1")
    f.add_argument("--num-bag-sets", type=int, default=1, help="repeat the k-fold bagging with new fold seeds")
    f.add_argument("--holdout-frac", type=float, default=0.2, help="the validation share of a fit without bagging")
    f.add_argument("--embeddings", action=argparse.BooleanOptionalAction, default=None,
                   help="frozen text and image embeddings as features (default: the preset's)")
    f.add_argument("--second-round", action=argparse.BooleanOptionalAction, default=None,
                   help="spend time left over on the transformer text tier and larger images (default: the preset's)")
    f.add_argument("--sample-weight", default=None, metavar="COLUMN", help="a column of row weights")
    f.add_argument("--weight-evaluation", action=argparse.BooleanOptionalAction, default=True,
                   help="weigh validation scores by --sample-weight too")
    f.add_argument("--groups", default=None, metavar="COLUMN", help="rows of a group stay in one fold")
    f.add_argument("--folds", default=None, metavar="COLUMN", help="a fold number per row (the column is no feature)")
    f.add_argument("--positive-class", default=None, help="the positive class of a binary label")
    f.add_argument("--calibrate-decision-threshold", default="auto", metavar="auto|true|false|METRIC")
    f.add_argument("--infer-limit", type=float, default=None, help="seconds per row that predict may take at most")
    f.add_argument("--infer-limit-batch-size", type=int, default=1000)
    f.add_argument("--tune", action="store_true", help="search each model's hyperparameters (Optuna) within its time")
    f.add_argument("--tune-trials", type=int, default=None, help="at most this many search trials per model")
    f.add_argument("--tune-storage", default=None,
                   help="Optuna storage URL (sqlite:///search.db) to resume or share the search")
    f.add_argument("--workers", default="auto", help="fold fits at once in local processes: auto or a number")
    f.add_argument("--ray-address", default=None, help="run the fold fits on Ray: auto, local or ray://host:port")


def _model_option(p, data: str | None = None) -> None:
    p.add_argument("--model", required=True, help="directory or .zip of a saved model")
    p.add_argument("--no-version-check", action="store_true",
                   help="load a model saved with other major versions of automm or its libraries")
    if data:
        p.add_argument("--data", required=data == "required", help="CSV or Parquet")
    p.add_argument("--image-dir", default=None, help="folder relative image paths start from (default: the CSV's)")


def _model_parsers(sub) -> None:
    r = sub.add_parser("refit", help="refit a saved model's ensemble on all its training rows", formatter_class=DEFAULTS)
    _model_option(r)
    r.add_argument("--train", required=True, help="the training data it was fitted on")
    r.set_defaults(run=commands.cmd_refit)
    for name, fn, hlp, data in (
            ("predict", commands.cmd_predict, "predict with a saved model", "required"),
            ("evaluate", commands.cmd_evaluate, "score a saved model on labelled data", "required"),
            ("leaderboard", commands.cmd_leaderboard, "each model's scores and speed", "optional"),
            ("importance", commands.cmd_importance, "permutation importance of each input column", "required"),
            ("explain", commands.cmd_explain, "each input column's contribution to each row's prediction", "required"),
            ("report", commands.cmd_report, "the model card as one self-contained HTML file", "optional"),
            ("embed", commands.cmd_embed, "the frozen text and image embeddings of each row", "required"),
            ("info", commands.cmd_info, "what a saved model is and how it was trained", None)):
        p = sub.add_parser(name, help=hlp, formatter_class=DEFAULTS)
        _model_option(p, data)
        if name in ("predict", "leaderboard", "importance", "embed", "explain"):
            p.add_argument("--out", default=None, help="CSV or Parquet file (default: standard output)")
        if name == "report":
            p.add_argument("--out", required=True, help="the HTML file to write")
        if name in ("importance", "explain", "report"):
            p.add_argument("--time-limit", type=float, default=None if name == "importance" else 120.0,
                           help="seconds for the whole computation")
        if name == "explain":
            p.add_argument("--rows", type=int, default=100, help="explain the first ROWS rows of --data")
            p.add_argument("--method", choices=("auto", "sampling", "tree"), default="auto")
        if name == "info":
            p.add_argument("--json", action="store_true", help="everything as JSON instead of the summary to read")
        if name in ("predict", "embed"):
            p.add_argument("--id-column", default=None, help="copy this column first, as in a submission file")
        if name == "predict":
            p.add_argument("--proba", action="store_true",
                           help="class probabilities: for a binary label the positive class's only")
            p.add_argument("--all-classes", action="store_true", help="with --proba: one column per class, binary too")
            p.add_argument("--fast", action="store_true", help="use the refit-full models (see automm refit)")
        if name == "importance":
            p.add_argument("--shuffle-sets", type=int, default=5, help="shuffles per column, averaged")
            p.add_argument("--subsample", type=int, default=1000, help="rows scored at most")
        p.set_defaults(run=fn)


def _deploy_parsers(sub) -> None:
    d = sub.add_parser("distill", help="one fast model trained on a saved ensemble's predictions",
                       formatter_class=DEFAULTS)
    _model_option(d)
    d.add_argument("--train", required=True, help="the training data the ensemble was fitted on")
    d.add_argument("--out", required=True, help="directory to save the distilled model in")
    d.add_argument("--time-limit", type=float, default=None)
    d.add_argument("--augment-factor", type=float, default=1.0, help="augmented rows per training row")
    d.add_argument("--overwrite", action="store_true")
    d.set_defaults(run=commands.cmd_distill)
    s = sub.add_parser("slim", help="keep only the models predict uses (in place, or a copy with --out)",
                       formatter_class=DEFAULTS)
    _model_option(s)
    s.add_argument("--out", default=None, help="a folder (or .zip with --archive) for the copy")
    s.add_argument("--archive", action="store_true", help="write the copy as one .zip file")
    s.add_argument("--overwrite", action="store_true")
    s.set_defaults(run=commands.cmd_slim)
    v = sub.add_parser("serve", help="serve a saved model over HTTP (pip install 'automm[serve]')",
                       formatter_class=DEFAULTS)
    v.add_argument("--model", required=True, help="directory or .zip of a saved model")
    v.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: every interface)")
    v.add_argument("--port", type=int, default=8000)
    v.add_argument("--workers", type=int, default=1, help="worker processes, each with the model loaded")
    v.add_argument("--threads", type=int, default=None, help="threads per worker (default: the cores shared out)")
    v.add_argument("--max-body-mb", type=float, default=16.0, help="larger request bodies get 413")
    v.add_argument("--max-rows", type=int, default=100_000, help="requests with more rows get 413")
    v.add_argument("--access-log", action="store_true", help="log every request")
    v.set_defaults(run=commands.cmd_serve)


def _version() -> str:
    from . import __version__
    return __version__


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


# Python's words in a library message, and what a command-line user types instead
CLI_WORDS = (("pass overwrite=True", "pass --overwrite"), ("overwrite=True", "--overwrite"),
             ("call refit_full() first", "run automm refit first"),
             ("pass require_version_match=False (--no-version-check on the command line)", "pass --no-version-check"),
             ("first set_inference() to the other ensemble", "first predict with --fast (or without it)"),
             ("load(path, eval_metric=<the scorer>)", "the Python API's load(path, eval_metric=...)"))


def cli_message(exc: BaseException) -> str:
    """The message with Python's spelling of an option (problem_type='regression') as the flag that sets
    it (--problem-type regression), for the options `fit` has."""
    import re
    msg = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
    for python, cli in CLI_WORDS:
        msg = msg.replace(python, cli)
    flags = {"hyperparameter_tune": "tune", "num_workers": "workers", **{d: d for d in _fit_dests()}}

    def as_flag(m: re.Match) -> str:
        flag, value = "--" + flags[m.group(1)].replace("_", "-"), m.group(3)
        return flag if value == "True" else f"--no-{flag[2:]}" if value == "False" else f"{flag} {value}"
    return re.sub(r"\b(" + "|".join(sorted(flags, key=len, reverse=True)) + r")=(['\"]?)([^\s,;'\")]+)\2", as_flag, msg)


def _fit_dests() -> list[str]:
    fit = build_parser()._subparsers._group_actions[0].choices["fit"]
    return [a.dest for a in fit._actions if a.dest != "help"]


def _run(args, interrupted=None) -> int:
    try:
        args.run(args)  # a KeyboardInterrupt goes up to main, which reports it
    # every failure the user can act on is one line naming what to change, with exit status 2
    except (ValueError, KeyError, TypeError, ImportError, ConnectionError, OSError, RuntimeError) as exc:
        if interrupted:  # a library turned the KeyboardInterrupt into its own error (numpy: ImportError)
            raise KeyboardInterrupt from exc  # main reports it
        if getattr(args, "traceback", False) or os.environ.get("AUTOMM_DEBUG", "") not in ("", "0"):
            import traceback
            traceback.print_exc()
        print(f"automm: error: {cli_message(exc)}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
