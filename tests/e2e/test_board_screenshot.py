"""The README's screenshot of the live board, taken in headless Chromium from ``fleet demo``
(what ``make run`` serves) once its sites are connected and its border site is cut off.
``FLEET_UPDATE_SCREENSHOT=1`` writes it to ``docs/board.png``; otherwise it goes to a temporary
folder and is only checked (a PNG of the right size, neither blank nor heavy).

Without Chromium the test is skipped with the reason, except under CI=true, where it fails.
"""

from __future__ import annotations

import os
import struct
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.e2e.processes import free_port, live_states, newcomer_env, start, stop, token_of
from tests.e2e.test_board import chromium  # noqa: F401 (the fixture)

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

SIZE = (1280, 800)
README_SCREENSHOT = ROOT / "docs" / "board.png"


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_the_readme_screenshot_shows_the_live_simulated_board(
    chromium: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    from playwright.sync_api import expect, sync_playwright

    port = free_port()
    env = {**newcomer_env(), "FLEET_LOG_FORMAT": "json"}
    args = [sys.executable, "-m", "fleet.cli", "demo", "--port", str(port), "--cut-after", "15"]
    args += ["--snmp-port", str(free_port()), "--ssh-port", str(free_port())]
    process, output = start(args, tmp_path, env)
    base = f"http://127.0.0.1:{port}"
    target = README_SCREENSHOT if os.environ.get("FLEET_UPDATE_SCREENSHOT") == "1" else None
    path = target or tmp_path / "board.png"
    try:
        started = time.monotonic()
        token = token_of(output, started + 60)
        counts = live_states(base, token, started + 120)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=chromium, args=["--no-sandbox", "--disable-dev-shm-usage"]
            )
            page = browser.new_page(viewport={"width": SIZE[0], "height": SIZE[1]})
            page.goto(f"{base}/")
            page.get_by_label("API token").fill(token)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url(f"{base}/")
            expect(page.get_by_role("note")).to_contain_text("Simulated fleet.")
            expect(page.locator("#live")).to_have_text("Live", timeout=10_000)
            for state in ("connected", "disconnected"):
                expect(
                    page.locator(f'tr[data-row="site"][data-state="{state}"]').first
                ).to_be_visible()
            page.screenshot(path=str(path))
            browser.close()
    finally:
        stop(process)
    data = path.read_bytes()
    assert _png_size(data) == SIZE
    assert 20_000 < len(data) < 300_000, len(data)
    print(f"board screenshot: {len(data)} bytes, sites {dict(counts)}, at {path.name}")
