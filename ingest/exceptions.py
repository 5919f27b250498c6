"""Errors raised while bringing device data into Vigil.

Hierarchy::

    vigil.exceptions.VigilError
    └── IngestError                 anything the ingest layer refuses
        ├── SampleRejected          a sample failed validation; ``reason_code`` says why
        ├── RegistryError           device/patient enrolment lookups and updates
        │   └── RegistryUnavailable the registry cannot be read (not the device's fault)
        └── WireFormatError         a Kafka record is not in Vigil's wire encoding

``SampleRejected.reason_code`` values are stable snake_case strings (they label the
dead-letter topic and the rejected-run counters); see :mod:`ingest.sample` for the list.
"""

from __future__ import annotations

from vigil.exceptions import VigilError


class IngestError(VigilError):
    """Base class of the ingest layer's errors."""


class SampleRejected(IngestError):
    """A raw sample failed validation.

    Parameters
    ----------
    reason_code
        Stable snake_case reason, e.g. ``"out_of_range"`` (see :data:`ingest.sample.REASON_CODES`).
    detail
        Human-readable detail naming the offending field (never a patient identifier).

    Examples
    --------
    >>> err = SampleRejected("out_of_range", "hr=400 outside [20, 300]")
    >>> err.reason_code, str(err)
    ('out_of_range', 'out_of_range: hr=400 outside [20, 300]')
    """

    def __init__(self, reason_code: str, detail: str) -> None:
        super().__init__(f"{reason_code}: {detail}")
        self.reason_code = reason_code
        self.detail = detail

    def __reduce__(self) -> tuple[type[SampleRejected], tuple[str, str]]:
        return (SampleRejected, (self.reason_code, self.detail))


class RegistryError(IngestError):
    """A device or patient registry operation failed (unknown device, conflicting enrolment)."""


class RegistryUnavailable(RegistryError):
    """The registry could not be read (its database is down): no fault of the device's.

    The gateway must not dead-letter the message it was handling (the device is most likely
    enrolled) nor acknowledge it: it stops, and the broker delivers the message again.
    """


class WireFormatError(IngestError):
    """A record on a Vigil topic could not be decoded (unknown version, corrupt bytes)."""
