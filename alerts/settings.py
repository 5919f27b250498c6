"""Settings of the alerts processes (``vigil sink``, webhooks) on top of the shared ``VIGIL_*``.

Webhook targets are a JSON list in ``VIGIL_WEBHOOKS``, one object per care-team endpoint::

    VIGIL_WEBHOOKS='[{"team": "ward-a", "url": "https://pager.example/hook",
                      "secret": "...", "patients": ["p1", "p2"]}]'

``patients`` defaults to ``["*"]`` (every patient). The registry's care teams (issue 7) can
replace this mapping through :class:`alerts.webhooks.TargetResolver`.

Examples
--------
>>> s = AlertsSettings(_env_file=None, webhooks=[{"team": "a", "url": "http://x/h", "secret": "k"}])
>>> s.webhooks[0].patients, s.sink_batch_size, s.vitals_bucket
(['*'], 500, 'vigil')
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr

from vigil.settings import Settings

__all__ = ["AlertsSettings", "WebhookTarget", "get_alerts_settings"]


class WebhookTarget(BaseModel):
    """One care team's webhook endpoint."""

    team: str
    url: str
    secret: SecretStr
    #: Patient ids this team cares for; ``"*"`` means every patient.
    patients: list[str] = Field(default_factory=lambda: ["*"])

    def covers(self, patient_id: str) -> bool:
        """Whether alerts of ``patient_id`` go to this target."""
        return "*" in self.patients or patient_id in self.patients


class AlertsSettings(Settings):
    """Shared settings plus the sink's and the webhooks' knobs."""

    #: Which backend the sink writes and the API reads.
    store: Literal["influx", "sqlite"] = "influx"
    #: SQLite file of the embedded store; default ``<data_dir>/alerts.sqlite3``.
    alerts_db: Path | None = None
    #: Bucket of ``vitals_1m``/``news2``; empty means ``influx_bucket`` (see alerts.store.schema).
    influx_vitals_bucket: str = ""

    # Sink
    sink_group: str = "vigil-sink"
    #: Records per InfluxDB write; also the most records the sink holds uncommitted.
    sink_batch_size: int = Field(default=500, ge=1, le=50_000)
    #: Longest wait for a batch to fill before it is written anyway.
    sink_linger_ms: int = Field(default=200, ge=0)
    #: Backoff cap while the store is down (doubles from 0.5 s).
    sink_backoff_max_s: float = Field(default=15.0, gt=0)

    # Webhooks
    webhooks: list[WebhookTarget] = Field(default_factory=list)
    notifier_group: str = "vigil-notifier"
    #: Attempts per delivery before it is dead-lettered.
    webhook_max_attempts: int = Field(default=5, ge=1)
    webhook_backoff_s: float = Field(default=0.5, gt=0)
    webhook_backoff_max_s: float = Field(default=30.0, gt=0)
    webhook_timeout_s: float = Field(default=5.0, gt=0)
    #: SQLite file remembering delivered notifications; default ``<data_dir>/webhooks.sqlite3``.
    webhook_ledger: Path | None = None

    @property
    def vitals_bucket(self) -> str:
        """The bucket of the vitals measurements."""
        return self.influx_vitals_bucket or self.influx_bucket

    @property
    def alerts_db_path(self) -> Path:
        """The embedded store's file."""
        return self.alerts_db or self.data_dir / "alerts.sqlite3"

    @property
    def webhook_ledger_path(self) -> Path:
        """The webhook delivery ledger's file."""
        return self.webhook_ledger or self.data_dir / "webhooks.sqlite3"


@lru_cache(maxsize=1)
def get_alerts_settings() -> AlertsSettings:
    """Return the alerts process settings, read once from the environment."""
    return AlertsSettings()
