"""The live view over HTTP: site connectivity headlines, one site's status, a device's recent
results, state-change events, availability, and probing a device now."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Literal

import sqlalchemy as sa
from litestar import Request, Response, get, post
from litestar.datastructures import State
from litestar.params import Parameter
from sqlmodel import col

from fleet.api import query
from fleet.api import status_answers as answers
from fleet.api.deps import list_params, principal_of
from fleet.api.openapi import problem_responses
from fleet.api.representations import answer
from fleet.database import Database
from fleet.errors import InvalidInput, NotFound
from fleet.inventory import credentials, service
from fleet.inventory.choices import SiteKind
from fleet.inventory.models import Country, Device, Link, Site
from fleet.inventory.resources import DEVICE, LINK, SITE
from fleet.models import utcnow
from fleet.pagination import Filter, ListSpec, paginate
from fleet.probes import availability as availability_module
from fleet.probes import edge
from fleet.probes import service as probes
from fleet.probes.events import event_fields
from fleet.probes.models import ObjectStatus, ProbeResult, StateEvent, status_of
from fleet.probes.status import UNKNOWN, result_row
from fleet.settings import Settings

SiteStatus = sa.orm.aliased(ObjectStatus, name="site_status")
SITES = ListSpec(
    filters={
        "country": Filter(col(Country.code), "Country code(s)"),
        "kind": Filter(col(Site.kind), "Site kind(s)", SiteKind),
        "state": Filter(
            sa.func.coalesce(col(SiteStatus.state), UNKNOWN),
            "connected, degraded, disconnected, maintenance, unknown",
        ),
    },
    sorts={"code": col(Site.code), "name": col(Site.name)},
    default_sort="code",
    search=(col(Site.code), col(Site.name)),
    search_description="Text in the site code or name",
    id_column=col(Site.id),
)
EVENTS = ListSpec(
    filters={
        "object_type": Filter(col(StateEvent.object_type), "device, link or site"),
        "object_id": Filter(col(StateEvent.object_id), "Object id(s)", integer=True),
        "country": Filter(col(StateEvent.country_code), "Country code(s)"),
        "new_state": Filter(col(StateEvent.new_state), "The state entered"),
    },
    sorts={"id": col(StateEvent.id), "at": col(StateEvent.at)},
    default_sort="-id",
    id_column=col(StateEvent.id),
)
RESULTS = ListSpec(
    filters={
        "kind": Filter(col(ProbeResult.kind), "snmp, ssh, http, tcp"),
        "status": Filter(col(ProbeResult.status), "ok, timeout, auth_failed, ..."),
    },
    sorts={"id": col(ProbeResult.id)},
    default_sort="-id",
    id_column=col(ProbeResult.id),
)


def _site_headline(row: Any) -> dict[str, Any]:
    site, country, status = row[0], row[1], row[2]
    detail = status.detail if status is not None else {}
    return {name: getattr(site, name) for name in answers.SITE_FIELDS} | {
        "country": country,
        "state": status.state if status is not None else UNKNOWN,
        "since": status.since if status is not None else None,
        "reason": status.reason if status is not None else None,
        "link_in_use": detail.get("link_in_use"),
        "devices": detail.get("devices", {}),
    }


def _scoped_sites(request: Request[Any, Any, Any]) -> Any:
    statement: Any = (
        sa.select(Site, col(Country.code).label("country"), SiteStatus)
        .join(Country, col(Site.country_id) == col(Country.id))
        .outerjoin(
            SiteStatus,
            status_of("site", col(Site.id), SiteStatus),
        )
        .where(col(Site.lifecycle) != "decommissioned")
    )
    scope = principal_of(request).scope
    if scope is not None:
        statement = statement.where(col(Country.code).in_(sorted(scope)))
    return statement


@get(
    "/status/sites",
    summary="Site connectivity",
    description="Every site's headline: `connected`, `degraded` (on a backup link, or devices "
    "down), `disconnected`, `maintenance` or `unknown`, since when and why, the link in use, "
    "device counts by state, and for a site an edge poller probes, its `edge` (last heartbeat, "
    "buffer, `reach`: in touch, buffering, or dark).",
    operation_id="status_sites",
    tags=["status"],
    opt={"permission": "status:read"},
    responses=answer(answers.SiteHeadlinePage, "A page of site headlines")
    | problem_responses(401, 403, 422),
)
async def status_sites(
    request: Request[Any, Any, Any], db: Database, settings: Settings
) -> Response[dict[str, Any]]:
    async with db.session() as session:
        page = await paginate(
            session,
            _scoped_sites(request),
            SITES,
            list_params(request, settings),
            _site_headline,
            max_limit=settings.page_size_max,
        )
        edges = await edge.site_reach(session, [item["id"] for item in page.items])
    for item in page.items:
        item["edge"] = edges.get(item["id"])
    return Response(page.as_dict())


def _status_of(row: ObjectStatus | None) -> dict[str, Any]:
    if row is None:
        return dict.fromkeys(answers.STATUS_FIELDS) | {"state": UNKNOWN}
    return {name: getattr(row, name) for name in answers.STATUS_FIELDS}


def _waiver(found: dict[str, Any] | None) -> dict[str, Any] | None:
    """A device's SNMPv3 legacy waiver as the status shows it: its profile and reason."""
    if found is None:
        return None
    return {"profile": found["profile"], "reason": found["reason"]}


