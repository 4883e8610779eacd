"""Bulk work for passes over the whole fleet (the needs assessment reads 200,000 devices and
opens tens of thousands of gaps at once): fresh primary keys handed out before the insert, so
rows can refer to each other without being read back; inserts that go to the driver in one
call; a list of ids as one parameter; and the garbage collector held off while such a pass
builds its objects.
"""

from __future__ import annotations

import contextlib
import gc
import json
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from enum import Enum
from operator import itemgetter
from typing import Any

import asyncpg
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession


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
    missing = object()

    def convert(value: Any) -> Any:
        try:
            result = seen.get(value, missing)
        except TypeError:  # unhashable
            return process(value)
        if result is missing:
            seen[value] = result = process(value)
        return result

    return convert


def _value_of(value: Any) -> Any:
    """An enum member's value (sqlite3 binds a ``str`` subclass, such as a ``StrEnum`` member,
    through its adapter lookup, at twice the cost of a ``str``)."""
    return value.value if isinstance(value, Enum) else value


async def insert_many(
    session: AsyncSession,
    table: sa.Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    encoded: Collection[str] = (),
    distinct: Collection[str] = (),
) -> None:
    """Insert ``rows`` (mappings with the same keys) with one executemany at the driver.

    The statement is compiled once and each value goes through its column type's bind
    processor, as SQLAlchemy would do, except in the ``encoded`` columns, whose values are
    given as the processor would make them (JSON as text), and the ``distinct`` columns, whose
    values seldom repeat (a result's time), are converted without the memo the others get; enum
    members go as their values. What is skipped is SQLAlchemy's per-row parameter assembly,
    which costs more than the database's own work for rows this simple. Column defaults are not
    applied: every NOT NULL column must be given."""
    if not rows:
        return
    connection = await session.connection()
    dialect = connection.dialect
    keys = list(rows[0])
    compiled = sa.insert(table).compile(dialect=dialect, column_keys=keys)
    converters: dict[str, Callable[[Any], Any] | None] = {}
    for key in keys:
        if key in encoded:
            converters[key] = None
            continue
        column_type = table.c[key].type
        process: Callable[[Any], Any] | None = column_type.dialect_impl(dialect).bind_processor(
            dialect
        )
        # documents are seldom repeated and never hashable: converted as they come
        if process is not None and key not in distinct and not isinstance(column_type, sa.JSON):
            process = _memoised(process)
        elif process is None and isinstance(rows[0][key], Enum):
            process = _memoised(_value_of)
        converters[key] = process
    order = list(compiled.positiontup or ()) if compiled.positional else keys
    missing = set(order) - set(keys)
    if missing:
        raise ValueError(f"no values for {sorted(missing)} in the rows for {table.name}")
    records = _records(rows, order, [converters[key] for key in order])
    if dialect.name == "postgresql" and dialect.driver == "asyncpg":
        await _copy(connection, table, order, records)
    elif compiled.positional:
        await connection.exec_driver_sql(compiled.string, records)
    else:
        await connection.exec_driver_sql(
            compiled.string, [dict(zip(order, r, strict=True)) for r in records]
        )


def _records(
    rows: Sequence[Mapping[str, Any]],
    order: list[str],
    converters: list[Callable[[Any], Any] | None],
) -> list[tuple[Any, ...]]:
    """The rows as tuples in ``order``, each value converted where its column needs it."""
    pick: Callable[[Mapping[str, Any]], tuple[Any, ...]]
    if len(order) == 1:
        key = order[0]
        pick = lambda row: (row[key],)  # noqa: E731 (itemgetter of one key is no tuple)
    else:
        pick = itemgetter(*order)
    converted = [(i, convert) for i, convert in enumerate(converters) if convert is not None]
    if not converted:
        return [pick(row) for row in rows]
    records = []
    for row in rows:
        values = list(pick(row))
        for i, convert in converted:
            values[i] = convert(values[i])
        records.append(tuple(values))
    return records


async def _copy(
    connection: AsyncConnection, table: sa.Table, columns: list[str], records: list[Any]
) -> None:
    """PostgreSQL's COPY (binary, through asyncpg), several times faster than an executemany,
    inside the session's transaction."""
    raw = await connection.get_raw_connection()
    driver: Any = raw.driver_connection
    if not driver.is_in_transaction():  # the driver begins lazily, on the first statement
        await connection.execute(sa.text("SELECT 1"))
    try:
        await driver.copy_records_to_table(table.name, records=records, columns=columns)
    except asyncpg.IntegrityConstraintViolationError as exc:  # as SQLAlchemy would raise them
        raise sa.exc.IntegrityError(f"COPY {table.name}", None, exc) from exc
    except asyncpg.PostgresError as exc:
        raise sa.exc.DatabaseError(f"COPY {table.name}", None, exc) from exc


#: Up to this many ids, SQLite gets a plain IN list (see :func:`among`).
FEW = 64


def among(dialect: sa.Dialect, column: Any, ids: Sequence[int]) -> Any:
    """``column IN ids`` for thousands of ids, as one parameter: an integer array on PostgreSQL
    (``= ANY``, which it estimates well), a JSON array read with ``json_each`` on SQLite. A plain
    ``IN`` list costs a bind parameter per id to build, and ``IN (subquery)`` can be planned as
    a nested loop over the whole fleet by a PostgreSQL that has no statistics yet. On SQLite,
    up to :data:`FEW` ids (the assessment of one site) are a plain ``IN`` list: SQLite, which
    keeps no statistics unless told to, takes ``json_each`` for many rows, so it preferred any
    index with an equality (``lifecycle = 'active'``: every link of the fleet) to the ids'."""
    values = [int(i) for i in ids]
    if dialect.name == "postgresql":
        return column == sa.any_(sa.bindparam(None, values, type_=postgresql.ARRAY(sa.Integer)))
    if dialect.name == "sqlite" and len(values) > FEW:
        each = sa.func.json_each(sa.bindparam(None, json.dumps(values), type_=sa.String))
        return column.in_(sa.select(sa.column("value")).select_from(each))
    return column.in_(values)


_holds = 0


@contextlib.contextmanager
def collector_held() -> Iterator[None]:
    """Hold off Python's cyclic garbage collector while a pass builds hundreds of thousands of
    objects that form no cycles: every collection of the oldest generation scans every live
    object, and such a pass triggers many (reading the fleet's facts took half the time with
    it held). Nested and concurrent holds are counted; the last one out lets it run again.
    Reference counting still frees everything as usual meanwhile."""
    global _holds
    if _holds == 0 and not gc.isenabled():
        yield  # held by someone else: leave it as it is
        return
    _holds += 1
    gc.disable()
    try:
        yield
    finally:
        _holds -= 1
        if _holds == 0:
            gc.enable()
