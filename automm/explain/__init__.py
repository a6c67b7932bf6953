"""Why a fitted predictor predicts what it predicts: MultimodalPredictor.explain() returns an
Explanation (docs/explain.md); report() writes the model card as one HTML file."""
from .explanation import Explanation

__all__ = ["Explanation"]
