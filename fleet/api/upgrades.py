"""Upgrades over HTTP: profiles, assessments, gaps, work orders (with transitions and journal),
plans and the evaluation of finished work. Lists answer CSV to `Accept: text/csv`."""

from __future__ import annotations

import csv
import io
from typing import Annotated, Any

import sqlalchemy as sa
from litestar import Request, Response, get, patch, post
from litestar.openapi.spec import OpenAPI, OpenAPIMediaType, OpenAPIResponse, PathItem, Schema
from litestar.openapi.spec.enums import OpenAPIType
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from fleet.api import upgrade_answers as answers
from fleet.api.deps import list_params, principal_of
from fleet.api.openapi import problem_responses
from fleet.api.representations import answer
from fleet.database import Database
from fleet.inventory.models import Country, Site
from fleet.inventory.schemas import CountryCode, SiteCode, Strict
from fleet.inventory.service import check_if_match, etag
from fleet.pagination import Filter, ListSpec, paginate
from fleet.settings import Settings
from fleet.upgrades import evaluation as evaluation_module
from fleet.upgrades import profiles, workorders
from fleet.upgrades import service as upgrades
from fleet.upgrades.models import Gap, JournalEntry, SiteProfile, WorkOrder

IfMatch = Annotated[str | None, Parameter(header="If-Match", required=False)]
CSV = "text/csv"

GAPS = ListSpec(
    filters={
        "site": Filter(col(Site.code), "Site code(s)"),
        "country": Filter(col(Country.code), "Country code(s)"),
        "rule": Filter(col(Gap.rule_id), "Rule id(s)"),
        "rule_type": Filter(col(Gap.rule_type), "Rule type(s)"),
        "severity": Filter(col(Gap.severity), "low, medium, high, critical"),
        "status": Filter(
            sa.case((col(Gap.resolved_at).is_(None), "open"), else_="resolved"), "open or resolved"
        ),
    },
    sorts={"id": col(Gap.id), "first_seen": col(Gap.first_seen)},
    default_sort="-id",
    id_column=col(Gap.id),
)
WORK_ORDERS = ListSpec(
    filters={
        "site": Filter(col(Site.code), "Site code(s)"),
        "country": Filter(col(Country.code), "Country code(s)"),
        "state": Filter(col(WorkOrder.state), "State(s)"),
        "kind": Filter(
            col(WorkOrder.kind), "install, replace, firmware_upgrade, link_upgrade, repair"
        ),
        "programme": Filter(col(WorkOrder.programme), "Programme(s)"),
        "assignee": Filter(col(WorkOrder.assignee), "Assignee(s)"),
    },
    sorts={
        "priority": col(WorkOrder.priority),
        "id": col(WorkOrder.id),
        "due_on": col(WorkOrder.due_on),
    },
    default_sort="-priority",
    search=(col(WorkOrder.title),),
    search_description="Text in the title",
    id_column=col(WorkOrder.id),
)


def _scoped(statement: Any, request: Request[Any, Any, Any]) -> Any:
    return upgrades.scoped(statement, principal_of(request).scope)


def _order(row: Any) -> dict[str, Any]:
    return workorders.public(row[0], row[1], row[2])


def csv_response(items: list[dict[str, Any]]) -> Response[str]:
    out = io.StringIO()
    if items:
        writer = csv.DictWriter(
            out,
            fieldnames=[k for k in items[0] if not isinstance(items[0][k], dict)],
            extrasaction="ignore",
        )
        writer.writeheader()
        writer.writerows(items)
    return Response(out.getvalue(), media_type=CSV, headers={"Content-Disposition": "attachment"})


#: The lists that answer CSV, by operation id.
CSV_LISTS = ("list_gaps", "list_work_orders")


def declare_csv(openapi: OpenAPI) -> None:
    """Declare the CSV answer of the lists in :data:`CSV_LISTS` beside their JSON page (in
    place): Litestar declares one media type per status."""
    for item in (openapi.paths or {}).values():
        op = item.get if isinstance(item, PathItem) else None
        if op is None or op.operation_id not in CSV_LISTS or not op.responses:
            continue
        ok = op.responses.get("200")
        if isinstance(ok, OpenAPIResponse) and ok.content is not None:
            ok.content[CSV] = OpenAPIMediaType(
                schema=Schema(
                    type=OpenAPIType.STRING,
                    description="A header row, then one row per item of the whole selection "
                    "(fields holding objects are left out)",
                )
            )


def _wants_csv(request: Request[Any, Any, Any]) -> bool:
    return CSV in request.headers.get("accept", "")


