"""The SQLite store's own behaviour: which failures are the database's, not the batch's."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from alerts.exceptions import StoreError, StoreUnavailable
from alerts.store.base import StoreBatch
from alerts.store.sqlite import SqliteStore
from tests.alerts.alert_factories import make_alert


@pytest.mark.parametrize(
    ("message", "unavailable"),
    [
        ("database is locked", True),  # another writer (the API, a backup) holds the lock
        ("database or disk is full", True),
        ("unable to open database file", True),
        ('near "INSERTT": syntax error', False),  # our bug: refuse, do not retry for ever
    ],
)
def test_a_write_that_fails_for_the_database_is_unavailable_not_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, message: str, unavailable: bool
) -> None:
    store = SqliteStore(tmp_path / "store.sqlite3")

    def fail(fn: object, *args: object) -> None:
        raise sqlite3.OperationalError(message)

    monkeypatch.setattr(store, "_tx", fail)
    with pytest.raises(StoreError) as caught:
        store.write_batch(StoreBatch(alerts=[make_alert("p1")]))
    assert isinstance(caught.value, StoreUnavailable) is unavailable
    store.close()
