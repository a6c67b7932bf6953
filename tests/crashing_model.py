"""Models that fail in the two ways a fit must survive: a worker process that dies, a model that raises."""
import os

from automm.models.linear import LinearModel


class DyingModel(LinearModel):
    """Kills the process it runs in, as the kernel's OOM killer or a segfault in a library would."""
    name = "dying"

    def fit(self, X, y, X_val, y_val, task, deadline, monitor=None):
        if os.environ.get("AUTOMM_TEST_PARENT") == str(os.getpid()):
            raise RuntimeError("DyingModel must run in a worker, never in the test process")
        os._exit(3)


class RaisingModel(LinearModel):
    name = "raising"

    def fit(self, X, y, X_val, y_val, task, deadline, monitor=None):
        raise ValueError("this model always fails")
