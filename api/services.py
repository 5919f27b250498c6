"""The API's collaborators, bundled: what :func:`api.main.create_app` wires and routes use.

One :class:`Services` lives on ``app.state.services``; :mod:`api.deps` hands its parts to
route functions. Nothing here opens connections: the factory decides which implementations
(Kafka/InfluxDB or in-memory/SQLite) are plugged in.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from alerts.store import AlertStore, VitalsStore
from api.accounts.audit import AuditLog
from api.accounts.patients import PatientDirectory
from api.accounts.thresholds import ThresholdRepository
from api.accounts.token_families import TokenFamilies
from api.accounts.users import Accounts
from api.config_publisher import PatientConfigPublisher
from api.live import AlertBus, AlertHub
from api.metrics import ApiMetrics
from api.readiness import Probe
from api.security import TokenKeys
from api.settings import ApiSettings
from ingest.registry import Registry

__all__ = ["Services"]


@dataclass
class Services:
    """Everything a request handler may need."""

    settings: ApiSettings
    registry: Registry
    accounts: Accounts
    patients: PatientDirectory
    audit: AuditLog
    thresholds: ThresholdRepository
    alert_store: AlertStore
    vitals_store: VitalsStore
    hub: AlertHub
    bus: AlertBus
    publisher: PatientConfigPublisher
    probes: Mapping[str, Probe]
    keys: TokenKeys
    #: Refresh-token families (rotation, replay detection, logout).
    token_families: TokenFamilies
    metrics: ApiMetrics = field(default_factory=ApiMetrics)
    #: Called after devices change, to push credentials to the MQTT broker (None: no broker).
    device_sync: Callable[[], None] | None = None
    clock: Callable[[], float] = time.time
    #: Event-time "now" for default query windows ("the last 24 h"); None: ``clock``. The
    #: embedded demo's simulated clock runs ahead of the wall clock.
    data_clock: Callable[[], float] | None = None

    def data_now(self) -> float:
        """The latest event time worth asking the stores about (epoch seconds UTC)."""
        return (self.data_clock or self.clock)()
