"""A partition's records reach its state one offset after the other, or the worker seeks back.

Faust drops records it has fetched when it resumes flow after seeking a new assignment to
its committed offset; the worker must notice the jump and fetch them again, never carry on
with a state that lacks them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ingest.encoding import records_from_samples
from ingest.sample import Sample
from stream.app import WorkerRuntime
from stream.checkpoint import canonical_state
from stream.exceptions import StreamError
from stream.processor import Out, OutputTopics, VitalsProcessor
from stream.state_slot import StateSlot
from stream.worker_offsets import OffsetGuard
from stream.worker_settings import WorkerSettings


def test_records_in_order_or_already_seen_are_handled() -> None:
    guard = OffsetGuard()
    assert [guard.check(0, expected=5, offset=o, now=0.0) for o in (5, 3, 0)] == ["handle"] * 3
    assert guard.rewinds == 0


def test_a_jump_ahead_seeks_back_until_the_missing_records_come() -> None:
    guard = OffsetGuard()
    assert guard.check(0, expected=10, offset=40, now=0.0) == "rewind"
    # What was buffered before the seek keeps coming: seek back again, never handle it.
    assert guard.check(0, expected=10, offset=41, now=0.0) == "rewind"
    assert guard.check(0, expected=10, offset=80, now=0.0) == "rewind"
    assert guard.check(1, expected=7, offset=7, now=0.0) == "handle"  # other partitions carry on
    assert guard.check(0, expected=10, offset=10, now=0.0) == "handle"
    assert guard.rewinds == 3
    # Healed: a later jump past the same offset is a new one, not "the log lacks them".
    assert guard.check(0, expected=11, offset=40, now=0.0) == "rewind"


def test_a_jump_that_is_in_the_log_itself_is_accepted_after_a_seek_back() -> None:
    guard = OffsetGuard()
    assert guard.check(0, expected=10, offset=12, now=0.0) == "rewind"
    assert guard.check(0, expected=10, offset=13, now=0.0) == "rewind"  # buffered before the seek
    assert (
        guard.check(0, expected=10, offset=12, now=0.0) == "accept"
    )  # fetched again: 10, 11 absent
    assert guard.check(0, expected=13, offset=13, now=0.0) == "handle"


def test_a_partition_that_never_gets_its_missing_records_stops_the_worker() -> None:
    guard = OffsetGuard(give_up_after_s=60.0)
    for offset, now in ((20, 0.0), (21, 30.0), (22, 60.0)):
        assert guard.check(0, expected=10, offset=offset, now=now) == "rewind"
    with pytest.raises(StreamError, match="3 seeks back to offset 10 in 61 s"):
        guard.check(0, expected=10, offset=23, now=61.0)


def test_a_forgotten_partition_starts_over() -> None:
    guard = OffsetGuard()
    assert guard.check(0, expected=10, offset=12, now=0.0) == "rewind"
    guard.forget(0)
    assert guard.check(0, expected=10, offset=12, now=0.0) == "rewind"  # not taken as absent


# -- the worker's batch handling, without Kafka ---------------------------------------------


@dataclass
class _Message:
    partition: int
    offset: int
    key: bytes
    value: bytes
    generation_id: int = 0


@dataclass
class _Event:
    message: _Message


def _records() -> list[tuple[bytes, bytes]]:
    """One partition's records: two patients every minute, then one of them falls silent."""
    samples = [
        Sample(pid, f"d-{pid}", 1.7e9 + 60.0 * i, hr=70.0 + i % 7, spo2=97.0, rr=16.0)
        for i in range(120)
        for pid in ("p1", "p2")
        if pid == "p1" or i < 60
    ]
    return list(records_from_samples(samples, received_at=1.7e9, max_samples=1))


class _Harness:
    """A WorkerRuntime owning partition 0, with the consumer and the producer faked."""

    def __init__(self, root: Path) -> None:
        settings = WorkerSettings(_env_file=None, topic_prefix="t.", vitals_partitions=1)
        self.runtime = rt = WorkerRuntime(settings, StateSlot.acquire(root))
        rt.processor.restore({0}, [])
        rt.saved_offset[0] = 0
        rt.assigned, rt.frozen, rt.check_owned = {0}, False, False
        self.seeks: list[dict[int, int]] = []
        self.outs: list[Out] = []

        async def seek(offsets: dict[int, int]) -> None:
            self.seeks.append(dict(offsets))

        async def send(outs: list[Out]) -> None:
            self.outs += outs

        async def nothing(*_: Any, **__: Any) -> None:
            return None

        rt._seek = seek  # type: ignore[method-assign]
        rt._send = send  # type: ignore[method-assign]
        rt._commit_saved = nothing  # type: ignore[method-assign]
        rt._checkpoint = lambda partitions: None  # type: ignore[method-assign]

    async def batch(self, records: list[tuple[bytes, bytes]], offsets: Sequence[int]) -> None:
        events = [_Event(_Message(0, o, *records[o])) for o in offsets]
        await self.runtime._handle_batch(events)  # type: ignore[arg-type]


