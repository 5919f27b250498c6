"""SQLite connections shared by threads: one writer behind a lock, a small pool of readers.

The API calls the store from its thread pool. With one connection behind one lock, every
read waits for every other read. SQLite in WAL mode lets readers run beside the writer
(each statement sees one committed snapshot), and ``sqlite3`` releases the GIL while a
statement runs, so :class:`Connections` hands each read its own connection from a pool of
at most ``max_readers`` (more concurrent reads wait for one; the machine has few cores).
An in-memory database is one connection: a second would open a second, empty database.

Examples
--------
>>> conns = Connections(":memory:")
>>> with conns.lock:
...     _ = conns.writer.execute("CREATE TABLE t (x)")
...     _ = conns.writer.execute("INSERT INTO t VALUES (1)")
>>> with conns.read() as db:
...     db.execute("SELECT x FROM t").fetchone()[0]
1
>>> conns.close()
"""

from __future__ import annotations

import queue
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Final

__all__ = ["MAX_READERS", "Connections"]

#: Reader connections kept open at most.
MAX_READERS: Final = 8


class Connections:
    """The writer connection, its lock, and a pool of reader connections.

    Parameters
    ----------
    path
        Database file (its parent directory is created), or ``":memory:"``.
    max_readers
        Reader connections kept open at most.
    """

    def __init__(self, path: str | Path, *, max_readers: int = MAX_READERS) -> None:
        self._path = str(path)
        self._memory = self._path == ":memory:"
        if not self._memory:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        #: Held for every use of :attr:`writer` (re-entrant: a transaction calls helpers).
        self.lock = threading.RLock()
        self.writer = self._connect()
        with self.lock:
            self.writer.execute("PRAGMA journal_mode=WAL")
            self.writer.execute("PRAGMA synchronous=NORMAL")
        self._idle: queue.SimpleQueue[sqlite3.Connection] = queue.SimpleQueue()
        self._readers: list[sqlite3.Connection] = []
        # Not ``lock``: a thread holding the writer lock may read (a checked lifecycle action),
        # and must not wait for a slot held by a reader that waits for the writer lock.
        self._readers_lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(max_readers)

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self._path, check_same_thread=False, isolation_level=None)
        db.row_factory = sqlite3.Row
        return db

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A connection for read statements (autocommit: each sees one committed snapshot)."""
        if self._memory:
            with self.lock:
                yield self.writer
            return
        with self._slots:
            try:
                db = self._idle.get_nowait()
            except queue.Empty:
                db = self._connect()
                db.execute("PRAGMA query_only=ON")
                with self._readers_lock:
                    self._readers.append(db)
            try:
                yield db
            finally:
                self._idle.put(db)

    def close(self) -> None:
        """Close every connection (readers in use by other threads included)."""
        with self.lock, self._readers_lock:
            for db in self._readers:
                db.close()
            self._readers.clear()
            self.writer.close()
