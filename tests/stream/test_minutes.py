"""A patient's per-minute records: the rollup and the minute's worst NEWS2 agree on minutes."""

from __future__ import annotations

from ingest.sample import Sample
from stream.minutes import PatientMinutes, risk_band
from stream.rollup import News2Record

T = 1_800_000_000.0  # a minute boundary


def test_a_late_sample_folds_into_the_open_minute_for_news2_as_for_the_rollup() -> None:
    # 08:00 scores 7 and closes; a late sample from 08:00 must not reopen 08:00 (a second
    # record of that minute would replace the first, worst one, where it is stored)
    m = PatientMinutes("p1")
    out = m.add(Sample("p1", "d", T + 10, hr=135.0), (7, {"hr": 3}))
    out += m.add(Sample("p1", "d", T + 65, hr=80.0), (0, {}))  # nothing scored yet
    out += m.add(Sample("p1", "d", T + 58, hr=95.0), (3, {"hr": 1}))  # late
    out += m.add(Sample("p1", "d", T + 125, hr=82.0), (1, {"hr": 0}))
    news = [(r.minute.timestamp() - T, r.score) for r in out if isinstance(r, News2Record)]
    assert news == [(0.0, 7), (60.0, 3)]


def test_new_confusion_alone_is_a_single_three() -> None:
    # NEWS2 3 from consciousness (not in the vitals' sub-scores): low-medium, as any single 3
    assert risk_band(3, {"hr": 0, "rr": 0}) == "low-medium"
    assert risk_band(2, {"hr": 0}) == "low"  # oxygen alone
