"""FHIR R4 mapping of vitals and alerts: plain dicts in, FHIR JSON resources out.

Pure: no web framework, database or Kafka import, so the mapping is testable on its own and
reusable by any exporter. Vitals become ``Observation`` resources conforming to the HL7 FHIR
vital-signs profiles (LOINC codes, UCUM units); alerts become ``Flag`` resources; results are
wrapped in ``searchset`` Bundles; errors become ``OperationOutcome`` resources.

Vitals read from rollups are averages over an interval; they carry an ``effectivePeriod``
covering it (the profile allows a period) rather than pretending to be a point measurement.

References
----------
HL7 FHIR R4 Vital Signs profile, http://hl7.org/fhir/R4/observation-vitalsigns.html;
FHIR R4 Flag, http://hl7.org/fhir/R4/flag.html; LOINC, https://loinc.org;
UCUM, https://ucum.org.

Examples
--------
>>> from datetime import UTC, datetime
>>> t = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
>>> obs = vital_observations("P0001", t, {"hr": 72.0, "sbp": 121.0, "dbp": 79.0})
>>> [o["code"]["coding"][0]["code"] for o in obs]
['8867-4', '85354-9']
>>> obs[0]["valueQuantity"]
{'value': 72.0, 'unit': 'beats/minute', 'system': 'http://unitsofmeasure.org', 'code': '/min'}
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

LOINC: Final = "http://loinc.org"
UCUM: Final = "http://unitsofmeasure.org"
OBSERVATION_CATEGORY: Final = "http://terminology.hl7.org/CodeSystem/observation-category"
DATA_ABSENT: Final = "http://terminology.hl7.org/CodeSystem/data-absent-reason"
FLAG_CATEGORY: Final = "http://terminology.hl7.org/CodeSystem/flag-category"
FLAG_PRIORITY_EXT: Final = "http://hl7.org/fhir/StructureDefinition/flag-priority"
FLAG_PRIORITY_CODES: Final = "http://hl7.org/fhir/flag-priority-code"
ALERT_KIND_SYSTEM: Final = "urn:vigil:alert-kind"
ALERT_ID_SYSTEM: Final = "urn:vigil:alert-id"
PROFILE: Final = "http://hl7.org/fhir/StructureDefinition/"

JSON = dict[str, Any]


@dataclass(frozen=True, slots=True)
class VitalCode:
    """How one vital sign is coded: LOINC codings (first is the profile's), unit, profile."""

    codings: tuple[tuple[str, str], ...]
    unit: str
    ucum: str
    profile: str


#: Sample channel -> coding. SpO2 carries the pulse-oximetry code 59408-5 next to 2708-6,
#: which the oxygensat profile requires; temperature is body temperature, 8310-5.
VITALS: Final[dict[str, VitalCode]] = {
    "hr": VitalCode((("8867-4", "Heart rate"),), "beats/minute", "/min", "heartrate"),
    "rr": VitalCode((("9279-1", "Respiratory rate"),), "breaths/minute", "/min", "resprate"),
    "spo2": VitalCode(
        (
            ("2708-6", "Oxygen saturation in Arterial blood"),
            ("59408-5", "Oxygen saturation in Arterial blood by Pulse oximetry"),
        ),
        "%",
        "%",
        "oxygensat",
    ),
    "temp": VitalCode((("8310-5", "Body temperature"),), "C", "Cel", "bodytemp"),
}
BP_PANEL: Final = ("85354-9", "Blood pressure panel with all children optional")
BP_COMPONENTS: Final = {
    "sbp": ("8480-6", "Systolic blood pressure"),
    "dbp": ("8462-4", "Diastolic blood pressure"),
}

#: LOINC code -> the sample channels it selects (for the ``code`` search parameter).
CODE_TO_CHANNELS: Final[dict[str, frozenset[str]]] = {
    **{code: frozenset({ch}) for ch, vc in VITALS.items() for code, _ in vc.codings},
    BP_PANEL[0]: frozenset({"sbp", "dbp"}),
    **{code: frozenset({ch}) for ch, (code, _) in BP_COMPONENTS.items()},
}
CHANNELS: Final[frozenset[str]] = frozenset(VITALS) | frozenset(BP_COMPONENTS)

_SEVERITY_PRIORITY: Final = {
    "info": ("PN", "No alarm"),
    "low": ("PL", "Low priority"),
    "medium": ("PM", "Medium priority"),
    "high": ("PH", "High priority"),
    "critical": ("PH", "High priority"),
}
_ID_OK = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")


def fhir_instant(ts: datetime) -> str:
    """Format an aware datetime as a FHIR ``instant`` in UTC.

    Examples
    --------
    >>> fhir_instant(datetime(2024, 5, 1, 8, 0, 0, 250000, tzinfo=UTC))
    '2024-05-01T08:00:00.250Z'
    """
    if ts.tzinfo is None:
        raise ValueError("FHIR instants need a timezone")
    utc = ts.astimezone(UTC)
    frac = f".{utc.microsecond // 1000:03d}" if utc.microsecond else ""
    return utc.strftime("%Y-%m-%dT%H:%M:%S") + frac + "Z"


def resource_id(*parts: str) -> str:
    """A FHIR-legal id (``[A-Za-z0-9-.]{1,64}``): the parts joined if legal, else a hash.

    Examples
    --------
    >>> resource_id("P0001", "hr", "1714550400")
    'P0001-hr-1714550400'
    >>> len(resource_id("patient with spaces", "hr"))
    40
    """
    joined = "-".join(parts)
    if _ID_OK.match(joined):
        return joined
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:40]


