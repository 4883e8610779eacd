"""The planner's workspace in a real headless Chromium (Debian's), against ``fleet serve`` with
the sample fleet assessed: a planner signs in, approves three work orders at once while one of
them is changed through the API behind the open page (the conflict is shown, with the order as
it is now, and approved again from there), assigns the three, and reads the rollups, whose
numbers match what ``fleet plan`` prints for the same database. Screenshots go to
``test-artifacts/plan-*.png``.

Without Chromium the test is skipped with the reason, except under CI=true, where it fails.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.conftest import auth
from tests.e2e.test_board import ARTIFACTS, Server, chromium, server  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _fleet_plan(database: Path) -> dict[str, tuple[int, float]]:
    """``fleet plan``'s totals summed by country (its rows are by country and programme)."""
    url = f"sqlite+aiosqlite:///{database}"
    shown = subprocess.run(
        [sys.executable, "-m", "fleet.cli", "--database-url", url, "plan"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env={**os.environ, "FLEET_LOG_LEVEL": "WARNING"},
    ).stdout
    totals: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])
    lines = shown.split("\n\n", 1)[0].splitlines()
    assert lines[0].split() == ["country", "programme", "orders", "estimated", "cost"], shown
    for line in lines[1:]:
        country, *_, count, cost = line.split()
        totals[country][0] += int(count)
        totals[country][1] += float(cost.replace(",", ""))
    return {k: (int(v[0]), round(v[1], 2)) for k, v in totals.items()}


def test_a_planner_approves_assigns_and_reads_the_rollups(
    chromium: str,  # noqa: F811
    server: Server,  # noqa: F811
    tmp_path: Path,
) -> None:
    from playwright.sync_api import Route, expect, sync_playwright

    started = time.monotonic()
    api = httpx.Client(base_url=server.base, headers=auth(server.token), timeout=30)
    assert api.post("/api/v1/assessments", json={}).json()["opened"] > 10
    secret = api.post("/api/v1/tokens", json={"name": "planner-ada", "role": "planner"}).json()[
        "secret"
    ]
    proposed = api.get(
        "/api/v1/work-orders", params={"state": "proposed", "sort": "id", "limit": 3}
    ).json()["items"]
    a, b, c = (o["id"] for o in proposed)
    ARTIFACTS.mkdir(exist_ok=True)
    own = urlsplit(server.base).netloc
    foreign: list[str] = []
    page_errors: list[str] = []

    def only_the_server(route: Route) -> None:
        if urlsplit(route.request.url).netloc == own:
            route.continue_()
        else:
            foreign.append(route.request.url)
            route.abort()

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=ARGS)
        context = browser.new_context(viewport={"width": 1440, "height": 1000})
        context.route("**/*", only_the_server)
        page = context.new_page()
        page.on("pageerror", lambda e: page_errors.append(str(e)))

        page.goto(f"{server.base}/plan/work-orders?view=list&state=proposed")
        page.get_by_label("API token").fill(secret)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url("**/plan/work-orders?view=list&state=proposed")
        expect(page.get_by_role("link", name="Plan", exact=True)).to_be_visible()

        # Another planner assigns b through the API while this page shows its old version.
        version = page.locator(f'tr[data-order="{b}"]').get_attribute("data-version")
        changed = api.patch(
            f"/api/v1/work-orders/{b}",
            json={"assignee": "someone-else"},
            headers={"If-Match": f'"{version}"'},
        )
        assert changed.status_code == 200, changed.text

        for order in (a, b, c):
            page.get_by_label(f"Tick work order {order}", exact=True).check()
        page.locator("#bulk select[name=action]").select_option("approve")
        page.get_by_role("button", name="Apply to the ticked orders").click()
        expect(page.locator(f'[data-outcome="{a}"]')).to_have_attribute("data-result", "applied")
        expect(page.locator(f'[data-outcome="{c}"]')).to_have_attribute("data-result", "applied")
        stale = page.locator(f'[data-outcome="{b}"]')
        expect(stale).to_have_attribute("data-result", "conflict")
        expect(stale).to_contain_text("Conflict: not applied.")
        expect(stale).to_contain_text("Someone changed this work order after your page showed it")
        expect(stale.locator('[data-field="assignee"]')).to_have_text("someone-else")
        page.screenshot(path=str(ARTIFACTS / "plan-conflict.png"), full_page=True)

        # Approve it again from what the conflict shows (its current version).
        stale.locator('button[data-action="approve"]').click()
        page.wait_for_url("**done=approve**")
        expect(page.locator("[data-notice]")).to_contain_text(f"Work order #{b} approved.")

        page.goto(f"{server.base}/plan/work-orders?view=list&state=approved")
        for order in (a, b, c):
            page.get_by_label(f"Tick work order {order}", exact=True).check()
        page.locator("#bulk select[name=action]").select_option("assign")
        page.locator("#bulk input[name=assignee]").fill("crew-7")
        page.get_by_role("button", name="Apply to the ticked orders").click()
        expect(page.locator('[data-result="applied"]')).to_have_count(3)
        page.goto(f"{server.base}/plan/work-orders")
        expect(page.locator('[data-column="approved"] [data-order]')).to_have_count(3)
        page.screenshot(path=str(ARTIFACTS / "plan-board.png"), full_page=True)

        page.get_by_role("link", name="Rollups").click()
        page.wait_for_url("**/plan/rollups")
        chart = page.locator('svg[data-chart="cost-country"]')
        expect(chart.locator("title")).to_have_text("Estimated cost of open work by country")
        costs = dict(
            chart.locator("[data-number]").evaluate_all(
                "ns => ns.map(n => [n.dataset.number, n.textContent])"
            )
        )
        counts = dict(
            page.locator('svg[data-chart="count-country"] [data-number]').evaluate_all(
                "ns => ns.map(n => [n.dataset.number, n.textContent])"
            )
        )
        page.screenshot(path=str(ARTIFACTS / "plan-rollups.png"), full_page=True)
        browser.close()

    for order in (a, b, c):
        now = api.get(f"/api/v1/work-orders/{order}").json()
        assert (now["state"], now["assignee"]) == ("approved", "crew-7")
        actors = {
            e["actor"] for e in api.get(f"/api/v1/work-orders/{order}/journal").json()["items"]
        }
        assert "planner-ada" in actors
    printed = _fleet_plan(tmp_path / "fleet.db")
    assert printed, "fleet plan printed no open work"
    assert costs == {k: f"{cost:,.2f}" for k, (_, cost) in printed.items()}
    assert counts == {k: str(count) for k, (count, _) in printed.items()}
    assert not foreign, foreign
    assert not page_errors, page_errors
    print(f"planner's workspace in Chromium: {time.monotonic() - started:.1f} s")
