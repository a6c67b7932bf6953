"""Local worker processes: each a fresh interpreter (`python -m automm.execution.worker`) that maps a
layer's data (one copy on the machine, see shared.py) and runs jobs sent over a pipe. Jobs are admitted
only while the machine's memory allows; a job whose worker died beside others is retried alone once,
then reported."""
from __future__ import annotations

import os
import pickle
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any

from ..features import FeatureSet
from ..memory import GB, MB, available_memory, release, rss
from ..models.base import ModelSpec
from .base import Executor, FoldJob, LayerData, Outcome, run_outcome
from .shared import SharedData, share

MEMORY_USE = 0.8  # of the memory available when the workers start
GRACE_S = 60.0    # past a job's deadline, before its worker is presumed stuck and killed
# a worker that ran another model and holds more than this is replaced before its next job: each
# library (torch, XGBoost, CatBoost) stays loaded, and freed heap is rarely given back, so a worker
# that ran three model types held 700-800 MB at 10,000 rows where a fresh one needs 190 MB and a second
RECYCLE_BYTES = 400 * MB
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def job_memory(spec: ModelSpec, view_bytes: dict[str, int]) -> float:
    """What a job adds beside the shared data: the model, and `data_copies` of the views it reads."""
    return spec.memory_mb * MB + spec.data_copies * sum(view_bytes.get(v, 0) for v in spec.reads)


def view_nbytes(X: FeatureSet) -> dict[str, int]:
    """The bytes of each view of the features (object arrays counted at 100 bytes a value)."""
    out = {"dense": X.dense.nbytes, "linear": X.linear.data.nbytes + X.linear.indices.nbytes + X.linear.indptr.nbytes,
           "neural": 0}
    for cols in (X.neural or {}).values():
        for parts in cols.values():
            for v in parts.values():
                out["neural"] += v.nbytes if v.dtype != object else 100 * len(v)
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
            data = {}  # the last layer's mapping goes before the next is read
            shared = pickle.loads(rest[1])
            data = {rest[0]: shared.load() if isinstance(shared, SharedData) else shared}
            continue
        key, job, data_key = rest
        out = run_outcome(key, job, data[data_key])
        try:
            payload = pickle.dumps(out.packed())
        except Exception as exc:  # a model that cannot travel back is a failed model, not a dead worker
            payload = pickle.dumps(Outcome(key, "error", message=f"the fitted model could not be sent back: {exc}"))
        try:
            outbox.send_bytes(payload)
        except OSError:  # the parent is gone
            return
        del out, payload
        release()  # what the model's fit freed, or the next model of another library grows beside it


@dataclass
class _Worker:
    process: Any             # a subprocess.Popen
    inbox: Any               # what the worker sends back
    outbox: Any
    data_key: int = -1
    job: Any = None          # (key, FoldJob, estimated bytes) while busy
    overdue: bool = False
    last_kind: str | None = None


