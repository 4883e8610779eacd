"""The central rules of the edge pollers on both backends: an edge token reads its sites'
targets and nothing else, its rounds are stored once however often they are sent, an old
round fills the history without moving the live state, and bad batches change nothing."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from litestar.testing import TestClient

from fleet.database import Database
from fleet.probes.models import EdgeNode, ProbeResult, StateEvent
from tests import factories
from tests.conftest import auth, make_token, run

T0 = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)


def _round(device_id: int, seq: int, at: datetime, ok: bool = True) -> dict[str, Any]:
    status = "ok" if ok else "timeout"
    return {
        "device_id": device_id,
        "seq": seq,
        "at": at.isoformat(),
        "readings": [
            {"kind": "tcp", "status": status, "started_at": at.isoformat(), "duration_ms": 1.5}
        ],
    }


@pytest.fixture
def fleet(client: TestClient[Any], db_url: str) -> dict[str, Any]:
    made = factories.small_fleet(client)
    for name in ("router", "camera"):
        response = client.patch(
            f"/api/v1/devices/{made[name]['id']}",
            json={"probes": ["tcp"], "management_address": "127.0.0.1", "probe_port": 9},
            headers={"If-Match": client.get(f"/api/v1/devices/{made[name]['id']}").headers["etag"]},
        )
        assert response.status_code == 200, response.text
    made["other"] = factories.site(client)
    made["foreign"] = factories.device(
        client, site=made["other"]["code"], model=made["camera_model"]["slug"]
    )
    made["edge"] = auth(make_token(db_url, "edge-1", "edge", sites=[made["site"]["code"]]))
    return made


def _count(db_url: str, table: Any, *where: Any) -> int:
    async def go() -> int:
        db = Database(db_url)
        try:
            async with db.session() as session:
                query = sa.select(sa.func.count()).select_from(table)
                return int(await session.scalar(query.where(*where)) or 0)
        finally:
            await db.dispose()

    return int(run(go()))


def test_targets_only_of_its_sites_with_secrets_and_etag(
    client: TestClient[Any], fleet: dict[str, Any]
) -> None:
    answer = client.get("/api/v1/edge/targets", headers=fleet["edge"])
    assert answer.status_code == 200, answer.text
    devices = answer.json()["devices"]
    assert {d["device_id"] for d in devices} == {fleet["router"]["id"], fleet["camera"]["id"]}
    again = client.get(
        "/api/v1/edge/targets", headers={**fleet["edge"], "If-None-Match": answer.headers["etag"]}
    )
    assert again.status_code == 304
    other = client.get(
        "/api/v1/edge/targets", params={"site": fleet["other"]["code"]}, headers=fleet["edge"]
    )
    assert other.status_code == 403
    assert other.json()["errors"][0]["field"] == "site"
    # an edge token reads nothing else, and no other token reads the targets
    assert client.get("/api/v1/status/sites", headers=fleet["edge"]).status_code == 403
    assert client.get("/api/v1/edge/targets").status_code == 403


def test_a_batch_sent_twice_or_half_then_whole_counts_each_round_once(
    client: TestClient[Any], fleet: dict[str, Any], db_url: str
) -> None:
    router = fleet["router"]["id"]
    rounds = [_round(router, n, T0 + timedelta(seconds=10 * n)) for n in range(1, 7)]
    half = client.post("/api/v1/edge/results", json={"rounds": rounds[:3]}, headers=fleet["edge"])
    assert half.json() == {"accepted": 3, "duplicates": 0}
    whole = client.post("/api/v1/edge/results", json={"rounds": rounds}, headers=fleet["edge"])
    assert whole.json() == {"accepted": 3, "duplicates": 3}
    again = client.post("/api/v1/edge/results", json={"rounds": rounds}, headers=fleet["edge"])
    assert again.json() == {"accepted": 0, "duplicates": 6}
    assert _count(db_url, ProbeResult, ProbeResult.device_id == router) == 6  # type: ignore[arg-type]


def test_toggles_fill_the_history_at_their_times_and_an_old_round_moves_nothing(
    client: TestClient[Any], fleet: dict[str, Any], db_url: str
) -> None:
    camera = fleet["camera"]["id"]
    router = fleet["router"]["id"]
    oks = [True, True, False, False, False, True, True]
    rounds = [_round(router, n, T0 + timedelta(seconds=10 * n)) for n in range(len(oks))]
    rounds += [_round(camera, n, T0 + timedelta(seconds=10 * n), ok) for n, ok in enumerate(oks)]
    stored = client.post("/api/v1/edge/results", json={"rounds": rounds}, headers=fleet["edge"])
    assert stored.json()["accepted"] == 14
    events = client.get(
        "/api/v1/status/events", params={"object_type": "device", "object_id": camera}
    ).json()["items"]
    moves = sorted((e["at"], e["new_state"]) for e in events)
    # two rounds in a row confirm a change: down at the second failure, up at the second success
    assert [state for _, state in moves] == ["up", "down", "up"]
    assert moves[1][0].startswith("2026-12-07T10:00:30")
    assert moves[2][0].startswith("2026-12-07T10:01:00")
    status = client.get(f"/api/v1/sites/{fleet['site']['code']}/status").json()
    camera_row = next(d for d in status["devices"] if d["id"] == camera)
    assert camera_row["state"] == "up"
    # a late round, older than the last one: in the results, not in the live state
    late = [_round(camera, 100, T0 + timedelta(seconds=15), ok=False)]
    late.append(_round(camera, 101, T0 + timedelta(seconds=25), ok=False))
    client.post("/api/v1/edge/results", json={"rounds": late}, headers=fleet["edge"])
    status = client.get(f"/api/v1/sites/{fleet['site']['code']}/status").json()
    assert next(d for d in status["devices"] if d["id"] == camera)["state"] == "up"
    assert _count(db_url, ProbeResult, ProbeResult.device_id == camera) == 9  # type: ignore[arg-type]
    device_events = (StateEvent.object_type == "device", StateEvent.object_id == camera)
    assert _count(db_url, StateEvent, *device_events) == 3
    availability = client.get(
        "/api/v1/availability",
        params={
            "object_type": "device",
            "key": camera,
            "since": T0.isoformat(),
            "until": (T0 + timedelta(seconds=60)).isoformat(),
        },
    )
    assert availability.status_code == 200, availability.text
    assert availability.json()["seconds"]["down"] == 30.0


def test_a_foreign_device_or_a_bad_body_is_refused_and_stores_nothing(
    client: TestClient[Any], fleet: dict[str, Any], db_url: str
) -> None:
    router = fleet["router"]["id"]
    mixed = [_round(router, 1, T0), _round(fleet["foreign"]["id"], 1, T0)]
    refused = client.post("/api/v1/edge/results", json={"rounds": mixed}, headers=fleet["edge"])
    assert refused.status_code == 403
    assert refused.json()["errors"][0]["field"] == "rounds[1].device_id"
    twice = client.post(
        "/api/v1/edge/results",
        json={"rounds": [_round(router, 1, T0), _round(router, 1, T0)]},
        headers=fleet["edge"],
    )
    assert twice.status_code == 422
    bad = _round(router, 2, T0)
    bad["readings"][0]["status"] = "splendid"
    for body in (
        {"rounds": [bad]},
        {"rounds": []},
        {"rounds": [_round(router, 3, T0)] * 501},
        {"rounds": [{**_round(router, 4, T0), "seq": -1}]},
    ):
        answer = client.post("/api/v1/edge/results", json=body, headers=fleet["edge"])
        assert answer.status_code in (400, 422), answer.text
        assert answer.headers["content-type"].startswith("application/problem+json")
    assert _count(db_url, ProbeResult) == 0
    # the people's tokens may not post results
    assert client.post("/api/v1/edge/results", json={"rounds": mixed[:1]}).status_code == 403


def test_heartbeat_is_recorded(client: TestClient[Any], fleet: dict[str, Any]) -> None:
    beat = {"version": "1.0", "buffered": 12, "dropped": 3, "buffer_max_age_s": 3600}
    answer = client.post("/api/v1/edge/heartbeat", json=beat, headers=fleet["edge"])
    assert answer.status_code == 200, answer.text
    bad = client.post(
        "/api/v1/edge/heartbeat", json={**beat, "buffered": -1}, headers=fleet["edge"]
    )
    assert bad.status_code in (400, 422)


def _edge_line(client: TestClient[Any], code: str, language: str = "en") -> tuple[str, str]:
    """The reach and the text of a site's edge line on the board."""
    page = client.get("/", headers={"Accept-Language": language}).text
    row = page[page.index(f'data-site="{code}"') :]
    row = row[: row.index("</tr>")]
    found = re.search(r'data-field="edge" data-reach="(\w+)">([^<]*)<', row)
    assert found is not None, row
    return found.group(1), html.unescape(found.group(2))


