"""The in-flight window: acks in arrival order, only after delivery, bounded."""

from __future__ import annotations

import threading
import time

from ingest.inflight import InflightWindow


def test_messages_are_acked_in_arrival_order_whatever_order_kafka_finishes():
    acked = []
    window = InflightWindow(10, ack=lambda mid, gen: acked.append(mid))
    entries = [window.open(mid=m, generation=1, records=1) for m in (1, 2, 3)]
    window.done(entries[2], None)
    window.done(entries[1], None)
    assert acked == []
    window.done(entries[0], None)
    assert acked == [1, 2, 3] and len(window) == 0


def test_a_full_window_blocks_the_receiver_until_an_ack_frees_room():
    window = InflightWindow(1, ack=lambda mid, gen: None)
    first = window.open(mid=1, generation=1, records=1)
    opened = threading.Event()

    def receive():
        window.open(mid=2, generation=1, records=1)
        opened.set()

    threading.Thread(target=receive, daemon=True).start()
    assert not opened.wait(0.2)
    window.done(first, None)
    assert opened.wait(2)


def test_after_a_delivery_failure_nothing_more_is_acked():
    acked, failures = list[int](), list[BaseException]()
    window = InflightWindow(10, ack=lambda mid, gen: acked.append(mid), on_failure=failures.append)
    a = window.open(mid=1, generation=1, records=1)
    b = window.open(mid=2, generation=1, records=1)
    error = RuntimeError("kafka down")
    window.done(a, error)
    window.done(b, None)
    assert acked == [] and failures == [error] and window.failed is error
    assert window.wait_empty(0.1) is False
    # A full window does not deadlock the receiver once delivery has failed.
    small = InflightWindow(1, ack=lambda mid, gen: None)
    small.done(small.open(mid=1, generation=1, records=2), error)
    start = time.monotonic()
    small.open(mid=2, generation=1, records=1)
    assert time.monotonic() - start < 1


def test_wait_empty_returns_once_everything_is_acked():
    window = InflightWindow(10, ack=lambda mid, gen: None)
    entry = window.open(mid=1, generation=1, records=1)
    threading.Timer(0.05, window.done, (entry, None)).start()
    assert window.wait_empty(2)
