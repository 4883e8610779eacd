"""``GET /api/v1/field/sites/{code}``: a site's whole record in one request, for the field app
to keep on the phone and work on offline.

One answer holds the site, its devices (with their models and status), its links, its open gaps
and work orders (each with the moves this token may make next), its recent state changes and
the catalogue of device models for the install form; every object carries its version and
``etag``, the one its own route answers and ``If-Match`` wants back. The answer as a whole has
an ETag too: ``If-None-Match`` with it answers 304 while nothing in it changed.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import sqlalchemy as sa
from litestar import Request, Response, get
from litestar.serialization import encode_json
from pydantic import BaseModel, Field, create_model
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from fleet.access.roles import Role
from fleet.api import upgrade_answers
from fleet.api.conditional import IfNoneMatch, not_modified
from fleet.api.deps import principal_of
from fleet.api.openapi import problem_responses
from fleet.api.representations import answer, representation
from fleet.api.status_answers import one_of
from fleet.database import Database
from fleet.inventory import service
from fleet.inventory.models import Site
from fleet.inventory.resources import BY_NAME
from fleet.pagination import ListParams
from fleet.probes.choices import DEVICE_STATES, LINK_STATES, SITE_STATES
from fleet.probes.models import ObjectStatus, StateEvent
from fleet.upgrades import service as upgrades
from fleet.upgrades import workorders
from fleet.upgrades.choices import WorkOrderState
from fleet.upgrades.models import Gap, WorkOrder

#: The most of each list one site's record holds (a site has tens of devices, not thousands).
MAX_ITEMS = 2_000
RECENT_EVENTS = 20

ETAG = (str, Field(description="The object's ETag: send it back as If-Match to change it"))


def _status_model(name: str, states: Any) -> type[BaseModel]:
    model: type[BaseModel] = create_model(
        name,
        __doc__="The object's current state (null fields: never probed).",
        state=(one_of(states) | None, Field(description="What fleet shows")),
        since=(str | None, Field(description="In this state since (RFC 3339)")),
        reason=(str | None, Field(description="Why, when not up")),
    )
    return model


def _with(base: type[BaseModel], title: str, **extra: Any) -> type[BaseModel]:
    """A copy of ``base``'s fields with ``extra`` ones, not a subclass: generators name the
    parts of a subclass's schema twice."""
    fields: dict[str, Any] = {name: (f.annotation, f) for name, f in base.model_fields.items()}
    model: type[BaseModel] = create_model(title, __doc__=base.__doc__, **fields, **extra)
    return model


FieldDeviceModel = _with(representation(BY_NAME["device_model"]), "FieldDeviceModel", etag=ETAG)
FieldDevice = _with(
    representation(BY_NAME["device"]),
    "FieldDevice",
    etag=ETAG,
    status=(_status_model("FieldDeviceStatus", DEVICE_STATES), Field(description="Its state")),
)
FieldLink = _with(
    representation(BY_NAME["link"]),
    "FieldLink",
    etag=ETAG,
    status=(_status_model("FieldLinkStatus", LINK_STATES), Field(description="Its state")),
)
FieldSiteObject = _with(
    representation(BY_NAME["site"]),
    "FieldSiteObject",
    etag=ETAG,
    status=(_status_model("FieldSiteStatus", SITE_STATES), Field(description="Its state")),
)
FieldWorkOrder = _with(
    upgrade_answers.WorkOrderAnswer,
    "FieldWorkOrder",
    etag=ETAG,
    next=(
        list[WorkOrderState],
        Field(description="The states this token may move it to now (a legal transition each)"),
    ),
)


class FieldEvent(BaseModel):
    """A recent change of state at the site."""

    at: str = Field(description="When (RFC 3339)")
    object_type: str
    object_key: str | None
    old_state: str | None
    new_state: str
    cause: str | None


FieldSite = create_model(
    "FieldSite",
    __doc__="A site's whole record for the field app, with the catalogue of device models.",
    etag=(str, Field(description="The ETag of this whole answer (If-None-Match: 304)")),
    site=(FieldSiteObject, ...),
    devices=(list[FieldDevice], ...),  # type: ignore[valid-type]
    links=(list[FieldLink], ...),  # type: ignore[valid-type]
    gaps=(list[upgrade_answers.GapAnswer], Field(description="Open gaps")),  # type: ignore[valid-type]
    work_orders=(list[FieldWorkOrder], Field(description="Open work orders")),  # type: ignore[valid-type]
    events=(list[FieldEvent], Field(description="Recent changes of state, newest first")),
    moves=(
        dict[str, list[WorkOrderState]],
        Field(description="State -> the states this token's role may move a work order to"),
    ),
    device_models=(
        list[FieldDeviceModel],  # type: ignore[valid-type]
        Field(description="The catalogue of device models, for installs"),
    ),
)


def _tagged(obj: dict[str, Any]) -> dict[str, Any]:
    return obj | {"etag": service.etag(obj["version"])}


def _status(row: ObjectStatus | None) -> dict[str, Any]:
    if row is None:
        return {"state": None, "since": None, "reason": None}
    return {"state": row.state, "since": row.since.isoformat(), "reason": row.reason}


async def _listed(
    session: AsyncSession, name: str, filters: dict[str, str], scope: Any
) -> list[dict[str, Any]]:
    page = await service.list_page(
        session,
        BY_NAME[name],
        ListParams(filters=filters, limit=MAX_ITEMS),
        max_limit=MAX_ITEMS,
        scope=scope,
    )
    return page.items


def next_states(order: WorkOrder, role: Role, actor: str) -> list[str]:
    """The states ``role`` (as ``actor``) may move ``order`` to: a field engineer moves only
    the orders assigned to them."""
    if role == Role.field_engineer and order.assignee != actor:
        return []
    return moves(role).get(order.state, [])


