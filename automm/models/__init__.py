"""Model types behind one protocol; see `base.REGISTRY`."""
from .base import REGISTRY, Model, Task, is_available, model_class

__all__ = ["REGISTRY", "Model", "Task", "is_available", "model_class"]
