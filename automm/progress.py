"""What `fit` tells the user while it works, by verbosity: 0 silent, 1 summary, 2 each step, 3 debug.

Every line goes through `logging.getLogger("automm")`, so it can be sent to a file (the CLI's
`--log-file`), silenced, or formatted like the rest of an application's log. Unless the
application has configured that logger itself, automm prints its lines to standard error.
"""
from __future__ import annotations

import contextlib
import logging
import sys
import threading
import time

LOGGER = logging.getLogger("automm")
LEVELS = {1: logging.INFO, 2: logging.INFO, 3: logging.DEBUG}


class _StandardError(logging.Handler):
    """Writes to the sys.stderr of the moment (a notebook or a test may have replaced it)."""

    def emit(self, record):
        if getattr(_BARS, "open", 0):  # above the bar, not through it
            from tqdm import tqdm
            tqdm.write(self.format(record), file=sys.stderr)
        else:
            print(self.format(record), file=sys.stderr, flush=True)


def _ensure_handler():
    if not LOGGER.handlers:  # the application has not configured the logger: print, as before
        LOGGER.addHandler(_StandardError())
        LOGGER.setLevel(logging.DEBUG)
        LOGGER.propagate = False


def log_to_file(path: str) -> logging.Handler:
    """Every line of automm's log also goes to `path` (the CLI's --log-file)."""
    _ensure_handler()
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    LOGGER.addHandler(handler)
    return handler


class Progress:
    def __init__(self, verbosity: int = 2, start: float | None = None, deadline: float | None = None):
        self.verbosity = verbosity
        self.start = time.monotonic() if start is None else start
        self.deadline = deadline  # the whole fit's, for "(Ns left)"
        _ensure_handler()

    def say(self, level: int, msg: str):
        if self.verbosity >= level:
            LOGGER.log(LEVELS.get(level, logging.DEBUG), f"[automm {time.monotonic() - self.start:6.1f}s] {msg}")

    def step(self, what: str, deadline: float | None = None):
        """A step of the fit, with the time left of the whole fit (or of `deadline` when the fit has none)."""
        end = self.deadline if self.deadline is not None else deadline
        left = float("inf") if end is None else end - time.monotonic()
        self.say(2, f"{what} ({left:.0f}s left)" if left < 1e8 else what)


# ---- progress bars: opt-in (progress_bar=True; on by default in a notebook), over the long loops that
# log nothing while they run (an embedding pass, feature importance, explain, distill, a chunked predict)
_BARS = threading.local()


def in_notebook() -> bool:
    try:
        return get_ipython().__class__.__name__ == "ZMQInteractiveShell"  # noqa: F821 (IPython's builtin)
    except NameError:
        return False


@contextlib.contextmanager
def bars(enabled: bool | None):
    """Bars on (True), off (False) or as in a notebook (None) inside the block, in this thread."""
    before = getattr(_BARS, "enabled", False)
    _BARS.enabled = in_notebook() if enabled is None else bool(enabled)
    try:
        if _BARS.enabled:
            from tqdm.contrib.logging import logging_redirect_tqdm
            with logging_redirect_tqdm(loggers=[LOGGER]):  # the application's own console handlers
                yield
        else:
            yield
    finally:
        _BARS.enabled = before


def with_bars(method):
    """A predictor method run inside bars(self.progress_bar)."""
    import functools

    @functools.wraps(method)
    def run(self, *args, **kwargs):
        with bars(getattr(self, "progress_bar", None)):
            return method(self, *args, **kwargs)
    return run


class _NoBar:
    def update(self, n: int = 1):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


@contextlib.contextmanager
def _tqdm_bar(**kw):
    from tqdm.auto import tqdm
    _BARS.open = getattr(_BARS, "open", 0) + 1
    try:
        with tqdm(file=sys.stderr, leave=False, dynamic_ncols=True, **kw) as t:
            yield t
    finally:
        _BARS.open -= 1


def bar(total: int | None = None, desc: str = "", unit: str = "it"):
    """A context giving an object with update(n): a tqdm bar when bars are on, else nothing at all."""
    if not getattr(_BARS, "enabled", False):
        return _NoBar()
    return _tqdm_bar(total=total, desc=f"automm {desc}", unit=unit)
