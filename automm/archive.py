"""A saved model as one `.zip` file: the model folder, zipped, and read back through the same checks.

Unpacking refuses a member that would land outside the folder (an absolute name, `..`, a symlink),
and an archive whose declared size is more than the disk has free, before anything is written; the
files then go through persistence.read_model_dir's checksums and digest like any folder. The folder
an archive is unpacked into lives as long as the predictor read from it (its unused models are read
from there on first use) and is deleted with it, or at exit.
"""
from __future__ import annotations

import os
import shutil
import stat
import tempfile
import weakref
import zipfile
from pathlib import Path

from .persistence import MANIFEST, ModelFormatError


def is_archive(path) -> bool:
    p = Path(path)
    return p.is_file() and zipfile.is_zipfile(p)


def check_archive_target(path, overwrite: bool) -> Path:
    """Where an archive may be written: nothing there, or (overwrite=True) an automm archive."""
    target = Path(path).expanduser().resolve()
    if target.is_dir():
        raise FileExistsError(f"{str(path)!r} is a folder; an archive is one file (save(..., archive=False) "
                              "writes a folder)")
    if target.exists():
        if not overwrite:
            raise FileExistsError(f"{str(path)!r} already exists; pass overwrite=True to replace a saved model")
        if not is_archive(target) or MANIFEST not in zipfile.ZipFile(target).namelist():
            raise FileExistsError(f"{str(path)!r} exists and is not an automm model archive; refusing to replace it")
    return target


def write_archive(path, write_folder, overwrite: bool = False) -> Path:
    """`write_folder(folder)` saves the model into an empty folder; it is zipped into `path` atomically
    (written beside it, then renamed over it), so a crash leaves the old archive or the new one."""
    target = check_archive_target(path, overwrite)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{target.name}.", dir=target.parent) as tmp:
        folder = Path(tmp) / "model"
        write_folder(folder)
        part = Path(tmp) / "archive.zip"
        with zipfile.ZipFile(part, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as z:
            for f in sorted(folder.rglob("*")):
                if f.is_file():
                    z.write(f, f.relative_to(folder).as_posix())
        os.replace(part, target)
    return target


def unpack(path) -> Path:
    """The archive's files in a new temporary folder; `tie` it to what reads from it."""
    path = Path(path)
    with zipfile.ZipFile(path) as z:
        members = z.infolist()
        for m in members:
            _check_member(path, m)
        declared = sum(m.file_size for m in members)
        tmp_root = Path(tempfile.gettempdir())
        free = shutil.disk_usage(tmp_root).free
        if declared > free:
            raise ModelFormatError(f"{str(path)!r} unpacks to {declared / 1e6:.0f} MB, more than the "
                                   f"{free / 1e6:.0f} MB free in {str(tmp_root)!r}; free space there or set TMPDIR")
        folder = Path(tempfile.mkdtemp(prefix="automm-archive-"))
        try:
            for m in members:
                if not m.is_dir():
                    z.extract(m, folder)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
    return folder


def tie(folder: Path, owner) -> None:
    """`folder` is deleted when `owner` is (or at exit, whichever comes first)."""
    weakref.finalize(owner, shutil.rmtree, folder, True)


def _check_member(path: Path, m: zipfile.ZipInfo) -> None:
    name = m.filename
    parts = Path(name).parts
    if name.startswith(("/", "\\")) or ".." in parts or Path(name).is_absolute() or ":" in (parts[0] if parts else ""):
        raise ModelFormatError(f"{str(path)!r} has a member {name!r} that would land outside the model folder; "
                               "refusing to load it")
    if stat.S_ISLNK(m.external_attr >> 16):
        raise ModelFormatError(f"{str(path)!r} has a member {name!r} that is a symlink; refusing to load it")


def save_folder_or_archive(path, write, overwrite: bool, archive: bool) -> Path:
    """`write(folder, overwrite)` saves the model as a folder at `folder`; archive=True zips it into `path`."""
    if not archive:
        return write(path, overwrite)
    check_archive_target(path, overwrite)
    return write_archive(path, lambda folder: write(folder, False), overwrite)

