"""The root of Vigil's exception hierarchy.

Every error Vigil raises on purpose derives from :class:`VigilError`, so a caller can catch
"anything Vigil refused" in one clause. Each package adds its own branch in its own
``exceptions.py``::

    VigilError
    ├── ConfigurationError          (vigil.exceptions)
    ├── ingest.exceptions.IngestError
    │   ├── SampleRejected          (a sample failed validation; carries the reason)
    │   └── RegistryError
    ├── stream.exceptions.StreamError
    ├── alerts.exceptions.AlertsError
    │   └── StoreError
    └── api.exceptions.ApiError
"""


class VigilError(Exception):
    """Base class of every error Vigil raises on purpose."""


class ConfigurationError(VigilError):
    """Settings are missing, inconsistent or unsafe for the environment."""
