"""Engine and sessions for SQLite (embedded default) and PostgreSQL.

Write sessions on SQLite start with ``BEGIN IMMEDIATE`` so that concurrent writers queue on the
database lock instead of failing to upgrade a read snapshot; on PostgreSQL writers lock the rows
they change with ``SELECT ... FOR UPDATE``.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import msgspec
from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session

from fleet.presence import Presence

SQLITE_BUSY_TIMEOUT_MS = 30_000


def json_text(value: Any) -> str:
    """JSON columns' serializer: msgspec's encoder, compact, about 8x faster than the standard
    library's (a probe result carries a document; a busy fleet writes thousands a second).
    What msgspec refuses and the standard library writes (a lone surrogate in a device's text,
    true/false/null as keys) goes to the latter, so that no document fails to be stored."""
    try:
        return msgspec.json.encode(value).decode()
    except (TypeError, UnicodeEncodeError):
        return json.dumps(value, default=_plain)


def _plain(value: Any) -> Any:
    """The standard library's fallback for what msgspec writes itself: dataclasses."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def is_busy(exc: BaseException) -> bool:
    """SQLite's single writer lock held by another past the busy timeout (a long sync, for
    one): the write may be tried again later."""
    return isinstance(exc, OperationalError) and "database is locked" in str(exc)


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def create_engine(
    url: str, *, busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS, **kwargs: Any
) -> AsyncEngine:
    """Create the async engine for ``url`` with the settings each backend needs; on SQLite a
    write waits ``busy_timeout_ms`` for another's lock before "database is locked"."""
    kwargs.setdefault("json_serializer", json_text)
    if not is_sqlite(url):
        return create_async_engine(url, pool_pre_ping=True, **kwargs)
    engine = create_async_engine(url, **kwargs)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take over transaction control from the driver so that "begin" below decides the mode.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        write = connection.get_execution_options().get("fleet_write", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


class WriteSession(Session):
    """The synchronous session under every write session: a listener of its ``before_commit``
    adds to each write's own transaction (``fleet.access.idempotency`` marks a request's work
    as applied there)."""


async def advisory_xact_lock(session: AsyncSession, name: str) -> None:
    """On PostgreSQL, wait for the advisory lock ``name``, held until the session's transaction
    ends: start-up steps of several processes on one database take turns. On SQLite a write
    session already holds the database's one write lock."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:name))"), {"name": name})


class Database:
    """Owns the engine; hands out read sessions and write sessions."""

    @classmethod
    def of(cls, url: str, busy_timeout_s: float) -> Database:
        """The database at ``url`` whose SQLite writes wait ``busy_timeout_s`` for a lock."""
        return cls(url, busy_timeout_ms=round(busy_timeout_s * 1000))

    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        self.url = url
        self.engine = create_engine(url, **engine_kwargs)
        self.sqlite = is_sqlite(url)
        self._read = async_sessionmaker(self.engine, expire_on_commit=False)
        self._write = async_sessionmaker(
            self.engine.execution_options(fleet_write=True),
            expire_on_commit=False,
            sync_session_class=WriteSession,
        )
        self.presence = Presence(self.engine)

    @asynccontextmanager
    async def session(self, *, write: bool = False) -> AsyncIterator[AsyncSession]:
        factory = self._write if write else self._read
        async with factory() as session:
            yield session

    async def presence_key(self) -> int | None:
        """This process's presence key on PostgreSQL (see ``fleet.presence``); None on SQLite,
        where one process serves the database."""
        return None if self.sqlite else await self.presence.held()

    async def dispose(self) -> None:
        await self.presence.close()
        await self.engine.dispose()
