"""What the planner's pages show, read through the upgrades service within the token's
countries: gaps with their evidence, work orders by state and as a sortable list, and the
rollups of open work and of verified work's effect."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from fleet.api.upgrades import GAPS, WORK_ORDERS
from fleet.database import Database
from fleet.errors import InvalidInput
from fleet.inventory.models import Country, Site
from fleet.models import utcnow
from fleet.pagination import ListParams, apply
from fleet.upgrades import evaluation, workorders
from fleet.upgrades import service as upgrades
from fleet.upgrades.models import Gap
from fleet.upgrades.workorders import TRANSITIONS

#: Most rows one page lists (the CSV export has the whole selection).
MAX_ROWS = 500
MAX_CSV = 100_000
#: The board's columns, in the order of the transition table.
COLUMNS = tuple(TRANSITIONS)
#: What the list sorts by: key -> (label, value of a row).
SORTS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "priority": lambda o: o["priority"],
    "due_on": lambda o: o["due_on"] or date.max,
    "cost": lambda o: o["estimated_cost"],
    "assignee": lambda o: (o["assignee"] is None, (o["assignee"] or "").lower()),
    "age": lambda o: o["created_at"],
}
#: The sorts that put the largest first unless ``-`` reverses them.
DESCENDING = {"priority", "cost", "age"}
TEXT_FILTER = 200
GAP_FILTERS = ("country", "site", "rule", "kind", "status")
ORDER_FILTERS = ("country", "site", "state", "kind", "programme", "assignee", "q")


def clean_filters(raw: Mapping[str, Any], names: tuple[str, ...]) -> dict[str, str]:
    """The filters of ``names`` given in ``raw`` (a query: stripped, bounded); others are not
    read."""
    out: dict[str, str] = {}
    for name in names:
        value = str(raw.get(name) or "").strip()
        if len(value) > TEXT_FILTER:
            raise InvalidInput(f"{name} is longer than {TEXT_FILTER} characters", field=name)
        if value:
            out[name] = value
    return out


def _kind(statement: Any, kind: str | None) -> Any:
    if not kind:
        return statement
    return statement.where(col(Site.kind).in_([k for k in kind.split(",") if k]))


async def gaps(
    db: Database, scope: upgrades.Scope, filters: dict[str, str], limit: int = MAX_ROWS
) -> tuple[list[dict[str, Any]], bool]:
    """Open gaps (or as ``status`` says) by country, site and rule; and whether there are more."""
    wanted = {"status": "open", **{k: v for k, v in filters.items() if k != "kind"}}
    statement, _, _ = apply(
        _kind(upgrades.scoped(upgrades.gaps_select(), scope), filters.get("kind")),
        GAPS,
        ListParams(filters=wanted, limit=limit, sort="id"),
        max_limit=MAX_CSV,
    )
    async with db.session() as session:
        rows = (await session.execute(statement)).all()
    items = [upgrades.public_gap(row) for row in rows[:limit]]
    items.sort(key=lambda g: (g["country"], g["site"], g["rule_id"], g["subject"]))
    return items, len(rows) > limit


async def choices(db: Database, scope: upgrades.Scope) -> dict[str, list[str]]:
    """The values the filters offer: countries, sites and rules within the scope."""
    async with db.session() as session:
        countries = await _distinct(session, col(Country.code), scope)
        sites = await _distinct(session, col(Site.code), scope)
        rules = await _distinct(session, col(Gap.rule_id), scope)
    return {"countries": countries, "sites": sites, "rules": rules}


async def _distinct(session: AsyncSession, column: Any, scope: upgrades.Scope) -> list[str]:
    statement = (
        sa.select(column)
        .select_from(Gap)
        .join(Site, col(Gap.site_id) == col(Site.id))
        .join(Country, col(Site.country_id) == col(Country.id))
        .distinct()
        .order_by(column)
        .limit(MAX_ROWS)
    )
    return [str(v) for v in await session.scalars(upgrades.scoped(statement, scope))]


def _age_days(created: datetime, now: datetime) -> int:
    return max(0, (now - created).days)


async def orders(
    db: Database, scope: upgrades.Scope, filters: dict[str, str], limit: int = MAX_ROWS
) -> tuple[list[dict[str, Any]], bool]:
    """Work orders (the list's filters), highest priority first, each with its age."""
    statement, _, _ = apply(
        _kind(upgrades.scoped(upgrades.orders_select(), scope), filters.get("kind")),
        WORK_ORDERS,
        ListParams(
            filters={k: v for k, v in filters.items() if k not in ("kind", "q")},
            q=filters.get("q"),
            limit=limit,
        ),
        max_limit=MAX_CSV,
    )
    async with db.session() as session:
        rows = (await session.execute(statement)).all()
    now = utcnow()
    items = []
    for row in rows[:limit]:
        item = workorders.public(row[0], row[1], row[2])
        item["age_days"] = _age_days(row[0].created_at, now)
        item["moves"] = sorted(TRANSITIONS[row[0].state])
        items.append(item)
    return items, len(rows) > limit


def sort_orders(items: list[dict[str, Any]], sort: str | None) -> tuple[list[dict[str, Any]], str]:
    """``items`` sorted as ``sort`` says (``-`` reverses); the sort in force."""
    sort = (sort or "priority").strip()
    name = sort.removeprefix("-")
    if name not in SORTS:
        known = ", ".join(SORTS)
        raise InvalidInput(f"cannot sort by {name!r} (choose from: {known})", field="sort")
    descending = (name in DESCENDING) != sort.startswith("-")
    key = SORTS[name] if name != "age" else (lambda o: o["age_days"])
    return sorted(items, key=key, reverse=descending), sort


def by_state(items: list[dict[str, Any]]) -> list[tuple[str, list[dict[str, Any]]]]:
    """The board: every state of the transition table, in its order, with its orders."""
    return [(state, [o for o in items if o["state"] == state]) for state in COLUMNS]


async def rollups(db: Database, scope: upgrades.Scope, days: int) -> dict[str, Any]:
    """The plan of open work (``/plans``) and the evaluation of verified work (``/evaluation``)."""
    async with db.session() as session:
        plan = await upgrades.plan(session, scope, 20)
        items = await evaluation.before_and_after(
            session, upgrades.scoped(evaluation.verified_orders(), scope), days
        )
    return {"plan": plan, "evaluation": items, "days": days}
