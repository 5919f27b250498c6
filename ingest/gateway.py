"""``vigil gateway``: devices' MQTT messages into Kafka, acknowledged only once durable.

Two layers:

:class:`MessageProcessor`
    The message-handling function without any network: hand it a topic, a payload and the
    MQTT packet id; it runs :class:`~ingest.payload.PayloadHandler`, sends the records to a
    :class:`~ingest.sink.RecordSink` and acknowledges the packet through an
    :class:`~ingest.inflight.InflightWindow` when every record is delivered. Tests drive it
    with an :class:`~ingest.sink.InMemorySink`.

:class:`MqttGateway`
    The paho-mqtt 2 adapter: MQTT v5, a shared subscription
    (``$share/vigil-gateways/vigil/v1/devices/+/vitals``) so several gateways split the load,
    QoS 1, a persistent session (fixed client id, clean start off, a long session expiry) and
    manual acknowledgements. A SIGKILLed gateway therefore loses nothing: Mosquitto keeps
    every unacknowledged message and redelivers it to the restarted gateway (at least once;
    consumers count distinct ``(patient_id, ts)``). SIGTERM drains: new messages are left to
    the broker, in-flight ones are produced and acknowledged, then the gateway disconnects.

Examples
--------
>>> from ingest.directory import DeviceRecord, Enrollment, InMemoryDirectory
>>> from ingest.payload import PayloadHandler
>>> from ingest.sink import InMemorySink
>>> from ingest.topics import TopicNames
>>> sink, acks = InMemorySink(), []
>>> processor = MessageProcessor(
...     PayloadHandler(InMemoryDirectory([DeviceRecord("w1", (Enrollment("p1", 0.0),))]),
...                    TopicNames()),
...     sink, ack=lambda mid, generation: acks.append(mid))
>>> processor.process("vigil/v1/devices/w1/vitals", b'{"ts": 1709280000, "hr": 70}', mid=7,
...                   received_at=1709280001.0)
>>> acks, [(topic, key) for topic, key, _ in sink.records]
([7], [('vigil.vitals', b'p1')])
"""

from __future__ import annotations

import functools
import logging
import signal
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Any, cast

from ingest.exceptions import IngestError, RegistryUnavailable
from ingest.inflight import InflightEntry, InflightWindow
from ingest.metrics import GatewayMetrics
from ingest.payload import OutRecord, PayloadHandler
from ingest.settings import IngestSettings
from ingest.sink import RecordSink

__all__ = ["SUBSCRIPTION_FILTER", "MessageProcessor", "MqttGateway", "run_gateway"]

logger = logging.getLogger(__name__)

#: What the gateways subscribe to, after ``$share/{group}/``.
SUBSCRIPTION_FILTER = "vigil/v1/devices/+/vitals"


class _Outcome:
    """What a message amounted to, kept on its in-flight entry for the metrics."""

    __slots__ = ("rejected", "valid")

    def __init__(self, records: list[OutRecord]) -> None:
        self.valid = sum(r.samples for r in records if r.reason is None)
        self.rejected = [r.reason for r in records if r.reason is not None]


