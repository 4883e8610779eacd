"""HEAD on every GET route: the request runs as a GET and the answer keeps its status and headers
but not its body (uptime checkers, load balancers and ``curl -I`` use HEAD)."""

from __future__ import annotations

import re

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, ReceiveMessage, Scope, Send

_TYPED = re.compile(r"\{(\w+):\w+\}")  # "/sites/{code:str}" is routed as "/sites/{code}"


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


def allow_as_routed(app: ASGIApp, methods: dict[str, set[str]]) -> ASGIApp:
    """OPTIONS answers ``Allow`` with every method of the path's route (``methods``, by path
    template), HEAD included where GET is: the framework's own answer lists only the methods of
    the handlers that were declared first on a path."""

    methods = {_TYPED.sub(r"{\1}", path): known for path, known in methods.items()}

    async def handler(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP or scope["method"] != "OPTIONS":
            await app(scope, receive, send)
            return

        async def send_allow(message: Message) -> None:
            known = methods.get(str(scope.get("path_template", "")))
            if message["type"] == "http.response.start" and known:
                allowed = known | ({"HEAD"} if "GET" in known else set())
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"allow"]
                headers.append((b"allow", ", ".join(sorted(allowed)).encode()))
                message = {**message, "headers": headers}
            await send(message)

        await app(scope, receive, send_allow)

    return handler
