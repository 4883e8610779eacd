"""The first hour of a newcomer: a fresh clone, `make install`, `make run`, and a live board
within two minutes; `fleet serve` from an empty folder."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.processes import free_port, live_states, newcomer_env, start, stop, token_of

pytestmark = pytest.mark.e2e


def test_make_run_on_a_fresh_clone_shows_a_live_board(installed_clone: Path) -> None:
    clone = installed_clone
    env = newcomer_env()
    port = free_port()
    started = time.monotonic()
    process, output = start(["make", "run", f"PORT={port}"], clone, env)
    try:
        token = token_of(output, started + 60)
        base = f"http://127.0.0.1:{port}"
        live_states(base, token, started + 120, process)  # within 120 s, or it fails
        board = httpx.get(f"{base}/", follow_redirects=True, timeout=10)
        assert "Simulated fleet." in board.text
        assert any('"simulated_fleet"' in line for line in output)
    finally:
        stop(process)


@pytest.mark.parametrize("command", ["serve", "demo"])
def test_serve_and_demo_start_from_an_empty_folder(tmp_path: Path, command: str) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLEET_")}
    env["FLEET_LOG_FORMAT"] = "json"
    args = [sys.executable, "-m", "fleet.cli", command, "--port", str(port)]
    if command == "demo":
        args += ["--snmp-port", str(free_port()), "--ssh-port", str(free_port())]
    process, output = start(args, tmp_path, env)
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            assert process.poll() is None, "".join(output)
            try:
                if httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=1).is_success:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        else:
            raise AssertionError("did not answer within 90 s:\n" + "".join(output))
        token = token_of(output, deadline)
        sites = httpx.get(
            f"http://127.0.0.1:{port}/api/v1/status/sites",
            headers={"Authorization": f"Bearer {token}"},
            timeout=5,
        ).json()["items"]
        assert len(sites) == 19
        assert "Traceback" not in "".join(output)
    finally:
        stop(process)
