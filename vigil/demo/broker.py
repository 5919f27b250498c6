"""The demo's embedded MQTT broker (amqtt), with device identity enforced as Mosquitto does.

In production Mosquitto checks each CONNECT against a password file generated from the
registry and lets a device publish only to ``vigil/v1/devices/<its id>/vitals``
(:mod:`ingest.broker_auth`). The embedded broker enforces the same two rules with amqtt
plugins reading the same registry hashes, so a real device or ``mosquitto_pub`` with its
enrolment credentials can publish to the demo. The third plugin is the gateway's tap: every
message the broker accepted is handed to a callback (the gateway's message handler) instead
of a separate subscriber connection.

amqtt builds its plugins from dotted class names, so the in-process objects they need are
looked up from :data:`_HOOKS` by the key in each plugin's config.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from amqtt.adapters import ReaderAdapter, WriterAdapter
from amqtt.broker import Broker, BrokerProtocolHandler
from amqtt.contexts import Action
from amqtt.plugins.base import BaseAuthPlugin, BasePlugin, BaseTopicPlugin
from amqtt.session import ApplicationMessage, Session

from ingest.registry import verify_password

__all__ = ["BrokerHooks", "EmbeddedBroker", "device_topic"]

logger = logging.getLogger(__name__)

#: The one topic a device may publish to (same ACL as deploy/local's Mosquitto).
DEVICE_TOPIC = re.compile(r"vigil/v1/devices/([A-Za-z0-9][A-Za-z0-9._-]{0,63})/vitals")
#: Seconds the registry's credential table is cached (a newly enrolled device waits this long).
CREDENTIALS_TTL_S = 5.0


def device_topic(device_id: str) -> str:
    """The topic ``device_id`` publishes its samples to.

    >>> device_topic("dev-0001")
    'vigil/v1/devices/dev-0001/vitals'
    """
    return f"vigil/v1/devices/{device_id}/vitals"


@dataclass
class BrokerHooks:
    """What the plugins need from the demo.

    Parameters
    ----------
    credentials
        ``{username: $7$ hash}`` of the accounts allowed to connect (the registry's devices).
    on_message
        Called with ``(device_id, topic, payload)`` for every accepted publish.
    """

    credentials: Callable[[], Mapping[str, str]]
    on_message: Callable[[str, str, bytes], None]
    _cache: Mapping[str, str] | None = None
    _cached_at: float = 0.0

    def invalidate(self) -> None:
        """Forget the cached credentials (a device was enrolled or revoked)."""
        self._cache = None

    def hash_for(self, username: str) -> str | None:
        now = time.monotonic()
        if self._cache is None or now - self._cached_at > CREDENTIALS_TTL_S:
            self._cache = dict(self.credentials())
            self._cached_at = now
        return self._cache.get(username)


_HOOKS: dict[str, BrokerHooks] = {}
_ids = itertools.count(1)


def _hooks(key: str) -> BrokerHooks:
    return _HOOKS[key]


class DeviceAuthPlugin(BaseAuthPlugin):  # type: ignore[misc]  # amqtt is untyped
    """Accept a CONNECT only with a registry device id and its secret."""

    @dataclass
    class Config:
        """``hooks``: key of the demo's :class:`BrokerHooks`."""

        hooks: str = ""

    async def authenticate(self, *, session: Session) -> bool | None:
        username, password = session.username, session.password
        if not username or password is None:
            return False
        hashed = _hooks(self.config.hooks).hash_for(username)
        ok = hashed is not None and verify_password(str(password), hashed)
        if not ok:
            logger.info("refused MQTT connection for %r", username)
        return ok


class DeviceTopicPlugin(BaseTopicPlugin):  # type: ignore[misc]
    """Devices publish only to their own vitals topic and subscribe to nothing."""

    @dataclass
    class Config:
        """``hooks``: key of the demo's :class:`BrokerHooks`."""

        hooks: str = ""

    async def topic_filtering(
        self,
        *,
        session: Session | None = None,
        topic: str | None = None,
        action: Action | None = None,
    ) -> bool | None:
        if session is None or topic is None or action != Action.PUBLISH:
            return False
        match = DEVICE_TOPIC.fullmatch(topic)
        return match is not None and match.group(1) == session.username


class GatewayTapPlugin(BasePlugin[Any]):  # type: ignore[misc]
    """Hand every accepted publish to the gateway callback."""

    @dataclass
    class Config:
        """``hooks``: key of the demo's :class:`BrokerHooks`."""

        hooks: str = ""

    async def on_broker_message_broadcast(
        self, *, client_id: str, message: ApplicationMessage
    ) -> None:
        match = DEVICE_TOPIC.fullmatch(message.topic or "")
        if match is None:
            return
        try:
            _hooks(self.config.hooks).on_message(match.group(1), message.topic, bytes(message.data))
        except Exception:  # a bad message must never take the broker down
            logger.exception("gateway failed on a message from client %s", client_id)


class _PortProbes(logging.Filter):
    """Hide amqtt's ERROR/WARNING for a connection closed before its first MQTT packet.

    That is a port probe (a health check, or ``deploy/local/stack up`` checking that 1883 is
    free), not a broker fault; with DEBUG logging on amqtt the lines still show.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if "No data to decode MQTT packet fixed header" not in record.getMessage():
            return True
        return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)


_PORT_PROBES = _PortProbes()


class _Broker(Broker):  # type: ignore[misc]  # amqtt is untyped here (Any)
    """amqtt's broker, closing a connection that fails before its CONNECT is accepted.

    amqtt 0.12.1 logs such a failure and returns without closing the socket: one leaked
    file descriptor per port probe or garbage connection.
    """

    async def _initialize_client_session(
        self, reader: ReaderAdapter, writer: WriterAdapter, remote_address: str, remote_port: int
    ) -> tuple[BrokerProtocolHandler, Session]:
        try:
            init = super()._initialize_client_session
            session: tuple[BrokerProtocolHandler, Session] = await init(
                reader, writer, remote_address, remote_port
            )
        except Exception:
            with contextlib.suppress(OSError):
                await writer.close()  # idempotent
            raise
        return session


class EmbeddedBroker:
    """An amqtt broker on ``host:port`` wired to ``hooks``.

    Use as ``async with EmbeddedBroker(...)``; the port is bound on entry.
    """

    def __init__(self, hooks: BrokerHooks, *, host: str = "127.0.0.1", port: int = 1883) -> None:
        self.hooks = hooks
        self.host = host
        self.port = port
        self._key = f"demo-{next(_ids)}"
        self._broker: Broker | None = None

    def config(self) -> dict[str, Any]:
        """The amqtt broker configuration."""
        plugin_cfg = {"hooks": self._key}
        return {
            "listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self.port}"}},
            "plugins": {
                f"{__name__}.DeviceAuthPlugin": plugin_cfg,
                f"{__name__}.DeviceTopicPlugin": plugin_cfg,
                f"{__name__}.GatewayTapPlugin": plugin_cfg,
            },
        }

    async def start(self) -> None:
        _HOOKS[self._key] = self.hooks
        logging.getLogger("amqtt.broker").addFilter(_PORT_PROBES)  # idempotent
        self._broker = _Broker(self.config())
        await self._broker.start()
        logger.info("embedded MQTT broker listening on %s:%d", self.host, self.port)

    async def stop(self) -> None:
        if self._broker is not None:
            await self._broker.shutdown()
            self._broker = None
        _HOOKS.pop(self._key, None)

    async def __aenter__(self) -> EmbeddedBroker:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
