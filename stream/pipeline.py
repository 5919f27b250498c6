"""The per-patient detection pipeline: the exact code the Faust worker, replay and demo run.

:class:`Pipeline` owns one :class:`~stream.detect.monitor.PatientMonitor` (detection) and one
:class:`~alerts.episodes.EpisodeTracker` (alert policy) per patient, created on first sight.
It is pure and event-time driven: no clock, no I/O, no randomness. A worker partitions
patients across processes by key (``patient_id``) and can snapshot/restore each patient's
state (a changelog, a crash recovery) with :meth:`Pipeline.snapshot` / :meth:`Pipeline.restore`.

Examples
--------
>>> from ingest.sample import Sample
>>> pipe = Pipeline()
>>> for i in range(90):
...     r = pipe.process(Sample("p1", "d1", 1.7e9 + 60 * i, hr=72.0 + i % 4, rr=14.0 + i % 3))
>>> r.score < 0.3, r.alerts
(True, [])
>>> for i in range(90, 100):
...     r = pipe.process(Sample("p1", "d1", 1.7e9 + 60 * i, hr=140.0, rr=14.0 + i % 3))
...     if r.alerts:
...         print(r.alerts[0].kind, r.alerts[0].severity, r.alerts[0].status)
tachycardia high open
>>> [a.kind for a in pipe.advance(1.7e9 + 60 * 100 + 3600)]  # the device went silent
['data_gap']
>>> state = pipe.snapshot("p1")
>>> len(state) < 16384
True
>>> clone = Pipeline()
>>> clone.restore("p1", state)
>>> nxt = Sample("p1", "d1", 1.7e9 + 60 * 161, hr=75.0, rr=15.0)
>>> clone.process(nxt).score == pipe.process(nxt).score
True
"""

from __future__ import annotations

import logging
import pickle
from collections.abc import Collection, Mapping
from typing import Final

import msgspec

from alerts.episodes import EpisodeTracker
from alerts.model import Alert
from alerts.policy import AlertPolicy
from ingest.sample import Sample
from stream.detect.config import PatientConfig
from stream.detect.findings import Finding
from stream.detect.monitor import PatientMonitor
from stream.exceptions import StateError

logger = logging.getLogger(__name__)

__all__ = ["SNAPSHOT_VERSION", "Pipeline", "StepResult"]

#: Version tag of :meth:`Pipeline.snapshot` payloads.
SNAPSHOT_VERSION: Final = 1


class StepResult(msgspec.Struct):
    """What processing one sample produced.

    A struct for its constructor, which runs in C: there is one per sample.

    Attributes
    ----------
    score
        Fused anomaly score of the sample in [0, 1] (higher = more anomalous).
    alerts
        New ``open`` and ``escalated`` alert records.
    resolved
        ``resolved`` records of episodes that closed at this sample.
    findings
        The detector's current evidence (what the score and alerts are based on).
    channel
        The vital or custom channel that drives ``score`` (``None`` if nothing scored).
    """

    score: float
    alerts: list[Alert]
    resolved: list[Alert]
    findings: list[Finding]
    channel: str | None = None

    def __repr__(self) -> str:
        return f"StepResult(score={self.score:.3f}, alerts={len(self.alerts)})"


class _PatientState:
    __slots__ = ("monitor", "tracker")

    def __init__(self, monitor: PatientMonitor, tracker: EpisodeTracker) -> None:
        self.monitor = monitor
        self.tracker = tracker


