"""Work orders: the legal transitions (one table) and who may make them, the request schemas,
the priority formula and the public shape (titles: :mod:`fleet.upgrades.titles`; the moves, the
planning and the journal: :mod:`fleet.upgrades.service`)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from pydantic import Field

from fleet.access.roles import Role
from fleet.inventory.schemas import Strict
from fleet.upgrades.choices import WorkOrderState
from fleet.upgrades.models import WorkOrder
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


Cost = Annotated[float, Field(ge=0, le=100_000_000)]


class WorkOrderUpdate(Strict):
    """Planning fields; absent fields stay as they are."""

    assignee: Annotated[str, Field(min_length=1, max_length=80)] | None = None
    due_on: date | None = None
    # Absent keeps the cost; null is refused (a work order always has one, 0 when unknown).
    estimated_cost: Cost = None  # type: ignore[assignment]
    programme: Annotated[str, Field(min_length=1, max_length=80)] | None = None


class JournalNote(Strict):
    note: Annotated[str, Field(min_length=1, max_length=2000)]


#: A work order's columns as the API shows them (after its id, site and country).
FIELDS = (
    "gap_id",
    "kind",
    "state",
    "title",
    "assignee",
    "due_on",
    "estimated_cost",
    "currency",
    "programme",
    "priority",
    "started_at",
    "completed_at",
    "verified_at",
    "version",
    "created_at",
    "updated_at",
)
#: A journal entry's columns as the API shows them.
JOURNAL_FIELDS = ("id", "at", "actor", "from_state", "to_state", "note")
#: The gap's columns shown with one work order (not in lists).
GAP_FIELDS = ("rule_id", "rule_type", "subject", "severity", "required", "actual", "resolved_at")


def public(
    order: WorkOrder, site: str | None = None, country: str | None = None, gap: Any = None
) -> dict[str, Any]:
    body: dict[str, Any] = {"id": order.id, "site": site, "country": country}
    body |= {name: getattr(order, name) for name in FIELDS}
    if gap is not None:
        body["gap"] = {name: getattr(gap, name) for name in GAP_FIELDS}
    return body
