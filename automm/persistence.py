"""A saved model is a directory of JSON metadata, plain arrays and each library's own model files.

Nothing is ever unpickled, so loading a model someone sent you cannot run their code. Every
file's SHA-256 is recorded in the manifest, and the manifest carries the SHA-256 of itself (the
model's root digest), so an edit to any file, the manifest included, is refused by name. The
digest is integrity, not a signature: to trust a model from someone else, compare its digest
(`automm info`) with the one they published. A model folder never reaches outside itself: a
listed path that is absolute, climbs with `..` or is a symlink is refused.

Writing is atomic and never loses anything: the new folder is written beside the target, the old
model is renamed aside, the new one renamed in, and only then is the old one deleted; and only a
folder that is a complete automm model, holding nothing else, is ever replaced.
"""
from __future__ import annotations

import errno
import hashlib
import json
import os
import secrets
import shutil
import tempfile
from pathlib import Path

import numpy as np

FORMAT = "automm-model"
FORMAT_VERSION = 2      # 2: the manifest carries its own digest
READS = (1, 2)          # format 1 (no digest) still loads, with the path checks
MANIFEST = "automm.json"
ARRAYS = "arrays.npz"
REQUIRED = ("format", "format_version", "files")


def cache_root() -> Path:
    """$AUTOMM_CACHE, else ~/.cache/automm: embeddings, unpacked backbones and datasets live below it."""
    return Path(os.environ.get("AUTOMM_CACHE", Path.home() / ".cache" / "automm"))


class ModelFormatError(ValueError):
    """The directory is not a model this version of automm can load."""


def file_digest(path: Path, algorithm: str = "sha256") -> str:
    """The hex digest of a file's bytes, read in 1 MB blocks."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def sha256(path: Path) -> str:
    return file_digest(path)


def manifest_digest(manifest: dict) -> str:
    """SHA-256 of the canonical manifest without its own digest: a root hash over every file."""
    body = {k: v for k, v in manifest.items() if k != "digest"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":"), default=_json_default,
                                     ensure_ascii=False).encode("utf-8", "surrogatepass")).hexdigest()


# ---- writing ---------------------------------------------------------------------------------
def check_target(path, overwrite: bool = False) -> Path:
    """Where a model may be written, checked before any long work; the resolved folder.

    A symlink is followed (the folder it names is replaced, the link kept); `.` is the real
    folder, so saving from inside a model folder works."""
    given = str(path)
    path = Path(path).expanduser()
    if path.is_symlink() and not path.exists():
        raise FileExistsError(f"{given!r} is a symlink to nothing; remove it or choose another path")
    target = path.resolve()
    if target.exists():
        if not target.is_dir():
            raise FileExistsError(f"{given!r} exists and is not an automm model (it is a file); refusing to replace it")
        if any(target.iterdir()):
            if not overwrite:
                raise FileExistsError(f"{given!r} already exists; pass overwrite=True to replace a saved model")
            why = _not_replaceable(target)
            if why:
                raise FileExistsError(f"{given!r} {why}; refusing to replace it")
    else:
        parent = target.parent
        while not parent.exists():
            parent = parent.parent
        if not parent.is_dir():
            raise FileExistsError(f"cannot save to {given!r}: {str(parent)!r} is a file, not a folder")
    return target


def _not_replaceable(folder: Path) -> str | None:
    """Why `folder` is not a model that may be replaced whole (None: it is one)."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "exists and is not an automm model"
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT or not isinstance(manifest.get("files"), dict):
        return f"exists and is not an automm model (its {MANIFEST} is not an automm manifest)"
    listed = set(manifest["files"]) | {MANIFEST}
    present = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if not p.is_dir()}
    extra = sorted(present - listed)
    if extra:
        return (f"holds files that are not part of the saved model ({extra[:5]}"
                f"{' and more' if len(extra) > 5 else ''}); move them out first")
    return None


def write_model_dir(path, manifest: dict, arrays: dict[str, np.ndarray], write_files, overwrite: bool = False) -> Path:
    """`write_files(tmpdir)` writes the model files; everything lands in `path` only when complete."""
    target = check_target(path, overwrite)
    cwd = _cwd()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.new-", dir=target.parent))
    except OSError as exc:
        _raise_if_full(exc, target, 0, arrays, write_files)
        raise
    try:
        _write_files(tmp, manifest, arrays, write_files)
        _swap_in(tmp, target)
    except OSError as exc:
        written = _size(tmp)
        shutil.rmtree(tmp, ignore_errors=True)  # nothing half-written stays; the old model was never touched
        _raise_if_full(exc, target, written, arrays, write_files)
        raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    if cwd is not None and (cwd == target or target in cwd.parents):
        # this process was inside the old folder, which is gone: step into the same place in the new one
        os.chdir(cwd if cwd.exists() else target)
    return target


def _write_files(tmp: Path, manifest: dict, arrays: dict, write_files) -> None:
    np.savez(tmp / ARRAYS, **arrays)
    write_files(tmp)
    files = sorted(p.relative_to(tmp).as_posix() for p in tmp.rglob("*") if p.is_file())
    manifest = {**manifest, "files": {f: sha256(tmp / f) for f in files}}
    manifest["digest"] = manifest_digest(manifest)
    (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1, default=_json_default), encoding="utf-8")