class Pipeline:
    """Detection and alerting for many patients (see the module docstring).

    Parameters
    ----------
    configs
        Initial clinician settings by patient id; others get defaults.
    policy
        Alert policy shared by all patients.
    emit_resolved
        Also return ``resolved`` records from :meth:`advance` (``process`` always puts them in
        :attr:`StepResult.resolved`).
    """

    def __init__(
        self,
        configs: Mapping[str, PatientConfig] | None = None,
        *,
        policy: AlertPolicy | None = None,
        emit_resolved: bool = False,
    ) -> None:
        self.configs: dict[str, PatientConfig] = dict(configs or {})
        self.policy = policy or AlertPolicy()
        self.emit_resolved = emit_resolved
        self._patients: dict[str, _PatientState] = {}

    def __len__(self) -> int:
        return len(self._patients)

    def has(self, patient_id: str) -> bool:
        """Whether the pipeline holds state for ``patient_id``."""
        return patient_id in self._patients

    def patients(self) -> list[str]:
        """Ids of the patients with state, in first-seen order."""
        return list(self._patients)

    def _state(self, patient_id: str) -> _PatientState:
        st = self._patients.get(patient_id)
        if st is None:
            cfg = self.configs.get(patient_id)
            st = _PatientState(
                PatientMonitor(patient_id, cfg), EpisodeTracker(patient_id, self.policy)
            )
            self._patients[patient_id] = st
        return st

    def set_config(self, patient_id: str, config: PatientConfig) -> None:
        """Apply clinician settings to a patient (from the next sample on)."""
        self.configs[patient_id] = config
        st = self._patients.get(patient_id)
        if st is not None:
            st.monitor.set_config(config)

    def process(self, sample: Sample) -> StepResult:
        """Run one accepted sample through its patient's detector and alert policy."""
        try:
            st = self._patients[sample.patient_id]
        except KeyError:  # a new patient
            st = self._state(sample.patient_id)
        mon = st.monitor
        score, findings = mon.observe(sample)
        if not findings and not st.tracker.open:
            return StepResult(score, [], [], findings, mon.top_channel)
        alerts, resolved = st.tracker.update(sample.ts, findings, mon.config)
        return StepResult(score, alerts, resolved, findings, mon.top_channel)

    def note_rejected(self, patient_id: str, ts: float, reason_code: str) -> list[Alert]:
        """Account for a sample of ``patient_id`` that failed validation (runs of them alert)."""
        st = self._state(patient_id)
        findings = st.monitor.rejected(ts, reason_code)
        if not findings:
            return []
        alerts, _ = st.tracker.update(ts, findings, st.monitor.config)
        return alerts

    def news2_now(self, patient_id: str, ts: float) -> tuple[int, dict[str, int]] | None:
        """NEWS2 ``(total, sub-scores)`` of a patient at ``ts`` (``None``: patient unknown).

        The sub-scores add up to the total: beside the fresh vitals' they have
        ``air_or_oxygen`` and ``consciousness`` (the clinician's settings), unless nothing
        is scored at all.
        """
        st = self._patients.get(patient_id)
        if st is None:
            return None
        total, sub = st.monitor.news2_now(ts)
        if sub or total:
            config = st.monitor.config
            sub = {
                **sub,
                "air_or_oxygen": 2 if config.on_oxygen else 0,
                "consciousness": 0 if config.consciousness.upper() == "A" else 3,
            }
        return total, sub

    def advance(
        self, ts: float, *, skip: Collection[str] = (), changed: set[str] | None = None
    ) -> list[Alert]:
        """Event-time tick at ``ts`` for every patient: data gaps and offline devices.

        Parameters
        ----------
        ts
            The tick's event time.
        skip
            Patients left out (a restored state already past this tick).
        changed
            If given, receives the patients whose state the tick may have changed: a tick
            changes a patient only through its episodes (the detector's tick only reads),
            so those with an open episode before or after it. An open episode's
            ``last_evidence`` moves with every tick of a silent device, with no alert to
            show it, and checkpoints must save it.
        """
        out: list[Alert] = []
        for pid, st in self._patients.items():
            if skip and pid in skip:
                continue
            findings = st.monitor.tick(ts)  # (it leaves the episodes alone)
            if not findings and not st.tracker.open:
                continue
            was_open = bool(st.tracker.open)
            alerts, resolved = st.tracker.update(ts, findings, st.monitor.config)
            if changed is not None and (was_open or st.tracker.open):
                changed.add(pid)
            out.extend(alerts)
            if self.emit_resolved:
                out.extend(resolved)
        return out

    def snapshot(self, patient_id: str) -> bytes:
        """Serialise one patient's full state (detector and open episodes).

        Raises
        ------
        KeyError
            If the patient has no state.
        """
        st = self._patients[patient_id]
        payload = (SNAPSHOT_VERSION, patient_id, st.monitor, st.tracker)
        return pickle.dumps(payload, protocol=5)

    def restore(self, patient_id: str, data: bytes) -> None:
        """Replace one patient's state with a :meth:`snapshot` payload.

        Only restore snapshots this deployment wrote itself (they are pickles).

        Raises
        ------
        StateError
            If the payload is corrupt, of another version or of another patient.
        """
        try:
            version, pid, monitor, tracker = pickle.loads(data)  # noqa: S301 - own changelog
        except Exception as exc:
            raise StateError(f"cannot decode the state of patient {patient_id}") from exc
        if version != SNAPSHOT_VERSION or pid != patient_id:
            raise StateError(f"snapshot version/patient mismatch for patient {patient_id}")
        if not isinstance(monitor, PatientMonitor) or not isinstance(tracker, EpisodeTracker):
            raise StateError(f"snapshot of patient {patient_id} has unexpected types")
        tracker.policy = self.policy
        cfg = self.configs.get(patient_id)
        if cfg is not None:
            monitor.set_config(cfg)
        self._patients[patient_id] = _PatientState(monitor, tracker)
