"""One router per resource; :mod:`api.main` includes them under ``/api/v1`` or ``/fhir/r4``."""

__all__: list[str] = []
