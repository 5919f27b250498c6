"""One patient's detector: personal baselines, clinical rules, NEWS2, trends and data quality.

:class:`PatientMonitor` is driven by event time only (the sample's ``ts``; never the wall
clock) and returns, per sample, a fused anomaly score in [0, 1] and the
:class:`~stream.detect.findings.Finding` list the alert policy turns into episodes.

Per sample:

1. activity context and artifact gating from motion and quality (:mod:`stream.detect.activity`),
   and per vital from the signal's shape: a jump no body makes in a minute is a suspect until
   the new level holds (:mod:`stream.detect.plausibility`);
2. each vital and custom channel goes through its :class:`~stream.detect.baseline.ChannelModel`
   (smoothing, personal baseline, CUSUM trend, score);
3. vitals only: the clinical rules (:mod:`stream.detect.rules`) and NEWS2
   (:mod:`stream.detect.news2`) on the smoothed values; a multi-vital ``deterioration`` rule
   (NEWS2 well above the patient's own usual NEWS2, with several vitals drifting the wrong way)
   catches slow, sepsis-like decline that no single vital shows yet, preceded by an early
   low-severity warning (:mod:`stream.detect.deterioration`); and, for a patient on oxygen
   or not alert, NEWS2 7 or more at rest for 10 minutes is an emergency whatever the
   baselines have learned (:mod:`stream.detect.aggregate`);
4. technical conditions (:mod:`stream.detect.technical`).

Late and out-of-order samples are judged per source, since a patient's devices keep clocks
of their own. The continuous stream — samples with a wearable vital (HR, SpO2, RR,
temperature), motion or a custom channel — has the patient's ``watermark``, the newest ``ts``
it sent: a sample of it up to ``reorder_window`` seconds older is processed normally (clock
jitter). An older one — a batch delivered after a Bluetooth drop — is *scored* against the
current model but neither learned nor allowed to build clinical evidence: the present, not a
replayed past, decides what alerts now, and a baseline must not be re-learned out of order.
The exception is a reading from a device of its own (:data:`~stream.detect.vitals.OWN_DEVICE`:
a cuff BP, a glucose meter) newer than the last one of its vital: it *is* the present of that
vital until the next spot measurement, up to an hour away, so it is processed as if on time
(a 207 mmHg reading in a backlog is alerted when it arrives, not at the next cuff reading).

A *spot* sample — such readings alone, as a separate cuff or meter sends them
(:func:`~stream.detect.sources.is_spot`) — never moves the watermark: it is late only if
older by more than ``reorder_window`` than the last reading of its vital (its device's own
backlog). While the stream is live a spot sample also leaves the stream's clocks alone — the
activity context, the NEWS2 check times, the data-gap and signal-quality runs — so that a
cuff 10 minutes ahead of the wearable (or a wearable hours behind: ingest bounds only a lead)
cannot make the next 10 minutes of the wearable late (unlearned, no evidence) nor hide the
wearable falling silent. Live is judged on each source's own clock
(:class:`~stream.detect.sources.SpotClocks`): by the spot device's lead over the stream,
learned at its readings, the reading comes less than the data-gap threshold after the
stream's watermark. Without a live stream (a cuff-only patient, a wearable off for the night)
spot samples keep the patient's clock as any sample does. A sample carrying both (the
simulator's wearable reports the cuff's values) has one device's ``ts``: it is of the stream.

Examples
--------
>>> from ingest.sample import Sample
>>> mon = PatientMonitor("p1")
>>> for i in range(120):
...     score, found = mon.observe(Sample("p1", "d1", 60.0 * i, hr=70.0 + (i % 5), spo2=97.0,
...                                       rr=14.0 + (i % 3), temp=36.8, motion=0.1))
>>> score < 0.2, found
(True, [])
>>> for i in range(120, 132):  # heart rate climbing 8 bpm a minute to 135
...     score, found = mon.observe(Sample("p1", "d1", 60.0 * i, hr=min(135.0, 8.0 * i - 872),
...                                       spo2=97.0, rr=14.0 + (i % 3), temp=36.8, motion=0.1))
>>> score > 0.9, [(f.kind, f.severity, f.firing) for f in found]
(True, [('tachycardia', 'high', True)])
>>> found[0].message
'HR 135 bpm for 10 min, personal baseline 72 ± 3; NEWS2 pulse 3'
"""

from __future__ import annotations

import logging
import math
from functools import partial
from typing import Any, Final

from ingest.sample import Sample

from stream.detect.activity import STIRRING, Activity, activity_update
from stream.detect.aggregate import CHECK_EVERY_S
from stream.detect.aggregate import KEY as NEWS2_KEY
from stream.detect.aggregate import SUSTAIN_CHECKS as NEWS2_SUSTAIN
from stream.detect.aggregate import check as aggregate_check
from stream.detect.baseline import (
    ACTIVE,
    LEARN_LOWS,
    REST,
    STILL,
    TREND_AFTER_S,
    ChannelModel,
    channel_step,
    time_of_day,
)
from stream.detect.config import PatientConfig
from stream.detect.deterioration import EARLY_KEY, assess, deterioration_pending
from stream.detect.findings import Finding
from stream.detect.news2 import score_hr, score_rr, score_sbp, score_spo2, score_temp
from stream.detect.plausibility import CLEAN_QUALITY, StepGate
from stream.detect.robust import BORROWED_WIDTH
from stream.detect.rules import (
    COMPENSATION_FRESH_S,
    COMPENSATION_Z,
    EXERTION_HR_RISE,
    FIRING,
    HOLDING,
    LATER_COMPENSATION,
    RULES,
    RULES_BY_VITAL,
    VitalRule,
    explain_rule,
    scale2_rule,
)
from stream.detect.sources import SpotClocks, is_spot
from stream.detect.technical import DataQuality, quality_on_sample
from stream.detect.vitals import (
    EVIDENCE_FRESH_S,
    FRESH_S,
    MAX_STEP,
    OWN_DEVICE,
    VITAL_MODEL_PARAMS,
    VITALS,
)

