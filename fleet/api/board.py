"""The status board, a site's page and the map: pages rendered on the server (Jinja2, every value
escaped) that need a viewer token, given once on a sign-in page and then kept in a secure,
http-only cookie. Scripts and styles come from ``/static`` and nothing is fetched from anywhere
else; the Content-Security-Policy tells the browser so too. The pages work without the script;
with it they follow the status stream and say when their data is stale.
"""

from __future__ import annotations

from collections import Counter
from typing import Annotated, Any
from urllib.parse import urlencode

import sqlalchemy as sa
from litestar import Request, Router, get
from litestar.params import Parameter
from litestar.response import Template
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from fleet.api.auth import permission_guard
from fleet.api.board_alerts import acknowledge_from_board, may_ack, open_alerts
from fleet.api.deps import principal_of
from fleet.api.geo import MapView
from fleet.api.locales import N_
from fleet.api.pages import SITE_STATES, page, page_error
from fleet.api.plan_forms import csrf_token
from fleet.api.signin import signin, signin_form, signout
from fleet.api.status import SITES, _scoped_sites, _site_headline
from fleet.api.stream import latest_event_id
from fleet.database import Database
from fleet.errors import NotFound
from fleet.inventory import credentials
from fleet.inventory.choices import SiteKind
from fleet.inventory.models import Country, Device, DeviceModel, Link, Site
from fleet.pagination import ListParams, apply
from fleet.probes import edge
from fleet.probes.live import STATE_CODES
from fleet.probes.models import ObjectStatus, ProbeResult, StateEvent
from fleet.probes.workers import workers as probe_workers
from fleet.settings import Settings
from fleet.upgrades.models import Gap, WorkOrder

MAX_SITES = 10_000
RECENT = 25


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
        waived = Counter(w["site_id"] for w in (await credentials.waived_devices(session)).values())
        sites = [_site_headline(row) | {"timezone": row[0].timezone} for row in rows]
        edges = await edge.site_reach(session, [site["id"] for site in sites])
    for site in sites:
        site["waivers"] = waived.get(site["id"], 0)
        site["edge"] = edges.get(site["id"])
    return sites


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
        sa.select(StateEvent, col(Site.code), col(Site.timezone))
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
            "timezone": timezone or "UTC",
        }
        for event, code, timezone in rows
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


async def _site_detail(session: AsyncSession, site: dict[str, Any]) -> dict[str, Any]:
    """A site's page besides its headline: devices (with waivers), links, gaps, results."""
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
    waivers = await credentials.waived_devices(session, site["id"])
    results = (
        await session.scalars(
            sa.select(ProbeResult)
            .where(col(ProbeResult.device_id).in_(sorted(i for i in serials if i)))
            .order_by(col(ProbeResult.id).desc())
            .limit(30)
        )
    ).all()
    return {
        "gaps": [{"gap": gap, "order": order} for gap, order in gaps],
        "country_name": country_name or site["country"],
        "devices": [
            {
                "device": d,
                "kind": kind,
                "model": model,
                "status": statuses.get(("device", d.id or 0)),
                "waiver": waivers.get(d.id or 0),
            }
            for d, kind, model in devices
        ],
        "links": [{"link": link, "status": statuses.get(("link", link.id or 0))} for link in links],
        "results": [{"result": r, "serial": serials.get(r.device_id, "?")} for r in results],
    }


# --- pages ----------------------------------------------------------------------------

PAGE_OPT = {"permission": "status:read"}
StateFilter = Annotated[str | None, Parameter(query="state", required=False)]


@get("/", name="board", opt=PAGE_OPT, include_in_schema=False)
async def board(
    request: Request[Any, Any, Any],
    db: Database,
    settings: Settings,
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
    return page(
        "board.html",
        request,
        groups=[(code, names.get(code, code), groups[code]) for code in sorted(groups)],
        counts={s: counts.get(s, 0) for s in SITE_STATES},
        total=len(sites),
        events=events,
        workers=await _workers(db, settings),
        alerts=await open_alerts(request, db),
        may_ack=may_ack(principal_of(request)),
        csrf=csrf_token(request),
        acked=_acked(request),
        here=f"/?{urlencode(filters)}" if filters else "/",
        **_common(filters, names, last_id),
    )


def _acked(request: Request[Any, Any, Any]) -> dict[str, str] | None:
    """The notice after an acknowledgement from the board (``?acked=<id>``)."""
    acked = request.query_params.get("acked", "")
    if not acked.isdigit() or len(acked) > 12:
        return None
    return {"id": acked, "already": "yes" if request.query_params.get("already") else ""}


async def _workers(db: Database, settings: Settings) -> list[dict[str, Any]]:
    """The probe workers sharing the fleet (none on SQLite)."""
    async with db.session() as session:
        return await probe_workers(session, settings.probe_lease_s)


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
    return page(
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
            raise NotFound(f"no site {code}", message=N_("no site %(code)s"), values={"code": code})
        site = _site_headline(row) | {"timezone": row[0].timezone}
        detail = await _site_detail(session, site)
    return page(
        "site.html",
        request,
        site=site,
        zone=site["timezone"],
        **detail,
        events=await _recent_events(request, db, site_id=site["id"], limit=30),
        last_event_id=last_id,
    )


def board_router() -> Router:
    """The pages, under the role guard (each needs ``status:read``), with HTML errors."""
    return Router(
        path="/",
        route_handlers=[
            board,
            site_map,
            site_page,
            signin_form,
            signin,
            signout,
            acknowledge_from_board,
        ],
        guards=[permission_guard],
        exception_handlers={Exception: page_error},
        include_in_schema=False,
    )
