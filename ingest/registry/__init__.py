"""The device registry: who the patients are, which device belongs to whom and when.

:class:`Registry` stores patients, devices, enrolments (device <-> patient with valid-from /
valid-to) and hashed device credentials through SQLAlchemy; :mod:`ingest.registry.schema`
holds the tables on :class:`RegistryBase`, which the API extends with users and care teams.
"""

from ingest.registry.credentials import generate_password, hash_password, verify_password
from ingest.registry.schema import DeviceRow, EnrollmentRow, PatientRow, RegistryBase
from ingest.registry.store import (
    DeviceCredentials,
    DeviceInfo,
    PatientInfo,
    Registry,
    validate_id,
)

__all__ = [
    "DeviceCredentials",
    "DeviceInfo",
    "DeviceRow",
    "EnrollmentRow",
    "PatientInfo",
    "PatientRow",
    "Registry",
    "RegistryBase",
    "generate_password",
    "hash_password",
    "validate_id",
    "verify_password",
]
