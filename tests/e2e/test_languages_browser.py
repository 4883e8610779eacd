"""The board in French and in a right-to-left language, in a real headless Chromium against
``fleet serve`` with the sample fleet: the language picked in the header is kept across pages by
its cookie, the board's script speaks it too, so does the field app (online, and offline from
its service worker's copy), and in the right-to-left pseudo-locale no page overflows the
viewport at a phone's or a desktop's width. Screenshots go to ``test-artifacts/``.
"""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from tests import pseudo_locale
from tests.conftest import auth
from tests.e2e.test_board import ARTIFACTS, Server, chromium, server

pytestmark = [pytest.mark.e2e, pytest.mark.browser]
__all__ = ["chromium", "server"]  # the fixtures, shared with the board's test
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
WIDTHS = {"phone": (375, 740), "desktop": (1440, 1000)}


@pytest.fixture(autouse=True)
def pseudo_language(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The server started by ``server`` also speaks the right-to-left pseudo-locale."""
    monkeypatch.setenv("FLEET_LOCALE_DIR", str(pseudo_locale.write_pseudo(tmp_path / "locales")))


def test_board_and_map_in_french_and_right_to_left(chromium: str, server: Server) -> None:
    from playwright.sync_api import expect, sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    api = httpx.Client(base_url=server.base, headers=auth(server.token), timeout=15)
    secret = api.post("/api/v1/tokens", json={"name": "mur", "role": "viewer"}).json()["secret"]
    errors: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=ARGS)
        context = browser.new_context(viewport={"width": 1440, "height": 1000}, locale="en-GB")
        page = context.new_page()
        page.on("pageerror", lambda e: errors.append(str(e)))

        # The sign-in page in English (the browser asks for English), then French by the picker.
        page.goto(f"{server.base}/")
        expect(page).to_have_url(re.compile(r"/signin\?next=%2F$"))
        assert page.get_attribute("html", "lang") == "en"
        page.get_by_role("navigation", name="Language").get_by_role("link", name="Français").click()
        expect(page.locator("html")).to_have_attribute("lang", "fr")
        expect(page.locator("h1")).to_have_text("Connexion au tableau de bord")
        assert any(c["name"] == "fleet_lang" and c["value"] == "fr" for c in context.cookies())
        page.get_by_label("Jeton d\N{RIGHT SINGLE QUOTATION MARK}API").fill(secret)
        page.get_by_role("button", name="Se connecter").click()
        page.wait_for_url(f"{server.base}/")

        # The board, kept in French by the cookie; the script's words are French too.
        expect(page.locator("html")).to_have_attribute("lang", "fr")
        expect(page.locator("h1")).to_have_text("Connectivité des sites")
        expect(page.locator("#live")).to_have_text("En direct", timeout=15_000)
        expect(page.locator('tr[data-row="site"]')).to_have_count(19)
        labels = page.eval_on_selector_all(
            '[data-row="site"] [data-field="state"] .label', "ls => ls.map(l => l.textContent)"
        )
        assert set(labels) <= {"Connecté", "Dégradé", "Déconnecté", "Maintenance", "Inconnu"}
        # A time in the site's zone, named, written by the server or by the script.
        when = page.locator('tr[data-site="NE-HQ-01"] time[data-field="since"]')
        expect(when).to_have_attribute("title", re.compile(r"20\d\d.*\(Africa/Niamey\)$"))
        page.screenshot(path=str(ARTIFACTS / "board-fr.png"), full_page=True)

        # The map, in French without asking again.
        page.get_by_role("link", name="Carte", exact=True).click()
        page.wait_for_url(f"{server.base}/map")
        expect(page.locator("html")).to_have_attribute("lang", "fr")
        expect(page.locator("h1")).to_have_text("Carte des sites")
        page.locator('.site-marker[data-site="NE-BCL-01"]').click()
        popup = page.locator("#popup")
        expect(popup).to_contain_text("liaison utilisée")
        expect(popup.get_by_role("link")).to_have_text("Ouvrir la page du site")
        page.screenshot(path=str(ARTIFACTS / "map-fr.png"), full_page=True)

        # The field app in French: the page's words and the script's, online and then
        # offline from the copy its service worker kept.
        page.set_viewport_size({"width": 375, "height": 740})
        page.goto(f"{server.base}/field")
        expect(page.locator("body")).to_have_attribute("data-ready", "yes")
        expect(page.locator("html")).to_have_attribute("lang", "fr")
        expect(page.get_by_role("button", name="Mes ordres de travail ouverts")).to_be_visible()
        expect(page.locator("#kept")).to_contain_text("Aucun site conservé")  # by the script
        expect(page.locator("#net")).to_have_text("En ligne")
        page.evaluate("navigator.serviceWorker.ready.then(() => true)")
        page.wait_for_function("navigator.serviceWorker.controller !== null")
        widths = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert widths[0] <= widths[1], widths
        page.screenshot(path=str(ARTIFACTS / "field-fr.png"), full_page=True)
        context.set_offline(True)
        page.reload()
        expect(page.locator("body")).to_have_attribute("data-ready", "yes")
        expect(page.locator("#net")).to_contain_text("Hors ligne")
        expect(page.locator("#kept")).to_contain_text("Aucun site conservé")
        context.set_offline(False)

        # Right to left: every page at a phone's and a desktop's width, inside the viewport.
        page.goto(f"{server.base}/?lang={pseudo_locale.CODE}")
        for name, (width, height) in WIDTHS.items():
            page.set_viewport_size({"width": width, "height": height})
            for path in ("/", "/map", "/sites/NE-BCL-01", "/signin", "/sites/XX-NOPE-01"):
                page.goto(f"{server.base}{path}")
                expect(page.locator("html")).to_have_attribute("dir", "rtl")
                widths = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
                assert widths[0] <= widths[1], (name, path, widths)
            page.goto(f"{server.base}/")
            page.screenshot(path=str(ARTIFACTS / f"board-rtl-{name}.png"), full_page=True)
        browser.close()
    assert errors == []
