"""Clinical conditions on one vital: when a departure from the personal normal matters.

A :class:`VitalRule` turns what the personal baseline says (smoothed value, expected value,
scale) into clinical evidence for one condition such as tachycardia. Evidence needs all of:

- **relevance**: the value is beyond a population bound where a clinician would care
  (``rel``; e.g. HR >= 100) — an athlete going from 45 to 70 bpm is not tachycardic (at
  rest, from 75 on, twice an early warning's distance, it is worth an early warning:
  :attr:`VitalRule.z_early`);
- **magnitude**: it is at least ``dev`` units away from this patient's expected value, so a
  COPD patient's usual SpO2 of 89 % is not a desaturation;
- **surprise**: ``|z| >= z_on`` against the personal scale (in a context not yet settled
  while another has, against this context's young baseline or, with too few readings of its
  own, the best-learned one's, its scale widened), *or* the value is beyond the
  ``hard`` bound (NEWS2 3-point territory, where population rules apply from the first
  minute, until a personal baseline has settled: a patient who starts out abnormal is alerted
  before the abnormal value can be learned as normal). Until a young context at rest settles,
  a departure that fires against the settled other one at rest (widened) fires too
  (:meth:`~stream.detect.monitor.PatientMonitor.observe`): the young context learns its
  first readings as fast as they come, and a patient woken into a deterioration would have it
  learned within the hour. Awake, below the still (sleeping) normal of a vital that sleep
  lowers, that normal is judged on its own scale, and holding evidence counts too: no one
  wakes to a lower heart rate, breathing rate, SpO2 or blood pressure than they sleep at.

A relevant departure of at least ``dev_early`` (in NEWS2 3-point territory and beyond both
normals at rest, asleep and awake: half ``dev``) that the personal model's trend detector
(its CUSUM) has found sustained is evidence too, however modest its ``z``: an hour at HR
101 for a patient whose usual is 80 ± 6 matters although no single minute is surprising.
On a vital's first day, before the trend detector runs, a run of evidence beyond both
normals at rest that has lasted 30 min is sustained
(:data:`~stream.detect.monitor.FIRST_DAY_SUSTAINED_S`).

A condition the body compensates for is corroborated by the compensation: as blood pressure
falls the heart speeds up (shock). Beyond ``rel`` (SBP 100, NEWS2 2 points), half a ``dev``
below this patient's normal fires when the compensating vital has risen at the same time,
surprisingly for this patient and by at least the rule's least rise, at rest
(:data:`COMPENSATION_Z`). A cuff reads every 15-60 min and cannot show that a fall has
lasted. An athlete asleep at SBP 97 and HR 44 who reads 81 mmHg may be sleeping deeply;
reading it with HR 69, the heart is making up for it. So is an adult's, usually at 105, who
reads 90/46 mmHg with HR 78 (usual 61): waiting for 88 (NEWS2 3 points) alerted 30 min later
(a simulated cohort, seed 20261207). Above ``rel``, a fall of ``1.5 * dev`` with the heart
making up for it is an early warning: a hypertensive patient usually at 150 who reads
107/67 mmHg with HR 88 (usual 73) (seed 20261229, alerted 30 min after onset instead of 32;
on the tuning cohorts, one fall from 160 to 112 mmHg was alerted that was missed).

In NEWS2 3-point territory (``red``: HR <= 40 or >= 131, SpO2 <= 91, SBP <= 90, as the chart
rounds: HR 130.6 is 131) a departure of
twice ``dev`` is evidence whatever the personal scale says: in the first hours the scale is
still wide, and a heart rate fallen from 63 to 38 bpm needs no further proof.

A clinician's limit (:class:`~stream.detect.config.PatientConfig` ``thresholds``) replaces all
of this for its side: outside the limit is evidence, inside is not.

Evidence comes in two strengths: ``FIRING`` (the above) and ``HOLDING`` (relaxed bounds, used
by the episode tracker as hysteresis so that an open episode does not flap).

The bounds are from NEWS2 (RCP 2017) bands and common clinical definitions (tachycardia
> 100 bpm, bradycardia < 50 bpm in this context, fever >= 38 C, hypotension SBP <= 100 with a
fall, hypertensive crisis SBP >= 180); ``dev`` and ``hard`` were set on simulated cohorts of
several seeds (see the module tests).

Examples
--------
>>> rule = RULES["tachycardia"]
>>> rule.evidence(128.0, 71.0, 6.0, settled=True)
2
>>> rule.evidence(96.0, 71.0, 6.0, settled=True)  # surprising but not yet relevant: holding
1
>>> rule.evidence(75.0, 71.0, 6.0, settled=True)
0
>>> rule.evidence(101.0, 80.0, 6.0, settled=True)  # relevant, but 3.5 sd: holding
1
>>> rule.evidence(101.0, 80.0, 6.0, settled=True, sustained=True)  # ... for an hour: firing
2
>>> RULES["desaturation"].evidence(89.0, 90.0, 1.0, settled=True)  # a COPD patient's normal
0
>>> rule.evidence(70.0, 45.0, 3.0, settled=True)  # an athlete at 70: inside the normal range
1
>>> rule.evidence(80.0, 45.0, 3.0, settled=True)  # at 80, twice an early warning's distance
2
>>> RULES["bradycardia"].evidence(38.0, 62.6, 8.5, settled=True)  # 2.9 wide scales, 25 bpm: red
2

In that territory, half a ``dev`` beyond both of this patient's normals at rest (asleep and
awake) is enough once the trend detector has found it sustained: an athlete (43 bpm asleep,
49 awake) awake at 36 bpm for an hour. Asleep, 36 is no more than a deep night:

>>> RULES["bradycardia"].evidence(36.0, 43.0, 3.0, settled=True, sustained=True)
1
>>> RULES["bradycardia"].evidence(36.0, 43.0, 3.0, settled=True, sustained=True,
...                               beyond_both=True)
2

A cuff reading 14 mmHg below this patient's sleeping normal is noise a cuff can make, unless
the heart is racing to make up for it:

>>> RULES["hypotension"].evidence(81.0, 95.0, 6.0, settled=True)
1
>>> RULES["hypotension"].evidence(81.0, 95.0, 6.0, settled=True, compensated=True)
2

Awake for the first time after hours asleep, with only the sleeping baseline (44 ± 4, widened
to ± 8) to go by: 122 bpm is still far beyond it.

>>> rule.evidence(122.0, 44.0, 8.0, settled=False)  # no settled baseline anywhere: holding
1
>>> rule.evidence(122.0, 44.0, 8.0, settled=False, settled_elsewhere=True)
2
"""