async def _listing(
    request: Request[Any, Any, Any],
    db: Database,
    settings: Settings,
    statement: Any,
    spec: ListSpec,
    shape: Any,
) -> Response[Any]:
    params = list_params(request, settings)
    if _wants_csv(request):
        params.limit = 100_000  # the whole selection, not a page
    async with db.session() as session:
        page = await paginate(
            session,
            statement,
            spec,
            params,
            shape,
            max_limit=max(params.limit, settings.page_size_max),
        )
    return csv_response(page.items) if _wants_csv(request) else Response(page.as_dict())


@get(
    "/profiles",
    summary="Site profiles",
    operation_id="list_profiles",
    tags=["upgrades"],
    description="What each kind of site must have, as loaded from site_configs/profiles.",
    opt={"permission": "profile:read"},
    responses=answer(answers.ProfilePage, "The site profiles") | problem_responses(401, 403),
)
async def list_profiles(db: Database) -> dict[str, Any]:
    async with db.session() as session:
        rows = (await session.scalars(sa.select(SiteProfile).order_by(col(SiteProfile.name)))).all()
    return {"items": [profiles.public(r) for r in rows], "next_cursor": None, "limit": len(rows)}


class AssessmentRequest(Strict):
    """What to assess: everything, a country, or one site."""

    country: CountryCode | None = None
    site: SiteCode | None = None


@post(
    "/assessments",
    summary="Run the needs assessment",
    operation_id="run_assessment",
    tags=["upgrades"],
    status_code=200,
    description="Compares the sites with their profiles, records gaps (opening, seeing again, "
    "resolving), proposes one work order per new gap and verifies completed work. Running it "
    "twice changes nothing new. 404 when the country or site named does not exist (or is "
    "outside the token's countries).",
    opt={"permission": "assessment:run"},
    responses=answer(answers.AssessmentSummary, "What the assessment found and did")
    | problem_responses(400, 401, 403, 404, 422),
)
async def run_assessment(
    request: Request[Any, Any, Any], db: Database, settings: Settings, data: AssessmentRequest
) -> dict[str, Any]:
    scope = principal_of(request).scope
    country, site = upgrades.assessment_target(scope, data.country, data.site)
    prices = upgrades.prices(settings.site_configs)
    async with db.session(write=True) as session:
        summary = await upgrades.assess_within(session, prices, scope, country, site)
        await session.commit()
    return summary.as_dict()


@get(
    "/gaps",
    summary="Gaps",
    operation_id="list_gaps",
    tags=["upgrades"],
    description="What sites lack against their profiles; `status=open` for what is still to do.",
    opt={"permission": "gap:read"},
    responses=answer(
        answers.GapPage, "A page of gaps (CSV to `Accept: text/csv`: the whole selection)"
    )
    | problem_responses(401, 403, 422),
)
async def list_gaps(
    request: Request[Any, Any, Any], db: Database, settings: Settings
) -> Response[Any]:
    statement = _scoped(upgrades.gaps_select(), request)
    return await _listing(request, db, settings, statement, GAPS, upgrades.public_gap)


@get(
    "/work-orders",
    summary="Work orders",
    operation_id="list_work_orders",
    tags=["upgrades"],
    description="Highest priority first by default.",
    opt={"permission": "work_order:read"},
    responses=answer(
        answers.WorkOrderPage,
        "A page of work orders (CSV to `Accept: text/csv`: the whole selection)",
    )
    | problem_responses(401, 403, 422),
)
async def list_work_orders(
    request: Request[Any, Any, Any], db: Database, settings: Settings
) -> Response[Any]:
    return await _listing(
        request, db, settings, _scoped(upgrades.orders_select(), request), WORK_ORDERS, _order
    )


async def _load_order(
    session: AsyncSession, request: Request[Any, Any, Any], order_id: int, *, lock: bool = False
) -> upgrades.OrderRow:
    return await upgrades.load(session, order_id, principal_of(request).scope, lock=lock)


def _one(order: WorkOrder, site: str, country: str, gap: Gap) -> Response[dict[str, Any]]:
    return Response(
        workorders.public(order, site, country, gap), headers={"ETag": etag(order.version)}
    )


@get(
    "/work-orders/{order_id:int}",
    summary="One work order",
    operation_id="read_work_order",
    tags=["upgrades"],
    opt={"permission": "work_order:read"},
    responses=answer(answers.WorkOrderAnswer, "The work order, with its gap and ETag")
    | problem_responses(401, 403, 404),
)
async def read_work_order(
    request: Request[Any, Any, Any], db: Database, order_id: int
) -> Response[dict[str, Any]]:
    async with db.session() as session:
        return _one(*await _load_order(session, request, order_id))


