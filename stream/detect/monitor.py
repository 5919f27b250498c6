"""One patient's detector: personal baselines, clinical rules, NEWS2, trends and data quality.

:class:`PatientMonitor` is driven by event time only (the sample's ``ts``; never the wall
clock) and returns, per sample, a fused anomaly score in [0, 1] and the
:class:`~stream.detect.findings.Finding` list the alert policy turns into episodes.

Per sample:

1. activity context and artifact gating from motion and quality (:mod:`stream.detect.activity`);
2. each vital and custom channel goes through its :class:`~stream.detect.baseline.ChannelModel`
   (smoothing, personal baseline, CUSUM trend, score);
3. vitals only: the clinical rules (:mod:`stream.detect.rules`) and NEWS2
   (:mod:`stream.detect.news2`) on the smoothed values; a multi-vital ``deterioration`` rule
   (NEWS2 well above the patient's own usual NEWS2, with several vitals drifting the wrong way)
   catches slow, sepsis-like decline that no single vital shows yet; before that, an early
   low-severity warning fires when, at rest, several vitals have drifted together the adverse
   way by ``EARLY_Z`` or more of their personal scales for ``EARLY_PERSIST`` readings;
4. technical conditions (:mod:`stream.detect.technical`).

Late and out-of-order samples: a sample up to ``reorder_window`` seconds older than the newest
one seen is processed normally (clock jitter). An older one — a batch delivered after a
Bluetooth drop — is *scored* against the current model but neither learned nor allowed to
build clinical evidence: the present, not a replayed past, decides what alerts now, and a
baseline must not be re-learned out of order.

Examples
--------
>>> from ingest.sample import Sample
>>> mon = PatientMonitor("p1")
>>> for i in range(120):
...     score, found = mon.observe(Sample("p1", "d1", 60.0 * i, hr=70.0 + (i % 5), spo2=97.0,
...                                       rr=14.0 + (i % 3), temp=36.8, motion=0.1))
>>> score < 0.2, found
(True, [])
>>> for i in range(120, 130):
...     score, found = mon.observe(Sample("p1", "d1", 60.0 * i, hr=135.0, spo2=97.0,
...                                       rr=14.0 + (i % 3), temp=36.8, motion=0.1))
>>> score > 0.9, [(f.kind, f.severity, f.firing) for f in found]
(True, [('tachycardia', 'high', True)])
>>> found[0].message
'HR 135 bpm for 8 min, personal baseline 72 ± 3; NEWS2 pulse 3'
"""

from __future__ import annotations

import logging
import math
from typing import Any, Final

from ingest.sample import Sample

from stream.detect.activity import Activity
from stream.detect.baseline import ACTIVE, CONTEXTS, REST, STILL, ChannelModel, time_of_day
from stream.detect.config import PatientConfig
from stream.detect.findings import Finding
from stream.detect.news2 import score_hr, score_rr, score_sbp, score_spo2, score_temp
from stream.detect.rules import FIRING, HOLDING, RULES_BY_VITAL, VitalRule, scale2_rule
from stream.detect.technical import DataQuality

logger = logging.getLogger(__name__)

__all__ = ["MAX_CUSTOM_MODELS", "VITALS", "PatientMonitor"]

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
#: Custom channels modelled per patient; further names are scored 0 (bounded state).
MAX_CUSTOM_MODELS: Final = 16
LABEL: Final = {"hr": "HR", "spo2": "SpO2", "rr": "RR", "temp": "Temp", "sbp": "SBP",
                "dbp": "DBP", "glucose": "Glucose"}  # fmt: skip
UNIT: Final = {"hr": " bpm", "spo2": "%", "rr": "/min", "temp": " °C", "sbp": " mmHg",
               "dbp": " mmHg", "glucose": " mg/dL"}  # fmt: skip
NEWS2_NAME: Final = {"hr": "pulse", "rr": "resp rate", "spo2": "SpO2", "temp": "temperature",
                     "sbp": "systolic BP"}  # fmt: skip
