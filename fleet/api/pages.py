"""How the board's pages are rendered: the Jinja2 environment (every value escaped), the
filters and labels the templates use, the security headers of every page, and errors shown as
pages (or as a sign-in redirect when no valid token came)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from litestar import MediaType, Request, Response, Router
from litestar.datastructures import Cookie
from litestar.exceptions import NotAuthorizedException
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Redirect, Template
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig

from fleet.access import tokens
from fleet.access.roles import allowed
from fleet.api import formats
from fleet.api.auth import SESSION_COOKIE
from fleet.api.locales import LANG_COOKIE, LANG_COOKIE_DAYS, Catalogues, Language
from fleet.api.problems import problem_body, problem_response, problem_type
from fleet.models import utcnow
from fleet.probes.status import CONNECTED, DEGRADED, DISCONNECTED, MAINTENANCE, UNKNOWN
from fleet.settings import Settings

PACKAGE = Path(__file__).resolve().parents[1]
TEMPLATES = PACKAGE / "templates"
STATIC = PACKAGE / "static"

SITE_STATES = (DISCONNECTED, DEGRADED, UNKNOWN, MAINTENANCE, CONNECTED)  # worst first
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
PAGE_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


# --- templates ------------------------------------------------------------------------


def _iso(value: datetime | None) -> str:
    return value.isoformat() if value is not None else ""


def may_plan(user: tokens.Principal | None) -> bool:
    """Whether the signed-in token may use the planner's workspace (the navigation's link)."""
    return user is not None and allowed(user.role, "plan:read", scoped=user.scope is not None)


def template_config() -> TemplateConfig[JinjaTemplateEngine]:
    environment = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    formats.install(environment)
    environment.filters.update(iso=_iso)
    environment.globals.update(site_states=SITE_STATES, may_plan=may_plan)
    return TemplateConfig(instance=JinjaTemplateEngine.from_environment(environment))


def static_files_router() -> Router:
    return create_static_files_router(
        path="/static", directories=[STATIC], opt={"exclude_from_auth": True}
    )


def _language_links(request: Request[Any, Any, Any], catalogues: Catalogues) -> list[Any]:
    """The picker: this page again in each language (``?lang=``, the rest of the query kept)."""
    query = [(k, v) for k, v in request.query_params.multi_items() if k != "lang"]
    links = []
    for language in catalogues.languages.values():
        href = request.url.path + "?" + urlencode([*query, ("lang", language.code)])
        links.append((language, href))
    return links


def page_language(request: Request[Any, Any, Any]) -> tuple[Language, bool]:
    """The page's language and whether it was picked now (``?lang=``, to keep in the cookie)."""
    catalogues: Catalogues = request.app.state.catalogues
    picked = catalogues.get(request.query_params.get("lang"))
    if picked is not None:
        return picked, True
    return catalogues.for_page(request.cookies, request.headers.get("accept-language")), False


def page(name: str, request: Request[Any, Any, Any], status: int = 200, **context: Any) -> Template:
    """Render ``name`` in the page's language; a language picked with ``?lang=`` is kept in the
    ``fleet_lang`` cookie for the pages that follow."""
    user = request.scope.get("user")
    settings: Settings = request.app.state.settings
    language, picked = page_language(request)
    cookies = []
    if picked:
        cookies.append(
            Cookie(
                key=LANG_COOKIE,
                value=language.code,
                max_age=LANG_COOKIE_DAYS * 86400,
                path="/",
                secure=settings.cookie_secure,
                samesite="lax",
            )
        )
    return Template(
        name,
        context={
            "user": user if isinstance(user, tokens.Principal) else None,
            "page": name.removesuffix(".html"),
            "generated_at": utcnow(),
            "heartbeat_s": settings.stream_heartbeat_s,
            "simulated": settings.simulated,
            "language": language,
            "languages": _language_links(request, request.app.state.catalogues),
            **context,
        },
        status_code=status,
        headers={**PAGE_HEADERS, "Content-Language": language.code},
        cookies=cookies,
        media_type=MediaType.HTML,
    )


# --- errors on pages ------------------------------------------------------------------


def _wants_html(request: Request[Any, Any, Any]) -> bool:
    accept = request.headers.get("accept", "")
    return "text/html" in accept or not accept or accept == "*/*"


def local_target(target: str | None) -> str:
    """``target`` when it is a path on this server, else the board (no open redirects)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    if any(ord(c) < 32 or ord(c) == 127 for c in target):
        return "/"
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc else "/"


def page_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """Errors on pages: a sign-in redirect when no valid token came, else an HTML page (or the
    problem detail for clients that do not ask for HTML)."""
    if isinstance(exc, NotAuthorizedException):
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        redirect = Redirect(f"/signin?next={quote(path, safe='')}", status_code=303)
        if SESSION_COOKIE in request.cookies:
            redirect.delete_cookie(SESSION_COOKIE)
        return redirect
    if not _wants_html(request):
        return problem_response(request, exc)
    language, _ = page_language(request)
    request_id = request.scope.get("state", {}).get("request_id")
    body, _ = problem_body(exc, request.url.path, request_id, language)
    return page("error.html", request, problem_type(exc).status, problem=body)
