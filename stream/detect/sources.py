"""A patient's sources of samples and their clocks: the continuous stream and spot devices.

A patient's devices keep clocks of their own, and ingest bounds only a lead over the
receiver: a wearable may run behind by any amount. Two kinds of source matter:

- the *continuous stream*: samples with a wearable vital (HR, SpO2, RR, temperature),
  motion or a custom channel, a sample a minute or so;
- *spot* devices: a sample with none of these (:func:`is_spot`) carries only readings of a
  device of their own (:data:`~stream.detect.vitals.OWN_DEVICE`: a BP cuff, a glucose meter),
  every 15 minutes to a few hours.

Whether the continuous stream is live when a spot reading arrives is judged on each source's
own clock (:class:`SpotClocks`): the spot device's lead over the stream is learned at each
of its readings, and the stream is live if, by that lead, the reading comes less than the
data-gap threshold after the stream's newest sample. A stream whose clock is hours behind
its cuff is then live; one that fell silent is not, however the clocks disagree.

An event-time clock shared by many patients (a Kafka partition's ticks,
:class:`~stream.partition.PartitionMonitor`, and ``vigil replay``'s) cannot learn per device,
so it takes a spot sample's ``ts`` as :data:`SPOT_LEAD_S` earlier (:func:`clock_time`): a
cuff running ahead cannot open the other devices' data gaps early, and a partition of spot
devices alone still ticks, that much behind their newest reading.

Examples
--------
>>> from ingest.sample import Sample
>>> wearable = Sample("p1", "patch", 7200.0, hr=70.0)
>>> cuff = Sample("p1", "cuff", 7200.0 + 1800.0, sbp=120.0, dbp=80.0)
>>> is_spot(wearable), is_spot(cuff)
(False, True)
>>> clock_time(wearable), clock_time(cuff)
(7200.0, 1800.0)
>>> clocks = SpotClocks()
>>> clocks.stream_live("cuff", cuff.ts, wearable.ts, 1800.0)  # first reading: 30 min ahead
True
>>> clocks.stream_live("cuff", cuff.ts + 3600.0, wearable.ts, 1800.0)  # the patch fell silent
False
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import Final, Protocol

logger = logging.getLogger(__name__)

__all__ = ["MAX_SPOT_DEVICES", "SPOT_LEAD_S", "Readings", "SpotClocks", "clock_time", "is_spot"]

#: How far a spot device's clock is taken to run ahead of the continuous stream's at most:
#: the lead assumed before a device's own is learned (a stream further behind its first
#: reading than this and the data-gap threshold is silent), and how much earlier a spot
#: sample's ``ts`` counts for a clock shared by many patients (:func:`clock_time`).
SPOT_LEAD_S: Final = 2 * 3600.0
#: Spot devices whose lead a patient's :class:`SpotClocks` keeps (a cuff and a meter, and
#: their replacements); the one whose lead was learned longest ago makes room for a new one.
MAX_SPOT_DEVICES: Final = 4


class Readings(Protocol):
    """What :func:`is_spot` reads: an :class:`~ingest.sample.Sample` or a wire sample."""

    @property
    def ts(self) -> float: ...
    @property
    def hr(self) -> float | None: ...
    @property
    def spo2(self) -> float | None: ...
    @property
    def rr(self) -> float | None: ...
    @property
    def temp(self) -> float | None: ...
    @property
    def motion(self) -> float | None: ...
    @property
    def custom(self) -> Mapping[str, float]: ...


def is_spot(sample: Readings) -> bool:
    """Whether ``sample`` has only spot readings: no wearable vital, motion or custom channel.

    Tested in order of how often a sample is decided (HR first): callers on a hot path may
    test ``sample.hr is None`` before calling.

    >>> from ingest.sample import Sample
    >>> is_spot(Sample("p1", "m", 0.0, glucose=96.0))
    True
    >>> is_spot(Sample("p1", "d", 0.0, sbp=120.0, motion=0.1))
    False
    """
    return (
        sample.hr is None
        and sample.temp is None
        and sample.spo2 is None
        and sample.rr is None
        and sample.motion is None
        and not sample.custom
    )


def clock_time(sample: Readings) -> float:
    """The time ``sample`` shows an event-time clock shared by many patients (module docstring).

    Its ``ts``; for a spot sample :data:`SPOT_LEAD_S` earlier.
    """
    ts = sample.ts
    return ts - SPOT_LEAD_S if sample.hr is None and is_spot(sample) else ts


class SpotClocks:
    """Per spot device of one patient: its clock's lead over the continuous stream.

    A device's lead is its reading's ``ts`` less the stream's newest (``watermark``), learned
    at each reading after which the stream has moved on (while the stream is silent, the lead
    from before stands, so its silence adds up). It is kept between 0 and
    :data:`SPOT_LEAD_S`: a reading from a backlog the device uploads late is older than the
    stream, not a device behind it, and no lead beyond that bound is believed. A device
    never heard from is taken to lead by :data:`SPOT_LEAD_S`. Learning anew after the stream
    moved also follows a device whose clock is set (daylight saving, a resync): only its
    first reading after is judged by the old lead.
    """

    __slots__ = ("leads",)

    def __init__(self) -> None:
        #: device id -> (lead, the stream's watermark when it was learned)
        self.leads: dict[str, tuple[float, float]] = {}

    def __getstate__(self) -> dict[str, tuple[float, float]]:
        return self.leads

    def __setstate__(self, state: dict[str, tuple[float, float]]) -> None:
        self.leads = state

    def stream_live(self, device_id: str, ts: float, watermark: float, gap_after: float) -> bool:
        """Whether the stream (newest sample ``watermark``) is live at a reading of a device.

        Live: by the device's lead, the reading at ``ts`` is less than ``gap_after`` seconds
        after the stream's newest sample. Never without a stream (``watermark`` -inf). Learns
        the device's lead (class docstring).
        """
        known = self.leads.get(device_id)
        lead, seen = (SPOT_LEAD_S, -math.inf) if known is None else known
        live = ts - watermark - lead < gap_after
        if watermark > seen:
            leads = self.leads
            if known is not None:
                del leads[device_id]  # (re-inserted last: the dict is in order of use)
            elif len(leads) >= MAX_SPOT_DEVICES:
                del leads[next(iter(leads))]
            leads[device_id] = (min(max(ts - watermark, 0.0), SPOT_LEAD_S), watermark)
        return live
