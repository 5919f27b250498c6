"""A small, fully wired Vigil API world for tests and the API benchmark.

Three patients on two care teams, one user per role, an app client, alerts, vitals rollups
and NEWS2 in an embedded store, an in-memory alert bus and config publisher::

    ward-a: P1, P2   nurse (clinician), patient1 (P1), app "telemed" (grant: P1 only)
    ward-b: P3       nurse-b (clinician), patient3 (P3)
    admin

Tokens are minted directly with the app's keys (argon2 logins are tested once, in the auth
tests, not paid for by every test).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher
from fastapi import FastAPI

from alerts.model import Alert
from alerts.store.sqlite import SqliteStore
from api.accounts.users import Accounts
from api.config_publisher import InMemoryConfigPublisher, PatientConfigPublisher
from api.live import AlertBus, InMemoryAlertBus
from api.main import create_app
from api.readiness import Probe
from api.security import issue_token
from api.services import Services
from api.settings import ApiSettings
from ingest.registry import Registry
from stream.rollup import News2Record, VitalsRollup, VitalStats

PASSWORD = "correct horse battery"
T_NOW = datetime.now(UTC).replace(second=0, microsecond=0)

USERS: dict[str, tuple[str, str | None, tuple[str, ...]]] = {
    "admin": ("admin", None, ()),
    "nurse": ("clinician", None, ("ward-a",)),
    "nurse-b": ("clinician", None, ("ward-b",)),
    "patient1": ("patient", "P1", ()),
    "patient3": ("patient", "P3", ()),
}
APP_SCOPES = ("patients:read", "vitals:read", "alerts:read", "alerts:write", "thresholds:read")


@dataclass
class World:
    """The app and handles on everything behind it."""

    app: FastAPI
    registry: Registry
    store: SqliteStore
    bus: InMemoryAlertBus
    publisher: InMemoryConfigPublisher
    alerts: dict[str, list[Alert]]
    app_secret: str
    now: list[float] = field(default_factory=lambda: [time.time()])

    @property
    def services(self) -> Services:
        services: Services = self.app.state.services
        return services

    @property
    def accounts(self) -> Accounts:
        return self.services.accounts

    def token(self, subject: str, *, scopes: frozenset[str] = frozenset()) -> str:
        """A valid access token for a user, or for the app client when ``subject='telemed'``."""
        client = subject == "telemed"
        if client and not scopes:
            scopes = frozenset(APP_SCOPES)
        return issue_token(
            self.services.keys,
            subject=subject,
            kind="client" if client else "user",
            token_type="access",
            ttl_s=900,
            now=self.now[0],
            scopes=scopes,
        )

    def auth(self, subject: str) -> dict[str, str]:
        """``Authorization`` header for ``subject``."""
        return {"Authorization": f"Bearer {self.token(subject)}"}

    def replica(self, registry: Registry | None = None, **settings: Any) -> FastAPI:
        """Another API process over this world's stores and ``registry`` (default: the
        world's), with the same keys and clock, and the environment's settings but for
        ``settings``."""
        return create_app(
            ApiSettings(
                _env_file=None, secret_key="test-secret-" + "x" * 32, environment="test", **settings
            ),
            registry=self.registry if registry is None else registry,
            alert_store=self.store,
            vitals_store=self.store,
            alert_bus=self.bus,
            config_publisher=self.publisher,
            probes={},
            device_sync=lambda: None,
            clock=lambda: self.now[0],
        )


def make_alert(patient_id: str, kind: str, minutes_ago: int, **kw: object) -> Alert:
    """An opening alert record ``minutes_ago`` before now."""
    t = (T_NOW - timedelta(minutes=minutes_ago)).timestamp()
    return Alert.new(
        patient_id=patient_id,
        category=kw.pop("category", "clinical"),  # type: ignore[arg-type]
        kind=kind,
        severity=kw.pop("severity", "medium"),  # type: ignore[arg-type]
        vitals=["hr"],
        started_at=t - 300,
        detected_at=t,
        message=f"{kind} for 5 min",
        evidence={"hr": 128.0},
        score=0.9,
    )


def seed_vitals(
    store: SqliteStore, patient_id: str, *, hours: int = 24, base_hr: float = 70.0
) -> None:
    """One rollup per minute over the last ``hours`` and a NEWS2 record per 10 minutes."""
    rollups, news = [], []
    for m in range(hours * 60):
        minute = T_NOW - timedelta(minutes=m + 1)
        wobble = (m % 7) - 3
        rollups.append(
            VitalsRollup(
                patient_id=patient_id,
                minute=minute,
                vitals={
                    "hr": VitalStats(base_hr + wobble, base_hr - 5, base_hr + 6, 12),
                    "spo2": VitalStats(97.0, 96.0, 98.0, 12),
                    "rr": VitalStats(16.0, 14.0, 18.0, 12),
                    "temp": VitalStats(36.8, 36.7, 36.9, 2),
                    "sbp": VitalStats(121.0, 118.0, 125.0, 1),
                    "dbp": VitalStats(79.0, 77.0, 81.0, 1),
                },
            )
        )
        if m % 10 == 0:
            news.append(
                News2Record(
                    patient_id=patient_id,
                    minute=minute,
                    score=1,
                    risk="low",
                    subscores={"hr": 0, "rr": 0, "temp": 0, "spo2": 0, "sbp": 0},
                )
            )
    store.put_vitals(rollups)
    store.put_news2(news)


def use_fast_password_hashing() -> None:
    """Cheap argon2 parameters: tests hash a dozen passwords, not attackers' guesses."""
    import api.security

    api.security._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    api.security._dummy_hash.cache_clear()


