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

A detector that emits evidence on most samples can defer the wording: the message and the
evidence dict are then built on first access, which the alert policy makes only for the few
findings that become alert records.

>>> g = Finding("fever", "clinical", "low", ("temp",), 0.0, False, 0.4,
...             explain=lambda: ("Temp 38.1 °C", {"value": 38.1}))
>>> g.message, g.evidence
('Temp 38.1 °C', {'value': 38.1})
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

logger = logging.getLogger(__name__)

__all__ = ["Finding"]


class Finding:
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
    explain
        Instead of ``message`` and ``evidence``: builds both on first access.
    """

    __slots__ = (
        "_evidence",
        "_explain",
        "_message",
        "category",
        "firing",
        "kind",
        "score",
        "severity",
        "since",
        "vitals",
    )

    def __init__(
        self,
        kind: str,
        category: str,
        severity: str,
        vitals: tuple[str, ...],
        since: float,
        firing: bool,
        score: float,
        message: str = "",
        evidence: dict[str, Any] | None = None,
        *,
        explain: Callable[[], tuple[str, dict[str, Any]]] | None = None,
    ) -> None:
        self.kind = kind
        self.category = category
        self.severity = severity
        self.vitals = vitals
        self.since = since
        self.firing = firing
        self.score = score
        self._message = message
        self._evidence = {} if evidence is None else evidence
        self._explain = explain

    def _resolve(self) -> None:
        explain = self._explain
        if explain is not None:
            self._message, self._evidence = explain()
            self._explain = None

    @property
    def message(self) -> str:
        """One sentence for a nurse."""
        self._resolve()
        return self._message

    @property
    def evidence(self) -> dict[str, Any]:
        """The numbers behind the message (JSON-able)."""
        self._resolve()
        return self._evidence

    def _astuple(self) -> tuple[Any, ...]:
        return (
            self.kind, self.category, self.severity, self.vitals, self.since, self.firing,
            self.score, self.message, self.evidence,
        )  # fmt: skip

    def _replace(self, **changes: Any) -> Finding:
        """A copy with some fields changed (as :meth:`typing.NamedTuple._replace`)."""
        fields = dict(zip(_FIELDS, self._astuple(), strict=True))
        fields.update(changes)
        return Finding(**fields)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Finding):
            return NotImplemented
        return self._astuple() == other._astuple()

    __hash__ = None  # type: ignore[assignment]  # mutable evidence: like the tuple it was

    def __repr__(self) -> str:
        return (
            "Finding("
            + ", ".join(f"{k}={v!r}" for k, v in zip(_FIELDS, self._astuple(), strict=True))
            + ")"
        )


_FIELDS = ("kind", "category", "severity", "vitals", "since", "firing", "score", "message",
           "evidence")  # fmt: skip
