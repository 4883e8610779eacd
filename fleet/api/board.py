"""The status board, a site's page and the map: pages rendered on the server (Jinja2, every value
escaped) that need a viewer token, given once on a sign-in page and then kept in a secure,
http-only cookie. Scripts and styles come from ``/static`` and nothing is fetched from anywhere
else; the Content-Security-Policy tells the browser so too. The pages work without the script;
with it they follow the status stream and say when their data is stale.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlsplit

import sqlalchemy as sa
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from litestar import MediaType, Request, Response, Router, get, post
from litestar.datastructures import Cookie
from litestar.exceptions import NotAuthorizedException
from litestar.params import Parameter
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Redirect, Template
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig
from sqlmodel import col

from fleet.access import audit, tokens
from fleet.api.auth import SESSION_COOKIE, permission_guard
from fleet.api.deps import principal_of
from fleet.api.geo import STATE_CODES, MapView
from fleet.api.problems import problem_body, problem_response, problem_type
from fleet.api.status import SITES, _scoped_sites, _site_headline
from fleet.api.stream import latest_event_id
from fleet.database import Database
from fleet.errors import NotFound
from fleet.inventory.choices import SiteKind
from fleet.inventory.models import Country, Device, DeviceModel, Link, Site
from fleet.models import utcnow
from fleet.pagination import ListParams, apply
from fleet.probes.models import ObjectStatus, ProbeResult, StateEvent
from fleet.probes.status import CONNECTED, DEGRADED, DISCONNECTED, MAINTENANCE, UNKNOWN
from fleet.settings import Settings
from fleet.upgrades.models import Gap, WorkOrder

PACKAGE = Path(__file__).resolve().parents[1]
TEMPLATES = PACKAGE / "templates"
STATIC = PACKAGE / "static"
MAX_SITES = 10_000
RECENT = 25

SITE_STATES = (DISCONNECTED, DEGRADED, UNKNOWN, MAINTENANCE, CONNECTED)  # worst first
STATE_LABELS = {
    CONNECTED: "Connected",
    DEGRADED: "Degraded",
    DISCONNECTED: "Disconnected",
    MAINTENANCE: "Maintenance",
    UNKNOWN: "Unknown",
    "up": "Up",
    "down": "Down",
    "unreachable": "Unreachable",
}
DEVICE_STATES = ("up", "degraded", "down", "unreachable", "maintenance", "unknown")
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
    environment.globals.update(site_states=SITE_STATES, kind_labels=KIND_LABELS)
    return TemplateConfig(instance=JinjaTemplateEngine.from_environment(environment))


def static_files_router() -> Router:
    return create_static_files_router(
        path="/static", directories=[STATIC], opt={"exclude_from_auth": True}
    )


def _page(
    name: str, request: Request[Any, Any, Any], status: int = 200, **context: Any
) -> Template:
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


def _local(target: str | None) -> str:
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
    return _page("error.html", request, problem_type(exc).status, problem=body)


# --- data -----------------------------------------------------------------------------


async def _site_rows(
    request: Request[Any, Any, Any], db: Database, filters: dict[str, str]
) -> list[dict[str, Any]]:
    statement, _, _ = apply(
        _scoped_sites(request),
        SITES,
        ListParams(filters=filters, limit=MAX_SITES),
        max_limit=MAX_SITES,
    )
    async with db.session() as session:
        rows = (await session.execute(statement)).all()
    return [_site_headline(row) for row in rows]


async def _country_names(request: Request[Any, Any, Any], db: Database) -> dict[str, str]:
    statement = sa.select(col(Country.code), col(Country.name)).order_by(col(Country.code))
    scope = principal_of(request).scope
    if scope is not None:
        statement = statement.where(col(Country.code).in_(sorted(scope)))
    async with db.session() as session:
        return dict((await session.execute(statement)).all())


async def _recent_events(
    request: Request[Any, Any, Any],
    db: Database,
    *,
    site_id: int | None = None,
    countries: list[str] | None = None,
    limit: int = RECENT,
) -> list[dict[str, Any]]:
    statement = (
        sa.select(StateEvent, col(Site.code))
        .outerjoin(Site, col(Site.id) == col(StateEvent.site_id))
        .order_by(col(StateEvent.id).desc())
        .limit(limit)
    )
    scope = principal_of(request).scope
    if scope is not None:
        statement = statement.where(col(StateEvent.country_code).in_(sorted(scope)))
    if countries:
        statement = statement.where(col(StateEvent.country_code).in_(countries))
    if site_id is not None:
        statement = statement.where(col(StateEvent.site_id) == site_id)
    async with db.session() as session:
        rows = (await session.execute(statement)).all()
    return [
        {
            "id": event.id,
            "at": event.at,
            "object_type": event.object_type,
            "object_key": event.object_key,
            "site": code,
            "old_state": event.old_state,
            "new_state": event.new_state,
            "cause": event.cause,
        }
        for event, code in rows
    ]


def _filters(country: str | None, kind: str | None, state: str | None) -> dict[str, str]:
    return {
        name: value.strip()
        for name, value in (("country", country), ("kind", kind), ("state", state))
        if value and value.strip()
    }


def _common(filters: dict[str, str], countries: dict[str, str], last_id: int) -> dict[str, Any]:
    return {
        "filters": filters,
        "countries": countries,
        "kinds": [k.value for k in SiteKind],
        "last_event_id": last_id,
    }


# --- pages ----------------------------------------------------------------------------

PAGE_OPT = {"permission": "status:read"}
StateFilter = Annotated[str | None, Parameter(query="state", required=False)]


@get("/", name="board", opt=PAGE_OPT, include_in_schema=False)
async def board(
    request: Request[Any, Any, Any],
    db: Database,
    country: str | None = None,
    kind: str | None = None,
    state_filter: StateFilter = None,
) -> Template:
    filters = _filters(country, kind, state_filter)
    last_id = await latest_event_id(db)  # before the reads: what follows is replayed
    sites = await _site_rows(request, db, filters)
    names = await _country_names(request, db)
    order = {s: i for i, s in enumerate(SITE_STATES)}
    groups: dict[str, list[dict[str, Any]]] = {}
    for site in sorted(sites, key=lambda s: (order.get(s["state"], 9), s["code"])):
        groups.setdefault(site["country"], []).append(site)
    counts = Counter(s["state"] for s in sites)
    events = await _recent_events(
        request, db, countries=filters["country"].split(",") if "country" in filters else None
    )
    return _page(
        "board.html",
        request,
        groups=[(code, names.get(code, code), groups[code]) for code in sorted(groups)],
        counts={s: counts.get(s, 0) for s in SITE_STATES},
        total=len(sites),
        events=events,
        **_common(filters, names, last_id),
    )


@get("/map", name="map", opt=PAGE_OPT, include_in_schema=False)
async def site_map(
    request: Request[Any, Any, Any],
    db: Database,
    country: str | None = None,
    kind: str | None = None,
    state_filter: StateFilter = None,
) -> Template:
    filters = _filters(country, kind, state_filter)
    last_id = await latest_event_id(db)
    sites = await _site_rows(request, db, filters)
    names = await _country_names(request, db)
    view = MapView.around([(s["longitude"], s["latitude"]) for s in sites])
    counts = Counter(s["state"] for s in sites)
    return _page(
        "map.html",
        request,
        sites=sites,
        view=view,
        outlines=view.outlines(),
        labels=view.labels(set(names)),
        graticule=view.graticule(),
        markers=[(s, *view.xy(s["longitude"], s["latitude"])) for s in sites],
        counts={s: counts.get(s, 0) for s in SITE_STATES},
        total=len(sites),
        state_codes=STATE_CODES,
        **_common(filters, names, last_id),
    )


@get("/sites/{code:str}", name="site", opt=PAGE_OPT, include_in_schema=False)
async def site_page(request: Request[Any, Any, Any], db: Database, code: str) -> Template:
    last_id = await latest_event_id(db)
    async with db.session() as session:
        row = (await session.execute(_scoped_sites(request).where(col(Site.code) == code))).first()
        if row is None:
            raise NotFound(f"no site {code}")
        site = _site_headline(row)
        country_name = await session.scalar(
            sa.select(col(Country.name)).where(col(Country.code) == site["country"])
        )
        statuses = {
            (s.object_type, s.object_id): s
            for s in await session.scalars(
                sa.select(ObjectStatus).where(col(ObjectStatus.site_id) == site["id"])
            )
        }
        devices = (
            await session.execute(
                sa.select(Device, col(DeviceModel.kind), col(DeviceModel.model))
                .join(DeviceModel, col(Device.model_id) == col(DeviceModel.id))
                .where(col(Device.site_id) == site["id"])
                .order_by(col(Device.serial))
            )
        ).all()
        links = (
            await session.scalars(
                sa.select(Link)
                .where(col(Link.site_id) == site["id"])
                .order_by(col(Link.role).desc(), col(Link.circuit_id))  # primary first
            )
        ).all()
        gaps = (
            await session.execute(
                sa.select(Gap, WorkOrder)
                .outerjoin(WorkOrder, col(WorkOrder.gap_id) == col(Gap.id))
                .where(col(Gap.site_id) == site["id"], col(Gap.resolved_at).is_(None))
                .order_by(col(WorkOrder.priority).desc(), col(Gap.id))
            )
        ).all()
        serials = {d.id: d.serial for d, _, _ in devices}
        results = (
            await session.scalars(
                sa.select(ProbeResult)
                .where(col(ProbeResult.device_id).in_(sorted(i for i in serials if i)))
                .order_by(col(ProbeResult.id).desc())
                .limit(30)
            )
        ).all()
    return _page(
        "site.html",
        request,
        site=site,
        gaps=[{"gap": gap, "order": order} for gap, order in gaps],
        country_name=country_name or site["country"],
        devices=[
            {
                "device": d,
                "kind": kind,
                "model": model,
                "status": statuses.get(("device", d.id or 0)),
            }
            for d, kind, model in devices
        ],
        links=[{"link": link, "status": statuses.get(("link", link.id or 0))} for link in links],
        results=[{"result": r, "serial": serials.get(r.device_id, "?")} for r in results],
        events=await _recent_events(request, db, site_id=site["id"], limit=30),
        last_event_id=last_id,
    )


# --- signing in -----------------------------------------------------------------------

PUBLIC_OPT = {"exclude_from_auth": True}


@get("/signin", name="signin", opt=PUBLIC_OPT, include_in_schema=False)
async def signin_form(
    request: Request[Any, Any, Any],
    target: Annotated[str | None, Parameter(query="next", required=False)] = None,
) -> Template:
    return _page("signin.html", request, next=_local(target), error=None)


@post("/signin", opt=PUBLIC_OPT, include_in_schema=False, status_code=303)
async def signin(
    request: Request[Any, Any, Any], db: Database, settings: Settings
) -> Response[Any]:
    """Check the token and keep it in an http-only cookie; the cookie is accepted only on GET
    and HEAD requests, so it can read the board but never change anything."""
    form = await request.form()
    secret = str(form.get("token", "")).strip()
    target = _local(str(form.get("next", "/")))
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
        return _page(
            "signin.html",
            request,
            401,
            next=target,
            error="That token is unknown, disabled or expired.",
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


def board_router() -> Router:
    """The pages, under the role guard (each needs ``status:read``), with HTML errors."""
    return Router(
        path="/",
        route_handlers=[board, site_map, site_page, signin_form, signin, signout],
        guards=[permission_guard],
        exception_handlers={Exception: page_error},
        include_in_schema=False,
    )
