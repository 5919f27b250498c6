"""Which webhook deliveries are finished, so a re-read Kafka record is not sent twice.

A delivery is *finished* once it was answered 2xx or dead-lettered. The notifier asks
:meth:`DeliveryLedger.seen` before sending and calls :meth:`DeliveryLedger.record` after.
:class:`SqliteLedger` survives restarts; :class:`MemoryLedger` is for tests and the demo.

Examples
--------
>>> ledger = SqliteLedger(":memory:")
>>> ledger.seen("d1")
False
>>> ledger.record("d1", "delivered")
>>> ledger.seen("d1")
True
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from typing import Protocol

__all__ = ["DeliveryLedger", "MemoryLedger", "SqliteLedger"]


class DeliveryLedger(Protocol):
    """Remembers finished deliveries (delivered or dead-lettered)."""

    def seen(self, delivery_id: str) -> bool:
        """Whether ``delivery_id`` was already finished."""

    def record(self, delivery_id: str, outcome: str) -> None:
        """Remember that ``delivery_id`` finished with ``outcome``."""


class MemoryLedger:
    """A :class:`DeliveryLedger` in a dict (tests, the embedded demo)."""

    def __init__(self) -> None:
        self.outcomes: dict[str, str] = {}

    def seen(self, delivery_id: str) -> bool:
        return delivery_id in self.outcomes

    def record(self, delivery_id: str, outcome: str) -> None:
        self.outcomes[delivery_id] = outcome


class SqliteLedger:
    """A :class:`DeliveryLedger` in a SQLite file (survives restarts of the notifier)."""

    def __init__(self, path: str | Path) -> None:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS deliveries (delivery_id TEXT PRIMARY KEY, "
            "outcome TEXT NOT NULL, at REAL NOT NULL)"
        )

    def seen(self, delivery_id: str) -> bool:
        with self._lock:
            row = self._db.execute(
                "SELECT 1 FROM deliveries WHERE delivery_id = ?", (delivery_id,)
            ).fetchone()
        return row is not None

    def record(self, delivery_id: str, outcome: str) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO deliveries VALUES (?, ?, ?)",
                (delivery_id, outcome, time.time()),
            )

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()