class ProcessExecutor(Executor):
    """`workers` local processes with `threads` threads each. A job starts only when the workers'
    memory now (and what the fit itself has grown by: the features) plus the estimates of the running
    jobs and its own fit in MEMORY_USE of what was available at the start; a job too large even alone
    runs alone. A job whose worker died beside others is retried once alone (it may have been killed
    for their memory), then reported."""
    backend = "processes"

    def __init__(self, workers: int, threads: int, say=lambda msg: None):
        self.threads, self.say = threads, say
        self.budget = available_memory() * MEMORY_USE
        self.base = rss(os.getpid())  # what the fit held before: its growth (the features) counts as in use
        self.workers = [self._spawn() for _ in range(workers)]
        self.slots, self.max_running, self.layer, self.warned = workers, 0, 0, False
        self.shares: list[SharedData] = []

    def _spawn(self) -> _Worker:
        """A fresh interpreter (`python -m automm.execution.worker`), not multiprocessing: spawning would re-run
        the user's script, which a notebook or a Kaggle script has no `__main__` guard against."""
        from multiprocessing.connection import Connection
        down_r, down_w = os.pipe()
        up_r, up_w = os.pipe()
        env = {**os.environ, **{k: str(self.threads) for k in THREAD_VARS},  # read by the libraries at import
               "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}  # the models a caller registered
        process = subprocess.Popen([sys.executable, "-m", "automm.execution.worker", str(down_r), str(up_w),
                                    str(os.getpid())],
                                   pass_fds=(down_r, up_w), env=env)
        os.close(down_r)
        os.close(up_w)
        return _Worker(process, Connection(up_r, writable=False), Connection(down_w, readable=False))

    def adopt(self, X: FeatureSet) -> FeatureSet:
        """X written once to a file that this process and every worker map: the caller drops its own
        copy and uses the one returned, so the machine holds the features once."""
        self.shares.append(share(X))
        views = view_nbytes(X)
        self.say(f"memory plan: the features take {sum(views.values()) / GB:.2f} GB ("
                 + ", ".join(f"{k} {v / GB:.2f}" for k, v in views.items())
                 + f"), one copy mapped by the fit and its {len(self.workers)} workers; each job copies its "
                 f"rows of the views its model reads; jobs start while they fit in {self.budget / GB:.1f} GB")
        return self.shares[-1].load(writable=False)

    def start_layer(self, data: LayerData):
        self.layer += 1
        self.shares.append(share(data.with_threads(self.threads)))  # the adopted features are not written again
        self.blob, self.view_bytes = pickle.dumps(self.shares[-1]), view_nbytes(data.X)

    def _busy(self) -> list[_Worker]:
        return [w for w in self.workers if w.job is not None]

    def can_start(self, job: FoldJob, running: int) -> bool:
        busy = self._busy()
        if len(busy) == len(self.workers) or (job.exclusive and busy):
            return False
        if not busy:
            return True
        need = job_memory(job.spec, self.view_bytes)
        in_use = sum(rss(w.process.pid) for w in self.workers) + sum(w.job[2] for w in busy) \
            + max(0.0, rss(os.getpid()) - self.base)
        if in_use + need <= self.budget:
            return True
        if not self.warned:
            self.warned = True
            self.say(f"memory: {job.kind} needs about {need / MB:.0f} MB beside {in_use / MB:.0f} MB in use "
                     f"(budget {self.budget / MB:.0f} MB); running fewer jobs at once")
        return False

    def submit(self, key, job: FoldJob):
        i = next(i for i, w in enumerate(self.workers) if w.job is None)
        w = self.workers[i]
        if w.last_kind not in (None, job.kind) and rss(w.process.pid) > RECYCLE_BYTES:
            self._stop(w)
            self.workers[i] = self._spawn()
        self.workers[i].last_kind = job.kind
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
        w.job = (key, job, job_memory(job.spec, self.view_bytes))
        self.max_running = max(self.max_running, len(self._busy()))

    def wait(self) -> list[Outcome]:
        from multiprocessing.connection import wait
        busy = self._busy()
        # a result, or the end of the pipe when a worker dies; a job stuck well past its deadline
        # (a hang in a native library) has its worker killed
        overdue = min(w.job[1].deadline.at + GRACE_S for w in busy)
        wait([w.inbox for w in busy], timeout=max(0.0, min(overdue - time.time(), 3600)))
        out = []
        for i, w in enumerate(self.workers):
            if w.job is not None and time.time() > w.job[1].deadline.at + GRACE_S and not w.inbox.poll():
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
                out.append(Outcome(w.job[0], "died", message=why, retry_alone=not (len(busy) == 1 or w.overdue)))
                self.workers[i] = self._spawn()
        return out

    def _stop(self, w: _Worker) -> None:
        """Asks an idle worker to stop; a thread reaps it (see close)."""
        try:
            w.outbox.send_bytes(pickle.dumps(("stop",)))
        except OSError:
            pass
        w.inbox.close()
        w.outbox.close()
        _reap([w])

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
        _reap(list(self.workers))
        for shared in self.shares:  # the files go; the mappings of this process stay valid until dropped
            shared.close()


def _reap(workers: list[_Worker]) -> None:
    def reap():
        deadline = time.monotonic() + 5
        for w in workers:
            try:
                w.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                w.process.kill()
                w.process.wait()

    threading.Thread(target=reap, daemon=True).start()
