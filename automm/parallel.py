"""Where fold fits run: in this process, in local worker processes, or on a Ray cluster.

A job is one model type on one fold (on its first fold, possibly a whole hyperparameter search).
Every executor runs the same `run_job` and hands back the same three outcomes: ("ok", result),
("error", message, traceback) when the model raised, ("died", message) when the process running
it vanished (killed for memory, a crash in a native library); so a failure reads the same locally
and on a cluster. Local workers are admitted only while the machine's memory allows.
"""
from __future__ import annotations

import importlib
import os
import pickle
import subprocess
import sys
import threading
import time
import traceback
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from .features import FeatureSet
from .models.base import ModelSpec, Task
from .search import TuneSettings, search

MB = 2 ** 20
MEMORY_USE = 0.8  # of the memory available when the workers start
GRACE_S = 60.0    # past a job's deadline, before its worker is presumed stuck and killed
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


@dataclass
class LayerData:
    """What every job of a layer reads; shipped once to each worker."""
    X: FeatureSet
    y: np.ndarray
    folds: list
    task: Task

    def with_threads(self, n: int) -> "LayerData":
        return replace(self, task=replace(self.task, num_threads=n))


@dataclass
class FoldJob:
    kind: str
    spec: ModelSpec
    fold: int
    params: dict
    deadline: float                  # time.time(), which (unlike monotonic) means the same on every machine
    tune: TuneSettings | None = None
    trial_seconds: float = 0.0
    study: str = ""
    model_deadline: float = float("inf")  # time.time(): when the model's other folds must be done too
    rest_folds: float = 0.0               # the other folds, whose fits the search must leave time for
    exclusive: bool = False          # a retry after a worker died: run with nothing beside it


@dataclass
class FoldResult:
    model: Any
    oof: np.ndarray
    seconds: float


def run_job(job: FoldJob, data: LayerData) -> FoldResult:
    t0 = time.monotonic()
    deadline = t0 + (job.deadline - time.time())
    cls = getattr(importlib.import_module(job.spec.import_path), job.spec.cls)
    tr, va = data.folds[job.fold]
    X, y, task = data.X, data.y, data.task
    X_tr, X_va = X.rows(tr), X.rows(va)
    if job.tune is None:
        model = cls(**job.params).fit(X_tr, y[tr], X_va, y[va], task, deadline)
    else:
        def fit_fold(model, trial_deadline, monitor) -> float:
            model.fit(X_tr, y[tr], X_va, y[va], task, trial_deadline, monitor=monitor)
            return task.metric.error(y[va], model.predict(X_va))

        model_deadline = t0 + (job.model_deadline - time.time())
        # the other folds will take about as long as the best trial did, with some margin
        reserve = lambda seconds: model_deadline - 1.25 * job.rest_folds * seconds  # noqa: E731
        model, params, summary = search(cls, job.params, fit_fold, task, deadline, job.trial_seconds,
                                        job.tune, job.study, reserve)
        if model is None:  # the best trial ran before a resume: fit its parameters on this fold
            model = cls(**params).fit(X_tr, y[tr], X_va, y[va], task, time.monotonic() + job.trial_seconds)
        model.info["tuned"] = {**model.info.get("tuned", {}), **params}
        model.info["search"] = summary
    return FoldResult(model, model.predict(X_va), time.monotonic() - t0)


def _outcome(job: FoldJob, data: LayerData) -> tuple:
    try:
        return ("ok", run_job(job, data))
    except Exception as exc:  # reported by the caller; one failing model never sinks the fit
        return ("error", f"{type(exc).__name__}: {exc}", traceback.format_exc())


def job_memory(spec: ModelSpec, data_bytes: int) -> float:
    return spec.memory_mb * MB + spec.data_copies * data_bytes


def data_nbytes(X: FeatureSet) -> int:
    n = X.dense.nbytes + X.linear.data.nbytes + X.linear.indices.nbytes + X.linear.indptr.nbytes
    for v in (X.neural or {}).values():
        n += v.nbytes if isinstance(v, np.ndarray) and v.dtype != object else 100 * len(v)
    return int(n)


