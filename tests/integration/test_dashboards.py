"""The dashboards on SQLite and PostgreSQL: the board and its sign-in, a site's page, GeoJSON,
Prometheus metrics and the status stream, with states caused by real probes of TCP peers."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar.testing import TestClient
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from fleet.api.app import create_app
from fleet.api.auth import SESSION_COOKIE
from fleet.database import Database
from fleet.metrics import REGISTRY
from fleet.probes.events import StreamHub
from fleet.probes.live import STATE_CODES
from fleet.probes.models import StateEvent
from fleet.settings import Settings
from tests import factories
from tests.conftest import ROOT, auth, make_token
from tests.dashboards import (
    arrange,
    links_known,
    parse_events,
    running,
    site_states,
    wait_for,
)

WANTED = {"NE-BCL-01": "connected", "NE-BCL-02": "degraded", "ML-BCL-01": "disconnected"}
EXPECTED = {**WANTED, "NE-NCB-01": "unknown"}
DASHBOARD = ROOT / "dashboards" / "fleet.json"
METRICS_TYPE = "text/plain; version=0.0.4; charset=utf-8"
ROW = re.compile(r'<tr data-site="([^"]+)" data-state="([^"]+)" data-row="site">')


def small_fleet(client: httpx.Client) -> None:
    """Two countries; a bureau without links (unknown), two Niger border posts with a primary
    satellite and a backup LTE link, and a Mali border post with one satellite link."""
    factories.country(client, code="NE", name="Niger")
    factories.country(client, code="ML", name="Mali")
    modem = factories.device_model(client, kind="satellite_modem", manufacturer="Hughes")["slug"]
    lte = factories.device_model(client, kind="lte_modem", manufacturer="Teltonika")["slug"]
    factories.site(
        client,
        code="NE-NCB-01",
        kind="national_bureau",
        name="Bureau <b>Niamey</b> & co",
        latitude=13.51,
        longitude=2.13,
    )
    for code, country, lat, lon, links in (
        ("NE-BCL-01", "NE", 12.84, 1.68, [("primary", modem), ("backup", lte)]),
        ("NE-BCL-02", "NE", 19.35, 5.78, [("primary", modem), ("backup", lte)]),
        ("ML-BCL-01", "ML", 11.96, -8.77, [("primary", modem)]),
    ):
        factories.site(client, code=code, country=country, latitude=lat, longitude=lon)
        for role, model in links:
            device = factories.device(client, site=code, model=model)
            factories.link(
                client,
                site=code,
                role=role,
                medium="satellite" if model == modem else "lte",
                terminating_device_id=device["id"],
            )


@dataclass
class Live:
    base: str
    client: httpx.Client
    settings: Settings
    db_url: str


@pytest.fixture
def live(settings: Settings, admin_token: str, db_url: str) -> Iterator[Live]:
    """The service on a real socket, with the scheduler probing every 0.3 s."""
    fast = settings.model_copy(
        update={
            "scheduler": True,
            "probe_interval_s": 0.3,
            "probe_jitter_s": 0.0,
            "reconcile_interval_s": 0.3,
            "probe_timeout_s": 5.0,  # a cut peer refuses at once; a slow answer is no failure
            "probe_retries": 0,
            "state_confirmations": 1,
            "stream_poll_interval_s": 0.2,
            "stream_heartbeat_s": 1.0,
            "cookie_secure": False,  # httpx sends Secure cookies over https only
        }
    )
    with (
        running(create_app(fast)) as base,
        httpx.Client(base_url=base, headers=auth(admin_token), timeout=15) as client,
    ):
        yield Live(base, client, fast, db_url)


def sign_in(base: str, secret: str) -> httpx.Client:
    """A browser-like client holding the board's cookie."""
    browser = httpx.Client(base_url=base, timeout=15, headers={"Accept": "text/html"})
    response = browser.post("/signin", data={"token": secret, "next": "/"})
    assert response.status_code == 303, response.text
    return browser


# --- GeoJSON and metrics checks ------------------------------------------------------


