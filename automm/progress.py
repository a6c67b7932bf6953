"""What `fit` tells the user while it works, by verbosity: 0 silent, 1 summary, 2 each step, 3 debug."""
from __future__ import annotations

import sys
import time


class Progress:
    def __init__(self, verbosity: int = 2, start: float | None = None, stream=None):
        self.verbosity = verbosity
        self.start = time.monotonic() if start is None else start
        self.stream = stream or sys.stderr

    def say(self, level: int, msg: str):
        if self.verbosity >= level:
            print(f"[automm {time.monotonic() - self.start:6.1f}s] {msg}", file=self.stream, flush=True)

    def step(self, what: str, deadline: float):
        left = deadline - time.monotonic()
        self.say(2, f"{what} ({left:.0f}s left)" if left < 1e8 else what)