logger = logging.getLogger(__name__)

__all__ = [
    "CUSTOM_IDLE_S",
    "FIRST_DAY_SUSTAINED_S",
    "FRESH_S",
    "MAX_CUSTOM_MODELS",
    "VITALS",
    "VITAL_MODEL_PARAMS",
    "PatientMonitor",
]

#: Custom channels modelled per patient; further names are scored 0 (bounded state) while
#: every slot is in use.
MAX_CUSTOM_MODELS: Final = 16
#: A custom channel without a reading for this long (event time: its last reliable reading
#: to the newest sample) gives up its slot to a new channel that needs one: after a device
#: swap, the new device's channels are modelled, not scored 0 for ever. A day is longer than
#: any charging gap or nightly pause, so a channel merely paused keeps what it has learned.
CUSTOM_IDLE_S: Final = 24 * 3600.0
_SEVERITY_BY_POINTS: Final = ("low", "low", "medium", "high")
_DEFAULT_CONFIG: Final = PatientConfig()
_RULES_SCALE2: Final = {**RULES_BY_VITAL, "spo2": (scale2_rule(),)}
#: Vitals lower asleep than awake at rest (:meth:`PatientMonitor._apply_rule`).
_SLEEP_LOWERS: Final = frozenset(("hr", "rr", "spo2", "sbp"))
#: ... of which those the wearable reads (not a cuff's): judged by day against the waking
#: normal alone once a scale below the sleeping one, and asleep below the sleeping normal,
#: beyond both normals once a waking baseline exists.
_WORN: Final = frozenset(("hr", "rr", "spo2"))
#: Vitals a little more movement than usual raises: no early warning of theirs while the
#: wearer is stirring (:meth:`~stream.detect.rules.VitalRule.evidence`).
_STIRRED: Final = frozenset(("hr", "rr"))
#: Evidence that began at most this long before a spell of steps up began with it
#: (:meth:`PatientMonitor._apply_rule`; standing up comes before the first step).
_STEP_LEAD_S: Final = 60.0
#: Readings with ``|z|`` below this cannot be evidence for any rule (half the lowest z_on).
_SCREEN_Z: Final = 1.5
#: On a vital's first day (its trend detector not yet running), evidence beyond both normals at
#: rest that has lasted this long (s) is sustained (:meth:`PatientMonitor._apply_rule`).
FIRST_DAY_SUSTAINED_S: Final = 1800.0
#: Before a cuff's (or meter's) baseline has settled in any context (8 readings, hours of a
#: cuff), a reading this many times :attr:`~stream.detect.rules.VitalRule.dev_early` from the
#: young baseline of its context, learned from at least :data:`YOUNG_JUMP_READINGS` readings,
#: is evidence at rest (and at least :attr:`~stream.detect.rules.VitalRule.far` times, as an
#: early warning inside the normal range asks of a settled baseline): twice in a row, it
#: fires (:meth:`PatientMonitor._apply_rule`). SBP 45 mmHg above the first readings, or 40
#: below. On 20 simulated cohorts (10,000 patient-days) it alerted 6 more of 2,902 events
#: (hypertensive crises of 156-168 mmHg in the first hours) and no false alert.
YOUNG_JUMP: Final = 1.5
YOUNG_JUMP_READINGS: Final = 3
_NO_SCREEN: Final = (-math.inf, math.inf)
#: Per vital, the least extreme hard bounds of its rules (beyond them z is not needed).
_HARD_SCREEN: Final = {
    vital: (
        max((r.hard for r in rules if r.sign < 0), default=-math.inf),
        min((r.hard for r in rules if r.sign > 0), default=math.inf),
    )
    for vital, rules in RULES_BY_VITAL.items()
}


#: Per SpO2 scale and vital, what :meth:`PatientMonitor.observe` needs per reading: the
#: rules with their least departure (:attr:`VitalRule.min_departure`), their kinds, the
#: hard screen, the step bound (:data:`~stream.detect.vitals.MAX_STEP`; 0 = not gated), the
#: floor of a young sleeping baseline's learning (:data:`YOUNG_SLEEP_READINGS`; nan: none)
#: and the normal range (the rules' holding bounds, low and high).
_RULESETS: Final = {
    scale: {
        vital: (
            tuple((r, r.min_departure) for r in rules),
            tuple(r.kind for r in rules),
            *_HARD_SCREEN.get(vital, _NO_SCREEN),
            MAX_STEP.get(vital, 0.0),
            max((r.rel for r in rules if r.sign < 0), default=math.nan)
            if vital in _SLEEP_LOWERS and vital not in OWN_DEVICE
            else math.nan,
            max((r.rel_hold for r in rules if r.sign < 0), default=-math.inf),
            min((r.rel_hold for r in rules if r.sign > 0), default=math.inf),
        )
        for vital, rules in table.items()
    }
    for scale, table in ((1, RULES_BY_VITAL), (2, _RULES_SCALE2))
}
_NO_RULES: Final = ((), (), *_NO_SCREEN, 0.0, math.nan, -math.inf, math.inf)
#: A sleeping (still) baseline with fewer learned readings than this learns the readings
#: below it of a wearable's vital that sleep lowers as its normal (``LEARN_LOWS``), down to
#: the relevance bound of the vital's low-side rule (HR 45, SpO2 93 or 87 on scale 2, RR 9):
#: its first night deepens as the night goes on (:meth:`PatientMonitor.observe`). Read every
#: minute and learned at most every 5 min after the first 120, they reach it after about
#: 12 h asleep. Not a cuff's pressure: 240 readings every 15-60 min would take days.
YOUNG_SLEEP_READINGS: Final = 240
#: The vitals :meth:`PatientMonitor.observe` reads, in its order: the wearable's, then a cuff's
#: or a meter's (dbp before sbp, whose alert message shows both).
_OBSERVED: Final = ("hr", "spo2", "rr", "temp", "dbp", "sbp", "glucose")
#: Per SpO2 scale, each observed vital with its :data:`_RULESETS` entry, in that order (one
#: walk over them per sample, no look-ups).
_ROWS: Final = {
    scale: tuple((vital, *table.get(vital, _NO_RULES)) for vital in _OBSERVED)
    for scale, table in _RULESETS.items()
}
#: How :meth:`PatientMonitor.__setstate__` makes the slots added after the first release, in
#: order: the step gate, the next NEWS2 check (at the next sample), the spot devices' clocks.
_ADDED_SLOTS: Final = (StepGate, lambda: -math.inf, SpotClocks)
#: :func:`explain_rule`'s positional arguments before the NEWS2 aggregate (``total``, ``sub``).
_RuleArgs = tuple[str, float, float, float, float, bool, int, int, float | None, int]