def moves(role: Role) -> dict[str, list[str]]:
    """The transition table as ``role`` may use it: state -> the states it may move to."""
    return {
        state: [to for to, roles in table.items() if role in roles]
        for state, table in workorders.TRANSITIONS.items()
    }


def _orders(rows: Any, role: Role, actor: str) -> list[dict[str, Any]]:
    return [
        _tagged(workorders.public(row[0], row[1], row[2]))
        | {"next": next_states(row[0], role, actor)}
        for row in rows
    ]


async def _events(session: AsyncSession, site_id: int) -> list[dict[str, Any]]:
    events = await session.scalars(
        sa.select(StateEvent)
        .where(col(StateEvent.site_id) == site_id)
        .order_by(col(StateEvent.id).desc())
        .limit(RECENT_EVENTS)
    )
    return [
        {
            "at": e.at.isoformat(),
            "object_type": e.object_type,
            "object_key": e.object_key,
            "old_state": e.old_state,
            "new_state": e.new_state,
            "cause": e.cause,
        }
        for e in events
    ]


async def site_record(
    session: AsyncSession, code: str, scope: Any, role: Role, actor: str
) -> dict[str, Any]:
    """The site ``code``'s whole record as :data:`FieldSite` shows it (not found outside
    ``scope``)."""
    site = await service.read(session, BY_NAME["site"], code, scope)
    statuses = {
        (s.object_type, s.object_id): s
        for s in await session.scalars(
            sa.select(ObjectStatus).where(col(ObjectStatus.site_id) == site["id"])
        )
    }
    devices = await _listed(session, "device", {"site": code}, scope)
    links = await _listed(session, "link", {"site": code}, scope)
    models = await _listed(session, "device_model", {}, None)
    gaps = (
        await session.execute(
            upgrades.scoped(upgrades.gaps_select(), scope)
            .where(col(Site.code) == code, col(Gap.resolved_at).is_(None))
            .order_by(col(Gap.id))
            .limit(MAX_ITEMS)
        )
    ).all()
    orders = (
        await session.execute(
            upgrades.scoped(upgrades.orders_select(), scope)
            .where(
                col(Site.code) == code,
                col(WorkOrder.state).in_([s.value for s in workorders.OPEN_STATES]),
            )
            .order_by(col(WorkOrder.priority).desc(), col(WorkOrder.id))
            .limit(MAX_ITEMS)
        )
    ).all()
    return {
        "site": _tagged(site) | {"status": _status(statuses.get(("site", site["id"])))},
        "devices": [
            _tagged(d) | {"status": _status(statuses.get(("device", d["id"])))} for d in devices
        ],
        "links": [
            _tagged(link) | {"status": _status(statuses.get(("link", link["id"])))}
            for link in links
        ],
        "gaps": [upgrades.public_gap(row) for row in gaps],
        "work_orders": _orders(orders, role, actor),
        "moves": moves(role),
        "events": await _events(session, site["id"]),
        "device_models": [_tagged(m) for m in models],
    }


def _encoded(record: dict[str, Any]) -> bytes:
    """The record as JSON, as the framework writes any answer (RFC 3339 times)."""
    return encode_json(record)


@get(
    "/field/sites/{code:str}",
    summary="A site's whole record, for the field app",
    description=__doc__,
    operation_id="field_site",
    tags=["field"],
    opt={"permission": "field:read"},
    responses=answer(FieldSite, "The site's record, with the catalogue of device models")
    | problem_responses(304, 401, 403, 404),
)
async def field_site(
    request: Request[Any, Any, Any],
    db: Database,
    code: str,
    if_none_match: IfNoneMatch = None,
) -> Response[Any]:
    principal = principal_of(request)
    async with db.session() as session:
        record = await site_record(session, code, principal.scope, principal.role, principal.name)
    body = _encoded(record)
    tag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    if (unchanged := not_modified(if_none_match, tag)) is not None:
        return unchanged
    return Response(
        body[:-1] + b',"etag":' + json.dumps(tag).encode() + b"}",
        media_type="application/json",
        headers={"ETag": tag},
    )


FieldWork = create_model(
    "FieldWork",
    __doc__="Who the token is, and the open work orders assigned to it.",
    name=(str, Field(description="The token's name (a work order's assignee)")),
    role=(str, Field(description="The token's role")),
    countries=(list[str] | None, Field(description="Its countries (null: every country)")),
    work_orders=(list[FieldWorkOrder], Field(description="Open, assigned to this token")),  # type: ignore[valid-type]
)


@get(
    "/field/work-orders",
    summary="My open work orders, for the field app",
    description="The token's name and role, and the open work orders assigned to it (within its "
    "countries), highest priority first: the sites to keep offline before going out.",
    operation_id="field_work_orders",
    tags=["field"],
    opt={"permission": "field:read"},
    responses=answer(FieldWork, "Who you are and your open work orders")
    | problem_responses(401, 403),
)
async def field_work_orders(request: Request[Any, Any, Any], db: Database) -> dict[str, Any]:
    principal = principal_of(request)
    async with db.session() as session:
        rows = (
            await session.execute(
                upgrades.scoped(upgrades.orders_select(), principal.scope)
                .where(
                    col(WorkOrder.assignee) == principal.name,
                    col(WorkOrder.state).in_([s.value for s in workorders.OPEN_STATES]),
                )
                .order_by(col(WorkOrder.priority).desc(), col(WorkOrder.id))
                .limit(MAX_ITEMS)
            )
        ).all()
    return {
        "name": principal.name,
        "role": principal.role.value,
        "countries": sorted(principal.scope) if principal.scope is not None else None,
        "work_orders": _orders(rows, principal.role, principal.name),
    }
