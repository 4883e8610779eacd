"""The rules of work orders and their reads: find one within a country scope, plan it from a
validated patch, move it by a legal transition, write its journal, and sum up the open work.

Like the inventory's service, the functions take a session and leave the commit to the caller.
A write bumps the version and journals what changed; a patch that changes nothing does neither.
``scope`` is a set of country codes (None: every country); an order outside it is not found.
Errors are the domain's own (:mod:`fleet.errors`); the API maps them to problems.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col
from typing_extensions import TypedDict  # pydantic reads typing's only from Python 3.12

from fleet import context
from fleet.access.roles import Role
from fleet.errors import Forbidden, InvalidInput, NotFound
from fleet.inventory import service as inventory_service
from fleet.inventory.configs import ConfigError
from fleet.inventory.models import Country, Site
from fleet.inventory.resources import SITE
from fleet.models import fits_int32, utcnow
from fleet.probes.models import MaintenanceWindow
from fleet.progress import SILENT, Progress
from fleet.upgrades import assess, profiles, workorders
from fleet.upgrades.choices import WorkOrderState
from fleet.upgrades.models import Gap, JournalEntry, SiteAssessment, WorkOrder
from fleet.upgrades.profiles import PriceList
from fleet.upgrades.workorders import OPEN_STATES, TRANSITIONS, Transition, WorkOrderUpdate

Scope = frozenset[str] | None


class OrderRow(NamedTuple):
    """A work order with its site's and country's codes and the gap it closes."""

    order: WorkOrder
    site: str
    country: str
    gap: Gap


def scoped(statement: Any, scope: Scope) -> Any:
    """``statement`` (joined to ``Country``) limited to the countries of ``scope``."""
    return statement if scope is None else statement.where(col(Country.code).in_(sorted(scope)))


def orders_select() -> Any:
    """Work orders with their site's and country's codes."""
    return (
        sa.select(WorkOrder, col(Site.code).label("site"), col(Country.code).label("country"))
        .join(Site, col(WorkOrder.site_id) == col(Site.id))
        .join(Country, col(Site.country_id) == col(Country.id))
    )


def gaps_select() -> Any:
    """Gaps with their site's and country's codes and the site's last assessment."""
    return (
        sa.select(
            Gap,
            col(Site.code).label("site"),
            col(Country.code).label("country"),
            col(SiteAssessment.assessed_at),
        )
        .join(Site, col(Gap.site_id) == col(Site.id))
        .join(Country, col(Site.country_id) == col(Country.id))
        .outerjoin(SiteAssessment, col(SiteAssessment.site_id) == col(Gap.site_id))
    )


#: A gap's columns as the API shows them (after its id, site and country).
GAP_FIELDS = (
    "profile",
    "profile_version",
    "rule_id",
    "rule_type",
    "subject",
    "severity",
    "work",
    "required",
    "actual",
    "quantity",
    "first_seen",
    "last_seen",
    "resolved_at",
)


def public_gap(row: Any) -> dict[str, Any]:
    """A row of :func:`gaps_select` as the API shows it."""
    gap, site, country, assessed_at = row[0], row[1], row[2], row[3]
    body: dict[str, Any] = {"id": gap.id, "site": site, "country": country}
    body |= {name: getattr(gap, name) for name in GAP_FIELDS}
    if gap.resolved_at is None and assessed_at is not None:
        # open: seen at the site's last assessment
        body["last_seen"] = max(gap.last_seen, assessed_at)
    return body


async def load(
    session: AsyncSession, order_id: int, scope: Scope = None, *, lock: bool = False
) -> OrderRow:
    """The work order ``order_id``, locked for a write with ``lock``; not found outside scope."""
    statement = scoped(
        orders_select().add_columns(Gap).join(Gap, col(WorkOrder.gap_id) == col(Gap.id)), scope
    ).where(col(WorkOrder.id) == (order_id if fits_int32(order_id) else -1))
    if lock:
        statement = statement.with_for_update(of=WorkOrder)
    row = (await session.execute(statement)).first()
    if row is None:
        raise NotFound(f"no work order {order_id}")
    return OrderRow(row[0], row[1], row[2], row[3])


def journal(
    session: AsyncSession, order: WorkOrder, note: str | None, old: str | None, new: str | None
) -> None:
    """Add a journal entry by the current actor: a note, a move from ``old`` to ``new``, or both."""
    assert order.id is not None
    session.add(
        JournalEntry(
            work_order_id=order.id,
            actor=context.actor.get(),
            from_state=old,
            to_state=new,
            note=note,
        )
    )


def _bump(order: WorkOrder) -> None:
    order.version += 1
    order.updated_at = utcnow()


async def update(session: AsyncSession, order: WorkOrder, patch: WorkOrderUpdate) -> WorkOrder:
    """Set the planning fields given in ``patch``; journal the changed ones as one entry."""
    values = patch.model_dump(exclude_unset=True)
    changed = {k: v for k, v in values.items() if getattr(order, k) != v}
    if changed:
        for key, value in changed.items():
            setattr(order, key, value)
        _bump(order)
        journal(
            session,
            order,
            "planned: " + ", ".join(f"{k}={v}" for k, v in changed.items()),
            None,
            None,
        )
    return order


