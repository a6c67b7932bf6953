"""Where fold fits run: `base` declares the executor and the outcomes, `inline`, `processes` and
`ray_cluster` are the three executors, `factory.make_executor` picks one. A new backend (Dask, a
batch scheduler) is one more file with an `Executor` subclass, passed as `fit(executor=...)`."""
from .base import Executor, FoldJob, FoldResult, LayerData, Outcome, run_job, run_outcome
from .factory import make_executor
from .inline import InlineExecutor
from .processes import ProcessExecutor

__all__ = ["Executor", "FoldJob", "FoldResult", "LayerData", "Outcome", "run_job", "run_outcome", "make_executor",
           "InlineExecutor", "ProcessExecutor"]