from __future__ import annotations

import logging
import math
from typing import Any, Final, NamedTuple

from stream.detect.contexts import CONTEXTS
from stream.detect.vitals import LABEL, NEWS2_NAME, UNIT, beyond_shown, fmt

logger = logging.getLogger(__name__)

__all__ = [
    "COMPENSATION_FRESH_S",
    "COMPENSATION_Z",
    "EXERTION_HR_RISE",
    "FAR_EARLY",
    "FIRING",
    "HOLDING",
    "LATER_COMPENSATION",
    "NONE",
    "RULES",
    "RULES_BY_VITAL",
    "VitalRule",
    "explain_rule",
    "scale2_rule",
]

NONE, HOLDING, FIRING = 0, 1, 2
#: How surprising a compensating vital's rise must be against its own baseline
#: (:attr:`VitalRule.compensation`).
COMPENSATION_Z: Final = 3.0
#: An early warning this many times as far and as surprising as :attr:`VitalRule.dev_early`
#: and :attr:`VitalRule.z_early` ask for fires inside the normal range too (before
#: :attr:`VitalRule.rel_early`): an athlete asleep at 41 bpm whose heart climbs to 80. The
#: default of :attr:`VitalRule.far`.
FAR_EARLY: Final = 2.0
#: How recent (s) the compensating vital's reading must be: a cuff reading is judged with the
#: wearable's reading of the same minutes.
COMPENSATION_FRESH_S: Final = 300.0
#: Between two cuff readings, a reading held as evidence (not firing) is judged again when
#: the heart speeds up after it: with a rise this many times :attr:`VitalRule.compensation`'s
#: and this many scales above its baseline. Stricter than at the reading itself: a heart 10
#: bpm up at some minute of the hour to the next reading is common (at the reading's own
#: bounds, 41 more false alerts on 20 simulated cohorts, 10,000 patient-days).
LATER_COMPENSATION: Final = (1.5, COMPENSATION_Z + 1.0)
#: A heart rate this much (bpm) above its resting normal, with the wearer on the move, is the
#: heart of exertion (:attr:`VitalRule.hard_exerting`).
EXERTION_HR_RISE: Final = 10.0


