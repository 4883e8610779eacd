"""The planner's actions on work orders (approve, reject, schedule, assign, cancel), each made
through the upgrades service as the API's routes make them: the order loaded within the token's
countries and locked, the version the page showed checked as ``If-Match``, the move or the
planning journalled by the signed-in planner. Each action is its own transaction, so one
refused row of a bulk form leaves the others as they are.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

from pydantic import ValidationError

from fleet.access import tokens
from fleet.access.roles import allowed
from fleet.database import Database
from fleet.errors import FleetError, Forbidden, InvalidInput, PreconditionFailed
from fleet.inventory.service import check_if_match, etag
from fleet.upgrades import service as upgrades
from fleet.upgrades import workorders
from fleet.upgrades.choices import WorkOrderState
from fleet.upgrades.workorders import Transition, WorkOrderUpdate

ACTIONS = ("approve", "reject", "schedule", "assign", "cancel")
#: The move each action makes (assign only plans).
MOVES = {
    "approve": WorkOrderState.approved,
    "reject": WorkOrderState.rejected,
    "schedule": WorkOrderState.scheduled,
    "cancel": WorkOrderState.cancelled,
}
Result = Literal["applied", "conflict", "refused"]
DIGITS = re.compile(r"[0-9]{1,9}")


@dataclass
class Request:
    """One action as a form asked for it (text as sent; checked by :func:`apply`)."""

    action: str
    order_id: str
    version: str
    assignee: str = ""
    due_on: str = ""
    note: str = ""


@dataclass
class Outcome:
    """What became of one action, with the order as it is now (None: not found)."""

    order_id: str
    action: str
    result: Result
    reason: str = ""
    order: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _number(text: str, name: str) -> int:
    if not DIGITS.fullmatch(text):
        raise InvalidInput(f"{name} must be a whole number", field=name)
    return int(text)


def _patch(asked: Request) -> WorkOrderUpdate | None:
    """The planning fields the action sets (validated as the API validates them)."""
    values: dict[str, Any] = {}
    if asked.action == "assign":
        if not asked.assignee:
            raise InvalidInput("name who the work is assigned to", field="assignee")
        values["assignee"] = asked.assignee
    if asked.action == "schedule":
        try:
            values["due_on"] = date.fromisoformat(asked.due_on)
        except ValueError:
            raise InvalidInput(
                "the due date must be a date as 2027-03-31", field="due_on"
            ) from None
    if not values:
        return None
    try:
        return WorkOrderUpdate.model_validate(values)
    except ValidationError as exc:
        first = exc.errors()[0]
        name = str(first["loc"][0]) if first["loc"] else "form"
        raise InvalidInput(f"{name}: {first['msg']}", field=name) from None


def _move(asked: Request) -> Transition | None:
    if asked.action not in MOVES:
        return None
    try:
        return Transition.model_validate({"to": MOVES[asked.action], "note": asked.note or None})
    except ValidationError:
        raise InvalidInput("the note is longer than 2000 characters", field="note") from None


async def _current(db: Database, order_id: int, scope: upgrades.Scope) -> dict[str, Any] | None:
    async with db.session() as session:
        try:
            row = await upgrades.load(session, order_id, scope)
        except FleetError:
            return None
    body = workorders.public(row.order, row.site, row.country)
    body["moves"] = sorted(workorders.TRANSITIONS[row.order.state])
    return body


async def apply(db: Database, principal: tokens.Principal, asked: Request) -> Outcome:
    """Make one action, or say why not: a stale version is a conflict (with the order as it is
    now), anything else the rules refuse is refused with the reason."""
    try:
        order_id = _number(asked.order_id, "order")
    except InvalidInput as exc:
        return Outcome(asked.order_id, asked.action, "refused", str(exc))
    try:
        await _apply(db, principal, order_id, asked)
    except PreconditionFailed:
        current = await _current(db, order_id, principal.scope)
        return Outcome(
            asked.order_id,
            asked.action,
            "conflict",
            "someone changed this work order after your page showed it",
            current,
            {"seen": asked.version},
        )
    except FleetError as exc:
        current = await _current(db, order_id, principal.scope)
        return Outcome(asked.order_id, asked.action, "refused", str(exc), current)
    return Outcome(
        asked.order_id, asked.action, "applied", "", await _current(db, order_id, principal.scope)
    )


async def _apply(db: Database, principal: tokens.Principal, order_id: int, asked: Request) -> None:
    if asked.action not in ACTIONS:
        raise InvalidInput(f"unknown action; one of {', '.join(ACTIONS)}", field="action")
    needs = "work_order:update" if asked.action == "assign" else "work_order:transition"
    if not allowed(principal.role, needs, scoped=principal.scope is not None):
        raise Forbidden(f"the role {principal.role.value} may not do {needs}")
    patch, move = _patch(asked), _move(asked)
    version = _number(asked.version, "version")
    async with db.session(write=True) as session:
        row = await upgrades.load(session, order_id, principal.scope, lock=True)
        check_if_match(etag(version), row.order.version)
        order = row.order
        if move is not None:  # the move first: a due date on an order that cannot be scheduled
            order = await upgrades.transition(session, order, move, principal.role, principal.name)
        if patch is not None:
            order = await upgrades.update(session, order, patch)
        await session.commit()
