"""Every change record names its actor and a request id, whoever wrote it: the API, `fleet
serve`'s start-up (the sample and the first admin token), `fleet sync`, `fleet token create`,
the scheduler pinning a host key, the demo. The test walks every writer of the change log
(``WRITERS``, checked against the source) and then looks at every record in the database."""

from __future__ import annotations

import asyncio
import re
import shutil
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import sqlalchemy as sa
from click.testing import CliRunner
from litestar.testing import TestClient

from fleet.api.app import create_app
from fleet.cli import main
from fleet.cli.common import cipher_of
from fleet.cli.serve import prepare
from fleet.database import Database
from fleet.demo import run as demo_run
from fleet.probes import service as probes_service
from fleet.probes.targets import DeviceProbes
from fleet.probes.types import ProbeStatus, Reading
from fleet.settings import Settings
from tests.conftest import SAMPLE, auth

PACKAGE = Path(__file__).resolve().parents[2] / "fleet"

#: Every module that writes change records: how many ``changelog.log(`` calls it has, and the
#: (object type, action) pairs the walk below must leave. A new writer fails the test until it
#: is named here and walked.
WRITERS: dict[str, tuple[int, set[tuple[str, str]]]] = {
    "access/tokens.py": (3, {("api_token", a) for a in ("create", "update", "delete")}),
    "inventory/credentials.py": (
        3,
        {("credential_profile", a) for a in ("create", "update", "delete")},
    ),
    "upgrades/profiles.py": (3, {("site_profile", a) for a in ("create", "update", "delete")}),
    "inventory/service.py": (
        1,
        {
            (kind, action)
            for kind in ("country", "site", "device_model", "device", "link")
            for action in ("create", "update", "delete")
        }
        | {("maintenance_window", "create")},
    ),
    # The walk loads the sample's alert rules; the channels' records, an alert's opening,
    # resolve and acknowledgement are checked in tests/integration/alerts.
    "alerts/config.py": (5, {("alert_rule", "create")}),
    "alerts/evaluate.py": (2, set()),
    "alerts/service.py": (1, set()),
    "attachments/service.py": (1, {("attachment", "create"), ("attachment", "delete")}),
}

#: Who the walk acts as, each at least once.
ACTORS = {"serve", "cli", "sync", "scheduler", "demo", "walker"}


def test_writers_are_the_ones_listed() -> None:
    found: Counter[str] = Counter()
    for path in PACKAGE.rglob("*.py"):
        count = len(re.findall(r"\bchangelog\.log\(", path.read_text(encoding="utf-8")))
        if count:
            found[path.relative_to(PACKAGE).as_posix()] = count
    assert dict(found) == {name: count for name, (count, _) in WRITERS.items()}
    text = "\n".join(p.read_text(encoding="utf-8") for p in PACKAGE.rglob("*.py"))
    # Change records are made only by changelog.log (the one call below the class).
    assert len(re.findall(r"(?<!class )\bChangeRecord\(", text)) == 1
    assert not re.search(r"insert\(\s*(ChangeRecord|changelog)|INTO change_record", text)


def _configs(tmp_path: Path) -> tuple[Path, Path]:
    """The sample, and an edit of it: a site gone, a site renamed, a profile gone, a profile
    changed."""
    before = tmp_path / "before"
    shutil.copytree(SAMPLE, before)
    after = tmp_path / "after"
    shutil.copytree(SAMPLE, after)
    (after / "sites" / "BF-BCL-03.yaml").unlink()
    site = after / "sites" / "BF-BCL-02.yaml"
    site.write_text(
        re.sub(r"(?m)^name: .*$", "name: Renamed post", site.read_text(encoding="utf-8"), count=1),
        encoding="utf-8",
    )
    (after / "profiles" / "sea-border.yaml").unlink()
    profile = after / "profiles" / "air-border.yaml"
    profile.write_text(
        re.sub(
            r"(?m)^description: .*$",
            "description: Changed.",
            profile.read_text(encoding="utf-8"),
            count=1,
        ),
        encoding="utf-8",
    )
    return before, after