@get(
    "/sites/{code:str}/status",
    summary="One site's status",
    description="The site's headline with every device and link and their states; "
    "`policy_waiver` names the credential profile and reason of a device probed with SNMPv3 "
    "protocols the policy refuses (noAuth, MD5, DES) under a waiver, else null.",
    operation_id="site_status",
    tags=["status"],
    opt={"permission": "status:read"},
    responses=answer(answers.SiteStatus, "The site, its devices and links")
    | problem_responses(401, 403, 404),
)
async def site_status(request: Request[Any, Any, Any], db: Database, code: str) -> dict[str, Any]:
    async with db.session() as session:
        row = (await session.execute(_scoped_sites(request).where(col(Site.code) == code))).first()
        if row is None:
            raise NotFound(f"no site {code}")
        headline = _site_headline(row)
        statuses = {
            (s.object_type, s.object_id): s
            for s in await session.scalars(
                sa.select(ObjectStatus).where(col(ObjectStatus.site_id) == headline["id"])
            )
        }
        devices = (
            await session.scalars(
                sa.select(Device)
                .where(col(Device.site_id) == headline["id"])
                .order_by(col(Device.id))
            )
        ).all()
        links = (
            await session.scalars(
                sa.select(Link).where(col(Link.site_id) == headline["id"]).order_by(col(Link.id))
            )
        ).all()
        waivers = await credentials.waived_devices(session, headline["id"])
        headline["edge"] = (await edge.site_reach(session, [headline["id"]])).get(headline["id"])
    headline["devices"] = [
        {name: getattr(d, name) for name in answers.DEVICE_FIELDS}
        | _status_of(statuses.get(("device", d.id or 0)))
        | {"policy_waiver": _waiver(waivers.get(d.id or 0))}
        for d in devices
    ]
    headline["links"] = [
        {name: getattr(link, name) for name in answers.LINK_FIELDS}
        | _status_of(statuses.get(("link", link.id or 0)))
        for link in links
    ]
    return headline


def _result(row: Any) -> dict[str, Any]:
    result: ProbeResult = row[0]
    return {name: getattr(result, name) for name in answers.RESULT_FIELDS}


@get(
    "/devices/{device_id:int}/results",
    summary="A device's recent probe results",
    description="Newest first; kept for the configured retention.",
    operation_id="device_results",
    tags=["status"],
    opt={"permission": "status:read"},
    responses=answer(answers.ResultPage, "A page of probe results")
    | problem_responses(401, 403, 404, 422),
)
async def device_results(
    request: Request[Any, Any, Any],
    db: Database,
    settings: Settings,
    device_id: int,
    since: query.Since = None,
) -> Response[dict[str, Any]]:
    params = list_params(request, settings, ignore=("since",))
    since_at = query.moment(since, "since")
    async with db.session() as session:
        await service.read(session, DEVICE, device_id, principal_of(request).scope)
        statement = sa.select(ProbeResult).where(col(ProbeResult.device_id) == device_id)
        if since_at is not None:
            statement = statement.where(col(ProbeResult.at) >= since_at)
        page = await paginate(
            session, statement, RESULTS, params, _result, max_limit=settings.page_size_max
        )
    return Response(page.as_dict())


