"""The embedding cache: one SQLite file (WAL) of float16 vectors keyed by (setting tag, SHA-1 of the input).

It replaced one .npz per tag that was read whole and rewritten whole on every call that added a row,
predict included: two processes lost each other's entries, nothing was ever evicted, and a server
wrote every request's embedding under the user's cache. Now:
- a lookup reads only the keys asked for; a write inserts only the new rows, in one transaction;
- concurrent writers (two fits at once) lose nothing: SQLite serialises the writes (WAL, a busy wait);
- the file is bounded (AUTOMM_EMBEDDING_CACHE_MB, default 4096): the least recently used entries are
  evicted first ("used" is the last fit that wrote or read an entry; predicts leave it alone);
- predict writes nothing unless asked (AUTOMM_EMBEDDING_CACHE_PREDICT=write): a `read_only()` block;
- AUTOMM_EMBEDDING_CACHE=memory keeps a bounded in-process store instead (what `automm serve` uses),
  "off" none, any other value is the folder of the file.
A damaged file, a full disk or a read-only folder costs time, never a fit: a warning, and the
embeddings are kept for this run only.
"""
from __future__ import annotations

import os
import sqlite3
import threading
import time
import warnings
import zlib
from collections import OrderedDict
from contextlib import contextmanager
from pathlib import Path

import numpy as np

FILE = "embeddings.sqlite3"
CHUNK = 500                 # keys per IN (...) query: below SQLite's limit on bound parameters
MEMORY_ENTRIES = 50_000     # the in-process store's bound (about 40 MB of 384-d vectors)
_STATE = threading.local()
_MEMORY: "OrderedDict[tuple[str, bytes], np.ndarray]" = OrderedDict()
_MEMORY_LOCK = threading.Lock()


@contextmanager
def thread_flag(state: threading.local, name: str):
    """`state.name` is True inside the block, in this thread only, and as it was after it."""
    before = getattr(state, name, False)
    setattr(state, name, True)
    try:
        yield
    finally:
        setattr(state, name, before)


@contextmanager
def scratch():
    """Inside the block, embeddings go to the process's memory store, never to the disk, and predict
    may add to it: explain() predicts the same values many times over in new combinations, and each
    distinct value is embedded once."""
    with thread_flag(_STATE, "scratch"):
        yield


def in_scratch() -> bool:
    return getattr(_STATE, "scratch", False)


@contextmanager
def read_only():
    """Lookups only inside the block: no entry is added or touched (predict, unless asked)."""
    if os.environ.get("AUTOMM_EMBEDDING_CACHE_PREDICT") == "write" or in_scratch():
        yield
        return
    with thread_flag(_STATE, "read_only"):
        yield


def limit_bytes() -> int:
    return int(float(os.environ.get("AUTOMM_EMBEDDING_CACHE_MB", 4096)) * 1e6)


