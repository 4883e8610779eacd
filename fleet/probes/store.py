"""What the status engine keeps in the database: probe result rows, current status rows,
state events, and the purge of old results."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from fleet import bulk
from fleet.database import Database, json_text
from fleet.probes.models import EdgeReceipt, ObjectStatus, ProbeResult, StateEvent
from fleet.probes.types import Reading

PROBE_RESULT: sa.Table = ProbeResult.__table__  # type: ignore[attr-defined]  # rows, not objects
OBJECT_STATUS: sa.Table = ObjectStatus.__table__  # type: ignore[attr-defined]
#: A device's last success moved (and nothing else of its row).
_SEEN = (
    sa.update(OBJECT_STATUS)
    .where(
        OBJECT_STATUS.c.object_type == sa.literal_column("'device'"),
        OBJECT_STATUS.c.object_id == sa.bindparam("device_id"),
    )
    .values(last_ok_at=sa.bindparam("ok_at"))
)


def result_row(reading: Reading) -> ProbeResult:
    return ProbeResult(**result_values(reading))


def result_values(reading: Reading, *, encode: bool = False) -> dict[str, Any]:
    """The probe_result row of a reading, as column values; ``encode``: the ``data`` document
    as JSON text (or None), as the column's type would write it."""
    data: dict[str, Any] = {}
    if reading.uptime_seconds is not None:
        data["uptime_seconds"] = reading.uptime_seconds
    if reading.firmware_version:
        data["firmware_version"] = reading.firmware_version
    if reading.sys_descr:
        data["sys_descr"] = reading.sys_descr[:200]
    if reading.interfaces:
        # as objects of the dataclass's fields; the encoder writes the dataclasses themselves
        data["interfaces"] = (
            reading.interfaces[:16] if encode else [asdict(i) for i in reading.interfaces[:16]]
        )
    if reading.values:
        data["values"] = dict(list(reading.values.items())[:32])
    if reading.http_status is not None:
        data["http_status"] = reading.http_status
    return {
        "device_id": reading.device_id,
        "kind": reading.kind,
        "at": reading.started_at,
        "status": str(reading.status),
        "duration_ms": round(reading.duration_ms, 2),
        "reason": reading.reason[:200] or None,
        "data": (json_text(data) if encode else data) if data else None,
    }


async def load_status(db: Database, sites: Iterable[int] | None = None) -> list[ObjectStatus]:
    """The status rows of every object, or of the objects of ``sites``."""
    query = sa.select(ObjectStatus)
    if sites is not None:
        query = query.where(col(ObjectStatus.site_id).in_(list(sites)))
    async with db.session() as session:
        return list(await session.scalars(query))


@dataclass(frozen=True)
class Fence:
    """What a worker sharing the fleet may store (see ``fleet.probes.leases``): ``held`` tells,
    inside the storing transaction, the sites whose writes are still its own; ``site_of`` maps
    a device to its site."""

    held: Callable[[AsyncSession], Awaitable[set[int]]]
    site_of: Callable[[int], int | None]


#: More writes of a flush's transaction, made before the others (an edge's receipts).
Also = Callable[[AsyncSession], Awaitable[None]]


@dataclass
class Batch:
    """One flush's writes (see :func:`write`)."""

    results: Sequence[dict[str, Any]]
    events: Sequence[StateEvent]
    changed: Sequence[tuple[str, int]]
    rows: Sequence[ObjectStatus]
    seen: Sequence[tuple[int, datetime]]

    def fenced(self, fence: Fence, sites: set[int]) -> tuple[Batch, int]:
        """The writes of ``sites`` alone, and how many were left out. A changed object
        without a row (gone from the inventory) keeps its deletion."""
        kept_rows = [row for row in self.rows if row.site_id in sites]
        with_rows = {(row.object_type, row.object_id) for row in self.rows}
        kept = Batch(
            [r for r in self.results if fence.site_of(r["device_id"]) in sites],
            [event for event in self.events if event.site_id in sites],
            [key for key in self.changed if key not in with_rows]
            + [(row.object_type, row.object_id) for row in kept_rows],
            kept_rows,
            [(d, at) for d, at in self.seen if fence.site_of(d) in sites],
        )
        left = len(self.results) - len(kept.results) + len(self.rows) - len(kept_rows)
        return kept, left


async def write(
    db: Database,
    results: Sequence[dict[str, Any]],
    events: Sequence[StateEvent],
    changed: Sequence[tuple[str, int]],
    rows: Sequence[ObjectStatus],
    seen: Iterable[tuple[int, datetime]] = (),
    fence: Fence | None = None,
    also: Also | None = None,
) -> int:
    """In one transaction: result rows (encoded, see ``result_values``), events, the status
    rows of the ``changed`` objects (replaced by ``rows``: an object gone has none) and the
    last successes of devices whose row is otherwise unchanged; with a ``fence``, only the
    writes of the sites it still holds; ``also``'s writes first. How many writes the fence
    left out."""
    batch, left = Batch(results, events, changed, rows, list(seen)), 0
    async with db.session(write=True) as session:
        if also is not None:
            await also(session)
        if fence is not None:
            batch, left = batch.fenced(fence, await fence.held(session))
        if batch.results:  # plain rows, one executemany at the driver: no ORM objects
            await bulk.insert_many(
                session, PROBE_RESULT, batch.results, encoded={"data"}, distinct={"at"}
            )
        session.add_all(batch.events)
        if batch.changed:
            await session.execute(
                sa.delete(ObjectStatus).where(
                    sa.tuple_(col(ObjectStatus.object_type), col(ObjectStatus.object_id)).in_(
                        batch.changed
                    )
                )
            )
            session.add_all(batch.rows)
        await _last_successes(session, list(batch.seen))
        await session.commit()
    return left


async def _last_successes(session: AsyncSession, seen: list[tuple[int, datetime]]) -> None:
    """One executemany at the driver, the times converted as the column's type would: a busy
    flush moves the last success of every device probed in it, and SQLAlchemy's own
    per-row parameter handling would cost more than the database's work."""
    if not seen:
        return
    connection = await session.connection()
    dialect = connection.dialect
    compiled = _SEEN.compile(dialect=dialect)
    convert = OBJECT_STATUS.c.last_ok_at.type.dialect_impl(dialect).bind_processor(dialect)
    rows = [{"device_id": d, "ok_at": convert(at) if convert else at} for d, at in seen]
    if compiled.positional:
        order = list(compiled.positiontup or ())
        await connection.exec_driver_sql(
            compiled.string, [tuple(row[key] for key in order) for row in rows]
        )
    else:
        await connection.exec_driver_sql(compiled.string, rows)


async def purge(db: Database, before: datetime) -> int:
    """Delete the results (and the edges' receipts) from before ``before``; how many went."""
    async with db.session(write=True) as session:
        result = await session.execute(sa.delete(ProbeResult).where(col(ProbeResult.at) < before))
        await session.execute(sa.delete(EdgeReceipt).where(col(EdgeReceipt.at) < before))
        await session.commit()
    return int(getattr(result, "rowcount", 0) or 0)