def check_geojson(collection: dict[str, Any], sites: list[dict[str, Any]]) -> None:
    """RFC 7946: a FeatureCollection of Features with Point geometries, positions
    [longitude, latitude] in range; and the same sites, places and states as the list."""
    assert collection["type"] == "FeatureCollection"
    assert isinstance(collection["features"], list)
    by_code = {s["code"]: s for s in sites}
    seen = set()
    for feature in collection["features"]:
        assert feature["type"] == "Feature"
        assert set(feature) >= {"type", "geometry", "properties"}
        geometry = feature["geometry"]
        assert geometry["type"] == "Point"
        lon, lat = geometry["coordinates"]
        assert len(geometry["coordinates"]) == 2
        assert all(isinstance(v, int | float) and not isinstance(v, bool) for v in (lon, lat))
        assert -180 <= lon <= 180
        assert -90 <= lat <= 90
        props = feature["properties"]
        assert all(not isinstance(v, dict | list) for v in props.values()), "flat properties"
        site = by_code[props["code"]]
        assert (lon, lat) == (pytest.approx(site["longitude"]), pytest.approx(site["latitude"]))
        assert props["state"] == site["state"]
        assert props["state_code"] == STATE_CODES[site["state"]]
        assert props["country"] == site["country"]
        assert props["kind"] == site["kind"]
        assert props["name"] == site["name"]
        link = site["link_in_use"]
        assert props["link_role"] == (link["role"] if link else None)
        assert props["link_medium"] == (link["medium"] if link else None)
        for state, count in site["devices"].items():
            assert props[f"devices_{state}"] == count
        seen.add(props["code"])
    assert seen == set(by_code)


def check_metrics(text: str, sites: list[dict[str, Any]]) -> dict[str, Any]:
    """Parses with prometheus-client (and promtool where installed); site series match."""
    families = {f.name: f for f in text_string_to_metric_families(text)}
    connectivity = {s.labels["site"]: s for s in families["fleet_site_connectivity"].samples}
    assert set(connectivity) == {s["code"] for s in sites}
    for site in sites:
        sample = connectivity[site["code"]]
        assert sample.value == STATE_CODES[site["state"]], site["code"]
        assert sample.labels == {
            "site": site["code"],
            "country": site["country"],
            "kind": site["kind"],
        }
    states = {
        (s.labels["site"], s.labels["state"]): s.value for s in families["fleet_site_state"].samples
    }
    for site in sites:
        assert states[(site["code"], site["state"])] == 1
        assert sum(v for (code, _), v in states.items() if code == site["code"]) == 1
    promtool = shutil.which("promtool")
    if promtool is None and os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail("promtool is not installed (CI=true: scripts/ensure-promtool installs it)")
    if promtool is not None:
        checked = subprocess.run(
            [promtool, "check", "metrics"], input=text, capture_output=True, text=True, check=False
        )
        assert checked.returncode == 0, checked.stdout + checked.stderr
    return families


# --- with states from real probes ----------------------------------------------------