def _glucose_severity(mg_dl: float) -> str:
    """Severity of a glucose finding (NEWS2 does not score glucose).

    Hypoglycaemia level 2 (< 54 mg/dL, clinically significant) is high, level 1 (54-69) is
    medium (ADA Standards of Care); hyperglycaemia from 400 mg/dL (the meter's range, and a
    hyperosmolar or ketotic risk) is high, from 250 medium.

    >>> [_glucose_severity(x) for x in (40.0, 60.0, 300.0, 450.0)]
    ['high', 'medium', 'medium', 'high']
    """
    return "high" if mg_dl < 54.0 or mg_dl >= 400.0 else "medium"


def _fresh(state: list[float], ts: float, vital: str) -> bool:
    """Whether a run of evidence ``[count, since, last seen]`` of a rule on ``vital`` was last
    seen within :data:`~stream.detect.vitals.EVIDENCE_FRESH_S` of ``ts`` (a state saved before
    runs kept the time last seen is fresh)."""
    return len(state) < 3 or ts - state[2] <= EVIDENCE_FRESH_S.get(vital, 900.0)


class PatientMonitor:
    """Per-patient detection state and logic (see the module docstring).

    Parameters
    ----------
    patient_id
        The patient (only used to label findings; never logged with values).
    config
        Clinician overrides; ``None`` means defaults.
    reorder_window
        Seconds a sample may be older than the newest of its source (the continuous stream,
        or a spot reading's vital) and still be processed normally.
    """

    __slots__ = (
        "activity",
        "channels",
        "config",
        "deterioration",
        "patient_id",
        "quality",
        "reorder_window",
        "rule_state",
        "top_channel",
        "watermark",
        "gate",  # added after the first release: see __setstate__
        "news2_next",  # (likewise)
        "spot_clocks",  # (likewise)
    )

    def __init__(
        self,
        patient_id: str,
        config: PatientConfig | None = None,
        *,
        reorder_window: float = 120.0,
    ) -> None:
        self.patient_id = patient_id
        self.config = config or _DEFAULT_CONFIG
        self.reorder_window = reorder_window
        self.activity = Activity()
        self.quality = DataQuality()
        self.channels: dict[str, ChannelModel] = {}
        # per rule kind: [consecutive firing readings, start of the evidence run]
        self.rule_state: dict[str, list[float]] = {}
        self.watermark = -math.inf
        self.deterioration = [0.0, 0.0]
        self.top_channel: str | None = None
        self.gate = StepGate()
        #: event time of the next check of the NEWS2 aggregate (:mod:`stream.detect.aggregate`)
        self.news2_next = -math.inf
        #: the spot devices' clocks against the stream's (:mod:`stream.detect.sources`)
        self.spot_clocks = SpotClocks()

    # -- configuration -------------------------------------------------------------------------

    def set_config(self, config: PatientConfig) -> None:
        """Apply new clinician settings from the next sample on (learned state is kept)."""
        self.config = config

    def __getstate__(self) -> tuple[Any, ...]:
        cfg = None if self.config == _DEFAULT_CONFIG else self.config
        return tuple(cfg if k == "config" else getattr(self, k) for k in self.__slots__)

    def __setstate__(self, state: tuple[Any, ...]) -> None:
        missing = len(self.__slots__) - len(state)
        if missing > 0:  # saved before the last slots existed: theirs as of a new patient
            state = (*state, *(new() for new in _ADDED_SLOTS[len(_ADDED_SLOTS) - missing :]))
        for k, v in zip(self.__slots__, state, strict=True):
            setattr(self, k, _DEFAULT_CONFIG if k == "config" and v is None else v)
        for name, ch in self.channels.items():  # a cost setting: as this release learns
            every = VITAL_MODEL_PARAMS.get(name, {}).get("learn_every")
            if every is not None:
                ch.learn_every = every

    def latest(self, vital: str, ts: float) -> float | None:
        """The current smoothed value of ``vital``, or ``None`` when stale at ``ts``."""
        ch = self.channels.get(vital)
        if ch is None or ts - ch.recent_at > FRESH_S.get(vital, 900.0) or ch.xs != ch.xs:
            return None
        return ch.xs

    # -- per sample ----------------------------------------------------------------------------

    def _channel(self, name: str, custom: bool) -> ChannelModel | None:
        ch = self.channels.get(name)
        if ch is None:
            n_vitals = sum(1 for v in VITALS if v in self.channels)
            if custom and len(self.channels) - n_vitals >= MAX_CUSTOM_MODELS:
                if not self._free_custom_slot():
                    return None
            ch = ChannelModel(**VITAL_MODEL_PARAMS.get(name, {}))
            self.channels[name] = ch
        return ch

    def _free_custom_slot(self) -> bool:
        """Drop the custom channel idle longest, if idle for :data:`CUSTOM_IDLE_S`.

        Idle is by event time (its last reliable reading to the newest sample), the first
        channel in first-seen order among equals: replays drop the same channel. Its opt-in
        rule state goes with it. Returns whether a slot was freed.
        """
        victim, longest = "", -math.inf
        for name, ch in self.channels.items():
            if name not in VITALS:
                idle = self.watermark - ch.recent_at
                if idle > longest:
                    victim, longest = name, idle
        if not longest >= CUSTOM_IDLE_S:
            return False
        del self.channels[victim]
        self.rule_state.pop("anomaly:" + victim, None)
        return True

    def observe(self, sample: Sample) -> tuple[float, list[Finding]]:
        """Process one accepted sample; return ``(score, findings)``.

        ``score`` is the fused anomaly score: the highest channel score, whose channel is then
        in :attr:`top_channel` (``None`` when nothing scored above 0).
        """
        ts = sample.ts
        # A spot reading alone (a cuff's or a meter's sample) has its device's clock: it is
        # judged against its vital's last reading, and kept off the clocks of a live stream
        # (module docstring). (HR decides for nearly every sample, without a call.)
        spot = sample.hr is None and is_spot(sample)
        follows = False
        if spot:
            # late if every reading it carries is older than its vital's last one by more
            # than the window: a backlog is then scored, and builds no evidence of any rule
            late = False
            window = self.reorder_window
            for vital, x in (("sbp", sample.sbp), ("dbp", sample.dbp), ("glucose", sample.glucose)):
                if x is not None:
                    ch = self.channels.get(vital)
                    late = ch is not None and ts < ch.recent_at - window
                    if not late:
                        break
            if late:
                ctx, reliable = self.activity.context, True
            elif self.spot_clocks.stream_live(
                sample.device_id, ts, self.watermark, self.quality.gap_after
            ):
                follows = True
                ctx, reliable = self.activity.context, not self.activity.exerting
            else:
                ctx, reliable = self.activity.update(None, sample.quality, ts)
        else:
            late = ts < self.watermark - self.reorder_window
            if ts > self.watermark:
                self.watermark = ts
            if late:
                ctx, reliable = self.activity.context, True
            else:
                # (compiled if built: once per sample)
                ctx, reliable = activity_update(self.activity, sample.motion, sample.quality, ts)
        findings: list[Finding] = []
        best = 0.0
        top: str | None = None
        # the readings of the vitals in _OBSERVED, in its order
        readings: tuple[float | None, ...] = (sample.hr, sample.spo2, sample.rr, sample.temp)
        if sample.sbp is not None or sample.dbp is not None or sample.glucose is not None:
            # (a cuff or a meter reading: most samples have none)
            readings += (sample.dbp, sample.sbp, sample.glucose)
        evaluate = reliable and not late
        # a cuff reading taken while the wearable reports poor quality or a motion burst is
        # as good as the cuff says; only exertion (real physiology) keeps it out
        own_ok = reliable or not self.activity.exerting
        tod = time_of_day(ts)
        at_rest = ctx != ACTIVE
        # Moving about more than usual (a walk the context does not show as active) is not
        # at rest for the rules of a vital the wearable reads and exertion moves (a cuff
        # reads at rest, as it asks), nor for NEWS2 and the multi-vital deterioration
        # (Activity.busier)
        busy = at_rest and self.activity.busier()
        rule_state = self.rule_state
        limits = self.config.thresholds
        rows = _ROWS[2 if self.config.spo2_scale == 2 else 1]
        channels = self.channels
        adverse_seen = False
        gate = self.gate.check
        runs = self.gate.state
        # (zip: a sample without a cuff or meter reading has fewer readings than rows)
        for (vital, rules, kinds, lo, hi, step, sleep_floor, normal_lo, normal_hi), x in zip(  # noqa: B905
            rows, readings
        ):
            if x is None:
                continue
            moved = busy and vital not in OWN_DEVICE
            try:
                ch = channels[vital]
            except KeyError:  # its first reading
                ch = self._channel(vital, False)
                assert ch is not None  # noqa: S101 - vitals always get a model
            if (late and not (vital in OWN_DEVICE and ts > ch.recent_at)) or (
                spot and ts < ch.recent_at - self.reorder_window
            ):
                p = ch.score_one({"value": x, "ts": ts, "context": ctx})
            else:
                learn: bool | int = not rule_state or rule_state.keys().isdisjoint(kinds)
                if not learn and normal_lo < x < normal_hi:
                    # Holding evidence stops learning, but not for ever: a departure inside
                    # the normal range (no rule's holding bound crossed) that the trend
                    # detector has found sustained for absorb_after is the new normal, as
                    # ChannelModel learns it. A resting baseline learned from a lower state
                    # (a night a biased accelerometer did not show as still, seed 20261225)
                    # held HR 80-90 by day as a departure, day after day.
                    learn = ch.lasted(x > ch.expected, ts)
                if (
                    ctx == STILL
                    and x >= sleep_floor
                    and ch.n[STILL] < YOUNG_SLEEP_READINGS
                    and x < ch.level[STILL]
                ):
                    # A first night deepens: the sleeping baseline learned its first hour
                    # (sleep onset, an evening's event winding down) and the deeper sleep
                    # after it departs below. Held as a departure, it never learned it, and
                    # every night after alerted (seed 20261225 started at 09:00: "Early
                    # warning: HR 55 bpm, personal baseline 71 ± 3", night after night).
                    # Its lows within the normal range are its normal.
                    learn = LEARN_LOWS
                plausible = reliable or (own_ok and vital in OWN_DEVICE)
                if reliable and step:
                    # the last plausible reading is the newest in the smoothing window; within
                    # a step of it and no candidate level: plausible (StepGate.check's common
                    # case, inlined: innermost loop)
                    w = ch.recent
                    if runs or not w or not -step <= x - w[-1] <= step:
                        q = sample.quality
                        plausible = gate(
                            vital, x, ts, w[-1] if w else None, ch.recent_at,
                            at_rest and sample.motion is not None and q is not None
                            and q >= CLEAN_QUALITY,
                        )  # fmt: skip
                # (positional, compiled if built: the innermost loop)
                p = channel_step(ch, x, ts, ctx, plausible, learn, tod)
                if plausible:
                    z = ch.z
                    if z >= 2.0 or z <= -2.0:
                        adverse_seen = True
                    # The screen skips unremarkable readings (behaviour, not only speed:
                    # hypertension holds from |z| 1.0); then rules the reading cannot reach
                    # are skipped exactly (VitalRule.min_departure).
                    if (
                        z >= _SCREEN_Z
                        or z <= -_SCREEN_Z
                        or not ch.settled
                        or not learn
                        or vital in limits
                        or ch.xs <= lo
                        or ch.xs >= hi
                    ):
                        # (a young context beside a settled one is also judged against
                        # the settled one's baseline: _apply_rule)
                        exact = (
                            vital not in limits
                            and ch.sd == ch.sd
                            and (
                                ch.settled
                                or ctx == ACTIVE
                                or max(ch.n[STILL], ch.n[REST]) < ch.warmup
                            )
                        )
                        for rule, min_d in rules:
                            if (
                                exact
                                and rule.sign * (ch.xs - ch.expected) < min_d
                                and rule.sign * (ch.xs - rule.hard) < 0.0
                                and rule.kind not in rule_state
                            ):
                                continue  # NONE for sure, and no rule state to clear
                            rest = at_rest and not (moved and rule.exertion)
                            # a reading on the move with the heart of exertion (a cuff's
                            # pressure, breathing rate: VitalRule.hard_exerting); not in a
                            # backlog, whose motion the context does not show, nor one that
                            # continues evidence read at rest
                            exerting = (
                                rule.hard_exerting is not None
                                and not late
                                and (busy or not at_rest)
                                and rule.kind not in rule_state
                                and self._exerting(ts, tod)
                            )
                            f = self._apply_rule(
                                rule, ch, ts, p, ctx, rest and not exerting, tod, exerting
                            )
                            if f is not None:
                                findings.append(f)
            if p > best:
                best = p
                top = vital
        # (most samples: no vital adverse and no run in progress, so nothing to count)
        pending = (
            evaluate
            and (adverse_seen or self.deterioration[0] > 0.0 or EARLY_KEY in rule_state)
            and deterioration_pending(self, adverse_seen)
        )
        for name, x in sample.custom.items() if sample.custom else ():  # (most have none)
            ch = self._channel(name, True)
            if ch is None:
                continue
            if late:
                p = ch.score_one({"value": x, "ts": ts, "context": ctx})
            else:
                p = channel_step(ch, x, ts, ctx, reliable, True, tod)
                if name in self.config.alert_channels and evaluate:
                    f = self._channel_finding(name, ch, ts, p)
                    if f is not None:
                        findings.append(f)
            if p > best:
                best = p
                top = name
        self.top_channel = top
        if rule_state:
            self._hold_unseen(findings, ts, (ctx, tod) if at_rest and evaluate else None)
        if pending:
            f = assess(self, ts, at_rest and not busy, busy)
            if f is not None:
                findings.append(f)
        if not late:
            due = ts >= self.news2_next and not follows
            if due:
                self.news2_next = ts + CHECK_EVERY_S
            if due or NEWS2_KEY in rule_state:
                # NEWS2 is a score of a patient at rest: exercise, or a walk, is no emergency
                f = aggregate_check(
                    self, ts, due, at_rest and not busy and not self.activity.exerting
                )
                if f is not None:
                    findings.append(f)
            if not follows:
                findings.extend(quality_on_sample(self.quality, ts, sample.quality, sample))
        return best, findings

    def tick(self, now: float) -> list[Finding]:
        """Event-time tick: technical conditions that need no sample (data gaps).

        Silence while a clinical condition is in evidence is not a routine charging gap: the
        data gap is then ``medium`` and names the condition (the care team should check on
        the patient, not the strap); a condition counts if its evidence was fresh when the
        data stopped. A condition whose evidence is still fresh now is held open, as between
        two samples (:meth:`_hold_unseen`): a cuff-only patient's 188/124 must not resolve
        between hourly readings.
        """
        quality = self.quality
        if not self.rule_state:
            if now - quality.last_seen < quality.gap_after:
                return []  # (no gap yet, as on_tick would find: most ticks, without a call)
            return quality.on_tick(now)
        found = quality.on_tick(now)
        if found:
            last = self.quality.last_seen
            active = sorted(
                kind
                for kind, state in self.rule_state.items()
                if (kind in RULES and _fresh(state, last, RULES[kind].vital))
                or (kind == NEWS2_KEY and state[0] >= NEWS2_SUSTAIN)  # an emergency NEWS2
            )
            if active:
                conditions = " and ".join(
                    "an emergency NEWS2" if k == NEWS2_KEY else k.replace("_", " ") for k in active
                )
                found = [
                    f._replace(
                        severity="medium",
                        message=f"{f.message} Last seen with {conditions} in evidence: "
                        "check on the patient.",
                    )
                    for f in found
                ]
        self._hold_unseen(found, now)
        return found

    def rejected(self, ts: float, reason_code: str) -> list[Finding]:
        """Account for a sample of this patient that failed validation.

        Its findings are what a :meth:`tick` would find at ``ts`` (a refused sample is no
        data: a data gap goes on, fresh evidence holds) and, once the run is long enough,
        ``rejected_data``.
        """
        f = self.quality.on_rejected(ts, reason_code)
        found = self.tick(ts)
        if f is not None:
            found.append(f)
        return found

    # -- helpers -------------------------------------------------------------------------------

    def _hold_unseen(
        self,
        findings: list[Finding],
        ts: float,
        at_rest: tuple[int, tuple[int, int, float]] | None = None,
    ) -> None:
        """Hold open the conditions this sample could not re-examine.

        A rule whose vital was not read reliably in this sample (the next cuff reading is up
        to an hour away; exertion and its recovery gate the wearable) has no new evidence
        either way. Until a reading says otherwise, its last evidence stands while it is
        fresh (:data:`~stream.detect.vitals.EVIDENCE_FRESH_S`): an alert must not resolve
        between two cuff readings of 188/124, nor while a tachycardic patient catches their
        breath.

        ``at_rest`` is ``(context, time of day)`` of a reliable sample at rest, else
        ``None``. In one, a reading of a compensable rule held as evidence (not firing) is
        judged again if its compensating vital has since risen well beyond it
        (:data:`~stream.detect.rules.LATER_COMPENSATION`): an athlete asleep whose cuff read
        SBP 97 against a usual 109 ± 7, and whose heart then climbed from 43 to 59, was
        alerted at the next cuff reading 30 min later (BP 80/57; a simulated cohort, seed
        20270106); now at 59 bpm.
        """
        seen = {f.kind for f in findings} if findings else ()  # (no set for a quiet tick)
        for kind, state in list(self.rule_state.items()):
            rule = RULES.get(kind)
            if rule is None or kind in seen or len(state) < 3:
                continue
            if _fresh(state, ts, rule.vital):
                if at_rest is not None and rule.compensation is not None and state[0] == 0.0:
                    f = self._compensated_later(rule, state, ts, *at_rest)
                    if f is not None:
                        findings.append(f)
                        continue
                    if kind not in self.rule_state:  # judged again: no longer evidence
                        continue
                findings.append(
                    Finding(kind, "clinical", "low", (rule.vital,), state[1], False, 0.0)
                )

    def _compensated_later(
        self,
        rule: VitalRule,
        state: list[float],
        ts: float,
        ctx: int,
        tod: tuple[int, int, float],
    ) -> Finding | None:
        """``rule``'s reading held as evidence, judged again at ``ts`` if its compensating
        vital has risen by :data:`~stream.detect.rules.LATER_COMPENSATION`; the finding if
        that fires (a run of evidence ``state`` last seen at the reading, as it stays)."""
        assert rule.compensation is not None  # noqa: S101 - the caller's check
        vital, rise = rule.compensation
        ch = self.channels.get(rule.vital)
        times, z = LATER_COMPENSATION
        if ch is None or self._compensation(vital, times * rise, ts, z) is None:
            return None
        seen_at = state[2]
        p = ch.score_one({"value": ch.xs, "ts": ch.recent_at, "context": ctx})
        f = self._apply_rule(rule, ch, ts, p, ctx, True, tod)
        state[2] = seen_at  # the reading's time: its evidence stays fresh as long as it does
        return f if f is not None and f.firing else None

    def news2_points(self, vital: str, x: float) -> int:
        """NEWS2 points of ``vital`` at value ``x`` under this patient's settings."""
        if vital == "hr":
            return score_hr(x)
        if vital == "spo2":
            return score_spo2(x, scale=self.config.spo2_scale, on_oxygen=self.config.on_oxygen)
        if vital == "rr":
            return score_rr(x)
        if vital == "temp":
            return score_temp(x)
        if vital == "sbp":
            return score_sbp(x)
        return 0

    def news2_now(self, ts: float) -> tuple[int, dict[str, int]]:
        """NEWS2 aggregate on the current smoothed values (stale ones omitted)."""
        sub: dict[str, int] = {}
        for vital in FRESH_S:
            x = self.latest(vital, ts)
            if x is not None:
                sub[vital] = self.news2_points(vital, x)
        total = sum(sub.values()) + (2 if self.config.on_oxygen else 0)
        if self.config.consciousness.upper() != "A":
            total += 3
        return total, sub

    def _apply_rule(
        self,
        rule: VitalRule,
        ch: ChannelModel,
        ts: float,
        p: float,
        ctx: int,
        at_rest: bool,
        tod: tuple[int, int, float],
        exerting: bool = False,
    ) -> Finding | None:
        """The finding of ``rule`` on ``ch``'s reading at ``ts`` (``tod``: its time of day;
        ``exerting``: as :meth:`~stream.detect.rules.VitalRule.evidence` takes it)."""
        low, high = self.config.limit(rule.vital)
        limit = high if rule.sign > 0 else low
        expected = ch.expected
        both = False
        sibling = REST if ctx == STILL else STILL  # the other context at rest
        if ctx != ACTIVE and ch.settled:
            # Still or merely resting? Motion cannot always tell (a frail patient awake in a
            # chair barely moves): a departure must hold against both baselines.
            other = ch.expected_in(sibling, ts, tod)
            if (
                other is not None
                and ctx == REST
                and rule.sign < 0
                and rule.vital in _WORN
                and ch.xs < other - ch.sd_cache[STILL]
                and self.activity.waking_hour(ts)
            ):
                # Except, in the wearer's waking hours, a reading a scale below the sleeping
                # normal: a doze is no lower than sleep. The sleeping baseline held back
                # bradycardias by day: an adult at 75 bpm at rest, falling to 37 over an hour
                # from 14:00, was alerted at HR 45, 43 min after onset (a simulated cohort,
                # seed 20261229; now at 55, after 30 min). The waking hours are learned
                # (Activity.hours): motion cannot tell a restless night from a day.
                pass
            elif other is not None and rule.sign * (other - expected) > 0.0:
                expected = other
                both = True
            elif (
                ctx == STILL
                and rule.sign < 0
                and rule.vital in (_SLEEP_LOWERS if other is None else _WORN)
            ):
                # asleep: below the sleeping normal of a vital sleep lowers is below the
                # waking one too (no one wakes lower), so a run of evidence that lasts is
                # sustained on the first day, and in NEWS2 3-point territory half a dev that
                # has lasted fires. Before any waking baseline exists: an athlete asleep at 46
                # bpm, then at HR 36-38 for 90 min from 3 h in, stayed holding evidence (z
                # -2.8, 9 below) and was not alerted (a simulated cohort, seed 20261228).
                # With one: an athlete asleep at 44, at HR 35-37 for 90 min on day 4, likewise
                # (seed 20261231). A cuff's pressure only before a waking baseline exists:
                # single readings asleep then alerted (BP 91/68 against 111 ± 8, seed 20261214).
                both = True
        settled = ch.settled
        # this context unsettled: another one settled (its young or a borrowed baseline,
        # widened), or none yet (young)
        elsewhere = not settled and max(ch.n) >= ch.warmup
        # what the message shows: the baseline that judged, and the reading's z against it
        shown = (ch.expected, ch.sd, ch.z, ch.settled)
        compensation = None
        spec = rule.compensation
        if (
            spec is not None
            and at_rest
            and limit is None
            and rule.compensable(ch.xs, expected, settled)
        ):
            compensation = self._compensation(*spec, ts)
        sustained = (ch.cusum_up if rule.sign > 0 else ch.cusum_down) >= ch.cusum_h
        if both and not sustained and ts - ch.born < TREND_AFTER_S:
            # The trend detector does not run on a vital's first day: an hours-long departure
            # may be the daily rhythm, not yet learned. Beyond both normals at rest, asleep
            # and awake, it is not the rhythm, and a run of evidence that has lasted is
            # sustained: an adult (63 bpm awake, 48 asleep) at HR 37 for an hour on the first
            # evening was not alerted (a simulated cohort, seed 20261222).
            run = self.rule_state.get(rule.kind)
            sustained = (
                run is not None
                and len(run) > 2
                and ts - run[1] >= FIRST_DAY_SUSTAINED_S
                and _fresh(run, ts, rule.vital)
            )
        young = not settled and not elsewhere
        level = rule.evidence(
            ch.xs, expected, ch.sd, settled=settled, limit=limit, at_rest=at_rest,
            young=young, settled_elsewhere=elsewhere,
            sustained=sustained, beyond_both=both, compensated=compensation is not None,
            awake=ctx == REST, exerting=exerting,
            stirring=(
                rule.exertion and rule.vital in _STIRRED and self.activity.busier(STIRRING)
            ),
        )  # fmt: skip
        jump = False
        if (
            level < FIRING
            and young
            and rule.vital in OWN_DEVICE
            and limit is None
            and at_rest
            and ch.n[ctx] >= YOUNG_JUMP_READINGS
        ):
            # A cuff reads every 15-60 min: its baseline settles hours after monitoring begins,
            # and until then only NEWS2 3-point territory (SBP 180, 88) fired. An adult whose
            # first three readings were 101-109 mmHg read 157-165 for two hours from 90 min in,
            # and was not alerted (a simulated cohort, seed 20261215). Twice in a row, such a
            # jump from this patient's own first readings is not the cuff's noise.
            d = rule.sign * (ch.xs - expected)
            if d >= max(YOUNG_JUMP, rule.far) * rule.dev_early:
                level = FIRING
                jump = True
        if elsewhere and level < FIRING and ctx != ACTIVE and limit is None:
            # A young context learns its first readings as fast as they come: woken into a
            # deterioration, it learns the deterioration as its normal within the hour. Until
            # it settles, a departure from the settled other context at rest (its scale
            # widened, as when borrowed) that fires is evidence too. Firing only: holding
            # evidence would stop the young context from learning (rule_state), and an
            # athlete's first night at HR 42 beside 59 awake is not a departure but a normal
            # it must learn.
            # Except below the normal when still (asleep) while awake at rest, for a vital
            # that sleep lowers: no one wakes to a lower heart rate, breathing rate, SpO2 or
            # blood pressure than they sleep at. There the still baseline is judged on its
            # own scale, and holding evidence counts too, so that the resting baseline does
            # not learn the fall as its normal: an adult asleep at 50 bpm, woken into a
            # bradycardia, sat at 38 awake for 90 min unalerted (a simulated cohort, seed
            # 20261128).
            below_sleep = rule.sign < 0 and sibling == STILL and rule.vital in _SLEEP_LOWERS
            other = ch.expected_in(sibling, ts, tod)
            if other is not None:
                width = 1.0 if below_sleep else BORROWED_WIDTH
                found = rule.evidence(
                    ch.xs, other, width * ch.sd_cache[sibling], settled=False,
                    at_rest=at_rest, settled_elsewhere=True,
                )  # fmt: skip
                if found == FIRING or (below_sleep and found > level):
                    level = found
                    if below_sleep:
                        sd = ch.sd_cache[sibling]
                        shown = (other, sd, (ch.xs - other) / sd, True)
        early = limit is None and rule.sign * (ch.xs - rule.rel) < 0.0  # not yet clinically so
        if level == FIRING and early and rule.exertion and at_rest:
            # An early warning (a value not yet beyond ``rel``) of a vital that exertion moves
            # must also be half a ``dev_early`` beyond this patient's usual level while moving
            # about: a reading at rest no further than that is how this patient is after a
            # walk, whatever the resting baseline says. A resting baseline learned from a
            # night not shown as still (a device reading motion twice as high, seed 20261225)
            # is the sleeping one, and every pause by day alerted "Early warning: HR 90 bpm,
            # personal baseline 70 ± 3" against an HR of 84 moving about. It stays holding
            # evidence, as it was.
            moving = ch.expected_in(ACTIVE, ts, tod)
            if moving is not None and rule.sign * (ch.xs - moving) < 0.5 * rule.dev_early:
                level = HOLDING
        if (
            level == FIRING
            and at_rest
            and rule.exertion
            and rule.vital in _STIRRED
            and rule.sign * (ch.xs - rule.hard) < 0.0
        ):
            # The first minutes of a walk or the stairs, and the heart's recovery after: the
            # wearer steps up (a quick motion average 1.6 times their usual, or a burst of
            # motion: Activity.stepping_since) and the heart and breathing follow within a
            # minute or two, while the motion average takes minutes to show it (busier).
            # Evidence that began with the steps, or a minute before them, holds short of the
            # population bound (``hard``) until the spell of steps ends, 5 min after the last:
            # HR 100-113 two minutes into a walk, the context still at rest, was a fifth of
            # the false alerts on a second cohort written apart from our simulator
            # (bench/second_cohort.py). A run of evidence from before the steps is judged as
            # before: a walk does not explain away what was there at rest.
            since = self.activity.stepping_since()
            if since is not None:
                run = self.rule_state.get(rule.kind)
                if run is None or not _fresh(run, ts, rule.vital) or run[1] >= since - _STEP_LEAD_S:
                    level = HOLDING
        state = self.rule_state.get(rule.kind)
        if level < HOLDING:
            if state is not None:
                del self.rule_state[rule.kind]
            return None
        if state is None or not _fresh(state, ts, rule.vital):
            # a new run of evidence; also after a silence longer than evidence stays fresh
            # (one reading after a 6-hour dropout is one reading, not "for 453 min")
            state = [0.0, ts, ts]
            self.rule_state[rule.kind] = state
        elif len(state) > 2:
            state[2] = ts  # when evidence was last seen (states from before lack it)
        state[0] = state[0] + 1.0 if level == FIRING else 0.0
        need = 2 if jump else rule.persist
        if need == 1 and len(ch.recent) < 2 and rule.vital not in OWN_DEVICE:
            # the first reading after a gap is not smoothed (no median of three): it takes
            # two, as it did (one HR 140 after a 6-hour dropout is one reading)
            need = 2
        firing = state[0] >= need
        xs = ch.xs
        points = self.news2_points(rule.vital, xs)
        severity = _SEVERITY_BY_POINTS[points]
        if rule.kind == "hypertension":
            severity = "high" if points >= 3 else "medium"  # NEWS2 3 from 219.5 (shown 220)
        elif rule.vital == "dbp":  # a clinician's diastolic limit (NEWS2 does not score it)
            severity = "medium"
        elif rule.vital == "glucose":  # NEWS2 does not score it: its own levels
            severity = _glucose_severity(xs)
        minutes = int((ts - state[1]) // 60.0)
        spot = int(state[0]) if rule.vital in OWN_DEVICE else 0
        dbp = self.latest("dbp", ts) if rule.vital == "sbp" else None
        # explain_rule's arguments, but for the NEWS2 aggregate (after ``points``)
        args: _RuleArgs = (rule.vital, xs, *shown, ctx, minutes, limit, points)
        kwargs: dict[str, Any] = {"spot_readings": spot, "dbp": dbp, "early": early}
        if compensation is not None:
            kwargs["compensation"] = compensation
        if not firing:
            # Holding evidence only keeps an open episode open: the alert policy reads neither
            # its severity (the vital's own, without the NEWS2 aggregate) nor its wording
            # (with the aggregate as of when it is read).
            return Finding(
                rule.kind, "clinical", severity, (rule.vital,), state[1], False, p,
                explain=partial(self._explain_later, ts, args, kwargs),
            )  # fmt: skip
        total, sub = self.news2_now(ts)
        if total >= 7:
            severity = "critical"
        elif severity == "low" and (
            total >= 5 or 3 in sub.values() or self.config.consciousness.upper() != "A"
        ):
            # NEWS2 5-6 (urgent), or a single 3 (new confusion included: low-medium, an urgent
            # ward review), whatever this vital scores
            severity = "medium"
        # worded only if the alert policy reads it
        explain = partial(explain_rule, *args, total, sub, **kwargs)
        return Finding(
            rule.kind, "clinical", severity, (rule.vital,), state[1], firing, p, explain=explain
        )

    def _exerting(self, ts: float, tod: tuple[int, int, float]) -> bool:
        """Whether the heart rate at ``ts`` is at least
        :data:`~stream.detect.rules.EXERTION_HR_RISE` above its settled resting normal (its
        newest reading within :data:`~stream.detect.rules.COMPENSATION_FRESH_S`)."""
        ch = self.channels.get("hr")
        if ch is None or ts - ch.recent_at > COMPENSATION_FRESH_S:
            return False
        resting = ch.expected_in(REST, ts, tod)
        return resting is not None and ch.xs - resting >= EXERTION_HR_RISE

    def _compensation(
        self, vital: str, rise: float, ts: float, z: float = COMPENSATION_Z
    ) -> tuple[str, float, float] | None:
        """``(vital, value, expected)`` if ``vital`` has risen by a compensating ``rise`` at ``ts``.

        Its newest reading (within :data:`~stream.detect.rules.COMPENSATION_FRESH_S`) must be
        at least ``rise`` and ``z`` scales (by default
        :data:`~stream.detect.rules.COMPENSATION_Z`) above a settled baseline
        (:attr:`~stream.detect.rules.VitalRule.compensation`).
        """
        ch = self.channels.get(vital)
        if (
            ch is None
            or not ch.settled
            or ts - ch.recent_at > COMPENSATION_FRESH_S
            or ch.z < z
            or ch.xs - ch.expected < rise
        ):
            return None
        return vital, ch.xs, ch.expected

    def _explain_later(
        self, ts: float, args: _RuleArgs, kwargs: dict[str, Any]
    ) -> tuple[str, dict[str, Any]]:
        """:func:`explain_rule` of holding evidence, with the NEWS2 aggregate when read.

        ``args`` are its arguments before the aggregate, ``kwargs`` its keywords.
        """
        return explain_rule(*args, *self.news2_now(ts), **kwargs)

    def _channel_finding(self, name: str, ch: ChannelModel, ts: float, p: float) -> Finding | None:
        """Opt-in alerts on a custom channel: its personal score alone decides.

        A departure stays in evidence while it lasts, after its score has faded (a known
        departure fades: :class:`~stream.detect.baseline.ChannelModel`).
        """
        state = self.rule_state.get("anomaly:" + name)
        if p < 0.5 and not (state is not None and ch.known_since == ch.known_since):
            if state is not None:
                del self.rule_state["anomaly:" + name]
            return None
        if state is None:
            state = [0.0, ts]
            self.rule_state["anomaly:" + name] = state
        state[0] += 1.0
        if ch.flat_run >= 3 and abs(ch.z) < 2.0:  # stuck, not out of range
            msg = f"{name} has read {ch.xs:.4g} {ch.flat_run + 1} times in a row (stuck sensor?)"
        else:
            msg = (
                f"{name} {ch.xs:.4g} is unusual for this patient (expected {ch.expected:.4g} "
                f"± {ch.sd:.2g})"
            )
        return Finding(
            f"{name}_anomaly", "clinical", "low", (name,), state[1], state[0] >= 3, p, msg,
            {"channel": name, "value": ch.xs, "expected": ch.expected, "z": round(ch.z, 2),
             "repeats": ch.flat_run},
        )  # fmt: skip
