"""Errors of the one-process demo.

Hierarchy::

    vigil.exceptions.VigilError
    └── DemoError           the demo cannot start as asked (e.g. a port is taken)
"""

from __future__ import annotations

from vigil.exceptions import VigilError

__all__ = ["DemoError"]


class DemoError(VigilError):
    """The demo cannot start as asked; the message says what to change."""
