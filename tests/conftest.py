"""Shared fixtures: a migrated database on SQLite and on PostgreSQL, and an API client.

PostgreSQL tests run against a real server (FLEET_TEST_POSTGRES_URL, default
postgresql+asyncpg://postgres@127.0.0.1:5432/test). The suite makes its own database there and
drops it at the end. Without a server the PostgreSQL tests are skipped, except under CI=true,
where a missing server is a failure.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet
from litestar.testing import TestClient
from pydantic import SecretStr
from sqlalchemy.engine import make_url

from fleet import context, migrate
from fleet.access import tokens
from fleet.access.roles import Role
from fleet.api.app import create_app
from fleet.database import Database, create_engine
from fleet.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "site_configs"
PG_URL = os.environ.get(
    "FLEET_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
TEST_KEY = Fernet.generate_key().decode()
TABLES = (
    "alert_delivery_attempt",
    "alert_delivery",
    "alert",
    "alert_rule",
    "alert_channel",
    "change_record",
    "link",
    "device",
    "site",
    "device_model",
    "country",
    "api_token",
    "audit_event",
    "idempotency_record",
    "rate_window",
    "credential_profile",
    "object_status",
    "state_event",
    "probe_result",
    "maintenance_window",
    "work_order_journal",
    "work_order",
    "gap",
    "site_assessment",
    "site_profile",
    "probe_lease",
    "probe_worker",
    "edge_receipt",
    "edge_node",
)


def run(coro: Any) -> Any:
    return asyncio.run(coro)


async def _execute(url: str, *statements: str, autocommit: bool = False) -> None:
    engine = create_engine(url, isolation_level="AUTOCOMMIT") if autocommit else create_engine(url)
    try:
        async with engine.begin() as connection:
            for statement in statements:
                await connection.execute(sa.text(statement))
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite") / "template.db"
    run(migrate.upgrade(f"sqlite+aiosqlite:///{path}"))
    return path


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for this test run."""
    try:
        run(_execute(PG_URL, "SELECT 1"))
    except Exception as exc:
        reason = f"PostgreSQL not reachable at {PG_URL}: {exc.__class__.__name__}: {exc}"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"{reason} (CI=true: PostgreSQL tests must run)")
        pytest.skip(reason)
    name = f"fleet_test_{uuid.uuid4().hex[:10]}"
    run(_execute(PG_URL, f'CREATE DATABASE "{name}"', autocommit=True))
    url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    try:
        run(migrate.upgrade(url))
        yield url
    finally:
        run(_execute(PG_URL, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', autocommit=True))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> str:
    """An empty, migrated database on each backend."""
    if request.param == "sqlite":
        path = tmp_path / "fleet.db"
        shutil.copy(sqlite_template, path)
        return f"sqlite+aiosqlite:///{path}"
    url: str = request.getfixturevalue("postgres_url")
    run(_execute(url, f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE"))
    return url


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=db_url,
        site_configs=SAMPLE,
        log_format="json",
        log_level="WARNING",
        credential_keys=SecretStr(TEST_KEY),
        scheduler=False,
    )


async def _make_token(
    url: str, name: str, role: str, countries: list[str] | None = None, **fields: Any
) -> str:
    db = Database(url)
    try:
        async with db.session(write=True) as session:
            with context.acting_as("tests"):
                _, secret = await tokens.create(
                    session, name=name, role=Role(role), countries=countries, **fields
                )
            await session.commit()
            return secret
    finally:
        await db.dispose()


def make_token(
    url: str, name: str, role: str, countries: list[str] | None = None, **fields: Any
) -> str:
    """A token's secret, made straight in the database (as `fleet token create` does)."""
    secret: str = run(_make_token(url, name, role, countries, **fields))
    return secret


def auth(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


@pytest.fixture
def admin_token(db_url: str) -> str:
    return make_token(db_url, "test-admin", "admin", rate_limit_per_minute=0)


@pytest.fixture
def client(settings: Settings, admin_token: str) -> Iterator[TestClient[Any]]:
    """An API client acting as an unlimited admin."""
    with TestClient(create_app(settings)) as test_client:
        test_client.headers.update(auth(admin_token))
        yield test_client
