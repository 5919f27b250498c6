"""Who the simulated patients are: physiology profiles and their individual baselines.

A profile is a population (athletes, COPD, hypertensives, frail elderly, ordinary adults); a
:class:`Physiology` is one patient drawn from it. The numbers are resting, awake, daytime means;
:mod:`ingest.simulator.physiology` adds circadian rhythm, sleep, activity and noise around them.

The ranges are chosen to make the classic static-threshold confounders appear: athletes' resting
HR 45-50 (dipping below 40 asleep), COPD SpO2 88-92 (NEWS2 scale 2 patients), hypertensives whose
usual SBP is 145-165 with a morning surge.

Examples
--------
>>> import numpy as np
>>> p = draw_physiology(np.random.default_rng(1), "athlete")
>>> 45 <= p.hr <= 50 and p.profile == "athlete"
True
>>> draw_physiology(np.random.default_rng(1), "copd").spo2_scale
2
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import Final, Literal

import numpy as np

logger = logging.getLogger(__name__)

ProfileName = Literal["adult", "athlete", "copd", "hypertensive", "frail_elderly"]

#: Cohort mix (probabilities); ordinary adults are the largest group.
PROFILE_WEIGHTS: Final[dict[ProfileName, float]] = {
    "adult": 0.36,
    "athlete": 0.16,
    "copd": 0.16,
    "hypertensive": 0.16,
    "frail_elderly": 0.16,
}


@dataclass(frozen=True, slots=True)
class Physiology:
    """One patient's resting daytime physiology and behaviour.

    Parameters
    ----------
    profile
        Population the patient was drawn from.
    hr, spo2, rr, temp, sbp, dbp
        Resting awake means (bpm, %, /min, deg C, mmHg).
    hr_sleep_drop
        How much lower HR is asleep (bpm).
    spo2_sleep_drop
        How much lower SpO2 is asleep (%).
    exercise_hr
        Peak HR of this patient's exercise bouts (bpm).
    exercise_per_day
        Mean number of exercise bouts per day.
    activity
        Typical awake motion (g).
    spo2_scale
        NEWS2 SpO2 scale (2 for hypercapnic COPD, else 1).
    """

    profile: ProfileName
    hr: float
    spo2: float
    rr: float
    temp: float
    sbp: float
    dbp: float
    hr_sleep_drop: float
    spo2_sleep_drop: float
    exercise_hr: float
    exercise_per_day: float
    activity: float
    spo2_scale: int

    def as_dict(self) -> dict[str, float | int | str]:
        """Return the baseline as a JSON-able dict (rounded for readability)."""
        return {k: (round(v, 2) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def _u(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(rng.uniform(lo, hi))


def draw_physiology(rng: np.random.Generator, profile: ProfileName) -> Physiology:
    """Draw one patient of ``profile``.

    Parameters
    ----------
    rng
        Source of randomness (the caller seeds it per patient).
    profile
        Population to draw from.

    Returns
    -------
    Physiology
        The patient's individual baselines.
    """
    if profile == "athlete":
        return Physiology(
            profile, _u(rng, 45, 50), _u(rng, 96, 99), _u(rng, 12, 15), _u(rng, 36.4, 36.8),
            _u(rng, 105, 120), _u(rng, 62, 72), _u(rng, 1, 3), _u(rng, 0.5, 1.5),
            _u(rng, 150, 170), _u(rng, 1.2, 2.0), _u(rng, 0.08, 0.15), 1,
        )  # fmt: skip
    if profile == "copd":
        return Physiology(
            profile, _u(rng, 78, 92), _u(rng, 90.5, 92.5), _u(rng, 17, 21), _u(rng, 36.4, 36.9),
            _u(rng, 120, 140), _u(rng, 70, 85), _u(rng, 6, 10), _u(rng, 0.3, 1.0),
            _u(rng, 105, 125), _u(rng, 0.3, 0.7), _u(rng, 0.03, 0.07), 2,
        )  # fmt: skip
    if profile == "hypertensive":
        return Physiology(
            profile, _u(rng, 68, 82), _u(rng, 95, 98), _u(rng, 13, 17), _u(rng, 36.5, 36.9),
            _u(rng, 145, 165), _u(rng, 88, 98), _u(rng, 8, 12), _u(rng, 0.5, 1.5),
            _u(rng, 120, 145), _u(rng, 0.4, 0.9), _u(rng, 0.05, 0.1), 1,
        )  # fmt: skip
    if profile == "frail_elderly":
        return Physiology(
            profile, _u(rng, 66, 84), _u(rng, 93, 96), _u(rng, 14, 19), _u(rng, 36.1, 36.6),
            _u(rng, 110, 140), _u(rng, 60, 80), _u(rng, 5, 9), _u(rng, 1.0, 2.0),
            _u(rng, 95, 115), _u(rng, 0.2, 0.5), _u(rng, 0.02, 0.05), 1,
        )  # fmt: skip
    return Physiology(
        profile, _u(rng, 60, 82), _u(rng, 96, 99), _u(rng, 12, 16), _u(rng, 36.5, 37.0),
        _u(rng, 110, 130), _u(rng, 70, 82), _u(rng, 8, 12), _u(rng, 0.5, 1.5),
        _u(rng, 130, 160), _u(rng, 0.6, 1.2), _u(rng, 0.06, 0.12), 1,
    )  # fmt: skip


def draw_profile(rng: np.random.Generator) -> ProfileName:
    """Draw a profile name according to :data:`PROFILE_WEIGHTS`."""
    names = list(PROFILE_WEIGHTS)
    weights = np.array([PROFILE_WEIGHTS[n] for n in names])
    return names[int(rng.choice(len(names), p=weights / weights.sum()))]
