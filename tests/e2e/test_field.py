"""The field app in a real headless Chromium (Debian's) against ``fleet serve`` on a SQLite file
with the sample fleet, through a local proxy that is the page's origin.

An engineer limited to Niger signs in, keeps two sites on the phone, goes offline and records
20 changes (an install with a photo, a replacement, repairs, firmware and link changes, three
work-order steps); the browser is closed and opened again on the same profile, offline, and the
outbox is still there; meanwhile the office edits one of the devices. Back online over an
emulated 32 kbit/s link with 2 s latency, through a proxy that drops 30% of its connections,
every change is applied exactly once, in order (rows and change records counted in the
database), the photo is attached to the device installed offline, and the progress is shown;
the office's edit shows as a conflict with both versions, and keeping mine applies it once.
Another country's site cannot be kept, seen or changed, and no request leaves the page's
origin. Screenshots go to ``test-artifacts/field-*.png``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.conftest import auth
from tests.e2e.field_rig import (
    CHROMIUM_ARGS,
    SLOW_LINK,
    Fleet,
    ProxyThread,
    big_photo,
    empty_postgres,
    fleet_serve,
    outbox,
    ready_orders,
)
from tests.e2e.test_board import ARTIFACTS, chromium

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.timeout(900)]
__all__ = ["chromium"]

ENGINEER = "field-ne"
SITES = ("NE-BCS-01", "NE-BCL-02")
PHONE = {"width": 390, "height": 844}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def fleet(request: pytest.FixtureRequest, chromium: str, tmp_path: Path) -> Iterator[Fleet]:
    """``fleet serve`` on a new SQLite file, or on a new PostgreSQL database of its own."""
    if request.param == "sqlite":
        with fleet_serve(tmp_path) as served:
            yield served
        return
    with empty_postgres() as url, fleet_serve(tmp_path, url) as served:
        yield served


def _shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"field-{name}.png"), full_page=True)


def _queued(page: Any, count: int) -> None:
    from playwright.sync_api import expect

    expect(page.locator("#entries li")).to_have_count(count, timeout=15_000)


class Phone:
    """The app on one page, driven as an engineer would: buttons, labels, the keyboard."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.count = 0

    def save(self, changes: int) -> None:
        self.page.get_by_role("button", name="Save on this phone").click()
        self.count += changes
        _queued(self.page, self.count)

    def open(self, code: str) -> None:
        if self.page.locator("#site").is_visible():
            self.page.get_by_role("button", name="Back to the sites").click()
        self.page.get_by_role("button", name=f"Open {code}").click()
        self.page.locator("#site-title").wait_for()

    def device_button(self, action: str, serial: str) -> None:
        self.page.get_by_role("button", name=f"{action} {serial}", exact=True).click()

    def firmware(self, serial: str, version: str) -> None:
        self.device_button("Firmware", serial)
        self.page.get_by_label("Firmware version", exact=True).fill(version)
        self.save(1)

    def repair(self, serial: str, note: str, lifecycle: str = "active") -> None:
        self.device_button("Repair", serial)
        self.page.get_by_label("Journal note", exact=True).fill(note)
        self.page.get_by_label("Lifecycle", exact=True).select_option(lifecycle)
        self.save(1)

    def move(self, order_id: int, to: str, note: str) -> None:
        card = self.page.locator(f'li[data-order="{order_id}"]')
        card.get_by_role("button", name=f"Move to {to.replace('_', ' ')}").click()
        self.page.get_by_label("Journal note", exact=True).fill(note)
        self.save(1)


def _records(fleet: Fleet, actor: str) -> list[tuple[Any, ...]]:
    return fleet.query(
        "SELECT action, object_type, object_key FROM change_record WHERE actor = :actor "
        "ORDER BY id",
        actor=actor,
    )


