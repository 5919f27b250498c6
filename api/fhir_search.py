"""FHIR search parameters: ``code`` tokens to sample channels, ``date`` prefixes to a window.

Pure (standard library only), like the mapping in :mod:`api.fhir`.

References
----------
FHIR R4 Search, https://hl7.org/fhir/R4/search.html (token and date parameters, prefixes).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Final

from api.fhir import CODE_TO_CHANNELS, LOINC

__all__ = ["channels_for_codes", "date_range"]


def channels_for_codes(codes: Iterable[str]) -> frozenset[str]:
    """The sample channels selected by FHIR ``code`` tokens (``[system|]code``, comma lists).

    Raises
    ------
    ValueError
        For a code that is not one of the mapped LOINC codes, or a system other than LOINC.

    Examples
    --------
    >>> sorted(channels_for_codes(["http://loinc.org|8867-4,85354-9"]))
    ['dbp', 'hr', 'sbp']
    """
    out: set[str] = set()
    for param in codes:
        for token in param.split(","):
            system, _, code = token.rpartition("|")
            if system and system != LOINC:
                raise ValueError(f"unsupported code system {system!r}")
            if code not in CODE_TO_CHANNELS:
                raise ValueError(f"unsupported code {code!r}")
            out |= CODE_TO_CHANNELS[code]
    return frozenset(out)


_DATE_PREFIXES: Final = ("eq", "ge", "gt", "le", "lt")


def _parse_partial(text: str) -> tuple[datetime, datetime]:
    """The interval ``[start, end)`` a FHIR date or dateTime of any precision covers.

    >>> _parse_partial("9999-12")
    Traceback (most recent call last):
    ...
    ValueError: date '9999-12' is out of range
    """
    try:
        return _partial_interval(text)
    except OverflowError:  # the end of the interval is beyond year 9999
        raise ValueError(f"date {text!r} is out of range") from None
    except ValueError as exc:  # datetime's own words ("month must be in 1..12") as a cause
        if str(exc).startswith("not a FHIR date"):
            raise
        raise ValueError(f"date {text!r} is not a valid date: {exc}") from None


def _partial_interval(text: str) -> tuple[datetime, datetime]:
    if re.fullmatch(r"\d{4}", text):
        start = datetime(int(text), 1, 1, tzinfo=UTC)
        return start, start.replace(year=start.year + 1)
    if re.fullmatch(r"\d{4}-\d{2}", text):
        start = datetime(int(text[:4]), int(text[5:7]), 1, tzinfo=UTC)
        nxt = (start + timedelta(days=32)).replace(day=1)
        return start, nxt
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        start = datetime.fromisoformat(text).replace(tzinfo=UTC)
        return start, start + timedelta(days=1)
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}T[0-9:.]+(Z|[+-]\d{2}:\d{2})?", text):
        raise ValueError(f"not a FHIR date: {text!r}")
    ts = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    return ts, ts + timedelta(seconds=1)


def date_range(
    params: Iterable[str], *, default: tuple[datetime, datetime]
) -> tuple[datetime, datetime]:
    """Intersect FHIR ``date`` search parameters (``ge``/``gt``/``le``/``lt``/``eq``) into
    one ``[start, end)`` interval, starting from ``default``.

    Raises
    ------
    ValueError
        For a malformed value or an unsupported prefix.

    Examples
    --------
    >>> d = (datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))
    >>> s, e = date_range(["ge2024-05-01", "lt2024-05-01T12:00:00Z"], default=d)
    >>> s.isoformat(), e.isoformat()
    ('2024-05-01T00:00:00+00:00', '2024-05-01T12:00:00+00:00')
    >>> [t.day for t in date_range(["2024-05-03"], default=d)]
    [3, 4]
    """
    start, end = default
    for raw in params:
        prefix = raw[:2] if raw[:2].isalpha() else "eq"
        if prefix not in _DATE_PREFIXES:
            raise ValueError(f"unsupported date prefix {prefix!r}")
        lo, hi = _parse_partial(raw[2:] if raw[:2].isalpha() else raw)
        if prefix in ("eq", "ge"):
            start = max(start, lo)
        if prefix == "gt":
            start = max(start, hi)
        if prefix in ("eq", "lt"):
            end = min(end, lo if prefix == "lt" else hi)
        if prefix == "le":
            end = min(end, hi)
    return start, end
