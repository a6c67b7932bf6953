"""A Ray cluster that loses a node in the middle of a fit (issue 27): two nodes on this machine
(`ray.cluster_utils.Cluster`, each its own raylet and worker processes), the second killed while it
runs a fold. The fit completes on the head node, the lost folds run again there, and the predictions
are those of a fit on one machine."""
import logging
import threading
import time

import numpy as np
import pandas as pd
import pytest

from automm import MultimodalPredictor

pytestmark = pytest.mark.slow
MODELS = {"lightgbm": {"learning_rate": 0.03, "num_leaves": 15}}


def _table(n: int = 1500, seed: int = 0) -> pd.DataFrame:
    """A smooth regression that LightGBM keeps improving on for a couple of thousand rounds at a slow
    learning rate: each fold takes seconds, so the second node is busy when it is killed."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 8))
    y = np.sin(X[:, 0]) + np.sin(2 * X[:, 1]) + X[:, 2] * X[:, 3] + 0.1 * rng.normal(size=n)
    return pd.DataFrame(X, columns=[f"x{i}" for i in range(8)]).assign(y=y)


@pytest.fixture
def two_nodes():
    ray = pytest.importorskip("ray")
    from ray.cluster_utils import Cluster
    # a dead node is noticed after 2 missed health checks a second apart (Ray's default: 5, 3 s apart)
    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 1, "include_dashboard": False,
        "_system_config": {"health_check_period_ms": 1000, "health_check_failure_threshold": 2}})
    worker = cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    yield ray, cluster, worker
    ray.shutdown()
    cluster.shutdown()


class _KillOnStep(logging.Handler):
    """Kills the second node (no graceful exit: its raylet and workers are SIGKILLed) a moment after the
    fit starts its third fold: folds 2 and 3 then run, one on each node's only CPU."""

    def __init__(self, cluster, worker, when: dict):
        super().__init__()
        self.cluster, self.worker, self.when = cluster, worker, when

    def emit(self, record):
        if "fold 3/5" in record.getMessage() and "killed" not in self.when:
            self.when["killed"] = time.monotonic()
            threading.Timer(1.0, self.cluster.remove_node, (self.worker,), {"allow_graceful": False}).start()


def test_a_node_killed_mid_fit_the_fit_completes_on_the_other_with_the_same_predictions(two_nodes):
    from automm.progress import LOGGER
    ray, cluster, worker = two_nodes
    df = _table()
    train, test = df.iloc[:1200], df.iloc[1200:].drop(columns="y")
    when: dict = {}
    handler = _KillOnStep(cluster, worker, when)
    level = LOGGER.level
    LOGGER.addHandler(handler)
    LOGGER.setLevel(logging.INFO)  # a logger with a handler is the application's: automm leaves its level
    t0 = time.monotonic()
    try:
        on_ray = MultimodalPredictor("y", verbosity=2).fit(train, hyperparameters=MODELS, num_bag_folds=5,
                                                          ray_address="auto")
    finally:
        LOGGER.removeHandler(handler)
        LOGGER.setLevel(level)
    ray_wall = time.monotonic() - t0
    assert "killed" in when
    retried = on_ray.info()["parallel"]["node_retries"]
    assert retried >= 1  # a fold was lost with the node and ran again on the head
    assert [b.name for b in on_ray.models_] == ["lightgbm_L1"] and not on_ray.failures_
    t1 = time.monotonic()
    local = MultimodalPredictor("y", verbosity=0).fit(train, hyperparameters=MODELS, num_bag_folds=5, num_workers=1)
    local_wall = time.monotonic() - t1
    diff = float(np.abs(on_ray.predict(test).to_numpy() - local.predict(test).to_numpy()).max())
    assert diff <= 1e-12
    # nothing left running: every CPU left in the cluster is free, and the dead node's processes are gone
    deadline = time.monotonic() + 20
    while ray.available_resources().get("CPU", 0) < 1 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert ray.available_resources().get("CPU", 0) == ray.cluster_resources().get("CPU", 0) == 1
    assert not worker.any_processes_alive()
    print(f"\nray fault: node killed {when['killed'] + 1.0 - t0:.1f}s into the fit; {retried} fold(s) retried; "
          f"fit {ray_wall:.1f}s on the cluster against {local_wall:.1f}s on one machine; max |diff| {diff:.2e}")
