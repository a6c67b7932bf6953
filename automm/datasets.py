"""Benchmark datasets from `datasets.yaml`: a local mirror first, then a user cache, then the
original URLs, with every file checked against its recorded checksum."""
from __future__ import annotations

import os
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .persistence import cache_root, file_digest

# package data, so that automm.datasets and `automm benchmark` work from an installed wheel, not only a clone
REGISTRY = Path(__file__).resolve().parent / "datasets.yaml"
REPO = Path(__file__).resolve().parents[1]
# where this repo's CI keeps them: beside the clone, or beside the folder the command runs in
DEFAULT_MIRRORS = tuple(dict.fromkeys((REPO.parent / "shared" / "datasets", Path.cwd().parent / "shared" / "datasets")))


class ChecksumError(ValueError):
    """A dataset file does not match the checksum recorded for it."""


@dataclass(frozen=True)
class Dataset:
    name: str
    spec: dict
    folder: Path                      # image paths in the tables are relative to this
    train: pd.DataFrame
    test: pd.DataFrame
    competition: pd.DataFrame | None  # unlabeled rows, where the benchmark has them


def registry(path: str | Path | None = None) -> dict[str, dict]:
    try:
        import yaml
    except ImportError:
        raise ImportError("the benchmark datasets' registry needs PyYAML: pip install 'automm[bench]'") from None
    entries = yaml.safe_load(Path(path or REGISTRY).read_text())["datasets"]
    out = {}
    for e in entries:
        out[e["name"]] = e
        out.setdefault(e.get("alias", e["name"]), e)
    return out


def cache_dir() -> Path:
    return cache_root() / "datasets"


def mirror_dirs(data_dir: str | Path | None = None) -> list[Path]:
    dirs = [Path(data_dir)] if data_dir else []
    if os.environ.get("AUTOMM_DATA_DIR"):
        dirs.append(Path(os.environ["AUTOMM_DATA_DIR"]))
    return dirs + [d for d in DEFAULT_MIRRORS if d not in dirs]


def load(name: str, data_dir: str | Path | None = None, verify: bool = True, download: bool = True,
         registry_path: str | Path | None = None) -> Dataset:
    specs = registry(registry_path)
    if name not in specs:
        raise KeyError(f"dataset {name!r} is not in datasets.yaml; known: {sorted({s['name'] for s in specs.values()})}")
    spec = specs[name]
    looked, folder = [], None
    for base in mirror_dirs(data_dir) + [cache_dir()]:
        candidate = base / spec["name"]
        looked.append(str(candidate))
        if all(_local_file(candidate, split, f) for split, f in spec["files"].items() if split != "competition"):
            folder = candidate
            break
    if folder is None and download and all("url" in f for f in spec["files"].values()):
        folder, why = _download(spec)
        looked.append(f"the original URLs ({why})" if folder is None else "the original URLs")
    if folder is None:
        raise FileNotFoundError(
            f"dataset {spec['name']!r} was not found. Looked in: {'; '.join(looked)}. Put its files "
            f"({', '.join(_file_name(s, f) for s, f in spec['files'].items())}) in <folder>/{spec['name']}/ and pass "
            f"data_dir=<folder> (or --data-dir, or set AUTOMM_DATA_DIR).")
    frames = {}
    for split, f in spec["files"].items():
        path = _local_file(folder, split, f)
        if path is None:
            frames[split] = None
            continue
        if verify:
            _verify(path, f)
        frames[split] = pd.read_parquet(path) if path.suffix in (".pq", ".parquet") else pd.read_csv(path)
    if verify and spec.get("checksum_list") and (folder / spec["checksum_list"]).is_file():
        _verify_list(folder, folder / spec["checksum_list"])
    return Dataset(spec["name"], spec, folder, frames["train"], frames["test"], frames.get("competition"))


def _file_name(split: str, f: dict) -> str:
    if "mirror" in f:
        return f["mirror"]["file"]
    return Path(f["url"]).name if "url" in f else f"{split}.csv"


def _local_file(folder: Path, split: str, f: dict) -> Path | None:
    for name in dict.fromkeys([_file_name(split, f), Path(f.get("url", f"{split}.csv")).name, f"{split}.csv"]):
        if (folder / name).is_file():
            return folder / name
    return None


def _digest(path: Path, algo: str) -> str:
    return file_digest(path, algo)


def _verify(path: Path, f: dict):
    mirror = f.get("mirror", {})
    if mirror.get("file") == path.name and "sha256" in mirror:
        algo, expected = "sha256", mirror["sha256"]
    elif "sha1" in f:
        algo, expected = "sha1", f["sha1"]
    else:
        return
    actual = _digest(path, algo)
    if actual != expected:
        raise ChecksumError(f"{path} has {algo} {actual}, but datasets.yaml records {expected}: the file is "
                            "damaged or a different version; replace it (or pass verify=False to use it anyway)")


def _verify_list(folder: Path, listing: Path):
    for line in listing.read_text().splitlines():
        if line.strip():
            digest, name = line.split(maxsplit=1)
            path = folder / name.lstrip("*")
            if not path.is_file() or _digest(path, "sha256") != digest:
                raise ChecksumError(f"{path} is missing or does not match {listing.name}; restore it")


def _download(spec: dict) -> tuple[Path | None, str]:
    target = cache_dir() / spec["name"]
    try:
        target.mkdir(parents=True, exist_ok=True)
        for _split, f in spec["files"].items():
            dest = target / Path(f["url"]).name
            tmp = dest.with_suffix(dest.suffix + ".part")
            with urllib.request.urlopen(f["url"], timeout=30) as r, open(tmp, "wb") as out:
                out.write(r.read())
            if _digest(tmp, "sha1") != f["sha1"]:
                tmp.unlink()
                return None, f"{f['url']} did not match its SHA-1"
            tmp.replace(dest)
        return target, ""
    except OSError as exc:
        return None, f"unreachable: {exc}"
