"""The change log over HTTP: every change, filtered by object and time, and a site's history."""

from datetime import datetime
from typing import Annotated, Any

import sqlalchemy as sa
from litestar import Request, Response, get
from litestar.params import Parameter
from sqlmodel import col

from fleet.access.roles import Role
from fleet.access.tokens import Principal
from fleet.api import query
from fleet.api import record_answers as answers
from fleet.api.deps import list_params, principal_of
from fleet.api.openapi import problem_responses
from fleet.api.representations import answer
from fleet.changelog import ChangeAction, ChangeRecord, public_change
from fleet.database import Database
from fleet.errors import NotFound
from fleet.inventory.models import Site
from fleet.pagination import Filter, ListSpec, paginate
from fleet.settings import Settings

CHANGES = ListSpec(
    filters={
        "object_type": Filter(
            col(ChangeRecord.object_type), "site, device, link, country, device_model"
        ),
        "object_id": Filter(col(ChangeRecord.object_id), "Id of the object", integer=True),
        "object_key": Filter(
            col(ChangeRecord.object_key), "Key of the object (site code, serial...)"
        ),
        "action": Filter(col(ChangeRecord.action), "create, update or delete", ChangeAction),
        "actor": Filter(col(ChangeRecord.actor), "Who made the change"),
        "country": Filter(col(ChangeRecord.country_code), "Country code(s)"),
        "request_id": Filter(col(ChangeRecord.request_id), "The X-Request-ID of the change"),
        "site_id": Filter(
            col(ChangeRecord.site_id), "Site id: the site and what is at it", integer=True
        ),
    },
    sorts={"at": col(ChangeRecord.at), "id": col(ChangeRecord.id)},
    default_sort="-id",
    id_column=col(ChangeRecord.id),
)

ObjectType = Annotated[
    str | None,
    Parameter(
        query="object_type",
        required=False,
        pattern=query.TEXT,
        max_length=200,
        description="Only changes of these object types (comma-separated)",
    ),
]
Actor = Annotated[
    str | None,
    Parameter(
        query="actor",
        required=False,
        pattern=query.TEXT,
        max_length=120,
        description="Only changes made by this actor (a token's name)",
    ),
]


def visible_to(statement: Any, principal: Principal) -> Any:
    """Admins see every change; others see changes in their countries (all countries when not
    limited), never changes outside any country (tokens, the catalogue)."""
    if principal.role == Role.admin and principal.scope is None:
        return statement
    if principal.scope is None:
        return statement.where(col(ChangeRecord.country_code).is_not(None))
    return statement.where(col(ChangeRecord.country_code).in_(sorted(principal.scope)))


def _window(statement: Any, since: datetime | None, until: datetime | None) -> Any:
    if since is not None:
        statement = statement.where(col(ChangeRecord.at) >= since)
    if until is not None:
        statement = statement.where(col(ChangeRecord.at) < until)
    return statement


def _public(row: Any) -> dict[str, Any]:
    return public_change(row[0])


@get(
    "/changes",
    summary="List changes",
    description="Every create, update and delete with actor, time, request id and the fields "
    "before and after; newest first. Filter by object, actor, country and time.",
    operation_id="list_changes",
    tags=["changes"],
    opt={"permission": "change:read"},
    responses=answer(answers.ChangePage, "A page of changes") | problem_responses(401, 403, 422),
)
async def list_changes(
    request: Request[Any, Any, Any],
    db: Database,
    settings: Settings,
    since: query.Since = None,
    until: query.Until = None,
    object_type: ObjectType = None,
    object_id: Annotated[int | None, Parameter(query="object_id", required=False)] = None,
    actor: Actor = None,
    limit: query.Limit = None,
    cursor: query.Cursor = None,
) -> Response[dict[str, Any]]:
    params = list_params(request, settings, ignore=("since", "until"))
    window = _window(
        sa.select(ChangeRecord), query.moment(since, "since"), query.moment(until, "until")
    )
    statement = visible_to(window, principal_of(request))
    async with db.session() as session:
        page = await paginate(
            session, statement, CHANGES, params, _public, max_limit=settings.page_size_max
        )
    return Response(page.as_dict())


@get(
    "/sites/{code:str}/history",
    summary="A site's history",
    description="Changes of the site and of the devices and links at it, newest first.",
    operation_id="site_history",
    tags=["sites", "changes"],
    opt={"permission": "change:read"},
    responses=answer(answers.ChangePage, "A page of the site's changes")
    | problem_responses(401, 403, 404, 422),
)
async def site_history(
    request: Request[Any, Any, Any],
    db: Database,
    settings: Settings,
    code: str,
    since: query.Since = None,
    until: query.Until = None,
    limit: query.Limit = None,
    cursor: query.Cursor = None,
) -> Response[dict[str, Any]]:
    params = list_params(request, settings, ignore=("since", "until"))
    principal = principal_of(request)
    async with db.session() as session:
        site = await session.scalar(sa.select(Site).where(col(Site.code) == code))
        site_id = site.id if site is not None else None
        if site_id is None:
            # A deleted site's history is still there: find it by its key.
            site_id = await session.scalar(
                sa.select(col(ChangeRecord.object_id))
                .where(
                    col(ChangeRecord.object_type) == "site", col(ChangeRecord.object_key) == code
                )
                .order_by(col(ChangeRecord.id).desc())
                .limit(1)
            )
        if site_id is None:
            raise NotFound(f"no site {code}")
        window = _window(
            sa.select(ChangeRecord), query.moment(since, "since"), query.moment(until, "until")
        )
        statement = visible_to(window, principal)
        statement = statement.where(col(ChangeRecord.site_id) == site_id)
        if principal.scope is not None and not await session.scalar(
            visible_to(sa.select(sa.func.count()).select_from(ChangeRecord), principal).where(
                col(ChangeRecord.site_id) == site_id
            )
        ):
            raise NotFound(f"no site {code}")
        page = await paginate(
            session, statement, CHANGES, params, _public, max_limit=settings.page_size_max
        )
    return Response(page.as_dict())