def test_board_geojson_and_metrics_show_the_probed_states(live: Live) -> None:
    client = live.client
    small_fleet(client)
    arranged = arrange(client, WANTED)
    try:
        wait_for(lambda: site_states(client) == EXPECTED, what=f"sites to be {EXPECTED}")
        wait_for(lambda: links_known(client, WANTED), what="every link's device to report")
        sites = client.get("/api/v1/status/sites", params={"limit": 500}).json()["items"]
        viewer = client.post("/api/v1/tokens", json={"name": "wall", "role": "viewer"}).json()
        browser = sign_in(live.base, viewer["secret"])

        page = browser.get("/")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert "default-src 'none'" in page.headers["content-security-policy"]
        assert dict(ROW.findall(page.text)) == EXPECTED
        niger, mali = page.text.index('id="country-NE"'), page.text.index('id="country-ML"')
        assert mali < niger  # countries in code order, each with its own sites
        assert page.text.index('data-site="ML-BCL-01"') < niger < page.text.index("NE-BCL-02")
        assert "Bureau &lt;b&gt;Niamey&lt;/b&gt; &amp; co" in page.text
        assert "<b>Niamey</b>" not in page.text
        assert ">Degraded<" in page.text
        assert "on backup link" in page.text
        assert "backup LTE" in page.text  # the link in use at NE-BCL-02
        assert re.search(r'data-last-event-id="[1-9]\d*"', page.text)
        for params, shown in (
            ({"state": "degraded"}, {"NE-BCL-02"}),
            ({"country": "ML"}, {"ML-BCL-01"}),
            ({"kind": "national_bureau"}, {"NE-NCB-01"}),
            ({"country": "NE", "state": "connected"}, {"NE-BCL-01"}),
        ):
            filtered = browser.get("/", params=params)
            assert {code for code, _ in ROW.findall(filtered.text)} == shown, params

        site = browser.get("/sites/NE-BCL-02")
        assert site.status_code == 200
        status = client.get("/api/v1/sites/NE-BCL-02/status").json()
        for device in status["devices"]:
            assert f'data-object="device:{device["id"]}"' in site.text
        for link in status["links"]:
            assert link["circuit_id"] in site.text
        recent = site.text[
            site.text.index('id="results-title"') : site.text.index('id="changes-title"')
        ]
        assert 'data-status="refused"' in recent  # the primary modem's recent results
        gaps = site.text[site.text.index('data-section="gaps-work-orders"') :]
        assert "No open gap" in gaps  # not assessed yet
        assert "<table" not in gaps

        world_map = browser.get("/map")
        assert world_map.status_code == 200
        markers = re.findall(
            r'class="site-marker" href="/sites/([^"]+)" data-site="[^"]+" data-state="([^"]+)"',
            world_map.text,
        )
        assert dict(markers) == EXPECTED
        assert "Natural Earth" in world_map.text

        geojson = client.get("/api/v1/status/sites.geojson")
        assert geojson.status_code == 200
        assert geojson.headers["content-type"].startswith("application/geo+json")
        check_geojson(geojson.json(), sites)
        only_ne = client.get(
            "/api/v1/status/sites.geojson", params={"country": "NE", "state": "degraded,connected"}
        )
        assert {f["id"] for f in only_ne.json()["features"]} == {"NE-BCL-01", "NE-BCL-02"}

        metrics = httpx.get(f"{live.base}/metrics")
        assert metrics.status_code == 200
        assert metrics.headers["content-type"] == METRICS_TYPE
        families = check_metrics(metrics.text, sites)
        devices = {
            (s.labels["kind"], s.labels["state"]): s.value
            for s in families["fleet_devices"].samples
        }
        assert devices[("satellite_modem", "down")] == 2  # NE-BCL-02's and ML-BCL-01's primaries
        assert devices[("lte_modem", "up")] == 2
        results = {
            (s.labels["kind"], s.labels["status"]): s.value
            for s in families["fleet_probe_results"].samples
            if s.name == "fleet_probe_results_total"
        }
        assert results[("tcp", "ok")] > 0
        assert results[("tcp", "refused")] > 0
        assert any(
            s.name == "fleet_probe_duration_seconds_count" and s.labels["kind"] == "tcp" and s.value
            for s in families["fleet_probe_duration_seconds"].samples
        )
        assert any(
            s.value
            for s in families["fleet_scheduler_lateness_seconds"].samples
            if s.name.endswith("_count")
        )
        browser.close()
    finally:
        arranged.close()


