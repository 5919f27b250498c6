"""The dashboard and integration API (FastAPI): auth, patients, devices, vitals, alerts, FHIR."""

__all__: list[str] = []
