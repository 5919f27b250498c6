"""What the care team sees: alert episodes, their lifecycle, storage and notifications.

The policy and the lifecycle are pure functions over plain data; storage (InfluxDB, SQLite)
and delivery (webhooks) are thin adapters.
"""

__all__: list[str] = []
