"""Build the configured store (``VIGIL_STORE=influx|sqlite``)."""

from __future__ import annotations

from alerts.settings import AlertsSettings
from alerts.store.base import Store

__all__ = ["open_store"]


def open_store(settings: AlertsSettings) -> Store:
    """Open the store ``settings.store`` names; InfluxDB is imported only when chosen.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> store = open_store(AlertsSettings(_env_file=None, store="sqlite", data_dir=d))
    >>> type(store).__name__
    'SqliteStore'
    >>> store.close()
    """
    if settings.store == "sqlite":
        from alerts.store.sqlite import SqliteStore

        return SqliteStore(settings.alerts_db_path)
    from alerts.store.influx import InfluxStore

    return InfluxStore(
        url=settings.influx_url,
        token=settings.influx_token.get_secret_value(),
        org=settings.influx_org,
        bucket=settings.influx_bucket,
        vitals_bucket=settings.vitals_bucket,
    )
