"""Types of the compiled :meth:`~stream.detect.technical.DataQuality.on_sample`."""

from collections.abc import Callable
from typing import Any

def on_sample(quality_state: Any, ts: float, quality: float | None, values: object, /) -> list[Any]:
    """``quality_state.on_sample(ts, quality=quality, values=values)``, compiled."""

def bind(cls: type, method: Callable[..., list[Any]], /) -> None:
    """Read the slot offsets of ``cls``; keep ``method`` for the calls ``on_sample`` hands over."""
