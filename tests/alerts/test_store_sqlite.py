"""The SQLite store's own behaviour: which failures are the database's, not the batch's."""

from __future__ import annotations

import shutil
import sqlite3
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from alerts.exceptions import InvalidTransition, StoreError, StoreUnavailable
from alerts.lifecycle import AlertEvent
from alerts.store.base import AlertQuery, AlertRecord, StoreBatch
from alerts.store.sqlite import SqliteStore
from tests.alerts.alert_factories import T0, make_alert


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


def test_a_database_locked_by_another_writer_is_unavailable_for_every_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A real lock (a backup, a second process), not a patched one: BEGIN IMMEDIATE fails, and
    # the store once answered "cannot rollback - no transaction is active" as a refused batch
    # (the sink then dead-lettered every record of it) or as a raw sqlite3 error (API 500).
    connect = sqlite3.connect
    # the store's connections wait 50 ms for a lock, not sqlite3's default 5 s
    monkeypatch.setattr(sqlite3, "connect", lambda *a, **kw: connect(*a, **{**kw, "timeout": 0.05}))
    path = tmp_path / "store.sqlite3"
    store = SqliteStore(path)
    alert = make_alert("p1")
    store.put_alerts([alert])
    ack = AlertEvent.create(
        alert.alert_id, "ack", actor="kim", at=datetime.fromtimestamp(T0 + 60, UTC)
    )
    other = connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    writes: list[Callable[[], object]] = [
        lambda: store.write_batch(StoreBatch(alerts=[make_alert("p2")])),
        lambda: store.put_alerts([make_alert("p2")]),
        lambda: store.put_events([ack]),
        lambda: store.record_action(alert.alert_id, "ack", actor="kim"),
    ]
    for write in writes:
        with pytest.raises(StoreUnavailable):
            write()
    other.execute("ROLLBACK")
    other.close()
    store.write_batch(StoreBatch(alerts=[make_alert("p2")], events=[ack]))  # the lock is gone
    assert len(store.list_alerts(AlertQuery()).items) == 2
    record = store.get_alert(alert.alert_id)
    assert record is not None and record.state.status == "acknowledged"
    store.close()


def test_a_read_of_a_database_that_cannot_be_opened_is_unavailable(tmp_path: Path) -> None:
    # The volume went away under the store: readers (opened on demand) cannot open the file.
    # The API must answer 503 "storage is unavailable", not a 500 with a sqlite3 traceback.
    folder = tmp_path / "data"
    store = SqliteStore(folder / "store.sqlite3")
    alert = make_alert("p1")
    store.put_alerts([alert])
    shutil.rmtree(folder)
    with pytest.raises(StoreUnavailable):
        store.list_alerts(AlertQuery())
    with pytest.raises(StoreUnavailable):
        store.get_alert(alert.alert_id)
    store.close()


def test_two_clinicians_acknowledging_at_once_one_is_refused(tmp_path: Path) -> None:
    # Both requests read the alert before either records its ack (the barrier lets them meet
    # there, if the store lets them): both passed the check, both got "acknowledged by me".
    meet = threading.Barrier(2, timeout=0.5)

    class Racing(SqliteStore):
        def get_alert(self, alert_id: str) -> AlertRecord | None:
            record = super().get_alert(alert_id)
            try:
                meet.wait()
            except threading.BrokenBarrierError:
                pass  # serialised: the other request is not reading now
            return record

    store = Racing(tmp_path / "store.sqlite3")
    alert = make_alert("p1")
    store.put_alerts([alert])
    outcomes: list[str] = []

    def ack(actor: str) -> None:
        try:
            store.record_action(alert.alert_id, "ack", actor=actor)
            outcomes.append("acknowledged")
        except InvalidTransition:
            outcomes.append("refused")

    threads = [threading.Thread(target=ack, args=(actor,)) for actor in ("kim", "lee")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["acknowledged", "refused"]
    assert [e.action for e in store.events(alert.alert_id)] == ["ack"]
    store.close()
