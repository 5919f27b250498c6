"""Types of the compiled :meth:`~stream.detect.baseline.ChannelModel.step` (``_step.c``)."""

from collections.abc import Callable
from typing import Any

def step(
    model: Any,
    value: float,
    ts: float,
    ctx: int,
    reliable: bool,
    learn: bool | int,
    tod: tuple[int, int, float] | None,
    /,
) -> float:
    """``model.step(value, ts, ctx, reliable, learn, tod)``, compiled: the same state and score."""

def bind(cls: type, method: Callable[..., float], /) -> None:
    """Read the slot offsets of ``cls`` and keep ``method`` for the calls ``step`` hands over."""