class MessageProcessor:
    """Handle one MQTT message end to end, minus the network (thread-safe for one caller).

    Parameters
    ----------
    handler
        Turns a message into records.
    sink
        Where records go.
    ack
        ``ack(mid, generation)``: acknowledge the MQTT packet.
    max_inflight
        Messages in flight before :meth:`process` blocks (backpressure).
    on_failure
        Called once with the first delivery error; nothing is acknowledged after it.
    """

    def __init__(
        self,
        handler: PayloadHandler,
        sink: RecordSink,
        *,
        ack: Callable[[int, int], None],
        max_inflight: int = 1000,
        metrics: GatewayMetrics | None = None,
        on_failure: Callable[[BaseException], None] | None = None,
    ) -> None:
        self.handler = handler
        self.sink = sink
        self.metrics = GatewayMetrics() if metrics is None else metrics
        self._on_failure_cb = on_failure
        self.window = InflightWindow(
            max_inflight, ack=ack, on_complete=self._completed, on_failure=self._failed
        )
        self.metrics.inflight.set_function(lambda: len(self.window))

    def process(
        self,
        topic: str,
        payload: bytes,
        *,
        mid: int,
        generation: int = 0,
        received_at: float | None = None,
    ) -> None:
        """Produce the message's records; its PUBACK follows when all are delivered."""
        now = time.time() if received_at is None else received_at
        self.metrics.received.inc()
        try:
            records = self.handler.handle(topic, payload, received_at=now)
        except RegistryUnavailable as exc:
            # not the device's fault, and not to be lost: a failure like a lost delivery
            # (nothing is acknowledged from here on; the broker delivers the message again)
            logger.error("registry unavailable: %s", exc)
            entry = self.window.open(mid=mid, generation=generation, records=1, info=None)
            self.window.done(entry, exc)
            return
        entry = self.window.open(
            mid=mid, generation=generation, records=len(records), info=_Outcome(records)
        )
        done = functools.partial(self.window.done, entry)
        for i, record in enumerate(records):
            try:
                self.sink.send(record.topic, record.key, record.value, done)
            except Exception as exc:  # noqa: BLE001 - a producer that refuses is a delivery failure
                logger.error("producer refused a record: %s", type(exc).__name__)
                for _ in records[i:]:
                    self.window.done(entry, exc)
                return

    def drain(self, timeout: float | None) -> bool:
        """Wait until every in-flight message is acknowledged."""
        self.sink.flush(timeout)
        return self.window.wait_empty(timeout)

    def _completed(self, entry: InflightEntry) -> None:
        outcome = cast(_Outcome, entry.info)
        m = self.metrics
        m.acked.inc()
        m.ack_latency.observe(time.monotonic() - entry.started)
        if outcome.valid:
            m.produced.inc(outcome.valid)
        for reason in outcome.rejected:
            m.rejected.labels(reason=reason).inc()

    def _failed(self, error: BaseException) -> None:
        if isinstance(error, RegistryUnavailable):
            # logged in process(); not a Kafka error (the metric would send ops to Kafka)
            logger.error("registry unavailable: acknowledging nothing more")
        else:
            self.metrics.produce_errors.inc()
            logger.error(
                "Kafka delivery failed (%s): acknowledging nothing more", type(error).__name__
            )
        if self._on_failure_cb is not None:
            self._on_failure_cb(error)


