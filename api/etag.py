"""Conditional GET for polling clients: strong ETags over the response body, 304 on a match.

A poller sends back the ``ETag`` it last saw in ``If-None-Match``; if the representation has
not changed it gets ``304 Not Modified`` with no body, which costs it (and a mobile link)
nothing. The tag is a hash of the exact JSON bytes, so it changes exactly when the body does.

References
----------
RFC 9110, sections 8.8.3 (ETag) and 13.1.2 (If-None-Match).

Examples
--------
>>> tag = etag_of(b'{"items":[]}')
>>> tag
'"eef46741adfc3a9f76294d3b"'
>>> matches(f'W/{tag}, "other"', tag), matches("*", tag), matches('"x"', tag)
(True, True, False)
"""

from __future__ import annotations

import hashlib
from typing import Any

from fastapi import Response
from pydantic import BaseModel

__all__ = ["NOT_MODIFIED", "conditional", "etag_of", "matches"]

#: The OpenAPI ``responses`` entry of a conditional GET.
NOT_MODIFIED: dict[int | str, dict[str, Any]] = {
    304: {"description": "Not Modified: the `If-None-Match` ETag is current."}
}


def etag_of(body: bytes) -> str:
    """A strong entity tag for ``body``."""
    return '"' + hashlib.sha256(body).hexdigest()[:24] + '"'


def matches(if_none_match: str | None, etag: str) -> bool:
    """Whether an ``If-None-Match`` header matches ``etag`` (weak comparison, RFC 9110)."""
    if not if_none_match:
        return False
    for candidate in if_none_match.split(","):
        candidate = candidate.strip()
        if candidate == "*" or candidate.removeprefix("W/") == etag:
            return True
    return False


def conditional(model: BaseModel, if_none_match: str | None) -> Response:
    """The JSON response for ``model`` with its ETag, or 304 if the client has it already."""
    body = model.model_dump_json().encode()
    tag = etag_of(body)
    headers = {"ETag": tag, "Cache-Control": "private, no-cache"}
    if matches(if_none_match, tag):
        return Response(status_code=304, headers=headers)
    return Response(content=body, media_type="application/json", headers=headers)
