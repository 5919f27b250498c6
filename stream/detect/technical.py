"""Technical conditions: the device or its data, not the patient.

- ``data_gap``: no sample for ``gap_after`` seconds of event time (raised from ticks, since a
  silent device sends nothing to react to); ``low`` severity once it reaches ``offline_after``
  (the device is offline), ``info`` before.
- ``rejected_data``: ``rejected_after`` consecutive samples failed validation (the count is fed
  in by whoever validates: the gateway or replay).
- ``poor_signal``: ``poor_after`` consecutive samples below the quality floor (a loose strap).
- ``flatline``: a continuous vital reported exactly the same value ``flat_after`` times in a
  row (living physiology is never that still; a frozen sensor is).

Examples
--------
>>> dq = DataQuality()
>>> dq.on_tick(100.0)
[]
>>> _ = dq.on_sample(0.0, quality=0.9, values={"hr": 70.0})
>>> [f.kind for f in dq.on_tick(3600.0)]
['data_gap']
>>> [f.kind for f in (dq.on_rejected(3700.0 + i, "out_of_range") for i in range(5)) if f]
['rejected_data']
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

from stream.detect.findings import Finding
from stream.detect.vitals import clock

logger = logging.getLogger(__name__)

__all__ = ["FLATLINE_VITALS", "DataQuality", "pure_on_sample", "quality_on_sample"]

#: Vitals that vary from minute to minute in a living patient (flatline detection).
FLATLINE_VITALS = ("hr", "rr")


_IS_MAPPING: dict[type, bool] = {}


def _minutes(seconds: float) -> int:
    return int(seconds // 60.0)


class DataQuality:
    """Per-patient technical condition tracker (gaps, rejected runs, poor signal, flatline).

    Parameters
    ----------
    gap_after, offline_after
        Seconds without data before a gap, and before the gap means the device is offline.
    rejected_after
        Consecutive rejected samples that make a ``rejected_data`` condition.
    poor_after
        Consecutive low-quality samples that make a ``poor_signal`` condition.
    flat_after
        Identical consecutive readings that make a ``flatline`` condition.
    min_quality
        Quality floor.
    """

    __slots__ = (
        "flat",
        "flat_after",
        "gap_after",
        "last_seen",
        "min_quality",
        "offline_after",
        "poor_after",
        "poor_run",
        "poor_since",
        "rejected_after",
        "rejected_reasons",
        "rejected_run",
        "rejected_since",
    )

    def __init__(
        self,
        gap_after: float = 1800.0,
        offline_after: float = 7200.0,
        rejected_after: int = 5,
        poor_after: int = 15,
        flat_after: int = 30,
        min_quality: float = 0.5,
    ) -> None:
        self.gap_after = gap_after
        self.offline_after = offline_after
        self.rejected_after = rejected_after
        self.poor_after = poor_after
        self.flat_after = flat_after
        self.min_quality = min_quality
        self.last_seen = -math.inf
        self.rejected_run = 0
        self.rejected_since = 0.0
        self.rejected_reasons: dict[str, int] = {}
        self.poor_run = 0
        self.poor_since = 0.0
        # per vital: [last value, run length, run start]
        self.flat: dict[str, list[float]] = {}

    def __getstate__(self) -> tuple[object, ...]:
        return tuple(getattr(self, k) for k in self.__slots__)

    def __setstate__(self, state: tuple[object, ...]) -> None:
        for k, v in zip(self.__slots__, state, strict=True):
            setattr(self, k, v)

    def on_sample(self, ts: float, *, quality: float | None, values: object) -> list[Finding]:
        """Account for one accepted sample; return technical findings still in evidence.

        ``values`` has the vitals as attributes (a :class:`~ingest.sample.Sample`) or keys.
        """
        out: list[Finding] = []
        if ts > self.last_seen:
            self.last_seen = ts
        self.rejected_run = 0
        if quality is not None and quality < self.min_quality:
            if self.poor_run == 0:
                self.poor_since = ts
            self.poor_run += 1
            if self.poor_run >= self.poor_after:
                mins = _minutes(ts - self.poor_since)
                out.append(
                    Finding(
                        "poor_signal", "technical", "low", (), self.poor_since, True, 0.0,
                        f"Poor sensor signal for {mins} min: check the strap or patch fit.",
                        {"samples": self.poor_run, "duration_min": mins},
                    )
                )  # fmt: skip
        else:
            self.poor_run = 0
        try:
            is_mapping = _IS_MAPPING[type(values)]
        except KeyError:  # an ABC check is slow: once per type
            is_mapping = _IS_MAPPING[type(values)] = isinstance(values, Mapping)
        get = values.get if is_mapping else None  # type: ignore[attr-defined]
        flat = self.flat
        for vital in FLATLINE_VITALS:
            x = get(vital) if get is not None else getattr(values, vital, None)
            if x is None:
                continue
            try:
                run = flat[vital]  # [value, readings, since, last reading]
            except KeyError:  # (indexed: a dict's get is a call)
                flat[vital] = [x, 1.0, ts, ts]
                continue
            # a repeat after a gap in this vital's readings is no stuck sensor (yet)
            if run[0] != x or (len(run) > 3 and ts - run[3] > self.gap_after):
                if len(run) > 3:  # in place (a new run starts at most samples)
                    run[0] = x
                    run[1] = 1.0
                    run[2] = run[3] = ts
                else:  # a run saved before the last reading was kept
                    run[:] = [x, 1.0, ts, ts]
                continue
            run[1] += 1.0
            if len(run) > 3:
                run[3] = ts
            if run[1] >= self.flat_after:
                mins = _minutes(ts - run[2])
                out.append(
                    Finding(
                        "flatline", "technical", "low", (vital,), run[2], True, 0.0,
                        f"{vital.upper()} stuck at exactly {x:g} for {mins} min: "
                        "sensor may be frozen.",
                        {"vital": vital, "value": x, "samples": int(run[1])},
                    )
                )  # fmt: skip
        return out

    def on_rejected(self, ts: float, reason_code: str) -> Finding | None:
        """Account for one rejected sample; return the finding once the run is long enough."""
        if self.rejected_run == 0:
            self.rejected_since = ts
            self.rejected_reasons = {}
        self.rejected_run += 1
        reasons = self.rejected_reasons
        if reason_code in reasons or len(reasons) < 8:
            reasons[reason_code] = reasons.get(reason_code, 0) + 1
        if self.rejected_run < self.rejected_after:
            return None
        top = max(sorted(reasons), key=reasons.__getitem__)
        return Finding(
            "rejected_data", "technical", "low", (), self.rejected_since, True, 0.0,
            f"{self.rejected_run} samples in a row rejected (mostly {top.replace('_', ' ')}): "
            "check the device.",
            {"rejected": self.rejected_run, "reasons": dict(sorted(reasons.items()))},
        )  # fmt: skip

    def on_tick(self, now: float) -> list[Finding]:
        """Check for a data gap at event time ``now``."""
        silent = now - self.last_seen
        if silent < self.gap_after or self.last_seen == -math.inf:
            return []
        offline = silent >= self.offline_after
        mins = _minutes(silent)
        return [
            Finding(
                "data_gap", "technical", "low" if offline else "info", (), self.last_seen, True,
                0.0, explain=partial(_gap_text, self.last_seen, mins, offline),
            )
        ]  # fmt: skip


def _gap_text(last_seen: float, mins: int, offline: bool) -> tuple[str, dict[str, Any]]:
    """Message and evidence of a data gap of ``mins`` minutes since ``last_seen``.

    Worded only when read (an alert opens or escalates): a silent device's gap is found again
    at every tick.
    """
    since = clock(last_seen)
    text = (
        f"Device offline: no data since {since} ({mins} min)."
        if offline
        else f"No data since {since} ({mins} min): charging, out of range or removed?"
    )
    return text, {"silent_min": mins}


def pure_on_sample(
    dq: DataQuality, ts: float, quality: float | None, values: object
) -> list[Finding]:
    """:meth:`DataQuality.on_sample`, positional: :data:`quality_on_sample` without the
    compiled module."""
    return dq.on_sample(ts, quality=quality, values=values)


def _compiled_on_sample() -> Callable[[DataQuality, float, float | None, object], list[Finding]]:
    """``on_sample(quality_state, ts, quality, values)``: :meth:`DataQuality.on_sample` compiled
    (``stream/detect/_technical.c``, built by ``pip install``) if it was built, else the method.
    Either leaves the same state and returns the same findings; the compiled one hands the
    pure-Python method every call outside its common case (a sample of float readings, state
    of DataQuality's own types, no finding to report), and calls a subclass's instance's own
    ``on_sample``."""
    try:
        from stream.detect import _technical  # (a C extension: setup.py)
    except ImportError:
        return pure_on_sample
    _technical.bind(DataQuality, DataQuality.on_sample)
    return _technical.on_sample


#: :meth:`DataQuality.on_sample` as a function of the state, positional and compiled when it
#: can be (the monitor calls it once per sample: ``quality_on_sample(dq, ts, quality, sample)``).
quality_on_sample = _compiled_on_sample()
