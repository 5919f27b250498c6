"""Alert episodes: from a stream of findings to one alert per patient x condition episode.

:class:`EpisodeTracker` holds one patient's open episodes and applies an
:class:`~alerts.policy.AlertPolicy`. It is pure and event-time driven: the same findings at the
same times always yield the same :class:`~alerts.model.Alert` records, ids included.

Examples
--------
>>> from stream.detect.findings import Finding
>>> def f(ts, sev="medium", firing=True):
...     return Finding("tachycardia", "clinical", sev, ("hr",), since=0.0, firing=firing,
...                    score=0.9, message="HR 130 bpm", evidence={})
>>> tr = EpisodeTracker("p1")
>>> [(a.status, a.severity) for a in tr.update(60.0, [f(60.0)])[0]]
[('open', 'medium')]
>>> tr.update(120.0, [f(120.0)])[0]  # same episode: nothing new to say
[]
>>> [(a.status, a.seq) for a in tr.update(900.0, [f(900.0, "high")])[0]]
[('escalated', 1)]
>>> out, resolved = tr.update(900.0 + 1800.0, [])
>>> out, [(a.status, a.seq) for a in resolved]
([], [('resolved', 2)])
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from alerts.model import SEVERITY_RANK, Alert, alert_id_for
from alerts.policy import AlertPolicy
from stream.detect.config import PatientConfig
from stream.detect.findings import Finding
from stream.detect.vitals import clock

logger = logging.getLogger(__name__)

__all__ = ["Episode", "EpisodeTracker"]


class Episode:
    """State of one open episode (announced or held back by the rate limit or a snooze)."""

    __slots__ = (
        "alert_id",
        "announced",
        "category",
        "folded_into",
        "kind",
        "last_evidence",
        "last_record",
        "message",
        "score",
        "seq",
        "severity",
        "started_at",
        "vitals",
    )

    def __init__(self, patient_id: str, f: Finding, ts: float, since: float | None = None) -> None:
        self.kind = f.kind
        self.category = f.category
        self.started_at = f.since if since is None else since
        self.alert_id = alert_id_for(patient_id, f.kind, self.started_at)
        self.severity = f.severity
        self.vitals = f.vitals
        self.message = f.message
        self.score = f.score
        self.seq = -1
        self.announced = False
        self.folded_into: str | None = None
        self.last_evidence = ts
        self.last_record = ts

    def __getstate__(self) -> tuple[Any, ...]:
        return tuple(getattr(self, k) for k in self.__slots__)

    def __setstate__(self, state: tuple[Any, ...]) -> None:
        for k, v in zip(self.__slots__, state, strict=True):
            setattr(self, k, v)

    def record(self, patient_id: str, ts: float, status: str, f: Finding | None) -> Alert:
        """Build this episode's next alert record (``seq`` advances)."""
        self.seq += 1
        self.last_record = ts
        message = f.message if f is not None else self.message
        if status == "resolved":
            message = (
                f"Resolved, not in evidence since {clock(self.last_evidence)} (was: {self.message})"
            )
        return Alert(
            alert_id=self.alert_id,
            patient_id=patient_id,
            category=self.category,  # type: ignore[arg-type]
            kind=self.kind,
            severity=self.severity,  # type: ignore[arg-type]
            vitals=list(self.vitals),
            started_at=self.started_at,
            detected_at=ts,
            message=message,
            evidence=dict(f.evidence) if f is not None else {},
            score=self.score,
            status=status,  # type: ignore[arg-type]
            seq=self.seq,
        )