class VitalRule(NamedTuple):
    """One condition on one vital (see the module docstring for the semantics).

    Parameters
    ----------
    kind
        Condition name, the alert ``kind``.
    vital
        Sample field.
    sign
        +1 for a high condition, -1 for a low one.
    rel, rel_hold
        Relevance bound for firing and for holding.
    dev
        Minimal distance from the personal expected value (holding: half of it).
    z_on
        Personal surprise needed (holding: ``z_on / 2``).
    hard
        Bound beyond which surprise is not required (NEWS2 3-point band).
    persist
        Consecutive firing readings before an episode opens: 1 for sparse cuff readings, and
        for heart rate (high), SpO2 and breathing rate, whose smoothed value is already the
        median of the last three readings (one firing value is two readings of three, and
        the step gate and signal quality have had their say; the first reading after a gap
        is not smoothed, and the monitor asks two there). On 20 simulated cohorts (10,000
        patient-days) a second one cost those events about a minute each (60 more of 2,902
        are alerted within 15 min with one, the median delay 25.0 -> 24.0 min) and kept 10
        false alerts out of 467. Bradycardia and fever keep 2: sleep dips and a warm
        evening touch their bounds a reading at a time (1 there too: about 30 more false
        alerts for about 20 more events within 15 min).
    z_early, dev_early, rel_early
        Early warning: a departure this surprising and this large from a *settled*
        personal baseline, at rest, beyond the edge of the normal range ``rel_early``, fires
        before the value reaches ``rel`` (the episode opens at low severity and escalates as
        the value becomes clinically abnormal). A departure ``far`` times as large and as
        surprising fires before ``rel_early`` too: an athlete asleep at 41 bpm whose heart
        climbs to 80 over half an hour is not in the normal range for them, and waited for
        90 (a simulated cohort, seed 20261229).
    exertion
        Exertion moves this vital this way (HR, RR, SBP up; SpO2 down): while the wearer is
        active, or moving about more than usual (a wearable's vitals:
        :meth:`~stream.detect.activity.Activity.busier`), only the ``hard`` bound fires.
        At rest, the monitor lets an early warning fire only half a ``dev_early`` beyond the
        wearer's settled level while active
        (:meth:`~stream.detect.monitor.PatientMonitor._apply_rule`).
    hard_exerting
        The ``hard`` bound of a reading taken on the move with the heart of exertion
        (:data:`EXERTION_HR_RISE`; ``exerting`` of :meth:`evidence`), or ``None`` for
        ``hard``. Hypertension: 220 mmHg, NEWS2's 3-point SBP. Exertion raises the systolic
        pressure by about 10 mmHg a MET: a brisk walk puts a hypertensive patient usually at
        160 at 180-195, and a BP is measured seated after rest. A cuff reading taken on a
        walk with the heart 10 bpm or more above its resting normal is no crisis below 220;
        one taken on the move with the heart at rest is judged as before: a crisis is not
        exertion (on 20 simulated cohorts, 10,000 patient-days, crises read on the move at
        184 mmHg with the heart at its resting rate, which this keeps alerted). Nor is a
        reading that continues a run of evidence read at rest (182 mmHg seated, then 188 on
        the move with the heart 12 bpm up: the crisis waited 51 min for the next reading), or
        one that arrives in a backlog, whose motion the context does not show. On a second,
        independently written cohort (``bench/second_cohort.py``, 150 patients x 5 days,
        seeds 7 and 9) it halves the false hypertension alerts and changes no event's
        detection. Tachypnea: 30 /min, as moderate exercise breathes (25-30) while the heart
        is up with it (our simulator's tachypneas raise it 5-12 bpm). On the second cohort
        (seeds 7, 9, 10) 14-19 fewer false alerts each (exercise at RR 25-29), no event's
        detection changed; on the 20 simulated cohorts none either.
    red
        The edge of the vital's NEWS2 3-point band as the chart places a value, halves rounded
        up (:mod:`stream.detect.news2`): HR below 40.5 or from 130.5, SpO2 below 91.5, SBP
        below 90.5 (the edge itself belongs to the band above it on the low side). A value
        there at least ``2 * dev`` from this patient's expected value fires whatever
        its ``z``. A baseline still learning in the first hours has a wide scale, and an
        adult whose heart rate falls from 63 to 38 bpm must not wait for it to narrow. Once
        the trend detector finds it sustained, ``dev / 2`` beyond both normals at rest
        (``beyond_both`` of :meth:`evidence`) is enough.
    compensation
        The vital whose rise compensates for this condition and the least rise that counts,
        or ``None``: ``("hr", 10.0)`` for hypotension. With that rise beyond
        :data:`COMPENSATION_Z` of its own scale, at rest, a value beyond ``rel`` and
        ``dev / 2`` from the expected one fires (``compensated`` of :meth:`evidence`), and
        so does one ``1.5 * dev`` from it anywhere (:meth:`compensable`).
    far
        How many times ``dev_early`` and ``z_early`` an early warning inside the normal
        range asks (:data:`FAR_EARLY`). Bradycardia and hypertension ask 1.25: a heart at
        55-60 bpm falling from a usual 75, a cuff reading of SBP 158-169 against a usual
        110-124. On 20 simulated cohorts (10,000 patient-days) that detects 7 more of 2,902
        events (milder hypertensive crises), alerts 14 more bradycardias within 15 min
        (their median delay 24.0 -> 22.9 min, the crises' 44.0 -> 40.9) and adds 10 false
        alerts to 467 (single cuff readings). Elsewhere it alerted an athlete's heart at 72-80
        bpm at rest against a usual 50, and a hypertensive's fall in pressure without a
        racing heart, which the tests hold as no alert.
    """

    kind: str
    vital: str
    sign: int
    rel: float
    rel_hold: float
    dev: float
    z_on: float
    hard: float
    persist: int
    z_early: float = math.inf
    dev_early: float = math.inf
    rel_early: float = math.nan
    exertion: bool = False
    hard_exerting: float | None = None
    red: float = math.nan
    compensation: tuple[str, float] | None = None
    far: float = FAR_EARLY

    def compensable(self, xs: float, expected: float, settled: bool) -> bool:
        """Whether a rise of :attr:`compensation` could corroborate ``xs`` against a settled
        ``expected``: half a ``dev`` beyond it and beyond ``rel``, or ``1.5 * dev`` beyond it
        wherever the value is (a hypertensive patient usually at 150 who reads 107 mmHg).

        >>> hypotension = RULES["hypotension"]
        >>> hypotension.compensable(92.0, 110.0, True), hypotension.compensable(102.0, 110.0, True)
        (True, False)
        >>> hypotension.compensable(107.0, 150.0, True)
        True
        """
        if not settled:
            return False
        d = self.sign * (xs - expected)
        return d >= (0.5 * self.dev if self.sign * (xs - self.rel) >= 0.0 else 1.5 * self.dev)

    @property
    def min_departure(self) -> float:
        """Least departure ``sign * (xs - expected)`` that can be evidence.

        With a baseline and without a clinician limit, :meth:`evidence` is ``NONE`` below it
        (half ``dev``, or half ``dev_early`` if smaller), unless the value is beyond ``hard``
        while the baseline is young: the monitor skips the other readings below it without
        calling :meth:`evidence`, so keep the two in step.
        """
        return min(0.5 * self.dev, 0.5 * self.dev_early)

    def evidence(
        self,
        xs: float,
        expected: float,
        sd: float,
        *,
        settled: bool,
        limit: float | None = None,
        at_rest: bool = True,
        young: bool = False,
        settled_elsewhere: bool = False,
        sustained: bool = False,
        beyond_both: bool = False,
        compensated: bool = False,
        awake: bool = False,
        exerting: bool = False,
        stirring: bool = False,
    ) -> int:
        """Return ``NONE``, ``HOLDING`` or ``FIRING`` for smoothed value ``xs``.

        ``expected``/``sd`` are the personal baseline (``nan`` before any); ``limit`` is the
        clinician's bound for this side, if set; ``at_rest`` enables the early warning;
        ``young`` says no personal baseline of this vital has settled in any context yet, so
        the population rule judges the value alone (a patient who starts out hypoxic must not
        have it learned as their normal first); ``settled_elsewhere`` says this context's
        baseline has not settled but another context's has (asleep since monitoring began, now
        awake): ``expected``/``sd`` are then this context's young baseline on a widened scale
        (1.5 scales; with fewer than ``MIN_SCALE_READINGS`` readings of its own, the
        best-learned context's on 2, :meth:`~stream.detect.robust.ContextStats._baseline`),
        and a relevant departure that is surprising even on that scale fires. Without it the
        patient would wait for this context to settle, which cannot happen while the departure
        holds learning back. ``sustained`` says the personal model's trend detector has found the
        departure on this side sustained. ``beyond_both`` says ``expected`` is the nearer of
        this patient's two baselines at rest, asleep and awake (motion cannot always tell
        them apart, :meth:`~stream.detect.monitor.PatientMonitor.observe`): the value is
        beyond both. ``compensated`` says the vital of :attr:`compensation` has risen as
        that attribute requires. ``awake`` says the reading is at rest and not still: there a
        value in NEWS2 3-point territory (``red``) and beyond both normals by
        :attr:`min_departure` is holding evidence whatever its ``z``, so that its run lasts
        until it is sustained. Judged against the sleeping baseline's scale alone, an adult
        at 61 bpm awake and 46 asleep, at HR 37-40 for three hours by day on the first day,
        had the run broken by every reading within 1.75 scales of the sleeping normal and
        was never alerted (a simulated cohort, seed 20270102). Not asleep: there the same
        rule alerted athletes' deep nights (HR 34-39 for half an hour below a sleeping normal
        of 42-46; 15 alerts on 10,000 simulated patient-days). ``exerting`` says the reading
        was taken on the move with the heart of exertion: :attr:`hard_exerting` replaces
        ``hard`` (no departure from the personal normal counts then below it). ``stirring``
        says the wearer moves about more than usual, if only a little
        (:data:`~stream.detect.activity.STIRRING`), and exertion raises this vital that way
        (heart and breathing rate): then no early warning. Early warnings judge a value still
        inside the normal range against the resting baseline alone, and a stroll explains a
        heart 20 bpm up as well as a deterioration does; a value beyond ``rel`` is judged as
        before. On a second cohort written independently of our simulator
        (``bench/second_cohort.py``, 150 patients x 5 days, the brief's confounders, whose
        walks raise heart rate 15-30 bpm at 1-2 times the usual motion) this removes a
        quarter of the false alerts (seeds 7, 9, 10: 447 -> 345, 417 -> 291, 440 -> 327),
        detects every event it detected, and alerts three 1-6 min later; on 20 simulated
        cohorts (10,000 patient-days, awake motion wandering by itself) it alerts 15 of 2,902
        events later than 15 min (669 -> 654; median delay 24.03 -> 24.07 min).

        >>> RULES["hypertension"].evidence(186.0, 165.0, 9.0, settled=True, at_rest=False)
        2
        >>> RULES["hypertension"].evidence(186.0, 165.0, 9.0, settled=True, at_rest=False,
        ...                                exerting=True)
        0
        """
        s = self.sign
        hard = self.hard if not exerting or self.hard_exerting is None else self.hard_exerting
        if limit is not None:
            # beyond the limit as the message shows the value (HR 44.6 is "45", not below 45)
            return FIRING if beyond_shown(self.vital, xs, limit, s) else NONE
        if sd != sd:  # no baseline at all yet: population rule only
            return FIRING if s * (xs - hard) >= 0.0 else NONE
        d = s * (xs - expected)
        if self.exertion and not at_rest:
            return FIRING if s * (xs - hard) >= 0.0 and d >= self.dev else NONE
        if young and s * (xs - self.hard) >= 0.0:
            return FIRING
        red = xs >= self.red if s > 0 else xs < self.red
        if red and d >= 2.0 * self.dev:
            return FIRING  # NEWS2 3-point territory, far from what this patient has shown
        if compensated and self.compensable(xs, expected, settled):
            return FIRING  # and the body is compensating (a fall in pressure: the heart races)
        if sustained and settled and s * (xs - self.rel) >= 0.0:
            # in NEWS2 3-point territory, half a dev beyond both normals at rest is enough
            # once it has lasted
            if d >= (0.5 * self.dev if red and beyond_both else self.dev_early):
                return FIRING
        z = d / sd
        if settled and at_rest and not stirring and z >= self.z_early and d >= self.dev_early:
            if s * (xs - self.rel_early) >= 0.0 or (
                d >= self.far * self.dev_early and z >= self.far * self.z_early
            ):
                return FIRING
        # awake at rest, in NEWS2 3-point territory and beyond both normals: evidence however
        # unsurprising (down to min_departure), so that a run of it lasts until it is sustained
        held = awake and red and beyond_both and settled and d >= self.min_departure
        if s * (xs - self.rel_hold) < 0.0 or d < 0.5 * self.dev:
            if held or (settled and z >= 0.5 * self.z_early and d >= 0.5 * self.dev_early):
                return HOLDING
            return NONE
        if s * (xs - self.rel) >= 0.0 and d >= self.dev:
            if s * (xs - self.hard) >= 0.0 or ((settled or settled_elsewhere) and z >= self.z_on):
                return FIRING
        if held or z >= 0.5 * self.z_on or (not settled and s * (xs - self.hard) >= 0.0):
            return HOLDING
        return NONE


