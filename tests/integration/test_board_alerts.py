"""Open alerts on the board and their acknowledgement from it, on SQLite and PostgreSQL: the
button only for a role that may acknowledge, the form posted with the session cookie and the
page's anti-forgery field (refused without it, from another origin, or without the
permission, changing nothing), the change log with the user as actor, a second press
harmless, and an alert of another country out of reach."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from litestar.testing import TestClient

from fleet.alerts.models import Alert
from fleet.api.app import create_app
from fleet.api.auth import SESSION_COOKIE
from fleet.database import Database
from fleet.models import utcnow
from fleet.settings import Settings
from tests.conftest import make_token

CSRF = re.compile(r'name="csrf" value="([0-9a-f]{64})"')


async def _alerts(url: str) -> dict[str, int]:
    """Two open alerts, in Niger and in Mali (no site rows needed: an alert names its site)."""
    db = Database(url)
    made: dict[str, int] = {}
    try:
        async with db.session(write=True) as session:
            for n, (country, code) in enumerate((("NE", "NE-BCL-01"), ("ML", "ML-BCL-01"))):
                alert = Alert(
                    rule_name="site-cut",
                    rule_kind="site_down",
                    object_type="site",
                    object_id=n + 1,
                    object_key=code,
                    site_code=code,
                    country_code=country,
                    state="open",
                    summary=f"{code} is cut off",
                    since=utcnow() - timedelta(minutes=12),
                )
                session.add(alert)
                await session.flush()
                assert alert.id is not None
                made[country] = alert.id
            await session.commit()
    finally:
        await db.dispose()
    return made


@pytest.fixture
def alerts(db_url: str) -> dict[str, int]:
    made: dict[str, int] = asyncio.run(_alerts(db_url))
    return made


@pytest.fixture
def app_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"cookie_secure": False})


@pytest.fixture
def browsers(app_settings: Settings, db_url: str) -> Iterator[Any]:
    """Sign a browser in with a new token of ``role`` (and ``countries``)."""
    opened: list[TestClient[Any]] = []

    def sign_in(name: str, role: str, countries: list[str] | None = None) -> TestClient[Any]:
        secret = make_token(db_url, name, role, countries, rate_limit_per_minute=0)
        client = TestClient(create_app(app_settings))
        client.__enter__()
        opened.append(client)
        client.headers["accept"] = "text/html"
        signed = client.post("/signin", data={"token": secret, "next": "/"})
        assert signed.status_code == 200, signed.text
        return client

    yield sign_in
    for client in opened:
        client.__exit__(None, None, None)


def _csrf(page: str) -> str:
    found = CSRF.search(page)
    assert found, "no anti-forgery field on the board"
    return found.group(1)


def _api_alert(client: TestClient[Any], alert_id: int) -> dict[str, Any]:
    body: dict[str, Any] = client.get(f"/api/v1/alerts/{alert_id}").json()
    return body


def test_acknowledged_from_the_board_once_by_the_user(
    browsers: Any, alerts: dict[str, int], client: TestClient[Any]
) -> None:
    amina = browsers("amina", "field_engineer", ["NE"])
    board = amina.get("/").text
    assert f'data-alert="{alerts["NE"]}"' in board
    assert f'data-alert="{alerts["ML"]}"' not in board  # another country's
    assert f'action="/board/alerts/{alerts["NE"]}/ack"' in board
    token = _csrf(board)
    url = f"/board/alerts/{alerts['NE']}/ack"

    done = amina.post(url, data={"csrf": token, "back": "/"}, follow_redirects=False)
    assert done.status_code == 303, done.text
    assert done.headers["location"] == f"/?acked={alerts['NE']}#alerts"
    now = _api_alert(client, alerts["NE"])
    assert now["acked_by"] == "amina"
    assert now["acked_at"]
    page = amina.get(done.headers["location"]).text
    assert f"Alert {alerts['NE']} acknowledged." in page
    assert "Acknowledged by amina" in page
    assert f'action="/board/alerts/{alerts["NE"]}/ack"' not in page

    again = amina.post(url, data={"csrf": token, "back": "/"}, follow_redirects=False)
    assert again.status_code == 303
    assert "already=1" in again.headers["location"]
    assert "was acknowledged already" in amina.get(again.headers["location"]).text
    assert _api_alert(client, alerts["NE"]) == now  # nothing changed
    changes = client.get("/api/v1/changes", params={"object_type": "alert", "limit": 50}).json()[
        "items"
    ]
    acks = [c for c in changes if "acked_by" in c["changes"]]
    assert [(c["actor"], c["changes"]["acked_by"]["after"]) for c in acks] == [("amina", "amina")]

    # Another country's alert is not found from the board either.
    elsewhere = amina.post(
        f"/board/alerts/{alerts['ML']}/ack", data={"csrf": token}, follow_redirects=False
    )
    assert elsewhere.status_code == 404
    assert _api_alert(client, alerts["ML"])["acked_at"] is None


def test_refused_without_the_field_from_elsewhere_or_without_the_permission(
    browsers: Any, alerts: dict[str, int], client: TestClient[Any]
) -> None:
    amina = browsers("amina", "field_engineer")
    token = _csrf(amina.get("/").text)
    url = f"/board/alerts/{alerts['NE']}/ack"
    refused = [
        amina.post(url, data={}, follow_redirects=False),
        amina.post(url, data={"csrf": "0" * 64}, follow_redirects=False),
        amina.post(
            url,
            data={"csrf": token},
            headers={"Origin": "https://elsewhere.example"},
            follow_redirects=False,
        ),
        amina.post(
            url,
            data={"csrf": token},
            headers={"Sec-Fetch-Site": "cross-site"},
            follow_redirects=False,
        ),
    ]
    assert [r.status_code for r in refused] == [403, 403, 403, 403]
    # The API's route takes no cookie for a write: the board's route is the only way in.
    api = amina.post(f"/api/v1/alerts/{alerts['NE']}/ack", follow_redirects=False)
    assert api.status_code == 401

    viewer = browsers("wall", "viewer")
    board = viewer.get("/").text
    assert f'data-alert="{alerts["NE"]}"' in board  # a viewer sees the alerts
    assert f'action="/board/alerts/{alerts["NE"]}/ack"' not in board  # but has no button
    # Even with the right field (as this server would make it), the role may not acknowledge.
    secret = viewer.cookies.get(SESSION_COOKIE) or ""
    right = hmac.new(secret.encode(), b"fleet plan form", hashlib.sha256).hexdigest()
    forbidden = viewer.post(url, data={"csrf": right}, follow_redirects=False)
    assert forbidden.status_code == 403
    assert _api_alert(client, alerts["NE"])["acked_at"] is None
