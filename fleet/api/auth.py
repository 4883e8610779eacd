"""Authentication (bearer tokens), the role guard and per-token rate limits.

Every route under ``/api/v1`` except the health check needs ``Authorization: Bearer <token>``.
A refused authentication is answered 401 and recorded as an audit event (without the secret).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

from litestar.connection import ASGIConnection
from litestar.datastructures import MutableScopeHeaders
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from fleet import context
from fleet.access import audit, rate_windows, tokens
from fleet.access.roles import allowed
from fleet.database import Database
from fleet.errors import FleetError
from fleet.models import utcnow
from fleet.settings import Settings

PUBLIC_PATHS = [
    "^/schema",
    "^/api/v1/health$",
    "^/signin$",
    "^/signout$",
    "^/static/",
    "^/metrics$",
]
LAST_USED_EVERY_S = 60
# The board's sign-in cookie holds the token. It is taken on reads only (and only without an
# Authorization header), so a page elsewhere cannot make a signed-in browser change anything;
# the exceptions are the field app's writes (below) and a form of the planner's workspace or of
# the board (a POST under ``/plan/`` or ``/board/``), which must carry the page's anti-forgery
# field (``fleet.api.plan_forms``) or is refused before it acts.
SESSION_COOKIE = "fleet_session"
COOKIE_METHODS = ("GET", "HEAD")
#: Where the session cookie may authenticate a form's POST (each form carries the page's
#: anti-forgery field): the planner's workspace and the board's acknowledgements.
COOKIE_FORMS = ("/plan/", "/board/")


def takes_cookie(method: str | None, path: str) -> bool:
    """Whether the session cookie may authenticate a request of ``method`` on ``path``."""
    return method in COOKIE_METHODS or (method == "POST" and path.startswith(COOKIE_FORMS))


# The field app (a page of this server) writes with the cookie too: only with this header, which
# a page elsewhere cannot send without a CORS preflight that fleet never grants, and only from
# this origin as the browser names it.
FIELD_CLIENT_HEADER = "x-fleet-client"
FIELD_CLIENT = "field"


def _same_origin_app(connection: ASGIConnection[Any, Any, Any, Any]) -> bool:
    """Whether a write comes from the field app's page on this server."""
    headers = connection.headers
    if headers.get(FIELD_CLIENT_HEADER) != FIELD_CLIENT:
        return False
    site = headers.get("sec-fetch-site")
    if site is not None and site != "same-origin":
        return False
    origin = headers.get("origin")
    if origin is None:
        return site == "same-origin"
    return origin.partition("://")[2] == headers.get("host", "")


class TokenAuthMiddleware(AbstractAuthenticationMiddleware):
    _last_used: dict[int, float] = {}

    async def authenticate_request(
        self, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> AuthenticationResult:
        db: Database = connection.app.state.db
        header = connection.headers.get("authorization", "")
        scheme, _, secret = header.partition(" ")
        secret = secret.strip()
        if not header and (
            takes_cookie(str(connection.scope.get("method")), connection.scope["path"])
            or _same_origin_app(connection)
        ):
            secret = connection.cookies.get(SESSION_COOKIE, "").strip()
            scheme = "bearer" if secret else ""
        if scheme.lower() != "bearer" or not secret:
            await audit.record(db, "auth_failed", connection, reason="no bearer token")
            raise NotAuthorizedException(
                "an API token is required: send 'Authorization: Bearer <token>'",
                headers={"WWW-Authenticate": 'Bearer realm="fleet"'},
            )
        async with db.session() as session:
            try:
                token = await tokens.authenticate(session, secret)
            except tokens.Refused as refused:
                reason = str(refused)
            else:
                reason = ""
        if reason:
            await audit.record(
                db, "auth_failed", connection, reason=reason, token_prefix=secret[:10]
            )
            raise NotAuthorizedException(
                "the API token is unknown, disabled or expired",
                headers={"WWW-Authenticate": 'Bearer realm="fleet", error="invalid_token"'},
            )
        principal = tokens.principal(token)
        await self._touch(db, principal.token_id)
        context.actor.set(principal.name)
        context.actor_role.set(principal.role.value)
        return AuthenticationResult(user=principal, auth=principal.token_id)

    async def _touch(self, db: Database, token_id: int) -> None:
        """Record the token's last use, at most once a minute (a write per request would queue
        every reader behind SQLite's single writer)."""
        now = time.monotonic()
        if now - self._last_used.get(token_id, -math.inf) < LAST_USED_EVERY_S:
            return
        self._last_used[token_id] = now
        if not await tokens.touch(db, token_id, utcnow()):
            self._last_used.pop(token_id, None)  # the database was busy: a later request records it


def permission_guard(
    connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
) -> None:
    """Let a request through when its token's role holds the route's permission."""
    if handler.opt.get("exclude_from_auth") or connection.scope.get("method") == "OPTIONS":
        return  # public routes, and the framework's OPTIONS answers (they show no data)
    permission = handler.opt.get("permission")
    principal: tokens.Principal = connection.user
    if permission is None:
        raise PermissionDeniedException("this route has no permission declared")
    if not allowed(principal.role, permission, scoped=principal.scope is not None):
        limited = " with country limits" if principal.scope is not None else ""
        raise PermissionDeniedException(
            f"the role {principal.role.value}{limited} may not do {permission}"
        )


@dataclass
class _Window:
    start: float
    count: int = 0


@dataclass
class RateLimiter:
    """A fixed one-minute window per token, in this process (SQLite: one process serves the
    database; on PostgreSQL the processes share ``fleet.access.rate_windows``)."""

    windows: dict[int, _Window] = field(default_factory=dict)

    def take(self, token_id: int, limit: int, now: float) -> tuple[bool, int, int]:
        """Count one request; returns (allowed, remaining, seconds until the window resets)."""
        window = self.windows.get(token_id)
        if window is None or now - window.start >= 60:
            window = self.windows[token_id] = _Window(start=now)
        reset = max(1, math.ceil(window.start + 60 - now))
        if window.count >= limit:
            return False, 0, reset
        window.count += 1
        return True, limit - window.count, reset


class RateLimitExceeded(FleetError):
    code = "rate-limited"


def rate_limit_middleware(app: ASGIApp) -> ASGIApp:
    limiter = RateLimiter()

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        principal = scope.get("user")
        if not isinstance(principal, tokens.Principal):
            await app(scope, receive, send)
            return
        settings: Settings = scope["litestar_app"].state.settings
        limit = principal.rate_limit_per_minute
        if limit is None:
            limit = settings.rate_limit_per_minute
        if limit == 0:
            await app(scope, receive, send)
            return
        db: Database = scope["litestar_app"].state.db
        if db.sqlite:
            ok, remaining, reset = limiter.take(principal.token_id, limit, time.monotonic())
        else:
            ok, remaining, reset = await rate_windows.take(
                db, principal.token_id, limit, time.time()
            )
        headers = {
            "RateLimit-Limit": str(limit),
            "RateLimit-Remaining": str(remaining),
            "RateLimit-Reset": str(reset),
            "RateLimit-Policy": f"{limit};w=60",
        }
        if not ok:
            raise RateLimitExceeded(
                f"more than {limit} requests a minute; retry in {reset} s",
                headers={**headers, "Retry-After": str(reset)},
            )

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                response_headers = MutableScopeHeaders.from_message(message)
                for name, value in headers.items():
                    response_headers[name] = value
            await send(message)

        await app(scope, receive, send_with_headers)

    return middleware
