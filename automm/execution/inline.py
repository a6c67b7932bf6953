"""The sequential fit: each job runs in this process when it is submitted."""
from __future__ import annotations

from .base import Executor, FoldJob, LayerData, Outcome, run_outcome


class InlineExecutor(Executor):
    slots, backend = 1, "inline"

    def __init__(self):
        self.done: list[Outcome] = []
        self.max_running = 1

    def start_layer(self, data: LayerData):
        self.data = data

    def can_start(self, job: FoldJob, running: int) -> bool:
        return running == 0

    def submit(self, key, job: FoldJob):
        self.done.append(run_outcome(key, job, self.data))

    def wait(self) -> list[Outcome]:
        out, self.done = self.done, []
        return out
