"""RFC 9457 problem details: one table maps every error to a status, a type slug and a title."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from litestar import MediaType, Request, Response
from litestar.exceptions import (
    ClientException,
    HTTPException,
    NotAuthorizedException,
    NotFoundException,
    PermissionDeniedException,
    SerializationException,
    ValidationException,
)
from litestar.exceptions.http_exceptions import MethodNotAllowedException

from fleet import errors
from fleet.api.auth import RateLimitExceeded
from fleet.api.middleware import request_id_of
from fleet.database import is_busy
from fleet.logging import get_logger

PROBLEM_JSON = "application/problem+json"
TYPE_PREFIX = "urn:fleet:problem:"
log = get_logger("fleet.api")


@dataclass(frozen=True)
class ProblemType:
    status: int
    slug: str
    title: str


# The one table: domain errors first, then the framework's own.
PROBLEMS: dict[type[Exception], ProblemType] = {
    errors.NotFound: ProblemType(404, "not-found", "Not found"),
    errors.Conflict: ProblemType(409, "conflict", "Conflict with existing data"),
    errors.InvalidInput: ProblemType(422, "invalid-input", "Invalid input"),
    errors.Forbidden: ProblemType(403, "forbidden", "Forbidden"),
    errors.UnsupportedMediaType: ProblemType(
        415, "unsupported-media-type", "Unsupported media type"
    ),
    errors.TooLarge: ProblemType(413, "body-too-large", "Request body too large"),
    RateLimitExceeded: ProblemType(429, "rate-limited", "Too many requests"),
    errors.PreconditionRequired: ProblemType(428, "precondition-required", "If-Match required"),
    errors.PreconditionFailed: ProblemType(412, "precondition-failed", "Stale version"),
    ValidationException: ProblemType(422, "validation", "Invalid input"),
    NotFoundException: ProblemType(404, "not-found", "Not found"),
    MethodNotAllowedException: ProblemType(405, "method-not-allowed", "Method not allowed"),
    NotAuthorizedException: ProblemType(401, "unauthorized", "Authentication required"),
    PermissionDeniedException: ProblemType(403, "forbidden", "Forbidden"),
}
# Other framework errors keep their status; these give them a slug and a title.
BY_STATUS: dict[int, ProblemType] = {
    400: ProblemType(400, "bad-request", "Bad request"),
    413: ProblemType(413, "body-too-large", "Request body too large"),
    415: ProblemType(415, "unsupported-media-type", "Unsupported media type"),
    429: ProblemType(429, "rate-limited", "Too many requests"),
}
INTERNAL = ProblemType(500, "internal", "Internal error")
BUSY = ProblemType(503, "busy", "Database busy")
BUSY_RETRY_AFTER_S = 2


_database_busy = is_busy


def problem_type(exc: Exception) -> ProblemType:
    if _database_busy(exc):
        return BUSY
    for cls in type(exc).__mro__:
        if cls in PROBLEMS:
            return PROBLEMS[cls]
    if isinstance(exc, HTTPException):
        status = exc.status_code
        return BY_STATUS.get(status, ProblemType(status, "http-error", "Request refused"))
    return INTERNAL


def _header_name(parameter: str) -> str:
    """The header a handler's parameter reads (``last_event_id`` -> ``Last-Event-ID``)."""
    words = [w.upper() if w == "id" else w.capitalize() for w in parameter.split("_")]
    return "-".join(words)


#: Litestar's words for a required parameter that was not sent (it names it in no other way).
MISSING = re.compile(r"^Missing required (\w+) parameter '([^']+)'")


def _validation_errors(exc: ValidationException) -> list[dict[str, Any]]:
    missing = MISSING.match(str(exc.detail))
    if missing is not None and not exc.extra:
        source, name = missing.groups()
        return [{"field": name, "source": source, "message": f"{name} is required"}]
    found = []
    for item in exc.extra if isinstance(exc.extra, list) else []:
        if not isinstance(item, dict):
            continue
        field = str(item.get("key") or "")
        if item.get("source") == "header" and field:
            field = _header_name(field)
        found.append(
            {
                "field": field or None,
                "source": item.get("source", "body"),
                "message": item.get("message"),
            }
        )
    return found


def problem_body(
    exc: Exception, instance: str | None, request_id: str | None
) -> tuple[dict[str, Any], dict[str, str]]:
    """The problem detail for ``exc`` and the headers that go with it."""
    kind = problem_type(exc)
    body: dict[str, Any] = {
        "type": TYPE_PREFIX + kind.slug,
        "title": kind.title,
        "status": kind.status,
        "instance": instance,
        "request_id": request_id,
    }
    headers: dict[str, str] = {}
    if isinstance(exc, errors.FleetError):
        body["detail"] = exc.detail
        headers.update(exc.extra.get("headers", {}))
        if exc.field:
            body["errors"] = [{"field": exc.field, "message": exc.detail}]
        if isinstance(exc, errors.PreconditionFailed):
            body["current_etag"] = exc.current_etag
            headers["ETag"] = exc.current_etag
    elif isinstance(exc, ValidationException):
        body["errors"] = _validation_errors(exc)
        fields = ", ".join(e["field"] for e in body["errors"] if e["field"]) or "the request"
        body["detail"] = f"invalid value in {fields}"
    elif isinstance(exc, ClientException) and isinstance(exc.__cause__, SerializationException):
        body["detail"] = f"the request body is not valid JSON: {exc.__cause__}"
        body["errors"] = [{"field": "body", "source": "body", "message": body["detail"]}]
    elif isinstance(exc, HTTPException):
        body["detail"] = exc.detail
        headers.update(exc.headers or {})
    elif _database_busy(exc):
        body["detail"] = f"the database is busy with another write; retry in {BUSY_RETRY_AFTER_S} s"
        headers["Retry-After"] = str(BUSY_RETRY_AFTER_S)
    else:
        body["detail"] = "an unexpected error occurred; quote the request id when reporting it"
        log.error("unhandled_error", path=instance, exc_info=exc)
    return body, headers


def problem_response(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    body, headers = problem_body(exc, request.url.path, request_id_of(request.scope))
    kind = problem_type(exc)
    if kind.status < 500:
        log.info("request_refused", status=kind.status, type=kind.slug, detail=body.get("detail"))
    if body["request_id"]:
        headers["X-Request-ID"] = body["request_id"]
    return Response(body, status_code=kind.status, media_type=PROBLEM_JSON, headers=headers)


EXCEPTION_HANDLERS: dict[type[Exception] | int, Any] = {Exception: problem_response}

__all__ = ["EXCEPTION_HANDLERS", "PROBLEMS", "MediaType", "problem_response"]
