"""Bulk writes on both backends: ids handed out ahead never collide with the database's own, rows
inserted at the driver read back exactly as the ORM writes them, and ``among`` selects by a list
of ids passed as one parameter."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event
from sqlmodel import col

from fleet import bulk
from fleet.database import Database
from fleet.inventory.models import Country, Link
from tests.conftest import run

COUNTRY: sa.Table = Country.__table__  # type: ignore[attr-defined]


def _row(code: str, at: datetime) -> dict[str, object]:
    return {
        "code": code,
        "name": f"Country {code}",
        "region": "Sahel",
        "version": 1,
        "created_at": at,
        "updated_at": at,
    }


def test_ids_ahead_inserts_and_among(db_url: str) -> None:
    at = datetime(2026, 3, 1, 12, 30, 15, 123456, tzinfo=UTC)

    async def scenario() -> None:
        db = Database(db_url)
        try:
            async with db.session(write=True) as session:
                session.add(
                    Country(code="AA", name="First", region="Sahel")
                )  # the database's own id
                await session.flush()
                ids = await bulk.new_ids(session, COUNTRY, 3)
                assert len(set(ids)) == 3
                rows = [{"id": i, **_row(code, at)} for i, code in zip(ids, ("BB", "CC", "DD"))]
                await bulk.insert_many(session, COUNTRY, rows)
                session.add(
                    Country(code="EE", name="After", region="Sahel")
                )  # and the database's own again
                await session.flush()
                assert await bulk.new_ids(session, COUNTRY, 0) == []
                await session.commit()
            async with db.session() as session:
                stored = {c.code: c for c in (await session.execute(sa.select(Country))).scalars()}
                assert [stored[code].id for code in ("BB", "CC", "DD")] == ids
                assert stored["AA"].id not in ids
                assert stored["EE"].id not in ids
                assert len({c.id for c in stored.values()}) == 5
                # Values went through the column types: an aware UTC timestamp, to the microsecond.
                assert stored["CC"].created_at == at
                assert stored["CC"].region == "Sahel"
                connection = await session.connection()
                chosen = await session.scalars(
                    sa.select(col(Country.code))
                    .where(bulk.among(connection.dialect, col(Country.id), [ids[0], ids[2], -1]))
                    .order_by(col(Country.code))
                )
                assert list(chosen) == ["BB", "DD"]
                many = [ids[1], *range(-1, -2 * bulk.FEW, -1)]  # past FEW: passed as one value
                assert len(many) > bulk.FEW
                chosen = await session.scalars(
                    sa.select(col(Country.code)).where(
                        bulk.among(connection.dialect, col(Country.id), many)
                    )
                )
                assert list(chosen) == ["CC"]
                none = await session.scalars(
                    sa.select(col(Country.code)).where(
                        bulk.among(connection.dialect, col(Country.id), [])
                    )
                )
                assert list(none) == []
        finally:
            await db.dispose()

    run(scenario())


def test_among_one_site_uses_the_site_index_on_sqlite(
    tmp_path: Path, sqlite_template: Path
) -> None:
    """SQLite keeps no statistics by default: given the ids as ``json_each``, it took an index
    on an equality that holds for every row (``lifecycle = 'active'``) over the site's; a few
    ids go as a plain list, and the site's index is used."""
    shutil.copy(sqlite_template, tmp_path / "plan.db")
    url = f"sqlite+aiosqlite:///{tmp_path / 'plan.db'}"

    async def plan(ids: list[int]) -> str:
        db = Database(url)
        try:
            async with db.session() as session:
                connection = await session.connection()
                statement = (
                    sa.select(col(Link.id))
                    .where(col(Link.lifecycle) == "active")
                    .where(bulk.among(connection.dialect, col(Link.site_id), ids))
                )
                text = str(
                    statement.compile(
                        dialect=connection.dialect, compile_kwargs={"literal_binds": True}
                    )
                )
                rows = await connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {text}")
                return " | ".join(str(row[-1]) for row in rows)
        finally:
            await db.dispose()

    assert "ix_link_site_id" in run(plan([7]))


def test_insert_many_failure_changes_nothing(db_url: str) -> None:
    """A duplicate in a bulk insert fails the whole statement; the transaction is rolled back."""
    at = datetime.now(UTC) - timedelta(days=1)

    async def scenario() -> None:
        db = Database(db_url)
        try:
            async with db.session(write=True) as session:
                ids = await bulk.new_ids(session, COUNTRY, 2)
                rows = [{"id": i, **_row("XX", at)} for i in ids]  # the code is unique
                with pytest.raises(sa.exc.IntegrityError):
                    await bulk.insert_many(session, COUNTRY, rows)
                await session.rollback()
            async with db.session() as session:
                assert await session.scalar(sa.select(sa.func.count()).select_from(Country)) == 0
        finally:
            await db.dispose()

    run(scenario())


