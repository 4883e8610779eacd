"""The needs assessment on the shipped sample fleet, work orders and their rules, plans."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from litestar.testing import TestClient
from sqlalchemy.exc import IntegrityError

from fleet.database import Database
from fleet.inventory import configs, sync
from fleet.inventory.configs import ConfigError
from fleet.models import utcnow
from fleet.upgrades import profiles
from fleet.upgrades.models import Gap, WorkOrder
from fleet.upgrades.rules import version_key
from fleet.upgrades.workorders import priority
from tests.conftest import SAMPLE, auth, make_token


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
def sample(client: TestClient[Any], db_url: str) -> TestClient[Any]:
    asyncio.run(_load_sample(db_url))
    return client


def test_sample_assessment_is_realistic_and_idempotent(sample: TestClient[Any]) -> None:
    first = sample.post("/api/v1/assessments", json={}).json()
    assert first["opened"] > 10
    assert len(first["by_rule_type"]) >= 4
    assert first["work_orders_created"] == first["opened"]
    gaps = sample.get("/api/v1/gaps", params={"status": "open", "limit": 500}).json()["items"]
    orders = sample.get("/api/v1/work-orders", params={"limit": 500}).json()["items"]
    assert len(gaps) == len(orders) == first["opened"]
    assert sorted(o["gap_id"] for o in orders) == sorted(g["id"] for g in gaps)
    assert all(o["state"] == "proposed" and o["estimated_cost"] > 0 for o in orders)
    assert [o["priority"] for o in orders] == sorted((o["priority"] for o in orders), reverse=True)
    second = sample.post("/api/v1/assessments", json={}).json()
    assert (second["opened"], second["work_orders_created"], second["resolved"]) == (0, 0, 0)
    assert second["still_open"] == first["opened"]
    assert len(sample.get("/api/v1/work-orders", params={"limit": 500}).json()["items"]) == len(
        orders
    )


def test_the_site_page_lists_open_gaps_and_work_orders(sample: TestClient[Any]) -> None:
    sample.post("/api/v1/assessments", json={"site": "NE-BCS-01"})
    page = sample.get("/sites/NE-BCS-01")
    assert page.status_code == 200
    section = page.text[page.text.index('data-section="gaps-work-orders"') :]
    assert "document-reader" in section
    assert "Install a document reader at " in section
    assert "proposed" in section


def test_a_gap_that_closes_is_resolved(sample: TestClient[Any]) -> None:
    """An open gap was last seen at its site's latest assessment; a resolved one at the
    assessment before the one that found it closed."""

    def the_gap() -> dict[str, Any]:
        items = sample.get(
            "/api/v1/gaps", params={"site": "NE-BCS-01", "rule": "document-reader"}
        ).json()["items"]
        assert len(items) == 1
        return dict(items[0])

    sample.post("/api/v1/assessments", json={"site": "NE-BCS-01"})
    gap = the_gap()
    assert gap["resolved_at"] is None
    assert gap["last_seen"] == gap["first_seen"]
    other = sample.post("/api/v1/assessments", json={"site": "NE-BCL-02"})  # another site's
    assert other.status_code == 200, other.text
    assert the_gap()["last_seen"] == gap["first_seen"]
    sample.post("/api/v1/assessments", json={"site": "NE-BCS-01"})
    seen_again = the_gap()
    assert seen_again["last_seen"] > gap["first_seen"]
    assert seen_again["first_seen"] == gap["first_seen"]
    model = sample.get("/api/v1/device-models", params={"kind": "document_reader"}).json()["items"][
        0
    ]
    made = sample.post(
        "/api/v1/devices",
        json={
            "serial": "DR-NEW-1",
            "site": "NE-BCS-01",
            "model": model["slug"],
            "lifecycle": "active",
        },
    )
    assert made.status_code == 201
    result = sample.post("/api/v1/assessments", json={"site": "NE-BCS-01"}).json()
    assert result["resolved"] == 1
    resolved = the_gap()
    assert resolved["resolved_at"] > seen_again["last_seen"]
    assert resolved["last_seen"] == seen_again["last_seen"]
    sample.post("/api/v1/assessments", json={"site": "NE-BCS-01"})
    assert the_gap() == resolved  # a resolved gap stays as it was


def test_the_database_refuses_a_second_open_gap_or_order(
    sample: TestClient[Any], db_url: str
) -> None:
    sample.post("/api/v1/assessments", json={"site": "NE-BCS-01"})

    async def duplicate(kind: str) -> None:
        db = Database(db_url)
        try:
            async with db.session(write=True) as session:
                gap = await session.scalar(sa.select(Gap).where(Gap.resolved_at.is_(None)).limit(1))  # type: ignore[union-attr]
                assert gap is not None
                if kind == "gap":
                    session.add(Gap(**{**gap.model_dump(exclude={"id"})}))
                else:
                    session.add(
                        WorkOrder(
                            gap_id=gap.id,
                            site_id=gap.site_id,
                            kind="install",
                            state="proposed",
                            title="twice",
                        )
                    )
                await session.commit()
        finally:
            await db.dispose()

    for kind in ("gap", "order"):
        with pytest.raises(IntegrityError):
            asyncio.run(duplicate(kind))


def test_illegal_transitions_change_nothing(sample: TestClient[Any], db_url: str) -> None:
    sample.post("/api/v1/assessments", json={"site": "NE-BCS-01"})
    order = sample.get("/api/v1/work-orders", params={"site": "NE-BCS-01"}).json()["items"][0]
    url = f"/api/v1/work-orders/{order['id']}"
    before = sample.get(url).json()
    bad = sample.post(f"{url}/transitions", json={"to": "completed"}, headers={"If-Match": '"1"'})
    assert bad.status_code == 422
    assert "legal moves: approved, rejected, cancelled" in bad.json()["detail"]
    unknown = sample.post(f"{url}/transitions", json={"to": "done"}, headers={"If-Match": '"1"'})
    assert unknown.status_code == 422
    stale = sample.post(f"{url}/transitions", json={"to": "approved"}, headers={"If-Match": '"7"'})
    assert stale.status_code == 412
    assert sample.post(f"{url}/transitions", json={"to": "approved"}).status_code == 428
    engineer = make_token(db_url, "eng-x", "field_engineer", ["NE"])
    refused = sample.post(
        f"{url}/transitions", json={"to": "approved"}, headers={"If-Match": '"1"', **auth(engineer)}
    )
    assert refused.status_code == 403
    assert sample.get(url).json() == before
    assert [e["to_state"] for e in sample.get(f"{url}/journal").json()["items"]] == ["proposed"]
    assert (
        sample.post(
            f"{url}/transitions",
            json={"to": "rejected", "note": "not this year"},
            headers={"If-Match": '"1"'},
        ).status_code
        == 200
    )
    final = sample.post(f"{url}/transitions", json={"to": "approved"}, headers={"If-Match": '"2"'})
    assert final.status_code == 422
    assert "legal moves: none" in final.json()["detail"]


def test_a_null_cost_is_refused_and_changes_nothing(sample: TestClient[Any]) -> None:
    sample.post("/api/v1/assessments", json={"site": "NE-BCS-01"})
    order = sample.get("/api/v1/work-orders", params={"site": "NE-BCS-01"}).json()["items"][0]
    url = f"/api/v1/work-orders/{order['id']}"
    before = sample.get(url).json()
    etag = {"If-Match": f'"{before["version"]}"'}
    null = sample.patch(url, json={"estimated_cost": None, "assignee": "eng-1"}, headers=etag)
    assert null.status_code == 422, null.text
    assert null.json()["errors"][0]["field"] == "estimated_cost"
    assert sample.get(url).json() == before
    cleared = sample.patch(url, json={"assignee": None, "estimated_cost": 120.0}, headers=etag)
    assert cleared.status_code == 200, cleared.text
    assert (cleared.json()["assignee"], cleared.json()["estimated_cost"]) == (None, 120.0)


def test_plans_and_csv(sample: TestClient[Any]) -> None:
    sample.post("/api/v1/assessments", json={})
    plan = sample.get("/api/v1/plans", params={"top": 5}).json()
    orders = sample.get("/api/v1/work-orders", params={"limit": 500}).json()["items"]
    assert plan["total"]["count"] == len(orders)
    assert plan["total"]["estimated_cost"] == pytest.approx(
        sum(o["estimated_cost"] for o in orders)
    )
    assert {r["key"] for r in plan["by_country"]} == {o["country"] for o in orders}
    assert [o["priority"] for o in plan["next"]] == [o["priority"] for o in orders[:5]]
    as_csv = sample.get("/api/v1/work-orders", headers={"Accept": "text/csv"})
    assert as_csv.headers["content-type"].startswith("text/csv")
    lines = as_csv.text.strip().splitlines()
    assert lines[0].startswith("id,site,country,gap_id,kind,state,title")
    assert len(lines) == len(orders) + 1
    gaps_csv = sample.get("/api/v1/gaps", params={"status": "open"}, headers={"Accept": "text/csv"})
    assert len(gaps_csv.text.strip().splitlines()) == len(orders) + 1


def _profiles_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "configs"
    shutil.copytree(SAMPLE, folder)
    return folder


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        (
            lambda t: t.replace("type: min_links", "type: min_bandwidth"),
            "does not match any of the expected tags",
        ),
        (lambda t: t.replace("kind: camera", "kind: drone"), "rules.0.kind"),
        (
            lambda t: t.replace(
                "count: 2\n    severity: high", "count: two\n    severity: high", 1
            ),
            "rules.0.count",
        ),
        (lambda t: t + "colour: red\n", "unknown key 'colour'"),
    ],
)
def test_broken_profiles_name_file_and_line(tmp_path: Path, edit: Any, reason: str) -> None:
    folder = _profiles_folder(tmp_path)
    path = folder / "profiles" / "land-border.yaml"
    path.write_text(edit(path.read_text()))
    with pytest.raises(ConfigError) as caught:
        profiles.load(folder)
    problem = caught.value.problems[0]
    assert problem.file == "configs/profiles/land-border.yaml"
    assert reason in problem.reason
    assert problem.line > 1 or "colour" in reason


def test_version_comparison_and_priority() -> None:
    assert version_key("10.12.220") > version_key("10.9.4")
    assert version_key("15.4(3)M10") > version_key("15.4(3)M9")
    assert version_key("7.2.10") > version_key("7.2.9")
    assert version_key("6.8.0.40") > version_key("6.7.0.21")
    assert priority(5, "critical", 0, None) == 20.0
    assert priority(3, "medium", 90, None) == 12.0  # weight doubles after 90 days
    assert priority(3, "medium", 1000, None) == priority(3, "medium", 180, None) == 18.0
    assert priority(1, "low", 0, None, "end_of_support") == 6.0
    assert priority(5, "high", 0, None) > priority(4, "high", 0, None)


def test_assessment_marks_age(sample: TestClient[Any], db_url: str) -> None:
    sample.post("/api/v1/assessments", json={"site": "NE-BCS-01"})

    async def age() -> None:
        db = Database(db_url)
        try:
            async with db.session(write=True) as session:
                await session.execute(
                    sa.update(Gap).values(first_seen=utcnow().replace(year=utcnow().year - 1))
                )
                await session.commit()
        finally:
            await db.dispose()

    before = {o["id"]: o["priority"] for o in sample.get("/api/v1/work-orders").json()["items"]}
    asyncio.run(age())
    sample.post("/api/v1/assessments", json={"site": "NE-BCS-01"})
    after = {o["id"]: o["priority"] for o in sample.get("/api/v1/work-orders").json()["items"]}
    assert all(after[i] > before[i] for i in before)


def test_evaluation_compares_availability_before_and_after(
    sample: TestClient[Any], db_url: str
) -> None:
    """A verified order at a site that was disconnected half the time before the work and
    connected all the time after it."""
    from datetime import timedelta

    from fleet.probes.models import StateEvent

    sample.post("/api/v1/assessments", json={"site": "NE-BCS-01"})
    order = sample.get("/api/v1/work-orders", params={"site": "NE-BCS-01"}).json()["items"][0]
    now = utcnow()
    started, verified = now - timedelta(days=12), now - timedelta(days=10)

    async def history() -> None:
        db = Database(db_url)
        try:
            async with db.session(write=True) as session:
                site_id = await session.scalar(
                    sa.text("SELECT id FROM site WHERE code = 'NE-BCS-01'")
                )
                for at, state in (
                    (started - timedelta(days=12), "connected"),
                    (started - timedelta(days=6), "disconnected"),
                    (started - timedelta(days=3), "connected"),
                    (started - timedelta(days=2), "disconnected"),
                    (started - timedelta(days=1), "connected"),
                ):
                    session.add(
                        StateEvent(
                            at=at,
                            object_type="site",
                            object_id=site_id,
                            object_key="NE-BCS-01",
                            site_id=site_id,
                            country_code="NE",
                            old_state="x",
                            new_state=state,
                            cause="test",
                        )
                    )
                await session.execute(
                    sa.update(WorkOrder)
                    .where(WorkOrder.id == order["id"])  # type: ignore[arg-type]
                    .values(state="verified", started_at=started, verified_at=verified)
                )
                await session.commit()
        finally:
            await db.dispose()

    asyncio.run(history())
    report = sample.get("/api/v1/evaluation", params={"days": 8}).json()
    item = next(i for i in report["items"] if i["work_order"] == order["id"])
    # Before: 8 days, of which 3 + 1 disconnected (6..3 and 2..1 days before the start).
    assert item["availability_before"] == pytest.approx(4 / 8, abs=1e-3)
    assert item["availability_after"] == pytest.approx(1.0)
    # The CLI reports the same.
    from click.testing import CliRunner

    from fleet.cli import main

    shown = CliRunner().invoke(main, ["--database-url", db_url, "evaluate", "--days", "8"])
    assert shown.exit_code == 0, shown.output
    row = next(line for line in shown.output.splitlines() if line.split()[0] == str(order["id"]))
    assert " 50.0% " in row
    assert "100.0%" in row


FLEET_SIZED = ("device", "link", "gap", "work_order", "state_event", "object_status")


@pytest.mark.parametrize(
    ("few", "checked"),
    [
        pytest.param(None, FLEET_SIZED, id="one-site"),
        # the ids of many sites (a country's) go as json_each; active links are then found
        # through their lifecycle (every link: a few thousand rows), gaps and orders by site
        pytest.param(0, ("gap", "work_order"), id="many-sites-ids"),
    ],
)
def test_site_assessment_reads_by_site_on_sqlite(
    tmp_path: Path,
    sqlite_template: Path,
    monkeypatch: pytest.MonkeyPatch,
    few: int | None,
    checked: tuple[str, ...],
) -> None:
    """The assessment of a site (run after every change to it) reads the fleet-sized tables
    only through the site (or a row's key), in SQLite's plans as shipped, without statistics:
    it once read the whole fleet's proposed work orders, open gaps and active links."""
    import re

    from sqlalchemy import event

    from fleet import bulk
    from fleet.upgrades import assess

    if few is not None:
        monkeypatch.setattr(bulk, "FEW", few)
    path = tmp_path / "plans.db"
    shutil.copy(sqlite_template, path)
    url = f"sqlite+aiosqlite:///{path}"
    asyncio.run(_load_sample(url))
    _, prices = profiles.load(SAMPLE)
    touching = re.compile(rf"\b(SCAN|SEARCH) ({'|'.join(checked)})\b")

    async def plans() -> list[str]:
        db = Database(url)
        try:
            async with db.session(write=True) as session:
                await assess.run(session, prices)  # gaps and work orders to read
                await session.commit()
            selects: list[tuple[str, Any]] = []

            def record(
                _c: Any, _cur: Any, statement: str, params: Any, _x: Any, many: bool
            ) -> None:
                if statement.lstrip().upper().startswith("SELECT") and not many:
                    selects.append((statement, params))

            event.listen(db.engine.sync_engine, "before_cursor_execute", record)
            try:
                async with db.session(write=True) as session:
                    await assess.run(session, prices, site="NE-BCS-01")
                    await session.rollback()
            finally:
                event.remove(db.engine.sync_engine, "before_cursor_execute", record)
            lines = []
            async with db.engine.connect() as connection:
                for statement, params in selects:
                    rows = await connection.exec_driver_sql(
                        f"EXPLAIN QUERY PLAN {statement}", params
                    )
                    lines += [str(row[-1]) for row in rows]
            return lines
        finally:
            await db.dispose()

    lines = [line for line in asyncio.run(plans()) if touching.search(line)]
    assert {m.group(2) for line in lines if (m := touching.search(line))} >= {
        "device",
        "link",
        "gap",
        "work_order",
    } & set(checked)
    by_key = ("site_id=?", "object_id=?", "rowid=?")
    assert [line for line in lines if not any(key in line for key in by_key)] == []


def test_work_orders_sort_by_due_date(sample: TestClient[Any]) -> None:
    sample.post("/api/v1/assessments", json={})
    orders = sample.get("/api/v1/work-orders", params={"sort": "id", "limit": 3}).json()["items"]
    ids = [o["id"] for o in orders]
    due = ["2027-03-01", "2027-02-01", "2027-01-01"]  # the later the id, the sooner due
    for order_id, due_on in zip(ids, due, strict=True):
        response = sample.patch(
            f"/api/v1/work-orders/{order_id}", json={"due_on": due_on}, headers={"If-Match": '"1"'}
        )
        assert response.status_code == 200, response.text
    listed = sample.get("/api/v1/work-orders", params={"sort": "due_on", "limit": 500}).json()
    planned = [o for o in listed["items"] if o["id"] in ids]
    assert [o["due_on"] for o in planned] == sorted(due)
    assert [o["id"] for o in planned] == ids[::-1]
