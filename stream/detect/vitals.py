"""The vital signs a monitor knows by name: model priors, labels, units and freshness.

Everything here is a fact about a vital, not about a patient: the population priors a new
personal model starts from, how a vital is written in a message, and how long a smoothed
value stays current. :class:`~stream.detect.monitor.PatientMonitor` and the multi-vital
:mod:`~stream.detect.deterioration` warning read these tables.

Examples
--------
>>> f"{LABEL['temp']} {fmt('temp', 38.25)}{UNIT['temp']}", f"{LABEL['hr']} {fmt('hr', 92.4)}"
('Temp 38.3 °C', 'HR 92')
"""

from __future__ import annotations

import logging
import math
import time
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Final

logger = logging.getLogger(__name__)

__all__ = [
    "clock",
    "EVIDENCE_FRESH_S",
    "FRESH_S",
    "LABEL",
    "MAX_STEP",
    "NEWS2_NAME",
    "OWN_DEVICE",
    "UNIT",
    "VITALS",
    "VITAL_MODEL_PARAMS",
    "beyond_shown",
    "fmt",
]

VITALS: Final = ("hr", "spo2", "rr", "temp", "sbp", "dbp", "glucose")
#: Population priors for the personal models of vitals (scale before data, sensor resolution).
VITAL_MODEL_PARAMS: Final[dict[str, dict[str, Any]]] = {
    "hr": {"prior_scale": 5.0, "min_scale": 1.0, "learn_every": 300.0},
    "spo2": {"prior_scale": 1.0, "min_scale": 0.5, "learn_every": 300.0},
    "rr": {"prior_scale": 1.5, "min_scale": 0.7, "learn_every": 300.0},
    "temp": {"prior_scale": 0.2, "min_scale": 0.07, "learn_every": 300.0},
    "sbp": {"prior_scale": 10.0, "min_scale": 3.0, "warmup": 8},
    "dbp": {"prior_scale": 7.0, "min_scale": 2.0, "warmup": 8},
    "glucose": {"prior_scale": 15.0, "min_scale": 2.0, "warmup": 8},
}
LABEL: Final = {"hr": "HR", "spo2": "SpO2", "rr": "RR", "temp": "Temp", "sbp": "SBP",
                "dbp": "DBP", "glucose": "Glucose"}  # fmt: skip
UNIT: Final = {"hr": " bpm", "spo2": "%", "rr": "/min", "temp": " °C", "sbp": " mmHg",
               "dbp": " mmHg", "glucose": " mg/dL"}  # fmt: skip
NEWS2_NAME: Final = {"hr": "pulse", "rr": "resp rate", "spo2": "SpO2", "temp": "temperature",
                     "sbp": "systolic BP"}  # fmt: skip
#: How long a smoothed value stays current for NEWS2 (cuff readings are intermittent).
FRESH_S: Final = {"hr": 900.0, "spo2": 900.0, "rr": 900.0, "temp": 1800.0, "sbp": 5400.0}
#: How long a rule's last evidence on a vital holds its alert open without a new reading, and
#: continues its run of readings (the cuff's diastolic as its systolic; a glucose meter reads
#: a few times a day; others: 900 s).
EVIDENCE_FRESH_S: Final = {**FRESH_S, "dbp": FRESH_S["sbp"], "glucose": 8 * 3600.0}
#: The most an optically sensed vital (photoplethysmography, the channels motion corrupts) can
#: move between readings a minute apart, with room for sensor noise
#: (:mod:`stream.detect.plausibility`). Other vitals are not gated.
MAX_STEP: Final = {"hr": 25.0, "spo2": 5.0}
#: Vitals measured by a device of their own (BP cuff, glucose meter): the wearable's quality
#: index and a burst of motion on its accelerometer say nothing about them, so they gate only
#: on exertion and its recovery (:mod:`stream.detect.activity`), which changes the physiology.
OWN_DEVICE: Final = frozenset({"sbp", "dbp", "glucose"})


_TENTH: Final = Decimal("0.1")
_UNIT: Final = Decimal("1")


def fmt(vital: str, x: float) -> str:
    """``x`` as a message shows it: temperature to 0.1 °C, every other vital to a unit.

    Halves round up, as the NEWS2 chart places a value (:mod:`stream.detect.news2`): the
    number shown scores the points the message states.

    >>> fmt("hr", 40.5), fmt("temp", 38.05), fmt("spo2", 91.49), fmt("hr", -0.4)
    ('41', '38.1', '91', '0')
    """
    if not -1e15 < x < 1e15:  # (vitals are far inside; nan and inf as Python writes them)
        return f"{x:.1f}" if vital == "temp" else f"{x:.0f}"
    step = _TENTH if vital == "temp" else _UNIT
    shown = Decimal(repr(x)).quantize(step, rounding=ROUND_HALF_UP)
    return f"{shown + 0:f}"  # (+ 0: no "-0")


def beyond_shown(vital: str, x: float, limit: float, sign: int) -> bool:
    """Whether ``x``, shown as :func:`fmt` shows it, is above (``sign`` +1) or below (-1)
    ``limit``: a clinician's limit compares what the message will say.

    >>> beyond_shown("hr", 44.6, 45.0, -1), beyond_shown("hr", 44.4, 45.0, -1)
    (False, True)
    >>> beyond_shown("temp", 37.55, 37.5, +1), beyond_shown("temp", 37.54, 37.5, +1)
    (True, False)
    """
    if not -1e12 < limit < 1e12:  # (a limit no value can reach, or NaN: compared as it is)
        return x > limit if sign > 0 else x < limit
    per = 10.0 if vital == "temp" else 1.0  # shown steps per unit
    if sign > 0:  # shown > limit: from half a step above the limit's last step
        return x >= (math.floor(limit * per + 1e-9) + 0.5) / per
    return x < (math.ceil(limit * per - 1e-9) - 0.5) / per


def clock(ts: float) -> str:
    """Event time ``ts`` as a message shows it: hours and minutes, UTC.

    >>> clock(1709280000.0)
    '08:00 UTC'
    """
    return time.strftime("%H:%M UTC", time.gmtime(ts))
