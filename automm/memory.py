"""How much memory the machine can give, and how much a process holds: read from /proc on Linux."""
from __future__ import annotations

import os

MB = 2 ** 20
GB = 2 ** 30


def available_memory() -> float:
    """Bytes the OS can give without swapping (MemAvailable on Linux)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return float(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        import psutil
        return float(psutil.virtual_memory().available)
    except ImportError:
        return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")) / 2


def rss(pid: int) -> float:
    """A process's proportional share of the memory it maps (PSS: a page that n processes share counts
    1/n in each, so the shared features are not counted once per worker), else its resident memory."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return float(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        with open(f"/proc/{pid}/statm") as f:
            return float(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0.0


def release() -> None:
    """Collect garbage and hand the freed heap back to the OS (glibc keeps freed blocks for reuse: a
    worker that fitted a model, or a fit that distilled a backbone, otherwise holds its peak for good)."""
    import gc
    gc.collect()
    try:
        import ctypes
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc (macOS, musl): nothing to trim
        pass
