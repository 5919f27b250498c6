"""RFC 9457 problem details: every error leaves the API as ``application/problem+json``.

The handlers installed by :func:`install_problem_handlers` cover the API's own errors
(:mod:`api.exceptions`), request validation, unknown routes and methods, and anything
unexpected, which is logged with its traceback server-side and answered with a bare 500 that
reveals nothing.

A FHIR client (one that asks for ``application/fhir+json``, by ``Accept`` or ``_format``)
gets the FHIR routes' errors as an ``OperationOutcome`` instead, with the same status and
headers: FHIR clients parse error bodies as that resource.

References
----------
RFC 9457, Problem Details for HTTP APIs (2023); FHIR R4 RESTful API, errors,
https://hl7.org/fhir/R4/http.html.
"""

from __future__ import annotations

import json
import logging
import traceback
from collections.abc import Awaitable, Callable, Mapping, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.exceptions import ApiError
from api.fhir import operation_outcome
from api.schemas.fhir import FhirJSONResponse

logger = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"
VALIDATION_TYPE = "urn:vigil:problem:validation-error"


class FieldError(BaseModel):
    """One invalid field of a request."""

    loc: list[str | int] = Field(description="Where the error is, e.g. ['query', 'limit'].")
    msg: str
    type: str


class Problem(BaseModel):
    """An RFC 9457 problem details object."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "type": "about:blank",
                    "title": "Not Found",
                    "status": 404,
                    "detail": "patient not found",
                    "instance": "/api/v1/patients/P0042",
                }
            ]
        }
    )

    type: str = Field(default="about:blank", description="URI identifying the problem type.")
    title: str = Field(description="Short, human-readable summary of the problem type.")
    status: int = Field(ge=400, le=599, description="The HTTP status code.")
    detail: str | None = Field(default=None, description="Explanation of this occurrence.")
    instance: str | None = Field(default=None, description="The request path.")
    errors: list[FieldError] | None = Field(
        default=None, description="For validation problems: each invalid field."
    )
    error: str | None = Field(
        default=None,
        description="For token-endpoint problems: the OAuth 2.0 error code (RFC 6749 5.2).",
    )


def problem_response(
    status: int,
    *,
    title: str | None = None,
    detail: str | None = None,
    instance: str | None = None,
    type_: str = "about:blank",
    errors: Sequence[Mapping[str, Any]] | None = None,
    headers: Mapping[str, str] | None = None,
    oauth_error: str | None = None,
) -> JSONResponse:
    """Build a problem+json response.

    Examples
    --------
    >>> import json
    >>> r = problem_response(404, detail="patient not found")
    >>> r.status_code, r.media_type, json.loads(r.body)["title"]
    (404, 'application/problem+json', 'Not Found')
    """
    body: dict[str, Any] = {
        "type": type_,
        "title": title or HTTPStatus(status).phrase,
        "status": status,
    }
    if detail is not None:
        body["detail"] = detail
    if instance is not None:
        body["instance"] = instance
    if errors is not None:
        body["errors"] = list(errors)
    if oauth_error is not None:
        body["error"] = oauth_error
    hdrs = dict(headers or {})
    if status == 401:
        hdrs.setdefault("WWW-Authenticate", 'Bearer realm="vigil"')
    return JSONResponse(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=hdrs)


def _field_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    # Never echo the offending input: it may be a password or a patient's vitals.
    return [
        {
            "loc": [p if isinstance(p, int) else str(p) for p in err.get("loc", ())],
            "msg": str(err.get("msg", "")),
            "type": str(err.get("type", "")),
        }
        for err in exc.errors()
    ]


async def _api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)  # noqa: S101 - registered for ApiError only
    return problem_response(
        exc.status,
        title=exc.title,
        detail=exc.detail,
        instance=request.url.path,
        oauth_error=exc.oauth_error,
    )


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)  # noqa: S101 - registered for it only
    return problem_response(
        422,
        title="Validation Error",
        detail=_validation_detail(request, exc),
        instance=request.url.path,
        type_=VALIDATION_TYPE,
        errors=_field_errors(exc),
    )


def _validation_detail(request: Request, exc: RequestValidationError) -> str:
    """The summary line; a JSON body sent as something else gets told what to send."""
    whole_body = any(tuple(err.get("loc", ())) == ("body",) for err in exc.errors())
    content_type = request.headers.get("content-type", "")
    if whole_body and content_type and "json" not in content_type:
        return f"the body must be JSON (Content-Type: application/json), not {content_type[:60]}"
    return "the request did not validate"


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)  # noqa: S101 - registered for it only
    detail = exc.detail if isinstance(exc.detail, str) else None
    return problem_response(
        exc.status_code, detail=detail, instance=request.url.path, headers=exc.headers
    )


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    # The traceback without the exception's message: messages may quote data (a store's
    # error echoing a query, a value that failed to convert), and logs carry ids only.
    frames = "".join(traceback.format_tb(exc.__traceback__))
    logger.error(
        "unhandled %s on %s %s\n%s", type(exc).__name__, request.method, request.url.path, frames
    )
    return problem_response(500, detail="internal error", instance=request.url.path)


Handler = Callable[[Request, Exception], Awaitable[Response]]


def _wants_fhir(request: Request, fhir_prefix: str) -> bool:
    path = request.url.path
    if path != fhir_prefix and not path.startswith(fhir_prefix + "/"):
        return False
    fmt = request.query_params.get("_format", "").lower()
    # FHIR's _format=json means FHIR JSON (R4 http.html, "Content Types and encodings").
    return "fhir" in request.headers.get("accept", "").lower() or "fhir" in fmt or fmt == "json"


def for_fhir_clients(handler: Handler, fhir_prefix: str) -> Handler:
    """``handler``, answering a FHIR client's request under ``fhir_prefix`` with an
    ``OperationOutcome`` (``application/fhir+json``) carrying the problem's status and text.
    """

    async def negotiated(request: Request, exc: Exception) -> Response:
        response = await handler(request, exc)
        if not _wants_fhir(request, fhir_prefix) or not isinstance(response, JSONResponse):
            return response
        problem = json.loads(bytes(response.body))
        fields = [
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}"
            for err in problem.get("errors") or ()
        ]
        headers = {
            k: v
            for k, v in response.headers.items()
            if k.lower() not in ("content-length", "content-type")
        }
        outcome = operation_outcome(
            response.status_code, str(problem.get("detail") or problem.get("title")), fields
        )
        return FhirJSONResponse(outcome, status_code=response.status_code, headers=headers)

    return negotiated


def install_problem_handlers(app: FastAPI, *, fhir_prefix: str | None = None) -> None:
    """Route every error of ``app`` through problem+json (FHIR clients under ``fhir_prefix``:
    OperationOutcome)."""
    handlers: list[tuple[type[Exception], Handler]] = [
        (ApiError, _api_error),
        (RequestValidationError, _validation_error),
        (StarletteHTTPException, _http_error),
        (Exception, _unexpected_error),
    ]
    for exc_type, handler in handlers:
        if fhir_prefix is not None:
            handler = for_fhir_clients(handler, fhir_prefix)
        app.add_exception_handler(exc_type, handler)


#: OpenAPI ``responses`` entries for the errors any authenticated route can return.
def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI response declarations (problem+json) for ``statuses``."""
    return {
        status: {
            "model": Problem,
            "description": HTTPStatus(status).phrase,
            "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for status in statuses
    }
