"""The service as a process on 127.0.0.1, with an empty SQLite file and the sample fleet."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import ROOT
from tests.e2e.processes import clone_and_install


@dataclass
class Served:
    base: str
    token: str
    output: list[str]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def served_env() -> dict[str, str]:
    """Extra settings for the served process (the database too); a test module overrides this
    fixture."""
    return {}


@pytest.fixture
def served(tmp_path: Path, served_env: dict[str, str]) -> Iterator[Served]:
    port = _free_port()
    env = {
        **os.environ,
        "FLEET_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'fleet.db'}",
        "FLEET_SITE_CONFIGS": str(ROOT / "site_configs"),
        "FLEET_LOG_FORMAT": "json",
        **served_env,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "fleet.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    output: list[str] = []
    reader = threading.Thread(
        target=lambda: output.extend(iter(process.stdout.readline, "")) if process.stdout else None,
        daemon=True,
    )
    reader.start()
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise AssertionError(
                    f"fleet serve exited: {process.stdout.read() if process.stdout else ''}"
                )
            try:
                if httpx.get(f"{base}/api/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            raise AssertionError("fleet serve did not answer within 60 s")
        token = next(
            line.strip().split("=", 1)[1]
            for line in output
            if line.strip().startswith("FLEET_TOKEN=")
        )
        yield Served(base, token, output)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def installed_clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One fresh clone after ``make install``, shared by the first-hour and README tests."""
    return clone_and_install(tmp_path_factory.mktemp("clone"))