def build_world(
    *,
    store_path: str | Path = ":memory:",
    registry_url: str = "sqlite://",
    probes: dict[str, Probe] | None = None,
    vitals_hours: int = 2,
    extra_alerts: int = 0,
    alert_bus: AlertBus | None = None,
    config_publisher: PatientConfigPublisher | None = None,
) -> World:
    """Build the world described in the module docstring."""
    use_fast_password_hashing()
    registry = Registry(registry_url)
    store = SqliteStore(store_path)
    bus = InMemoryAlertBus()
    publisher = InMemoryConfigPublisher()
    now = [time.time()]
    clock: Callable[[], float] = lambda: now[0]  # noqa: E731 - tests move time
    app = create_app(
        ApiSettings(_env_file=None, secret_key="test-secret-" + "x" * 32, environment="test"),
        registry=registry,
        alert_store=store,
        vitals_store=store,
        alert_bus=alert_bus or bus,
        config_publisher=config_publisher or publisher,
        probes=probes if probes is not None else {},
        device_sync=lambda: None,
        clock=clock,
    )
    accounts = Accounts(registry.session)
    for pid in ("P1", "P2", "P3"):
        registry.add_patient(pid, name=f"Bed {pid[1:]}")
    accounts.add_team("ward-a")
    accounts.add_team("ward-b")
    for pid, team in (("P1", "ward-a"), ("P2", "ward-a"), ("P3", "ward-b")):
        accounts.assign_patient(team, pid)
    for name, (role, own, teams) in USERS.items():
        accounts.add_user(name, PASSWORD, role=role, patient_id=own, teams=teams)
    _, secret = accounts.add_client("telemed", scopes=APP_SCOPES, patients=["P1"])
    registry.add_device("watch-1", "P1")
    registry.add_device("watch-2", "P2")
    registry.add_device("watch-3", "P3")
    alerts: dict[str, list[Alert]] = {
        "P1": [make_alert("P1", "tachycardia", 30), make_alert("P1", "fever", 20, severity="low")],
        "P2": [make_alert("P2", "device_offline", 25, category="technical", severity="info")],
        "P3": [make_alert("P3", "hypoxia", 10, severity="high"), make_alert("P3", "tachypnoea", 5)],
    }
    for i in range(extra_alerts):
        pid = ("P1", "P2", "P3")[i % 3]
        alerts[pid].append(make_alert(pid, f"kind_{i}", 60 + i))
    store.put_alerts([a for batch in alerts.values() for a in batch])
    for pid, hr in (("P1", 72.0), ("P2", 80.0), ("P3", 95.0)):
        seed_vitals(store, pid, hours=vitals_hours, base_hr=hr)
    return World(app, registry, store, bus, publisher, alerts, secret, now)
