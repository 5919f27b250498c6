"""Devices: a patient's devices, enrolment (returns MQTT credentials once) and revocation."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Path, Response, status

from api.deps import (
    PATIENT_ID_PATTERN,
    AuditDep,
    DevicesReader,
    DevicesWriter,
    PatientId,
    PatientsDep,
    ServicesDep,
)
from api.exceptions import Conflict, NotFound
from api.problems import problem_responses
from api.schemas.patients import DeviceCredentialsOut, DeviceIn, DeviceOut
from api.services import Services
from ingest.exceptions import RegistryError
from ingest.payload import device_topic

logger = logging.getLogger(__name__)

router = APIRouter(tags=["devices"])


def _sync_broker(services: Services) -> None:
    if services.device_sync is not None:
        try:
            services.device_sync()
        except Exception:  # the registry is updated; the broker catches up at the next sync
            logger.exception("pushing device credentials to the broker failed")


@router.get(
    "/patients/{patient_id}/devices",
    response_model=list[DeviceOut],
    summary="List a patient's devices",
    responses=problem_responses(401, 403, 404, 422),
)
def list_devices(
    patient_id: PatientId, principal: DevicesReader, patients: PatientsDep
) -> list[DeviceOut]:
    """Every enrolment of a device to the patient, newest first."""
    return [DeviceOut.from_view(d) for d in patients.devices(patient_id)]


@router.post(
    "/patients/{patient_id}/devices",
    response_model=DeviceCredentialsOut,
    status_code=status.HTTP_201_CREATED,
    summary="Enroll a device",
    responses=problem_responses(400, 401, 403, 404, 409, 422),
)
def enroll_device(
    patient_id: PatientId,
    body: DeviceIn,
    principal: DevicesWriter,
    services: ServicesDep,
    audit: AuditDep,
    response: Response,
) -> DeviceCredentialsOut:
    """Register a new device to the patient and return its MQTT credentials.

    The password is generated, stored only as a hash, and shown in this response only:
    configure the device with it now.
    """
    if services.patients.device_patient(body.device_id) is not None:
        raise Conflict("device already exists")
    try:
        creds = services.registry.add_device(body.device_id, patient_id)
    except RegistryError as exc:
        raise Conflict("device could not be registered") from exc
    audit.record(principal.subject, "device.enroll", patient_id=patient_id, target=body.device_id)
    _sync_broker(services)
    response.headers["Cache-Control"] = "no-store"
    return DeviceCredentialsOut(
        device_id=body.device_id,
        patient_id=patient_id,
        mqtt_username=creds.username,
        mqtt_password=creds.password,
        mqtt_topic=device_topic(body.device_id),
    )


@router.post(
    "/devices/{device_id}/revoke",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Revoke a device",
    responses=problem_responses(401, 403, 404, 422),
)
def revoke_device(
    device_id: Annotated[str, Path(pattern=PATIENT_ID_PATTERN, examples=["watch-0001"])],
    principal: DevicesWriter,
    services: ServicesDep,
    audit: AuditDep,
) -> Response:
    """Revoke the device's credentials and end its enrolment now (idempotent)."""
    patient_id = services.patients.device_patient(device_id)
    if patient_id is None or not principal.can_see(patient_id):
        raise NotFound("device not found")
    try:
        services.registry.revoke_device(device_id)
    except RegistryError as exc:
        raise NotFound("device not found") from exc
    audit.record(principal.subject, "device.revoke", patient_id=patient_id, target=device_id)
    _sync_broker(services)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
