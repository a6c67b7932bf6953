"""The executor a fit asks for: `make_executor("auto" | n | "ray://..." | an Executor)`."""
from __future__ import annotations

import os

from .base import Executor
from .inline import InlineExecutor
from .processes import MB, MEMORY_USE, ProcessExecutor, available_memory


def make_executor(num_workers="auto", ray_address: str | None = None, threads: int = 1, say=lambda msg: None,
                  executor: Executor | None = None) -> Executor:
    """executor: an Executor of the caller's, used as it is (the fit closes it when it ends). Else
    ray_address: Ray ("auto", "local", "ray://host:port"); else num_workers: "auto" (one local worker
    process per core, as memory allows) or a number (1 fits in this process)."""
    if executor is not None:
        if not isinstance(executor, Executor):
            raise TypeError(f"executor must be an automm.execution.Executor, not {type(executor).__name__}")
        return executor
    if ray_address:
        from .ray_cluster import RayExecutor
        return RayExecutor(ray_address, 1, say)  # a cluster is for many one-thread jobs at once
    if num_workers == "auto" and os.environ.get("AUTOMM_NUM_WORKERS"):
        num_workers = os.environ["AUTOMM_NUM_WORKERS"]  # a machine-wide default, as OMP_NUM_THREADS is
        if num_workers != "auto" and not num_workers.isdigit():
            raise ValueError(f"AUTOMM_NUM_WORKERS must be 'auto' or a whole number, not {num_workers!r}")
    if num_workers == "auto":
        # each idle worker holds an interpreter and the libraries (about 300 MB) before any data
        num_workers = max(1, min(threads, 8, int(available_memory() * MEMORY_USE // (600 * MB))))
    if int(num_workers) <= 1 or os.name == "nt":  # the workers' pipes are POSIX file descriptors
        return InlineExecutor()
    workers = int(num_workers)
    return ProcessExecutor(workers, max(1, threads // workers), say)
