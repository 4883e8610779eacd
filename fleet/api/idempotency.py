"""``Idempotency-Key`` on POST: the first response is stored and replayed, byte for byte, to
retries of the same token with the same request; the work is not done again."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from fleet.access import idempotency
from fleet.access.tokens import Principal
from fleet.database import Database
from fleet.errors import TooLarge
from fleet.settings import Settings

HEADER = b"idempotency-key"
NOT_REPLAYED = {
    "x-request-id",
    "ratelimit-limit",
    "ratelimit-remaining",
    "ratelimit-reset",
    "ratelimit-policy",
    "date",
    "server",
}


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """The whole body, or None when the client went away before sending all of it. Any body
    (JSON, a file's bytes, or one sent to a route that takes none) is refused once it is over
    ``limit``, so that a key never makes the service hold more than a route would."""
    chunks = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunks.append(message.get("body", b""))
        size += len(chunks[-1])
        if size > limit:
            raise TooLarge(f"the request body is larger than {limit} bytes", field="body")
        if not message.get("more_body", False):
            return b"".join(chunks)


def _key_and_principal(scope: Scope) -> tuple[str, Principal] | None:
    """The key and the token of a POST that sends one, else None (the request runs as is)."""
    key = next((v for k, v in scope.get("headers", []) if k == HEADER), None)
    principal = scope.get("user")
    if (
        scope["type"] != ScopeType.HTTP
        or scope.get("method") != "POST"
        or key is None
        or not isinstance(principal, Principal)
    ):
        return None
    return key.decode("latin-1").strip(), principal


async def _send_stored(send: Send, stored: idempotency.Stored) -> None:
    headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in stored.headers]
    headers.append((b"idempotent-replayed", b"true"))
    await send({"type": "http.response.start", "status": stored.status, "headers": headers})
    await send({"type": "http.response.body", "body": stored.body, "more_body": False})


class _Capture:
    """Passes the response on to the client and keeps a copy of it to replay."""

    def __init__(self, send: Send) -> None:
        self.send = send
        self.status = 500
        self.headers: list[list[str]] = []
        self.body: list[bytes] = []

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            self.headers = [
                [k.decode("latin-1"), v.decode("latin-1")]
                for k, v in message.get("headers", [])
                if k.decode("latin-1").lower() not in NOT_REPLAYED
            ]
        elif message["type"] == "http.response.body":
            self.body.append(message.get("body", b""))
        await self.send(message)

    def stored(self) -> idempotency.Stored:
        return idempotency.Stored(self.status, self.headers, b"".join(self.body))


def _receive_once(body: bytes) -> Receive:
    """The body already read, handed to the app as one message (then a disconnect)."""
    sent = False

    async def receive() -> Any:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


def idempotency_middleware(app: ASGIApp) -> ASGIApp:
    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        found = _key_and_principal(scope)
        if found is None:
            await app(scope, receive, send)
            return
        key, principal = found
        idempotency.check_key(key)
        state = scope["litestar_app"].state
        db: Database = state.db
        settings: Settings = state.settings
        handler = scope.get("route_handler")
        raw = bool(getattr(handler, "opt", {}).get("raw_body"))
        body = await _read_body(
            receive, settings.attachment_max_bytes if raw else settings.max_body_bytes
        )
        if body is None:
            return  # nobody to answer: claim nothing and run nothing, so that a retry is honest
        digest = idempotency.request_hash(
            scope["path"].encode(), scope.get("query_string", b""), body
        )
        stored = await idempotency.claim(
            db, principal.token_id, key, digest, timedelta(hours=settings.idempotency_ttl_hours)
        )
        if stored is not None:
            await _send_stored(send, stored)
            return
        capture = _Capture(send)
        try:
            with idempotency.running(principal.token_id, key):
                await app(scope, _receive_once(body), capture)
        except BaseException:
            await idempotency.release(db, principal.token_id, key)
            raise
        if capture.status >= 500:
            await idempotency.release(db, principal.token_id, key)
            return
        await idempotency.complete(db, principal.token_id, key, capture.stored())

    return middleware