class EpisodeTracker:
    """One patient's episodes under an :class:`AlertPolicy`.

    Parameters
    ----------
    patient_id
        The patient.
    policy
        Alerting parameters (shared, immutable).
    """

    def __init__(self, patient_id: str, policy: AlertPolicy | None = None) -> None:
        self.patient_id = patient_id
        self.policy = policy or AlertPolicy()
        self.open: dict[str, Episode] = {}
        self.recent_announcements: list[float] = []
        #: When the last episode of each kind closed: a run of evidence that began before
        #: then and fires again is a new alert (new id, starting now), not the old one again.
        self.closed_at: dict[str, float] = {}

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["policy"] = None  # policies are process configuration, not patient state
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.__dict__.setdefault("closed_at", {})  # states saved before it existed
        self.policy = AlertPolicy()

    def _may_announce(self, ts: float, f: Finding, config: PatientConfig | None) -> bool:
        # the rate window's announcements only (also when a critical one skips the limit:
        # a patient whose alerts are all critical must not grow the list for ever)
        window = self.policy.rate_window
        recent = [t for t in self.recent_announcements if ts - t < window]
        self.recent_announcements = recent
        if f.severity == "critical":
            return True
        if config is not None and config.snoozed(f.kind, ts):
            return False
        if f.category != "clinical":
            return True
        return len(recent) < self.policy.max_new

    def update(
        self, ts: float, findings: Sequence[Finding], config: PatientConfig | None = None
    ) -> tuple[list[Alert], list[Alert]]:
        """Fold in one evaluation's findings at event time ``ts``.

        Returns
        -------
        (alerts, resolved)
            New ``open``/``escalated`` records, and ``resolved`` records of closed episodes.
        """
        out: list[Alert] = []
        pid = self.patient_id
        policy = self.policy
        seen: list[str] = []
        for f in findings:
            ep = self.open.get(f.kind)
            if ep is None:
                if not f.firing:
                    continue  # holding evidence opens nothing (and keeps nothing open)
                closed = self.closed_at.get(f.kind)
                ep = Episode(pid, f, ts, ts if closed is not None and f.since < closed else None)
                self.open[f.kind] = ep
            seen.append(f.kind)  # only open episodes' kinds: the clear check below counts them
            if ts > ep.last_evidence:  # (a late sample's evidence is not the latest)
                ep.last_evidence = ts
            if f.score > ep.score:
                ep.score = f.score
            if not ep.announced:
                primary = self._primary(ep, ts, findings) if policy.fold_related else None
                if (
                    primary is not None
                    and f.firing
                    and not (
                        # a snoozed condition is not announced through another alert either
                        config is not None
                        and f.severity != "critical"
                        and config.snoozed(f.kind, ts)
                    )
                ):
                    # a related condition while the patient already has an open clinical
                    # alert: one alert, updated, rather than a second interruption
                    ep.announced = True
                    ep.folded_into = primary.kind
                    ep.severity = f.severity
                    out.extend(self._update_primary(primary, f, ts, f.severity == "critical"))
                    continue
                if f.firing and self._may_announce(ts, f, config):
                    ep.announced = True
                    ep.severity = f.severity
                    ep.vitals = f.vitals
                    ep.message = f.message
                    if f.category == "clinical":
                        self.recent_announcements.append(ts)
                    out.append(ep.record(pid, ts, "open", f))
                continue
            if ep.folded_into is not None:
                primary = self.open.get(ep.folded_into)
                if primary is not None and f.firing:
                    newly_critical = f.severity == "critical" != ep.severity
                    ep.severity = max(ep.severity, f.severity, key=SEVERITY_RANK.__getitem__)
                    out.extend(self._update_primary(primary, f, ts, newly_critical))
                continue
            if (
                SEVERITY_RANK[f.severity] > SEVERITY_RANK[ep.severity]
                and (ts - ep.last_record >= policy.escalate_every or f.severity == "critical")
                and f.firing
            ):
                ep.severity = f.severity
                ep.message = f.message
                out.append(ep.record(pid, ts, "escalated", f))
        resolved: list[Alert] = []
        if len(self.open) > len(seen):
            for kind in sorted(self.open):
                if kind in seen:
                    continue
                ep = self.open[kind]
                if ts - ep.last_evidence >= policy.clear_delay(ep.category, kind):
                    del self.open[kind]
                    self.closed_at[kind] = ts
                    if ep.folded_into is not None:
                        continue  # it was never an alert of its own
                    if ep.announced:
                        resolved.append(ep.record(pid, ts, "resolved", None))
                    for other in self.open.values():
                        if other.folded_into == kind:
                            # the alert it was part of is over: it stands on its own again
                            other.folded_into = None
                            other.announced = False
        return out, resolved

    def _primary(self, ep: Episode, ts: float, findings: Sequence[Finding]) -> Episode | None:
        """The open, announced clinical episode a new clinical one would be folded into.

        Only an alert still in evidence in this evaluation (``findings``: its own condition
        or one folded into it, firing or holding) takes a new condition in. One that is only
        waiting out its clear delay is over as far as the care team can tell: a condition
        folded into it would never be announced (a tachycardia starting just after a single
        low cuff reading's alert went quiet must get an alert of its own).
        """
        if ep.category != "clinical":
            return None
        for other in self.open.values():
            if (
                other is not ep
                and other.category == "clinical"
                and other.announced
                and other.folded_into is None
                and ep.started_at - other.started_at <= self.policy.fold_window
                and self._in_evidence(other, ts, findings)
            ):
                return other
        return None

    def _in_evidence(self, primary: Episode, ts: float, findings: Sequence[Finding]) -> bool:
        """Whether ``findings`` at ``ts`` show ``primary``'s condition or one folded into it.

        A late sample's evaluation (``ts`` not after the alert's last evidence) is judged
        by the newer evidence already seen.
        """
        if primary.last_evidence >= ts:
            return True
        for f in findings:
            if f.kind == primary.kind:
                return True
            ep = self.open.get(f.kind)
            if ep is not None and ep.folded_into == primary.kind:
                return True
        return False

    def _update_primary(
        self, primary: Episode, f: Finding, ts: float, newly_critical: bool = False
    ) -> list[Alert]:
        """Escalate ``primary`` with a folded condition's finding if it is more severe.

        A condition that has just become critical is news even when the alert is critical
        already: it is recorded, or the care team never sees it.
        """
        if ts > primary.last_evidence:  # (a late sample's evidence is not the latest)
            primary.last_evidence = ts
        new_vitals = tuple(v for v in f.vitals if v not in primary.vitals)
        if new_vitals:
            primary.vitals = (*primary.vitals, *new_vitals)
        if SEVERITY_RANK[f.severity] <= SEVERITY_RANK[primary.severity] and not newly_critical:
            return []
        if ts - primary.last_record < self.policy.escalate_every and f.severity != "critical":
            return []
        primary.severity = f.severity
        # the current numbers of the new condition, not the first sentence of the old one
        also = (
            f"on top of the {primary.kind.replace('_', ' ')} alert of {clock(primary.started_at)}"
        )
        update = f._replace(message=f"{f.message} ({also})")
        primary.message = update.message
        return [primary.record(self.patient_id, ts, "escalated", update)]
