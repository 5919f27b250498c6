"""A patient's sources and their clocks: spot samples, and a stream judged live per device."""

from __future__ import annotations

import pickle

import pytest

from ingest.encoding import WireSample
from ingest.sample import Sample
from stream.detect.monitor import PatientMonitor
from stream.detect.sources import (
    MAX_SPOT_DEVICES,
    SPOT_LEAD_S,
    SpotClocks,
    clock_time,
    is_spot,
)
from tests.stream.detect_synth import T0

GAP = 1800.0


@pytest.mark.parametrize(
    ("fields", "spot"),
    [({"sbp": 120.0, "dbp": 80.0}, True), ({"glucose": 96.0, "quality": 0.9}, True),
     ({"hr": 70.0}, False), ({"sbp": 120.0, "temp": 36.8}, False),
     ({"sbp": 120.0, "motion": 0.1}, False), ({"glucose": 96.0, "custom": {"eda": 2.0}}, False)],
)  # fmt: skip
def test_a_spot_sample_has_no_wearable_vital_motion_or_channel(fields, spot) -> None:
    sample = Sample("p1", "d1", T0, **fields)
    assert is_spot(sample) is spot
    # the wire form, as a worker passes the time of samples it holds, is read alike
    assert is_spot(WireSample(T0, **fields)) is spot
    assert clock_time(sample) == (T0 - SPOT_LEAD_S if spot else T0)


def test_a_device_whose_clock_is_set_an_hour_on_is_followed_from_its_next_reading() -> None:
    clocks = SpotClocks()
    stream = T0
    live = []
    for hour in range(6):
        stream = T0 + 3600.0 * hour  # the patch's newest sample at each cuff reading
        ahead = 600.0 if hour < 3 else 600.0 + 3600.0  # (daylight saving, say)
        live.append(clocks.stream_live("cuff", stream + ahead, stream, GAP))
    assert live == [True, True, True, False, True, True]
    assert clocks.leads["cuff"] == (4200.0, stream)


def test_a_patch_that_falls_silent_is_not_live_however_far_its_clock_is_behind() -> None:
    clocks = SpotClocks()
    for hour in range(3):
        assert clocks.stream_live("cuff", T0 + 3600.0 * hour + SPOT_LEAD_S, T0 + 3600.0 * hour, GAP)
    last = T0 + 7200.0
    # the patch stops: readings every 10 min find it live until it has been silent 30 min,
    # on its own clock
    live = [
        clocks.stream_live("cuff", last + SPOT_LEAD_S + 600.0 * i, last, GAP) for i in range(1, 6)
    ]
    assert live == [True, True, False, False, False]


def test_each_device_keeps_its_own_lead() -> None:
    clocks = SpotClocks()
    for hour in range(4):
        stream = T0 + 3600.0 * hour
        assert clocks.stream_live("cuff", stream + SPOT_LEAD_S, stream, GAP)
        assert clocks.stream_live("meter", stream - 300.0, stream + 60.0, GAP)
    assert clocks.leads == {"cuff": (SPOT_LEAD_S, stream), "meter": (0.0, stream + 60.0)}


def test_a_never_seen_stream_is_never_live_and_teaches_nothing() -> None:
    clocks = SpotClocks()
    assert not clocks.stream_live("cuff", T0, float("-inf"), GAP)
    assert clocks.leads == {}


def test_the_leads_kept_are_bounded() -> None:
    clocks = SpotClocks()
    for i in range(MAX_SPOT_DEVICES + 3):
        clocks.stream_live(f"cuff{i}", T0 + 60.0 * i, T0 + 60.0 * i, GAP)
    assert list(clocks.leads) == [f"cuff{i}" for i in range(3, MAX_SPOT_DEVICES + 3)]
    assert pickle.loads(pickle.dumps(clocks)).leads == clocks.leads  # noqa: S301 - our own bytes


def test_a_monitor_saved_before_spot_clocks_restores_with_none_learned() -> None:
    mon = PatientMonitor("p1")
    mon.observe(Sample("p1", "d1", T0, hr=70.0))
    mon.observe(Sample("p1", "cuff", T0 + 600.0, sbp=120.0, dbp=80.0))
    assert mon.spot_clocks.leads == {"cuff": (600.0, T0)}
    old = PatientMonitor.__new__(PatientMonitor)
    old.__setstate__(mon.__getstate__()[:-1])
    assert old.spot_clocks.leads == {} and old.news2_next == mon.news2_next
    assert pickle.dumps(old.gate) == pickle.dumps(mon.gate)
