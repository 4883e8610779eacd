"""Signing in to the board: a token given once on a form, kept in a secure, http-only cookie
that is accepted on reads only."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, Response, get, post
from litestar.datastructures import Cookie
from litestar.params import Parameter
from litestar.response import Redirect, Template

from fleet.access import audit, tokens
from fleet.api.auth import SESSION_COOKIE
from fleet.api.locales import N_
from fleet.api.pages import local_target, page
from fleet.database import Database
from fleet.models import utcnow
from fleet.settings import Settings

PUBLIC_OPT = {"exclude_from_auth": True}


@get("/signin", name="signin", opt=PUBLIC_OPT, include_in_schema=False)
async def signin_form(
    request: Request[Any, Any, Any],
    target: Annotated[str | None, Parameter(query="next", required=False)] = None,
) -> Template:
    return page("signin.html", request, next=local_target(target), error=None)


@post("/signin", opt=PUBLIC_OPT, include_in_schema=False, status_code=303)
async def signin(
    request: Request[Any, Any, Any], db: Database, settings: Settings
) -> Response[Any]:
    """Check the token and keep it in an http-only cookie; the cookie is accepted only on GET
    and HEAD requests, so it can read the board but never change anything."""
    form = await request.form()
    secret = str(form.get("token", "")).strip()
    target = local_target(str(form.get("next", "/")))
    reason = "no token given"
    token = None
    if secret:
        async with db.session() as session:
            try:
                token = await tokens.authenticate(session, secret)
            except tokens.Refused as refused:
                reason = str(refused)
    if token is None:
        await audit.record(
            db, "auth_failed", request, reason=f"sign-in: {reason}", token_prefix=secret[:10]
        )
        return page(
            "signin.html",
            request,
            401,
            next=target,
            error=N_("That token is unknown, disabled or expired."),
        )
    max_age = int(settings.signin_days * 86400)
    if token.expires_at is not None:
        max_age = max(1, min(max_age, int((token.expires_at - utcnow()).total_seconds())))
    response: Response[Any] = Redirect(target, status_code=303)
    response.set_cookie(
        Cookie(
            key=SESSION_COOKIE,
            value=secret,
            max_age=max_age,
            path="/",
            secure=settings.cookie_secure,
            httponly=True,
            samesite="lax",
        )
    )
    return response


@post("/signout", opt=PUBLIC_OPT, include_in_schema=False, status_code=303)
async def signout() -> Response[Any]:
    response: Response[Any] = Redirect("/signin", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response
