"""Helpers of the alerts' tests: an alerts.yaml written and synchronised, an outbox run until
it is idle."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import yaml

from fleet import context
from fleet.alerts import config
from fleet.alerts.delivery import Outbox
from fleet.database import Database
from fleet.inventory.credentials import Cipher
from fleet.settings import Settings

SECRET = "s3cret-signing-key-for-tests"
ENV = {"FLEET_TEST_HOOK_SECRET": SECRET}


def webhook_channel(name: str, url: str, timeout_s: float = 2.0) -> dict[str, Any]:
    return {
        "name": name,
        "kind": "webhook",
        "url": url,
        "secret_env": "FLEET_TEST_HOOK_SECRET",
        "timeout_s": timeout_s,
    }


def write_alerts(folder: Path, channels: list[dict[str, Any]], rules: list[dict[str, Any]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "alerts.yaml").write_text(yaml.safe_dump({"channels": channels, "rules": rules}))
    return folder


async def sync_alerts(
    db: Database, folder: Path, cipher: Cipher, env: dict[str, str] | None = None
) -> list[str]:
    wanted = config.load(folder, environ=ENV if env is None else env)
    assert wanted is not None
    async with db.session(write=True) as session:
        with context.acting_as("tests"):
            changes = await config.sync(session, wanted, cipher, prune=True)
        await session.commit()
    return [str(c) for c in changes]


def cipher_of(settings: Settings) -> Cipher:
    assert settings.credential_keys is not None
    return Cipher(settings.credential_keys.get_secret_value())


async def drain(outbox: Outbox, seconds: float, until: Any = None) -> None:
    """Run the outbox as its loop does (every 20 ms) for ``seconds`` or until ``until()``."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        await outbox.run_once()
        if until is not None and await until():
            break
        await asyncio.sleep(0.02)
