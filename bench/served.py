"""``fleet serve`` as a process for the benchmarks: started on a database URL with the sample
fleet, waited for, and stopped."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Server:
    """``fleet serve --no-scheduler`` on ``url`` with the sample fleet; ``token`` is the admin
    token it prints."""

    def __init__(self, url: str, folder: Path) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "FLEET_DATABASE_URL": url,
            "FLEET_SITE_CONFIGS": str(ROOT / "site_configs"),
            "FLEET_LOG_FORMAT": "json",
            "FLEET_LOG_LEVEL": "WARNING",
        }
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "fleet.cli",
                "serve",
                "--no-scheduler",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
            ],
            env=env,
            cwd=folder,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.output: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        self.token = self._wait()

    def _read(self) -> None:
        if self.process.stdout is not None:
            self.output.extend(iter(self.process.stdout.readline, ""))

    def _wait(self) -> str:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit("fleet serve exited:\n" + "".join(self.output))
            try:
                if httpx.get(f"{self.base}/api/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            raise SystemExit("fleet serve did not answer within 90 s")
        return next(line.split("=", 1)[1].strip() for line in self.output if "FLEET_TOKEN=" in line)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
