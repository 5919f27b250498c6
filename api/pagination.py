"""Opaque keyset cursors for list endpoints (patients, audit log).

A cursor encodes the sort key of the last item of a page; the next page starts after it. It
is opaque to clients (they pass back ``next_cursor``) and stable under inserts, unlike
offsets. Alerts use the store's own cursor (:func:`alerts.store.base.encode_cursor`).

Examples
--------
>>> c = encode_cursor("P0042")
>>> decode_cursor(c, str)
'P0042'
>>> decode_cursor("%%%", str)
Traceback (most recent call last):
...
api.exceptions.BadRequest: malformed cursor
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import TypeVar

from api.exceptions import BadRequest

__all__ = ["decode_cursor", "encode_cursor"]

T = TypeVar("T", str, int)


def encode_cursor(key: str | int) -> str:
    """An opaque cursor for ``key``."""
    return base64.urlsafe_b64encode(json.dumps([key]).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, kind: type[T]) -> T:
    """The key in ``cursor``; :class:`~api.exceptions.BadRequest` if it is not one of ours."""
    try:
        (key,) = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, TypeError) as exc:
        raise BadRequest("malformed cursor") from exc
    if type(key) is not kind or not _storable(key):
        raise BadRequest("malformed cursor")
    return key


def _storable(key: str | int) -> bool:
    """Whether a database can compare with ``key`` (64-bit integers, encodable text).

    >>> _storable(2**63), _storable(chr(0xD800)), _storable("P0001")
    (False, False, True)
    """
    if isinstance(key, int):
        return -(2**63) <= key < 2**63
    try:
        key.encode()
    except UnicodeEncodeError:
        return False
    return True
