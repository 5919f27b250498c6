"""Where alerts, their lifecycle events and the vitals rollups are kept.

:class:`AlertStore` and :class:`VitalsStore` are the faces the API and the sink use;
:class:`Store` is one backend holding both. Two backends share one contract test suite:

- :class:`alerts.store.sqlite.SqliteStore`: embedded SQLite (demo, unit tests);
- :class:`alerts.store.influx.InfluxStore`: InfluxDB 2 through Flux (production).

:func:`open_store` builds the configured one. The InfluxDB schema and retention are
documented in :mod:`alerts.store.schema`, its read projections in
:mod:`alerts.store.projections`.
"""

from alerts.store.base import (
    AlertPage,
    AlertQuery,
    AlertRecord,
    AlertStore,
    Resolution,
    Store,
    StoreBatch,
    VitalPoint,
    VitalsStore,
)
from alerts.store.factory import open_store

__all__ = [
    "AlertPage",
    "AlertQuery",
    "AlertRecord",
    "AlertStore",
    "Resolution",
    "Store",
    "StoreBatch",
    "VitalPoint",
    "VitalsStore",
    "open_store",
]
