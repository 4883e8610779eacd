"""Errors a user can cause: each run as a real process, each one line and a failing exit status,
never a traceback; and paramiko's handshake noise kept off the console."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from fleet import context, migrate
from fleet.database import Database
from fleet.inventory import credentials
from fleet.inventory.credentials import Cipher, CredentialProfileCreate, CredentialSecret
from tests.conftest import TEST_KEY


def _fleet(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("FLEET_")}
    return subprocess.run(
        [sys.executable, "-m", "fleet.cli", *args],
        cwd=cwd,
        env={**clean, "FLEET_LOG_FORMAT": "json", **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _assert_one_line(result: subprocess.CompletedProcess[str], *words: str) -> None:
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "Traceback" not in output, output
    plain = [line for line in output.splitlines() if line.strip() and not line.startswith("{")]
    assert len(plain) == 1, output
    assert plain[0].startswith("Error: "), output
    for word in words:
        assert word in plain[0], output


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_missing_site_configs_folder(tmp_path: Path) -> None:
    missing = str(tmp_path / "nowhere")
    for command in ("serve", "demo"):
        result = _fleet(tmp_path, command, "--port", str(_free_port()), FLEET_SITE_CONFIGS=missing)
        _assert_one_line(result, "FLEET_SITE_CONFIGS", missing)


def test_bad_database_urls(tmp_path: Path) -> None:
    port = str(_free_port())
    for url in (
        "not a url",
        "postgresql+asyncpg://nobody@127.0.0.1:1/nothing",
        f"sqlite+aiosqlite:///{tmp_path}/no/such/folder/fleet.db",
    ):
        _assert_one_line(_fleet(tmp_path, "--database-url", url, "serve", "--port", port))
        _assert_one_line(_fleet(tmp_path, "plan", FLEET_DATABASE_URL=url), "FLEET_DATABASE_URL")


def test_port_in_use(tmp_path: Path, busy_port: int) -> None:
    for command in ("serve", "demo"):
        result = _fleet(tmp_path, command, "--port", str(busy_port))
        _assert_one_line(result, f"127.0.0.1:{busy_port}", "--port")
    assert not list(tmp_path.glob("*.db-wal"))


async def _store_a_secret(url: str) -> None:
    await migrate.upgrade(url)
    db = Database(url)
    try:
        async with db.session(write=True) as session:
            with context.acting_as("tests"):
                await credentials.create(
                    session,
                    Cipher(TEST_KEY),
                    CredentialProfileCreate(
                        name="sahel",
                        kind="snmp_v2c",
                        secret=CredentialSecret(community=SecretStr("sahel-secret")),
                    ),
                )
            await session.commit()
    finally:
        await db.dispose()


def test_no_credential_key(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'fleet.db'}"
    asyncio.run(_store_a_secret(url))
    port = str(_free_port())
    for command in (["serve", "--port", port], ["worker"]):
        result = _fleet(tmp_path, *command, FLEET_DATABASE_URL=url)
        _assert_one_line(result, "FLEET_CREDENTIAL_KEYS")
    rotate = _fleet(tmp_path, "credentials", "rotate", FLEET_DATABASE_URL=url)
    _assert_one_line(rotate, "FLEET_CREDENTIAL_KEYS")
    wrong = _fleet(tmp_path, "serve", FLEET_DATABASE_URL=url, FLEET_CREDENTIAL_KEYS="not-a-key")
    _assert_one_line(wrong, "FLEET_CREDENTIAL_KEYS")


def test_bad_setting_is_named(tmp_path: Path) -> None:
    result = _fleet(tmp_path, "serve", FLEET_PROBE_INTERVAL_S="-1")
    _assert_one_line(result, "FLEET_PROBE_INTERVAL_S")


PARAMIKO_HANDSHAKE = """
import logging, socket, sys
import paramiko
from fleet.logging import configure
configure("json", sys.argv[2])
sock = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
transport = paramiko.Transport(sock)
try:
    transport.start_client(timeout=5)
except Exception as exc:
    print("failed:", type(exc).__name__)
finally:
    transport.close()
"""


@pytest.fixture
def not_ssh() -> Iterator[int]:
    """A TCP peer that answers with something other than an SSH banner, then hangs up."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()

    def serve() -> None:
        while True:
            try:
                peer, _ = server.accept()
            except OSError:
                return
            with peer:
                peer.sendall(b"HTTP/1.0 400 Bad Request\r\n\r\n")

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield server.getsockname()[1]
    finally:
        server.close()


@pytest.mark.ssh
def test_paramiko_handshake_errors_stay_off_the_console(tmp_path: Path, not_ssh: int) -> None:
    quiet = subprocess.run(
        [sys.executable, "-c", PARAMIKO_HANDSHAKE, str(not_ssh), "INFO"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert quiet.stdout.startswith("failed:"), quiet.stdout
    assert quiet.stderr == "", quiet.stderr
    debug = subprocess.run(
        [sys.executable, "-c", PARAMIKO_HANDSHAKE, str(not_ssh), "DEBUG"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    lines = debug.stderr.splitlines()
    assert any("paramiko" in line for line in lines), debug.stderr
    for line in lines:
        assert json.loads(line)["event"], line