class MqttGateway:
    """The paho-mqtt adapter around a :class:`MessageProcessor`.

    Build with :meth:`from_settings` for the real thing; the constructor takes the parts so
    tests can swap the sink.
    """

    def __init__(
        self,
        settings: IngestSettings,
        handler: PayloadHandler,
        sink: RecordSink,
        *,
        metrics: GatewayMetrics | None = None,
    ) -> None:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        self.settings = settings
        self._generation = 0
        self._stop = threading.Event()
        self._draining = False
        self._failure: BaseException | None = None
        self.processor = MessageProcessor(
            handler,
            sink,
            ack=self._ack,
            max_inflight=settings.gateway_max_inflight,
            metrics=metrics,
            on_failure=self._on_delivery_failure,
        )
        self.client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=settings.gateway_client_id,
            protocol=mqtt.MQTTv5,
            manual_ack=True,
        )
        self.client.username_pw_set(
            settings.mqtt_username, settings.mqtt_password.get_secret_value()
        )
        self.client.reconnect_delay_set(min_delay=1, max_delay=10)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe

    @classmethod
    def from_settings(cls, settings: IngestSettings) -> MqttGateway:
        """Wire the registry, the topics and a Kafka producer from ``settings``."""
        from ingest.directory import SnapshotDirectory
        from ingest.registry import Registry
        from ingest.sink import KafkaSink
        from ingest.topics import TopicNames

        registry = Registry(settings.registry_database_url)
        directory = SnapshotDirectory(
            registry.device_records,
            registry.device_record,
            refresh=settings.gateway_registry_refresh_s,
        )
        topics = TopicNames(settings.topic_prefix)
        sink = KafkaSink(
            settings.kafka_bootstrap,
            client_id=settings.gateway_client_id,
            linger_ms=settings.kafka_linger_ms,
            batch_size=settings.kafka_batch_size,
            compression=settings.kafka_compression,
            delivery_timeout_ms=settings.kafka_delivery_timeout_ms,
        )
        sink.check_topics([topics.vitals, topics.dlq])
        return cls(settings, PayloadHandler(directory, topics), sink)

    @property
    def subscription(self) -> str:
        """The shared subscription filter."""
        return f"$share/{self.settings.gateway_share_group}/{SUBSCRIPTION_FILTER}"

    def run(self, *, install_signal_handlers: bool = True) -> int:
        """Connect and forward messages until SIGTERM/SIGINT or :meth:`stop`; the exit code.

        0 after a clean drain; 1 after a Kafka delivery failure (unacknowledged messages stay
        with the broker for the restarted gateway) or a drain that timed out.
        """
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        if install_signal_handlers:
            for signum in (signal.SIGTERM, signal.SIGINT):
                signal.signal(signum, self._on_signal)
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = self.settings.gateway_session_expiry_s
        # The broker sends no more unacknowledged messages than this: the in-flight bound.
        props.ReceiveMaximum = min(self.settings.gateway_max_inflight, 65535)
        try:
            self.client.connect(
                self.settings.mqtt_host,
                self.settings.mqtt_port,
                keepalive=30,
                clean_start=False,
                properties=props,
            )
        except OSError as exc:
            self.processor.sink.close(timeout=5.0)
            raise IngestError(
                f"cannot reach the MQTT broker at {self.settings.mqtt_host}:"
                f"{self.settings.mqtt_port}: {exc}"
            ) from exc
        self.client.loop_start()
        try:
            while not self._stop.wait(0.5):
                pass
            return self._shutdown()
        finally:
            self.client.loop_stop()
            self.processor.sink.close(timeout=5.0)

    def stop(self) -> None:
        """Ask :meth:`run` to drain and return."""
        self._stop.set()

    def _shutdown(self) -> int:
        if self._failure is not None:
            self.client.disconnect()
            return 1
        self._draining = True
        timeout = self.settings.gateway_drain_timeout_s
        drained = self.processor.drain(timeout)
        logger.info(
            "gateway drained: %s; %d message(s) left to the broker",
            "complete" if drained else "timed out",
            len(self.processor.window),
        )
        self.client.disconnect()
        return 0 if drained and self._failure is None else 1

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        logger.info("signal %d: draining", signum)
        self._stop.set()

    def _on_delivery_failure(self, error: BaseException) -> None:
        self._failure = error
        self._stop.set()

    def _ack(self, mid: int, generation: int) -> None:
        if mid and generation == self._generation:  # mid 0: a QoS 0 message, nothing to ack
            self.client.ack(mid, 1)

    def _on_connect(
        self, client: Any, _userdata: Any, flags: Any, reason_code: Any, _props: Any
    ) -> None:
        if reason_code.is_failure:
            self.processor.metrics.mqtt_up.set(0)
            logger.error("MQTT connect refused: %s", reason_code)
            return
        self._generation += 1
        logger.info(
            "connected to MQTT as %s (session present: %s)",
            self.settings.gateway_client_id,
            flags.session_present,
        )
        from paho.mqtt.subscribeoptions import SubscribeOptions

        client.subscribe(self.subscription, options=SubscribeOptions(qos=1))

    def _on_subscribe(
        self, _client: Any, _userdata: Any, _mid: int, reason_codes: Any, _props: Any
    ) -> None:
        if any(rc.is_failure for rc in reason_codes):
            logger.error("subscription to %s refused: %s", self.subscription, reason_codes)
            self._failure = RuntimeError("subscription refused")
            self._stop.set()
            return
        self.processor.metrics.mqtt_up.set(1)
        logger.info("subscribed to %s", self.subscription)

    def _on_disconnect(
        self, _client: Any, _userdata: Any, _flags: Any, reason_code: Any, _props: Any
    ) -> None:
        self.processor.metrics.mqtt_up.set(0)
        if not self._stop.is_set():
            logger.warning("MQTT disconnected (%s); reconnecting", reason_code)

    def _on_message(self, _client: Any, _userdata: Any, message: Any) -> None:
        if self._draining or self._failure is not None:
            return  # left unacknowledged: the broker redelivers it after reconnect
        try:
            topic = message.topic
        except UnicodeDecodeError:
            topic = "<invalid utf-8>"
        if message.qos == 0:
            mid = 0  # nothing to acknowledge
        else:
            mid = message.mid
        self.processor.process(topic, message.payload, mid=mid, generation=self._generation)


def run_gateway(settings: IngestSettings) -> int:
    """Build the gateway from ``settings``, serve metrics, run until stopped; the exit code."""
    # kafka-python narrates every connection at INFO; its warnings and errors still show.
    logging.getLogger("kafka").setLevel(max(logging.WARNING, logging.getLogger().level))
    gateway = MqttGateway.from_settings(settings)
    if settings.gateway_metrics_port:
        from prometheus_client import start_http_server

        try:
            start_http_server(
                settings.gateway_metrics_port,
                addr=settings.gateway_metrics_host,
                registry=gateway.processor.metrics.registry,
            )
        except OSError as exc:
            logger.warning("metrics port %d unavailable: %s", settings.gateway_metrics_port, exc)
    logger.info("gateway subscribing to %s", gateway.subscription)
    return gateway.run()
