"""The status board in a real headless Chromium (Debian's), against ``fleet serve`` with the
sample fleet and real probes of TCP peers: the board lists the sites with their states, a state
change shows on the open page without a reload, the map shows every site, the page says when
its data is stale, the API documentation renders, and no request goes anywhere but the
server. Screenshots go to ``test-artifacts/``.

Without Chromium the test is skipped with the reason, except under CI=true, where it fails.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from fleet.api.auth import SESSION_COOKIE
from tests.conftest import ROOT, auth
from tests.dashboards import arrange, site_states, wait_for
from tests.e2e.conftest import _free_port
from tests.e2e.processes import start, token_of, wait_healthy

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

CHROMIUM = Path(os.environ.get("FLEET_CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = ROOT / "test-artifacts"
WANTED = {
    "NE-BCL-01": "connected",  # cut off while the board is open
    "NE-HQ-01": "connected",
    "BF-NCB-01": "connected",
    "TD-NCB-01": "connected",
    "ML-BCL-01": "degraded",
    "NE-RB-01": "degraded",
    "NE-BCS-01": "disconnected",
    "BF-BCL-03": "disconnected",
}
FAST = {
    "FLEET_PROBE_INTERVAL_S": "0.5",
    "FLEET_PROBE_JITTER_S": "0",
    "FLEET_RECONCILE_INTERVAL_S": "0.5",
    "FLEET_PROBE_TIMEOUT_S": "5",  # cut peers refuse at once; a slow answer is no failure
    "FLEET_PROBE_RETRIES": "0",
    "FLEET_STATE_CONFIRMATIONS": "1",
    "FLEET_STREAM_POLL_INTERVAL_S": "0.3",
    "FLEET_STREAM_HEARTBEAT_S": "2",
}


@pytest.fixture
def chromium() -> str:
    """Debian's Chromium (Playwright cannot download a browser here)."""
    if CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK):
        return str(CHROMIUM)
    reason = f"no Chromium at {CHROMIUM}: install Debian's package (apt-get install -y chromium)"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{reason} (CI=true: the browser test must run)")
    pytest.skip(reason)


@dataclass
class Server:
    base: str
    token: str
    process: subprocess.Popen[str]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture
