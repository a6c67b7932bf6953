"""automm: AutoML for tables whose columns mix numbers, categories, free text and images."""
import os as _os

# OpenMP threads that busy-wait fight each other (LightGBM, XGBoost, torch) on small machines:
# 50 LightGBM rounds went from 1.2 s to 43 s on 2 cores without this. It must be set before
# any OpenMP runtime starts, hence here, before anything else is imported.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"

# The public names are imported on first use (PEP 562), not here: `automm` on the command line then
# starts with the standard library only, so Ctrl-C during the heavy imports (pandas, scikit-learn,
# LightGBM, torch) reaches the command's own handler instead of printing a traceback.
_PUBLIC = {"MultimodalPredictor": "predictor", "MultiModalPredictor": "predictor", "Schema": "schema",
           "ColumnInfo": "schema", "detect_schema": "schema"}

__all__ = ["MultimodalPredictor", "MultiModalPredictor", "Schema", "ColumnInfo", "detect_schema", "__version__"]


def __getattr__(name: str):
    if name not in _PUBLIC:
        raise AttributeError(f"module 'automm' has no attribute {name!r}")
    import importlib
    module = importlib.import_module(f".{_PUBLIC[name]}", __name__)
    # AutoGluon's spelling, so that a port is a search-and-replace
    value = module.MultimodalPredictor if name == "MultiModalPredictor" else getattr(module, name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(list(globals()) + list(_PUBLIC))