_INF: Final = math.inf
# kind, vital, sign, rel, rel_hold, dev, z_on, hard, persist, z_early, dev_early, rel_early,
# exertion, red
RULES: Final[dict[str, VitalRule]] = {
    r.kind: r
    for r in (
        VitalRule("tachycardia", "hr", +1, 100.0, 95.0, 20.0, 4.0, 140.0, 1, 4.5, 15.0, 90.0, True,
                  red=130.5),
        VitalRule("bradycardia", "hr", -1, 45.0, 48.0, 10.0, 3.5, 35.0, 2, 3.5, 8.0, 55.0,
                  red=40.5, far=1.25),
        VitalRule("desaturation", "spo2", -1, 93.0, 94.0, 3.0, 3.5, 88.0, 1, 3.5, 2.5, 95.0, True,
                  red=91.5),
        VitalRule("tachypnea", "rr", +1, 22.0, 21.0, 6.0, 4.0, 25.0, 1, 3.5, 4.0, 19.0, True,
                  hard_exerting=30.0),
        VitalRule("bradypnea", "rr", -1, 9.0, 10.0, 4.0, 3.5, 8.0, 3),
        VitalRule("fever", "temp", +1, 37.9, 37.7, 0.8, 4.0, 38.6, 2, 4.5, 0.6, 37.5),
        VitalRule("hypothermia", "temp", -1, 35.5, 35.8, 1.0, 4.0, 35.0, 3),
        VitalRule("hypotension", "sbp", -1, 100.0, 105.0, 18.0, 3.0, 88.0, 1, 3.5, 20.0, 95.0,
                  red=90.5, compensation=("hr", 10.0)),
        VitalRule("hypertension", "sbp", +1, 180.0, 170.0, 15.0, 2.0, 180.0, 1, 4.0, 30.0, 170.0,
                  True, hard_exerting=220.0, far=1.25),
        # a diastolic limit is the clinician's alone: no population rule (NEWS2 has none)
        VitalRule("diastolic_hypertension", "dbp", +1, _INF, _INF, _INF, _INF, _INF, 1),
        VitalRule("diastolic_hypotension", "dbp", -1, -_INF, -_INF, _INF, _INF, -_INF, 1),
        VitalRule("hypoglycemia", "glucose", -1, 70.0, 80.0, 20.0, 3.0, 54.0, 2),
        VitalRule("hyperglycemia", "glucose", +1, 250.0, 230.0, 60.0, 3.0, 400.0, 2),
    )
}  # fmt: skip


