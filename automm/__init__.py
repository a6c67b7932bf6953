"""automm: AutoML for tables whose columns mix numbers, categories, free text and images."""
import os as _os

# OpenMP threads that busy-wait fight each other (LightGBM, XGBoost, torch) on small machines:
# 50 LightGBM rounds went from 1.2 s to 43 s on 2 cores without this. It must be set before
# any OpenMP runtime starts, hence here, before anything else is imported.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"

from .predictor import MultimodalPredictor  # noqa: E402
from .schema import ColumnInfo, Schema, detect_schema  # noqa: E402

MultiModalPredictor = MultimodalPredictor  # AutoGluon's spelling, so that a port is a search-and-replace

__all__ = ["MultimodalPredictor", "MultiModalPredictor", "Schema", "ColumnInfo", "detect_schema", "__version__"]
