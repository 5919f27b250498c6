"""A partition's event-time clock when its devices' clocks disagree.

Its ticks open the data gaps of every patient on the partition, so a spot device (a cuff, a
meter) whose clock runs ahead must not move them on; a partition that has only spot devices
must still tick.
"""

from __future__ import annotations

from collections.abc import Iterator

import msgspec
import pytest

from alerts.model import Alert
from ingest.sample import Sample
from stream.detect.sources import SPOT_LEAD_S
from stream.partition import PartitionMonitor
from stream.replay import replay
from tests.stream.detect_synth import T0, Person, samples

MINUTES = 240
#: Patient "pb"'s patch stops after this minute.
STOPS = 100


def partition_samples(cuff_ahead: float | None) -> Iterator[Sample]:
    """Two patients' patches, in arrival order; "pc" has a separate cuff stamped
    ``cuff_ahead`` seconds off (``None``: no cuff), "pb"'s patch stops. (On 4 partitions
    they share one.)"""
    c = samples(Person(seed=1, cuff_every=20), MINUTES, pid="pc")
    b = samples(Person(seed=2), MINUTES, pid="pb")
    for m, (sc, sb) in enumerate(zip(c, b, strict=True)):
        yield msgspec.structs.replace(sc, sbp=None, dbp=None)
        if sc.sbp is not None and cuff_ahead is not None:
            yield Sample("pc", "cuff-pc", sc.ts + cuff_ahead, sbp=sc.sbp, dbp=sc.dbp)
        if m <= STOPS:
            yield sb


def ticked(stream: Iterator[Sample]) -> list[Alert]:
    pm = PartitionMonitor(partition=0)
    return [a for s in stream for a in pm.process(s)[1]]


def technical(alerts: list[Alert], pid: str) -> list[tuple[str, str, float, float]]:
    return [
        (a.kind, a.status, a.detected_at, a.started_at)
        for a in alerts
        if a.patient_id == pid and a.category == "technical"
    ]


@pytest.mark.parametrize("ahead", [600.0, SPOT_LEAD_S])
def test_a_cuff_clock_ahead_opens_no_data_gap_of_a_partition_mate_early(ahead: float) -> None:
    without = technical(ticked(partition_samples(None)), "pb")
    assert without[0][:3] == ("data_gap", "open", T0 + 60.0 * (STOPS + 30))
    assert technical(ticked(partition_samples(ahead)), "pb") == without


@pytest.mark.parametrize("partitions", [1, 4])
def test_replay_ticks_a_cuff_clock_ahead_as_the_partitions_do(partitions: int) -> None:
    def rows(cuff_ahead: float | None) -> list[dict[str, object]]:
        return [{**s.to_dict(), "ts": s.ts} for s in partition_samples(cuff_ahead)]

    without = technical(replay(rows(None), partitions=partitions).alerts, "pb")
    assert without[0][:3] == ("data_gap", "open", T0 + 60.0 * (STOPS + 30))
    assert technical(replay(rows(600.0), partitions=partitions).alerts, "pb") == without


def test_a_partition_of_spot_devices_alone_still_ticks() -> None:
    # Two cuff-only patients; "pb"'s cuff stops. Their partition ticks on "pc"'s readings,
    # SPOT_LEAD_S behind them: "pb"'s data gap opens then.
    pm = PartitionMonitor(partition=0)
    alerts = []
    for m in range(0, 8 * 60, 15):
        ts = T0 + 60.0 * m
        for pid in ("pc", "pb") if m <= STOPS else ("pc",):
            alerts += pm.process(Sample(pid, f"cuff-{pid}", ts, sbp=122.0, dbp=80.0))[1]
    gaps = [a for a in alerts if a.kind == "data_gap" and a.patient_id == "pb"]
    last_pb = T0 + 60.0 * 90
    assert gaps and gaps[0].started_at == last_pb
    assert gaps[0].detected_at == last_pb + 1800.0
    assert pm.watermark == T0 + 60.0 * (8 * 60 - 15) - SPOT_LEAD_S