def _patient_ref(patient_id: str) -> JSON:
    return {"reference": f"Patient/{resource_id(patient_id)}", "display": patient_id}


_MINUTE: Final = timedelta(minutes=1)


def _effective(ts: datetime, period: timedelta | None) -> JSON:
    if period is None:
        return {"effectiveDateTime": fhir_instant(ts)}
    return {"effectivePeriod": {"start": fhir_instant(ts), "end": fhir_instant(ts + period)}}


def _quantity(value: float, unit: str, ucum: str) -> JSON:
    return {"value": round(float(value), 2), "unit": unit, "system": UCUM, "code": ucum}


def _base(
    patient_id: str, channel: str, ts: datetime, profile: str, period: timedelta | None
) -> JSON:
    parts = [patient_id, channel, str(int(ts.timestamp()))]
    if period is not None and period > _MINUTE:
        # a 5-minute or hourly average starting on the same instant as a 1-minute one is
        # another Observation, with another value: another id
        parts.append(f"{int(period.total_seconds())}s")
    return {
        "resourceType": "Observation",
        "id": resource_id(*parts),
        "meta": {"profile": [PROFILE + "vitalsigns", PROFILE + profile]},
        "status": "final",
        "category": [
            {
                "coding": [
                    {
                        "system": OBSERVATION_CATEGORY,
                        "code": "vital-signs",
                        "display": "Vital Signs",
                    }
                ],
                "text": "Vital Signs",
            }
        ],
    }


def vital_observations(
    patient_id: str,
    ts: datetime,
    values: Mapping[str, float | None],
    *,
    period: timedelta | None = None,
    channels: Iterable[str] | None = None,
) -> list[JSON]:
    """Map one time point of vitals to vital-signs ``Observation`` resources.

    Parameters
    ----------
    patient_id
        The patient (becomes ``subject``).
    ts
        When the values were measured, or the start of the rollup interval.
    values
        Channel -> value; channels outside :data:`CHANNELS` and ``None`` values are skipped.
    period
        Length of the rollup interval the values summarise, if any.
    channels
        Restrict to these channels (e.g. from a ``code`` search).

    Examples
    --------
    >>> t = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
    >>> bp = vital_observations("P1", t, {"sbp": 120.0})[0]
    >>> [c["code"]["coding"][0]["code"] for c in bp["component"]]
    ['8480-6', '8462-4']
    >>> "dataAbsentReason" in bp["component"][1]
    True
    """
    wanted = CHANNELS if channels is None else frozenset(channels) & CHANNELS
    out: list[JSON] = []
    for channel, vc in VITALS.items():
        value = values.get(channel)
        if channel not in wanted or value is None:
            continue
        obs = _base(patient_id, channel, ts, vc.profile, period)
        obs["code"] = {
            "coding": [{"system": LOINC, "code": c, "display": d} for c, d in vc.codings],
            "text": vc.codings[0][1],
        }
        obs["subject"] = _patient_ref(patient_id)
        obs.update(_effective(ts, period))
        obs["valueQuantity"] = _quantity(value, vc.unit, vc.ucum)
        out.append(obs)
    if any(values.get(ch) is not None and ch in wanted for ch in BP_COMPONENTS):
        out.append(_bp_observation(patient_id, ts, values, period))
    return out


def _bp_observation(
    patient_id: str, ts: datetime, values: Mapping[str, float | None], period: timedelta | None
) -> JSON:
    obs = _base(patient_id, "bp", ts, "bp", period)
    obs["code"] = {
        "coding": [{"system": LOINC, "code": BP_PANEL[0], "display": BP_PANEL[1]}],
        "text": "Blood pressure",
    }
    obs["subject"] = _patient_ref(patient_id)
    obs.update(_effective(ts, period))
    components: list[JSON] = []
    for channel, (code, display) in BP_COMPONENTS.items():
        component: JSON = {
            "code": {
                "coding": [{"system": LOINC, "code": code, "display": display}],
                "text": display,
            }
        }
        value = values.get(channel)
        if value is None:
            component["dataAbsentReason"] = {
                "coding": [{"system": DATA_ABSENT, "code": "unknown", "display": "Unknown"}]
            }
        else:
            component["valueQuantity"] = _quantity(value, "mmHg", "mm[Hg]")
        components.append(component)
    obs["component"] = components
    return obs


