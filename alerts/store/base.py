"""The faces of alert and vitals storage: :class:`AlertStore`, :class:`VitalsStore`, their types.

The API, the sink and the demo talk to these abstract classes only. Two implementations
share one contract test suite (``tests/alerts/test_store_contract.py``):
:class:`alerts.store.sqlite.SqliteStore` (embedded, the demo and unit tests) and
:class:`alerts.store.influx.InfluxStore` (InfluxDB 2 via Flux, production).

Alerts are *episodes* (:mod:`alerts.model`): the detector may emit several records per
``alert_id`` (``seq`` 0 when opened, + 1 per escalation). Stores keep every record and
present the episode as one :class:`AlertRecord`: ``alert`` is the record with the highest
``seq`` (current severity and message), ``opened_at`` the ``detected_at`` of the opening
record, and ``state`` the lifecycle fold (:mod:`alerts.lifecycle`) of its events. Lists are
ordered by ``(opened_at, alert_id)`` descending, so cursor pagination is stable while
alerts escalate. An alert whose opening record (``seq`` 0) was never stored is reachable
by :meth:`AlertStore.get_alert` but not listed.

All writes are idempotent: the same record (``alert_id`` + ``seq``; ``event_id``;
``(patient_id, minute)``) written twice is stored once.
"""

from __future__ import annotations

import base64
import binascii
import json
from abc import ABC, abstractmethod
from collections.abc import Collection, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final, Literal

import msgspec

from alerts.exceptions import BadCursor
from alerts.lifecycle import Action, AlertEvent, AlertState, Status, apply, check, fold
from alerts.model import Alert
from stream.rollup import News2Record, VitalsRollup, VitalStats

__all__ = [
    "RESOLUTIONS",
    "AlertPage",
    "AlertQuery",
    "AlertRecord",
    "AlertStore",
    "Resolution",
    "Store",
    "StoreBatch",
    "VitalPoint",
    "VitalsStore",
    "decode_cursor",
    "encode_cursor",
    "merge_points",
]

Resolution = Literal["1m", "5m", "1h"]
#: Bucket width in seconds of each history resolution (buckets align to the epoch).
RESOLUTIONS: Final[dict[str, int]] = {"1m": 60, "5m": 300, "1h": 3600}
#: Largest page :meth:`AlertStore.list_alerts` returns.
MAX_LIMIT: Final = 1000


@dataclass(frozen=True)
class AlertRecord:
    """An alert episode as the care team sees it.

    Attributes
    ----------
    alert
        The episode's latest record (highest ``seq``).
    opened_at
        ``detected_at`` of the opening record (epoch seconds UTC).
    state
        Lifecycle state: the fold of the alert's events.
    """

    alert: Alert
    opened_at: float
    state: AlertState


@dataclass(frozen=True, kw_only=True)
class AlertQuery:
    """Filters and page position for :meth:`AlertStore.list_alerts`.

    Empty sets mean "any". ``patient_ids=None`` means every patient (admin); an empty set
    means none (a clinician with no patients). ``since``/``until`` bound ``opened_at``
    (inclusive/exclusive). ``severities`` match the *current* severity; ``statuses`` the
    lifecycle status.
    """

    statuses: frozenset[Status] = frozenset()
    severities: frozenset[str] = frozenset()
    categories: frozenset[str] = frozenset()
    patient_ids: frozenset[str] | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 50
    cursor: str | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.limit <= MAX_LIMIT:
            raise ValueError(f"limit must be in [1, {MAX_LIMIT}]")
        for t in (self.since, self.until):
            if t is not None and t.tzinfo is None:
                raise ValueError("since/until must be timezone-aware")

    def matches(self, record: AlertRecord) -> bool:
        """Whether ``record`` passes every filter (the cursor aside)."""
        a = record.alert
        return (
            (not self.statuses or record.state.status in self.statuses)
            and (not self.severities or a.severity in self.severities)
            and (not self.categories or a.category in self.categories)
            and (self.patient_ids is None or a.patient_id in self.patient_ids)
            and (self.since is None or record.opened_at >= self.since.timestamp())
            and (self.until is None or record.opened_at < self.until.timestamp())
        )


@dataclass(frozen=True)
class AlertPage:
    """One page of alerts and the cursor of the next page (``None`` on the last)."""

    items: list[AlertRecord]
    next_cursor: str | None


def sort_key(record: AlertRecord) -> tuple[int, str]:
    """The list order key: opening time in milliseconds, then ``alert_id``."""
    return (round(record.opened_at * 1000), record.alert.alert_id)


def encode_cursor(record: AlertRecord) -> str:
    """An opaque cursor pointing just past ``record`` (in list order).

    Examples
    --------
    >>> decode_cursor(encode_cursor_key((1709280000250, "abc")))
    (1709280000250, 'abc')
    """
    return encode_cursor_key(sort_key(record))