def test_the_board_tells_an_edge_buffering_from_a_dark_one(
    client: TestClient[Any], fleet: dict[str, Any], db_url: str
) -> None:
    code = fleet["site"]["code"]
    assert _edge_line(client, code) == ("dark", "Dark: the edge poller was never heard")
    other = client.get("/").text.split(f'data-site="{fleet["other"]["code"]}"')[1]
    assert 'data-field="edge"' not in other.split("</tr>")[0]  # no edge serves it
    beat = {"version": "1.0", "buffered": 0, "dropped": 0, "buffer_max_age_s": 3600}
    assert (
        client.post("/api/v1/edge/heartbeat", json=beat, headers=fleet["edge"]).status_code == 200
    )
    assert _edge_line(client, code) == ("in_touch", "Edge poller in touch")

    def heard(ago: timedelta) -> None:
        async def go() -> None:
            db = Database(db_url)
            try:
                async with db.session(write=True) as session:
                    await session.execute(
                        sa.update(EdgeNode).values(heartbeat_at=datetime.now(UTC) - ago)
                    )
                    await session.commit()
            finally:
                await db.dispose()

        run(go())

    heard(timedelta(minutes=12, seconds=5))
    assert _edge_line(client, code) == (
        "buffering",
        "Disconnected, edge buffering (last heard 12 min ago)",
    )
    reach, text = _edge_line(client, code, "fr")
    assert (reach, text) == (
        "buffering",
        "Déconnecté, le collecteur local garde les mesures (dernier contact il y a 12 min)",
    )
    heard(timedelta(hours=2, minutes=1))  # beyond its buffer's hour: what it saw may be lost
    assert _edge_line(client, code) == (
        "dark",
        "Dark: the edge poller is silent (last heard 2 h ago)",
    )
