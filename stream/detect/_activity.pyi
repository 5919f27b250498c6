"""Types of the compiled :meth:`~stream.detect.activity.Activity.update` (``_activity.c``)."""

from collections.abc import Callable
from typing import Any

def update(
    activity: Any, motion: float | None, quality: float | None, ts: float, /
) -> tuple[int, bool]:
    """``activity.update(motion, quality, ts)``, compiled: the same state and value."""

def bind(cls: type, method: Callable[..., tuple[int, bool]], /) -> None:
    """Read the slot offsets of ``cls`` and keep ``method`` for the calls ``update`` hands over."""
