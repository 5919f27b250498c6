"""Errors raised by per-patient stream processing.

Hierarchy::

    vigil.exceptions.VigilError
    └── StreamError                 anything the stream layer refuses
        ├── StateError              a per-patient snapshot cannot be restored
        ├── OutputError             the worker's output was not delivered to Kafka
        └── ProduceError            ``vigil produce``: Kafka did not acknowledge every record
"""

from __future__ import annotations

from vigil.exceptions import VigilError


class StreamError(VigilError):
    """Base class of the stream layer's errors."""


class StateError(StreamError):
    """A per-patient state snapshot is corrupt, from another version or for another patient."""


class OutputError(StreamError):
    """The worker's output could not be delivered to Kafka."""


class ProduceError(StreamError):
    """Kafka did not acknowledge every record of the file (``vigil produce``)."""
