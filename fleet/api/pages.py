"""How the board's pages are rendered: the Jinja2 environment (every value escaped), the
filters and labels the templates use, the security headers of every page, and errors shown as
pages (or as a sign-in redirect when no valid token came)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from litestar import MediaType, Request, Response, Router
from litestar.exceptions import NotAuthorizedException
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Redirect, Template
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig

from fleet.access import tokens
from fleet.access.roles import allowed
from fleet.api.auth import SESSION_COOKIE
from fleet.api.problems import problem_body, problem_response, problem_type
from fleet.inventory.choices import SiteKind
from fleet.models import utcnow
from fleet.probes.choices import DEVICE_STATES, State
from fleet.probes.status import CONNECTED, DEGRADED, DISCONNECTED, MAINTENANCE, UNKNOWN
from fleet.settings import Settings

PACKAGE = Path(__file__).resolve().parents[1]
TEMPLATES = PACKAGE / "templates"
STATIC = PACKAGE / "static"

SITE_STATES = (DISCONNECTED, DEGRADED, UNKNOWN, MAINTENANCE, CONNECTED)  # worst first
STATE_LABELS = {
    CONNECTED: "Connected",
    DEGRADED: "Degraded",
    DISCONNECTED: "Disconnected",
    MAINTENANCE: "Maintenance",
    UNKNOWN: "Unknown",
    State.up: "Up",
    State.down: "Down",
    State.unreachable: "Unreachable",
}
KIND_LABELS = {
    SiteKind.hq: "Headquarters",
    SiteKind.national_bureau: "National bureau",
    SiteKind.regional_bureau: "Regional bureau",
    SiteKind.border_crossing_land: "Land border crossing",
    SiteKind.border_crossing_air: "Airport border crossing",
    SiteKind.border_crossing_sea: "Seaport border crossing",
}
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


def _ago(value: datetime | None) -> str:
    if value is None:
        return "never"
    seconds = max(0, int((utcnow() - value).total_seconds()))
    if seconds < 60:
        return "just now"
    minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400
    if days:
        return f"{days} d {hours % 24} h ago"
    if hours:
        return f"{hours} h {minutes % 60} min ago"
    return f"{minutes} min ago"


def _utc(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value is not None else ""


def _iso(value: datetime | None) -> str:
    return value.isoformat() if value is not None else ""


def _link_text(link: dict[str, Any] | None) -> str:
    if not link:
        return "none"
    return f"{link['role']} {link['medium']} ({link['circuit_id']})"


def _device_text(devices: dict[str, int]) -> str:
    parts = [f"{devices[s]} {s}" for s in DEVICE_STATES if devices.get(s)]
    return " · ".join(parts) if parts else "none probed"


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
    environment.filters.update(
        ago=_ago,
        utc=_utc,
        iso=_iso,
        state_label=lambda s: STATE_LABELS.get(s, str(s).capitalize()),
        kind_label=lambda k: KIND_LABELS.get(k, str(k)),
        link_text=_link_text,
        device_text=_device_text,
    )
    environment.globals.update(site_states=SITE_STATES, kind_labels=KIND_LABELS, may_plan=may_plan)
    return TemplateConfig(instance=JinjaTemplateEngine.from_environment(environment))


def static_files_router() -> Router:
    return create_static_files_router(
        path="/static", directories=[STATIC], opt={"exclude_from_auth": True}
    )


def page(name: str, request: Request[Any, Any, Any], status: int = 200, **context: Any) -> Template:
    user = request.scope.get("user")
    settings: Settings = request.app.state.settings
    return Template(
        name,
        context={
            "user": user if isinstance(user, tokens.Principal) else None,
            "page": name.removesuffix(".html"),
            "generated_at": utcnow(),
            "heartbeat_s": settings.stream_heartbeat_s,
            "simulated": settings.simulated,
            **context,
        },
        status_code=status,
        headers=PAGE_HEADERS,
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
    body, _ = problem_body(exc, request.url.path, request.scope.get("state", {}).get("request_id"))
    return page("error.html", request, problem_type(exc).status, problem=body)
