"""Typed settings shared by every Vigil process, read from ``VIGIL_*`` environment variables.

Build them with :func:`get_settings` (cached), never at import time, so tests and the CLI can
change the environment first.

Examples
--------
>>> s = Settings(_env_file=None, kafka_bootstrap="127.0.0.1:9092")
>>> s.kafka_bootstrap
'127.0.0.1:9092'
>>> s.environment
'development'
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from vigil.exceptions import ConfigurationError

#: Secrets that ship as development defaults; refused outside development.
DEV_SECRET = "dev-only-change-me"  # noqa: S105 - a sentinel, refused in production below


def _default_data_dir() -> Path:
    return Path.home() / ".local" / "share" / "vigil"


class Settings(BaseSettings):
    """Connection and runtime settings common to all Vigil processes.

    Parameters are read from the environment with the ``VIGIL_`` prefix, e.g.
    ``VIGIL_KAFKA_BOOTSTRAP``. Secrets are :class:`~pydantic.SecretStr` and are never logged.
    """

    model_config = SettingsConfigDict(env_prefix="VIGIL_", extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    data_dir: Path = _default_data_dir()

    # Kafka
    kafka_bootstrap: str = "127.0.0.1:9092"
    #: Prepended to every Kafka topic name (tests and benches isolate runs with a unique one).
    topic_prefix: str = ""
    vitals_partitions: int = Field(default=12, ge=1)

    # MQTT
    mqtt_host: str = "127.0.0.1"
    mqtt_port: int = Field(default=1883, ge=1, le=65535)
    mqtt_username: str = "vigil-gateway"
    mqtt_password: SecretStr = SecretStr(DEV_SECRET)

    # InfluxDB
    influx_url: str = "http://127.0.0.1:8086"
    influx_token: SecretStr = SecretStr(DEV_SECRET)
    influx_org: str = "vigil"
    influx_bucket: str = "vigil"

    # Registry (patients, devices, users) and API
    registry_url: str = ""
    secret_key: SecretStr = SecretStr(DEV_SECRET)

    @model_validator(mode="after")
    def _refuse_default_secrets_in_production(self) -> Settings:
        if self.environment == "production":
            for name in ("mqtt_password", "influx_token", "secret_key"):
                if getattr(self, name).get_secret_value() in ("", DEV_SECRET):
                    raise ConfigurationError(f"VIGIL_{name.upper()} must be set in production")
        return self

    @property
    def registry_database_url(self) -> str:
        """The registry's SQLAlchemy URL: ``VIGIL_REGISTRY_URL`` or a SQLite file in data_dir."""
        if self.registry_url:
            return self.registry_url
        return f"sqlite:///{self.data_dir / 'registry.sqlite3'}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Return the process settings, read once from the environment."""
    return Settings()
