"""Availability over a period, from the state events (maintenance and unknown time excluded)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col
from typing_extensions import TypedDict  # pydantic reads typing's only from Python 3.12

from fleet.probes.choices import AVAILABLE, NOT_COUNTED, State
from fleet.probes.models import StateEvent


class Availability(TypedDict):
    """Seconds in each state between ``since`` and ``until``, and the share of counted time the
    object was available (null: nothing counted)."""

    object_type: str
    object_id: int
    since: datetime
    until: datetime
    seconds: dict[str, float]
    availability: float | None


async def availability(
    session: AsyncSession, object_type: str, object_id: int, since: datetime, until: datetime
) -> Availability:
    """Seconds in each state between ``since`` and ``until``, and the share of counted time
    (all but maintenance and unknown) that the object was available."""
    before = await session.scalar(
        sa.select(col(StateEvent.new_state))
        .where(
            col(StateEvent.object_type) == object_type,
            col(StateEvent.object_id) == object_id,
            col(StateEvent.at) < since,
        )
        .order_by(col(StateEvent.at).desc(), col(StateEvent.id).desc())
        .limit(1)
    )
    events = (
        await session.execute(
            sa.select(col(StateEvent.at), col(StateEvent.new_state))
            .where(
                col(StateEvent.object_type) == object_type,
                col(StateEvent.object_id) == object_id,
                col(StateEvent.at) >= since,
                col(StateEvent.at) < until,
            )
            .order_by(col(StateEvent.at), col(StateEvent.id))
        )
    ).all()
    seconds: dict[str, float] = {}
    state, start = before or State.unknown, since
    for at, new_state in [*events, (until, None)]:
        seconds[state] = seconds.get(state, 0.0) + max(0.0, (at - start).total_seconds())
        if new_state is not None:
            state, start = new_state, at
    counted = sum(v for k, v in seconds.items() if k not in NOT_COUNTED)
    available = sum(v for k, v in seconds.items() if k in AVAILABLE)
    return Availability(
        object_type=object_type,
        object_id=object_id,
        since=since,
        until=until,
        seconds={k: round(v, 3) for k, v in sorted(seconds.items())},
        availability=round(available / counted, 6) if counted else None,
    )