def _check_move(order: WorkOrder, move: Transition, role: Role, actor: str) -> None:
    allowed = TRANSITIONS[order.state]
    if move.to not in allowed:
        legal = ", ".join(allowed) or "none (only the assessment moves a completed order on)"
        raise InvalidInput(
            f"a {order.state} work order cannot become {move.to}; legal moves: {legal}", field="to"
        )
    if role not in allowed[move.to]:
        raise Forbidden(f"the role {role.value} may not move a work order to {move.to}")
    if role == Role.field_engineer and order.assignee != actor:
        raise Forbidden("a field engineer moves only the work orders assigned to them")
    if move.maintenance is not None and move.to != WorkOrderState.scheduled:
        raise InvalidInput(
            "a maintenance window goes with the move to scheduled", field="maintenance"
        )
    plan = move.maintenance
    if plan is not None and (
        plan.starts_at.tzinfo is None
        or plan.ends_at.tzinfo is None
        or plan.ends_at <= plan.starts_at
    ):
        raise InvalidInput(
            "the window needs time zones and must end after it starts", field="maintenance"
        )


async def transition(
    session: AsyncSession, order: WorkOrder, move: Transition, role: Role, actor: str
) -> WorkOrder:
    """Make a legal move, or refuse it saying which moves there are. The move to ``scheduled``
    may open a maintenance window for the site."""
    _check_move(order, move, role, actor)
    if move.maintenance is not None:
        session.add(
            MaintenanceWindow(
                site_id=order.site_id,
                starts_at=move.maintenance.starts_at,
                ends_at=move.maintenance.ends_at,
                reason=f"work order {order.id}: {order.title}"[:500],
            )
        )
    old = order.state
    order.state = move.to
    _bump(order)
    if move.to == WorkOrderState.in_progress and order.started_at is None:
        order.started_at = order.updated_at
    if move.to == WorkOrderState.completed:
        order.completed_at = order.updated_at
    journal(session, order, move.note, old, move.to)
    await session.flush()
    return order


async def journal_entries(session: AsyncSession, order: WorkOrder) -> list[JournalEntry]:
    """The order's journal, oldest first."""
    rows = await session.scalars(
        sa.select(JournalEntry)
        .where(col(JournalEntry.work_order_id) == order.id)
        .order_by(col(JournalEntry.id))
    )
    return list(rows.all())


async def add_note(session: AsyncSession, order: WorkOrder, note: str) -> JournalEntry:
    """Write ``note`` in the order's journal and give back the entry as stored."""
    journal(session, order, note, None, None)
    await session.flush()
    entry = await session.scalar(
        sa.select(JournalEntry)
        .where(col(JournalEntry.work_order_id) == order.id)
        .order_by(col(JournalEntry.id).desc())
        .limit(1)
    )
    assert entry is not None
    return entry


class PlanTotal(TypedDict):
    """Open work: how many orders, and their estimated cost."""

    count: int
    estimated_cost: float


class PlanRow(PlanTotal):
    """Open work of one country, site kind or programme (null: none set)."""

    key: str | None


PLAN_GROUPS = (
    ("by_country", col(Country.code)),
    ("by_site_kind", col(Site.kind)),
    ("by_programme", col(WorkOrder.programme)),
)


async def plan(session: AsyncSession, scope: Scope, top: int) -> dict[str, Any]:
    """Open work counted and costed by country, site kind and programme, the ``top`` orders to
    do first (highest priority, then oldest), and the total."""
    base = scoped(
        sa.select()
        .select_from(WorkOrder)
        .join(Site, col(WorkOrder.site_id) == col(Site.id))
        .join(Country, col(Site.country_id) == col(Country.id))
        .where(col(WorkOrder.state).in_(OPEN_STATES)),
        scope,
    )
    result: dict[str, Any] = {}
    for name, column in PLAN_GROUPS:
        rows = await session.execute(
            base.add_columns(
                column,
                sa.func.count(),
                sa.func.coalesce(sa.func.sum(col(WorkOrder.estimated_cost)), 0),
            )
            .group_by(column)
            .order_by(column)
        )
        result[name] = [
            PlanRow(key=key, count=count, estimated_cost=round(float(cost), 2))
            for key, count, cost in rows
        ]
    rows = await session.execute(
        scoped(orders_select(), scope)
        .where(col(WorkOrder.state).in_(OPEN_STATES))
        .order_by(col(WorkOrder.priority).desc(), col(WorkOrder.id))
        .limit(top)
    )
    result["next"] = [workorders.public(row[0], row[1], row[2]) for row in rows]
    result["total"] = PlanTotal(
        count=sum(r["count"] for r in result["by_country"]),
        estimated_cost=round(sum(r["estimated_cost"] for r in result["by_country"]), 2),
    )
    return result


def prices(site_configs: Path) -> PriceList | None:
    """The price list of the site configuration folder (None without one)."""
    if not site_configs.is_dir():
        return None
    try:
        return profiles.load(site_configs)[1]
    except ConfigError as exc:
        raise InvalidInput(f"the price list is broken: {exc.problems[0]}", field="prices") from None


def assessment_target(
    scope: Scope, country: str | None, site: str | None
) -> tuple[str | None, str | None]:
    """What a caller limited to ``scope`` assesses when it asks for ``country`` or ``site``: a
    token of one country that names nothing assesses its country."""
    if scope is None:
        return country, site
    if country is None and site is None:
        if len(scope) != 1:
            raise InvalidInput(
                "a token limited to several countries assesses one at a time", field="country"
            )
        return next(iter(scope)), None
    if country is not None and country not in scope:
        raise NotFound(f"no country {country}")
    return country, site


async def assess_within(
    session: AsyncSession,
    price_list: PriceList | None,
    scope: Scope,
    country: str | None,
    site: str | None,
    progress: Progress = SILENT,
) -> assess.Summary:
    """Run the assessment on ``country`` or ``site`` (as :func:`assessment_target` gives them);
    a site outside ``scope`` is not found. ``progress`` follows the pass's steps."""
    if site is not None:
        await inventory_service.read(session, SITE, site, scope)  # not found outside the scope
    return await assess.run(session, price_list, country=country, site=site, progress=progress)