async def test_records_lost_before_the_worker_are_fetched_again_not_skipped(
    tmp_path: Path,
) -> None:
    records = _records()
    whole = VitalsProcessor(OutputTopics.for_prefix("t."))
    whole.restore({0}, [])
    expected = [o for i, (k, v) in enumerate(records) for o in whole.handle(0, i, k, v, now=0.0)]

    h = _Harness(tmp_path / "slot")
    await h.batch(records, range(0, 30))
    await h.batch(records, range(30, 40))
    await h.batch(records, range(90, 120))  # 40..89 dropped on the way (a Faust buffer cleared)
    await h.batch(records, range(120, 150))  # fetched before the seek back
    assert h.seeks == [{0: 40}, {0: 40}]
    assert h.runtime.processor.next_offset(0) == 40  # nothing past the gap was applied
    # More of what was fetched before, then what was fetched again from the seek: the
    # records fetched again mend the partition in this very batch, with no further seek.
    await h.batch(records, [*range(150, 160), *range(40, len(records))])
    assert h.seeks == [{0: 40}, {0: 40}]
    assert h.runtime.guard.pending == {}  # healed
    assert h.runtime.processor.stats.skipped == 0
    # Exactly what an uninterrupted run holds and produces.
    assert [o.value for o in h.outs] == [o.value for o in expected]
    got, want = h.runtime.processor.patient_states(0), whole.patient_states(0)
    assert {p: canonical_state(s) for p, s in got.items()} == {
        p: canonical_state(s) for p, s in want.items()
    }


async def test_a_partition_whose_last_records_were_dropped_is_sought_back_when_idle(
    tmp_path: Path,
) -> None:
    records = _records()
    h = _Harness(tmp_path / "slot")
    rt = h.runtime
    positions = {0: len(records)}  # the consumer fetched everything ...

    class _Consumer:
        async def position(self, tp: Any) -> int:
            return positions[tp.partition]

    rt.app.consumer = _Consumer()  # type: ignore[assignment]
    await h.batch(records, range(0, 100))  # ... but 100.. never reached the worker
    await rt._mend_idle()
    assert h.seeks == []  # it handled records just now: nothing to say yet
    rt.progress_at[0] -= rt.settings.idle_check_s
    await rt._mend_idle()
    assert h.seeks == [{0: 100}]
    positions[0] = 100  # caught up to its position: an idle partition is left alone
    rt.progress_at[0] -= rt.settings.idle_check_s
    await rt._mend_idle()
    assert h.seeks == [{0: 100}]


async def test_a_restored_partition_whose_records_were_all_dropped_is_sought_back_when_idle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Partitions 0 and 1 assigned; Faust dropped every record it fetched of partition 1 (a
    # backlog that was all it had), so only partition 0's records reach the worker.
    records = _records()
    h = _Harness(tmp_path / "slot")
    rt = h.runtime
    rt.assigned = {0, 1}

    class _Table:
        data: dict[bytes, bytes] = {}

        def items(self) -> list[tuple[bytes, bytes]]:
            return []

    class _Consumer:
        async def position(self, tp: Any) -> int:
            return {0: 10, 1: 25}[tp.partition]

    rt.table = _Table()  # type: ignore[assignment]
    rt.app.consumer = _Consumer()  # type: ignore[assignment]
    clock = [1_000.0]
    monkeypatch.setattr("stream.app.time.time", lambda: clock[0])
    await h.batch(records, range(0, 10))  # restores partition 1 too, which gets nothing
    assert rt.processor.next_offset(1) == 0
    clock[0] += rt.settings.idle_check_s
    await rt._mend_idle()
    assert h.seeks == [{1: 0}]  # its 25 fetched records are fetched again


async def test_revocation_checkpoints_a_partition_whose_last_records_were_dead_letters(
    tmp_path: Path,
) -> None:
    records = _records()
    h = _Harness(tmp_path / "slot")
    rt = h.runtime
    await h.batch(records, range(0, 5))
    rt.processor.checkpoint(0)  # (stored, say: the partition is clean)
    garbage = [*records[:5], (b"p1", b"\x93garbage")]
    await h.batch(garbage, [5])  # dead-lettered: the offset moved past it all the same
    checkpointed: list[list[int]] = []
    rt._checkpoint = checkpointed.append  # type: ignore[method-assign]
    await rt._on_revoked(None, set())
    assert checkpointed == [[0]]
