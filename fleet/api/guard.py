"""One place where API input is checked before any route sees it.

Query strings, path parameters and headers must not hold a NUL character (PostgreSQL cannot
store one; SQLite's LIKE stops at it). A JSON body must be sent as JSON, arrive whole within
the size limit and the read timeout, parse strictly (no duplicate keys, no NaN), nest at most
``MAX_DEPTH`` levels and hold no NUL in its text.
A raw body (a route with ``opt={"raw_body": True}``: an uploaded file) is not read here but
counted as the route reads it: refused (413) as soon as it is over ``attachment_max_bytes``, or
at once when its Content-Length says so, and given ``attachment_read_timeout_s`` to arrive.
Each refusal is a 4xx problem detail naming the field.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import parse_qsl

from litestar.enums import ScopeType
from litestar.exceptions import ClientException, HTTPException
from litestar.types import ASGIApp, Receive, Scope, Send

from fleet.errors import InvalidInput, TooLarge
from fleet.settings import Settings

MAX_DEPTH = 32
API_PREFIX = "/api/v1"
WITH_BODY = ("POST", "PUT", "PATCH")


class BodyRefused(ClientException):
    """A body that is not read (400, or the status given)."""


def _refuse(detail: str, status: int = 400) -> HTTPException:
    exc = BodyRefused(detail=detail)
    exc.status_code = status
    return exc


def check_text(value: str, field: str) -> None:
    if "\x00" in value:
        raise InvalidInput("a NUL character is not allowed", field=field)


def _check_url(scope: Scope) -> None:
    raw = scope.get("query_string", b"").decode("latin-1")
    for name, value in parse_qsl(raw, keep_blank_values=True):
        check_text(name, name.replace("\x00", ""))
        check_text(value, name)
    for name, value in (scope.get("path_params") or {}).items():
        if isinstance(value, str):
            check_text(value, name)
    check_text(scope.get("path", ""), "path")
    for header, raw_value in scope.get("headers", []):
        if b"\x00" in raw_value:
            raise InvalidInput("a NUL character is not allowed", field=header.decode("latin-1"))


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _refuse(f"the request body names the key {key!r} twice")
        result[key] = value
    return result


def _constant(name: str) -> Any:
    raise _refuse(f"the request body is not valid JSON: {name} is not a number")


def check_document(body: bytes) -> None:
    """Parse ``body`` strictly and walk it: depth, NUL characters (naming the field)."""
    try:
        document = json.loads(body, object_pairs_hook=_pairs, parse_constant=_constant)
    except RecursionError:
        raise _refuse(f"the request body nests deeper than {MAX_DEPTH} levels") from None
    except (ValueError, UnicodeDecodeError):
        return  # not JSON: the framework's decoder names the problem
    stack: list[tuple[Any, str, int]] = [(document, "", 1)]
    while stack:
        value, where, depth = stack.pop()
        if isinstance(value, dict | list):
            if depth > MAX_DEPTH:
                raise _refuse(f"the request body nests deeper than {MAX_DEPTH} levels")
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, item in items:
                if isinstance(key, str):
                    check_text(key, where or "body")
                stack.append((item, f"{where}.{key}" if where else str(key), depth + 1))
        elif isinstance(value, str):
            check_text(value, where or "body")


async def _read(receive: Receive, limit: int) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _refuse(f"the request body is larger than {limit} bytes", 413)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _takes_json(scope: Scope) -> bool:
    handler = scope.get("route_handler")
    signature = getattr(handler, "parsed_fn_signature", None)
    return signature is not None and "data" in signature.parameters


def _takes_raw(scope: Scope) -> bool:
    handler = scope.get("route_handler")
    return bool(getattr(handler, "opt", {}).get("raw_body"))


def _too_large(limit: int) -> TooLarge:
    return TooLarge(f"the file is larger than {limit} bytes", field="body")


def bounded(scope: Scope, receive: Receive, limit: int, timeout_s: float) -> Receive:
    """``receive`` that refuses a body over ``limit`` bytes as soon as it is (before reading it,
    when Content-Length says so) and one that takes longer than ``timeout_s`` to arrive."""
    declared = next((v for k, v in scope.get("headers", []) if k == b"content-length"), None)
    if declared is not None and declared.strip().isdigit() and int(declared) > limit:
        raise _too_large(limit)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    size = 0
    whole = False

    async def guarded() -> Any:
        nonlocal size, whole
        if whole:
            return await receive()
        try:
            async with asyncio.timeout(max(deadline - loop.time(), 0)):
                message = await receive()
        except TimeoutError:
            raise _refuse(
                f"the request body did not arrive whole within {timeout_s:g} s", 408
            ) from None
        if message["type"] == "http.request":
            size += len(message.get("body", b""))
            if size > limit:
                raise _too_large(limit)
            whole = not message.get("more_body", False)
        return message

    return guarded


def input_guard_middleware(app: ASGIApp) -> ASGIApp:
    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP or not scope.get("path", "").startswith(API_PREFIX):
            await app(scope, receive, send)
            return
        _check_url(scope)
        if scope.get("method") in WITH_BODY and _takes_raw(scope):
            settings_: Settings = scope["litestar_app"].state.settings
            limit, timeout_s = settings_.attachment_max_bytes, settings_.attachment_read_timeout_s
            await app(scope, bounded(scope, receive, limit, timeout_s), send)
            return
        if scope.get("method") not in WITH_BODY or not _takes_json(scope):
            await app(scope, receive, send)
            return
        settings: Settings = scope["litestar_app"].state.settings
        kind = next((v for k, v in scope["headers"] if k == b"content-type"), b"")
        media = kind.split(b";")[0].strip().lower()
        if media and media != b"application/json" and not media.endswith(b"+json"):
            raise _refuse("send the request body as application/json", 415)
        try:
            async with asyncio.timeout(settings.body_read_timeout_s):
                body = await _read(receive, settings.max_body_bytes)
        except TimeoutError:
            seconds = f"{settings.body_read_timeout_s:g}"
            raise _refuse(
                f"the request body did not arrive whole within {seconds} s", 408
            ) from None
        if body is None:
            return  # the client left before its body arrived: nothing to answer, nothing run
        if not body.strip():
            raise _refuse("the request body is empty; send a JSON document")
        check_document(body)
        sent = False

        async def replay() -> Any:
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        await app(scope, replay, send)

    return middleware
