"""Errors raised by per-patient stream processing.

Hierarchy::

    vigil.exceptions.VigilError
    └── StreamError                 anything the stream layer refuses
        └── StateError              a per-patient snapshot cannot be restored
"""

from __future__ import annotations

from vigil.exceptions import VigilError


class StreamError(VigilError):
    """Base class of the stream layer's errors."""


class StateError(StreamError):
    """A per-patient state snapshot is corrupt, from another version or for another patient."""
