"""The planner's exports, as CSV and as spreadsheets (XLSX): the gaps and the work orders as
the page filters them (the whole selection, up to :data:`fleet.api.plan_data.MAX_CSV` rows,
with the API's CSV writer or :mod:`fleet.api.spreadsheets`), and the rollups of open work.

The columns are the API's field names, in English whatever the page's language: a file is read
by other programs as much as by people, and the same columns come from ``/api/v1``.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get
from litestar.handlers import HTTPRouteHandler

from fleet.api import plan_data
from fleet.api.deps import principal_of
from fleet.api.spreadsheets import xlsx_response
from fleet.api.upgrades import csv_response
from fleet.database import Database
from fleet.upgrades import service as upgrades

READ = {"permission": "plan:read"}


def _named(response: Response[str], name: str) -> Response[str]:
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


async def _gaps(request: Request[Any, Any, Any], db: Database) -> list[dict[str, Any]]:
    filters = plan_data.clean_filters(request.query_params, plan_data.GAP_FILTERS)
    items, _ = await plan_data.gaps(
        db, principal_of(request).scope, filters, limit=plan_data.MAX_CSV
    )
    return items


async def _orders(request: Request[Any, Any, Any], db: Database) -> list[dict[str, Any]]:
    filters = plan_data.clean_filters(request.query_params, plan_data.ORDER_FILTERS)
    items, _ = await plan_data.orders(
        db, principal_of(request).scope, filters, limit=plan_data.MAX_CSV
    )
    for item in items:
        item.pop("moves", None)
    return items


async def _rollups(request: Request[Any, Any, Any], db: Database) -> list[dict[str, Any]]:
    """Open work by country, site kind and programme: one row per group."""
    async with db.session() as session:
        plan = await upgrades.plan(session, principal_of(request).scope, 1)
    return [
        {"group": group.removeprefix("by_"), **row}
        for group in ("by_country", "by_site_kind", "by_programme")
        for row in plan[group]
    ]


@get("/plan/gaps.csv", name="plan-gaps-csv", opt=READ, include_in_schema=False)
async def gaps_csv(request: Request[Any, Any, Any], db: Database) -> Response[str]:
    return _named(csv_response(await _gaps(request, db)), "gaps.csv")


@get("/plan/work-orders.csv", name="plan-work-orders-csv", opt=READ, include_in_schema=False)
async def orders_csv(request: Request[Any, Any, Any], db: Database) -> Response[str]:
    return _named(csv_response(await _orders(request, db)), "work-orders.csv")


@get("/plan/rollups.csv", name="plan-rollups-csv", opt=READ, include_in_schema=False)
async def rollups_csv(request: Request[Any, Any, Any], db: Database) -> Response[str]:
    return _named(csv_response(await _rollups(request, db)), "open-work.csv")


@get("/plan/gaps.xlsx", name="plan-gaps-xlsx", opt=READ, include_in_schema=False)
async def gaps_xlsx(request: Request[Any, Any, Any], db: Database) -> Response[bytes]:
    return xlsx_response(await _gaps(request, db), "gaps.xlsx")


@get("/plan/work-orders.xlsx", name="plan-work-orders-xlsx", opt=READ, include_in_schema=False)
async def orders_xlsx(request: Request[Any, Any, Any], db: Database) -> Response[bytes]:
    return xlsx_response(await _orders(request, db), "work-orders.xlsx")


@get("/plan/rollups.xlsx", name="plan-rollups-xlsx", opt=READ, include_in_schema=False)
async def rollups_xlsx(request: Request[Any, Any, Any], db: Database) -> Response[bytes]:
    return xlsx_response(await _rollups(request, db), "open-work.xlsx")


def csv_routes() -> list[HTTPRouteHandler]:
    """The exports' routes, CSV and XLSX."""
    return [gaps_csv, orders_csv, rollups_csv, gaps_xlsx, orders_xlsx, rollups_xlsx]