def _cli(url: str, *args: str) -> str:
    result = CliRunner().invoke(main, ["--database-url", url, *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return str(result.output)


def _api_writes(settings: Settings, secret: str) -> None:
    """Tokens, credential profiles, a country, a device model, a link and a maintenance window
    through the API."""
    with TestClient(create_app(settings)) as client:
        client.headers.update(auth(secret))
        made = client.post("/api/v1/tokens", json={"name": "wall", "role": "viewer"})
        assert made.status_code == 201, made.text
        url = f"/api/v1/tokens/{made.json()['id']}"
        assert client.patch(url, json={"enabled": False}, headers={"If-Match": '"1"'}).is_success
        assert client.delete(url, headers={"If-Match": '"2"'}).status_code == 204
        profile = {"name": "walk-v2c", "kind": "snmp_v2c", "secret": {"community": "c0m-W"}}
        assert client.post("/api/v1/credential-profiles", json=profile).status_code == 201
        url = "/api/v1/credential-profiles/walk-v2c"
        changed = {"secret": {"community": "c0m-X"}}
        assert client.patch(url, json=changed, headers={"If-Match": '"1"'}).is_success
        assert client.delete(url, headers={"If-Match": '"2"'}).status_code == 204
        country = {"code": "GH", "name": "Ghana", "region": "West Africa"}
        assert client.post("/api/v1/countries", json=country).status_code == 201
        changed = {"name": "Republic of Ghana"}
        assert client.patch("/api/v1/countries/GH", json=changed, headers={"If-Match": '"1"'})
        assert client.delete("/api/v1/countries/GH", headers={"If-Match": '"2"'}).is_success
        model = {"slug": "walk-cam", "manufacturer": "Axis", "model": "W1", "kind": "camera"}
        assert client.post("/api/v1/device-models", json=model).status_code == 201
        gone = client.delete("/api/v1/device-models/walk-cam", headers={"If-Match": '"1"'})
        assert gone.status_code == 204, gone.text
        link = client.get("/api/v1/links", params={"limit": 1}).json()["items"][0]
        url = f"/api/v1/links/{link['id']}"
        etag = {"If-Match": client.get(url).headers["ETag"]}
        assert client.patch(url, json={"bandwidth_kbps": 12345}, headers=etag).is_success
        window = {
            "site": "NE-HQ-01",
            "starts_at": "2030-01-01T00:00:00Z",
            "ends_at": "2030-01-01T04:00:00Z",
            "reason": "walk",
        }
        made = client.post("/api/v1/maintenance-windows", json=window)
        assert made.status_code == 201, made.text
        pdf = b"%PDF-1.4\ntrailer<<>>\n%%EOF\n"
        made = client.post(
            "/api/v1/sites/NE-HQ-01/attachments",
            content=pdf,
            params={"name": "walk.pdf"},
            headers={"Content-Type": "application/pdf"},
        )
        assert made.status_code == 201, made.text
        gone = client.delete(made.headers["Location"], headers={"If-Match": '"1"'})
        assert gone.status_code == 204, gone.text


async def _pin(url: str) -> None:
    """The scheduler pins a device's host key after a good SSH round."""
    db = Database(url)
    try:
        async with db.session() as session:
            row = (await session.execute(sa.text("SELECT id, serial FROM device LIMIT 1"))).one()
        spec = cast(DeviceProbes, SimpleNamespace(device_id=row.id, serial=row.serial))
        reading = Reading(
            kind="ssh",
            device_id=row.id,
            status=ProbeStatus.OK,
            started_at=datetime.now(UTC),
            host_key="ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIWalk",
        )
        await probes_service.pin_host_key(db, spec, [reading])
    finally:
        await db.dispose()


async def _records(url: str) -> list[Any]:
    db = Database(url)
    try:
        async with db.session() as session:
            query = "SELECT actor, request_id, object_type, action FROM change_record"
            return list((await session.execute(sa.text(query))).all())
    finally:
        await db.dispose()


def test_every_writer_leaves_an_actor_and_a_request_id(
    settings: Settings, db_url: str, tmp_path: Path
) -> None:
    before, after = _configs(tmp_path)
    settings = settings.model_copy(update={"site_configs": before, "load_sample_when_empty": True})
    asyncio.run(prepare(settings))  # the sample and the first admin token, by `serve`
    secret = _cli(db_url, "token", "create", "--name", "walker", "--role", "admin").strip()
    _cli(db_url, "sync", str(after), "--apply", "--prune")
    _api_writes(settings, secret.splitlines()[-1])
    asyncio.run(_pin(db_url))
    demo_url = f"sqlite+aiosqlite:///{tmp_path / 'demo.db'}"
    demo = settings.model_copy(update={"database_url": demo_url, "site_configs": SAMPLE})
    asyncio.run(demo_run._prepare(demo, cipher_of(demo), 16161, 2222))

    records = asyncio.run(_records(db_url)) + asyncio.run(_records(demo_url))
    missing = [r for r in records if not r.request_id or not r.actor]
    assert missing == [], f"{len(missing)} change records without a request id or an actor"
    assert {r.actor for r in records} >= ACTORS
    walked = {(r.object_type, r.action) for r in records}
    for name, (_, pairs) in WRITERS.items():
        assert pairs <= walked, f"{name}: not walked: {sorted(pairs - walked)}"
    # A background run has one request id of its own: the sync's changes share one.
    sync_ids = {r.request_id for r in asyncio.run(_records(db_url)) if r.actor == "sync"}
    assert len(sync_ids) == 2  # the sample loaded by `serve`, then `fleet sync`
    assert all(i.startswith("sync-") for i in sync_ids)
