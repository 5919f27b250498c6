"""How people and apps read Vigil: the HTTP API (FastAPI) and its FHIR R4 face.

:func:`api.main.create_app` builds the app from injectable collaborators (registry, stores,
alert bus, config publisher, readiness probes). Routes (:mod:`api.routes`, one per resource)
stay thin: they authorise through :mod:`api.deps` (roles and scopes in :mod:`api.access`,
tokens and passwords in :mod:`api.security`), call the stores and account queries
(:mod:`api.accounts`), and answer with the models of :mod:`api.schemas`; every error is an
RFC 9457 problem (:mod:`api.problems`). :mod:`api.fhir` is the pure FHIR mapping,
:mod:`api.live` the SSE hub and alert buses.
"""

__all__ = ["create_app"]


def __getattr__(name: str) -> object:
    # Lazy, so importing a submodule (the CLI, the pure FHIR mapping) does not build FastAPI.
    if name == "create_app":
        from api.main import create_app

        return create_app
    raise AttributeError(name)
