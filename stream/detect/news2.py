"""NEWS2: the Royal College of Physicians' National Early Warning Score 2 (2017).

Pure functions from one observation set to sub-scores, the aggregate and the clinical
response band. Vigil computes them on *smoothed, artifact-gated* values (see
:mod:`stream.detect.monitor`), never on single raw readings.

Missing values score 0: a wearable that did not report a parameter gives no evidence either
way, and the aggregate says so only in its ``missing`` list.

References
----------
Royal College of Physicians. National Early Warning Score (NEWS) 2: Standardising the
assessment of acute-illness severity in the NHS. Updated report of a working party.
London: RCP, 2017. Chart 1 (the NEWS2 scoring system) and Chart 2 (thresholds and triggers).

Examples
--------
>>> score_hr(128), score_spo2(93), score_rr(22), score_sbp(105), score_temp(38.4)
(2, 2, 2, 1, 1)
>>> r = news2(hr=128, spo2=93, rr=22, sbp=105, temp=38.4)
>>> r.total, r.max_single, r.response
(8, 2, 'emergency')
"""

from __future__ import annotations

import logging
from typing import Literal, NamedTuple

logger = logging.getLogger(__name__)

__all__ = [
    "News2",
    "Response",
    "news2",
    "response_level",
    "score_consciousness",
    "score_hr",
    "score_oxygen",
    "score_rr",
    "score_sbp",
    "score_spo2",
    "score_temp",
]

Response = Literal["none", "low", "low-medium", "medium", "emergency"]


def score_rr(rr: float | None) -> int:
    """Respiration rate (/min): <=8 -> 3, 9-11 -> 1, 12-20 -> 0, 21-24 -> 2, >=25 -> 3.

    Non-integer values are placed by the chart's integer bands (11.5 scores as 12).

    >>> [score_rr(x) for x in (8, 9, 11, 12, 20, 21, 24, 25)]
    [3, 1, 1, 0, 0, 2, 2, 3]
    """
    if rr is None:
        return 0
    if rr < 8.5:
        return 3
    if rr < 11.5:
        return 1
    if rr < 20.5:
        return 0
    if rr < 24.5:
        return 2
    return 3


def score_spo2(
    spo2: float | None, *, scale: Literal[1, 2] | int = 1, on_oxygen: bool = False
) -> int:
    """SpO2 (%) on scale 1, or scale 2 for prescribed hypercapnic targets of 88-92 %.

    Scale 1: <=91 -> 3, 92-93 -> 2, 94-95 -> 1, >=96 -> 0.
    Scale 2: <=83 -> 3, 84-85 -> 2, 86-87 -> 1, 88-92 (or >=93 on air) -> 0,
    and on oxygen 93-94 -> 1, 95-96 -> 2, >=97 -> 3.

    >>> [score_spo2(x) for x in (91, 92, 93, 94, 95, 96)]
    [3, 2, 2, 1, 1, 0]
    >>> [score_spo2(x, scale=2) for x in (83, 84, 86, 88, 92, 97)]
    [3, 2, 1, 0, 0, 0]
    >>> [score_spo2(x, scale=2, on_oxygen=True) for x in (92, 93, 95, 97)]
    [0, 1, 2, 3]
    """
    if spo2 is None:
        return 0
    if scale == 2:
        if spo2 < 83.5:
            return 3
        if spo2 < 85.5:
            return 2
        if spo2 < 87.5:
            return 1
        if spo2 < 92.5 or not on_oxygen:
            return 0
        if spo2 < 94.5:
            return 1
        if spo2 < 96.5:
            return 2
        return 3
    if spo2 < 91.5:
        return 3
    if spo2 < 93.5:
        return 2
    if spo2 < 95.5:
        return 1
    return 0


def score_oxygen(on_oxygen: bool) -> int:
    """Supplemental oxygen scores 2, air 0.

    >>> score_oxygen(True), score_oxygen(False)
    (2, 0)
    """
    return 2 if on_oxygen else 0


def score_sbp(sbp: float | None) -> int:
    """Systolic BP (mmHg): <=90 -> 3, 91-100 -> 2, 101-110 -> 1, 111-219 -> 0, >=220 -> 3.

    >>> [score_sbp(x) for x in (90, 91, 100, 101, 110, 111, 219, 220)]
    [3, 2, 2, 1, 1, 0, 0, 3]
    """
    if sbp is None:
        return 0
    if sbp < 90.5:
        return 3
    if sbp < 100.5:
        return 2
    if sbp < 110.5:
        return 1
    if sbp < 219.5:
        return 0
    return 3


