import pandas as pd
import pytest

from automm.synthetic import make_multimodal


@pytest.fixture(scope="session")
def binary_df() -> pd.DataFrame:
    return make_multimodal(500, "binary", seed=1)


@pytest.fixture(scope="session")
def multiclass_df() -> pd.DataFrame:
    return make_multimodal(500, "multiclass", seed=2)


@pytest.fixture(scope="session")
def regression_df() -> pd.DataFrame:
    return make_multimodal(500, "regression", seed=3)


def split(df: pd.DataFrame, frac: float = 0.75):
    cut = int(len(df) * frac)
    return df.iloc[:cut].reset_index(drop=True), df.iloc[cut:].reset_index(drop=True)


@pytest.fixture(scope="session", autouse=True)
def sequential_fits():
    """Fits run in this process unless a test asks for workers (tests/test_parallel.py): starting two
    interpreters per fit would double the time of the many small fits here."""
    import os
    os.environ.setdefault("AUTOMM_NUM_WORKERS", "1")


@pytest.fixture(scope="session", autouse=True)
def embedding_cache(tmp_path_factory):
    """Embeddings computed by the tests go to a folder of the session, never to the user's cache."""
    import os
    import shutil

    from automm.features.static_text import static_dir
    os.environ["AUTOMM_EMBEDDING_CACHE"] = str(tmp_path_factory.mktemp("embedding-cache"))
    static = tmp_path_factory.mktemp("static-text-cache")
    # The static tables already distilled on this machine (about 40 s for MiniLM on 2 cores) are copied in:
    # each carries its checksum and is keyed by its backbone's weights and recipe, so a copy is the table a
    # fit here would make. A clean machine (CI) distills them once per session instead.
    users = static_dir()
    for f in sorted(users.glob("*.npz")) if users.is_dir() else []:
        if f.with_suffix(".json").is_file() and ".tmp." not in f.name:
            shutil.copy2(f, static / f.name)
            shutil.copy2(f.with_suffix(".json"), static / f.with_suffix(".json").name)
    os.environ["AUTOMM_STATIC_CACHE"] = str(static)


@pytest.fixture
def register():
    """automm.models.register_model for one test; the registry is as it was after it."""
    from automm.models import base
    saved = dict(base.REGISTRY)
    yield base.register_model
    base.REGISTRY.clear()
    base.REGISTRY.update(saved)
