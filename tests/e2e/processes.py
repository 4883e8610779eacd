"""Processes a newcomer starts: a fresh clone installed once, services started and stopped."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path

import httpx

from tests.conftest import ROOT


def newcomer_env() -> dict[str, str]:
    """This environment without fleet's settings or a virtualenv, as on a fresh machine."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("FLEET_", "VIRTUAL_ENV"))}


def clone_and_install(folder: Path) -> Path:
    """A fresh clone of this repository in ``folder``, after ``make install``."""
    clone = folder / "fleet"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True, timeout=60)
    installed = subprocess.run(
        ["make", "install"],
        cwd=clone,
        env=newcomer_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr
    return clone


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start(
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


def stop(process: subprocess.Popen[str]) -> None:
    """The whole process group (make, fleet, the simulator's processes)."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def wait_healthy(
    base: str, process: subprocess.Popen[str], output: list[str], seconds: float = 60
) -> None:
    """Wait until the service at ``base`` answers its health check; fail if it ends first."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert process.poll() is None, "fleet serve exited:\n" + "".join(output)
        try:
            if httpx.get(f"{base}/api/v1/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise AssertionError(f"fleet serve did not answer within {seconds:.0f} s")


def token_of(output: list[str], deadline: float) -> str:
    while time.monotonic() < deadline:
        for line in list(output):
            found = re.search(r"FLEET_TOKEN=(\S+)", line)
            if found:
                return found.group(1)
        time.sleep(0.5)
    raise AssertionError("no token printed:\n" + "".join(output))


def live_states(
    base: str, token: str, deadline: float, process: subprocess.Popen[str] | None = None
) -> Counter[str]:
    """Wait until the demo's sites are connected (at least 8) and its border site cut off;
    the sites by state. Fails at ``deadline``, or when ``process`` (the service) has ended."""
    counts: Counter[str] = Counter()
    while time.monotonic() < deadline:
        assert process is None or process.poll() is None, "the service ended"
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
            return counts
        time.sleep(2)
    raise AssertionError(f"the demo's sites were only {dict(counts)}")