def score_hr(hr: float | None) -> int:
    """Pulse (/min): <=40 -> 3, 41-50 -> 1, 51-90 -> 0, 91-110 -> 1, 111-130 -> 2, >=131 -> 3.

    >>> [score_hr(x) for x in (40, 41, 50, 51, 90, 91, 110, 111, 130, 131)]
    [3, 1, 1, 0, 0, 1, 1, 2, 2, 3]
    """
    if hr is None:
        return 0
    if hr < 40.5:
        return 3
    if hr < 50.5:
        return 1
    if hr < 90.5:
        return 0
    if hr < 110.5:
        return 1
    if hr < 130.5:
        return 2
    return 3


def score_temp(temp: float | None) -> int:
    """Temperature (C): <=35.0 -> 3, 35.1-36.0 -> 1, 36.1-38.0 -> 0, 38.1-39.0 -> 1, >=39.1 -> 2.

    >>> [score_temp(x) for x in (35.0, 35.1, 36.0, 36.1, 38.0, 38.1, 39.0, 39.1)]
    [3, 1, 1, 0, 0, 1, 1, 2]
    """
    if temp is None:
        return 0
    if temp < 35.05:
        return 3
    if temp < 36.05:
        return 1
    if temp < 38.05:
        return 0
    if temp < 39.05:
        return 1
    return 2


def score_consciousness(level: str) -> int:
    """ACVPU: Alert -> 0; new Confusion, Voice, Pain or Unresponsive -> 3.

    >>> score_consciousness("A"), score_consciousness("C")
    (0, 3)
    """
    return 0 if level.upper() == "A" else 3


class News2(NamedTuple):
    """A NEWS2 result: aggregate, sub-scores by parameter, response band, missing inputs."""

    total: int
    subscores: dict[str, int]
    max_single: int
    response: Response
    missing: tuple[str, ...]


def response_level(total: int, max_single: int) -> Response:
    """Clinical response band (RCP 2017, chart 2).

    0 -> none; 1-4 -> low; a single parameter scoring 3 -> low-medium (urgent ward review);
    5-6 -> medium (urgent response); >= 7 -> emergency.

    >>> response_level(0, 0), response_level(3, 3), response_level(4, 2), response_level(6, 2)
    ('none', 'low-medium', 'low', 'medium')
    >>> response_level(7, 3)
    'emergency'
    """
    if total >= 7:
        return "emergency"
    if total >= 5:
        return "medium"
    if max_single >= 3:
        return "low-medium"
    if total >= 1:
        return "low"
    return "none"


def news2(
    *,
    hr: float | None = None,
    spo2: float | None = None,
    rr: float | None = None,
    sbp: float | None = None,
    temp: float | None = None,
    spo2_scale: int = 1,
    on_oxygen: bool = False,
    consciousness: str = "A",
) -> News2:
    """Compute NEWS2 for one observation set (oxygen = air, consciousness = alert by default).

    >>> news2(hr=72, spo2=97, rr=14, sbp=125, temp=36.8).total
    0
    >>> r = news2(spo2=89, rr=20, hr=80, sbp=130, temp=36.9, spo2_scale=2)
    >>> r.total, r.response
    (0, 'none')
    >>> news2(hr=72, on_oxygen=True, consciousness="V").subscores["consciousness"]
    3
    """
    sub = {
        "rr": score_rr(rr),
        "spo2": score_spo2(spo2, scale=spo2_scale, on_oxygen=on_oxygen),
        "oxygen": score_oxygen(on_oxygen),
        "sbp": score_sbp(sbp),
        "hr": score_hr(hr),
        "consciousness": score_consciousness(consciousness),
        "temp": score_temp(temp),
    }
    total = sum(sub.values())
    max_single = max(sub.values())
    inputs = {"rr": rr, "spo2": spo2, "sbp": sbp, "hr": hr, "temp": temp}
    missing = tuple(k for k, v in inputs.items() if v is None)
    return News2(total, sub, max_single, response_level(total, max_single), missing)