def test_stream_replays_exactly_what_was_missed(live: Live) -> None:
    client = live.client
    small_fleet(client)
    arranged = arrange(client, {"NE-BCL-01": "connected", "ML-BCL-01": "connected"})
    limited = make_token(live.db_url, "ne-viewer", "viewer", ["NE"], rate_limit_per_minute=0)
    try:
        wait_for(
            lambda: site_states(client, state="connected").keys() == {"NE-BCL-01", "ML-BCL-01"},
            what="the two sites to be connected",
        )

        def all_events(after: int) -> list[dict[str, Any]]:
            items = client.get("/api/v1/status/events", params={"limit": 500, "sort": "id"}).json()[
                "items"
            ]
            return [e for e in items if e["id"] > after]

        async def scenario() -> None:
            headers = auth(client.headers["authorization"].split(" ", 1)[1])
            async with httpx.AsyncClient(base_url=live.base, timeout=15) as http:
                # 1. A client follows the stream while NE-BCL-01 is cut off.
                received: list[Any] = []
                async with http.stream("GET", "/api/v1/status/stream", headers=headers) as stream:
                    assert stream.status_code == 200
                    assert stream.headers["content-type"].startswith("text/event-stream")
                    assert "content-encoding" not in stream.headers
                    buffer = ""
                    arranged.cut("NE-BCL-01")
                    async for chunk in stream.aiter_text():
                        buffer += chunk
                        received = [e for e in parse_events(buffer) if e.event == "state"]
                        if any(
                            e.data["object_key"] == "NE-BCL-01"
                            and e.data["new_state"] == "disconnected"
                            for e in received
                        ):
                            break
                hello = next(e for e in parse_events(buffer) if e.event == "hello")
                assert [e.id for e in received] == [
                    e["id"] for e in all_events(hello.data["last_id"])
                ][: len(received)]
                site_event = next(
                    e
                    for e in received
                    if e.data["object_type"] == "site" and e.data["object_key"] == "NE-BCL-01"
                )
                assert site_event.data["site"]["code"] == "NE-BCL-01"
                assert site_event.data["site"]["state"] == "disconnected"
                last = received[-1].id
                assert last is not None

                # 2. While it is away: the Mali site is cut and the Niger one comes back.
                for peer in arranged.peers["NE-BCL-01"].values():
                    peer.restore()
                arranged.cut("ML-BCL-01")
                await asyncio.to_thread(
                    wait_for,
                    lambda: (
                        site_states(client)
                        == {**EXPECTED, "NE-BCL-01": "connected", "NE-BCL-02": "unknown"}
                    ),
                    15,
                    "NE-BCL-01 back and ML-BCL-01 cut off",
                )
                missed = all_events(last)
                assert {e["object_key"] for e in missed if e["object_type"] == "site"} == {
                    "NE-BCL-01",
                    "ML-BCL-01",
                }

                # 3. It comes back with Last-Event-ID: exactly what it missed, in order, once.
                again = await http.get(
                    "/api/v1/status/stream",
                    params={"timeout": 0},
                    headers={**headers, "Last-Event-ID": str(last)},
                )
                replayed = [e for e in parse_events(again.text) if e.event == "state"]
                assert [e.id for e in replayed] == [e["id"] for e in missed]
                for event, expected in zip(replayed, missed, strict=True):
                    assert {k: event.data[k] for k in expected} == {
                        **expected,
                        "at": event.data["at"],
                    }
                assert parse_events(again.text)[-1].event == "hello"

                # 4. A token limited to Niger is replayed Niger's events only; `after` works too.
                scoped = await http.get(
                    "/api/v1/status/stream",
                    params={"timeout": 0, "after": last},
                    headers=auth(limited),
                )
                assert [e.id for e in parse_events(scoped.text) if e.event == "state"] == [
                    e["id"] for e in missed if e["country"] == "NE"
                ]

                # 5. Too far behind (or an id from elsewhere): told to reload.
                far = await http.get(
                    "/api/v1/status/stream",
                    params={"timeout": 0},
                    headers={**headers, "Last-Event-ID": "999999"},
                )
                assert [e.event for e in parse_events(far.text)] == ["reset", "hello"]

        asyncio.run(scenario())
    finally:
        arranged.close()


# --- without probes ------------------------------------------------------------------


def test_sign_in_keeps_a_read_only_cookie(settings: Settings, db_url: str) -> None:
    viewer = make_token(db_url, "viewer", "viewer")
    with TestClient(create_app(settings), base_url="https://fleet.test") as client:
        client.headers["accept"] = "text/html"
        signed_in(client, db_url, viewer)


def signed_in(client: TestClient[Any], db_url: str, viewer: str) -> None:
    first = client.get("/?country=NE", follow_redirects=False)
    assert first.status_code == 303
    assert first.headers["location"] == "/signin?next=%2F%3Fcountry%3DNE"
    form = client.get("/signin", params={"next": "/?country=NE"})
    assert form.status_code == 200
    assert 'name="next" value="/?country=NE"' in form.text
    assert '<label for="token">' in form.text

    wrong = client.post(
        "/signin", data={"token": "fleet_nope", "next": "/"}, follow_redirects=False
    )
    assert wrong.status_code == 401
    assert "unknown, disabled or expired" in wrong.text
    assert SESSION_COOKIE not in wrong.cookies

    for target, expected in (
        ("/map", "/map"),
        ("//elsewhere.example/x", "/"),
        ("https://elsewhere.example/", "/"),
        ("/x\r\nSet-Cookie: a=b", "/"),
    ):
        ok = client.post("/signin", data={"token": viewer, "next": target}, follow_redirects=False)
        assert ok.status_code == 303
        assert ok.headers["location"] == expected
    cookie = ok.headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=")
    for flag in ("HttpOnly", "Secure", "SameSite=lax", "Path=/"):
        assert flag in cookie, flag
    assert client.get("/").status_code == 200
    assert client.get("/api/v1/status/sites").status_code == 200
    # The cookie reads, never writes: a POST with it alone is refused.
    refused = client.post(
        "/api/v1/countries", json={"code": "ML", "name": "Mali", "region": "Sahel"}
    )
    assert refused.status_code == 401
    assert refused.headers["content-type"].startswith("application/problem+json")
    audit = client.get("/api/v1/audit-events", headers=auth(make_token(db_url, "a", "admin")))
    assert any("sign-in" in str(e["detail"].get("reason")) for e in audit.json()["items"])

    out = client.post("/signout", follow_redirects=False)
    assert out.status_code == 303
    assert f'{SESSION_COOKIE}=""' in out.headers["set-cookie"]
    client.cookies.clear()
    assert client.get("/", follow_redirects=False).status_code == 303