def available_memory() -> float:
    """Bytes the OS can give without swapping (MemAvailable on Linux)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return float(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        import psutil
        return float(psutil.virtual_memory().available)
    except ImportError:
        return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")) / 2


def rss(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/statm") as f:
            return float(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0.0


class Executor:
    """What every executor shares: used in a `with` block, so that its workers always stop."""
    slots, backend, max_running = 1, "", 0

    def close(self, now: bool = False):
        """now: the fit was interrupted or failed; stop at once rather than let jobs finish."""

    def __enter__(self):
        return self

    def __exit__(self, exc_type, *exc):
        self.close(now=exc_type is not None)


class InlineExecutor(Executor):
    """The sequential fit: each job runs in this process when submitted."""
    slots, backend = 1, "inline"

    def __init__(self):
        self.done: list = []
        self.max_running = 1

    def start_layer(self, data: LayerData):
        self.data = data

    def can_start(self, job: FoldJob, running: int) -> bool:
        return running == 0

    def submit(self, key, job: FoldJob):
        self.done.append((key, *_outcome(job, self.data)))

    def wait(self) -> list[tuple]:
        out, self.done = self.done, []
        return out


def _exit_with_parent(parent: int) -> None:
    """A worker never outlives the fit that started it (a parent killed by SIGKILL, the OOM killer or a
    scheduler cannot stop its workers): the kernel kills it when the parent dies (Linux), and a
    watchdog thread checks the parent every second everywhere else."""
    import signal
    import threading
    if sys.platform.startswith("linux"):
        try:
            import ctypes
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass

    def watch():
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    if os.getppid() != parent:  # it died before the line above ran
        os._exit(1)
    threading.Thread(target=watch, daemon=True).start()


def worker_main(inbox, outbox, parent: int | None = None):
    """A local worker: keeps the layer's data, runs jobs until told to stop or its parent is gone."""
    if parent is not None:
        _exit_with_parent(parent)
    data: dict = {}
    while True:
        try:
            msg = inbox.recv_bytes()
        except (EOFError, OSError):  # the parent closed the pipe or died: nothing to report to
            return
        kind, *rest = pickle.loads(msg)
        if kind == "stop":
            return
        if kind == "data":
            data = {rest[0]: pickle.loads(rest[1])}
            continue
        key, job, data_key = rest
        out = _outcome(job, data[data_key])
        try:
            payload = pickle.dumps((key, *out))
        except Exception as exc:  # a model that cannot travel back is a failed model, not a dead worker
            payload = pickle.dumps((key, "error", f"the fitted model could not be sent back: {exc}", ""))
        try:
            outbox.send_bytes(payload)
        except OSError:  # the parent is gone
            return


@dataclass
class _Worker:
    process: Any             # a subprocess.Popen
    inbox: Any               # what the worker sends back
    outbox: Any
    data_key: int = -1
    job: Any = None          # (key, FoldJob, estimated bytes) while busy
    overdue: bool = False


