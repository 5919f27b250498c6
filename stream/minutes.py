"""One patient's per-minute records: the vitals rollup and the minute's worst NEWS2.

:class:`PatientMinutes` sits beside a patient's detector in the worker. Each sample adds its
values to the open minute (:class:`stream.rollup.RollupBuilder`) together with the NEWS2 the
detector computed at that sample (on smoothed, artifact-gated values, see
:meth:`stream.detect.monitor.PatientMonitor.news2_now`); a sample in a later minute closes the
open one and returns its :class:`~stream.rollup.VitalsRollup` and
:class:`~stream.rollup.News2Record`. Like the rollup, a late sample folds into the open
minute: these records are for display and history, not detection.

The object pickles (it is part of the worker's checkpoint of the patient).

Examples
--------
>>> from ingest.sample import Sample
>>> m = PatientMinutes("p1")
>>> m.add(Sample("p1", "d", 1.7e9 + 5, hr=92.0, rr=22.0), (3, {"hr": 1, "rr": 2}))
[]
>>> m.add(Sample("p1", "d", 1.7e9 + 30, hr=96.0, rr=21.0), (2, {"hr": 1, "rr": 1}))
[]
>>> rollup, news = m.add(Sample("p1", "d", 1.7e9 + 70, hr=90.0), (1, {"hr": 1}))
>>> rollup.vitals["hr"].mean, news.score, news.risk, news.subscores
(94.0, 3, 'low', {'hr': 1, 'rr': 2})
"""

from __future__ import annotations

import logging

from ingest.sample import Sample
from stream.rollup import News2Record, Risk, RollupBuilder, VitalsRollup, minute_floor

__all__ = ["PatientMinutes", "risk_band"]

logger = logging.getLogger(__name__)


def risk_band(total: int, subscores: dict[str, int]) -> Risk:
    """NEWS2 clinical risk (RCP 2017, chart 2): 7+ high, 5-6 medium, any single 3 low-medium.

    Examples
    --------
    >>> risk_band(7, {}), risk_band(5, {}), risk_band(3, {"rr": 3}), risk_band(4, {"hr": 2})
    ('high', 'medium', 'low-medium', 'low')
    >>> risk_band(3, {"hr": 0}), risk_band(2, {"hr": 0})  # confused (3) / on oxygen (2) alone
    ('low-medium', 'low')
    """
    if total >= 7:
        return "high"
    if total >= 5:
        return "medium"
    if any(points >= 3 for points in subscores.values()):
        return "low-medium"
    if total - sum(subscores.values()) >= 3:  # new confusion (3) is a single 3 too
        return "low-medium"
    return "low"


class PatientMinutes:
    """Accumulates one patient's open minute (see the module docstring)."""

    __slots__ = ("news2", "patient_id", "rollup")

    def __init__(self, patient_id: str) -> None:
        self.patient_id = patient_id
        self.rollup = RollupBuilder(patient_id)
        #: The open minute's worst NEWS2 so far: (minute start, total, sub-scores).
        self.news2: tuple[float, int, dict[str, int]] | None = None

    def __getstate__(self) -> tuple[object, ...]:
        return (self.patient_id, self.rollup, self.news2)

    def __setstate__(self, state: tuple[object, ...]) -> None:
        self.patient_id, self.rollup, self.news2 = state  # type: ignore[assignment]

    def add(
        self, sample: Sample, news2: tuple[int, dict[str, int]] | None
    ) -> list[VitalsRollup | News2Record]:
        """Add one sample (and the NEWS2 at it); return the records of the minute it closed."""
        ts = sample.ts
        values = {
            "hr": sample.hr, "spo2": sample.spo2, "rr": sample.rr, "temp": sample.temp,
            "sbp": sample.sbp, "dbp": sample.dbp, "glucose": sample.glucose,
            "motion": sample.motion,
        }  # fmt: skip
        if sample.custom:
            values.update(sample.custom)
        out: list[VitalsRollup | News2Record] = []
        minute = ts - ts % 60.0
        open_ = self.news2
        if open_ is not None and minute > open_[0]:
            out.extend(self._close_news2())
            open_ = None
        out[:0] = self.rollup.add(ts, values)
        if news2 is not None and (news2[1] or news2[0]):
            total, sub = news2
            if open_ is None:
                # the rollup's open minute: a late sample folds into it there too, rather
                # than reopen (and, stored, replace) a minute already closed
                opened = self.rollup.open_minute
                self.news2 = (minute if opened is None else opened, total, dict(sub))
            elif total > open_[1]:
                self.news2 = (open_[0], total, dict(sub))
        return out

    def _close_news2(self) -> list[News2Record]:
        open_, self.news2 = self.news2, None
        if open_ is None:
            return []
        minute, total, sub = open_
        return [
            News2Record(
                patient_id=self.patient_id,
                minute=minute_floor(minute),
                score=total,
                risk=risk_band(total, sub),
                subscores=sub,
            )
        ]

    def flush(self) -> list[VitalsRollup | News2Record]:
        """Close the open minute now (shutdown), whatever comes next."""
        return [*self.rollup.flush(), *self._close_news2()]