def test_field_app_offline_then_sync_over_a_bad_link(
    chromium: str, fleet: Fleet, tmp_path: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    started = time.monotonic()
    api = httpx.Client(base_url=fleet.base, headers=auth(fleet.token), timeout=30)
    engineer = api.post(
        "/api/v1/tokens",
        json={"name": ENGINEER, "role": "field_engineer", "countries": ["NE"]},
    )
    assert engineer.status_code == 201, engineer.text
    secret = engineer.json()["secret"]
    order_a, order_b = ready_orders(api, list(SITES), ENGINEER, 2)
    order_site = {o: api.get(f"/api/v1/work-orders/{o}").json()["site"] for o in (order_a, order_b)}
    photo_bytes = big_photo()
    devices = {
        code: api.get("/api/v1/devices", params={"site": code, "limit": 100}).json()["items"]
        for code in SITES
    }
    bcs = {d["serial"]: d for d in devices["NE-BCS-01"]}
    bcl = devices["NE-BCL-02"]
    link = api.get("/api/v1/links", params={"site": "NE-BCS-01"}).json()["items"][0]

    proxy = ProxyThread(int(urlsplit(fleet.base).port or 0))
    origin = f"http://127.0.0.1:{proxy.port}"
    own = urlsplit(origin).netloc
    requests: list[tuple[float, str, str]] = []
    foreign: list[str] = []
    errors: list[str] = []
    profile = tmp_path / "profile"

    def watch(context: Any) -> None:
        def seen(request: Any) -> None:
            requests.append((time.monotonic(), request.method, request.url))
            if urlsplit(request.url).netloc != own and not request.url.startswith(
                ("data:", "blob:")
            ):
                foreign.append(request.url)

        context.on("request", seen)
        context.on("weberror", lambda e: errors.append(str(e.error)))

    try:
        with sync_playwright() as playwright:
            launch = {
                "user_data_dir": str(profile),
                "executable_path": chromium,
                "args": CHROMIUM_ARGS,
                "viewport": PHONE,
                "has_touch": True,
                "is_mobile": True,
            }
            context = playwright.chromium.launch_persistent_context(**launch)
            watch(context)
            page = context.pages[0] if context.pages else context.new_page()

            # Sign in with the engineer's token; the app comes back.
            page.goto(f"{origin}/signin?next=/field")
            page.get_by_label("API token", exact=True).fill(secret)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url(f"{origin}/field")
            expect(page.locator("body")).to_have_attribute("data-ready", "yes")
            page.evaluate("navigator.serviceWorker.ready.then(() => true)")

            # By keyboard: the first stop skips to the content.
            page.keyboard.press("Tab")
            expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
            page.keyboard.press("Enter")
            expect(page.locator("#main")).to_be_focused()

            # Another country's site: not found by the search, not kept when asked for.
            page.get_by_label("Find a site (code or name)", exact=True).fill("ML-BCL")
            page.keyboard.press("Enter")
            expect(page.locator("#found li")).to_have_count(0)
            refused = page.evaluate(
                "fetch('/api/v1/field/sites/ML-BCL-01', {headers: {'X-Fleet-Client': 'field'}})"
                ".then(r => r.status)"
            )
            assert refused == 404

            # Prime: my open work orders (their sites), then a second site by search.
            page.get_by_role("button", name="My open work orders").click()
            for code in SITES:
                page.get_by_label("Find a site (code or name)", exact=True).fill(code)
                page.keyboard.press("Enter")
                page.get_by_role("button", name=f"Keep offline {code}").click()
                expect(page.locator(f'#kept li[data-site="{code}"]')).to_be_visible()
            _shot(page, "sites")

            # Offline: 20 changes.
            context.set_offline(True)
            expect(page.locator("#net")).to_have_attribute("data-net", "offline")
            phone = Phone(page)
            phone.open("NE-BCS-01")
            _shot(page, "site")
            parent = bcs["FGT60FTK21050363"]
            page.get_by_role("button", name="Install a device").click()
            page.get_by_label("Model", exact=True).select_option("hanwha-xno-6080r")
            page.get_by_label("Serial number", exact=True).fill("FIELD-CAM-0001")
            page.get_by_label("Asset tag", exact=True).fill("NE-PN-90001")
            page.get_by_label("Firmware version", exact=True).fill("1.0.0")
            page.get_by_label("Reached through (parent device)", exact=True).select_option(
                str(parent["id"])
            )
            page.get_by_label("Photo", exact=True).set_input_files(
                files=[{"name": "mast.png", "mimeType": "image/png", "buffer": photo_bytes}]
            )
            _shot(page, "install")
            unlabelled = page.evaluate(
                """() => [...document.querySelectorAll('input, select, textarea, button')]
                  .filter((e) => !e.closest('[hidden]'))
                  .filter((e) => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')
                                 && !(e.tagName === 'BUTTON' && e.textContent.trim()))
                  .map((e) => e.outerHTML)"""
            )
            assert unlabelled == [], unlabelled
            phone.save(2)  # the device and its photo
            phone.firmware("FIELD-CAM-0001", "1.1.0")  # on the device made offline
            phone.device_button("Replace", "ZC9P7V2M349424B")
            page.get_by_label("Serial number", exact=True).fill("FIELD-CAM-0002")
            phone.save(2)  # the old unit retired, the new one installed in its place
            phone.repair("BMS223H65920", "reader cleaned, cable reseated")
            phone.firmware("BMS223H65920", "9.9.1")  # on top of the repair
            page.get_by_role("button", name=f"Change {link['circuit_id']}").click()
            page.get_by_label("Committed bandwidth (kbit/s)", exact=True).fill("4096")
            phone.save(1)
            steps = [
                (order_a, "in_progress", "on site"),
                (order_a, "completed", "done, tested"),
                (order_b, "in_progress", "started"),
            ]
            for order_id, to, note in steps:
                if order_site[order_id] == "NE-BCS-01":
                    phone.move(order_id, to, note)
            phone.open("NE-BCL-02")
            for i, device in enumerate(bcl[:8]):
                phone.firmware(device["serial"], f"8.0.{i}")
            phone.repair(bcl[0]["serial"], "fan replaced")
            phone.repair(bcl[1]["serial"], "dust removed", "installed")
            for order_id, to, note in steps:
                if order_site[order_id] == "NE-BCL-02":
                    phone.move(order_id, to, note)
            assert phone.count == 21  # 20 changes and a photo
            entries = outbox(page)
            photo = next(e for e in entries if e["kind"] == "photo")
            assert (photo["width"], photo["height"], photo["type"]) == (1600, 1200, "image/jpeg")
            assert photo["size"] < 400_000, photo
            assert len(photo_bytes) > photo["size"]
            expect(page.locator("#pending")).to_have_text("21 changes to send")
            _shot(page, "outbox-offline")
            context.close()

            # The office edits a device meanwhile (the engineer changed its firmware).
            office = bcl[2]
            tag = api.get(f"/api/v1/devices/{office['id']}").headers["etag"]
            edited = api.patch(
                f"/api/v1/devices/{office['id']}",
                json={"firmware_version": "7.7.7", "notes": "changed in the office"},
                headers={"If-Match": tag},
            )
            assert edited.status_code == 200, edited.text

            # The same profile again, still offline: the app opens from its cache, the
            # outbox is there.
            context = playwright.chromium.launch_persistent_context(**launch)
            watch(context)
            context.set_offline(True)
            page = context.pages[0] if context.pages else context.new_page()
            page.goto(f"{origin}/field")
            expect(page.locator("body")).to_have_attribute("data-ready", "yes")
            expect(page.locator("#entries li")).to_have_count(21)
            expect(page.locator("#pending")).to_have_text("21 changes to send")
            before = len(requests)

            # Online over a slow, lossy link.
            proxy.drop_rate = 0.3
            passed_before = proxy.proxy.counts["passed"]
            cdp = context.new_cdp_session(page)
            cdp.send("Network.enable")
            cdp.send("Network.emulateNetworkConditions", {**SLOW_LINK, "offline": True})
            context.set_offline(False)
            cdp.send("Network.emulateNetworkConditions", SLOW_LINK)
            sync_started = time.monotonic()
            text = page.locator("#progress-text")
            expect(text).to_have_text(re.compile(r"Sending \d+ of \d+"), timeout=60_000)
            shown_progress = {text.text_content()}
            reloaded = False
            deadline = time.monotonic() + 600
            while time.monotonic() < deadline:
                states = [e["state"] for e in outbox(page) if e["kind"] != "photo"]
                shown_progress.add(text.text_content())
                if not reloaded and 5 <= states.count("applied") < 15:
                    # a reload in the middle of the sync: it picks up where it was
                    page.reload()
                    expect(page.locator("body")).to_have_attribute("data-ready", "yes")
                    reloaded = True
                    continue
                if all(s in ("applied", "conflict") for s in states) and "pending" not in states:
                    break
                time.sleep(1)
            else:
                raise AssertionError(f"the outbox did not drain: {outbox(page)}")
            sync_s = time.monotonic() - sync_started
            assert reloaded
            conflict = page.locator('#entries li[data-state="conflict"]')
            expect(conflict).to_have_count(1)
            expect(conflict).to_contain_text(office["serial"])
            expect(conflict.locator('[data-side="mine"]')).to_have_text("8.0.2")
            expect(conflict.locator('[data-side="theirs"]')).to_have_text("7.7.7")
            _shot(page, "conflict")
            conflict.get_by_role("button", name="Keep mine").click()
            page.get_by_role("button", name="Send now").click()
            expect(page.locator('#entries li[data-state="conflict"]')).to_have_count(0)
            deadline = time.monotonic() + 180
            while time.monotonic() < deadline:
                states = [e["state"] for e in outbox(page)]
                if states.count("applied") == 21:  # the photo too
                    break
                time.sleep(1)
            else:
                raise AssertionError(f"keep mine was not applied: {outbox(page)}")
            expect(page.locator("#lastsync")).to_contain_text("Last synced")
            _shot(page, "synced")
            final = outbox(page)
            drops = sum(n for kind, n in proxy.proxy.counts.items() if kind != "passed")
            carried = proxy.proxy.counts["passed"] - passed_before
            context.close()
    finally:
        proxy.close()

    # Exactly once, in order: the database's rows and change records.
    sent = [e for e in final if e["kind"] == "batch"]
    assert len(sent) == 17
    records = _records(fleet, ENGINEER)
    assert ("create", "attachment", "mast.jpg") in records  # the photo, once
    records = [r for r in records if r[1] != "attachment"]
    assert len(records) == 17, records
    q = fleet.query
    for serial in ("FIELD-CAM-0001", "FIELD-CAM-0002"):
        rows = q("SELECT id, parent_id FROM device WHERE serial = :serial", serial=serial)
        assert len(rows) == 1, (serial, rows)
        assert rows[0][1] == parent["id"]
    assert q("SELECT firmware_version FROM device WHERE serial = 'FIELD-CAM-0001'") == [("1.1.0",)]
    photos = q(
        "SELECT a.object_type, d.serial, a.content_type FROM attachment a "
        "JOIN device d ON d.id = a.device_id"
    )
    assert photos == [("device", "FIELD-CAM-0001", "image/jpeg")], photos
    assert q("SELECT lifecycle FROM device WHERE serial = 'ZC9P7V2M349424B'") == [("retired",)]
    assert q("SELECT firmware_version, notes FROM device WHERE id = :id", id=office["id"]) == [
        ("8.0.2", "changed in the office")
    ]
    moves = q(
        "SELECT work_order_id, from_state, to_state FROM work_order_journal "
        "WHERE actor = :actor ORDER BY id",
        actor=ENGINEER,
    )
    assert moves == [
        (order_a, "scheduled", "in_progress"),
        (order_a, "in_progress", "completed"),
        (order_b, "scheduled", "in_progress"),
    ]
    created = [(o, k) for a, o, k in records if a == "create"]
    assert created == [("device", "FIELD-CAM-0001"), ("device", "FIELD-CAM-0002")]
    # in the outbox's order, but for the conflict, applied once its engineer kept it
    keys = [k for _, _, k in records]
    assert keys[-1] == office["serial"]
    assert (
        keys.index("FIELD-CAM-0001") < keys.index("ZC9P7V2M349424B") < keys.index("FIELD-CAM-0002")
    )
    assert progress_ok(shown_progress), shown_progress

    # The country scope through the API too: another country's site is not there to change.
    ml = api.get("/api/v1/devices", params={"site": "ML-BCL-01", "limit": 1}).json()["items"][0]
    with httpx.Client(base_url=fleet.base, headers=auth(secret), timeout=30) as field_api:
        assert field_api.get("/api/v1/field/sites/ML-BCL-01").status_code == 404
        answer = field_api.post(
            "/api/v1/batch",
            json={
                "changes": [
                    {
                        "id": "ml-1",
                        "op": "update",
                        "object": "device",
                        "key": ml["id"],
                        "if_match": f'"{ml["version"]}"',
                        "data": {"firmware_version": "0.0.1"},
                    }
                ]
            },
        )
        assert answer.json()["applied"] == 0, answer.text
    assert api.get(f"/api/v1/devices/{ml['id']}").json()["version"] == ml["version"]

    sync_requests = requests[before:]
    assert not foreign, f"requests to other origins: {foreign}"
    assert not errors, errors
    assert drops >= 2, proxy.proxy.counts  # the sync really met dropped connections
    batches = [r for r in sync_requests if r[1] == "POST" and r[2].endswith("/api/v1/batch")]
    assert len(batches) >= 17 // 5
    assert sync_s > 2 * len(batches) * 2 * 0.5  # the emulated latency was there
    api.close()
    print(
        f"field sync: {len(batches)} batch requests, {sync_s:.1f} s over the slow lossy link; "
        f"{drops} connections dropped, {carried} carried; proxy {dict(proxy.proxy.counts)}; "
        f"test {time.monotonic() - started:.1f} s"
    )


def progress_ok(shown: set[str | None]) -> bool:
    """The progress said "n of m" while it went, with m the changes pending."""
    counts = [re.search(r"(\d+) of (\d+)", s or "") for s in shown]
    return any(m is not None and int(m.group(2)) >= 20 for m in counts)
