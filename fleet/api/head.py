"""HEAD on every GET route: the request runs as a GET and the answer keeps its status and headers
but not its body (uptime checkers, load balancers and ``curl -I`` use HEAD)."""

from __future__ import annotations

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, ReceiveMessage, Scope, Send


def head_as_get(app: ASGIApp) -> ASGIApp:
    async def handler(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP or scope["method"] != "HEAD":
            await app(scope, receive, send)
            return
        answered = False

        async def receive_until_answered() -> ReceiveMessage:
            if answered:  # a stream ends: nobody reads its body
                return {"type": "http.disconnect"}
            return await receive()

        async def send_without_body(message: Message) -> None:
            nonlocal answered
            if message["type"] == "http.response.start":
                await send(message)
            elif message["type"] == "http.response.body" and not answered:
                answered = True
                await send({"type": "http.response.body", "body": b"", "more_body": False})

        scope["method"] = "GET"
        await app(scope, receive_until_answered, send_without_body)

    return handler