class DiskFullError(OSError):
    """No space (or quota) left where a model is saved; the message names the folder and the space needed."""

    def __str__(self):
        return self.strerror


_FULL = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


def _raise_if_full(exc: OSError, target: Path, written: int, arrays: dict, write_files) -> None:
    if exc.errno not in _FULL:
        return
    need = _measured_size(arrays, write_files)
    try:
        free = shutil.disk_usage(target.parent).free
    except OSError:
        free = None
    size = f"about {need / 1e6:.1f} MB" if need else f"more than the {written / 1e6:.1f} MB written when it ran out"
    left = "the model already there is unchanged" if target.exists() else "nothing was left there"
    raise DiskFullError(exc.errno, f"no space left to save the model in {str(target.parent)!r}: it needs {size}"
                        f"{'' if free is None else f', {free / 1e6:.1f} MB are free there'}; free some space or "
                        f"save to another folder ({left})") from exc


def _measured_size(arrays: dict, write_files) -> int | None:
    """The model's size on disk, written once more to the system's temporary folder (another disk, as a
    rule) and deleted; None when that fails too."""
    try:
        with tempfile.TemporaryDirectory(prefix="automm-size-") as tmp:
            _write_files(Path(tmp), {}, arrays, write_files)
            return _size(Path(tmp))
    except Exception:  # noqa: BLE001 - only an estimate for the message
        return None


def _size(folder: Path) -> int:
    try:
        return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    except OSError:
        return 0


def _swap_in(new: Path, target: Path) -> None:
    """Old aside, new in, old deleted last: a crash at any point leaves a whole model on disk."""
    if not target.exists() or not any(target.iterdir()):
        os.replace(new, target)  # an empty folder is replaced by a rename too
        return
    old = target.parent / f".{target.name}.old-{secrets.token_hex(4)}"
    os.replace(target, old)
    try:
        os.replace(new, target)
    except OSError:
        os.replace(old, target)
        raise
    shutil.rmtree(old, ignore_errors=True)


def _cwd() -> Path | None:
    try:
        return Path.cwd()
    except OSError:
        return None


# ---- reading ---------------------------------------------------------------------------------
def read_model_dir(path) -> tuple[dict, dict[str, np.ndarray]]:
    path = Path(path)
    if not (path / MANIFEST).is_file():
        raise ModelFormatError(f"{str(path)!r} is not a saved automm model (no {MANIFEST} in it)")
    try:
        manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ModelFormatError(f"{MANIFEST} in {str(path)!r} is damaged: {exc}") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        fmt = manifest.get("format") if isinstance(manifest, dict) else None
        raise ModelFormatError(f"{str(path)!r} is not an automm model (format {fmt!r})")
    version = manifest.get("format_version")
    if version not in READS:
        raise ModelFormatError(
            f"{str(path)!r} was saved by automm {manifest.get('automm_version')} in model format {version}; "
            f"this automm reads formats {list(READS)}. Install the automm version that saved it, or refit.")
    missing = [k for k in REQUIRED + (("digest",) if version >= 2 else ()) if k not in manifest]
    if missing or not isinstance(manifest["files"], dict):
        raise ModelFormatError(f"{MANIFEST} in {str(path)!r} is damaged: it lacks {missing or ['files']}")
    if version >= 2 and manifest["digest"] != manifest_digest(manifest):
        raise ModelFormatError(f"{MANIFEST} in {str(path)!r} does not match its recorded digest: the manifest "
                               "was edited or damaged after saving; refusing to load it")
    listed = set()
    for name, digest in manifest["files"].items():
        f = inside(path, name)
        if not f.is_file():
            raise ModelFormatError(f"{str(path)!r} is incomplete: {name} is missing")
        if sha256(f) != digest:
            raise ModelFormatError(f"{name} in {str(path)!r} does not match its recorded checksum: "
                                   "the file was changed or damaged after saving; refusing to load it")
        listed.add(f.relative_to(path.resolve()).as_posix())
    models = path / "models"
    unlisted = sorted(p.relative_to(path).as_posix() for p in models.rglob("*")
                      if not p.is_dir() and p.relative_to(path).as_posix() not in listed) if models.is_dir() else []
    if unlisted:  # a loader may only ever read files whose checksum was checked
        raise ModelFormatError(f"{str(path)!r} has model files its manifest does not list ({unlisted[:3]}); "
                               "refusing to load it")
    try:
        with np.load(inside(path, ARRAYS), allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (ValueError, OSError) as exc:
        raise ModelFormatError(f"{ARRAYS} in {str(path)!r} cannot be read safely: {exc}") from exc
    return manifest, arrays


def inside(folder: Path, name) -> Path:
    """`folder/name`, refused unless it stays inside `folder` (no absolute path, `..` or symlink out)."""
    if not isinstance(name, str) or not name or name.startswith(("/", "\\")) or ".." in Path(name).parts \
            or Path(name).is_absolute():
        raise ModelFormatError(f"the model in {str(folder)!r} names a file outside its folder ({name!r}); "
                               "refusing to load it")
    root = folder.resolve()
    full = (folder / name).resolve()
    if root not in full.parents:
        raise ModelFormatError(f"{name!r} in {str(folder)!r} points outside the model folder (a symlink?); "
                               "refusing to load it")
    return full


def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"cannot store {type(o).__name__} in model metadata")
