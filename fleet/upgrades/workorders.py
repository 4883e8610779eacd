"""Work orders: the legal transitions (one table), who may make them, the journal, the priority
formula (titles: :mod:`fleet.upgrades.titles`)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from pydantic import Field
from sqlalchemy.ext.asyncio import AsyncSession

from fleet import context
from fleet.access.roles import Role
from fleet.errors import Forbidden, InvalidInput
from fleet.inventory.schemas import Strict
from fleet.models import utcnow
from fleet.probes.models import MaintenanceWindow
from fleet.upgrades.choices import WorkOrderState
from fleet.upgrades.models import JournalEntry, WorkOrder
from fleet.upgrades.rules import SEVERITY_WEIGHT, Finding

State = WorkOrderState
S = WorkOrderState
PLANNERS = frozenset({Role.planner, Role.admin})
FIELD = frozenset({Role.field_engineer, Role.planner, Role.admin})

# state -> {next state: roles that may make the move}. ``completed`` moves on only through the
# assessment's evidence (to verified, or back to in_progress); the final states move nowhere.
TRANSITIONS: dict[str, dict[str, frozenset[Role]]] = {
    S.proposed: {
        S.approved: PLANNERS,
        S.rejected: PLANNERS,
        S.cancelled: PLANNERS,
    },
    S.approved: {
        S.scheduled: PLANNERS,
        S.cancelled: PLANNERS,
    },
    S.scheduled: {
        S.in_progress: FIELD,
        S.cancelled: PLANNERS,
    },
    S.in_progress: {
        S.completed: FIELD,
        S.cancelled: PLANNERS,
    },
    S.completed: {},
    S.verified: {},
    S.rejected: {},
    S.cancelled: {},
}
OPEN_STATES = (
    WorkOrderState.proposed,
    WorkOrderState.approved,
    WorkOrderState.scheduled,
    WorkOrderState.in_progress,
    WorkOrderState.completed,
)

MAX_AGE_DAYS = 180
END_OF_SUPPORT_RISK = 5.0


def priority(
    criticality: int,
    severity: str,
    age_days: int,
    finding: Finding | None,
    rule_type: str | None = None,
) -> float:
    """``criticality x severity weight x (1 + min(age, 180 days) / 90) + 5 for end of support``.

    Criticality is the site's (1-5); severity weights are low 1, medium 2, high 3, critical 4; a
    gap's weight triples over its first half year; kit past (or near) end of support adds a flat
    risk of 5. The highest first.
    """
    kind = finding.rule_type if finding is not None else rule_type
    age = min(max(age_days, 0), MAX_AGE_DAYS)
    value = criticality * SEVERITY_WEIGHT[severity] * (1 + age / 90)
    if kind == "end_of_support":
        value += END_OF_SUPPORT_RISK
    return round(value, 3)


class MaintenancePlan(Strict):
    starts_at: datetime
    ends_at: datetime


class Transition(Strict):
    """Move a work order to another state."""

    to: State
    note: Annotated[str, Field(max_length=2000)] | None = None
    maintenance: MaintenancePlan | None = Field(
        default=None, description="With `scheduled`: open a maintenance window for the site"
    )


class WorkOrderUpdate(Strict):
    """Planning fields; absent fields stay as they are."""

    assignee: Annotated[str, Field(min_length=1, max_length=80)] | None = None
    due_on: date | None = None
    estimated_cost: Annotated[float, Field(ge=0, le=100_000_000)] | None = None
    programme: Annotated[str, Field(min_length=1, max_length=80)] | None = None


class JournalNote(Strict):
    note: Annotated[str, Field(min_length=1, max_length=2000)]


def journal(
    session: AsyncSession, order: WorkOrder, note: str | None, old: str | None, new: str | None
) -> None:
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


async def transition(
    session: AsyncSession, order: WorkOrder, move: Transition, role: Role, actor: str
) -> WorkOrder:
    """Make a legal move, or refuse it saying which moves there are."""
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
    now = utcnow()
    if move.maintenance is not None:
        plan = move.maintenance
        if (
            plan.starts_at.tzinfo is None
            or plan.ends_at.tzinfo is None
            or plan.ends_at <= plan.starts_at
        ):
            raise InvalidInput(
                "the window needs time zones and must end after it starts", field="maintenance"
            )
        session.add(
            MaintenanceWindow(
                site_id=order.site_id,
                starts_at=plan.starts_at,
                ends_at=plan.ends_at,
                reason=f"work order {order.id}: {order.title}"[:500],
            )
        )
    old = order.state
    order.state = move.to
    if move.to == WorkOrderState.in_progress and order.started_at is None:
        order.started_at = now
    if move.to == WorkOrderState.completed:
        order.completed_at = now
    order.version += 1
    order.updated_at = now
    journal(session, order, move.note, old, move.to)
    await session.flush()
    return order


def public(
    order: WorkOrder, site: str | None = None, country: str | None = None, gap: Any = None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": order.id,
        "site": site,
        "country": country,
        "gap_id": order.gap_id,
        "kind": order.kind,
        "state": order.state,
        "title": order.title,
        "assignee": order.assignee,
        "due_on": order.due_on,
        "estimated_cost": order.estimated_cost,
        "currency": order.currency,
        "programme": order.programme,
        "priority": order.priority,
        "started_at": order.started_at,
        "completed_at": order.completed_at,
        "verified_at": order.verified_at,
        "version": order.version,
        "created_at": order.created_at,
        "updated_at": order.updated_at,
    }
    if gap is not None:
        body["gap"] = {
            "rule_id": gap.rule_id,
            "rule_type": gap.rule_type,
            "subject": gap.subject,
            "severity": gap.severity,
            "required": gap.required,
            "actual": gap.actual,
            "resolved_at": gap.resolved_at,
        }
    return body
