"""The planner's workspace on SQLite and PostgreSQL, with the sample fleet assessed: who sees
it, country scope, the actions with the version the page showed (and a stale one), bulk
results per row, the journal with the planner as actor, the anti-forgery field, hostile form
input, an assessment started from the page, the rollups and the exports."""

from __future__ import annotations

import asyncio
import csv
import io
import re
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from litestar.testing import TestClient
from sqlmodel import col

from fleet.api.app import create_app
from fleet.database import Database
from fleet.inventory import configs, sync
from fleet.models import utcnow
from fleet.settings import Settings
from fleet.upgrades import profiles
from fleet.upgrades.models import WorkOrder
from tests.conftest import SAMPLE, make_token

CSRF = re.compile(r'name="csrf" value="([0-9a-f]{64})"')


async def _load_sample(url: str) -> None:
    db = Database(url)
    try:
        async with db.session(write=True) as session:
            plan = await sync.make_plan(session, configs.load(SAMPLE), prune=False)
            await sync.apply_plan(session, plan)
            wanted, _ = profiles.load(SAMPLE)
            await profiles.apply(session, wanted, await profiles.plan(session, wanted, prune=False))
            await session.commit()
    finally:
        await db.dispose()


@pytest.fixture
def assessed(client: TestClient[Any], db_url: str) -> TestClient[Any]:
    """The admin's API client, on the sample fleet after one assessment."""
    asyncio.run(_load_sample(db_url))
    assert client.post("/api/v1/assessments", json={}).json()["opened"] > 10
    return client


@pytest.fixture
def app_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"cookie_secure": False})


def _browser(settings: Settings, db_url: str, name: str, role: str, **kw: Any) -> TestClient[Any]:
    secret = make_token(db_url, name, role, rate_limit_per_minute=0, **kw)
    client = TestClient(create_app(settings))
    client.__enter__()
    client.headers["accept"] = "text/html"
    signed = client.post("/signin", data={"token": secret, "next": "/"})
    assert signed.status_code == 200, signed.text  # followed to the board
    return client


@pytest.fixture
def planner(app_settings: Settings, db_url: str, assessed: TestClient[Any]) -> Iterator[Any]:
    client = _browser(app_settings, db_url, "planner-ann", "planner")
    yield client
    client.__exit__(None, None, None)


def _csrf(client: TestClient[Any], url: str = "/plan/work-orders") -> str:
    found = CSRF.search(client.get(url).text)
    assert found, "no anti-forgery field on the page"
    return found.group(1)


