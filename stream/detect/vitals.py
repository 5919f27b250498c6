"""The vital signs a monitor knows by name: model priors, labels, units and freshness.

Everything here is a fact about a vital, not about a patient: the population priors a new
personal model starts from, how a vital is written in a message, and how long a smoothed
value stays current. :class:`~stream.detect.monitor.PatientMonitor` and the multi-vital
:mod:`~stream.detect.deterioration` warning read these tables.

Examples
--------
>>> f"{LABEL['temp']} {fmt('temp', 38.25)}{UNIT['temp']}", f"{LABEL['hr']} {fmt('hr', 92.4)}"
('Temp 38.2 °C', 'HR 92')
"""

from __future__ import annotations

import logging
import time
from typing import Any, Final

logger = logging.getLogger(__name__)

__all__ = [
    "clock",
    "FRESH_S",
    "LABEL",
    "MAX_STEP",
    "NEWS2_NAME",
    "OWN_DEVICE",
    "UNIT",
    "VITALS",
    "VITAL_MODEL_PARAMS",
    "fmt",
]

VITALS: Final = ("hr", "spo2", "rr", "temp", "sbp", "dbp", "glucose")
#: Population priors for the personal models of vitals (scale before data, sensor resolution).
VITAL_MODEL_PARAMS: Final[dict[str, dict[str, Any]]] = {
    "hr": {"prior_scale": 5.0, "min_scale": 1.0},
    "spo2": {"prior_scale": 1.0, "min_scale": 0.5},
    "rr": {"prior_scale": 1.5, "min_scale": 0.7},
    "temp": {"prior_scale": 0.2, "min_scale": 0.07},
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
#: The most an optically sensed vital (photoplethysmography, the channels motion corrupts) can
#: move between readings a minute apart, with room for sensor noise
#: (:mod:`stream.detect.plausibility`). Other vitals are not gated.
MAX_STEP: Final = {"hr": 25.0, "spo2": 5.0}
#: Vitals measured by a device of their own (BP cuff, glucose meter): the wearable's quality
#: index and a burst of motion on its accelerometer say nothing about them, so they gate only
#: on exertion and its recovery (:mod:`stream.detect.activity`), which changes the physiology.
OWN_DEVICE: Final = frozenset({"sbp", "dbp", "glucose"})


def fmt(vital: str, x: float) -> str:
    """``x`` as a message shows it: temperature to 0.1 °C, every other vital to a unit."""
    if vital == "temp":
        return f"{x:.1f}"
    return f"{x:.0f}"


def clock(ts: float) -> str:
    """Event time ``ts`` as a message shows it: hours and minutes, UTC.

    >>> clock(1709280000.0)
    '08:00 UTC'
    """
    return time.strftime("%H:%M UTC", time.gmtime(ts))