def encode_cursor_key(key: tuple[int, str]) -> str:
    """Encode a raw ``(opened_at_ms, alert_id)`` key as a cursor."""
    raw = json.dumps([key[0], key[1]], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[int, str]:
    """Decode a cursor into ``(opened_at_ms, alert_id)``.

    Raises
    ------
    BadCursor
        If the cursor is not one :func:`encode_cursor` made.

    Examples
    --------
    >>> decode_cursor("nonsense")
    Traceback (most recent call last):
    ...
    alerts.exceptions.BadCursor: malformed cursor
    """
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        ms, alert_id = json.loads(raw)
    except (binascii.Error, ValueError, TypeError) as exc:
        raise BadCursor("malformed cursor") from exc
    if type(ms) is not int or not 0 <= ms < 2**63 or not isinstance(alert_id, str):
        raise BadCursor("malformed cursor")
    if not alert_id.isascii():  # ours are; a lone surrogate would not even encode
        raise BadCursor("malformed cursor")
    return ms, alert_id


def page(records: Sequence[AlertRecord], query: AlertQuery) -> AlertPage:
    """Filter, order and cut ``records`` into the page ``query`` asks for.

    ``records`` must already contain every candidate at or after the cursor position
    (stores pre-filter what their backend can; this applies the rest identically).
    """
    after = decode_cursor(query.cursor) if query.cursor else None
    chosen = sorted(
        (r for r in records if query.matches(r) and (after is None or sort_key(r) < after)),
        key=sort_key,
        reverse=True,
    )
    items = chosen[: query.limit]
    more = len(chosen) > query.limit
    return AlertPage(items=items, next_cursor=encode_cursor(items[-1]) if more else None)


def episode(records: Sequence[Alert]) -> tuple[Alert, float, bool]:
    """Summarise one episode's records: ``(latest, opened_at, has_opening)``.

    ``latest`` has the highest ``seq``; ``opened_at`` is the opening record's ``detected_at``
    (or the earliest stored one when ``seq`` 0 is missing, in which case ``has_opening`` is
    false and the episode is not listed).
    """
    latest = max(records, key=lambda a: (a.seq, a.detected_at))
    opening = [a.detected_at for a in records if a.seq == 0]
    if opening:
        return latest, min(opening), True
    return latest, min(a.detected_at for a in records), False


class AlertStore(ABC):
    """Alerts and their lifecycle events.

    Implementations must be safe to call from several threads (the API runs sync handlers
    in a thread pool).
    """

    @abstractmethod
    def put_alerts(self, alerts: Sequence[Alert]) -> None:
        """Store alert records; the same ``(alert_id, seq)`` again overwrites, never duplicates."""

    @abstractmethod
    def put_events(self, events: Sequence[AlertEvent]) -> None:
        """Store lifecycle events; the same ``event_id`` again is stored once."""

    @abstractmethod
    def get_alert(self, alert_id: str) -> AlertRecord | None:
        """The episode ``alert_id`` with its lifecycle state, or ``None``."""

    @abstractmethod
    def list_alerts(self, query: AlertQuery) -> AlertPage:
        """A page of alert episodes matching ``query`` (newest opening first)."""

    @abstractmethod
    def events(self, alert_id: str) -> list[AlertEvent]:
        """The alert's lifecycle events in fold order (``at``, then ``event_id``)."""

    def record_action(
        self,
        alert_id: str,
        action: Action,
        *,
        actor: str,
        at: datetime | None = None,
        note: str = "",
        until: datetime | None = None,
        assignee: str | None = None,
    ) -> tuple[AlertRecord, AlertEvent] | None:
        """Validate and record one lifecycle action; return the new record and the event.

        Returns ``None`` if the alert does not exist.

        Raises
        ------
        InvalidTransition
            If the action does not apply to the alert's current state (e.g. ``ack`` twice).
        ValueError
            If the action lacks what it needs (``until`` for snooze, ``assignee``, note text).
        """
        with self._action_lock(alert_id):
            return self._record_action(alert_id, action, actor, at, note, until, assignee)

    def _action_lock(self, alert_id: str) -> AbstractContextManager[object]:
        """Held while an action on ``alert_id`` is checked and recorded (none by default).

        A store that can serialise writers returns its lock: two clinicians acknowledging at
        once must not both pass the check (the second is refused, 409). Where several
        processes share the backend, the lock must hold across them.
        """
        return nullcontext()

    def _record_action(
        self,
        alert_id: str,
        action: Action,
        actor: str,
        at: datetime | None,
        note: str,
        until: datetime | None,
        assignee: str | None,
    ) -> tuple[AlertRecord, AlertEvent] | None:
        record = self.get_alert(alert_id)
        if record is None:
            return None
        check(record.state, action)
        event = AlertEvent.create(
            alert_id,
            action,
            actor=actor,
            at=at or datetime.now(UTC),
            patient_id=record.alert.patient_id,
            note=note,
            until=until,
            assignee=assignee,
        )
        self.put_events([event])
        last = record.state.updated_at
        if last is None or event.at > last:
            state = apply(record.state, event)
        else:  # back-dated or a tie in time: refold so the (at, event_id) order rule holds
            state = fold(alert_id, self.events(alert_id))
        return AlertRecord(alert=record.alert, opened_at=record.opened_at, state=state), event

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections (no-op by default)."""


class VitalPoint(msgspec.Struct, frozen=True):
    """One vital over one bucket (1 min, 5 min or 1 h) of one patient.

    A struct rather than a dataclass: a day's history builds thousands of them per request,
    and a frozen dataclass costs ten times as much to construct.
    """

    vital: str
    ts: datetime
    mean: float
    min: float
    max: float
    count: int


def merge_points(points: Sequence[VitalPoint], resolution: Resolution) -> list[VitalPoint]:
    """Merge 1-minute points into ``resolution`` buckets (epoch-aligned, count-weighted mean).

    Output is ordered by ``(ts, vital)``.

    Examples
    --------
    >>> t = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
    >>> pts = [VitalPoint("hr", t.replace(minute=m), 60.0 + m, 60.0, 70.0, 10) for m in range(6)]
    >>> [(p.ts.minute, p.mean, p.count) for p in merge_points(pts, "5m")]
    [(0, 62.0, 50), (5, 65.0, 10)]
    """
    width = RESOLUTIONS[resolution]
    acc: dict[tuple[int, str], VitalStats] = {}
    for p in points:
        start = int(p.ts.timestamp()) // width * width
        stats = VitalStats(p.mean, p.min, p.max, p.count)
        key = (start, p.vital)
        acc[key] = acc[key].merge(stats) if key in acc else stats
    return [
        VitalPoint(vital, datetime.fromtimestamp(start, UTC), s.mean, s.min, s.max, s.count)
        for (start, vital), s in sorted(acc.items())
    ]


class VitalsStore(ABC):
    """Per-minute vitals rollups and NEWS2, and the history the API serves from them."""

    @abstractmethod
    def put_vitals(self, rollups: Sequence[VitalsRollup]) -> None:
        """Store rollups; the same ``(patient_id, minute)`` again overwrites."""

    @abstractmethod
    def put_news2(self, records: Sequence[News2Record]) -> None:
        """Store NEWS2 records; the same ``(patient_id, minute)`` again overwrites."""

    @abstractmethod
    def latest_vitals(self, patient_id: str) -> dict[str, VitalPoint]:
        """Each vital's most recent 1-minute point (empty if the patient has none)."""

    @abstractmethod
    def vitals_history(
        self,
        patient_id: str,
        *,
        start: datetime,
        stop: datetime,
        resolution: Resolution = "1m",
        vitals: Collection[str] | None = None,
    ) -> list[VitalPoint]:
        """Points with bucket start in ``[start, stop)``, ordered by ``(ts, vital)``.

        Coarser buckets merge the 1-minute rollups (:func:`merge_points`); a bucket only
        partly inside the window is built from the minutes inside it.
        """

    @abstractmethod
    def latest_news2(self, patient_id: str) -> News2Record | None:
        """The patient's most recent NEWS2 record."""

    @abstractmethod
    def news2_history(
        self, patient_id: str, *, start: datetime, stop: datetime
    ) -> list[News2Record]:
        """NEWS2 records with minute in ``[start, stop)``, oldest first."""


@dataclass
class StoreBatch:
    """Everything one sink batch writes, so a backend can accept it in one request."""

    alerts: list[Alert] = field(default_factory=list)
    events: list[AlertEvent] = field(default_factory=list)
    rollups: list[VitalsRollup] = field(default_factory=list)
    news2: list[News2Record] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.alerts) + len(self.events) + len(self.rollups) + len(self.news2)


class Store(AlertStore, VitalsStore):
    """One backend holding alerts and vitals; what the sink writes to."""

    def write_batch(self, batch: StoreBatch) -> None:
        """Write a sink batch. Backends override this to accept it in one request/transaction.

        Raises
        ------
        StoreUnavailable
            If the backend cannot be reached; nothing may be assumed written.
        """
        self.put_alerts(batch.alerts)
        self.put_events(batch.events)
        self.put_vitals(batch.rollups)
        self.put_news2(batch.news2)

    def close(self) -> None:
        """Release connections (no-op by default)."""
