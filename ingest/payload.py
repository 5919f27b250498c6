"""From one MQTT message to Kafka records: parse, attribute, validate, encode or dead-letter.

This is the gateway's whole decision, kept free of MQTT and Kafka so unit and property tests
drive it directly. :meth:`PayloadHandler.handle` turns the message published on
``vigil/v1/devices/{device_id}/vitals`` into a list of :class:`OutRecord`: one ``vigil.vitals``
record per patient for the valid samples, one ``vigil.vitals.dlq`` record per refused sample,
or a single dead letter when the whole message is refused. It never raises on device input
and always returns at least one record, so every message is either produced or
dead-lettered.

The device is named by the topic, which the broker's ACL ties to the authenticated username;
the patient is whoever the registry says the device was enrolled to at each sample's ``ts``.
Payload fields never choose either.

A refused sample is still news for detection: a run of them is the ``rejected_data``
technical alert. So when the device is enrolled at receive time, each sample refused by
validation (a :data:`ingest.sample.REASON_CODES` reason) also becomes a
:class:`~ingest.encoding.RejectionNotice` for that patient — ``ts`` if readable, the reason,
no values — in the patient's ``vigil.vitals`` record of the message, at the sample's position
among the valid ones (the worker then notes it exactly where ``vigil replay`` does). A
``not_enrolled`` sample gets no notice: it may be a former patient's data, so it says nothing
about the current one's device.

Message-level reasons (per-sample ones are :data:`ingest.sample.REASON_CODES`):

=================== =========================================================================
``bad_topic``       the topic is not ``vigil/v1/devices/{id}/vitals``
``oversize``        payload larger than :data:`MAX_PAYLOAD_BYTES`
``unknown_device``  the registry does not know the device
``device_revoked``  the device's credentials were revoked
``bad_json``        not UTF-8 JSON
``not_an_object``   the JSON is not an object
``bad_batch``       ``samples`` is not a non-empty list, or ts or a vital sits beside it
``too_many_samples`` more than :data:`MAX_BATCH_SAMPLES` samples in a batch
``duplicate_key``   ``samples`` given twice, or (per sample) a sample names a field twice
``not_enrolled``    (per sample) no enrolment of the device covers the sample's ``ts``
``unparseable``     (per sample) validation failed in an unexpected way
=================== =========================================================================

Examples
--------
>>> from ingest.directory import DeviceRecord, Enrollment, InMemoryDirectory
>>> from ingest.topics import TopicNames
>>> handler = PayloadHandler(
...     InMemoryDirectory([DeviceRecord("w1", (Enrollment("p1", 0.0),))]), TopicNames())
>>> out = handler.handle("vigil/v1/devices/w1/vitals",
...                      b'{"samples": [{"ts": 1709280000, "hr": 70}, {"ts": 1709280001}]}',
...                      received_at=1709280002.0)
>>> [(r.topic, r.key, r.samples, r.reason) for r in out]
[('vigil.vitals', b'p1', 1, None), ('vigil.vitals.dlq', b'w1', 1, 'no_vitals')]
>>> from ingest.encoding import decode_entries
>>> decode_entries(out[0].value)[1]
RejectionNotice(patient_id='p1', device_id='w1', ts=1709280001.0, reason='no_vitals')
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass

import msgspec

from ingest.directory import DeviceDirectory, DeviceRecord
from ingest.encoding import RejectionNotice, dead_letter, encode_dead_letter, encode_vitals
from ingest.exceptions import RegistryUnavailable, SampleRejected
from ingest.sample import MAX_FUTURE_S, RANGES, Sample, parse_sample, parse_ts
from ingest.topics import TopicNames

__all__ = [
    "MAX_BATCH_SAMPLES",
    "MAX_PAYLOAD_BYTES",
    "MESSAGE_REASONS",
    "OutRecord",
    "PayloadHandler",
    "device_from_topic",
    "device_topic",
    "loads_lenient",
]

logger = logging.getLogger(__name__)

#: Largest accepted MQTT payload.
MAX_PAYLOAD_BYTES = 256 * 1024
#: Most samples in one ``{"samples": [...]}`` batch.
MAX_BATCH_SAMPLES = 1000

MESSAGE_REASONS: dict[str, str] = {
    "bad_topic": "topic is not vigil/v1/devices/{id}/vitals",
    "oversize": "payload larger than MAX_PAYLOAD_BYTES",
    "unknown_device": "the registry does not know the device",
    "device_revoked": "the device's credentials were revoked",
    "bad_json": "payload is not UTF-8 JSON",
    "not_an_object": "the JSON document is not an object",
    "bad_batch": "samples is not a non-empty list, or ts or a vital sits beside it",
    "too_many_samples": "more than MAX_BATCH_SAMPLES samples",
    "duplicate_key": "samples given twice, or (per sample) a field given twice",
    "not_enrolled": "no enrolment of the device covers the sample's ts",
    "unparseable": "validation failed unexpectedly",
}

_TOPIC_HEAD = "vigil/v1/devices/"
_TOPIC_TAIL = "/vitals"


def device_topic(device_id: str) -> str:
    """The topic a device publishes its vitals on.

    Examples
    --------
    >>> device_topic("w1")
    'vigil/v1/devices/w1/vitals'
    """
    return f"{_TOPIC_HEAD}{device_id}{_TOPIC_TAIL}"


def device_from_topic(topic: str) -> str | None:
    """The device id in a vitals topic, or ``None`` if the topic is not one.

    Examples
    --------
    >>> device_from_topic("vigil/v1/devices/w1/vitals"), device_from_topic("vigil/v1/x")
    ('w1', None)
    """
    if not (topic.startswith(_TOPIC_HEAD) and topic.endswith(_TOPIC_TAIL)):
        return None
    device_id = topic[len(_TOPIC_HEAD) : -len(_TOPIC_TAIL)]
    if not device_id or "/" in device_id:
        return None
    return device_id


@dataclass(frozen=True, slots=True)
class OutRecord:
    """A Kafka record to produce: ``reason`` is ``None`` for vitals, else the DLQ reason.

    ``samples`` counts the samples the record carries (a whole refused message counts 1).
    """

    topic: str
    key: bytes | None
    value: bytes
    samples: int
    reason: str | None = None


class _Refused(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        self.reason = reason
        self.detail = detail


class PayloadHandler:
    """Turn MQTT messages into Kafka records (pure; thread-compatible, not shared-mutable).

    Parameters
    ----------
    directory
        Where device enrolments are looked up.
    topics
        Kafka topic names (with the deployment's prefix).
    """

    def __init__(
        self,
        directory: DeviceDirectory,
        topics: TopicNames,
        *,
        max_payload_bytes: int = MAX_PAYLOAD_BYTES,
        max_batch_samples: int = MAX_BATCH_SAMPLES,
    ) -> None:
        self.directory = directory
        self.topics = topics
        self.max_payload_bytes = max_payload_bytes
        self.max_batch_samples = max_batch_samples

    def handle(self, mqtt_topic: str, payload: bytes, *, received_at: float) -> list[OutRecord]:
        """Return the records for one message (never empty, never raises on device input).

        Raises
        ------
        RegistryUnavailable
            The registry could not be read: the message is neither the device's fault nor
            lost (the caller must not acknowledge it).
        """
        device_id = device_from_topic(mqtt_topic)
        try:
            record, items, is_batch, repeats = self._open(device_id, payload)
        except _Refused as refused:
            return [
                self._dead(
                    refused.reason, refused.detail, mqtt_topic, device_id, received_at, payload
                )
            ]
        except RegistryUnavailable:
            raise
        except Exception as exc:  # noqa: BLE001 - untrusted input must never stop the gateway
            detail = f"unreadable message: {type(exc).__name__}"
            logger.warning("device %s: %s", device_id, detail)
            return [self._dead("bad_json", detail, mqtt_topic, device_id, received_at, payload)]
        device_id = record.device_id
        # The usual answer to "whose sample is this": the newest enrolment's patient.
        placeholder = record.enrollments[-1].patient_id if record.enrollments else "unenrolled"
        # Whose monitoring a refused sample degrades: never read from the payload.
        owner = record.patient_at(received_at)
        out: list[OutRecord] = []
        groups: dict[str, list[Sample | RejectionNotice]] = {}
        counts: dict[str, int] = {}
        for index, raw in enumerate(items):
            twice = _keys_twice(raw) if repeats else ""
            try:
                if twice:
                    # JSON decoders keep the last value: the other one would be lost unseen
                    raise SampleRejected("duplicate_key", f"given twice: {twice}")
                sample = parse_sample(
                    raw,  # type: ignore[arg-type]  # parse_sample refuses non-objects itself
                    patient_id=placeholder,
                    device_id=device_id,
                    received_at=received_at,
                )
            except SampleRejected as exc:
                reason, detail = exc.reason_code, exc.detail
            except Exception as exc:  # noqa: BLE001 - untrusted input must never stop the gateway
                logger.warning("device %s: validation raised %s", device_id, type(exc).__name__)
                reason, detail = "unparseable", type(exc).__name__
            else:
                patient_id = record.patient_at(sample.ts)
                if patient_id is not None:
                    if patient_id != placeholder:
                        sample = msgspec.structs.replace(sample, patient_id=patient_id)
                    groups.setdefault(patient_id, []).append(sample)
                    counts[patient_id] = counts.get(patient_id, 0) + 1
                    continue
                reason, detail = "not_enrolled", "no enrolment covers the sample's ts"
            if owner is not None and reason != "not_enrolled":
                at = _readable_ts(raw)
                if at is not None and at - received_at > MAX_FUTURE_S:
                    # a clock far ahead: the refusal happened now, not at the sample's time
                    # (event time must not jump to it and hold episodes open until then)
                    at = received_at
                notice = RejectionNotice(owner, device_id, at, reason)
                groups.setdefault(owner, []).append(notice)
            raw_bytes = _reencode(raw) if is_batch else payload
            out.append(
                self._dead(
                    reason,
                    detail,
                    mqtt_topic,
                    device_id,
                    received_at,
                    raw_bytes,
                    index if is_batch else None,
                )
            )
        vitals = [
            OutRecord(
                self.topics.vitals,
                patient_id.encode(),
                encode_vitals(entries, received_at=received_at),
                counts.get(patient_id, 0),
            )
            for patient_id, entries in groups.items()
        ]
        return vitals + out

    def _open(
        self, device_id: str | None, payload: bytes
    ) -> tuple[DeviceRecord, list[object], bool, bool]:
        """Check the message as a whole; return the device, its raw samples, whether batched,
        and whether some object may give a key twice."""
        if device_id is None:
            raise _Refused("bad_topic", "not a device vitals topic")
        if len(payload) > self.max_payload_bytes:
            raise _Refused("oversize", f"{len(payload)} bytes > {self.max_payload_bytes}")
        try:
            record = self.directory.lookup(device_id)
        except Exception as exc:
            raise RegistryUnavailable(f"device lookup failed: {type(exc).__name__}") from exc
        if record is None:
            raise _Refused("unknown_device", "device not in the registry")
        if record.revoked:
            raise _Refused("device_revoked", "device credentials revoked")
        doc = _decode_json(payload)
        repeats = False
        if isinstance(doc, dict) and _may_repeat_keys(payload, doc):
            repeats, doc = True, _decode_json_pairs(payload, doc)
        if not isinstance(doc, dict):
            raise _Refused("not_an_object", f"JSON {type(doc).__name__}, not an object")
        if "samples" not in doc:
            return record, [doc], False, repeats
        if stray := sorted(_SAMPLE_KEYS.intersection(doc)):
            # A vital or a ts beside the list would be dropped unseen; other fields (firmware,
            # battery) describe the device and are left alone, as they are in a sample.
            shown = ", ".join(stray)
            raise _Refused("bad_batch", f"sample fields beside 'samples' ({shown}): move them in")
        if isinstance(doc, _Duplicated) and "samples" in doc.twice:
            raise _Refused("duplicate_key", "'samples' given twice: send one list")
        items = doc["samples"]
        if not isinstance(items, list) or not items:
            raise _Refused("bad_batch", "samples must be a non-empty list")
        if len(items) > self.max_batch_samples:
            raise _Refused("too_many_samples", f"{len(items)} > {self.max_batch_samples}")
        return record, items, True, repeats

    def _dead(
        self,
        reason: str,
        detail: str,
        mqtt_topic: str,
        device_id: str | None,
        received_at: float,
        payload: bytes,
        index: int | None = None,
    ) -> OutRecord:
        letter = dead_letter(
            reason=reason,
            detail=detail,
            source="gateway",
            topic=mqtt_topic[:300],
            device_id=device_id,
            received_at=received_at,
            payload=payload,
            index=index,
        )
        key = device_id.encode() if device_id else None
        return OutRecord(self.topics.dlq, key, encode_dead_letter(letter), 1, reason)


#: Fields that make an object a sample: not allowed beside a batch's ``samples`` list.
_SAMPLE_KEYS = frozenset({"ts", "custom", *RANGES})


def loads_lenient(data: bytes) -> object:
    """Decode JSON as devices write it: NaN, Infinity and numbers of any size are read.

    The strict fast decoder refuses them, but devices do send them; reading them lets
    validation name the real problem (``not_finite``) instead of calling it bad JSON.

    Raises
    ------
    ValueError
        With the reason: not UTF-8, not JSON, nested too deeply.

    Examples
    --------
    >>> loads_lenient(b'{"hr": NaN}')
    {'hr': nan}
    >>> loads_lenient(b'{"hr": 7')
    Traceback (most recent call last):
    ...
    ValueError: not JSON: Expecting ',' delimiter: line 1 column 9 (char 8)
    """
    try:
        return msgspec.json.decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError, UnicodeDecodeError):
        pass  # (invalid UTF-8 inside a string raises the last one)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("payload is not UTF-8") from None
    try:
        return json.loads(text, parse_int=_parse_int)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None
    except ValueError as exc:
        raise ValueError(f"not JSON: {str(exc)[:200]}") from None


def _decode_json(payload: bytes) -> object:
    try:
        return loads_lenient(payload)
    except ValueError as exc:
        raise _Refused("bad_json", str(exc)) from None


class _Duplicated(dict[str, object]):
    """A JSON object that gave some key more than once (the dict keeps each key's last value)."""

    __slots__ = ("pairs", "twice")

    def __init__(self, pairs: list[tuple[str, object]]) -> None:
        super().__init__(pairs)
        self.pairs = pairs
        seen: set[str] = set()
        twice: set[str] = set()
        for key, _ in pairs:
            (twice if key in seen else seen).add(key)
        self.twice = sorted(twice)


_Duplicated.__name__ = "dict"  # what validation details call it ("meta is dict, not a number")


def _object_pairs(pairs: list[tuple[str, object]]) -> dict[str, object]:
    return _Duplicated(pairs) if len({key for key, _ in pairs}) < len(pairs) else dict(pairs)


#: The end of an object key: a string's closing quote, then a colon.
_KEY_END = re.compile(rb'"\s*:')


def _may_repeat_keys(payload: bytes, doc: dict[str, object]) -> bool:
    """Whether the payload names more keys than the decoded message and its samples hold.

    Every key ends in ``"`` and ``:`` so a text with no repeated key has no more of those
    than the decoded objects have keys; quotes and colons inside strings, and objects deeper
    than a sample's ``custom``, only cost the exact check of :func:`_decode_json_pairs`.
    """
    held = len(doc)
    items = doc.get("samples")
    for obj in items if isinstance(items, list) else [doc]:
        if isinstance(obj, dict):
            if obj is not doc:
                held += len(obj)
            custom = obj.get("custom")
            if isinstance(custom, dict):
                held += len(custom)
    keys = payload.count(b'":')
    if b'" ' in payload or b'"\t' in payload or b'"\n' in payload or b'"\r' in payload:
        keys = len(_KEY_END.findall(payload))  # a key may end in '" :' (pretty-printed)
    return keys > held


def _decode_json_pairs(payload: bytes, doc: dict[str, object]) -> object:
    """Decode again, marking objects that repeat a key (:class:`_Duplicated`)."""
    try:
        return json.loads(payload.decode("utf-8"), object_pairs_hook=_object_pairs,
                          parse_int=_parse_int)  # fmt: skip
    except (ValueError, RecursionError):
        return doc  # (decoded once already: cannot happen short of the recursion limit)


def _keys_twice(raw: object) -> str:
    """The keys a sample (or its ``custom``) gives twice, for the refusal; empty if none."""
    if not isinstance(raw, dict):
        return ""
    twice = list(raw.twice) if isinstance(raw, _Duplicated) else []
    custom = raw.get("custom")
    if isinstance(custom, _Duplicated):
        twice += [f"custom.{key}" for key in custom.twice]
    return ", ".join(repr(key[:40]) for key in twice[:5])


def _parse_int(text: str) -> int | float:
    """JSON integers; one of hundreds of digits becomes ``inf`` (refused as ``not_finite``).

    Python refuses to convert integers of over 4,300 digits, which would fail the whole
    message instead of the one sample.

    >>> _parse_int("72"), _parse_int("9" * 5000)
    (72, inf)
    """
    return int(text) if len(text) <= 400 else float(text)


def _readable_ts(raw: object) -> float | None:
    """The event time of a refused sample when it has a readable one (as replay reads it)."""
    if not isinstance(raw, dict):
        return None
    try:
        return parse_ts(raw.get("ts"))
    except Exception:  # noqa: BLE001 - whatever the device sent, the notice just has no ts
        return None


def _reencode(raw: object) -> bytes:
    """One sample of a batch, as JSON again (NaN kept as written), for its dead letter."""
    try:
        return _dumps(raw).encode()
    except (TypeError, ValueError, RecursionError):
        return repr(raw).encode(errors="replace")


def _dumps(obj: object) -> str:
    """JSON of a sample, writing a key given twice twice (as the device sent it)."""
    if isinstance(obj, _Duplicated):
        pairs = obj.pairs
    elif isinstance(obj, dict) and any(isinstance(v, _Duplicated) for v in obj.values()):
        pairs = list(obj.items())
    else:
        return json.dumps(obj, separators=(",", ":"), allow_nan=True)
    return "{" + ",".join(f"{json.dumps(key)}:{_dumps(value)}" for key, value in pairs) + "}"
