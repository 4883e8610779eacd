"""The fleet command line on a real SQLite file."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from click.testing import CliRunner
from litestar.testing import TestClient

from fleet.api.app import create_app
from fleet.cli import main
from fleet.database import Database
from fleet.probes.models import ProbeResult
from fleet.settings import Settings
from tests import factories
from tests.conftest import SAMPLE, auth


def fleet(url: str, *args: str) -> Any:
    return CliRunner().invoke(main, ["--database-url", url, *args], catch_exceptions=False)


def test_sync_plan_apply_and_broken_file(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    planned = fleet(url, "sync", str(SAMPLE), "--plan")
    assert planned.exit_code == 0
    assert "+ site NE-" in planned.output
    assert planned.output.strip().splitlines()[-1].startswith("Plan: ")
    applied = fleet(url, "sync", str(SAMPLE), "--apply")
    assert applied.exit_code == 0
    assert applied.output.strip().endswith("Applied.")
    again = fleet(url, "sync", str(SAMPLE), "--plan")
    assert again.output.strip() == "Plan: 0 to create, 0 to change, 0 to delete."

    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "countries.yaml").write_text(
        "- code: NE\n  name: Niger\n  region: Sahel\n  flag: x\n"
    )
    (broken / "device_models.yaml").write_text("[]\n")
    result = CliRunner().invoke(main, ["--database-url", url, "sync", str(broken), "--apply"])
    assert result.exit_code == 1
    assert "broken/countries.yaml:4: unknown key 'flag'" in result.output
    assert "nothing was written" in result.output


def test_export_and_db_commands(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    assert fleet(url, "db", "upgrade").exit_code == 0
    assert fleet(url, "db", "check").output.strip() == "Models and migrations agree."
    fleet(url, "sync", str(SAMPLE), "--apply")
    exported = fleet(url, "export", str(tmp_path / "out"))
    assert exported.exit_code == 0
    assert (tmp_path / "out" / "sites").is_dir()
    assert fleet(url, "sync", str(tmp_path / "out"), "--plan", "--prune").output.strip() == (
        "Plan: 0 to create, 0 to change, 0 to delete."
    )


def test_token_create(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    made = fleet(
        url,
        "token",
        "create",
        "--name",
        "eng",
        "--role",
        "field_engineer",
        "--countries",
        "ne,ml",
        "--expires",
        "30d",
    )
    assert made.exit_code == 0, made.output
    secret = made.output.strip()
    assert secret.startswith("fleet_")
    duplicate = CliRunner().invoke(
        main, ["--database-url", url, "token", "create", "--name", "eng", "--role", "viewer"]
    )
    assert duplicate.exit_code != 0
    assert "already exists" in duplicate.output
    bad = CliRunner().invoke(
        main,
        [
            "--database-url",
            url,
            "token",
            "create",
            "--name",
            "x",
            "--role",
            "viewer",
            "--countries",
            "Niger",
        ],
    )
    assert bad.exit_code == 2
    with TestClient(create_app(Settings(database_url=url, log_format="json"))) as client:
        response = client.get("/api/v1/countries", headers=auth(secret))
        assert response.status_code == 200
        assert client.get("/api/v1/tokens", headers=auth(secret)).status_code == 403


def test_help_on_every_command() -> None:
    for args in (
        ["--help"],
        ["serve", "--help"],
        ["sync", "--help"],
        ["export", "--help"],
        ["db", "upgrade", "--help"],
        ["db", "check", "--help"],
        ["token", "create", "--help"],
    ):
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 0
        assert "Usage:" in result.output


def _probed_device(url: str, port: int) -> None:
    with TestClient(
        create_app(Settings(database_url=url, log_format="json", scheduler=False))
    ) as client:
        secret = fleet(url, "token", "create", "--name", "setup", "--role", "admin").output.strip()
        client.headers.update(auth(secret))
        factories.country(client)
        site = factories.site(client, code="NE-CLI")
        model = factories.device_model(client, kind="router")
        factories.device(
            client,
            serial="CLI-1",
            site=site["code"],
            model=model["slug"],
            probes=["tcp"],
            management_address="127.0.0.1",
            probe_port=port,
        )


def test_probe_command(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    fleet(url, "db", "upgrade")
    listener = socket.create_server(("127.0.0.1", 0))
    _probed_device(url, listener.getsockname()[1])
    result = fleet(url, "probe", "CLI-1")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("tcp   ok")
    listener.close()
    refused = fleet(url, "probe", "CLI-1")
    assert "refused" in refused.output
    missing = CliRunner().invoke(main, ["--database-url", url, "probe", "NOPE"])
    assert missing.exit_code == 1
    assert "no device NOPE" in missing.output


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_worker_metrics_on_a_taken_port_is_a_clear_error(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = CliRunner().invoke(
            main, ["--database-url", url, "worker", "--metrics-port", str(port)]
        )
    assert result.exit_code == 1
    assert f"cannot serve metrics on 127.0.0.1:{port}" in result.output


def test_worker_probes_without_the_api(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    fleet(url, "db", "upgrade")
    listener = socket.create_server(("127.0.0.1", 0))
    _probed_device(url, listener.getsockname()[1])
    env = {
        **os.environ,
        "FLEET_DATABASE_URL": url,
        "FLEET_PROBE_INTERVAL_S": "0.5",
        "FLEET_PROBE_JITTER_S": "0",
        "FLEET_LOG_FORMAT": "json",
    }
    metrics_port = free_port()
    env["FLEET_METRICS_TOKEN"] = "scrape-me"
    process = subprocess.Popen(
        [sys.executable, "-m", "fleet.cli", "worker", "--metrics-port", str(metrics_port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        count = 0
        while time.monotonic() < deadline and count < 2:
            time.sleep(0.5)
            count = asyncio.run(_results(url))
        assert count >= 2
        # Its own metrics: the results it counted, behind the metrics token.
        metrics = f"http://127.0.0.1:{metrics_port}/metrics"
        assert httpx.get(metrics).status_code == 401
        scraped = httpx.get(metrics, headers={"Authorization": "Bearer scrape-me"})
        assert scraped.status_code == 200
        assert scraped.headers["content-type"].startswith("text/plain")
        counted = re.search(
            r'^fleet_probe_results_total\{kind="tcp",status="ok"\} (\S+)$', scraped.text, re.M
        )
        assert counted is not None
        assert float(counted.group(1)) >= 2
        assert "fleet_scheduler_lateness_seconds_count" in scraped.text
        assert httpx.get(f"http://127.0.0.1:{metrics_port}/").status_code == 404
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
        listener.close()


async def _results(url: str) -> int:
    db = Database(url)
    try:
        async with db.session() as session:
            return int(
                await session.scalar(sa.select(sa.func.count()).select_from(ProbeResult)) or 0
            )
    finally:
        await db.dispose()


def test_evaluate_with_nothing_to_evaluate_says_why_and_how(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    assert fleet(url, "sync", str(SAMPLE), "--apply").exit_code == 0
    assert fleet(url, "assess").exit_code == 0
    shown = fleet(url, "evaluate", "--days", "7")
    assert shown.exit_code == 0
    assert shown.output.startswith("Nothing to evaluate: no work order is verified yet.")
    assert "--days 7 before its work" in shown.output
    assert "fleet demo" in shown.output
    assert "  title" not in shown.output
