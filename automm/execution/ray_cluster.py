"""Fold fits (and the searches on first folds) as Ray tasks, for more than one machine.

The same jobs as the local executors, with the same outcomes: a job that raised comes back as an
"error" outcome, a task whose worker died (Ray's memory monitor, a crash) as "died". A task lost with
its node (the node died, or its result went with it) is not the job's fault: it runs again on the
nodes left, up to NODE_RETRIES times, with the same seed and so the same model. The layer's
data goes to the object store once, the features among it once for the whole fit (`adopt`): the
fit and the tasks on a node read them from the store's shared memory without copying. Ray does the
placing; each job asks for `threads` CPUs.
"""
from __future__ import annotations

from dataclasses import replace

from .base import Executor, FoldJob, LayerData, Outcome, run_outcome

_remote = None
NODE_RETRIES = 2


def run_on_ray(key, job: FoldJob, data: LayerData, X=None) -> Outcome:
    """run_outcome, with the features passed apart from the layer's data (a task argument of its own,
    so that Ray hands the task the store's copy rather than one unpickled from the data)."""
    return run_outcome(key, job, data if X is None else replace(data, X=X)).packed()


def require_ray():
    try:
        import ray
    except ImportError:
        raise ImportError("ray_address needs Ray: pip install 'automm[ray]'") from None
    return ray


class RayExecutor(Executor):
    """ray_address: "auto" (the cluster this machine belongs to, or RAY_ADDRESS), "ray://host:10001",
    or "local" (start Ray on this machine). A Ray already initialised in this process is used as it is."""
    backend = "ray"

    def __init__(self, address: str, threads: int, say=lambda msg: None):
        global _remote
        ray = self.ray = require_ray()
        self.owned = not ray.is_initialized()
        if self.owned:
            try:
                ray.init(address=None if address == "local" else address, include_dashboard=False,
                         log_to_driver=False, logging_level="ERROR")
            except ConnectionError as exc:
                raise ConnectionError(f"ray_address={address!r}: no Ray cluster there ({exc}); start one with "
                                      "`ray start --head`, or pass ray_address='local'") from None
        cpus = int(ray.cluster_resources().get("CPU", 1))
        self.threads = max(1, min(threads, cpus))
        self.slots, self.max_running, self.pending = max(1, cpus // self.threads), 0, {}
        self.features = (None, None)  # the adopted features: their object ref, and the fit's view of them
        if _remote is None:
            _remote = ray.remote(max_retries=0)(run_on_ray)  # a retry would hide the failure the caller reports
        self.say, self.node_retries = say, 0
        self.nodes = self._alive_nodes()
        say(f"ray: {cpus} CPUs on {self.nodes} node(s), up to {self.slots} jobs at once, {self.threads} thread(s) each")

    def adopt(self, X):
        ref = self.ray.put(X)
        self.features = (ref, self.ray.get(ref))  # read-only views of the store's copy
        return self.features[1]

    def start_layer(self, data: LayerData):
        ref, adopted = self.features
        self.x_ref = ref if data.X is adopted else None
        self.ref = self.ray.put(data.with_threads(self.threads) if self.x_ref is None else
                                replace(data.with_threads(self.threads), X=None))

    def can_start(self, job: FoldJob, running: int) -> bool:
        return running < self.slots and not (job.exclusive and running)

    def submit(self, key, job: FoldJob, attempt: int = 0):
        ref = _remote.options(num_cpus=self.threads).remote(key, job, self.ref, self.x_ref)
        self.pending[ref] = (key, job, attempt)
        self.max_running = max(self.max_running, len(self.pending))

    def wait(self) -> list[Outcome]:
        out = []
        while not out and self.pending:
            done, _ = self.ray.wait(list(self.pending), num_returns=1)
            for ref in done:
                key, job, attempt = self.pending.pop(ref)
                try:
                    out.append(self.ray.get(ref))
                except self.ray.exceptions.RayError as exc:
                    first = str(exc).splitlines()[0] if str(exc) else ""
                    if self._lost_with_its_node(exc) and attempt < NODE_RETRIES:
                        self.say(f"{key[0]} fold {key[1] + 1}: its Ray node was lost ({type(exc).__name__}); "
                                 "running it again on the nodes left")
                        self.node_retries += 1
                        self.submit(key, job, attempt + 1)
                        continue
                    out.append(Outcome(key, "died", message=f"its Ray task failed: {type(exc).__name__}: {first}"))
        return out

    def _lost_with_its_node(self, exc) -> bool:
        """The node died (or took the task's result with it), rather than the job crashing its own worker:
        a worker crash counts as the node's only when the cluster has lost a node since the fit began."""
        errors = self.ray.exceptions
        if isinstance(exc, (getattr(errors, "NodeDiedError", ()), errors.ObjectLostError)):
            return True
        return isinstance(exc, errors.WorkerCrashedError) and self._alive_nodes() < self.nodes

    def _alive_nodes(self) -> int:
        try:
            return sum(1 for n in self.ray.nodes() if n.get("Alive"))
        except Exception:  # noqa: BLE001 - the cluster's state is only a hint here
            return self.nodes

    def close(self, now: bool = False):
        for ref in self.pending:
            self.ray.cancel(ref, force=True)
        self.pending.clear()
        if self.owned:
            self.ray.shutdown()