def _orders(api: TestClient[Any], **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = api.get(
        "/api/v1/work-orders", params={"limit": 500, **params}
    ).json()["items"]
    return items


def _journal(api: TestClient[Any], order_id: int) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = api.get(f"/api/v1/work-orders/{order_id}/journal").json()[
        "items"
    ]
    return entries


def test_planners_see_the_workspace_and_viewers_are_refused(
    app_settings: Settings, db_url: str, planner: TestClient[Any]
) -> None:
    for url in ("/plan", "/plan/gaps", "/plan/work-orders", "/plan/work-orders?view=list"):
        page = planner.get(url)
        assert page.status_code == 200, (url, page.text[:300])
        assert '<a href="/plan" aria-current="page">Plan</a>' in page.text
    assert 'href="/plan">Plan</a>' in planner.get("/").text  # the board links to it
    rollups = planner.get("/plan/rollups")
    assert rollups.status_code == 200
    for part in ("<svg", "<title", "<desc"):
        assert part in rollups.text

    viewer = _browser(app_settings, db_url, "wall", "viewer")
    try:
        assert 'href="/plan"' not in viewer.get("/").text
        for url in ("/plan", "/plan/gaps", "/plan/work-orders", "/plan/rollups", "/plan/gaps.csv"):
            refused = viewer.get(url)
            assert refused.status_code == 403, url
            assert "may not do plan:read" in refused.text
        engineer = _browser(app_settings, db_url, "eng", "field_engineer")
        assert engineer.get("/plan/work-orders").status_code == 403
        engineer.__exit__(None, None, None)
    finally:
        viewer.__exit__(None, None, None)


def test_country_scoped_planners_see_and_change_only_their_countries(
    app_settings: Settings, db_url: str, assessed: TestClient[Any]
) -> None:
    ne = _browser(app_settings, db_url, "planner-ne", "planner", countries=["NE"])
    try:
        gaps = ne.get("/plan/gaps").text
        orders = ne.get("/plan/work-orders?view=list").text
        sites = set(re.findall(r'<a href="/sites/([A-Z]{2})-', gaps + orders))
        assert sites == {"NE"}
        outside = next(o for o in _orders(assessed) if o["country"] != "NE")
        answer = ne.post(
            f"/plan/work-orders/{outside['id']}",
            data={
                "csrf": _csrf(ne),
                "action": "approve",
                "version": str(outside["version"]),
            },
        )
        assert answer.status_code == 422
        assert f"no work order {outside['id']}" in answer.text
        assert assessed.get(f"/api/v1/work-orders/{outside['id']}").json()["state"] == "proposed"
        rollup = ne.get("/plan/rollups.csv").text
        assert {
            r["key"] for r in csv.DictReader(io.StringIO(rollup)) if r["group"] == "country"
        } == {"NE"}
    finally:
        ne.__exit__(None, None, None)


def test_an_action_applies_and_a_stale_one_shows_the_conflict(
    planner: TestClient[Any], assessed: TestClient[Any]
) -> None:
    first, second = _orders(assessed, state="proposed")[:2]
    token = _csrf(planner)
    done = planner.post(
        f"/plan/work-orders/{first['id']}",
        data={
            "csrf": token,
            "action": "approve",
            "version": str(first["version"]),
            "back": "/plan/work-orders?view=list",
        },
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert done.headers["location"] == (
        f"/plan/work-orders?view=list&done=approve&order={first['id']}"
    )
    assert f"Work order #{first['id']} approved." in planner.get(done.headers["location"]).text
    now = assessed.get(f"/api/v1/work-orders/{first['id']}").json()
    assert (now["state"], now["version"]) == ("approved", first["version"] + 1)
    last = _journal(assessed, first["id"])[-1]
    assert (last["actor"], last["from_state"], last["to_state"]) == (
        "planner-ann",
        "proposed",
        "approved",
    )

    # Another planner assigns the second order through the API while this page is open.
    changed = assessed.patch(
        f"/api/v1/work-orders/{second['id']}",
        json={"assignee": "someone-else"},
        headers={"If-Match": f'"{second["version"]}"'},
    )
    assert changed.status_code == 200
    stale = planner.post(
        f"/plan/work-orders/{second['id']}",
        data={
            "csrf": token,
            "action": "assign",
            "assignee": "me",
            "version": str(second["version"]),
        },
    )
    assert stale.status_code == 409
    assert "Conflict: not applied." in stale.text
    assert "Someone changed this work order after your page showed it" in stale.text
    row = stale.text[stale.text.index(f'data-outcome="{second["id"]}"') :]
    assert '<span data-field="assignee">someone-else</span>' in row
    assert f'<span data-field="version">{second["version"] + 1}</span>' in row
    assert assessed.get(f"/api/v1/work-orders/{second['id']}").json()["assignee"] == "someone-else"

    scheduled = planner.post(
        f"/plan/work-orders/{first['id']}",
        data={
            "csrf": token,
            "action": "schedule",
            "due_on": "2027-03-31",
            "version": str(now["version"]),
        },
        follow_redirects=False,
    )
    assert scheduled.status_code == 303
    now = assessed.get(f"/api/v1/work-orders/{first['id']}").json()
    assert (now["state"], now["due_on"]) == ("scheduled", "2027-03-31")
    assert [e["actor"] for e in _journal(assessed, first["id"])[-2:]] == ["planner-ann"] * 2


def test_bulk_approve_and_assign_report_each_row(
    planner: TestClient[Any], assessed: TestClient[Any]
) -> None:
    a, b, c = _orders(assessed, state="proposed")[:3]
    assessed.patch(
        f"/api/v1/work-orders/{b['id']}",
        json={"programme": "elsewhere"},
        headers={"If-Match": f'"{b["version"]}"'},
    )
    token = _csrf(planner, "/plan/work-orders?view=list")
    answer = planner.post(
        "/plan/work-orders/bulk",
        data={
            "csrf": token,
            "action": "approve",
            "order": [
                f"{a['id']}:{a['version']}",
                f"{b['id']}:{b['version']}",
                f"{c['id']}:{c['version']}",
                "999999:1",
                "x:y",
            ],
        },
    )
    assert answer.status_code == 200
    results = dict(re.findall(r'data-outcome="([^"]+)" data-result="(\w+)"', answer.text))
    assert results == {
        str(a["id"]): "applied",
        str(b["id"]): "conflict",
        str(c["id"]): "applied",
        "999999": "refused",
        "x": "refused",
    }
    assert "no work order 999999" in answer.text
    assert '<strong data-count="applied">2</strong>' in answer.text
    states = {o["id"]: o["state"] for o in _orders(assessed)}
    assert (states[a["id"]], states[b["id"]], states[c["id"]]) == (
        "approved",
        "proposed",
        "approved",
    )

    again = planner.post(
        "/plan/work-orders/bulk",
        data={
            "csrf": token,
            "action": "assign",
            "assignee": "crew-7",
            "order": [f"{a['id']}:{a['version'] + 1}", f"{c['id']}:{c['version']}"],
        },
    )
    results = dict(re.findall(r'data-outcome="([^"]+)" data-result="(\w+)"', again.text))
    assert results == {str(a["id"]): "applied", str(c["id"]): "conflict"}
    assert assessed.get(f"/api/v1/work-orders/{a['id']}").json()["assignee"] == "crew-7"
    last = _journal(assessed, a["id"])[-1]
    assert (last["actor"], last["note"]) == ("planner-ann", "planned: assignee=crew-7")


def test_forms_need_the_pages_field_and_hostile_input_is_refused(
    planner: TestClient[Any], assessed: TestClient[Any]
) -> None:
    order = _orders(assessed, state="proposed")[0]
    url = f"/plan/work-orders/{order['id']}"
    base = {"action": "approve", "version": str(order["version"])}
    assert planner.post(url, data=base).status_code == 403  # no anti-forgery field
    assert planner.post(url, data={**base, "csrf": "0" * 64}).status_code == 403
    token = _csrf(planner)
    foreign = planner.post(
        url, data={**base, "csrf": token}, headers={"Origin": "https://evil.example"}
    )
    assert foreign.status_code == 403
    assert "another site" in foreign.text
    cross = planner.post(
        url, data={**base, "csrf": token}, headers={"Sec-Fetch-Site": "cross-site"}
    )
    assert cross.status_code == 403
    for path in ("/plan/work-orders/bulk", "/plan/assessments"):
        assert planner.post(path, data={"order": f"{order['id']}:1"}).status_code == 403
    # The cookie still writes nothing through the API.
    assert planner.post("/api/v1/assessments", json={}).status_code == 401

    hostile: list[tuple[dict[str, Any], str, int]] = [
        ({"action": "schedule", "due_on": "31/03/2027"}, "the due date must be a date", 422),
        ({"action": "schedule", "due_on": "2027-02-30"}, "the due date must be a date", 422),
        ({"action": "assign", "assignee": "x" * 81}, "assignee", 422),
        ({"action": "assign", "assignee": "x" * 3000}, "longer than 200 characters", 422),
        ({"action": "assign", "assignee": "x" * 50_000}, "longer than 4000 characters", 422),
        ({"action": "assign", "assignee": ""}, "name who the work is assigned to", 422),
        ({"action": "explode"}, "unknown action", 422),
        ({"action": "approve", "version": "\uff11"}, "version must be a whole number", 422),
        ({"action": "approve", "version": "9" * 30}, "longer than 20 characters", 422),
        ({"action": "approve", "note": "n" * 2001}, "longer than 2000", 422),
        ({"action": "approve", "note": "a\x00b"}, "NUL", 422),
    ]
    for fields, message, status in hostile:
        answer = planner.post(url, data={**base, "csrf": token, **fields})
        assert answer.status_code == status, (fields, answer.status_code, answer.text[:300])
        assert message in answer.text, (fields, answer.text[:600])
    for bad in ("0", "99999999999999999999", "abc", "-1"):
        answer = planner.post(f"/plan/work-orders/{bad}", data={**base, "csrf": token})
        assert answer.status_code == 422, bad
        assert "<html" in answer.text
    too_many = planner.post(
        "/plan/work-orders/bulk",
        data={"csrf": token, "action": "approve", "order": [f"{i}:1" for i in range(1, 230)]},
    )
    assert too_many.status_code in (400, 422)
    assert "<html" in too_many.text
    assert planner.post(
        "/plan/work-orders/bulk", data={"csrf": token, "action": "cancel", "order": "1:1"}
    ).status_code in (400, 422)
    for query in ("sort=nonsense", "site=" + "s" * 300, "days=0"):
        page = "/plan/rollups" if query.startswith("days") else "/plan/work-orders?view=list"
        answer = planner.get(f"{page}{'&' if '?' in page else '?'}{query}")
        assert answer.status_code in (400, 422), query
    assert assessed.get(f"/api/v1/work-orders/{order['id']}").json() == {
        **order,
        "gap": assessed.get(f"/api/v1/work-orders/{order['id']}").json()["gap"],
    }


def test_an_assessment_started_from_the_page_shows_its_progress(
    planner: TestClient[Any], assessed: TestClient[Any]
) -> None:
    token = _csrf(planner, "/plan/gaps")
    started = planner.post(
        "/plan/assessments", data={"csrf": token, "country": "NE"}, follow_redirects=False
    )
    assert started.status_code == 303
    job_url = started.headers["location"]
    assert re.fullmatch(r"/plan/assessments/\d+", job_url)
    deadline = time.monotonic() + 30
    page = planner.get(job_url)
    while 'data-running="yes"' in page.text and time.monotonic() < deadline:
        assert '<meta http-equiv="refresh" content="1">' in page.text
        time.sleep(0.1)
        page = planner.get(job_url)
    assert 'data-field="finished"' in page.text, page.text
    sites = int(re.search(r'data-summary="sites">(\d+)<', page.text).group(1))  # type: ignore[union-attr]
    assert sites == len(
        assessed.get("/api/v1/sites", params={"country": "NE", "limit": 500}).json()["items"]
    )
    unknown = planner.post("/plan/assessments", data={"csrf": token, "site": "NO-SUCH-SITE"})
    while 'data-running="yes"' in unknown.text and time.monotonic() < deadline:
        time.sleep(0.1)
        unknown = planner.get(str(unknown.url))
    assert "The assessment did not finish: no site NO-SUCH-SITE" in unknown.text
    assert planner.get("/plan/assessments/999").status_code == 404


def test_rollups_match_the_plan_and_export(
    planner: TestClient[Any], assessed: TestClient[Any]
) -> None:
    plan = assessed.get("/api/v1/plans").json()
    page = planner.get("/plan/rollups").text
    for row in plan["by_country"]:
        shown = re.search(
            rf'<text class="bar-number"[^>]*data-number="{row["key"]}">([^<]+)</text>', page
        )
        assert shown is not None, row
        assert shown.group(1) == f"{row['estimated_cost']:,.2f}"
    assert f'<strong data-total="count">{plan["total"]["count"]}</strong>' in page
    gaps_csv = planner.get("/plan/gaps.csv?country=NE")
    assert gaps_csv.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(gaps_csv.text)))
    assert rows
    assert {r["country"] for r in rows} == {"NE"}
    assert {"required", "actual", "rule_id", "site"} <= set(rows[0])
    orders_csv = list(csv.DictReader(io.StringIO(planner.get("/plan/work-orders.csv").text)))
    assert len(orders_csv) == len(_orders(assessed))
    rule = rows[0]["rule_id"]
    gaps_page = planner.get(f"/plan/gaps?country=NE&rule={rule}").text
    shown = set(re.findall(r'data-gap="(\d+)"', gaps_page))
    assert shown == {r["id"] for r in rows if r["rule_id"] == rule}