def alert_flag(alert: Mapping[str, Any]) -> JSON:
    """Map an alert (its JSON form plus lifecycle ``status``) to a FHIR ``Flag``.

    Reads ``alert_id``, ``patient_id``, ``category``, ``kind``, ``severity``, ``message``,
    ``started_at`` and optionally ``status`` and ``resolved_at`` (ISO strings or datetimes).
    Resolved alerts are ``inactive`` with the period closed at resolution.

    Examples
    --------
    >>> f = alert_flag({"alert_id": "a1", "patient_id": "P1", "category": "clinical",
    ...                 "kind": "news2", "severity": "high", "message": "NEWS2 7",
    ...                 "started_at": "2024-05-01T08:00:00Z", "status": "open"})
    >>> f["status"], f["category"][0]["coding"][0]["code"], f["period"]
    ('active', 'clinical', {'start': '2024-05-01T08:00:00Z'})
    """
    status = str(alert.get("status") or "open")
    category = str(alert.get("category") or "clinical")
    severity = str(alert.get("severity") or "info")
    kind = str(alert.get("kind") or "alert")
    period: JSON = {"start": fhir_instant(_as_datetime(alert["started_at"]))}
    if status == "resolved" and alert.get("resolved_at"):
        period["end"] = fhir_instant(_as_datetime(alert["resolved_at"]))
    cat_code, cat_display = (
        ("clinical", "Clinical") if category == "clinical" else ("admin", "Administrative")
    )
    prio_code, prio_display = _SEVERITY_PRIORITY.get(severity, ("PN", "No alarm"))
    return {
        "resourceType": "Flag",
        "id": resource_id(str(alert["alert_id"])),
        "extension": [
            {
                "url": FLAG_PRIORITY_EXT,
                "valueCodeableConcept": {
                    "coding": [
                        {"system": FLAG_PRIORITY_CODES, "code": prio_code, "display": prio_display}
                    ],
                    "text": severity,
                },
            }
        ],
        "identifier": [{"system": ALERT_ID_SYSTEM, "value": str(alert["alert_id"])}],
        "status": "inactive" if status == "resolved" else "active",
        "category": [
            {
                "coding": [{"system": FLAG_CATEGORY, "code": cat_code, "display": cat_display}],
                "text": category,
            }
        ],
        "code": {
            "coding": [{"system": ALERT_KIND_SYSTEM, "code": kind}],
            "text": str(alert.get("message") or kind),
        },
        "subject": _patient_ref(str(alert["patient_id"])),
        "period": period,
    }


def searchset(
    resources: Sequence[JSON], *, base_url: str, self_url: str, next_url: str | None = None
) -> JSON:
    """Wrap ``resources`` in a FHIR ``searchset`` Bundle.

    Examples
    --------
    ``total`` (the number of matches) is given when this page holds them all; with a
    ``next`` page it is left out rather than count only this page.

    >>> b = searchset([], base_url="http://x/fhir/r4", self_url="http://x/fhir/r4/Flag")
    >>> b["type"], b["total"], b["link"][0]["relation"]
    ('searchset', 0, 'self')
    >>> "total" in searchset([], base_url="x", self_url="x", next_url="x?page=2")
    False
    """
    links = [{"relation": "self", "url": self_url}]
    if next_url is not None:
        links.append({"relation": "next", "url": next_url})
    bundle: JSON = {"resourceType": "Bundle", "type": "searchset"}
    if next_url is None:
        bundle["total"] = len(resources)
    return {
        **bundle,
        "link": links,
        "entry": [
            {
                "fullUrl": f"{base_url}/{r['resourceType']}/{r['id']}",
                "resource": r,
                "search": {"mode": "match"},
            }
            for r in resources
        ],
    }


#: HTTP status -> OperationOutcome issue type (FHIR R4 IssueType value set).
_ISSUE_TYPES: Final = {
    400: "invalid",
    401: "login",
    403: "forbidden",
    404: "not-found",
    405: "not-supported",
    409: "conflict",
    412: "conflict",
    422: "invalid",
    503: "transient",
}


def operation_outcome(status: int, diagnostics: str, details: Iterable[str] = ()) -> JSON:
    """An ``OperationOutcome`` for an error response: one issue, plus one per ``details``.

    Examples
    --------
    >>> oo = operation_outcome(404, "patient not found")
    >>> oo["resourceType"], oo["issue"][0]["code"], oo["issue"][0]["diagnostics"]
    ('OperationOutcome', 'not-found', 'patient not found')
    """
    code = _ISSUE_TYPES.get(status, "exception")
    return {
        "resourceType": "OperationOutcome",
        "issue": [
            {"severity": "error", "code": code, "diagnostics": text}
            for text in (diagnostics, *details)
        ],
    }


def _as_datetime(value: object) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float):
        return datetime.fromtimestamp(float(value), tz=UTC)
    ts = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)