class ProcessExecutor(Executor):
    """`workers` local processes with `threads` threads each. A job starts only when the workers'
    memory now plus the estimates of the running jobs and its own fit in MEMORY_USE of what was
    available at the start; a job too large even alone runs alone. A job whose worker died beside
    others is retried once alone (it may have been killed for their memory), then reported."""
    backend = "processes"

    def __init__(self, workers: int, threads: int, say=lambda msg: None):
        self.threads, self.say = threads, say
        self.budget = available_memory() * MEMORY_USE
        self.workers = [self._spawn() for _ in range(workers)]
        self.slots, self.max_running, self.layer, self.warned = workers, 0, 0, False

    def _spawn(self) -> _Worker:
        """A fresh interpreter (`python -m automm.worker`), not multiprocessing: spawning would re-run
        the user's script, which a notebook or a Kaggle script has no `__main__` guard against."""
        from multiprocessing.connection import Connection
        down_r, down_w = os.pipe()
        up_r, up_w = os.pipe()
        env = {**os.environ, **{k: str(self.threads) for k in THREAD_VARS},  # read by the libraries at import
               "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}  # the models a caller registered
        process = subprocess.Popen([sys.executable, "-m", "automm.worker", str(down_r), str(up_w), str(os.getpid())],
                                   pass_fds=(down_r, up_w), env=env)
        os.close(down_r)
        os.close(up_w)
        return _Worker(process, Connection(up_r, writable=False), Connection(down_w, readable=False))

    def start_layer(self, data: LayerData):
        self.layer += 1
        data = data.with_threads(self.threads)
        self.blob, self.data_bytes = pickle.dumps(data, protocol=5), data_nbytes(data.X)

    def _busy(self) -> list[_Worker]:
        return [w for w in self.workers if w.job is not None]

    def can_start(self, job: FoldJob, running: int) -> bool:
        busy = self._busy()
        if len(busy) == len(self.workers) or (job.exclusive and busy):
            return False
        if not busy:
            return True
        need = job_memory(job.spec, self.data_bytes)
        in_use = sum(rss(w.process.pid) for w in self.workers) + sum(w.job[2] for w in busy)
        if in_use + need <= self.budget:
            return True
        if not self.warned:
            self.warned = True
            self.say(f"memory: {job.kind} needs about {need / MB:.0f} MB beside {in_use / MB:.0f} MB in use "
                     f"(budget {self.budget / MB:.0f} MB); running fewer jobs at once")
        return False

    def submit(self, key, job: FoldJob):
        i = next(i for i, w in enumerate(self.workers) if w.job is None)
        for attempt in (0, 1):
            w = self.workers[i]
            try:
                if w.data_key != self.layer:
                    w.outbox.send_bytes(pickle.dumps(("data", self.layer, self.blob)))
                    w.data_key = self.layer
                w.outbox.send_bytes(pickle.dumps(("job", key, job, self.layer)))
                break
            except OSError:  # it died while idle: a fresh one takes the job
                if attempt:
                    raise
                w.process.kill()
                self.workers[i] = self._spawn()
        w.job = (key, job, job_memory(job.spec, self.data_bytes))
        self.max_running = max(self.max_running, len(self._busy()))

    def wait(self) -> list[tuple]:
        from multiprocessing.connection import wait
        busy = self._busy()
        # a result, or the end of the pipe when a worker dies; a job stuck well past its deadline
        # (a hang in a native library) has its worker killed
        overdue = min(w.job[1].deadline + GRACE_S for w in busy)
        wait([w.inbox for w in busy], timeout=max(0.0, min(overdue - time.time(), 3600)))
        out = []
        for i, w in enumerate(self.workers):
            if w.job is not None and time.time() > w.job[1].deadline + GRACE_S and not w.inbox.poll():
                w.process.kill()
                w.overdue = True
            if w.job is None or not w.inbox.poll():
                continue
            try:
                out.append(pickle.loads(w.inbox.recv_bytes()))
                w.job = None
            except (EOFError, OSError):
                code = w.process.wait()
                why = ("it ran past its deadline and was stopped" if w.overdue else
                       f"its worker process died (exit code {code}" + (", likely killed for memory)" if code == -9 else ")"))
                out.append((w.job[0], "died", why, len(busy) == 1 or w.overdue))
                self.workers[i] = self._spawn()
        return out

    def close(self, now: bool = False):
        """Tells the idle workers to stop (busy ones, with `now`, are killed) and returns at once: an
        interpreter with torch loaded takes most of a second to exit, which is not the fit's time. A
        daemon thread reaps them, killing any that is still there after 5 s."""
        for w in self.workers:
            if now and w.job is not None:  # busy: its result is no longer wanted
                w.process.kill()
                continue
            try:
                w.outbox.send_bytes(pickle.dumps(("stop",)))
            except OSError:
                pass
        for w in self.workers:
            w.inbox.close()
            w.outbox.close()
        workers = list(self.workers)

        def reap():
            deadline = time.monotonic() + 5
            for w in workers:
                try:
                    w.process.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    w.process.kill()
                    w.process.wait()

        threading.Thread(target=reap, daemon=True).start()


def make_executor(num_workers, ray_address: str | None, threads: int, say=lambda msg: None):
    """num_workers: "auto" (one per core, as memory allows) or a number; 1 fits in this process."""
    if ray_address:
        from .cluster import RayExecutor
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
