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


async def _read_body(receive: Receive) -> bytes | None:
    """The whole body, or None when the client went away before sending all of it."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def idempotency_middleware(app: ASGIApp) -> ASGIApp:
    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        key_bytes = next((v for k, v in scope.get("headers", []) if k == HEADER), None)
        principal = scope.get("user")
        if (
            scope["type"] != ScopeType.HTTP
            or scope.get("method") != "POST"
            or key_bytes is None
            or not isinstance(principal, Principal)
        ):
            await app(scope, receive, send)
            return
        key = key_bytes.decode("latin-1").strip()
        idempotency.check_key(key)
        state = scope["litestar_app"].state
        db: Database = state.db
        settings: Settings = state.settings
        body = await _read_body(receive)
        if body is None:
            return  # nobody to answer: claim nothing and run nothing, so that a retry is honest
        digest = idempotency.request_hash(
            scope["path"].encode(), scope.get("query_string", b""), body
        )
        stored = await idempotency.claim(
            db, principal.token_id, key, digest, timedelta(hours=settings.idempotency_ttl_hours)
        )
        if stored is not None:
            headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in stored.headers]
            headers.append((b"idempotent-replayed", b"true"))
            await send({"type": "http.response.start", "status": stored.status, "headers": headers})
            await send({"type": "http.response.body", "body": stored.body, "more_body": False})
            return

        sent = False

        async def replay_body() -> Any:
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        captured: dict[str, Any] = {"status": 500, "headers": [], "body": []}

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                captured["status"] = message["status"]
                captured["headers"] = [
                    [k.decode("latin-1"), v.decode("latin-1")]
                    for k, v in message.get("headers", [])
                    if k.decode("latin-1").lower() not in NOT_REPLAYED
                ]
            elif message["type"] == "http.response.body":
                captured["body"].append(message.get("body", b""))
            await send(message)

        try:
            await app(scope, replay_body, capture)
        except BaseException:
            await idempotency.release(db, principal.token_id, key)
            raise
        if captured["status"] >= 500:
            await idempotency.release(db, principal.token_id, key)
            return
        await idempotency.complete(
            db,
            principal.token_id,
            key,
            idempotency.Stored(captured["status"], captured["headers"], b"".join(captured["body"])),
        )

    return middleware
