"""Request and response models of the HTTP API (pydantic), one module per resource.

They are the API's contract: separate from the storage records (:mod:`alerts.store`,
:mod:`ingest.registry`) and built from them by ``from_*`` constructors, so storage can change
without changing what clients see.
"""

__all__: list[str] = []
