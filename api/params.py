"""Query-parameter helpers shared by routes: times normalised to UTC within a sane range.

Examples
--------
>>> from datetime import datetime
>>> utc_param("since", datetime(2024, 5, 1, 8, 0)).isoformat()
'2024-05-01T08:00:00+00:00'
>>> utc_param("since", datetime(1, 1, 1))
Traceback (most recent call last):
...
api.exceptions.BadRequest: 'since' must lie between 2000 and 2100
"""

from __future__ import annotations

from datetime import UTC, datetime

from api.exceptions import BadRequest

__all__ = ["EARLIEST", "LATEST", "utc_param"]

#: The range of times Vigil stores (the same bounds as sample timestamps, ingest.sample).
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)


def utc_param(name: str, value: datetime) -> datetime:
    """``value`` as an aware UTC datetime (naive means UTC), or BadRequest if out of range."""
    try:
        utc = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except (OverflowError, ValueError) as exc:
        raise BadRequest(f"{name!r} must lie between 2000 and 2100") from exc
    if not EARLIEST <= utc < LATEST:
        raise BadRequest(f"{name!r} must lie between 2000 and 2100")
    return utc
