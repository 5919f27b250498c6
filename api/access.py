"""Who may see and do what: roles, scopes and patient visibility, as pure functions.

Every caller is a :class:`Principal`. A *role* grants a fixed set of *scopes* (what kind of
thing the caller may do); an app client carries the scopes it was granted instead. Separately,
``visible_patients`` says *whose* data the caller may touch: everyone (admin), the patients of
the caller's care teams (clinician, app scoped to teams), the explicitly granted patients (app)
or only the caller's own record (patient). Routes check both: the scope first (403), then the
patient (404, so the existence of other patients is not revealed).

Examples
--------
>>> nurse = Principal("nurse", "clinician", visible_patients=frozenset({"P1"}))
>>> nurse.has_scope("alerts:write"), nurse.can_see("P1"), nurse.can_see("P2")
(True, True, False)
>>> admin = Principal("root", "admin")
>>> admin.can_see("P2"), admin.has_scope("admin")
(True, True)
>>> app = Principal("telemed", "app", scopes=frozenset({"vitals:read"}),
...                 visible_patients=frozenset({"P1"}))
>>> app.has_scope("vitals:read"), app.has_scope("alerts:read")
(True, False)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final, Literal, get_args

from api.exceptions import Forbidden, NotFound

Role = Literal["admin", "clinician", "patient", "app"]
ROLES: Final[tuple[str, ...]] = get_args(Role)

#: Every scope the API knows, with what it allows (shown in the OpenAPI security scheme).
SCOPES: Final[dict[str, str]] = {
    "patients:read": "Read patient records and care-team assignment",
    "patients:write": "Update patient records",
    "devices:read": "List a patient's devices",
    "devices:write": "Enroll and revoke devices",
    "vitals:read": "Read vitals, NEWS2 and FHIR Observations",
    "alerts:read": "Read alerts, their history and the live stream; FHIR Flags",
    "alerts:write": "Acknowledge, resolve, snooze, assign and annotate alerts",
    "thresholds:read": "Read per-patient thresholds and overrides",
    "thresholds:write": "Change per-patient thresholds and overrides",
    "admin": "Manage users, care teams, app clients and patients; read the audit log",
}

#: Scopes an app client can never be granted: administration stays with people.
APP_FORBIDDEN_SCOPES: Final[frozenset[str]] = frozenset({"admin"})

_READ = frozenset({"patients:read", "devices:read", "vitals:read", "alerts:read"})
ROLE_SCOPES: Final[dict[str, frozenset[str]]] = {
    "admin": frozenset(SCOPES),
    "clinician": _READ
    | {"patients:write", "devices:write", "alerts:write", "thresholds:read", "thresholds:write"},
    "patient": _READ | {"thresholds:read"},
    "app": frozenset(),
}


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller of one request.

    Parameters
    ----------
    subject
        Username, or client id for apps.
    role
        One of :data:`ROLES`.
    scopes
        For apps, the granted scopes in the token; ignored for people (their role decides).
    visible_patients
        Patient ids the caller may touch; ``None`` means all (admin).
    patient_id
        For the ``patient`` role, the caller's own patient id.
    teams
        Care teams the caller belongs to (clinician) or is scoped to (app).
    """

    subject: str
    role: Role
    scopes: frozenset[str] = frozenset()
    visible_patients: frozenset[str] | None = field(default=None)
    patient_id: str | None = None
    teams: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if self.role != "admin" and self.visible_patients is None:
            # Only an admin sees everyone; anyone else defaults to no one.
            object.__setattr__(self, "visible_patients", frozenset())

    @property
    def effective_scopes(self) -> frozenset[str]:
        """The scopes this caller holds."""
        if self.role == "app":
            return self.scopes - APP_FORBIDDEN_SCOPES
        return ROLE_SCOPES[self.role]

    def has_scope(self, scope: str) -> bool:
        """Whether the caller holds ``scope``."""
        return scope in self.effective_scopes

    def can_see(self, patient_id: str) -> bool:
        """Whether the caller may touch ``patient_id``'s data."""
        return self.visible_patients is None or patient_id in self.visible_patients


def require_scope(principal: Principal, scope: str) -> None:
    """Raise :class:`Forbidden` unless ``principal`` holds ``scope``.

    Examples
    --------
    >>> require_scope(Principal("p1", "patient", patient_id="P1"), "alerts:write")
    Traceback (most recent call last):
    ...
    api.exceptions.Forbidden: requires scope 'alerts:write'
    """
    if not principal.has_scope(scope):
        raise Forbidden(f"requires scope '{scope}'")


def require_patient(principal: Principal, patient_id: str) -> None:
    """Raise :class:`NotFound` unless ``principal`` may see ``patient_id``.

    Not-visible and non-existent patients give the same answer, so ids cannot be probed.
    """
    if not principal.can_see(patient_id):
        raise NotFound("patient not found")


def restrict_patients(principal: Principal, requested: str | None) -> frozenset[str] | None:
    """Return the patient filter for a list query: ``None`` (no filter) or a set of ids.

    Filtering on a patient the caller cannot see is refused with :class:`NotFound`, exactly
    as a path naming that patient is.

    Examples
    --------
    >>> nurse = Principal("nurse", "clinician", visible_patients=frozenset({"P1", "P2"}))
    >>> sorted(restrict_patients(nurse, None)), restrict_patients(nurse, "P1")
    (['P1', 'P2'], frozenset({'P1'}))
    >>> restrict_patients(nurse, "P9")
    Traceback (most recent call last):
    ...
    api.exceptions.NotFound: patient not found
    >>> restrict_patients(Principal("root", "admin"), None) is None
    True
    """
    if requested is not None:
        require_patient(principal, requested)
        return frozenset({requested})
    return principal.visible_patients
