"""``vigil demo``: the whole system in one process, with no external service.

An embedded MQTT broker, an in-process bus in place of Kafka and SQLite in place of InfluxDB
carry a simulated, time-accelerated fleet through the real gateway validation, detection,
alert policy and API, and the dashboard is served at ``/``. See :mod:`vigil.demo.runtime`
for how the parts connect and :mod:`vigil.demo.cli` for the command.
"""

from vigil.demo.cli import register

__all__ = ["register"]