def server(chromium: str, tmp_path: Path) -> Iterator[Server]:
    """``fleet serve`` with the sample fleet, probing every half second (started once a browser
    is known to be there)."""
    port = _free_port()
    env = {
        **os.environ,
        **FAST,
        "FLEET_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'fleet.db'}",
        "FLEET_SITE_CONFIGS": str(ROOT / "site_configs"),
        "FLEET_LOG_FORMAT": "json",
        "FLEET_LOG_LEVEL": "WARNING",
    }
    process, output = start(
        [sys.executable, "-m", "fleet.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
        tmp_path,
        env,
    )
    base = f"http://127.0.0.1:{port}"
    served = Server(base, "", process)
    try:
        wait_healthy(base, process, output)
        served.token = token_of(output, time.monotonic() + 10)
        yield served
    finally:
        served.stop()


def test_board_and_map_live_in_chromium(chromium: str, server: Server) -> None:
    from playwright.sync_api import Route, expect, sync_playwright

    started = time.monotonic()
    api = httpx.Client(base_url=server.base, headers=auth(server.token), timeout=15)
    arranged = arrange(api, WANTED)
    ARTIFACTS.mkdir(exist_ok=True)
    foreign: list[str] = []
    page_errors: list[str] = []
    own = urlsplit(server.base).netloc

    def only_the_server(route: Route) -> None:
        if urlsplit(route.request.url).netloc == own:
            route.continue_()
        else:
            foreign.append(route.request.url)
            route.abort()

    try:
        wait_for(
            lambda: all(site_states(api).get(c) == s for c, s in WANTED.items()),
            20,
            f"the sample sites to reach {WANTED}",
        )
        states = site_states(api)
        assert len(states) == 19
        viewer = api.post("/api/v1/tokens", json={"name": "wall-screen", "role": "viewer"})
        secret = viewer.json()["secret"]

        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=chromium, args=["--no-sandbox", "--disable-dev-shm-usage"]
            )
            context = browser.new_context(viewport={"width": 1440, "height": 1000})
            context.route("**/*", only_the_server)
            context.on(
                "request",
                lambda r: (
                    foreign.append(r.url)
                    if urlsplit(r.url).netloc not in (own, "") and not r.url.startswith("data:")
                    else None
                ),
            )
            page = context.new_page()
            page.on("pageerror", lambda e: page_errors.append(str(e)))
            page.on(
                "console",
                lambda m: page_errors.append(m.text) if m.type == "error" else None,
            )

            # Sign in: the board sends a stranger to the sign-in page and back.
            page.goto(f"{server.base}/")
            expect(page).to_have_url(re.compile(r"/signin\?next=%2F$"))
            page.get_by_label("API token").fill(secret)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url(f"{server.base}/")
            cookie = next(c for c in context.cookies() if c["name"] == SESSION_COOKIE)
            assert cookie["httpOnly"]
            assert cookie["secure"]
            for role in ("banner", "navigation", "main", "contentinfo"):
                expect(page.get_by_role(role).first).to_be_visible()

            # Every sample site, with its state in colour and in words.
            rows = page.locator('tr[data-row="site"]')
            expect(rows).to_have_count(len(states))
            shown = page.eval_on_selector_all(
                'tr[data-row="site"]',
                "rows => rows.map(r => [r.dataset.site, r.dataset.state,"
                " r.querySelector('[data-field=state] .label').textContent])",
            )
            assert {code: state for code, state, _ in shown} == states
            assert all(label == state.capitalize() for _, state, label in shown)
            colours = page.eval_on_selector_all(
                '[data-row="site"] .badge',
                "bs => [...new Set(bs.map(b => getComputedStyle(b).backgroundColor))]",
            )
            assert len(colours) == len(set(states.values()))  # one colour per state
            expect(page.locator("#live")).to_have_text("Live", timeout=10_000)

            # A state change made by the probes shows without a reload.
            page.evaluate("window.notReloaded = true")
            changed_at = time.monotonic()
            arranged.cut("NE-BCL-01")
            row = page.locator('tr[data-site="NE-BCL-01"]')
            expect(row).to_have_attribute("data-state", "disconnected", timeout=10_000)
            shown_after = time.monotonic() - changed_at
            expect(row.locator('[data-field="state"] .label')).to_have_text("Disconnected")
            expect(page.locator("#changes li").first).to_contain_text("NE-BCL-01")
            disconnected = sum(1 for s in site_states(api).values() if s == "disconnected")
            expect(page.locator('[data-count="disconnected"]')).to_have_text(str(disconnected))
            assert page.evaluate("window.notReloaded") is True
            print(f"state change shown on the open board {shown_after:.1f} s after the cut")
            page.screenshot(path=str(ARTIFACTS / "board.png"), full_page=True)

            # The map: every site, inside the drawing; a site's popup links to its page.
            page.get_by_role("link", name="Map", exact=True).click()
            page.wait_for_url(f"{server.base}/map")
            markers = page.locator(".site-marker")
            expect(markers).to_have_count(len(states))
            drawing = page.locator("#map svg").bounding_box()
            assert drawing is not None
            for marker in markers.all():
                box = marker.bounding_box()
                assert box is not None
                right = drawing["x"] + drawing["width"] - box["width"]
                bottom = drawing["y"] + drawing["height"] - box["height"]
                assert drawing["x"] <= box["x"] <= right
                assert drawing["y"] <= box["y"] <= bottom
            marked = dict(
                page.eval_on_selector_all(
                    ".site-marker", "ms => ms.map(m => [m.dataset.site, m.dataset.state])"
                )
            )
            assert marked == site_states(api)
            page.locator('.site-marker[data-site="NE-BCL-01"]').click()
            popup = page.locator("#popup")
            expect(popup).to_be_visible()
            expect(popup).to_contain_text("Disconnected")
            expect(popup.get_by_role("link")).to_have_attribute("href", "/sites/NE-BCL-01")
            page.screenshot(path=str(ARTIFACTS / "map.png"), full_page=True)
            page.keyboard.press("Escape")
            expect(popup).to_be_hidden()
            # By keyboard: a marker takes the focus, Enter opens its popup.
            page.locator('.site-marker[data-site="TD-NCB-01"]').focus()
            page.keyboard.press("Enter")
            expect(popup).to_be_visible()
            expect(popup.get_by_role("link")).to_be_focused()
            popup.get_by_role("link").click()
            page.wait_for_url(f"{server.base}/sites/TD-NCB-01")
            expect(page.locator("[data-section=gaps-work-orders]")).to_contain_text("No open gap")

            # On a phone: no sideways scrolling.
            phone = browser.new_context(
                viewport={"width": 390, "height": 844}, storage_state=context.storage_state()
            )
            phone.route("**/*", only_the_server)
            small = phone.new_page()
            small.goto(f"{server.base}/")
            expect(small.locator('tr[data-row="site"]')).to_have_count(len(states))
            assert small.evaluate("document.documentElement.scrollWidth") <= 390
            small.screenshot(path=str(ARTIFACTS / "board-phone.png"))
            phone.close()

            # The API documentation renders from the server's own files (nothing else reached),
            # with the Authorize button to paste a token.
            page.goto(f"{server.base}/schema")
            expect(page.locator(".swagger-ui .info .title")).to_contain_text("fleet")
            expect(page.locator("#operations-sites-list_site")).to_be_visible()
            expect(page.get_by_role("button", name="Authorize")).to_be_visible()
            page.screenshot(path=str(ARTIFACTS / "api-docs.png"))

            # The server goes away: the page says its data is stale.
            page.goto(f"{server.base}/")
            expect(page.locator("#live")).to_have_text("Live", timeout=10_000)
            errors_before_stop = list(page_errors)  # a lost stream is logged as an error
            server.stop()
            expect(page.locator("#live")).to_have_attribute("data-live", "stale", timeout=15_000)
            expect(page.locator("#live")).to_contain_text("Stale since")
            page.screenshot(path=str(ARTIFACTS / "board-stale.png"))
            context.close()
            browser.close()
    finally:
        arranged.close()
        api.close()
    assert not foreign, f"requests to other hosts: {foreign}"
    assert not errors_before_stop, errors_before_stop
    print(f"browser test: {time.monotonic() - started:.1f} s")