def scale2_rule() -> VitalRule:
    """The desaturation rule for NEWS2 SpO2 scale 2 (prescribed target 88-92 %).

    >>> scale2_rule().rel, scale2_rule().hard
    (87.0, 84.0)
    """
    return VitalRule(
        "desaturation", "spo2", -1, 87.0, 88.0, 3.0, 3.5, 84.0, 1, 3.5, 2.5, 88.0, True
    )


RULES_BY_VITAL: Final[dict[str, tuple[VitalRule, ...]]] = {}
for _rule in RULES.values():
    RULES_BY_VITAL[_rule.vital] = (*RULES_BY_VITAL.get(_rule.vital, ()), _rule)


def explain_rule(
    vital: str,
    xs: float,
    expected: float,
    sd: float,
    z: float,
    settled: bool,
    ctx: int,
    minutes: int,
    limit: float | None,
    points: int,
    total: int,
    sub: dict[str, int],
    *,
    spot_readings: int = 0,
    dbp: float | None = None,
    early: bool = False,
    compensation: tuple[str, float, float] | None = None,
) -> tuple[str, dict[str, Any]]:
    """Message and evidence of a vital rule's finding on ``vital``.

    ``xs`` is the smoothed value, ``expected``/``sd``/``z``/``settled`` the personal baseline's
    view of it, ``ctx`` the activity context, ``minutes`` the evidence run so far, ``limit``
    the clinician's bound if any, ``points``/``total``/``sub`` the NEWS2 points of the vital,
    aggregate and sub-scores. A vital from a spot measurement (a cuff) is described by its
    ``spot_readings`` in a row rather than minutes, and systolic pressure is shown with the
    diastolic ``dbp`` when there is one. An ``early`` warning (the value is not yet beyond the
    condition's clinical bound, e.g. HR 94 for tachycardia) says so first, so that the
    condition's name does not overstate it. A ``compensation`` ``(vital, value, expected)``
    (:attr:`VitalRule.compensation`) is shown after the baseline. The NEWS2 clause names the
    vital's points only when it scores (a hypertensive crisis scores 0 below 220 mmHg:
    "systolic BP 0" beside it would read as reassurance), else the total if any.

    >>> explain_rule("hr", 128.0, 71.0, 6.0, 9.5, True, 1, 8, None, 2, 2, {"hr": 2})[0]
    'HR 128 bpm for 8 min, personal baseline 71 ± 6; NEWS2 pulse 2'
    >>> explain_rule("hr", 94.0, 71.0, 4.0, 5.8, True, 1, 6, None, 1, 1, {"hr": 1}, early=True)[0]
    'Early warning: HR 94 bpm for 6 min, personal baseline 71 ± 4; NEWS2 pulse 1'
    >>> explain_rule("sbp", 216.0, 131.0, 9.0, 9.4, True, 1, 0, None, 0, 2, {"sbp": 0, "hr": 2},
    ...              spot_readings=1, dbp=126.0)[0]
    'BP 216/126 mmHg (single cuff reading), personal baseline SBP 131 ± 9; NEWS2 total 2'
    >>> msg, _ = explain_rule("sbp", 84.0, 118.0, 9.0, -3.8, True, 1, 47, None, 3, 4, {"sbp": 3},
    ...                       spot_readings=2)
    >>> msg.split(", personal")[0], msg.split("; ")[1]
    ('SBP 84 mmHg on 2 cuff readings in a row (47 min)', 'NEWS2 systolic BP 3 (total 4)')
    >>> msg, ev = explain_rule("sbp", 81.0, 97.0, 7.0, -2.3, True, 0, 0, None, 3, 5, {"sbp": 3},
    ...                        spot_readings=1, dbp=49.0, compensation=("hr", 69.0, 44.2))
    >>> msg.split(", with ")[1]
    'HR 69 bpm (usual 44); NEWS2 systolic BP 3 (total 5)'
    >>> ev["compensation"]
    {'vital': 'hr', 'value': 69.0, 'expected': 44.2}
    """
    label, unit = LABEL[vital], UNIT[vital]
    if settled:
        base = f"personal baseline {fmt(vital, expected)} ± {fmt(vital, sd)}"
    elif sd == sd:
        base = f"early baseline {fmt(vital, expected)} (still learning)"
    else:
        base = "no personal baseline yet"
    if limit is not None:
        base += f", clinician limit {fmt(vital, limit)}"
    shown = f"{label} {fmt(vital, xs)}{unit}"
    if vital == "sbp" and dbp is not None:
        shown = f"BP {fmt(vital, xs)}/{fmt('dbp', dbp)}{unit}"
        base = base.replace("baseline ", "baseline SBP ", 1)
    device = "cuff" if vital in ("sbp", "dbp") else "meter"
    if spot_readings > 1:
        run = f" on {spot_readings} {device} readings in a row ({minutes} min)"
    elif spot_readings == 1:
        run = f" (single {device} reading)"
    else:
        run = f" for {minutes} min" if minutes >= 1 else ""
    msg = f"{'Early warning: ' if early else ''}{shown}{run}, {base}"
    if compensation is not None:
        other, value, usual = compensation
        now = f"{LABEL[other]} {fmt(other, value)}{UNIT[other]}"
        msg += f", with {now} (usual {fmt(other, usual)})"
    if vital in NEWS2_NAME and points:
        msg += f"; NEWS2 {NEWS2_NAME[vital]} {points}"
        if total > points:
            msg += f" (total {total})"
    elif total:
        msg += f"; NEWS2 total {total}"  # this vital scores 0: its 0 would read as reassurance
    evidence: dict[str, Any] = {
        "vital": vital,
        "value": round(xs, 2),
        "expected": round(expected, 2) if expected == expected else None,
        "scale": round(sd, 3) if sd == sd else None,
        "z": round(z, 2),
        "settled": settled,
        "context": CONTEXTS[ctx],
        "duration_min": minutes,
        "news2": {"total": total, **sub},
    }
    if spot_readings:
        evidence["readings"] = spot_readings
    if dbp is not None:
        evidence["dbp"] = round(dbp, 2)
    if limit is not None:
        evidence["limit"] = limit
    if compensation is not None:
        other, value, usual = compensation
        evidence["compensation"] = {
            "vital": other,
            "value": round(value, 2),
            "expected": round(usual, 2),
        }
    return msg, evidence
