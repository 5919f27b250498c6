"""The registry's tables (SQLAlchemy 2 declarative mapping).

Every table of the registry hangs off :class:`RegistryBase`, so ``RegistryBase.metadata`` holds
the whole schema: the API adds its users, care teams and memberships by subclassing the same
base in its own module, and :meth:`ingest.registry.Registry.create_schema` creates whatever
tables have been imported. Times are stored as timezone-aware UTC on every backend
(:class:`UTCDateTime`), since SQLite keeps no offset.

Examples
--------
>>> {"patients", "devices", "enrollments"} <= set(RegistryBase.metadata.tables)
True
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import DateTime, ForeignKey, Index, String, TypeDecorator
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

__all__ = ["DeviceRow", "EnrollmentRow", "PatientRow", "RegistryBase", "UTCDateTime"]

#: Longest patient or device identifier (an MQTT topic level and a Kafka key).
ID_LENGTH = 64


class UTCDateTime(TypeDecorator[datetime]):
    """A datetime stored as UTC and always read back timezone-aware."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: registry times must be timezone-aware")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class RegistryBase(DeclarativeBase):
    """Base class of every registry table (ingest's and the API's)."""

    type_annotation_map = {datetime: UTCDateTime}


class PatientRow(RegistryBase):
    """A monitored patient. ``patient_id`` is the pseudonymous key used everywhere downstream."""

    __tablename__ = "patients"

    patient_id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    name: Mapped[str | None] = mapped_column(String(200), default=None)
    created_at: Mapped[datetime]


class DeviceRow(RegistryBase):
    """A device and its MQTT credential hash (Mosquitto ``$7$`` format)."""

    __tablename__ = "devices"

    device_id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    credential_hash: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)

    enrollments: Mapped[list[EnrollmentRow]] = relationship(
        back_populates="device", order_by="EnrollmentRow.valid_from"
    )


class EnrollmentRow(RegistryBase):
    """Device ``device_id`` belonged to ``patient_id`` from ``valid_from`` until ``valid_to``."""

    __tablename__ = "enrollments"
    __table_args__ = (Index("ix_enrollments_device_from", "device_id", "valid_from"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.device_id"))
    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.patient_id"), index=True)
    valid_from: Mapped[datetime]
    valid_to: Mapped[datetime | None] = mapped_column(default=None)

    device: Mapped[DeviceRow] = relationship(back_populates="enrollments")
