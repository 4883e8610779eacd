"""The planner's workspace: gaps with their evidence, work orders as a board by state and as a
sortable list with their actions, rollups of open work and of verified work's effect, and
assessments started from the page. Pages like the board's (rendered on the server, working
without the script), for tokens holding ``plan:read``; forms post back here with the session
cookie and the anti-forgery field (:mod:`fleet.api.plan_forms`), then redirect.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from litestar import Request, Response, Router, get, post
from litestar.response import Redirect, Template

from fleet.api import charts, formats, plan_data
from fleet.api.auth import permission_guard
from fleet.api.deps import principal_of
from fleet.api.labels import KIND_LABELS
from fleet.api.pages import local_target, page, page_error, page_language
from fleet.api.plan_actions import ACTIONS, DIGITS, Outcome, apply
from fleet.api.plan_actions import Request as Asked
from fleet.api.plan_exports import csv_routes
from fleet.api.plan_forms import Form, csrf_token, read_form
from fleet.api.plan_jobs import Jobs
from fleet.database import Database
from fleet.errors import InvalidInput, NotFound
from fleet.settings import Settings
from fleet.upgrades import service as upgrades
from fleet.upgrades.choices import WorkOrderState

READ = {"permission": "plan:read"}
STATUS = {"applied": 200, "conflict": 409, "refused": 422}


def _page(
    name: str, request: Request[Any, Any, Any], status: int = 200, **context: Any
) -> Template:
    return page(name, request, status, csrf=csrf_token(request), **context)


def _query(request: Request[Any, Any, Any], names: tuple[str, ...]) -> dict[str, str]:
    return plan_data.clean_filters(request.query_params, names)


def _jobs(request: Request[Any, Any, Any]) -> Jobs:
    state = request.app.state
    if getattr(state, "plan_jobs", None) is None:
        state.plan_jobs = Jobs()
    jobs: Jobs = state.plan_jobs
    return jobs


@get("/plan", name="plan", opt=READ, include_in_schema=False)
async def plan_home(request: Request[Any, Any, Any], db: Database) -> Template:
    scope = principal_of(request).scope
    async with db.session() as session:
        plan = await upgrades.plan(session, scope, 10)
    choices = await plan_data.choices(db, scope)
    return _page("plan.html", request, plan=plan, choices=choices)


@get("/plan/gaps", name="plan-gaps", opt=READ, include_in_schema=False)
async def plan_gaps(request: Request[Any, Any, Any], db: Database) -> Template:
    filters = _query(request, plan_data.GAP_FILTERS)
    scope = principal_of(request).scope
    gaps, more = await plan_data.gaps(db, scope, filters)
    return _page(
        "plan_gaps.html",
        request,
        gaps=gaps,
        more=more,
        filters=filters,
        choices=await plan_data.choices(db, scope),
        site_kinds=KIND_LABELS,
        export=f"/plan/gaps.csv?{urlencode(filters)}",
        export_xlsx=f"/plan/gaps.xlsx?{urlencode(filters)}",
    )


@get("/plan/work-orders", name="plan-work-orders", opt=READ, include_in_schema=False)
async def plan_orders(request: Request[Any, Any, Any], db: Database) -> Template:
    filters = _query(request, plan_data.ORDER_FILTERS)
    view = "list" if request.query_params.get("view") == "list" else "board"
    scope = principal_of(request).scope
    orders, more = await plan_data.orders(db, scope, filters)
    orders, sort = plan_data.sort_orders(orders, request.query_params.get("sort"))
    notice = {k: request.query_params.get(k, "")[:20] for k in ("done", "order")}
    return _page(
        "plan_orders.html",
        request,
        view=view,
        orders=orders,
        columns=plan_data.by_state(orders),
        more=more,
        sort=sort,
        sorts=list(plan_data.SORTS),
        filters=filters,
        states=[s.value for s in WorkOrderState],
        choices=await plan_data.choices(db, scope),
        site_kinds=KIND_LABELS,
        notice=notice if notice["done"] in ACTIONS or notice["done"] == "bulk" else None,
        here=request.url.path + (f"?{request.url.query}" if request.url.query else ""),
        export=f"/plan/work-orders.csv?{urlencode(filters)}",
        export_xlsx=f"/plan/work-orders.xlsx?{urlencode(filters)}",
    )


@get("/plan/rollups", name="plan-rollups", opt=READ, include_in_schema=False)
async def plan_rollups(request: Request[Any, Any, Any], db: Database) -> Template:
    raw = request.query_params.get("days", "30")
    if not DIGITS.fullmatch(raw) or not 1 <= int(raw) <= 365:
        raise InvalidInput("days must be a whole number from 1 to 365", field="days")
    data = await plan_data.rollups(db, principal_of(request).scope, int(raw))
    plan = data["plan"]
    language, _ = page_language(request)
    none = language.gettext("none")

    def cost(rows: list[dict[str, Any]], key: Any = str) -> charts.Chart:
        return charts.bars(
            [(key(r["key"]) if r["key"] else none, r["estimated_cost"], money(r)) for r in rows]
        )

    def money(row: dict[str, Any]) -> str:
        return formats.number(language, row["estimated_cost"], "#,##0.00")

    cost_charts = {
        "by_country": cost(plan["by_country"]),
        "by_programme": cost(plan["by_programme"]),
        "by_site_kind": cost(plan["by_site_kind"], lambda k: formats.label(language, k, "kind")),
    }
    count_chart = charts.bars(
        [(r["key"] or none, float(r["count"]), str(r["count"])) for r in plan["by_country"]]
    )
    impact = charts.pairs(
        [
            (f"#{i['work_order']} {i['site']}", i["availability_before"], i["availability_after"])
            for i in data["evaluation"]
        ],
        lambda v: formats.percent1(language, v),
        language.gettext("no data"),
    )
    return _page(
        "plan_rollups.html",
        request,
        plan=plan,
        cost_charts=cost_charts,
        count_chart=count_chart,
        evaluation=data["evaluation"],
        impact=impact,
        days=data["days"],
    )


# --- actions --------------------------------------------------------------------------


def _asked(form: Form, action: str, order_id: str, version: str) -> Asked:
    return Asked(
        action=action,
        order_id=order_id,
        version=version,
        assignee=form.one("assignee", limit=200),
        due_on=form.one("due_on", limit=40),
        note=form.one("note"),
    )


def _outcomes(
    request: Request[Any, Any, Any], outcomes: list[Outcome], back: str, status: int
) -> Template:
    counts = {r: sum(1 for o in outcomes if o.result == r) for r in STATUS}
    return _page("plan_outcome.html", request, status, outcomes=outcomes, counts=counts, back=back)


def _with_notice(target: str, action: str, order: str) -> str:
    joiner = "&" if "?" in target else "?"
    return f"{target}{joiner}{urlencode({'done': action, 'order': order})}"


@post(
    "/plan/work-orders/{order_id:str}",
    name="plan-act",
    opt=READ,
    include_in_schema=False,
    status_code=303,
)
async def plan_act(request: Request[Any, Any, Any], db: Database, order_id: str) -> Response[Any]:
    """One action on one work order; back to the page on success, else what happened."""
    form = await read_form(request)
    back = local_target(form.one("back", limit=1000) or "/plan/work-orders")
    action = form.one("action", limit=20)
    asked = _asked(form, action, order_id[:20], form.one("version", limit=20))
    outcome = await apply(db, principal_of(request), asked)
    if outcome.result == "applied":
        return Redirect(_with_notice(back, action, order_id[:20]), status_code=303)
    return _outcomes(request, [outcome], back, STATUS[outcome.result])


@post("/plan/work-orders/bulk", name="plan-bulk", opt=READ, include_in_schema=False)
async def plan_bulk(request: Request[Any, Any, Any], db: Database) -> Template:
    """Approve or assign the ticked work orders, each on its own, with a result per row."""
    form = await read_form(request)
    back = local_target(form.one("back", limit=1000) or "/plan/work-orders?view=list")
    action = form.one("action", limit=20)
    if action not in ("approve", "assign"):
        raise InvalidInput("a bulk action is approve or assign", field="action")
    ticked = form.many("order")
    if not ticked:
        raise InvalidInput("tick at least one work order", field="order")
    outcomes = []
    for value in ticked:
        order_id, _, version = value[:40].partition(":")
        outcomes.append(
            await apply(db, principal_of(request), _asked(form, action, order_id, version))
        )
    return _outcomes(request, outcomes, back, 200)


# --- assessments ----------------------------------------------------------------------


@post(
    "/plan/assessments",
    name="plan-assess",
    opt={"permission": "assessment:run"},
    include_in_schema=False,
    status_code=303,
)
async def plan_assess(
    request: Request[Any, Any, Any], db: Database, settings: Settings
) -> Response[Any]:
    """Start an assessment of a site, a country or everything; its page shows the progress."""
    form = await read_form(request)
    principal = principal_of(request)
    country = form.one("country", limit=2).upper() or None
    site = form.one("site", limit=64) or None
    target = upgrades.assessment_target(principal.scope, country, site)
    prices = upgrades.prices(settings.site_configs)
    job = _jobs(request).start(db, prices, principal.scope, principal.token_id, target)
    return Redirect(f"/plan/assessments/{job.id}", status_code=303)


@get("/plan/assessments/{job_id:int}", name="plan-job", opt=READ, include_in_schema=False)
async def plan_job(request: Request[Any, Any, Any], job_id: int) -> Template:
    job = _jobs(request).get(job_id, principal_of(request).token_id)
    if job is None:
        raise NotFound(
            f"no assessment {job_id} here (it ended over an hour ago, or another process ran it)"
        )
    return _page("plan_job.html", request, job=job)


def plan_router() -> Router:
    """The planner's pages, under the role guard, with HTML errors (as the board's)."""
    return Router(
        path="/",
        route_handlers=[
            plan_home,
            plan_gaps,
            plan_orders,
            plan_rollups,
            plan_bulk,
            plan_act,
            plan_assess,
            plan_job,
            *csv_routes(),
        ],
        guards=[permission_guard],
        exception_handlers={Exception: page_error},
        include_in_schema=False,
    )