@patch(
    "/work-orders/{order_id:int}",
    summary="Plan a work order",
    description="Assign it, set its due date, cost or programme. Needs If-Match.",
    operation_id="update_work_order",
    tags=["upgrades"],
    opt={"permission": "work_order:update"},
    responses=answer(answers.WorkOrderAnswer, "The work order as planned now, with its new ETag")
    | problem_responses(400, 401, 403, 404, 412, 422, 428),
)
async def update_work_order(
    request: Request[Any, Any, Any],
    db: Database,
    order_id: int,
    data: workorders.WorkOrderUpdate,
    if_match: IfMatch = None,
) -> Response[dict[str, Any]]:
    async with db.session(write=True) as session:
        order, site, country, gap = await _load_order(session, request, order_id, lock=True)
        check_if_match(if_match, order.version)
        order = await upgrades.update(session, order, data)
        await session.commit()
        return _one(order, site, country, gap)


@post(
    "/work-orders/{order_id:int}/transitions",
    summary="Move a work order",
    description='`{"to": state, "note": ...}`; only legal moves (proposed -> approved -> '
    "scheduled -> in_progress -> completed; rejected and cancelled), each journalled. Needs "
    "If-Match. Completed work is verified (or sent back) by the next assessment.",
    operation_id="transition_work_order",
    tags=["upgrades"],
    status_code=200,
    opt={"permission": "work_order:transition"},
    responses=answer(answers.WorkOrderAnswer, "The work order in its new state, with its new ETag")
    | problem_responses(400, 401, 403, 404, 412, 422, 428),
)
async def transition_work_order(
    request: Request[Any, Any, Any],
    db: Database,
    order_id: int,
    data: workorders.Transition,
    if_match: IfMatch = None,
) -> Response[dict[str, Any]]:
    principal = principal_of(request)
    async with db.session(write=True) as session:
        order, site, country, gap = await _load_order(session, request, order_id, lock=True)
        check_if_match(if_match, order.version)
        order = await upgrades.transition(session, order, data, principal.role, principal.name)
        await session.commit()
        return _one(order, site, country, gap)


def _entry(entry: JournalEntry) -> dict[str, Any]:
    return {name: getattr(entry, name) for name in workorders.JOURNAL_FIELDS}


@get(
    "/work-orders/{order_id:int}/journal",
    summary="A work order's journal",
    operation_id="work_order_journal",
    tags=["upgrades"],
    opt={"permission": "work_order:read"},
    responses=answer(answers.Journal, "The journal") | problem_responses(401, 403, 404),
)
async def work_order_journal(
    request: Request[Any, Any, Any], db: Database, order_id: int
) -> dict[str, Any]:
    async with db.session() as session:
        order, *_ = await _load_order(session, request, order_id)
        entries = await upgrades.journal_entries(session, order)
    return {"items": [_entry(e) for e in entries]}


@post(
    "/work-orders/{order_id:int}/journal",
    summary="Write in a work order's journal",
    operation_id="add_journal_entry",
    tags=["upgrades"],
    status_code=201,
    opt={"permission": "work_order:journal"},
    responses=answer(answers.JournalEntryAnswer, "The entry written", 201)
    | problem_responses(400, 401, 403, 404, 422),
)
async def add_journal_entry(
    request: Request[Any, Any, Any], db: Database, order_id: int, data: workorders.JournalNote
) -> dict[str, Any]:
    async with db.session(write=True) as session:
        order, *_ = await _load_order(session, request, order_id, lock=True)
        entry = await upgrades.add_note(session, order, data.note)
        await session.commit()
        return _entry(entry)


@get(
    "/plans",
    summary="Plan of open work",
    description="Open work (not verified, rejected or cancelled) by country, site kind and "
    "programme, with counts and total estimated cost, and the ordered list of what to do first.",
    operation_id="plans",
    tags=["upgrades"],
    opt={"permission": "plan:read"},
    responses=answer(answers.Plan, "The plan of open work") | problem_responses(401, 403, 422),
)
async def plans(
    request: Request[Any, Any, Any],
    db: Database,
    top: Annotated[
        int, Parameter(query="top", ge=1, le=500, description="Length of the ordered list")
    ] = 20,
) -> dict[str, Any]:
    async with db.session() as session:
        return await upgrades.plan(session, principal_of(request).scope, top)


@get(
    "/evaluation",
    summary="What verified work changed",
    description="For each verified work order, the site's availability in the `days` before the "
    "work started and in the `days` after it was verified.",
    operation_id="evaluation",
    tags=["upgrades"],
    opt={"permission": "plan:read"},
    responses=answer(answers.Evaluation, "Availability before and after each verified work order")
    | problem_responses(401, 403, 422),
)
async def evaluation(
    request: Request[Any, Any, Any],
    db: Database,
    days: Annotated[int, Parameter(query="days", ge=1, le=365)] = 30,
) -> dict[str, Any]:
    async with db.session() as session:
        items = await evaluation_module.before_and_after(
            session, _scoped(evaluation_module.verified_orders(), request), days
        )
    return {"days": days, "items": items}
