"""PatientMonitor with devices whose clocks disagree: a sample's lateness is its own source's.

A patient wears a patch (a sample a minute) and has a BP cuff of its own, whose clock runs
10 minutes ahead. Each cuff reading must not make the next 10 minutes of the patch "late".
Nor, with the patch's clock 2 hours behind the cuff, may the cuff's readings count as the
patch's silence: whether the patch is live is judged on each device's own clock.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterator

import msgspec
import pytest

from ingest.sample import Sample
from stream.detect.monitor import PatientMonitor
from stream.pipeline import Pipeline
from tests.stream.detect_synth import T0, Mod, Person, ramp, samples

DAY = 1440
#: The cuff's clock lead in the audit that found the flaw (23 % of patch samples were late).
AHEAD = 600.0
#: The leads the patch must be judged live by: that one, and a patch 2 hours behind its cuff.
LEADS = pytest.mark.parametrize("ahead", [AHEAD, 2 * 3600.0])


def patch_and_cuff(
    minutes: int, mods: tuple[Mod, ...] = (), *, cuff_ahead: float | None = AHEAD
) -> Iterator[Sample]:
    """The synthetic patient's patch samples, in arrival order, with each BP reading sent by a
    separate cuff stamped ``cuff_ahead`` seconds off (``None``: no cuff at all)."""
    for s in samples(Person(seed=21), minutes, mods=mods):
        if s.sbp is None:
            yield s
            continue
        yield msgspec.structs.replace(s, sbp=None, dbp=None)
        if cuff_ahead is not None:
            yield Sample("p1", "cuff", s.ts + cuff_ahead, sbp=s.sbp, dbp=s.dbp)


def _monitor(stream: Iterator[Sample]) -> PatientMonitor:
    mon = PatientMonitor("p1")
    for s in stream:
        mon.observe(s)
    return mon


@LEADS
def test_a_cuff_clock_ahead_leaves_the_patch_stream_as_if_there_were_no_cuff(ahead) -> None:
    with_cuff = _monitor(patch_and_cuff(2 * DAY, cuff_ahead=ahead))
    patch_only = _monitor(patch_and_cuff(2 * DAY, cuff_ahead=None))
    # every patch sample learned as without the cuff (a late one is scored, not learned) ...
    for vital in ("hr", "spo2", "rr", "temp"):
        assert pickle.dumps(with_cuff.channels[vital]) == pickle.dumps(patch_only.channels[vital])
    # ... with the same activity context, NEWS2 check times and data-gap clock
    assert pickle.dumps(with_cuff.activity) == pickle.dumps(patch_only.activity)
    assert with_cuff.watermark == patch_only.watermark
    assert with_cuff.news2_next == patch_only.news2_next
    assert with_cuff.quality.last_seen == patch_only.quality.last_seen
    # and the cuff's own readings were learned, on its own clock
    assert with_cuff.channels["sbp"].recent_at == T0 + 60.0 * (2 * DAY - 23) + ahead


def _first_tachycardia(cuff_ahead: float | None) -> float:
    onset = DAY + 10 * 60 + 7  # a cuff reading's minute: the next 10 patch minutes matter
    pipe = Pipeline()
    mods = (ramp("hr", onset, 4, 138.0, onset + 60),)
    for s in patch_and_cuff(onset + 60, mods, cuff_ahead=cuff_ahead):
        for a in pipe.process(s).alerts:
            if a.kind == "tachycardia":
                return (a.detected_at - T0) / 60.0 - onset
    raise AssertionError("tachycardia not alerted")


@LEADS
def test_a_tachycardia_after_a_reading_of_a_cuff_ahead_is_alerted_as_promptly(ahead) -> None:
    assert _first_tachycardia(ahead) == _first_tachycardia(None) < 12


def test_a_cuff_clock_ahead_still_alerts_on_its_own_readings_at_once() -> None:
    pipe = Pipeline()
    hypertension = []
    for s in patch_and_cuff(DAY + 120):
        if s.device_id == "cuff" and s.ts > T0 + 60.0 * DAY:
            s = msgspec.structs.replace(s, sbp=208.0, dbp=122.0)
        hypertension += [a for a in pipe.process(s).alerts if a.kind == "hypertension"]
    assert hypertension and hypertension[0].detected_at < T0 + 60.0 * (DAY + 60) + AHEAD


def test_a_cuff_backlog_older_than_its_newest_reading_is_scored_not_learned() -> None:
    mon = _monitor(patch_and_cuff(DAY))
    before = pickle.dumps(mon.channels["sbp"]), pickle.dumps(mon.rule_state)
    old = Sample("p1", "cuff", T0 + 60.0 * (DAY - 100), sbp=212.0, dbp=124.0)
    score, found = mon.observe(old)
    assert score > 0.5 and [f for f in found if f.kind == "hypertension"] == []
    assert (pickle.dumps(mon.channels["sbp"]), pickle.dumps(mon.rule_state)) == before


@LEADS
def test_a_cuff_clock_ahead_does_not_hide_the_patch_falling_silent(ahead) -> None:
    mon = _monitor(patch_and_cuff(DAY, cuff_ahead=ahead))
    last = mon.watermark
    # the patch goes quiet; the cuff reads 5 min later, stamped ``ahead`` ahead of that
    mon.observe(Sample("p1", "cuff", last + 300.0 + ahead, sbp=124.0, dbp=80.0))
    [gap] = mon.tick(last + 1860.0)
    assert gap.kind == "data_gap" and gap.since == last


@LEADS
def test_a_cuff_alone_keeps_its_own_clock_when_the_patch_is_long_silent(ahead) -> None:
    # hours after the patch came off, the cuff is the patient's only device: its readings
    # are data (no "offline" while it reads) and the NEWS2 checks run on them
    mon = _monitor(patch_and_cuff(DAY, cuff_ahead=ahead))
    t = mon.watermark + ahead + 4 * 3600.0
    mon.observe(Sample("p1", "cuff", t, sbp=124.0, dbp=80.0))
    assert mon.quality.last_seen == t and mon.news2_next == t + 300.0
    assert mon.tick(t + 600.0) == []


def test_a_cuff_backlog_builds_no_evidence_for_the_multi_vital_rules() -> None:
    # A late sample is scored, never evidence: a cuff's readings older than its newest one
    # (a backlog) must not count as three more readings of the patch's deterioration, which
    # is in evidence when they arrive (the early warning's run of readings).
    onset = DAY + 600
    mods = tuple(
        ramp(vital, onset, 60, level, onset + 240)
        for vital, level in (("hr", 118.0), ("rr", 24.0), ("spo2", 92.0), ("temp", 38.4))
    )
    mon = PatientMonitor("p1")
    for s in patch_and_cuff(onset + 77, mods):
        mon.observe(s)
    assert "deterioration:early" in mon.rule_state  # (the run the backlog must not extend)
    newest = mon.channels["sbp"].recent_at
    mon.top_channel = None
    before, evidence = pickle.dumps(mon), pickle.dumps(mon.rule_state)
    for i in range(3):
        mon.observe(Sample("p1", "cuff", newest - 1800.0 - 60.0 * i, sbp=120.0, dbp=80.0))
    mon.top_channel = None  # (what the last sample scored highest: not state)
    assert pickle.dumps(mon.rule_state) == evidence
    assert pickle.dumps(mon) == before


def test_a_cuff_that_falls_silent_with_the_patch_2_hours_behind_is_seen_by_its_own_clock() -> None:
    # The patch's clock runs 2 h behind the cuff's and the patch comes off: 40 min later
    # (on either clock) the cuff's reading finds no live stream, and keeps the patient's clock.
    ahead = 2 * 3600.0
    mon = _monitor(patch_and_cuff(DAY, cuff_ahead=ahead))
    t = mon.watermark + ahead + 2400.0
    mon.observe(Sample("p1", "cuff", t, sbp=124.0, dbp=80.0))
    assert mon.quality.last_seen == t and mon.news2_next == t + 300.0


def test_a_cuff_uploading_its_readings_late_does_not_hide_the_patch_falling_silent() -> None:
    # The cuff was out of range for 3 hours: its readings since arrive at once, each newer
    # than the last one of its own (on time for BP), all older than the patch's newest sample.
    # They leave the patch's clocks alone, and teach nothing about the cuff's clock: when the
    # patch then goes quiet, the cuff's next reading does not count as the patch's data.
    held = T0 + 60.0 * (DAY - 180)
    stream = list(patch_and_cuff(DAY, cuff_ahead=0.0))
    mon = _monitor(s for s in stream if s.device_id != "cuff" or s.ts < held)
    patch_only = _monitor(patch_and_cuff(DAY, cuff_ahead=None))
    backlog = [s for s in stream if s.device_id == "cuff" and s.ts >= held]
    assert len(backlog) == 6
    for s in backlog:
        mon.observe(s)
    assert mon.channels["sbp"].recent_at == backlog[-1].ts  # (each on time for BP)
    assert mon.news2_next == patch_only.news2_next
    assert mon.quality.last_seen == patch_only.quality.last_seen
    assert pickle.dumps(mon.activity) == pickle.dumps(patch_only.activity)
    last = mon.watermark
    mon.observe(Sample("p1", "cuff", last + 300.0, sbp=124.0, dbp=80.0))
    [gap] = mon.tick(last + 1860.0)
    assert gap.kind == "data_gap" and gap.since == last
