"""A site cut off in a fleet probed by the real scheduler (TCP peers on 127.0.0.1): after the
rule's duration exactly one webhook message and one e-mail, nothing for the devices behind the
link, no duplicate after the evaluator restarts, an acknowledgement through the API recorded
in the change log, and a resolve message when the site is back."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from fleet.alerts.delivery import SIGNATURE, TIMESTAMP, verify
from fleet.api.app import create_app
from fleet.database import Database
from fleet.settings import Settings
from tests import factories
from tests.conftest import auth, make_token
from tests.dashboards import Peer, wait_for

from .helpers import SECRET, cipher_of, sync_alerts, webhook_channel, write_alerts
from .receivers import Webhook, smtp_server, webhook

pytestmark = pytest.mark.timeout(90)


def _live(settings: Settings, smtp_port: int) -> Settings:
    return settings.model_copy(
        update={
            "scheduler": True,
            "probe_interval_s": 0.3,
            "probe_jitter_s": 0.0,
            "reconcile_interval_s": 0.3,
            "probe_timeout_s": 5.0,
            "probe_retries": 0,
            "state_confirmations": 2,
            "alert_interval_s": 0.2,
            "alert_delivery_poll_s": 0.05,
            "smtp_host": "127.0.0.1",
            "smtp_port": smtp_port,
        }
    )


@pytest.fixture
def receivers() -> Iterator[tuple[Webhook, int, list[Any]]]:
    with webhook() as hook, smtp_server() as (port, mails):
        yield hook, port, mails


def test_a_cut_site_alerts_once_and_resolves(
    settings: Settings,
    admin_token: str,
    db_url: str,
    tmp_path: Path,
    receivers: tuple[Webhook, int, list[Any]],
) -> None:
    hook, smtp_port, mails = receivers
    channels = [
        webhook_channel("duty-hook", hook.url),
        {"name": "duty-mail", "kind": "email", "to": ["duty@example.org"]},
    ]
    both = ["duty-hook", "duty-mail"]
    rules = [
        {"name": "site-cut", "kind": "site_disconnected", "seconds": 1, "channels": both},
        {"name": "device-down", "kind": "device_down", "seconds": 1, "channels": both},
        {
            "name": "elsewhere",
            "kind": "site_disconnected",
            "seconds": 1,
            "scope": {"countries": ["ML"]},
            "channels": both,
        },
    ]

    async def load() -> None:
        db = Database(db_url)
        try:
            await sync_alerts(db, write_alerts(tmp_path, channels, rules), cipher_of(settings))
        finally:
            await db.dispose()

    asyncio.run(load())
    live = _live(settings, smtp_port)
    engineer = make_token(db_url, "amina", "field_engineer", rate_limit_per_minute=0)
    with TestClient(create_app(live)) as client:
        client.headers.update(auth(admin_token))
        factories.country(client)
        hub = factories.site(client, code="NE-NB-HUB", kind="national_bureau")
        site = factories.site(client, code="NE-BCL-CUT")
        kinds = ("satellite_modem", "router", "camera", "fingerprint_scanner")
        models = {k: factories.device_model(client, kind=k)["slug"] for k in kinds}
        peers = {k: Peer() for k in models}

        def device(kind: str, parent: int | None = None) -> dict[str, Any]:
            return factories.device(
                client,
                site=site["code"],
                model=models[kind],
                probes=["tcp"],
                management_address="127.0.0.1",
                probe_port=peers[kind].port,
                parent_id=parent,
            )

        modem = device("satellite_modem")
        router = device("router", modem["id"])
        device("camera", router["id"])
        device("fingerprint_scanner")
        factories.link(
            client,
            site=site["code"],
            terminating_device_id=modem["id"],
            far_end_site=hub["code"],
            medium="satellite",
        )

        def state() -> str:
            return str(client.get(f"/api/v1/sites/{site['code']}/status").json()["state"])

        wait_for(lambda: state() == "connected", seconds=30, what="the site to come up")
        time.sleep(1.0)
        assert hook.received == []  # a site that is up alerts nothing

        for peer in peers.values():  # the satellite link drops: nothing at the site answers
            peer.cut()
        cut_at = time.monotonic()
        wait_for(lambda: state() == "disconnected", seconds=30, what="the site to be disconnected")
        wait_for(lambda: len(hook.received) >= 1, seconds=30, what="the webhook message")
        assert time.monotonic() - cut_at >= 1.0  # not before the rule's duration
        wait_for(lambda: len(mails) >= 1, what="the e-mail")
        time.sleep(1.5)  # evaluations go on: still one message, nothing for the devices
        assert len(hook.received) == 1
        assert len(mails) == 1
        opened = json.loads(hook.received[0].body)
        assert opened["event"] == "alert.opened"
        assert opened["alert"]["rule_name"] == "site-cut"
        assert opened["alert"]["object_key"] == site["code"]
        first = hook.received[0]
        assert verify(
            SECRET, first.headers[TIMESTAMP], first.body, first.headers[SIGNATURE], max_age_s=60
        )
        assert site["code"] in mails[0]["Subject"]

        alerts = client.get("/api/v1/alerts", params={"state": "open"}).json()["items"]
        assert [(a["rule_name"], a["object_key"]) for a in alerts] == [("site-cut", site["code"])]
        alert_id = alerts[0]["id"]
        deliveries = client.get(f"/api/v1/alerts/{alert_id}/deliveries").json()["items"]
        assert sorted(d["channel"] for d in deliveries) == both
        assert all(d["state"] == "sent" and d["attempts"] == 1 for d in deliveries)
        assert all(d["attempt_log"][0]["ok"] for d in deliveries)

        acked = client.post(f"/api/v1/alerts/{alert_id}/ack", headers=auth(engineer))
        assert acked.status_code == 200, acked.text
        assert acked.json()["acked_by"] == "amina"
        again = client.post(f"/api/v1/alerts/{alert_id}/ack", headers=auth(engineer))
        assert again.status_code == 409
        changes = client.get(
            "/api/v1/changes", params={"object_type": "alert", "limit": 50}
        ).json()["items"]
        ack_change = [c for c in changes if "acked_by" in c["changes"]]
        assert len(ack_change) == 1
        assert ack_change[0]["actor"] == "amina"
        assert ack_change[0]["changes"]["acked_by"]["after"] == "amina"

    # the evaluator restarts (a new process would read the same rows): no second alert
    with TestClient(create_app(live)) as client:
        client.headers.update(auth(admin_token))
        time.sleep(1.5)
        assert len(hook.received) == 1
        assert len(mails) == 1
        for peer in peers.values():
            peer.restore()
        wait_for(
            lambda: state_of(client, site["code"]) == "connected", seconds=30, what="the site back"
        )
        wait_for(lambda: len(hook.received) >= 2, seconds=30, what="the resolve message")
        wait_for(lambda: len(mails) >= 2, what="the resolve e-mail")
        time.sleep(0.5)
        assert len(hook.received) == 2
        resolved = json.loads(hook.received[1].body)
        assert resolved["event"] == "alert.resolved"
        assert resolved["alert"]["id"] == alert_id
        assert resolved["alert"]["resolved_at"] is not None
        assert "RESOLVED" in mails[1]["Subject"]
        assert client.get("/api/v1/alerts", params={"state": "open"}).json()["items"] == []
        metrics = client.get("/metrics").text
        assert 'fleet_alerts_open{rule_kind="site_disconnected"} 0.0' in metrics
        assert 'fleet_alert_deliveries{state="sent"} 4.0' in metrics
    for peer in peers.values():
        peer.cut()


def state_of(client: TestClient[Any], code: str) -> str:
    return str(client.get(f"/api/v1/sites/{code}/status").json()["state"])
