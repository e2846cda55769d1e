"""Passages on disk: a SQLite file read lazily by position, for indexes too large to hold in RAM.

At 1M passages the ``Chunk`` objects alone take several GB, so a large build writes them to
``chunks.sqlite`` and the loaded index reads a passage only when a search returns it.

Why this shape:
- *stdlib sqlite3*, one row per passage (its position, id, document, municipality and the JSON of
  ``Chunk.to_dict``), so no server and no new dependency; the id/doc/municipality columns let the
  retriever build its filter arrays with one query instead of decoding every passage.
- *Written once, then immutable*: the file is written under a temporary name (WAL while
  inserting), switched back to a self-contained rollback-journal file, then renamed. A published
  build is checksummed, so readers open it ``mode=ro&immutable=1``: no lock files, no ``-wal``/``-shm``
  appear beside it, and nothing a reader does can change a byte of it.
- *One read-only connection per thread* (sqlite3 connections must not be shared across threads),
  plus a small LRU of decoded passages shared by all threads.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Iterable, Iterator

from .types import Chunk

FILE = "chunks.sqlite"
COLUMNS = ("id", "doc_id", "municipality")
_BATCH = 2000


def write(path: Path, chunks: Iterable[Chunk]) -> int:
    """Write ``chunks`` (in order) to a new SQLite file at ``path``, atomically. Returns the count."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    for p in (tmp, Path(str(tmp) + "-wal"), Path(str(tmp) + "-shm"), Path(str(tmp) + "-journal")):
        p.unlink(missing_ok=True)
    con = sqlite3.connect(tmp)
    n = 0
    try:
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA synchronous=OFF")
        con.execute("CREATE TABLE chunks (i INTEGER PRIMARY KEY, id TEXT NOT NULL, doc_id TEXT NOT NULL, municipality TEXT NOT NULL, data TEXT NOT NULL)")
        batch = []
        for c in chunks:
            batch.append((n, c.id, c.doc_id, c.municipality, json.dumps(c.to_dict(), ensure_ascii=False)))
            n += 1
            if len(batch) >= _BATCH:
                con.executemany("INSERT INTO chunks VALUES (?, ?, ?, ?, ?)", batch)
                batch = []
        if batch:
            con.executemany("INSERT INTO chunks VALUES (?, ?, ?, ?, ?)", batch)
        con.execute("CREATE INDEX chunks_id ON chunks(id)")
        con.commit()
        # one self-contained file: readers of the published build never need a -wal or -shm
        con.execute("PRAGMA journal_mode=DELETE")
    finally:
        con.close()
    with open(tmp, "rb+") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return n


class ChunkStore(Sequence):
    """A read-only ``Sequence[Chunk]`` over ``chunks.sqlite``: ``len``, ``store[i]``, slices and
    iteration behave like the list the small index holds, so callers need not know which it is."""

    def __init__(self, path: Path | str, cache_size: int = 4096):
        self.path = Path(path)
        self._uri = f"file:{self.path.resolve()}?mode=ro&immutable=1"
        self._local = threading.local()
        self._cache: OrderedDict[int, Chunk] = OrderedDict()
        self._cache_size = cache_size
        self._cache_lock = threading.Lock()
        self._n = int(self._conn().execute("SELECT COUNT(*) FROM chunks").fetchone()[0])

    def _conn(self) -> sqlite3.Connection:
        con = getattr(self._local, "con", None)
        if con is None:
            con = self._local.con = sqlite3.connect(self._uri, uri=True)
        return con

    def __len__(self) -> int:
        return self._n

    def __bool__(self) -> bool:
        return self._n > 0

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(self._n))]
        i = int(i)
        if i < 0:
            i += self._n
        if not 0 <= i < self._n:
            raise IndexError(f"passage {i} out of range (0..{self._n - 1})")
        with self._cache_lock:
            c = self._cache.get(i)
            if c is not None:
                self._cache.move_to_end(i)
                return c
        row = self._conn().execute("SELECT data FROM chunks WHERE i = ?", (i,)).fetchone()
        c = Chunk.from_dict(json.loads(row[0]))
        with self._cache_lock:
            self._cache[i] = c
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return c

    def get_many(self, positions: Iterable[int]) -> list[Chunk]:
        """The passages at ``positions`` (in that order), fetched in a few queries instead of one
        per passage; used where a search reads hundreds of passages at once."""
        positions = [int(i) for i in positions]
        found: dict[int, Chunk] = {}
        with self._cache_lock:
            for i in positions:
                c = self._cache.get(i)
                if c is not None:
                    found[i] = c
        missing = sorted({i for i in positions if i not in found})
        con = self._conn()
        for k in range(0, len(missing), 500):
            part = missing[k : k + 500]
            q = f"SELECT i, data FROM chunks WHERE i IN ({','.join('?' * len(part))})"
            for i, data in con.execute(q, part):
                found[int(i)] = Chunk.from_dict(json.loads(data))
        for i in positions:
            if i not in found:
                raise IndexError(f"passage {i} out of range (0..{self._n - 1})")
        return [found[i] for i in positions]

    def __iter__(self) -> Iterator[Chunk]:
        # fetched in pages on this thread's connection; not cached (a full scan would evict the LRU)
        start = 0
        while start < self._n:
            rows = self._conn().execute("SELECT data FROM chunks WHERE i >= ? ORDER BY i LIMIT ?", (start, _BATCH)).fetchall()
            if not rows:
                return
            for (data,) in rows:
                yield Chunk.from_dict(json.loads(data))
            start += len(rows)

    def column(self, name: str) -> list[str]:
        """One metadata column (``id``, ``doc_id`` or ``municipality``) for every passage, in order."""
        if name not in COLUMNS:
            raise ValueError(f"no column {name!r} in the chunk store (one of {', '.join(COLUMNS)})")
        return [r[0] for r in self._conn().execute(f"SELECT {name} FROM chunks ORDER BY i")]

    def position(self, chunk_id: str) -> int | None:
        row = self._conn().execute("SELECT i FROM chunks WHERE id = ?", (chunk_id,)).fetchone()
        return None if row is None else int(row[0])
