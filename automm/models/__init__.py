"""Model types: `base.BaseModel` is what a model is, `base.register_model` makes one available by name."""
from .base import REGISTRY, BaseModel, Task, is_available, is_neural, model_class, register_model

__all__ = ["REGISTRY", "BaseModel", "Task", "is_available", "is_neural", "model_class", "register_model"]
