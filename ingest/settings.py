"""Settings of the ingest processes (gateway, registry admin, fleet simulator).

:class:`IngestSettings` extends the shared :class:`vigil.settings.Settings` with what only the
ingest side needs; every field reads ``VIGIL_<FIELD>`` from the environment.

Examples
--------
>>> s = IngestSettings(_env_file=None, topic_prefix="t1.")
>>> s.topic_prefix, s.gateway_max_inflight
('t1.', 1000)
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from vigil.settings import Settings

__all__ = ["IngestSettings", "get_ingest_settings"]


class IngestSettings(Settings):
    """Settings for ``vigil gateway``, ``vigil devices``/``patients`` and ``vigil simulate --mqtt``.

    Broker auth sync is generic: a Mosquitto password file path plus either a pid file (the
    broker is sent SIGHUP) or a reload command. With neither, the file is written and the
    operator reloads the broker.
    """

    # Broker authentication, regenerated from the registry.
    mqtt_password_file: Path | None = None
    mqtt_acl_file: Path | None = None
    mqtt_pid_file: Path | None = None
    mqtt_reload_command: str = ""
    #: Name of the block of the password file this registry owns.
    mqtt_registry_section: str = "vigil-registry"

    # Gateway
    gateway_client_id: str = "vigil-gateway-1"
    gateway_share_group: str = "vigil-gateways"
    #: Unacknowledged MQTT messages held at once (also the MQTT v5 Receive Maximum).
    gateway_max_inflight: int = 1000
    #: How long Mosquitto keeps a stopped gateway's session and queued messages.
    gateway_session_expiry_s: int = 7 * 24 * 3600
    #: Prometheus exporter port; 0 disables it.
    gateway_metrics_port: int = 9108
    gateway_metrics_host: str = "127.0.0.1"
    #: Seconds the gateway trusts a cached registry entry.
    gateway_registry_refresh_s: float = 10.0
    #: Seconds SIGTERM waits for in-flight messages to be produced and acknowledged.
    gateway_drain_timeout_s: float = 30.0

    # Kafka producer tuning
    kafka_linger_ms: int = 5
    kafka_batch_size: int = 256 * 1024
    kafka_compression: Literal["gzip", "lz4", "zstd", "snappy", "none"] = "gzip"
    kafka_delivery_timeout_ms: int = 120_000


@lru_cache(maxsize=1)
def get_ingest_settings() -> IngestSettings:
    """Return the ingest process settings, read once from the environment."""
    return IngestSettings()