def test_pages_scope_errors_and_escaping(client: TestClient[Any], db_url: str) -> None:
    factories.country(client, code="NE", name="Niger")
    factories.country(client, code="ML", name="Mali")
    factories.site(client, code="NE-X-1", country="NE", name="<script>alert(1)</script>")
    factories.site(client, code="ML-X-1", country="ML", latitude=12.6, longitude=-8.0)
    limited = make_token(db_url, "ne", "viewer", ["NE"])
    page = client.get("/", headers={**auth(limited), "Accept": "text/html"})
    assert page.status_code == 200
    assert dict(ROW.findall(page.text)) == {"NE-X-1": "unknown"}
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "<script>alert" not in page.text
    assert client.get("/sites/ML-X-1", headers=auth(limited)).status_code == 404
    assert dict(
        re.findall(
            r'data-site="([^"]+)" data-state="([^"]+)" data-row="marker"',
            client.get("/map", headers=auth(limited)).text,
        )
    ) == {"NE-X-1": "unknown"}

    missing = client.get("/sites/NOPE", headers={"Accept": "text/html"})
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("text/html")
    assert "Not found" in missing.text
    as_json = client.get("/sites/NOPE", headers={"Accept": "application/json"})
    assert as_json.status_code == 404
    assert as_json.json()["type"] == "urn:fleet:problem:not-found"
    bad = client.get("/", params={"kind": "sideways"}, headers={"Accept": "text/html"})
    assert bad.status_code == 422
    assert "sideways" in bad.text

    assert client.get("/static/board.css").status_code == 200
    assert client.get("/static/geo/countries.geojson").json()["type"] == "FeatureCollection"
    assert client.get("/static/nope.js").status_code == 404

    geo = client.get("/api/v1/status/sites.geojson", headers=auth(limited))
    assert [f["id"] for f in geo.json()["features"]] == ["NE-X-1"]
    for params, field in (
        ({"cursor": "x"}, "cursor"),
        ({"colour": "red"}, "colour"),
        ({"kind": "x"}, "kind"),
    ):
        refused = client.get("/api/v1/status/sites.geojson", params=params)
        assert refused.status_code == 422
        assert refused.json()["errors"][0]["field"] == field


def test_metrics_token_and_route_templates(settings: Settings, admin_token: str) -> None:
    guarded = settings.model_copy(update={"metrics_token": SecretStr("s3cret-scrape")})
    with TestClient(create_app(guarded)) as client:
        client.headers.update(auth(admin_token))
        factories.country(client)
        factories.site(client, code="NE-TPL-1")
        client.get("/api/v1/sites/NE-TPL-1")
        client.get("/api/v1/sites/NE-TPL-1/status")
        client.get("/api/v1/sites/does-not-exist")
        refused = client.get("/metrics", headers={"Authorization": "Bearer wrong"})
        assert refused.status_code == 401
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert client.get("/metrics", headers={"Authorization": ""}).status_code == 401
        scraped = client.get("/metrics", headers={"Authorization": "Bearer s3cret-scrape"})
        assert scraped.headers["content-type"] == METRICS_TYPE
        text = scraped.text
    families = {f.name: f for f in text_string_to_metric_families(text)}
    routes = {s.labels["route"] for s in families["fleet_http_requests"].samples}
    assert "/api/v1/sites/{key}" in routes
    assert "/api/v1/sites/{code}/status" in routes
    assert not any("NE-TPL-1" in r or "does-not-exist" in r for r in routes)
    statuses = {
        (s.labels["route"], s.labels["status"])
        for s in families["fleet_http_requests"].samples
        if s.name.endswith("_total")
    }
    assert ("/api/v1/sites/{key}", "404") in statuses
    assert ("/metrics", "401") in statuses
    assert families["fleet_http_request_duration_seconds"].type == "histogram"


