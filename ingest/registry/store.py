"""The device registry: patients, devices, enrolments and device credentials in SQL.

One :class:`Registry` wraps a SQLAlchemy engine (a SQLite file by default, PostgreSQL by URL)
and speaks plain values (:class:`PatientInfo`, :class:`DeviceInfo`,
:class:`DeviceCredentials`, :class:`~ingest.directory.DeviceRecord`), never ORM rows, so its
callers (CLI, gateway, API) stay free of session handling.

Examples
--------
>>> from datetime import UTC, datetime
>>> reg = Registry("sqlite://")
>>> reg.add_patient("p1", name="Ada").patient_id
'p1'
>>> creds = reg.add_device("watch-1", "p1", since=datetime(2024, 1, 1, tzinfo=UTC))
>>> creds.username, len(creds.password) > 30
('watch-1', True)
>>> reg.device_record("watch-1").patient_at(datetime(2024, 6, 1, tzinfo=UTC).timestamp())
'p1'
>>> reg.revoke_device("watch-1", at=datetime(2024, 7, 1, tzinfo=UTC))
>>> rec = reg.device_record("watch-1")
>>> rec.revoked, rec.patient_at(datetime(2024, 8, 1, tzinfo=UTC).timestamp())
(True, None)
>>> reg.broker_credentials()
{}
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, make_url, select
from sqlalchemy.orm import Session, selectinload, sessionmaker
from sqlalchemy.pool import StaticPool

from ingest.directory import DeviceRecord, Enrollment
from ingest.exceptions import RegistryError
from ingest.registry.credentials import generate_password, hash_password
from ingest.registry.schema import DeviceRow, EnrollmentRow, PatientRow, RegistryBase

__all__ = ["DeviceCredentials", "DeviceInfo", "PatientInfo", "Registry", "validate_id"]

logger = logging.getLogger(__name__)

#: Identifiers become MQTT usernames, MQTT topic levels and Kafka keys: no ``/ + # :`` or spaces.
ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
#: Device ids with this prefix are reserved for Vigil's own broker accounts (vigil-gateway).
RESERVED_PREFIX = "vigil-"


def validate_id(kind: str, value: str) -> str:
    """Return ``value`` if it is a valid patient or device id, else raise RegistryError.

    Examples
    --------
    >>> validate_id("device", "watch-01")
    'watch-01'
    >>> validate_id("device", "a/b")
    Traceback (most recent call last):
    ...
    ingest.exceptions.RegistryError: invalid device id 'a/b': use [A-Za-z0-9][A-Za-z0-9._-]{0,63}
    """
    if not isinstance(value, str) or ID_PATTERN.fullmatch(value) is None:
        raise RegistryError(f"invalid {kind} id {value!r}: use {ID_PATTERN.pattern}")
    return value


@dataclass(frozen=True)
class PatientInfo:
    """A patient as the registry reports it."""

    patient_id: str
    name: str | None
    created_at: datetime


@dataclass(frozen=True)
class DeviceInfo:
    """A device, its current patient (if any) and whether it is revoked."""

    device_id: str
    patient_id: str | None
    created_at: datetime
    revoked_at: datetime | None


@dataclass(frozen=True)
class DeviceCredentials:
    """MQTT credentials of a device, shown once at enrolment; only the hash is stored."""

    username: str
    password: str

    def __repr__(self) -> str:  # keep the secret out of logs and tracebacks
        return f"DeviceCredentials(username={self.username!r}, password='***')"


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise RegistryError("times must be timezone-aware")
    return value.astimezone(UTC)


def _enable_sqlite_foreign_keys(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


class Registry:
    """Patients, devices and enrolments in a SQL database.

    Parameters
    ----------
    url_or_engine
        A SQLAlchemy URL (``sqlite:///path``, ``postgresql+psycopg://...``) or an engine.
    create
        Create missing tables (every table registered on :class:`RegistryBase`).
    """

    def __init__(self, url_or_engine: str | Engine, *, create: bool = True) -> None:
        if isinstance(url_or_engine, Engine):
            self.engine = url_or_engine
        else:
            self.engine = _make_engine(url_or_engine)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        if create:
            self.create_schema()

    def create_schema(self) -> None:
        """Create every registry table that does not exist yet."""
        RegistryBase.metadata.create_all(self.engine)

    def session(self) -> Session:
        """A new ORM session (for modules that add their own tables, e.g. the API's users)."""
        return self._sessions()

    def close(self) -> None:
        """Release the engine's connections."""
        self.engine.dispose()

    # -- patients -------------------------------------------------------------------------

    def add_patient(self, patient_id: str, *, name: str | None = None) -> PatientInfo:
        """Register a patient; raise RegistryError if the id is taken."""
        validate_id("patient", patient_id)
        row = PatientRow(patient_id=patient_id, name=name, created_at=_now())
        with self._sessions.begin() as session:
            if session.get(PatientRow, patient_id) is not None:
                raise RegistryError(f"patient {patient_id!r} already exists")
            session.add(row)
        logger.info("registered patient %s", patient_id)
        return PatientInfo(row.patient_id, row.name, row.created_at)

    def get_patient(self, patient_id: str) -> PatientInfo | None:
        """The patient, or ``None``."""
        with self._sessions() as session:
            row = session.get(PatientRow, patient_id)
            return None if row is None else PatientInfo(row.patient_id, row.name, row.created_at)

    def list_patients(self) -> list[PatientInfo]:
        """Every patient, by id."""
        with self._sessions() as session:
            rows = session.scalars(select(PatientRow).order_by(PatientRow.patient_id))
            return [PatientInfo(r.patient_id, r.name, r.created_at) for r in rows]

    # -- devices --------------------------------------------------------------------------

    def add_device(
        self, device_id: str, patient_id: str, *, since: datetime | None = None
    ) -> DeviceCredentials:
        """Register a device enrolled to ``patient_id`` from ``since`` (default now).

        Returns the generated credentials; the password is not stored and cannot be shown
        again (:meth:`rotate_credentials` issues a new one).
        """
        validate_id("device", device_id)
        if device_id.startswith(RESERVED_PREFIX):
            raise RegistryError(f"device ids starting with {RESERVED_PREFIX!r} are reserved")
        start = _now() if since is None else _aware(since)
        password = generate_password()
        with self._sessions.begin() as session:
            if session.get(PatientRow, patient_id) is None:
                raise RegistryError(f"unknown patient {patient_id!r}")
            if session.get(DeviceRow, device_id) is not None:
                raise RegistryError(f"device {device_id!r} already exists")
            session.add(
                DeviceRow(
                    device_id=device_id,
                    credential_hash=hash_password(password),
                    created_at=_now(),
                )
            )
            session.flush()
            session.add(EnrollmentRow(device_id=device_id, patient_id=patient_id, valid_from=start))
        logger.info("registered device %s for patient %s", device_id, patient_id)
        return DeviceCredentials(device_id, password)

    def enroll(self, device_id: str, patient_id: str, *, since: datetime | None = None) -> None:
        """Hand the device to ``patient_id`` from ``since``, closing its open enrolment there."""
        start = _now() if since is None else _aware(since)
        with self._sessions.begin() as session:
            device = self._device(session, device_id)
            if device.revoked_at is not None:
                raise RegistryError(f"device {device_id!r} is revoked")
            if session.get(PatientRow, patient_id) is None:
                raise RegistryError(f"unknown patient {patient_id!r}")
            for enrollment in device.enrollments:
                if enrollment.valid_from >= start:
                    raise RegistryError(
                        f"device {device_id!r} has an enrolment starting at or after {start}"
                    )
                if enrollment.valid_to is None or enrollment.valid_to > start:
                    enrollment.valid_to = start
            session.add(EnrollmentRow(device_id=device_id, patient_id=patient_id, valid_from=start))
        logger.info("enrolled device %s to patient %s", device_id, patient_id)

    def revoke_device(self, device_id: str, *, at: datetime | None = None) -> None:
        """Revoke the device's credentials and end its enrolment at ``at`` (default now)."""
        when = _now() if at is None else _aware(at)
        with self._sessions.begin() as session:
            device = self._device(session, device_id)
            if device.revoked_at is not None:
                return
            device.revoked_at = when
            for enrollment in device.enrollments:
                if enrollment.valid_to is None or enrollment.valid_to > when:
                    enrollment.valid_to = max(when, enrollment.valid_from)
        logger.info("revoked device %s", device_id)

    def rotate_credentials(self, device_id: str) -> DeviceCredentials:
        """Issue a new password for an active device; the old one stops working at sync."""
        password = generate_password()
        with self._sessions.begin() as session:
            device = self._device(session, device_id)
            if device.revoked_at is not None:
                raise RegistryError(f"device {device_id!r} is revoked")
            device.credential_hash = hash_password(password)
        return DeviceCredentials(device_id, password)

    def list_devices(self) -> list[DeviceInfo]:
        """Every device with its current patient, by id."""
        with self._sessions() as session:
            rows = session.scalars(
                select(DeviceRow)
                .options(selectinload(DeviceRow.enrollments))
                .order_by(DeviceRow.device_id)
            )
            return [
                DeviceInfo(
                    r.device_id,
                    next((e.patient_id for e in r.enrollments if e.valid_to is None), None),
                    r.created_at,
                    r.revoked_at,
                )
                for r in rows
            ]

    def device_record(self, device_id: str) -> DeviceRecord | None:
        """The device's enrolment history as the gateway reads it, or ``None`` if unknown."""
        with self._sessions() as session:
            row = session.get(DeviceRow, device_id, options=[selectinload(DeviceRow.enrollments)])
            return None if row is None else _record(row)

    def device_records(self) -> dict[str, DeviceRecord]:
        """Every device's record, in one query (the gateway's periodic snapshot)."""
        with self._sessions() as session:
            rows = session.scalars(select(DeviceRow).options(selectinload(DeviceRow.enrollments)))
            return {row.device_id: _record(row) for row in rows}

    def broker_credentials(self) -> dict[str, str]:
        """``{username: $7$ hash}`` of every active (not revoked) device, for the broker."""
        with self._sessions() as session:
            rows = session.execute(
                select(DeviceRow.device_id, DeviceRow.credential_hash)
                .where(DeviceRow.revoked_at.is_(None))
                .order_by(DeviceRow.device_id)
            )
            return {device_id: hashed for device_id, hashed in rows}

    @staticmethod
    def _device(session: Session, device_id: str) -> DeviceRow:
        device = session.get(DeviceRow, device_id)
        if device is None:
            raise RegistryError(f"unknown device {device_id!r}")
        return device


def _record(row: DeviceRow) -> DeviceRecord:
    return DeviceRecord(
        device_id=row.device_id,
        enrollments=tuple(
            Enrollment(
                e.patient_id,
                e.valid_from.timestamp(),
                None if e.valid_to is None else e.valid_to.timestamp(),
            )
            for e in row.enrollments
        ),
        revoked=row.revoked_at is not None,
    )


def _make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        kwargs: dict[str, Any] = {}
        if url in ("sqlite://", "sqlite:///:memory:"):
            # One shared connection, or every session would see its own empty database.
            kwargs = {"poolclass": StaticPool, "connect_args": {"check_same_thread": False}}
        else:
            database = make_url(url).database
            if database:
                Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, **kwargs)
        event.listen(engine, "connect", _enable_sqlite_foreign_keys)
        return engine
    try:
        return create_engine(url, pool_pre_ping=True)
    except Exception as exc:  # bad URL or missing driver
        raise RegistryError(f"cannot open registry database: {exc}") from exc
