"""What `fit` tells the user while it works, by verbosity: 0 silent, 1 summary, 2 each step, 3 debug.

Every line goes through `logging.getLogger("automm")`, so it can be sent to a file (the CLI's
`--log-file`), silenced, or formatted like the rest of an application's log. Unless the
application has configured that logger itself, automm prints its lines to standard error.
"""
from __future__ import annotations

import logging
import sys
import time

LOGGER = logging.getLogger("automm")
LEVELS = {1: logging.INFO, 2: logging.INFO, 3: logging.DEBUG}


class _StandardError(logging.Handler):
    """Writes to the sys.stderr of the moment (a notebook or a test may have replaced it)."""

    def emit(self, record):
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
