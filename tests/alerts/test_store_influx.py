"""The InfluxDB store's own behaviour against the real server: actions from several processes.

Several API processes share one InfluxDB, so an in-process lock cannot make "one ack wins";
each test here uses two :class:`InfluxStore` instances (two HTTP clients), as two API
processes would.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from alerts.exceptions import InvalidTransition
from alerts.lifecycle import Action
from alerts.store.base import AlertRecord
from alerts.store.claims import LEASE_S, claim_line
from alerts.store.influx import InfluxStore
from tests.alerts.alert_factories import T0, make_alert

#: Rounds of the race: each one a fresh alert acknowledged by two processes at once.
RACE_ROUNDS = 20


class Racing(InfluxStore):
    """An InfluxStore whose alert reads wait for the other process's read (when it reads).

    Both requests read the alert before either records its action, if the store lets them:
    then both pass the check. A serialised store keeps the other request out of its read; the
    barrier then times out and the read goes on.
    """

    meet: threading.Barrier | None = None

    def get_alert(self, alert_id: str) -> AlertRecord | None:
        record = super().get_alert(alert_id)
        if self.meet is not None:
            try:
                self.meet.wait()
            except threading.BrokenBarrierError:
                pass  # serialised: the other request is not reading now
        return record


@pytest.fixture
def two_processes(stack_env: dict[str, str], influx_bucket: str) -> Iterator[list[Racing]]:
    stores = [
        Racing(
            url=stack_env["VIGIL_INFLUX_URL"],
            token=stack_env["VIGIL_INFLUX_TOKEN"],
            org=stack_env["VIGIL_INFLUX_ORG"],
            bucket=influx_bucket,
        )
        for _ in range(2)
    ]
    try:
        yield stores
    finally:
        for store in stores:
            store.close()


def _race(stores: list[Racing], alert_id: str, actions: list[tuple[Action, str]]) -> list[str]:
    """Run one action per store at the same moment; each outcome, in store order."""
    meet = threading.Barrier(len(stores), timeout=0.5)
    start = threading.Barrier(len(stores), timeout=10)
    outcomes = [""] * len(stores)

    def act(i: int) -> None:
        action, actor = actions[i]
        stores[i].meet = meet
        start.wait()
        try:
            stores[i].record_action(alert_id, action, actor=actor)
            outcomes[i] = "done"
        except InvalidTransition as exc:
            outcomes[i] = f"refused: {exc}"
        finally:
            stores[i].meet = None

    threads = [threading.Thread(target=act, args=(i,)) for i in range(len(stores))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return outcomes


@pytest.mark.integration
def test_two_processes_acknowledging_at_once_one_is_refused_every_round(
    two_processes: list[Racing],
) -> None:
    kim, lee = two_processes
    for i in range(RACE_ROUNDS):
        alert = make_alert(f"p{i}", detected_at=T0 + i)
        kim.put_alerts([alert])
        outcomes = _race(two_processes, alert.alert_id, [("ack", "kim"), ("ack", "lee")])
        refusal = "refused: cannot 'ack' an alert that is acknowledged"  # as SQLite's 409
        assert sorted(outcomes) == ["done", refusal], (i, outcomes)
        events = lee.events(alert.alert_id)
        assert [e.action for e in events] == ["ack"], i
        record = kim.get_alert(alert.alert_id)
        assert record is not None and record.state.status == "acknowledged"
        assert record.state.acknowledged_by == ("kim" if outcomes[0] == "done" else "lee")


@pytest.mark.integration
def test_an_action_right_after_another_is_not_held_up_by_its_released_claim(
    two_processes: list[Racing],
) -> None:
    kim, lee = two_processes
    alert = make_alert()
    kim.put_alerts([alert])
    kim.record_action(alert.alert_id, "ack", actor="kim")
    started = time.monotonic()
    result = lee.record_action(alert.alert_id, "resolve", actor="lee")
    assert time.monotonic() - started < LEASE_S / 4  # well inside the 30 s lease
    assert result is not None and result[0].state.status == "resolved"


@pytest.mark.integration
def test_a_claim_whose_writer_died_blocks_the_alert_only_until_its_lease_ends(
    stack_env: dict[str, str], influx_bucket: str
) -> None:
    lease_s = 4.0
    store = InfluxStore(
        url=stack_env["VIGIL_INFLUX_URL"],
        token=stack_env["VIGIL_INFLUX_TOKEN"],
        org=stack_env["VIGIL_INFLUX_ORG"],
        bucket=influx_bucket,
        timeout_ms=2000,
        action_lease_s=lease_s,
    )
    try:
        alert = make_alert()
        store.put_alerts([alert])
        crashed = time.monotonic()
        # An API process claimed the alert and died before it acted or released the claim.
        store._write_lines(influx_bucket, [claim_line(alert.alert_id, "dead0000")])
        result = store.record_action(alert.alert_id, "ack", actor="kim")
        waited = time.monotonic() - crashed
        assert result is not None and result[0].state.acknowledged_by == "kim"
        assert lease_s <= waited < 3 * lease_s
    finally:
        store.close()


def test_an_influx_store_refuses_a_lease_too_short_for_its_timeout() -> None:
    # A holder writes until half its lease; a write must then end before the lease does.
    with pytest.raises(ValueError, match="twice the HTTP timeout"):
        InfluxStore(
            url="http://127.0.0.1:9",  # never contacted
            token="unused",
            org="vigil",
            bucket="unused",
            timeout_ms=10_000,
            action_lease_s=15.0,
        )


@pytest.mark.integration
def test_an_ack_and_a_resolve_at_once_end_as_if_one_came_after_the_other(
    two_processes: list[Racing],
) -> None:
    # Serialised like SQLite: ack then resolve both succeed; resolve then ack refuses the ack.
    kim, lee = two_processes
    for i in range(5):
        alert = make_alert(f"p{i}", detected_at=T0 + i)
        kim.put_alerts([alert])
        outcomes = _race(two_processes, alert.alert_id, [("ack", "kim"), ("resolve", "lee")])
        actions = [e.action for e in lee.events(alert.alert_id)]
        assert (outcomes, actions) in [
            (["done", "done"], ["ack", "resolve"]),
            (["refused: cannot 'ack' an alert that is resolved", "done"], ["resolve"]),
        ], i
        record = kim.get_alert(alert.alert_id)
        assert record is not None and record.state.status == "resolved"