#: How long a smoothed value stays current for NEWS2 (cuff readings are intermittent).
FRESH_S: Final = {"hr": 900.0, "spo2": 900.0, "rr": 900.0, "temp": 1800.0, "sbp": 5400.0}
_SEVERITY_BY_POINTS: Final = ("low", "low", "medium", "high")
_DEFAULT_CONFIG: Final = PatientConfig()
_RULES_SCALE2: Final = {**RULES_BY_VITAL, "spo2": (scale2_rule(),)}
#: Readings with ``|z|`` below this cannot be evidence for any rule (half the lowest z_on).
_SCREEN_Z: Final = 1.5
_NO_SCREEN: Final = (-math.inf, math.inf)
#: Per vital, the least extreme hard bounds of its rules (beyond them z is not needed).
_HARD_SCREEN: Final = {
    vital: (
        max((r.hard for r in rules if r.sign < 0), default=-math.inf),
        min((r.hard for r in rules if r.sign > 0), default=math.inf),
    )
    for vital, rules in RULES_BY_VITAL.items()
}
#: Adverse direction of each NEWS2 vital in a septic-like deterioration.
_ADVERSE: Final = (("hr", 1.0), ("rr", 1.0), ("temp", 1.0), ("spo2", -1.0), ("sbp", -1.0))
#: Early multi-vital warning: per-vital personal z, their sum, consecutive readings (tuned on
#: simulated cohorts of several seeds).
EARLY_Z: Final = 2.5
EARLY_SUM: Final = 7.0
EARLY_PERSIST: Final = 8
_EARLY: Final = "deterioration:early"
#: ... and only where a value begins to matter clinically (the edge of the NEWS2 0-point
#: band, slightly inside it): a cool-skinned patient warming to 36.4 C is not drifting.
EARLY_FLOOR: Final = {"hr": 80.0, "rr": 17.0, "temp": 37.0, "spo2": 96.0, "sbp": 120.0}
_ADVERSE_SIGN: Final = dict(_ADVERSE)


def _fmt(vital: str, x: float) -> str:
    if vital == "temp":
        return f"{x:.1f}"
    return f"{x:.0f}"


