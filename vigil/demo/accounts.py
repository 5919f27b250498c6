"""The demo's people and devices: patients P0001..PN, one wearable each, and three logins.

=========  =============  ==========================================================
username   password       sees
=========  =============  ==========================================================
admin      admin-demo     everything (role ``admin``)
nurse      nurse-demo     every demo patient (clinician on care team ``demo-ward``)
patient1   patient-demo   only P0001 (role ``patient``)
=========  =============  ==========================================================

These passwords are printed by ``vigil demo`` and exist only in its throwaway database.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from api.accounts.users import Accounts
from ingest.registry import Registry

__all__ = ["DEMO_LOGINS", "DEMO_TEAM", "DemoEnrolment", "demo_patient_id", "seed"]

logger = logging.getLogger(__name__)

DEMO_TEAM = "demo-ward"
#: (username, password, role) of the demo logins; shown to the user, never valid elsewhere.
DEMO_LOGINS: tuple[tuple[str, str, str], ...] = (
    ("admin", "admin-demo", "admin"),
    ("nurse", "nurse-demo", "clinician"),
    ("patient1", "patient-demo", "patient"),
)


def demo_patient_id(index: int) -> str:
    """The registry id of the demo's patient ``index`` (0-based).

    >>> demo_patient_id(0), demo_patient_id(49)
    ('P0001', 'P0050')
    """
    return f"P{index + 1:04d}"


def device_id(index: int) -> str:
    """The simulator's device id for patient ``index`` (its wearable's MQTT username).

    >>> device_id(0)
    'dev-0001'
    """
    return f"dev-{index + 1:04d}"


@dataclass(frozen=True)
class DemoEnrolment:
    """What seeding produced: patient ids, and each device's MQTT secret (shown once)."""

    patient_ids: list[str]
    device_passwords: dict[str, str]


def seed(registry: Registry, *, patients: int, enrolled_since: datetime) -> DemoEnrolment:
    """Create the demo patients, devices, care team and logins in an empty registry.

    Devices are enrolled from ``enrolled_since`` so that samples stamped on the simulated clock
    (which may start before the wall clock) are attributed to their patient.
    """
    accounts = Accounts(registry.session)
    accounts.add_team(DEMO_TEAM)
    patient_ids: list[str] = []
    passwords: dict[str, str] = {}
    since = enrolled_since.astimezone(UTC)
    for i in range(patients):
        pid = demo_patient_id(i)
        registry.add_patient(pid, name=f"Demo patient {i + 1}")
        creds = registry.add_device(device_id(i), pid, since=since)
        accounts.assign_patient(DEMO_TEAM, pid)
        patient_ids.append(pid)
        passwords[creds.username] = creds.password
    for username, password, role in DEMO_LOGINS:
        accounts.add_user(
            username,
            password,
            role=role,
            patient_id=patient_ids[0] if role == "patient" else None,
            teams=[DEMO_TEAM] if role == "clinician" else (),
        )
    logger.info("demo registry seeded: %d patients, %d logins", patients, len(DEMO_LOGINS))
    return DemoEnrolment(patient_ids, passwords)