def test_stream_errors_and_limits(settings: Settings, admin_token: str) -> None:
    one = settings.model_copy(update={"stream_max_clients": 1, "stream_heartbeat_s": 0.5})
    with (
        running(create_app(one)) as base,
        httpx.Client(base_url=base, headers=auth(admin_token), timeout=10) as client,
    ):
        for headers, params, field in (
            ({"Last-Event-ID": "abc"}, {}, "Last-Event-ID"),
            ({}, {"country": "Niger"}, "country"),
            ({}, {"timeout": "-1"}, "timeout"),
        ):
            refused = client.get("/api/v1/status/stream", headers=headers, params=params)
            assert refused.status_code == 422, (headers, params)
            assert refused.json()["errors"][0]["field"] == field
        assert httpx.get(f"{base}/api/v1/status/stream").status_code == 401
        with client.stream("GET", "/api/v1/status/stream", params={"timeout": 5}) as held:
            lines = held.iter_lines()
            assert next(lines) == "retry: 3000"
            full = client.get("/api/v1/status/stream", params={"timeout": 0})
            assert full.status_code == 503
            assert full.headers["retry-after"] == "10"
            assert full.json()["status"] == 503
            heartbeat = False
            for line in lines:  # a quiet stream beats
                if line == "event: heartbeat":
                    heartbeat = True
                    break
            assert heartbeat
        wait_for(
            lambda: client.get("/api/v1/status/stream", params={"timeout": 0}).status_code == 200,
            5,
            "the slot to free up",
        )


def dropped() -> float:
    return REGISTRY.get_sample_value("fleet_stream_clients_dropped_total") or 0.0


def test_slow_stream_clients_are_dropped(db_url: str) -> None:
    """A client that does not take its events is dropped when its buffer is full; one that
    keeps up gets every event; the poller reads each batch once for all of them."""

    async def scenario() -> None:
        db = Database(db_url)
        hub = StreamHub(db, interval_s=3600, buffer=4)
        try:
            slow, cursor = await hub.join(None, None)
            fast, _ = await hub.join(None, None)
            other, _ = await hub.join(frozenset({"ML"}), None)
            assert cursor == 0
            async with db.session(write=True) as session:
                session.add_all(
                    StateEvent(
                        object_type="device",
                        object_id=n,
                        object_key=f"D{n}",
                        site_id=1,
                        country_code="NE",
                        old_state="up",
                        new_state="down",
                        cause="test",
                    )
                    for n in range(10)
                )
                await session.commit()
            dropped_before = dropped()
            taken = []
            for _ in range(6):
                await hub.poll()
                while not fast.queue.empty():
                    taken.append(fast.queue.get_nowait().id)
            assert taken == list(range(1, 11))
            assert slow.dropped
            assert slow not in hub.clients
            assert slow.queue.qsize() <= 4
            assert dropped() == dropped_before + 1
            assert not fast.dropped
            assert other.queue.empty()  # another country's events
            assert not other.dropped
            assert hub.last_id == 10
            for client in (slow, fast, other):
                hub.leave(client)
            assert hub.connected == 0
        finally:
            await hub.close()
            await db.dispose()

    asyncio.run(scenario())


def test_grafana_dashboard_reads_these_metrics(client: TestClient[Any], tmp_path: Path) -> None:
    """Every query of dashboards/fleet.json names metrics /metrics has; the map panel places
    sites by the labels fleet_site_info carries; promtool (where installed) parses the
    queries."""
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    panels = dashboard["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    assert {"geomap", "stat"} <= {p["type"] for p in panels}
    factories.country(client)
    factories.site(client)
    families = {f.name: f for f in text_string_to_metric_families(client.get("/metrics").text)}
    queries = [t["expr"] for p in panels for t in p["targets"]]
    for query in queries:
        for name in re.findall(r"\bfleet_[a-z_]+", query):
            family = re.sub(r"_(total|bucket|count|sum|created)$", "", name)
            assert family in families, f"{name} in {query!r}"
    geomap = next(p for p in panels if p["type"] == "geomap")
    assert "fleet_site_info" in geomap["targets"][0]["expr"]
    location = geomap["options"]["layers"][0]["location"]
    info_labels = set(families["fleet_site_info"].samples[0].labels)
    assert {location["latitude"], location["longitude"]} <= info_labels
    assert geomap["options"]["basemap"]["type"] == "geojson"  # no tile server
    promtool = shutil.which("promtool")
    if promtool is not None:
        rules = tmp_path / "rules.yml"
        rules.write_text(
            json.dumps(
                {
                    "groups": [
                        {
                            "name": "dashboard",
                            "rules": [
                                {"record": f"fleet:dashboard:{n}", "expr": q}
                                for n, q in enumerate(queries)
                            ],
                        }
                    ]
                }
            )
        )
        checked = subprocess.run(
            [promtool, "check", "rules", str(rules)], capture_output=True, text=True, check=False
        )
        assert checked.returncode == 0, checked.stdout + checked.stderr