async def _verify(url: str, order_id: int) -> None:
    """Mark an order verified (as the assessment does once the probes show its gap closed)."""
    db = Database(url)
    try:
        async with db.session(write=True) as session:
            await session.execute(
                sa.update(WorkOrder)
                .where(col(WorkOrder.id) == order_id)
                .values(
                    state="verified",
                    started_at=utcnow() - timedelta(days=3),
                    verified_at=utcnow() - timedelta(days=1),
                )
            )
            await session.commit()
    finally:
        await db.dispose()


def test_the_impact_chart_shows_the_evaluation(
    planner: TestClient[Any], assessed: TestClient[Any], db_url: str
) -> None:
    order = _orders(assessed)[0]
    asyncio.run(_verify(db_url, order["id"]))
    items = assessed.get("/api/v1/evaluation", params={"days": 7}).json()["items"]
    assert [i["work_order"] for i in items] == [order["id"]]
    page = planner.get("/plan/rollups?days=7").text
    chart = page[
        page.index('data-chart="impact"') : page.index("</svg>", page.index('data-chart="impact"'))
    ]
    numbers = re.findall(r'data-number="([^"]+)">([^<]+)<', chart)
    label = f"#{order['id']} {order['site']}"

    def text(value: float | None) -> str:
        return "no data" if value is None else f"{value:.1%}"

    assert numbers == [
        (label, text(items[0]["availability_before"])),
        (label, text(items[0]["availability_after"])),
    ]
    assert "the 7 days before the work started" in chart