class VectorCache:
    """The vectors of one setting `tag` in `folder`'s file (None: this run only; "memory": the process's store)."""

    def __init__(self, tag: str, folder: "Path | str | None"):
        self.tag, self.folder = tag, folder
        self.read_only = getattr(_STATE, "read_only", False)
        self.pending: dict[bytes, np.ndarray] = {}
        self.hits: list[bytes] = []
        self.db: sqlite3.Connection | None = None
        self.file = folder / FILE if isinstance(folder, Path) else None
        if self.file is not None:
            self.db = self._open(self.file)

    # ---- the file ------------------------------------------------------------------------
    def _open(self, file: Path) -> sqlite3.Connection | None:
        for attempt in (0, 1):
            try:
                if self.read_only and not file.exists():
                    return None
                file.parent.mkdir(parents=True, exist_ok=True)
                db = sqlite3.connect(file, timeout=60, isolation_level=None, check_same_thread=False)
                db.execute("PRAGMA busy_timeout = 60000")
                if not self.read_only:
                    _while_busy(_create, db)
                db.execute("SELECT count(*) FROM vectors WHERE tag = ? AND key = x''", (self.tag,)).fetchone()
                return db
            except sqlite3.DatabaseError as exc:
                if attempt == 0 and _is_damaged(exc) and not self.read_only:
                    _set_aside(file, exc)
                    continue
                self._warn(f"could not be opened ({exc})")
                return None
            except OSError as exc:
                self._warn(f"could not be opened ({exc.strerror or exc})")
                return None
        return None

    def _warn(self, what: str) -> None:
        warnings.warn(f"embedding cache {self.folder} {what}; the embeddings are kept for this run only (free space "
                      "there, or set AUTOMM_EMBEDDING_CACHE to another folder, 'memory' or 'off')", stacklevel=4)

    # ---- lookups and writes ----------------------------------------------------------------
    def lookup(self, keys: list[bytes]) -> tuple[np.ndarray, dict[int, np.ndarray]]:
        """(positions not in the cache, {position: vector} of those that are)."""
        stored = self._stored(list(dict.fromkeys(keys)))
        stored.update(self.pending)
        found = {i: stored[k] for i, k in enumerate(keys) if k in stored}
        self.hits.extend(k for k in stored if k not in self.pending)
        todo = np.array([i for i in range(len(keys)) if i not in found], dtype=np.int64)
        return todo, found

    def _stored(self, keys: list[bytes]) -> dict[bytes, np.ndarray]:
        if self.folder == "memory":
            with _MEMORY_LOCK:
                return {k: _MEMORY[(self.tag, k)] for k in keys if (self.tag, k) in _MEMORY}
        if self.db is None:
            return {}
        out, bad = {}, 0
        try:
            for s in range(0, len(keys), CHUNK):
                part = keys[s:s + CHUNK]
                rows = self.db.execute(f"SELECT key, vec, crc FROM vectors WHERE tag = ? AND key IN "
                                       f"({','.join('?' * len(part))})", (self.tag, *part)).fetchall()
                for k, v, crc in rows:
                    if zlib.crc32(v) == crc:  # SQLite checks no page: a flipped byte must not become a vector
                        out[bytes(k)] = np.frombuffer(v, dtype=np.float16)
                    else:
                        bad += 1
        except sqlite3.DatabaseError as exc:
            if _is_damaged(exc) and not self.read_only:
                self.db.close()
                _set_aside(self.file, exc)
                self.db = self._open(self.file)
            else:
                self._warn(f"could not be read ({exc})")
                self.db = None
            return {}
        if bad:
            warnings.warn(f"embedding cache {self.file}: {bad} stored vectors fail their checksum (the file is "
                          "damaged); they are computed again and rewritten", stacklevel=3)
        return out

    def add(self, keys: list[bytes], vecs: np.ndarray) -> None:
        self.pending.update(zip(keys, np.asarray(vecs, np.float16)))

    def flush(self) -> None:
        """One transaction per embedding call: the new rows, the hits marked as used, then eviction."""
        if self.read_only or not (self.pending or self.hits):
            return
        if self.folder == "memory":
            return self._flush_memory()
        if self.db is None:
            return
        now = time.time_ns()
        try:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?, ?, ?, ?)",
                                ((self.tag, k, b, zlib.crc32(b), now) for k, b in
                                 ((k, v.tobytes()) for k, v in self.pending.items())))
            self.db.executemany("UPDATE vectors SET used = ? WHERE tag = ? AND key = ?",
                                ((now, self.tag, k) for k in self.hits))
            self.db.execute("COMMIT")
            self.pending, self.hits = {}, []
            self._evict()
        except sqlite3.DatabaseError as exc:
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
            self._warn(f"could not be written ({exc})")
            self.db = None

    def _flush_memory(self) -> None:
        with _MEMORY_LOCK:
            for k in self.hits:
                if (self.tag, k) in _MEMORY:
                    _MEMORY.move_to_end((self.tag, k))
            for k, v in self.pending.items():
                _MEMORY[(self.tag, k)] = v
            while len(_MEMORY) > MEMORY_ENTRIES:
                _MEMORY.popitem(last=False)
        self.pending, self.hits = {}, []

    def _evict(self) -> None:
        """Least recently used entries out, a tenth at a time, until the file's live pages fit the bound
        (freed pages are reused by later writes, so the file stops growing without a VACUUM)."""
        limit = limit_bytes()
        for _ in range(20):
            pages, free, size = (self.db.execute(f"PRAGMA {p}").fetchone()[0]
                                 for p in ("page_count", "freelist_count", "page_size"))
            if (pages - free) * size <= limit:
                return
            n = max(1, self.db.execute("SELECT count(*) FROM vectors").fetchone()[0] // 10)
            self.db.execute("DELETE FROM vectors WHERE (tag, key) IN (SELECT tag, key FROM vectors ORDER BY used "
                            "LIMIT ?)", (n,))

    def __del__(self):
        if self.db is not None:
            try:
                self.db.close()
            except sqlite3.Error:
                pass


def _create(db: sqlite3.Connection) -> None:
    if db.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
        db.execute("PRAGMA journal_mode = WAL")
    db.execute("CREATE TABLE IF NOT EXISTS vectors (tag TEXT NOT NULL, key BLOB NOT NULL, vec BLOB NOT NULL, "
               "crc INTEGER NOT NULL, used INTEGER NOT NULL, PRIMARY KEY (tag, key)) WITHOUT ROWID")
    db.execute("CREATE INDEX IF NOT EXISTS by_use ON vectors (used)")


def _while_busy(step, db: sqlite3.Connection, seconds: float = 60.0) -> None:
    """`step(db)`, tried again while another process holds the lock. Switching a new file to WAL needs the
    file to itself, and SQLite answers that with "database is locked" at once, without its busy wait:
    two fits that create the cache together would otherwise lose one call's rows."""
    deadline, pause = time.monotonic() + seconds, 0.01
    while True:
        try:
            return step(db)
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(pause)
            pause = min(0.2, pause * 2)


def _is_damaged(exc: sqlite3.DatabaseError) -> bool:
    text = str(exc).lower()
    return any(s in text for s in ("not a database", "malformed", "corrupt", "no such table", "file is encrypted"))


def _set_aside(file: Path, exc: Exception) -> None:
    warnings.warn(f"embedding cache {file} is damaged ({type(exc).__name__}: {exc}); it is set aside and its "
                  "embeddings are computed again", stacklevel=5)
    for f in (file, file.with_name(file.name + "-wal"), file.with_name(file.name + "-shm")):
        if f.exists():
            os.replace(f, f.with_name(f.name + f".damaged-{os.getpid()}"))


def summary(folder: Path) -> dict:
    """{"file", "bytes", "entries": {tag: count}} of the cache file in `folder` (for `automm cache info`)."""
    file = folder / FILE
    if not file.exists():
        return {"file": str(file), "bytes": 0, "entries": {}}
    db = sqlite3.connect(file, timeout=60)
    try:
        entries = dict(db.execute("SELECT tag, count(*) FROM vectors GROUP BY tag").fetchall())
    finally:
        db.close()
    size = sum(f.stat().st_size for f in folder.glob(FILE + "*") if f.is_file())
    return {"file": str(file), "bytes": size, "entries": entries}
