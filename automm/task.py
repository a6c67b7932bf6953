"""What is being learned, as every model and the ensemble see it: the problem type, the number of
classes, the metric, the seed and the threads. Ground floor but for the metric's type."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from .metrics import Metric


@dataclass(frozen=True)
class Task:
    problem_type: str
    n_classes: int           # 0 for regression
    metric: Metric
    seed: int = 0
    num_threads: int = 1

    @property
    def n_outputs(self) -> int:
        """Every model predicts an (n, n_outputs) array: one column for regression, one per class."""
        return 1 if self.is_regression else self.n_classes

    @property
    def is_regression(self) -> bool:
        return self.problem_type == "regression"

    @property
    def is_binary(self) -> bool:
        return self.problem_type == "binary"

    @property
    def is_multiclass(self) -> bool:
        return self.problem_type == "multiclass"

    @property
    def is_classification(self) -> bool:
        return self.problem_type != "regression"


Monitor = Callable[[int, float], bool]  # (iteration or epoch, validation loss: lower is better) -> stop?
