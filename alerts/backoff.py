"""Retry delays shared by the sink (store outages) and webhooks (failing receivers)."""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["backoff_delays"]


def backoff_delays(first: float = 0.5, cap: float = 15.0) -> Iterable[float]:
    """Exponential backoff: ``first``, doubling, capped at ``cap``, forever.

    Examples
    --------
    >>> d = iter(backoff_delays(0.5, 3.0))
    >>> [next(d) for _ in range(5)]
    [0.5, 1.0, 2.0, 3.0, 3.0]
    """
    delay = first
    while True:
        yield min(delay, cap)
        delay *= 2
