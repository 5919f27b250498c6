"""Post-processing of the generated OpenAPI document, so it says what the API really does.

FastAPI documents validation errors as ``application/json`` ``HTTPValidationError``; Vigil
answers every error as RFC 9457 ``application/problem+json``. :func:`tidy_openapi` rewrites
each error response to the :class:`~api.problems.Problem` schema under that media type, adds
the 401/403 responses every secured operation can give and the 400 of an unparseable body,
and drops the unused FastAPI error schemas. Schemathesis checks responses against this
document, so it must be exact.

Examples
--------
>>> doc = {"paths": {"/x": {"get": {"security": [{"OAuth2": []}],
...        "responses": {"200": {"description": "OK"}}}}},
...        "components": {"schemas": {}}}
>>> sorted(tidy_openapi(doc)["paths"]["/x"]["get"]["responses"])
['200', '401', '403']
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from api.problems import PROBLEM_MEDIA_TYPE, FieldError, Problem

__all__ = ["tidy_openapi"]

_PROBLEM_REF = "#/components/schemas/Problem"
_FASTAPI_ERRORS = ("HTTPValidationError", "ValidationError")
_METHODS = ("get", "put", "post", "delete", "patch", "head", "options")


def _problem(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": _PROBLEM_REF}}},
    }


def _is_error_schema(response: dict[str, Any]) -> bool:
    content = response.get("content")
    if not content:
        return True
    refs = {str(media.get("schema", {}).get("$ref", "")) for media in content.values()}
    return any(ref.endswith(("/Problem", "/HTTPValidationError")) for ref in refs)


def tidy_openapi(doc: dict[str, Any]) -> dict[str, Any]:
    """Rewrite ``doc`` in place (and return it): problem+json errors, complete 401/403."""
    for item in doc.get("paths", {}).values():
        for method in _METHODS:
            op = item.get(method)
            if op is None:
                continue
            responses: dict[str, Any] = op.setdefault("responses", {})
            if op.get("security"):
                for code in ("401", "403"):
                    responses.setdefault(code, {"description": HTTPStatus(int(code)).phrase})
            if op.get("requestBody"):  # a body that is not JSON at all
                responses.setdefault("400", {"description": "Bad Request"})
            for code, response in list(responses.items()):
                if code.isdigit() and int(code) >= 400 and _is_error_schema(response):
                    description = response.get("description") or HTTPStatus(int(code)).phrase
                    if code == "422":
                        description = "Validation Error"
                    responses[code] = _problem(description)
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    for name in _FASTAPI_ERRORS:
        schemas.pop(name, None)
    schemas["Problem"] = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    problem_defs = schemas["Problem"].pop("$defs", {})
    schemas.update(problem_defs)
    schemas.setdefault("FieldError", FieldError.model_json_schema())
    return doc
