"""Alert policy: when evidence becomes an alert, and how often the care team is interrupted.

The numbers a ward would tune live here, in one frozen :class:`AlertPolicy`; the mechanics
(episode state) live in :mod:`alerts.episodes`.

- **Episodes, not sample alarms**: an episode opens on *firing* evidence (already persistent:
  the detector requires several consecutive readings) and stays open while any evidence —
  firing or merely holding (hysteresis) — keeps coming. It closes ``clear_after`` seconds of
  event time after the last evidence (clear delay), with a ``resolved`` record if announced.
- **Escalation**: when the severity of an open episode rises, one ``escalated`` record with the
  same ``alert_id`` and ``seq + 1``; at most one per ``escalate_every`` seconds, except that
  reaching ``critical`` is always announced at once.
- **Rate limit**: at most ``max_new`` new clinical alerts per patient per ``rate_window``
  seconds; an episode held back is announced when the window allows, if still in evidence.
  ``critical`` ones are never held back.
- **One alert per deterioration**: a new clinical condition while the patient already has an
  open clinical alert that began less than ``fold_window`` earlier and is still in evidence
  (fever on top of tachycardia, the typical sepsis picture) is folded
  into that alert — its vitals join the alert's, and it escalates the alert if it is more
  severe — instead of interrupting again. The alert stays open while any of its conditions
  fires (a folded condition that merely holds no longer does; should the alert then clear,
  the condition becomes an alert of its own when it fires again).
- **Snooze**: a clinician's snooze (:class:`~stream.detect.config.PatientConfig`) holds back
  new announcements the same way, except ``critical``.

Examples
--------
>>> policy = AlertPolicy()
>>> policy.clear_delay("clinical"), policy.clear_delay("technical", "data_gap")
(1800.0, 0.0)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

logger = logging.getLogger(__name__)

__all__ = ["AlertPolicy"]


@dataclass(frozen=True, slots=True)
class AlertPolicy:
    """Alerting parameters (event-time seconds).

    Parameters
    ----------
    clear_after_clinical, clear_after_technical
        Clear delay after the last evidence.
    clear_after_kind
        Per-kind overrides of the clear delay (a data gap ends when data returns).
    escalate_every
        Minimum spacing of escalation records of one episode.
    max_new, rate_window
        Per-patient rate limit on new clinical alerts.
    fold_related, fold_window
        Fold a new clinical condition into the patient's open clinical alert if that one
        started at most ``fold_window`` seconds before it and is still in evidence (see
        above); a condition starting later, or after that alert went quiet (only its clear
        delay keeps it open), is a new problem and gets its own alert.
    """

    clear_after_clinical: float = 1800.0
    clear_after_technical: float = 600.0
    clear_after_kind: dict[str, float] = field(default_factory=lambda: {"data_gap": 0.0})
    escalate_every: float = 600.0
    max_new: int = 3
    rate_window: float = 3600.0
    fold_related: bool = True
    fold_window: float = 7200.0

    def clear_delay(self, category: str, kind: str = "") -> float:
        """Seconds without evidence after which an episode of ``kind`` closes."""
        if kind in self.clear_after_kind:
            return self.clear_after_kind[kind]
        return self.clear_after_clinical if category == "clinical" else self.clear_after_technical
