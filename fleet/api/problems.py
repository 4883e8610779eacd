"""RFC 9457 problem details: one table maps every error to a status, a type slug and a title."""

from __future__ import annotations

import re
from dataclasses import dataclass
from http import HTTPStatus
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
from fleet.api.locales import N_, Language
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
    errors.NotFound: ProblemType(404, "not-found", N_("Not found")),
    errors.Conflict: ProblemType(409, "conflict", N_("Conflict with existing data")),
    errors.InvalidInput: ProblemType(422, "invalid-input", N_("Invalid input")),
    errors.Forbidden: ProblemType(403, "forbidden", N_("Forbidden")),
    errors.UnsupportedMediaType: ProblemType(
        415, "unsupported-media-type", N_("Unsupported media type")
    ),
    errors.TooLarge: ProblemType(413, "body-too-large", N_("Request body too large")),
    RateLimitExceeded: ProblemType(429, "rate-limited", N_("Too many requests")),
    errors.PreconditionRequired: ProblemType(428, "precondition-required", N_("If-Match required")),
    errors.PreconditionFailed: ProblemType(412, "precondition-failed", N_("Stale version")),
    ValidationException: ProblemType(422, "validation", N_("Invalid input")),
    NotFoundException: ProblemType(404, "not-found", N_("Not found")),
    MethodNotAllowedException: ProblemType(405, "method-not-allowed", N_("Method not allowed")),
    NotAuthorizedException: ProblemType(401, "unauthorized", N_("Authentication required")),
    PermissionDeniedException: ProblemType(403, "forbidden", N_("Forbidden")),
}
# Other framework errors keep their status; these give them a slug and a title.
BY_STATUS: dict[int, ProblemType] = {
    400: ProblemType(400, "bad-request", N_("Bad request")),
    413: ProblemType(413, "body-too-large", N_("Request body too large")),
    415: ProblemType(415, "unsupported-media-type", N_("Unsupported media type")),
    429: ProblemType(429, "rate-limited", N_("Too many requests")),
}
INTERNAL = ProblemType(500, "internal", N_("Internal error"))
BUSY = ProblemType(503, "busy", N_("Database busy"))
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
        return BY_STATUS.get(status, ProblemType(status, "http-error", N_("Request refused")))
    return INTERNAL


def _reason_phrase(status: int) -> str | None:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return None


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
    exc: Exception,
    instance: str | None,
    request_id: str | None,
    language: Language | None = None,
) -> tuple[dict[str, Any], dict[str, str]]:
    """The problem detail for ``exc`` and the headers that go with it; the title, and the detail
    when it is a fixed sentence, in ``language`` (English without one). Field names, ``type``
    and the details that domain errors give (they name the data) stay as they are."""
    kind = problem_type(exc)
    _ = language.gettext if language is not None else str
    body: dict[str, Any] = {
        "type": TYPE_PREFIX + kind.slug,
        "title": _(kind.title),
        "status": kind.status,
        "instance": instance,
        "request_id": request_id,
    }
    headers: dict[str, str] = {}
    if isinstance(exc, errors.FleetError):
        body["detail"] = exc.detail
        if isinstance(exc.extra.get("message"), str):  # a sentence with a catalogue entry
            body["detail"] = _(exc.extra["message"]) % exc.extra.get("values", {})
        headers.update(exc.extra.get("headers", {}))
        if exc.field:
            body["errors"] = [{"field": exc.field, "message": exc.detail}]
        if isinstance(exc, errors.PreconditionFailed):
            body["current_etag"] = exc.current_etag
            headers["ETag"] = exc.current_etag
    elif isinstance(exc, ValidationException):
        body["errors"] = _validation_errors(exc)
        fields = ", ".join(e["field"] for e in body["errors"] if e["field"]) or "the request"
        body["detail"] = _(N_("invalid value in %(fields)s")) % {"fields": fields}
    elif isinstance(exc, ClientException) and isinstance(exc.__cause__, SerializationException):
        body["detail"] = _(N_("the request body is not valid JSON: %(error)s")) % {
            "error": exc.__cause__
        }
        body["errors"] = [{"field": "body", "source": "body", "message": body["detail"]}]
    elif isinstance(exc, HTTPException):
        # The framework's bare reason phrase ("Not Found") is a fixed sentence: the title says it.
        plain = exc.detail == _reason_phrase(exc.status_code)
        body["detail"] = _(kind.title) if plain else exc.detail
        headers.update(exc.headers or {})
    elif _database_busy(exc):
        body["detail"] = _(
            N_("the database is busy with another write; retry in %(seconds)s s")
        ) % {"seconds": BUSY_RETRY_AFTER_S}
        headers["Retry-After"] = str(BUSY_RETRY_AFTER_S)
    else:
        body["detail"] = _(
            N_("an unexpected error occurred; quote the request id when reporting it")
        )
        log.error("unhandled_error", path=instance, exc_info=exc)
    return body, headers


def request_language(request: Request[Any, Any, Any]) -> Language | None:
    """The language of ``Accept-Language`` among the app's catalogues (none before they load)."""
    catalogues = getattr(request.app.state, "catalogues", None)
    if catalogues is None:
        return None
    language: Language = catalogues.negotiate(request.headers.get("accept-language"))
    return language


def problem_response(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    language = request_language(request)
    body, headers = problem_body(exc, request.url.path, request_id_of(request.scope), language)
    if language is not None:
        headers["Content-Language"] = language.code
    kind = problem_type(exc)
    if kind.status < 500:
        log.info("request_refused", status=kind.status, type=kind.slug, detail=body.get("detail"))
    if body["request_id"]:
        headers["X-Request-ID"] = body["request_id"]
    return Response(body, status_code=kind.status, media_type=PROBLEM_JSON, headers=headers)


EXCEPTION_HANDLERS: dict[type[Exception] | int, Any] = {Exception: problem_response}

__all__ = ["EXCEPTION_HANDLERS", "PROBLEMS", "MediaType", "problem_response"]
