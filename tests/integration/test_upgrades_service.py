"""The work-order rules called directly (no HTTP), on a real database of each backend: planning
from a patch, transitions and their refusals, the journal, the scope, the plan."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from fleet import context
from fleet.access.roles import Role
from fleet.database import Database
from fleet.errors import Forbidden, InvalidInput, NotFound
from fleet.probes.models import MaintenanceWindow
from fleet.upgrades import service
from fleet.upgrades.choices import WorkOrderState
from fleet.upgrades.models import WorkOrder
from fleet.upgrades.workorders import MaintenancePlan, Transition, WorkOrderUpdate
from tests.conftest import SAMPLE
from tests.integration.test_upgrades import _load_sample

Step = Callable[[AsyncSession], Awaitable[Any]]


def _in_session(url: str, step: Step, *, commit: bool = True) -> Any:
    async def go() -> Any:
        db = Database(url)
        try:
            async with db.session(write=True) as session:
                with context.acting_as("planner-1"):
                    result = await step(session)
                if commit:
                    await session.commit()
                return result
        finally:
            await db.dispose()

    return asyncio.run(go())


@pytest.fixture
def order_id(db_url: str) -> int:
    """The first work order the assessment proposes for NE-BCS-01."""
    asyncio.run(_load_sample(db_url))

    async def assess(session: AsyncSession) -> int:
        await service.assess_within(session, service.prices(SAMPLE), None, None, "NE-BCS-01")
        first = await session.scalar(sa.select(WorkOrder.id).order_by(WorkOrder.id).limit(1))
        assert first is not None
        return int(first)

    result: int = _in_session(db_url, assess)
    return result


def _versions(url: str, order_id: int) -> tuple[int, list[tuple[Any, ...]]]:
    async def read(session: AsyncSession) -> tuple[int, list[tuple[Any, ...]]]:
        row = await service.load(session, order_id)
        entries = await service.journal_entries(session, row.order)
        return row.order.version, [(e.from_state, e.to_state, e.note) for e in entries]

    result: tuple[int, list[tuple[Any, ...]]] = _in_session(url, read, commit=False)
    return result


def test_a_patch_changes_and_journals_only_what_differs(db_url: str, order_id: int) -> None:
    async def plan(session: AsyncSession) -> None:
        row = await service.load(session, order_id, lock=True)
        patch = WorkOrderUpdate(assignee="eng-1", due_on=date(2027, 3, 1))
        await service.update(session, row.order, patch)

    _in_session(db_url, plan)
    version, entries = _versions(db_url, order_id)
    assert version == 2
    assert entries[-1] == (None, None, "planned: assignee=eng-1, due_on=2027-03-01")

    _in_session(db_url, plan)  # the same values again: no new version, no entry
    assert _versions(db_url, order_id) == (version, entries)


def _move(url: str, order_id: int, move: Transition, role: Role = Role.planner) -> WorkOrder:
    async def step(session: AsyncSession) -> WorkOrder:
        row = await service.load(session, order_id, lock=True)
        return await service.transition(session, row.order, move, role, "eng-1")

    order: WorkOrder = _in_session(url, step)
    return order


@pytest.mark.parametrize(
    ("move", "role", "error", "field"),
    [
        (Transition(to=WorkOrderState.completed), Role.planner, InvalidInput, "to"),
        (Transition(to=WorkOrderState.approved), Role.field_engineer, Forbidden, None),
        (Transition(to=WorkOrderState.approved), Role.viewer, Forbidden, None),
        (
            Transition(
                to=WorkOrderState.approved,
                maintenance=MaintenancePlan(
                    starts_at=datetime(2027, 1, 1, tzinfo=UTC),
                    ends_at=datetime(2027, 1, 2, tzinfo=UTC),
                ),
            ),
            Role.planner,
            InvalidInput,
            "maintenance",
        ),
    ],
)
def test_a_refused_move_raises_the_domain_error_and_changes_nothing(
    db_url: str,
    order_id: int,
    move: Transition,
    role: Role,
    error: type[Exception],
    field: str | None,
) -> None:
    before = _versions(db_url, order_id)
    with pytest.raises(error) as caught:
        _move(db_url, order_id, move, role)
    assert getattr(caught.value, "field", None) == field
    assert _versions(db_url, order_id) == before


def test_legal_moves_bump_the_version_journal_and_open_the_window(
    db_url: str, order_id: int
) -> None:
    _move(db_url, order_id, Transition(to=WorkOrderState.approved, note="go"))
    start = datetime.now(UTC) + timedelta(days=1)
    backwards = MaintenancePlan(starts_at=start, ends_at=start - timedelta(hours=1))
    with pytest.raises(InvalidInput, match="must end after it starts"):
        _move(db_url, order_id, Transition(to=WorkOrderState.scheduled, maintenance=backwards))
    window = MaintenancePlan(starts_at=start, ends_at=start + timedelta(hours=2))
    _move(db_url, order_id, Transition(to=WorkOrderState.scheduled, maintenance=window))
    with pytest.raises(Forbidden, match="assigned to them"):
        _move(db_url, order_id, Transition(to=WorkOrderState.in_progress), Role.field_engineer)
    order = _move(db_url, order_id, Transition(to=WorkOrderState.in_progress), Role.admin)
    assert order.started_at is not None
    assert order.completed_at is None
    version, entries = _versions(db_url, order_id)
    assert version == 4
    assert [e[:2] for e in entries[1:]] == [
        ("proposed", "approved"),
        ("approved", "scheduled"),
        ("scheduled", "in_progress"),
    ]
    assert entries[1][2] == "go"

    async def windows(session: AsyncSession) -> list[str]:
        rows = await session.scalars(sa.select(MaintenanceWindow.reason))
        return list(rows)

    assert _in_session(db_url, windows, commit=False) == [
        f"work order {order_id}: {order.title}"[:500]
    ]


def test_a_note_is_stored_and_read_back_in_order(db_url: str, order_id: int) -> None:
    async def note(session: AsyncSession) -> Any:
        row = await service.load(session, order_id, lock=True)
        return await service.add_note(session, row.order, "cabinet key at the desk")

    entry = _in_session(db_url, note)
    assert (entry.actor, entry.note, entry.from_state, entry.to_state) == (
        "planner-1",
        "cabinet key at the desk",
        None,
        None,
    )
    version, entries = _versions(db_url, order_id)
    assert version == 1  # a note is not a change of the order
    assert entries[-1] == (None, None, "cabinet key at the desk")


def test_an_order_outside_the_scope_is_not_found(db_url: str, order_id: int) -> None:
    async def load(session: AsyncSession, scope: frozenset[str] | None, key: int) -> Any:
        return await service.load(session, key, scope)

    row = _in_session(db_url, lambda s: load(s, frozenset({"NE"}), order_id), commit=False)
    assert (row.site, row.country) == ("NE-BCS-01", "NE")
    for scope, key in ((frozenset({"SN"}), order_id), (None, 2**40), (None, order_id + 10_000)):
        with pytest.raises(NotFound):
            _in_session(db_url, lambda s, sc=scope, k=key: load(s, sc, k), commit=False)


def test_assessment_target_follows_the_scope() -> None:
    assert service.assessment_target(None, None, None) == (None, None)
    assert service.assessment_target(frozenset({"NE"}), None, None) == ("NE", None)
    assert service.assessment_target(frozenset({"NE"}), None, "NE-BCS-01") == (None, "NE-BCS-01")
    with pytest.raises(InvalidInput) as several:
        service.assessment_target(frozenset({"NE", "SN"}), None, None)
    assert several.value.field == "country"
    with pytest.raises(NotFound):
        service.assessment_target(frozenset({"NE"}), "SN", None)


def test_a_broken_price_list_names_the_prices(tmp_path: Path) -> None:
    assert service.prices(tmp_path / "absent") is None
    shutil.copytree(SAMPLE, tmp_path / "configs")
    (tmp_path / "configs" / "prices.yaml").write_text("currency: [", encoding="utf-8")
    with pytest.raises(InvalidInput) as broken:
        service.prices(tmp_path / "configs")
    assert broken.value.field == "prices"


def test_the_plan_counts_every_open_order(db_url: str, order_id: int) -> None:
    result = _in_session(db_url, lambda s: service.plan(s, None, 3), commit=False)

    async def open_orders(session: AsyncSession) -> int:
        return int(await session.scalar(sa.select(sa.func.count()).select_from(WorkOrder)) or 0)

    count = _in_session(db_url, open_orders, commit=False)
    assert result["total"]["count"] == count > 0
    assert sum(r["count"] for r in result["by_programme"]) == count
    assert len(result["next"]) == min(3, count)
    assert result["next"][0]["site"] == "NE-BCS-01"
    assert _in_session(db_url, lambda s: service.plan(s, frozenset({"SN"}), 3), commit=False)[
        "total"
    ] == {"count": 0, "estimated_cost": 0}
