"""Request id middleware: takes a sane ``X-Request-ID`` or makes one, binds it for the change log
and every log line, returns it on the response, and logs one line per request."""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

from litestar.datastructures import MutableScopeHeaders
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from fleet import context
from fleet.logging import get_logger

_SANE = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
log = get_logger("fleet.api")


def request_id_of(scope: Scope) -> str:
    """The request's id: the one already given to it, a sane ``X-Request-ID``, or a new one.

    Errors raised before any route is found (unknown path, wrong method) call this too."""
    state = scope.setdefault("state", {})
    if not state.get("request_id"):
        given = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"x-request-id"), "")
        state["request_id"] = given if _SANE.match(given) else uuid.uuid4().hex
    request_id: str = state["request_id"]
    return request_id


def request_id_middleware(app: ASGIApp) -> ASGIApp:
    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        request_id = request_id_of(scope)
        context.request_id.set(request_id)
        context.actor.set("api")
        status: dict[str, Any] = {}
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                headers = MutableScopeHeaders.from_message(message)
                if "x-request-id" not in headers:
                    headers["X-Request-ID"] = request_id
            await send(message)

        try:
            await app(scope, receive, send_with_id)
        finally:
            log.info(
                "request",
                method=scope.get("method"),
                path=scope.get("path"),
                status=status.get("code"),
                ms=round((time.perf_counter() - started) * 1000, 1),
            )

    return middleware