class PatientMonitor:
    """Per-patient detection state and logic (see the module docstring).

    Parameters
    ----------
    patient_id
        The patient (only used to label findings; never logged with values).
    config
        Clinician overrides; ``None`` means defaults.
    reorder_window
        Seconds a sample may be older than the newest seen and still be processed normally.
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

    # -- configuration -------------------------------------------------------------------------

    @property
    def _rules(self) -> dict[str, tuple[VitalRule, ...]]:
        return _RULES_SCALE2 if self.config.spo2_scale == 2 else RULES_BY_VITAL

    def set_config(self, config: PatientConfig) -> None:
        """Apply new clinician settings from the next sample on (learned state is kept)."""
        self.config = config

    def __getstate__(self) -> tuple[Any, ...]:
        cfg = None if self.config == _DEFAULT_CONFIG else self.config
        return tuple(cfg if k == "config" else getattr(self, k) for k in self.__slots__)

    def __setstate__(self, state: tuple[Any, ...]) -> None:
        for k, v in zip(self.__slots__, state, strict=True):
            setattr(self, k, _DEFAULT_CONFIG if k == "config" and v is None else v)

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
                return None
            ch = ChannelModel(**VITAL_MODEL_PARAMS.get(name, {}))
            self.channels[name] = ch
        return ch

    def observe(self, sample: Sample) -> tuple[float, list[Finding]]:
        """Process one accepted sample; return ``(score, findings)``.

        ``score`` is the fused anomaly score: the highest channel score, whose channel is then
        in :attr:`top_channel` (``None`` when nothing scored above 0).
        """
        ts = sample.ts
        late = ts < self.watermark - self.reorder_window
        if ts > self.watermark:
            self.watermark = ts
        if late:
            ctx, reliable = self.activity.context, True
        else:
            ctx, reliable = self.activity.update(sample.motion, sample.quality, ts)
        findings: list[Finding] = []
        best = 0.0
        top: str | None = None
        values = (
            ("hr", sample.hr),
            ("spo2", sample.spo2),
            ("rr", sample.rr),
            ("temp", sample.temp),
            ("sbp", sample.sbp),
            ("dbp", sample.dbp),
            ("glucose", sample.glucose),
        )
        evaluate = reliable and not late
        tod = time_of_day(ts)
        at_rest = ctx != ACTIVE
        rule_state = self.rule_state
        limits = self.config.thresholds
        all_rules = self._rules
        channels = self.channels
        adverse_seen = False
        for vital, x in values:
            if x is None:
                continue
            ch = channels.get(vital) or self._channel(vital, False)
            assert ch is not None  # noqa: S101 - vitals always get a model
            if late:
                p = ch.score_one({"value": x, "ts": ts, "context": ctx})
            else:
                rules = all_rules.get(vital, ())
                learn = not rule_state or not any(r.kind in rule_state for r in rules)
                p = ch.step(x, ts, ctx, reliable=reliable, learn=learn, tod=tod)
                if evaluate:
                    z = ch.z
                    if z >= 2.0 or z <= -2.0:
                        adverse_seen = True
                    # cheap screen: most readings are unremarkable for every rule
                    lo, hi = _HARD_SCREEN.get(vital, _NO_SCREEN)
                    if (
                        z >= _SCREEN_Z
                        or z <= -_SCREEN_Z
                        or not ch.settled
                        or not learn
                        or vital in limits
                        or ch.xs <= lo
                        or ch.xs >= hi
                    ):
                        for rule in rules:
                            f = self._apply_rule(rule, ch, ts, p, ctx, at_rest)
                            if f is not None:
                                findings.append(f)
            if p > best:
                best = p
                top = vital
        adverse = 0
        if adverse_seen or self.deterioration[0] > 0.0:
            for vital, sign in _ADVERSE:
                ch = channels.get(vital)
                if ch is not None and sign * ch.z >= 2.0:
                    adverse += 1
        for name, x in sample.custom.items():
            ch = self._channel(name, True)
            if ch is None:
                continue
            if late:
                p = ch.score_one({"value": x, "ts": ts, "context": ctx})
            else:
                p = ch.step(x, ts, ctx, reliable=reliable, tod=tod)
                if name in self.config.alert_channels and evaluate:
                    f = self._channel_finding(name, ch, ts, p)
                    if f is not None:
                        findings.append(f)
            if p > best:
                best = p
                top = name
        self.top_channel = top
        if evaluate and (adverse >= 2 or self.deterioration[0] > 0.0 or _EARLY in rule_state):
            f = self._deterioration(ts, at_rest)
            if f is not None:
                findings.append(f)
        if not late:
            findings.extend(self.quality.on_sample(ts, quality=sample.quality, values=sample))
        return best, findings

    def tick(self, now: float) -> list[Finding]:
        """Event-time tick: technical conditions that need no sample (data gaps)."""
        return self.quality.on_tick(now)

    def rejected(self, ts: float, reason_code: str) -> list[Finding]:
        """Account for a sample of this patient that failed validation."""
        f = self.quality.on_rejected(ts, reason_code)
        return [f] if f is not None else []

    # -- helpers -------------------------------------------------------------------------------

    def _news2_points(self, vital: str, x: float) -> int:
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
                sub[vital] = self._news2_points(vital, x)
        total = sum(sub.values()) + (2 if self.config.on_oxygen else 0)
        if self.config.consciousness.upper() != "A":
            total += 3
        return total, sub

    def _apply_rule(
        self, rule: VitalRule, ch: ChannelModel, ts: float, p: float, ctx: int, at_rest: bool
    ) -> Finding | None:
        low, high = self.config.limit(rule.vital)
        limit = high if rule.sign > 0 else low
        expected = ch.expected
        if ctx != ACTIVE and ch.settled:
            # Still or merely resting? Motion cannot always tell (a frail patient awake in a
            # chair barely moves): a departure must hold against both baselines.
            other = ch.expected_in(REST if ctx == STILL else STILL, ts)
            if other is not None and rule.sign * (other - expected) > 0.0:
                expected = other
        level = rule.evidence(
            ch.xs, expected, ch.sd, settled=ch.settled, limit=limit, at_rest=at_rest
        )
        state = self.rule_state.get(rule.kind)
        if level < HOLDING:
            if state is not None:
                del self.rule_state[rule.kind]
            return None
        if state is None:
            state = [0.0, ts]
            self.rule_state[rule.kind] = state
        state[0] = state[0] + 1.0 if level == FIRING else 0.0
        firing = state[0] >= rule.persist
        xs = ch.xs
        points = self._news2_points(rule.vital, xs)
        severity = _SEVERITY_BY_POINTS[points]
        if rule.kind == "hypertension":
            severity = "high" if xs >= 220.0 else "medium"
        total, sub = self.news2_now(ts)
        if total >= 7:
            severity = "critical"
        minutes = int((ts - state[1]) // 60.0)
        label, unit = LABEL[rule.vital], UNIT[rule.vital]
        if ch.settled:
            base = f"personal baseline {_fmt(rule.vital, ch.expected)} ± {_fmt(rule.vital, ch.sd)}"
        elif ch.sd == ch.sd:
            base = f"early baseline {_fmt(rule.vital, ch.expected)} (still learning)"
        else:
            base = "no personal baseline yet"
        if limit is not None:
            base += f", clinician limit {_fmt(rule.vital, limit)}"
        msg = f"{label} {_fmt(rule.vital, xs)}{unit} for {minutes} min, {base}"
        if rule.vital in NEWS2_NAME:
            msg += f"; NEWS2 {NEWS2_NAME[rule.vital]} {points}"
            if total > points:
                msg += f" (total {total})"
        evidence: dict[str, Any] = {
            "vital": rule.vital,
            "value": round(xs, 2),
            "expected": round(ch.expected, 2) if ch.expected == ch.expected else None,
            "scale": round(ch.sd, 3) if ch.sd == ch.sd else None,
            "z": round(ch.z, 2),
            "settled": ch.settled,
            "context": CONTEXTS[ctx],
            "duration_min": minutes,
            "news2": {"total": total, **sub},
        }
        if limit is not None:
            evidence["limit"] = limit
        return Finding(
            rule.kind, "clinical", severity, (rule.vital,), state[1], firing, p, msg, evidence
        )

    def _early_drift(self, ts: float, at_rest: bool, drifting: list[tuple[str, float]]) -> bool:
        """Early warning: several vitals departing together from a settled personal normal.

        At rest, at least two vitals ``EARLY_Z`` personal scales or more the adverse way, with
        ``EARLY_SUM`` scales in all, for ``EARLY_PERSIST`` consecutive readings.
        """
        strong = [
            z
            for v, z in drifting
            if z >= EARLY_Z
            and self.channels[v].settled
            and _ADVERSE_SIGN[v] * (self.channels[v].xs - EARLY_FLOOR[v]) >= 0.0
        ]
        if not at_rest or len(strong) < 2 or sum(strong) < EARLY_SUM:
            self.rule_state.pop(_EARLY, None)
            return False
        state = self.rule_state.get(_EARLY)
        if state is None:
            state = [0.0, ts]
            self.rule_state[_EARLY] = state
        state[0] += 1.0
        return state[0] >= EARLY_PERSIST

    def _deterioration(self, ts: float, at_rest: bool) -> Finding | None:
        """Multi-vital rule: NEWS2 well above this patient's usual, several vitals adverse."""
        adverse = 0
        drift = 0.0
        drifting: list[tuple[str, float]] = []
        for vital, sign in _ADVERSE:
            ch = self.channels.get(vital)
            x = self.latest(vital, ts)
            if ch is None or x is None or ch.sd != ch.sd:
                continue
            z = sign * (x - ch.expected) / ch.sd
            if z >= 2.0:
                adverse += 1
                drift += z
                drifting.append((vital, z))
        early = self._early_drift(ts, at_rest, drifting)
        state = self.deterioration
        if adverse < 2:
            state[0] = 0.0
            return None
        total, sub = self.news2_now(ts)
        usual = 0
        for vital in sub:
            usual += self._news2_points(vital, self.channels[vital].expected)
        excess = total - usual
        if total >= 5 and excess >= 3 and adverse >= 3:
            level = FIRING
        elif total >= 4 and excess >= 2:
            level = HOLDING
        else:
            state[0] = 0.0
            return self._early_finding(ts, drifting, drift) if early else None
        if state[0] == 0.0:
            state[1] = ts
        state[0] = state[0] + 1.0 if level == FIRING else max(state[0], 1.0)
        firing = (level == FIRING and state[0] >= 5) or early
        severity = "critical" if total >= 7 else "medium"
        involved = [v for v, n in sub.items() if n > 0]
        minutes = int((ts - state[1]) // 60.0)
        parts = ", ".join(f"{LABEL[v]} {_fmt(v, self.channels[v].xs)}{UNIT[v]}" for v in involved)
        msg = f"Deteriorating over {minutes} min: NEWS2 {total} (usual {usual}) with {parts}"
        return Finding(
            "deterioration", "clinical", severity, tuple(involved), state[1], firing,
            min(1.0, drift / 20.0), msg,
            {"news2": {"total": total, "usual": usual, **sub}, "adverse_vitals": adverse,
             "duration_min": minutes},
        )  # fmt: skip

    def _early_finding(self, ts: float, drifting: list[tuple[str, float]], drift: float) -> Finding:
        """The early warning's finding: low severity, the drifting vitals against their usual."""
        since = self.rule_state[_EARLY][1]
        minutes = int((ts - since) // 60.0)
        involved = [v for v, _ in drifting]
        parts = ", ".join(
            f"{LABEL[v]} {_fmt(v, self.channels[v].xs)}{UNIT[v]} "
            f"(usual {_fmt(v, self.channels[v].expected)})"
            for v in involved
        )
        msg = f"Drifting from this patient's normal at rest for {minutes} min: {parts}"
        evidence = {
            "z": {v: round(z, 2) for v, z in drifting},
            "expected": {v: round(self.channels[v].expected, 2) for v in involved},
            "adverse_vitals": len(involved),
            "duration_min": minutes,
        }
        return Finding(
            "deterioration", "clinical", "low", tuple(involved), since, True,
            min(1.0, drift / 20.0), msg, evidence,
        )  # fmt: skip

    def _channel_finding(self, name: str, ch: ChannelModel, ts: float, p: float) -> Finding | None:
        """Opt-in alerts on a custom channel: its personal score alone decides."""
        state = self.rule_state.get("anomaly:" + name)
        if p < 0.5:
            if state is not None:
                del self.rule_state["anomaly:" + name]
            return None
        if state is None:
            state = [0.0, ts]
            self.rule_state["anomaly:" + name] = state
        state[0] += 1.0
        msg = (
            f"{name} {ch.xs:.4g} is unusual for this patient (expected {ch.expected:.4g} "
            f"± {ch.sd:.2g})"
        )
        return Finding(
            f"{name}_anomaly", "clinical", "low", (name,), state[1], state[0] >= 3, p, msg,
            {"channel": name, "value": ch.xs, "expected": ch.expected, "z": round(ch.z, 2)},
        )  # fmt: skip
