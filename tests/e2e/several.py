"""Several ``fleet serve --no-scheduler`` processes on one fresh PostgreSQL database."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import make_url

from tests.conftest import PG_URL, ROOT, TEST_KEY, _execute
from tests.e2e.processes import free_port, start, stop, token_of


@contextmanager
def fresh_postgres() -> Iterator[str]:
    """An empty PostgreSQL database (not migrated: the processes migrate it as they start)."""
    try:
        asyncio.run(_execute(PG_URL, "SELECT 1"))
    except Exception as exc:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"PostgreSQL not reachable at {PG_URL}: {exc}")
        pytest.skip(f"PostgreSQL not reachable at {PG_URL}: {exc}")
    name = f"fleet_procs_{uuid.uuid4().hex[:10]}"
    asyncio.run(_execute(PG_URL, f'CREATE DATABASE "{name}"', autocommit=True))
    try:
        yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        drop = f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'
        asyncio.run(_execute(PG_URL, drop, autocommit=True))


@dataclass
class Api:
    """One ``fleet serve --no-scheduler`` process, in its own process group."""

    url: str
    folder: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[str] | None = None
    output: list[str] = field(default_factory=list)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        env = {
            **os.environ,
            "FLEET_DATABASE_URL": self.url,
            "FLEET_SITE_CONFIGS": str(ROOT / "site_configs"),
            "FLEET_CREDENTIAL_KEYS": TEST_KEY,
            "FLEET_LOG_FORMAT": "json",
            "FLEET_LOG_LEVEL": "WARNING",
            "FLEET_STREAM_POLL_INTERVAL_S": "0.2",
        }
        args = [sys.executable, "-m", "fleet.cli", "serve", "--no-scheduler"]
        args += ["--host", "127.0.0.1", "--port", str(self.port)]
        self.process, self.output = start(args, self.folder, env)

    def wait(self, deadline: float) -> None:
        assert self.process is not None
        while time.monotonic() < deadline:
            assert self.process.poll() is None, "fleet serve ended:\n" + "".join(self.output)
            try:
                if httpx.get(f"{self.base}/api/v1/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise AssertionError("fleet serve did not answer:\n" + "".join(self.output))

    def kill(self) -> None:
        """kill -9 of the process (and its group)."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None:
            stop(self.process)


@contextmanager
def two_apis(url: str, folder: Path) -> Iterator[tuple[Api, Api, str]]:
    """Two processes started at once on ``url`` (one migrates and loads the sample while the
    other waits its turn), and the one admin token the pair printed."""
    apis = (Api(url, folder / "a"), Api(url, folder / "b"))
    try:
        for api in apis:
            api.folder.mkdir(parents=True, exist_ok=True)
            api.start()
        deadline = time.monotonic() + 90
        for api in apis:
            api.wait(deadline)
        printed = [line for api in apis for line in api.output if "FLEET_TOKEN=" in line]
        assert len(printed) == 1, printed  # one bootstrap token, not one per process
        token = token_of([line for api in apis for line in api.output], deadline)
        yield apis[0], apis[1], token
    finally:
        for api in apis:
            api.stop()