def _event(row: Any) -> dict[str, Any]:
    return event_fields(row[0])


@get(
    "/status/events",
    summary="State changes",
    description="Every change of state of a device, link or site, newest first; filter by site, "
    "country, object and time.",
    operation_id="status_events",
    tags=["status"],
    opt={"permission": "status:read"},
    responses=answer(answers.EventPage, "A page of state events")
    | problem_responses(401, 403, 422),
)
async def status_events(
    request: Request[Any, Any, Any],
    db: Database,
    settings: Settings,
    since: query.Since = None,
    until: query.Until = None,
    site: Annotated[
        str | None, Parameter(query="site", required=False, description="Site code")
    ] = None,
) -> Response[dict[str, Any]]:
    params = list_params(request, settings, ignore=("since", "until", "site"))
    statement = sa.select(StateEvent)
    since_at, until_at = query.moment(since, "since"), query.moment(until, "until")
    if since_at is not None:
        statement = statement.where(col(StateEvent.at) >= since_at)
    if until_at is not None:
        statement = statement.where(col(StateEvent.at) < until_at)
    scope = principal_of(request).scope
    if scope is not None:
        statement = statement.where(col(StateEvent.country_code).in_(sorted(scope)))
    async with db.session() as session:
        if site is not None:
            site_id = await session.scalar(sa.select(col(Site.id)).where(col(Site.code) == site))
            statement = statement.where(col(StateEvent.site_id) == (site_id or -1))
        page = await paginate(
            session, statement, EVENTS, params, _event, max_limit=settings.page_size_max
        )
    return Response(page.as_dict())


@get(
    "/availability",
    summary="Availability over a period",
    description="Time in each state of one site, device or link between `since` and `until` "
    "(default: the last 7 days), and the share of it the object was available; maintenance and "
    "unknown time are not counted.",
    operation_id="availability",
    tags=["status"],
    opt={"permission": "status:read"},
    responses=answer(answers.AvailabilityAnswer, "Time in each state and the availability")
    | problem_responses(401, 403, 404, 422),
)
async def availability(
    request: Request[Any, Any, Any],
    db: Database,
    object_type: Annotated[Literal["site", "device", "link"], Parameter(query="object_type")],
    key: Annotated[str, Parameter(query="key", description="Site code, device id or link id")],
    since: query.Since = None,
    until: query.Until = None,
) -> availability_module.Availability:
    until_at = query.moment(until, "until") or utcnow()
    since_at = query.moment(since, "since") or until_at - timedelta(days=7)
    if since_at >= until_at:
        raise InvalidInput("since must be before until", field="since")
    resource = {"site": SITE, "device": DEVICE, "link": LINK}[object_type]
    async with db.session() as session:
        obj = await service.read(session, resource, key, principal_of(request).scope)
        return await availability_module.availability(
            session, object_type, obj["id"], since_at, until_at
        )


@post(
    "/devices/{device_id:int}/probe",
    summary="Probe a device now",
    description="Runs the device's probes at once and answers with the readings; the results "
    "and any change of state are recorded as for scheduled probes.",
    operation_id="probe_device",
    tags=["status"],
    status_code=200,
    opt={"permission": "probe:run"},
    responses=answer(answers.Probed, "The readings") | problem_responses(401, 403, 404, 422),
)
async def probe_device(
    request: Request[Any, Any, Any], db: Database, state: State, device_id: int
) -> dict[str, Any]:
    async with db.session() as session:
        await service.read(session, DEVICE, device_id, principal_of(request).scope)
        spec = await probes.runnable(session, state.cipher, device_id)
    readings = await probes.probe_now(db, state.settings, spec, state.get("probes"))
    return {"device_id": device_id, "results": [_result((result_row(r),)) for r in readings]}
