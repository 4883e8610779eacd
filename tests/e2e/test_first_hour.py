"""The first hour of a newcomer: a fresh clone, `make install`, `make run`, and a live board
within two minutes; `fleet serve` from an empty folder."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.e2e


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _start(
    args: list[str], cwd: Path, env: dict[str, str]
) -> tuple[subprocess.Popen[str], list[str]]:
    process = subprocess.Popen(
        args,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    output: list[str] = []
    threading.Thread(
        target=lambda: output.extend(iter(process.stdout.readline, "")) if process.stdout else None,
        daemon=True,
    ).start()
    return process, output


def _stop(process: subprocess.Popen[str]) -> None:
    """The whole process group (make, fleet, the simulator's processes)."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def _token(output: list[str], deadline: float) -> str:
    while time.monotonic() < deadline:
        for line in list(output):
            found = re.search(r"FLEET_TOKEN=(\S+)", line)
            if found:
                return found.group(1)
        time.sleep(0.5)
    raise AssertionError("no token printed:\n" + "".join(output))


def test_make_run_on_a_fresh_clone_shows_a_live_board(tmp_path: Path) -> None:
    clone = tmp_path / "fleet"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True, timeout=60)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLEET_", "VIRTUAL_ENV"))}
    installed = subprocess.run(
        ["make", "install"], cwd=clone, env=env, capture_output=True, text=True, timeout=600
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr
    port = _free_port()
    started = time.monotonic()
    process, output = _start(["make", "run", f"PORT={port}"], clone, env)
    try:
        token = _token(output, started + 60)
        base = f"http://127.0.0.1:{port}"
        counts: Counter[str] = Counter()
        while time.monotonic() < started + 120:
            assert process.poll() is None, "".join(output)
            try:
                sites = httpx.get(
                    f"{base}/api/v1/status/sites",
                    headers={"Authorization": f"Bearer {token}"},
                    timeout=5,
                ).json()["items"]
            except httpx.HTTPError:
                time.sleep(1)
                continue
            counts = Counter(site["state"] for site in sites)
            if counts["connected"] >= 8 and counts["disconnected"] >= 1:
                break
            time.sleep(2)
        else:
            raise AssertionError(f"within 120 s the sites were only {dict(counts)}")
        board = httpx.get(f"{base}/", follow_redirects=True, timeout=10)
        assert "Simulated fleet." in board.text
        assert any('"simulated_fleet"' in line for line in output)
    finally:
        _stop(process)


@pytest.mark.parametrize("command", ["serve", "demo"])
def test_serve_and_demo_start_from_an_empty_folder(tmp_path: Path, command: str) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLEET_")}
    env["FLEET_LOG_FORMAT"] = "json"
    args = [sys.executable, "-m", "fleet.cli", command, "--port", str(port)]
    if command == "demo":
        args += ["--snmp-port", str(_free_port()), "--ssh-port", str(_free_port())]
    process, output = _start(args, tmp_path, env)
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
        token = _token(output, deadline)
        sites = httpx.get(
            f"http://127.0.0.1:{port}/api/v1/status/sites",
            headers={"Authorization": f"Bearer {token}"},
            timeout=5,
        ).json()["items"]
        assert len(sites) == 19
        assert "Traceback" not in "".join(output)
    finally:
        _stop(process)
