"""The demo's in-process bus: Kafka-like fan-out, thread-safe publishing, bounded lag."""

from __future__ import annotations

import asyncio
import threading

from vigil.demo.bus import InProcessBus


async def test_every_subscriber_gets_every_record_in_publish_order() -> None:
    bus = InProcessBus()
    a, b = bus.subscribe("t"), bus.subscribe("t")
    for i in range(5):
        bus.publish("t", f"k{i}", str(i).encode())
    for sub in (a, b):
        got = [await sub.get() for _ in range(5)]
        assert [r.value for r in got] == [b"0", b"1", b"2", b"3", b"4"]
        assert [r.offset for r in got] == [0, 1, 2, 3, 4]


async def test_records_published_before_subscribing_or_on_other_topics_are_not_delivered() -> None:
    bus = InProcessBus()
    bus.publish("t", "k", b"early")
    sub = bus.subscribe("t")
    bus.publish("other", "k", b"elsewhere")
    assert sub.get_nowait() is None


async def test_publish_from_another_thread_is_delivered_on_the_loop() -> None:
    bus = InProcessBus()
    sub = bus.subscribe("t")
    thread = threading.Thread(target=lambda: bus.publish("t", "k", b"from-thread"))
    thread.start()
    thread.join()
    record = await asyncio.wait_for(sub.get(), timeout=2)
    assert record.value == b"from-thread"


async def test_a_lagging_subscriber_drops_its_oldest_records_and_counts_them() -> None:
    bus = InProcessBus(max_lag=3)
    sub = bus.subscribe("t")
    for i in range(5):
        bus.publish("t", "k", str(i).encode())
    assert sub.dropped == 2
    assert [sub.get_nowait().value for _ in range(3)] == [b"2", b"3", b"4"]  # type: ignore[union-attr]


async def test_unsubscribed_subscriber_gets_nothing_more() -> None:
    bus = InProcessBus()
    sub = bus.subscribe("t")
    bus.unsubscribe(sub)
    bus.publish("t", "k", b"x")
    assert sub.pending() == 0
    assert bus.offsets() == {"t": 1}
