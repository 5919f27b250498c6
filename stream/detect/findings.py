"""What the detector tells the alert policy about one condition at one moment.

A :class:`Finding` is evidence, not an alert: the detector emits one per sample (or tick) for
every condition with current evidence; :mod:`alerts.episodes` turns runs of them into episodes
and alerts. Conditions without evidence simply emit nothing.

Examples
--------
>>> f = Finding("tachycardia", "clinical", "medium", ("hr",), since=0.0, firing=True,
...             score=0.9, message="HR 128 bpm", evidence={"hr": 128.0})
>>> f.kind, f.firing
('tachycardia', True)
"""

from __future__ import annotations

import logging
from typing import Any, NamedTuple

logger = logging.getLogger(__name__)

__all__ = ["Finding"]


class Finding(NamedTuple):
    """Current evidence for one condition.

    Parameters
    ----------
    kind
        Condition name (the alert ``kind``).
    category
        ``"clinical"`` or ``"technical"``.
    severity
        ``info`` | ``low`` | ``medium`` | ``high`` | ``critical`` at this moment.
    vitals
        Vital signs or channels involved.
    since
        Event time the current run of evidence began (the episode start if one opens).
    firing
        ``True``: strong, persistent evidence (an episode may open). ``False``: holding
        evidence that keeps an open episode open (hysteresis) but never opens one.
    score
        Anomaly score in [0, 1].
    message
        One sentence for a nurse.
    evidence
        The numbers behind the message (JSON-able).
    """

    kind: str
    category: str
    severity: str
    vitals: tuple[str, ...]
    since: float
    firing: bool
    score: float
    message: str
    evidence: dict[str, Any]
