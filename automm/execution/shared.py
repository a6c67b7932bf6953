"""One copy of a layer's data for the fit and all its local workers: the arrays go, once, into a file
that every process maps, instead of one unpickled copy per worker.

`share` pickles an object with protocol 5, its arrays (numpy's, and so scipy's sparse matrices')
out of band, and writes each array's bytes into one file. `SharedData.load` maps the file and unpickles
with those bytes as the arrays' buffers: the arrays are views of the mapping, read from the page
cache that every process on the machine shares. A worker's mapping is copy-on-write, so a model that
writes into its data changes only its own copy; the fit's own is read-only, and an array that
already lies in such a mapping (the features, when the next layer's data is shared) is not written
again. The folder is removed by `close`, and one left by a fit that was killed by the next fit.
"""
from __future__ import annotations

import mmap
import os
import pickle
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

ALIGN = 64  # each array starts on a cache line, as numpy's own allocations do
PREFIX = "automm-shared-"


def shared_root() -> Path:
    """$AUTOMM_SHARED_DIR, else the system's temporary folder: the page cache, not the disk, serves the
    reads, and under memory pressure the kernel can drop clean pages rather than kill the fit."""
    return Path(os.environ.get("AUTOMM_SHARED_DIR") or tempfile.gettempdir())


_READ_ONLY: list[tuple[int, int, str]] = []  # (start address, end address, file) of this process's read-only maps


@dataclass
class SharedData:
    """What a process needs to map the data: small enough to send to each worker."""
    path: str                          # the file this share wrote (its folder is removed by close)
    meta: bytes                        # the pickle, without the arrays' bytes
    spans: list[tuple[str, int, int]]  # (file, offset, length) of each out-of-band buffer

    def load(self, writable: bool = True):
        """writable: copy-on-write (a worker's models may write into their data); else read-only,
        and the arrays can be shared again without being written."""
        views = {}
        for file in dict.fromkeys(f for f, _, _ in self.spans):
            with open(file, "rb") as f:
                mapped = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY if writable else mmap.ACCESS_READ)
            views[file] = memoryview(mapped)
            if not writable:
                start = _address(views[file])
                _READ_ONLY.append((start, start + len(mapped), file))
        return pickle.loads(self.meta, buffers=[views[f][o:o + n] for f, o, n in self.spans])

    @property
    def nbytes(self) -> int:
        """The bytes this share wrote (not those it reuses from an earlier one)."""
        return sum(n for f, _, n in self.spans if f == self.path)

    def close(self) -> None:
        shutil.rmtree(Path(self.path).parent, ignore_errors=True)


def _address(buffer) -> int:
    import numpy as np
    return np.frombuffer(buffer, np.uint8).ctypes.data if len(buffer) else 0


def _in_mapping(raw: memoryview) -> tuple[str, int] | None:
    start = _address(raw)
    for lo, hi, file in _READ_ONLY:
        if lo <= start and start + raw.nbytes <= hi and os.path.exists(file):
            return file, start - lo
    return None


def share(obj) -> SharedData:
    """`obj` written once to a new file under shared_root(); see SharedData.load."""
    _remove_orphans()
    _READ_ONLY[:] = [m for m in _READ_ONLY if os.path.exists(m[2])]
    buffers: list[pickle.PickleBuffer] = []
    meta = pickle.dumps(obj, protocol=5, buffer_callback=buffers.append)
    folder = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-", dir=shared_root()))
    path, spans, offset = str(folder / "data.bin"), [], 0
    with open(path, "wb") as f:
        for b in buffers:
            raw = b.raw()
            known = _in_mapping(raw)
            if known is not None:
                spans.append((*known, raw.nbytes))
                continue
            pad = -offset % ALIGN
            f.write(b"\0" * pad)
            offset += pad
            f.write(raw)
            spans.append((path, offset, raw.nbytes))
            offset += raw.nbytes
    return SharedData(path, meta, spans)


def _remove_orphans() -> None:
    """Folders of fits whose process is gone (killed before `close`)."""
    for d in shared_root().glob(f"{PREFIX}*"):
        try:
            pid = int(d.name[len(PREFIX):].split("-")[0])
            os.kill(pid, 0)
        except ProcessLookupError:
            shutil.rmtree(d, ignore_errors=True)
        except (ValueError, PermissionError, OSError):
            continue
