"""Featurizers fitted once on the training data and applied the same way at predict time."""
from .pipeline import FeaturePipeline, FeatureSet

__all__ = ["FeaturePipeline", "FeatureSet"]
