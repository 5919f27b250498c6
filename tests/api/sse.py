"""A minimal Server-Sent Events reader for tests and the benchmark (WHATWG event-stream)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass(frozen=True)
class Event:
    """One dispatched event."""

    event: str
    id: str | None
    data: str

    def json(self) -> Any:
        return json.loads(self.data)


def events(response: httpx.Response) -> Iterator[Event]:
    """Events of a streaming response, in order (comments and retry lines skipped)."""
    name: str = "message"
    eid: str | None = None
    data: list[str] = []
    for line in response.iter_lines():
        if not line:
            if data:
                yield Event(name, eid, "\n".join(data))
            name, eid, data = "message", None, []
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "event":
            name = value
        elif field == "id":
            eid = value
        elif field == "data":
            data.append(value)
