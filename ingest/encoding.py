"""The wire encodings of Vigil's ingest topics, defined once.

``vigil.vitals``
    A :class:`VitalsRecord`: the validated samples of one patient from one device (one MQTT
    message, or one chunk of a file for ``vigil produce``), keyed by ``patient_id``. msgpack,
    as an array led by the version tag: ``[1, patient_id, device_id, received_at, samples]``
    with each sample ``[ts, hr, spo2, rr, temp, sbp, dbp, glucose, motion, quality, custom]``
    (an absent vital costs one byte: a heart-rate-only sample is 29 bytes, JSON ~45).
    Carrying several samples per record is what lets one gateway and one worker move tens of
    thousands of samples a second; the patient key keeps every sample of a patient in order
    on one partition either way.

    A record may end with a sixth element, ``rejected``: a :class:`WireRejection`
    ``[at, ts, reason]`` per sample of the same message that failed validation, where ``at``
    is how many of the record's samples came before it. That is all detection needs to see
    a run of rejected data (:meth:`stream.pipeline.Pipeline.note_rejected`) at the position
    ``vigil replay`` sees it; the raw sample goes to the DLQ only (no values here). Records
    without rejections are written without the element, byte for byte as before, and a
    reader that predates it ignores it (msgspec skips trailing array elements), so both
    directions of a rolling upgrade read each other. An incompatible change is a new struct
    with the next tag, decoded side by side with the old one.

``vigil.vitals.dlq``
    A :class:`DeadLetter` as JSON (operators read it with a console consumer): the raw payload
    (base64), where it came from, why it was refused, when it arrived.

Examples
--------
>>> from ingest.sample import Sample
>>> samples = [Sample("p1", "d1", 1709280000.0, hr=72.0), Sample("p1", "d1", 1709280001.0, hr=73.5)]
>>> data = encode_vitals(samples, received_at=1709280002.0)
>>> len(data), data[:2]
(74, b'\\x95\\x01')
>>> decode_vitals(data) == samples
True
>>> notice = RejectionNotice("p1", "d1", None, "missing_ts")
>>> data = encode_vitals([samples[0], notice, samples[1]], received_at=1709280002.0)
>>> [type(e).__name__ for e in decode_entries(data)], decode_vitals(data) == samples
(['Sample', 'RejectionNotice', 'Sample'], True)
>>> decode_vitals(b"garbage")
Traceback (most recent call last):
...
ingest.exceptions.WireFormatError: undecodable vitals record: ...
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator, Sequence
from typing import Annotated

import msgspec

from ingest.exceptions import WireFormatError
from ingest.sample import (
    MAX_CUSTOM_CHANNELS,
    TS_MAX,
    TS_MIN,
    Sample,
    SampleFields,
    format_ts,
)

__all__ = [
    "WIRE_VERSION",
    "DeadLetter",
    "RejectionNotice",
    "VitalsRecord",
    "WireRejection",
    "WireSample",
    "dead_letter",
    "decode_dead_letter",
    "decode_entries",
    "decode_vitals",
    "decode_vitals_record",
    "encode_dead_letter",
    "encode_vitals",
    "records_from_samples",
]

#: Version tag of the ``vigil.vitals`` records this module writes.
WIRE_VERSION = 1


_Ts = Annotated[float, msgspec.Meta(ge=TS_MIN, lt=TS_MAX)]
_Finite = Annotated[float, msgspec.Meta(ge=-sys.float_info.max, le=sys.float_info.max)]
#: (Channel names are not matched against the pattern here: it would double the decoding time,
#: and no name can harm a worker.)
_Custom = Annotated[dict[str, _Finite], msgspec.Meta(max_length=MAX_CUSTOM_CHANNELS)]


class WireSample(SampleFields, array_like=True, frozen=True, gc=False):
    """One sample inside a :class:`VitalsRecord` (identifiers live on the record).

    Decoding checks what the gateway checked (ts in [2000, 2100), vitals within
    :data:`~ingest.sample.RANGES`, at most 16 channels, all finite), in C, so that a record from
    any other producer cannot bring a worker down: it is undecodable and dead-lettered.
    """

    ts: _Ts
    custom: _Custom = {}


class RejectionNotice(msgspec.Struct, frozen=True, gc=False):
    """A sample of ``patient_id``'s device that failed validation: who, when, why; no values.

    ``ts`` is the sample's own timestamp when it could be read, else ``None`` (the reader
    then uses its event-time clock, as ``vigil replay`` does).
    """

    patient_id: str
    device_id: str
    ts: float | None
    reason: str


class WireRejection(msgspec.Struct, array_like=True, frozen=True, gc=False):
    """A :class:`RejectionNotice` inside a :class:`VitalsRecord`.

    ``at`` is the number of the record's samples that precede it in the message.
    """

    at: Annotated[int, msgspec.Meta(ge=0)]
    ts: _Ts | None
    reason: str


class VitalsRecord(msgspec.Struct, array_like=True, tag=1, frozen=True, gc=False):
    """Version 1 of a ``vigil.vitals`` record: samples of one patient from one device.

    ``received_at`` is when the gateway received them (epoch seconds), for latency metrics.
    ``rejected`` lists the message's refused samples, ordered by position (see the module
    docstring); it is omitted from the wire when empty.
    """

    patient_id: str
    device_id: str
    received_at: float
    samples: list[WireSample]
    rejected: list[WireRejection] = []


class _PlainVitalsRecord(msgspec.Struct, array_like=True, tag=1, frozen=True, gc=False):
    # VitalsRecord without ``rejected``: what is written when there is none (msgspec keeps
    # trailing defaults of array-like structs on the wire).
    patient_id: str
    device_id: str
    received_at: float
    samples: list[WireSample]


#: Every version this code can read; extend with ``VitalsRecordV2`` (tag=2) when one exists.
_AnyVitalsRecord = VitalsRecord
_vitals_encoder = msgspec.msgpack.Encoder()
_vitals_decoder = msgspec.msgpack.Decoder(_AnyVitalsRecord)


def encode_vitals(entries: Sequence[Sample | RejectionNotice], *, received_at: float) -> bytes:
    """Encode samples (and rejection notices) of one patient and one device, in order.

    Raises
    ------
    ValueError
        If ``entries`` is empty or mixes patients or devices.
    """
    if not entries:
        raise ValueError("a vitals record holds at least one sample or notice")
    first = entries[0]
    patient_id, device_id = first.patient_id, first.device_id
    wire: list[WireSample] = []
    rejected: list[WireRejection] = []
    for s in entries:
        if s.patient_id != patient_id or s.device_id != device_id:
            raise ValueError("a vitals record holds one patient's samples from one device")
        if isinstance(s, RejectionNotice):
            rejected.append(WireRejection(len(wire), s.ts, s.reason))
            continue
        wire.append(
            WireSample(
                s.ts,
                s.hr,
                s.spo2,
                s.rr,
                s.temp,
                s.sbp,
                s.dbp,
                s.glucose,
                s.motion,
                s.quality,
                s.custom,
            )
        )
    if rejected:
        return _vitals_encoder.encode(
            VitalsRecord(patient_id, device_id, received_at, wire, rejected)
        )
    return _vitals_encoder.encode(_PlainVitalsRecord(patient_id, device_id, received_at, wire))


def decode_vitals_record(data: bytes) -> VitalsRecord:
    """Decode a ``vigil.vitals`` record value; raise WireFormatError if it is not one."""
    try:
        return _vitals_decoder.decode(data)
    except msgspec.DecodeError as exc:
        raise WireFormatError(f"undecodable vitals record: {exc}") from None


def decode_vitals(data: bytes) -> list[Sample]:
    """Decode a ``vigil.vitals`` record value into its samples (notices left out)."""
    return _samples(decode_vitals_record(data))


def _samples(record: VitalsRecord) -> list[Sample]:
    pid, did = record.patient_id, record.device_id
    return [
        Sample(
            pid,
            did,
            w.ts,
            w.hr,
            w.spo2,
            w.rr,
            w.temp,
            w.sbp,
            w.dbp,
            w.glucose,
            w.motion,
            w.quality,
            w.custom,
        )
        for w in record.samples
    ]


def decode_entries(data: bytes) -> list[Sample | RejectionNotice]:
    """Decode a ``vigil.vitals`` record value into its samples and notices, in message order."""
    record = decode_vitals_record(data)
    samples: list[Sample | RejectionNotice] = list(_samples(record))
    pid, did = record.patient_id, record.device_id
    # Insert from the back so earlier positions stay valid; equal positions keep their order.
    for r in reversed(record.rejected):
        samples.insert(r.at, RejectionNotice(pid, did, r.ts, r.reason))
    return samples


def records_from_samples(
    samples: Iterable[Sample | RejectionNotice], *, received_at: float, max_samples: int = 500
) -> Iterator[tuple[bytes, bytes]]:
    """Group consecutive samples of one patient and device into ``(key, value)`` records.

    What ``vigil produce`` writes: the same records the gateway would, at most
    ``max_samples`` entries (samples and rejection notices, kept in order) each.

    Examples
    --------
    >>> from ingest.sample import Sample
    >>> s = [Sample("p1", "d", 1.7e9, hr=70.0), Sample("p1", "d", 1.7e9 + 1, hr=71.0),
    ...      Sample("p2", "e", 1.7e9, hr=90.0)]
    >>> [(k, len(decode_vitals(v))) for k, v in records_from_samples(s, received_at=1.7e9)]
    [(b'p1', 2), (b'p2', 1)]
    """
    chunk: list[Sample | RejectionNotice] = []
    for sample in samples:
        if chunk and (
            sample.patient_id != chunk[0].patient_id
            or sample.device_id != chunk[0].device_id
            or len(chunk) >= max_samples
        ):
            yield chunk[0].patient_id.encode(), encode_vitals(chunk, received_at=received_at)
            chunk = []
        chunk.append(sample)
    if chunk:
        yield chunk[0].patient_id.encode(), encode_vitals(chunk, received_at=received_at)


class DeadLetter(msgspec.Struct, kw_only=True, frozen=True):
    """A payload Vigil refused, with where it came from and why (``vigil.vitals.dlq``).

    Attributes
    ----------
    reason
        Stable snake_case reason: a :data:`ingest.sample.REASON_CODES` key for an invalid
        sample, or a message-level reason of :mod:`ingest.payload` (``bad_json``,
        ``oversize``, ``unknown_device`` ...), or ``undecodable_record`` from a worker.
    source
        ``"gateway"`` (MQTT) or ``"worker"`` (a Kafka record the stream could not read).
    topic
        The MQTT topic or Kafka topic the payload arrived on.
    payload
        The bytes refused (base64 in JSON): the whole message as received, or the one refused
        sample of a batch, re-encoded as JSON (then ``index`` is its position in the batch;
        a number beyond the float range reads as ``Infinity`` there, the message's own text
        is not kept per sample). Cut to ``payload_size`` limits when ``truncated``.
    received_at
        Receive time, ISO-8601 UTC.
    """

    v: int = 1
    reason: str
    detail: str
    source: str
    topic: str
    device_id: str | None
    received_at: str
    payload: bytes
    payload_size: int
    truncated: bool = False
    index: int | None = None


#: Largest raw payload kept in a dead letter (base64 grows it by 4/3; Kafka's default record
#: limit is 1 MiB).
MAX_DEAD_PAYLOAD = 256 * 1024


def dead_letter(
    *,
    reason: str,
    detail: str,
    source: str,
    topic: str,
    device_id: str | None,
    received_at: float,
    payload: bytes,
    index: int | None = None,
) -> DeadLetter:
    """Build a :class:`DeadLetter`, truncating an over-long payload."""
    return DeadLetter(
        reason=reason,
        detail=detail[:500],
        source=source,
        topic=topic,
        device_id=device_id,
        received_at=format_ts(received_at),
        payload=payload[:MAX_DEAD_PAYLOAD],
        payload_size=len(payload),
        truncated=len(payload) > MAX_DEAD_PAYLOAD,
        index=index,
    )


_dead_encoder = msgspec.json.Encoder()
_dead_decoder = msgspec.json.Decoder(DeadLetter)


def encode_dead_letter(letter: DeadLetter) -> bytes:
    """Encode a dead letter as JSON."""
    return _dead_encoder.encode(letter)


def decode_dead_letter(data: bytes) -> DeadLetter:
    """Decode a ``vigil.vitals.dlq`` record value.

    Examples
    --------
    >>> letter = dead_letter(reason="bad_json", detail="not JSON", source="gateway",
    ...                      topic="vigil/v1/devices/d1/vitals", device_id="d1",
    ...                      received_at=1709280000.0, payload=b"{oops")
    >>> decode_dead_letter(encode_dead_letter(letter)) == letter
    True
    >>> encode_dead_letter(letter)[:60]
    b'{"v":1,"reason":"bad_json","detail":"not JSON","source":"gat'
    """
    try:
        return _dead_decoder.decode(data)
    except msgspec.DecodeError as exc:
        raise WireFormatError(f"undecodable dead letter: {exc}") from None
