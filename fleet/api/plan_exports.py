"""The planner's CSV exports: the gaps and the work orders as the page filters them (the whole
selection, with the API's CSV writer), and the rollups of open work."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get
from litestar.handlers import HTTPRouteHandler

from fleet.api import plan_data
from fleet.api.deps import principal_of
from fleet.api.upgrades import csv_response
from fleet.database import Database
from fleet.upgrades import service as upgrades

READ = {"permission": "plan:read"}


def _named(response: Response[str], name: str) -> Response[str]:
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@get("/plan/gaps.csv", name="plan-gaps-csv", opt=READ, include_in_schema=False)
async def gaps_csv(request: Request[Any, Any, Any], db: Database) -> Response[str]:
    filters = plan_data.clean_filters(request.query_params, plan_data.GAP_FILTERS)
    items, _ = await plan_data.gaps(
        db, principal_of(request).scope, filters, limit=plan_data.MAX_CSV
    )
    return _named(csv_response(items), "gaps.csv")


@get("/plan/work-orders.csv", name="plan-work-orders-csv", opt=READ, include_in_schema=False)
async def orders_csv(request: Request[Any, Any, Any], db: Database) -> Response[str]:
    filters = plan_data.clean_filters(request.query_params, plan_data.ORDER_FILTERS)
    items, _ = await plan_data.orders(
        db, principal_of(request).scope, filters, limit=plan_data.MAX_CSV
    )
    for item in items:
        item.pop("moves", None)
    return _named(csv_response(items), "work-orders.csv")


@get("/plan/rollups.csv", name="plan-rollups-csv", opt=READ, include_in_schema=False)
async def rollups_csv(request: Request[Any, Any, Any], db: Database) -> Response[str]:
    """Open work by country, site kind and programme: one row per group."""
    async with db.session() as session:
        plan = await upgrades.plan(session, principal_of(request).scope, 1)
    rows = [
        {"group": group.removeprefix("by_"), **row}
        for group in ("by_country", "by_site_kind", "by_programme")
        for row in plan[group]
    ]
    return _named(csv_response(rows), "open-work.csv")


def csv_routes() -> list[HTTPRouteHandler]:
    return [gaps_csv, orders_csv, rollups_csv]
