"""What the sink consumes, and how each Kafka value becomes a typed record (or a dead letter).

Pure: msgspec and the record types only. The topic decides the type:

==========================  =========================================
topic                       record
==========================  =========================================
``vigil.alerts``            :class:`alerts.model.Alert` (``Alert.to_json``)
``vigil.alert-events``      :class:`alerts.lifecycle.AlertEvent`
``vigil.vitals.1m``         :class:`stream.rollup.VitalsRollup`
``vigil.news2``             :class:`stream.rollup.News2Record`
==========================  =========================================
"""

from __future__ import annotations

from collections.abc import Iterable

import msgspec

from alerts.exceptions import MalformedRecord
from alerts.lifecycle import AlertEvent
from alerts.model import Alert
from alerts.store.base import StoreBatch
from alerts.topics import SinkTopics
from stream.rollup import News2Record, VitalsRollup, decode_news2, decode_vitals_rollup

__all__ = ["Record", "decode_record", "to_batch"]

_event_decoder = msgspec.json.Decoder(AlertEvent)

Record = Alert | AlertEvent | VitalsRollup | News2Record


def decode_record(topics: SinkTopics, topic: str, value: bytes | None) -> Record:
    """Decode one consumed value by its topic.

    Raises
    ------
    MalformedRecord
        ``empty``, ``bad_json``, ``bad_record`` or ``unknown_topic``.

    Examples
    --------
    >>> decode_record(SinkTopics(), "vigil.alerts", b"{nope")
    Traceback (most recent call last):
    ...
    alerts.exceptions.MalformedRecord: bad_json: JSON is malformed: ...
    """
    if not value:
        raise MalformedRecord("empty", "record has no value")
    try:
        if topic == topics.alerts:
            return Alert.from_json(value)
        if topic == topics.alert_events:
            return _event_decoder.decode(value)
        if topic == topics.vitals_1m:
            return decode_vitals_rollup(value)
        if topic == topics.news2:
            return decode_news2(value)
    except msgspec.ValidationError as exc:  # a DecodeError subclass: JSON, but not a record
        raise MalformedRecord("bad_record", str(exc)) from None
    except msgspec.DecodeError as exc:
        raise MalformedRecord("bad_json", str(exc)) from None
    except Exception as exc:  # a value that is JSON but not a record, in any way
        raise MalformedRecord("bad_record", f"{type(exc).__name__}: {exc}") from None
    raise MalformedRecord("unknown_topic", topic)


def to_batch(items: Iterable[Record]) -> StoreBatch:
    """Sort decoded records into a :class:`~alerts.store.base.StoreBatch`."""
    batch = StoreBatch()
    for item in items:
        if isinstance(item, Alert):
            batch.alerts.append(item)
        elif isinstance(item, AlertEvent):
            batch.events.append(item)
        elif isinstance(item, VitalsRollup):
            batch.rollups.append(item)
        else:
            batch.news2.append(item)
    return batch
