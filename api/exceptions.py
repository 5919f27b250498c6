"""Errors the API raises on purpose; each maps to one RFC 9457 problem response.

Hierarchy::

    vigil.exceptions.VigilError
    └── ApiError                    anything the API refuses; carries an HTTP status
        ├── BadRequest              400  the request is well formed but makes no sense
        ├── NotAuthenticated        401  no, expired or malformed credentials
        ├── Forbidden               403  authenticated, but not allowed to do this
        ├── NotFound                404  no such resource, or not one the caller may see
        ├── Conflict                409  the resource exists or is in the wrong state
        ├── PreconditionFailed      412  ``If-Match`` names a version that is no longer current
        └── ServiceUnavailable      503  a backing service (Kafka, InfluxDB, registry) is down

Routes raise these; :mod:`api.problems` turns them into ``application/problem+json``.
A patient's data the caller may not see is reported as :class:`NotFound`, never as
:class:`Forbidden`, so responses do not reveal which patient ids exist.
"""

from __future__ import annotations

from vigil.exceptions import VigilError


class ApiError(VigilError):
    """Base class of API errors.

    Parameters
    ----------
    detail
        Human-readable explanation for this occurrence (no patient data, no internals).
    title
        Short summary of the problem type; defaults to the class's :attr:`title`.

    Examples
    --------
    >>> err = NotFound("patient not found")
    >>> err.status, err.title, err.detail
    (404, 'Not Found', 'patient not found')
    """

    status: int = 400
    title: str = "Bad Request"

    def __init__(
        self, detail: str, *, title: str | None = None, oauth_error: str | None = None
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        if title is not None:
            self.title = title
        #: RFC 6749 section 5.2 error code, for token-endpoint problems.
        self.oauth_error = oauth_error


class BadRequest(ApiError):
    """The request is syntactically valid but cannot be honoured."""


class NotAuthenticated(ApiError):
    """Missing, expired or invalid credentials (HTTP 401)."""

    status = 401
    title = "Unauthorized"


class Forbidden(ApiError):
    """The caller is known but lacks the role or scope (HTTP 403)."""

    status = 403
    title = "Forbidden"


class NotFound(ApiError):
    """No such resource, or none the caller may see (HTTP 404)."""

    status = 404
    title = "Not Found"


class Conflict(ApiError):
    """The resource already exists or is in a state that forbids the change (HTTP 409)."""

    status = 409
    title = "Conflict"


class PreconditionFailed(ApiError):
    """The resource changed since the version the client based its update on (HTTP 412)."""

    status = 412
    title = "Precondition Failed"


class ServiceUnavailable(ApiError):
    """A backing service did not answer (HTTP 503)."""

    status = 503
    title = "Service Unavailable"
