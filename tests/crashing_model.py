"""Models that fail in the two ways a fit must survive: a worker process that dies, a model that raises."""
import os

from automm.models.lgbm import LightGBMModel
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


class InterruptingModel(LinearModel):
    """Stops the whole fit as Ctrl-C, a crash of the interpreter or a killed notebook kernel would."""
    name = "interrupting"

    def fit(self, X, y, X_val, y_val, task, deadline, monitor=None):
        raise KeyboardInterrupt


class SleepingModel(LinearModel):
    """Busy far longer than any test waits: a worker that must be stopped, not waited for."""
    name = "sleeping"

    def fit(self, X, y, X_val, y_val, task, deadline, monitor=None):
        import time
        time.sleep(60)
        return super().fit(X, y, X_val, y_val, task, deadline)


class WholeTime(LightGBMModel):
    """LightGBM that always uses its whole time (sleeping out what the fit leaves), as a slow model on
    a large table would, on any machine."""
    name = "whole_time"

    def fit(self, X, y, X_val, y_val, task, deadline, monitor=None):
        import time
        super().fit(X, y, X_val, y_val, task, deadline, monitor=monitor)
        time.sleep(max(0.0, deadline - time.monotonic()))
        return self


class RowCounting(LightGBMModel):
    """LightGBM that records how many rows each of its fits trained on."""
    name = "row_counting"

    def fit(self, X, y, X_val, y_val, task, deadline, monitor=None):
        super().fit(X, y, X_val, y_val, task, deadline, monitor=monitor)
        self.info.extra["train_rows"] = len(y)
        return self