def test_insert_many_names_a_missing_column(db_url: str) -> None:
    async def scenario() -> None:
        db = Database(db_url)
        try:
            async with db.session(write=True) as session:
                with pytest.raises(ValueError, match=r"no values for .*created_at"):
                    await bulk.insert_many(session, COUNTRY, [{"code": "ZZ", "name": "Zed"}])
                await session.rollback()
        finally:
            await db.dispose()

    run(scenario())


def test_ids_ahead_need_the_write_lock_on_sqlite(tmp_path: Path, sqlite_template: Path) -> None:
    """On SQLite the ids continue after the largest one: only safe under the write lock."""
    shutil.copy(sqlite_template, tmp_path / "fleet.db")

    async def scenario() -> None:
        db = Database(f"sqlite+aiosqlite:///{tmp_path / 'fleet.db'}")
        try:
            async with db.session() as session:
                with pytest.raises(RuntimeError, match="write session"):
                    await bulk.new_ids(session, COUNTRY, 1)
        finally:
            await db.dispose()

    run(scenario())


def test_encoded_documents_read_back_as_written_by_the_orm(db_url: str) -> None:
    """Probe results as the status engine writes them (the document already JSON text, given
    to the driver as is) read back like the same result written through the ORM."""
    from fleet.probes.models import ProbeResult
    from fleet.probes.status import PROBE_RESULT, result_row, result_values
    from fleet.probes.types import InterfaceReading, ProbeStatus, Reading

    at = datetime(2026, 3, 1, 12, 30, 15, 123456, tzinfo=UTC)
    readings = [
        Reading(
            "snmp",
            1,
            ProbeStatus.OK,
            at,
            uptime_seconds=12.5,
            sys_descr="Version 1.0",
            firmware_version="1.0",
            interfaces=[InterfaceReading(1, "up", 2**64 - 1, 0), InterfaceReading(2, "down")],
            values={"temperature": 41, "ok": True},
        ),
        Reading("tcp", 1, ProbeStatus.REFUSED, at + timedelta(seconds=1), reason="refused"),
    ]

    async def scenario() -> None:
        db = Database(db_url)
        try:
            async with db.session(write=True) as session:
                rows = [result_values(r, encode=True) for r in readings]
                await bulk.insert_many(
                    session, PROBE_RESULT, rows, encoded={"data"}, distinct={"at"}
                )
                session.add_all([result_row(r) for r in readings])
                await session.commit()
            async with db.session() as session:
                stored = (
                    (await session.execute(sa.select(ProbeResult).order_by(col(ProbeResult.id))))
                    .scalars()
                    .all()
                )
            fields = ("device_id", "kind", "at", "status", "duration_ms", "reason", "data")
            engine_rows = [tuple(getattr(r, f) for f in fields) for r in stored[:2]]
            orm_rows = [tuple(getattr(r, f) for f in fields) for r in stored[2:]]
            assert engine_rows == orm_rows
            assert engine_rows[0][6]["interfaces"][0]["in_octets"] == 2**64 - 1
            assert engine_rows[1][6] is None
        finally:
            await db.dispose()

    run(scenario())


class Region(StrEnum):
    sahel = "Sahel"


def test_enum_members_go_to_the_driver_as_their_values(db_url: str) -> None:
    """sqlite3 binds a ``str`` subclass (a ``StrEnum`` member) through its adapter lookup, at
    twice the cost of a ``str``: the driver gets the member's value, and it reads back the same."""
    at = datetime(2026, 3, 1, tzinfo=UTC)
    sent: list[object] = []

    def seen(
        _conn: object, _cursor: object, statement: str, params: Any, _c: object, many: bool
    ) -> None:
        if statement.startswith("INSERT INTO country"):
            sent.extend(value for row in (params if many else [params]) for value in row)

    async def scenario() -> None:
        db = Database(db_url)
        event.listen(db.engine.sync_engine, "before_cursor_execute", seen)
        try:
            async with db.session(write=True) as session:
                ids = await bulk.new_ids(session, COUNTRY, 1)
                row = {"id": ids[0], **_row("RG", at), "region": Region.sahel}
                await bulk.insert_many(session, COUNTRY, [row])
                await session.commit()
            async with db.session() as session:
                region = await session.scalar(
                    sa.select(col(Country.region)).where(col(Country.code) == "RG")
                )
            assert region == "Sahel"
        finally:
            await db.dispose()

    run(scenario())
    if db_url.startswith("sqlite"):
        assert [type(value) for value in sent if value == "Sahel"] == [str]
