"""Bulk writes for passes over the whole fleet (the needs assessment opens tens of thousands of
gaps at once): fresh primary keys handed out before the insert, so rows can refer to each other
without being read back, and inserts that go to the driver's executemany in one call.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession


async def new_ids(session: AsyncSession, table: sa.Table, count: int) -> list[int]:
    """``count`` fresh values of ``table``'s integer ``id``. PostgreSQL takes them from the
    column's sequence in one query; SQLite continues after the largest id, as its own rowid
    allocation would, which is safe only while the session holds the write lock (a write
    session: ``BEGIN IMMEDIATE``)."""
    if count <= 0:
        return []
    connection = await session.connection()
    if connection.dialect.name == "postgresql":
        sequence = await connection.scalar(
            sa.select(sa.func.pg_get_serial_sequence(table.name, "id"))
        )
        if sequence is None:
            raise RuntimeError(f"{table.name}.id has no sequence")
        rows = await connection.execute(
            sa.select(sa.func.nextval(sequence)).select_from(sa.func.generate_series(1, count))
        )
        return [int(row[0]) for row in rows]
    options = (
        connection.sync_connection.get_execution_options() if connection.sync_connection else {}
    )
    if connection.dialect.name == "sqlite" and not options.get("fleet_write"):
        raise RuntimeError("ids can be handed out on SQLite only in a write session")
    last = await connection.scalar(sa.select(sa.func.max(table.c.id)))
    start = int(last or 0) + 1
    return list(range(start, start + count))


def _memoised(process: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """A bind processor that converts each distinct (hashable) value once: a bulk insert repeats
    the same timestamp in every row."""
    seen: dict[Any, Any] = {}

    def convert(value: Any) -> Any:
        try:
            return seen[value]
        except KeyError:
            seen[value] = result = process(value)
            return result
        except TypeError:  # unhashable (a JSON document)
            return process(value)

    return convert


async def insert_many(
    session: AsyncSession, table: sa.Table, rows: Sequence[Mapping[str, Any]]
) -> None:
    """Insert ``rows`` (mappings with the same keys) with one executemany at the driver.

    The statement is compiled once and each value goes through its column type's bind
    processor, as SQLAlchemy would do; what is skipped is SQLAlchemy's per-row parameter
    assembly, which costs more than the database's own work for rows this simple. Column
    defaults are not applied: every NOT NULL column must be given."""
    if not rows:
        return
    connection = await session.connection()
    dialect = connection.dialect
    keys = list(rows[0])
    compiled = sa.insert(table).compile(dialect=dialect, column_keys=keys)
    converters: dict[str, Callable[[Any], Any] | None] = {}
    for key in keys:
        process = table.c[key].type.dialect_impl(dialect).bind_processor(dialect)
        converters[key] = _memoised(process) if process is not None else None
    order = list(compiled.positiontup or ()) if compiled.positional else keys
    missing = set(order) - set(keys)
    if missing:
        raise ValueError(f"no values for {sorted(missing)} in the rows for {table.name}")
    pairs = [(key, converters[key]) for key in order]
    values: list[Any]
    if compiled.positional:
        values = [
            tuple(row[key] if convert is None else convert(row[key]) for key, convert in pairs)
            for row in rows
        ]
    else:
        values = [
            {key: row[key] if convert is None else convert(row[key]) for key, convert in pairs}
            for row in rows
        ]
    await connection.exec_driver_sql(compiled.string, values)
