"""Alert rules and channels as code: a bad alerts.yaml is refused naming file, line and field;
a good one is synchronised into the database (secrets encrypted, never shown), idempotently,
and read back through the API."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from litestar.testing import TestClient

from fleet.alerts import config
from fleet.alerts.models import AlertChannel
from fleet.database import Database
from fleet.inventory.configs import ConfigError
from fleet.settings import Settings
from tests.conftest import SAMPLE

from .helpers import ENV, SECRET, cipher_of, sync_alerts, webhook_channel, write_alerts


def _problems(folder: Path, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        config.load(folder, environ=ENV if env is None else env)
    return [str(p) for p in caught.value.problems]


def test_the_sample_loads() -> None:
    wanted = config.load(SAMPLE, environ={})
    assert wanted is not None
    assert wanted.rules["border-site-disconnected"].threshold_s == 300
    assert wanted.channels == {}


def test_no_file_means_no_alerting_declared(tmp_path: Path) -> None:
    assert config.load(tmp_path, environ={}) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("rules:\n  - name: a\n    kind: site_gone\n    minutes: 5\n", "kind: Input"),
        (
            "rules:\n  - name: a\n    kind: device_down\n    minutes: 5\n    hours: 1\n",
            "one duration",
        ),
        ("rules:\n  - name: a\n    kind: device_down\n    minutes: -1\n", "minutes"),
        ("rules:\n  - name: a\n    kind: device_down\n    colour: red\n", "colour"),
        ("rules:\n  - name: a\n    kind: device_down\n    channels: [nowhere]\n", "nowhere"),
        (
            "rules:\n  - name: a\n    kind: device_down\n    scope: {countries: [Niger]}\n",
            "countries",
        ),
        (
            "rules:\n  - name: a\n    kind: device_down\n    scope: {criticality: [9]}\n",
            "criticality",
        ),
        (
            "rules:\n  - {name: a, kind: device_down}\n  - {name: a, kind: site_degraded}\n",
            "duplicate rule 'a'",
        ),
        (
            "channels:\n  - name: c\n    kind: webhook\n    secret_env: FLEET_TEST_HOOK_SECRET\n",
            "url",
        ),
        (
            "channels:\n  - name: c\n    kind: webhook\n    url: ftp://x.org/\n"
            "    secret_env: FLEET_TEST_HOOK_SECRET\n",
            "url",
        ),
        ("channels:\n  - name: c\n    kind: email\n    to: []\n", "to"),
        ("channels:\n  - name: c\n    kind: email\n    to: [not-an-address]\n", "to"),
        ("rules: 5\n", "rules"),
    ],
)
def test_bad_config_names_the_line_and_field(tmp_path: Path, text: str, expected: str) -> None:
    (tmp_path / "alerts.yaml").write_text(text)
    problems = _problems(tmp_path)
    assert problems
    assert any(expected in p for p in problems), problems
    assert all(p.startswith(f"{tmp_path.name}/alerts.yaml:") for p in problems), problems


def test_the_line_is_that_of_the_field(tmp_path: Path) -> None:
    (tmp_path / "alerts.yaml").write_text(
        "rules:\n  - name: ok\n    kind: device_down\n  - name: bad\n    kind: device_down\n"
        "    minutes: lots\n"
    )
    (problem,) = _problems(tmp_path)
    assert problem.startswith(f"{tmp_path.name}/alerts.yaml:6:")
    assert "minutes" in problem


def test_a_webhook_secret_must_be_in_the_environment(tmp_path: Path) -> None:
    write_alerts(tmp_path, [webhook_channel("hook", "http://127.0.0.1:9/")], [])
    (problem,) = _problems(tmp_path, env={})
    assert "secret_env" in problem
    assert "FLEET_TEST_HOOK_SECRET" in problem
    (short,) = _problems(tmp_path, env={"FLEET_TEST_HOOK_SECRET": "short"})
    assert "16 or more" in short


def test_sync_stores_rules_and_encrypted_secrets_idempotently(
    settings: Settings, client: TestClient[Any], tmp_path: Path
) -> None:
    channels: list[dict[str, Any]] = [
        webhook_channel("hook", "http://127.0.0.1:9/hook"),
        {"name": "mail", "kind": "email", "to": ["duty@example.org"]},
    ]
    rules = [
        {
            "name": "cut",
            "kind": "site_disconnected",
            "minutes": 10,
            "scope": {"countries": ["NE"], "site_kinds": ["border_crossing_land"]},
            "channels": ["hook", "mail"],
        }
    ]
    folder = write_alerts(tmp_path, channels, rules)
    cipher = cipher_of(settings)

    async def run() -> tuple[list[str], list[str], bytes | None]:
        db = Database(settings.database_url)
        try:
            first = await sync_alerts(db, folder, cipher)
            second = await sync_alerts(db, folder, cipher)
            async with db.session() as session:
                secret = await session.scalar(
                    sa.select(AlertChannel.secret).where(AlertChannel.name == "hook")  # type: ignore[arg-type]
                )
            return first, second, secret
        finally:
            await db.dispose()

    first, second, stored = asyncio.run(run())
    assert sorted(first) == [
        "+ alert channel hook",
        "+ alert channel mail",
        "+ alert rule cut",
    ]
    assert second == []
    assert stored is not None
    assert SECRET.encode() not in stored
    assert cipher.decrypt(stored) == {"secret": SECRET}

    listed = client.get("/api/v1/alert-rules").json()["items"]
    assert [(r["name"], r["threshold_s"], r["countries"]) for r in listed] == [
        ("cut", 600.0, ["NE"])
    ]
    shown = client.get("/api/v1/alert-channels")
    assert shown.status_code == 200
    assert SECRET not in shown.text
    assert {c["name"]: c["has_secret"] for c in shown.json()["items"]} == {
        "hook": True,
        "mail": False,
    }
    changes = client.get("/api/v1/changes", params={"limit": 100}).json()["items"]
    assert {"alert_rule", "alert_channel"} <= {c["object_type"] for c in changes}
    assert SECRET not in str(changes)

    # a changed secret is a change; a rule gone from the file is deleted with --prune
    write_alerts(tmp_path, channels, [])

    async def again() -> list[str]:
        db = Database(settings.database_url)
        try:
            return await sync_alerts(
                db, folder, cipher, env={"FLEET_TEST_HOOK_SECRET": "another-secret-16chars"}
            )
        finally:
            await db.dispose()

    assert sorted(asyncio.run(again())) == [
        "- alert rule cut",
        "~ alert channel hook: secret changed",
    ]
