"""A saved model is a directory of JSON metadata, plain arrays and each library's own model files.

Nothing is ever unpickled, so loading a model someone sent you cannot run their code; every
file's SHA-256 is recorded and checked, so a damaged or altered file is refused by name.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

FORMAT = "automm-model"
FORMAT_VERSION = 1
MANIFEST = "automm.json"
ARRAYS = "arrays.npz"


class ModelFormatError(ValueError):
    """The directory is not a model this version of automm can load."""


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_model_dir(path, manifest: dict, arrays: dict[str, np.ndarray], write_files, overwrite: bool = False):
    """`write_files(tmpdir)` writes the model files; everything lands in `path` only when complete."""
    path = Path(path)
    if path.exists():
        if not overwrite:
            raise FileExistsError(f"{str(path)!r} already exists; pass overwrite=True to replace a saved model")
        if path.is_file() or (any(path.iterdir()) and not (path / MANIFEST).exists()):
            raise FileExistsError(f"{str(path)!r} exists and is not an automm model; refusing to replace it")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        np.savez(tmp / ARRAYS, **arrays)
        write_files(tmp)
        files = sorted(str(p.relative_to(tmp)) for p in tmp.rglob("*") if p.is_file())
        manifest = {**manifest, "files": {f: sha256(tmp / f) for f in files}}
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1, default=_json_default))
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def read_model_dir(path) -> tuple[dict, dict[str, np.ndarray]]:
    path = Path(path)
    if not (path / MANIFEST).is_file():
        raise ModelFormatError(f"{str(path)!r} is not a saved automm model (no {MANIFEST} in it)")
    try:
        manifest = json.loads((path / MANIFEST).read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelFormatError(f"{MANIFEST} in {str(path)!r} is damaged: {exc}") from exc
    if manifest.get("format") != FORMAT:
        raise ModelFormatError(f"{str(path)!r} is not an automm model (format {manifest.get('format')!r})")
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise ModelFormatError(
            f"{str(path)!r} was saved by automm {manifest.get('automm_version')} in model format {version}; "
            f"this automm reads format {FORMAT_VERSION}. Install the automm version that saved it, or refit.")
    for name, digest in manifest["files"].items():
        f = path / name
        if not f.is_file():
            raise ModelFormatError(f"{str(path)!r} is incomplete: {name} is missing")
        if sha256(f) != digest:
            raise ModelFormatError(f"{name} in {str(path)!r} does not match its recorded checksum: "
                                   "the file was changed or damaged after saving; refusing to load it")
    with np.load(path / ARRAYS, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    return manifest, arrays


def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"cannot store {type(o).__name__} in model metadata")
