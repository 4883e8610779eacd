"""The field app's costs: a site's record (raw and gzip), the time to keep a site on the phone
and to send N changes, over an emulated 32 kbit/s link with 2 s latency against the same run
without emulation (the baseline, measured in the same run on the same server).

    .venv/bin/python bench/field_sync.py [--changes 20] [--site NE-BCS-01]

Starts ``fleet serve --no-scheduler`` on a fresh SQLite file with the sample fleet, measures
every sample site's record as the server sends it (``Accept-Encoding: gzip``), then drives
the real app in headless Chromium (``/usr/bin/chromium``): for each link, it drops the site
from the phone and keeps it again (a full read), puts N firmware changes in the app's outbox
(its own module, as the install form would) and presses "Send now" until nothing is pending.
The link is emulated with CDP's ``Network.emulateNetworkConditions``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from served import Server

CHROMIUM = "/usr/bin/chromium"
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
LINKS = {
    "direct (no emulation)": {
        "offline": False,
        "latency": 0,
        "downloadThroughput": -1,
        "uploadThroughput": -1,
    },
    "32 kbit/s, 2 s latency": {
        "offline": False,
        "latency": 2000,
        "downloadThroughput": 4000,
        "uploadThroughput": 4000,
    },
}
QUEUE_JS = """async ([code, count, tag]) => {
  const db = await import("/static/field/db.js");
  const outbox = await import("/static/field/outbox.js");
  const record = await db.get("sites", code);
  const devices = record.devices.filter((d) => d.lifecycle !== "retired");
  for (let i = 0; i < count; i++) {
    const device = devices[i % devices.length];
    const version = `${tag}.${i}`;
    await outbox.add({
      kind: "batch", site: code, label: `firmware of ${device.serial} to ${version}`,
      change: { op: "update", object: "device", key: device.id, if_match: device.etag,
                data: { firmware_version: version } },
    });
  }
  document.dispatchEvent(new CustomEvent("outbox-changed"));
}"""
DROP_JS = """async (code) => {
  const db = await import("/static/field/db.js");
  await db.remove("sites", code);
  document.querySelector(`#kept li[data-site="${code}"]`)?.remove();
  document.getElementById("announce").textContent = "";
}"""


def record_sizes(server: Server) -> list[tuple[str, int, int]]:
    headers = {"Authorization": f"Bearer {server.token}", "Accept-Encoding": "gzip"}
    sizes = []
    with httpx.Client(base_url=server.base, headers=headers, timeout=30) as api:
        api.post("/api/v1/assessments", json={})
        codes = [s["code"] for s in api.get("/api/v1/sites", params={"limit": 500}).json()["items"]]
        for code in codes:
            answer = api.get(f"/api/v1/field/sites/{code}")
            answer.raise_for_status()
            wire = answer.num_bytes_downloaded
            assert answer.headers.get("content-encoding") == "gzip"
            sizes.append((code, len(answer.content), wire))
    return sizes


def drive(server: Server, secret: str, site: str, changes: int) -> list[dict[str, Any]]:
    from playwright.sync_api import expect, sync_playwright

    rows = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        context = browser.new_context(viewport={"width": 390, "height": 844})
        page = context.new_page()
        posts: list[str] = []
        page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
        page.goto(f"{server.base}/signin?next=/field")
        page.get_by_label("API token", exact=True).fill(secret)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"{server.base}/field")
        expect(page.locator("body")).to_have_attribute("data-ready", "yes")
        cdp = context.new_cdp_session(page)
        cdp.send("Network.enable")
        for n, (name, link) in enumerate(LINKS.items()):
            cdp.send("Network.emulateNetworkConditions", link)
            page.evaluate(DROP_JS, site)
            page.get_by_label("Find a site (code or name)", exact=True).fill(site)
            page.keyboard.press("Enter")
            keep = page.get_by_role("button", name=f"Keep offline {site}")
            keep.wait_for(timeout=120_000)
            began = time.monotonic()
            keep.click()
            expect(page.locator("#announce")).to_have_text(
                f"{site} is kept on this phone.", timeout=120_000
            )
            prime_s = time.monotonic() - began
            page.evaluate(QUEUE_JS, [site, changes, f"9.{n}"])
            expect(page.locator("#pending")).to_have_attribute(
                "data-pending", str(changes), timeout=30_000
            )
            posts.clear()
            applied_before = page.locator('#entries li[data-state="applied"]').count()
            began = time.monotonic()
            page.get_by_role("button", name="Send now").click()
            expect(page.locator("#pending")).to_have_attribute("data-pending", "0", timeout=600_000)
            sync_s = time.monotonic() - began
            applied = page.locator('#entries li[data-state="applied"]').count() - applied_before
            rows.append(
                {
                    "link": name,
                    "prime_s": prime_s,
                    "sync_s": sync_s,
                    "requests": sum(1 for u in posts if u.endswith("/api/v1/batch")),
                    "applied": applied,
                }
            )
        context.close()
        browser.close()
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--changes", type=int, default=20)
    parser.add_argument("--site", default="NE-BCS-01")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        server = Server(f"sqlite+aiosqlite:///{Path(folder) / 'fleet.db'}", Path(folder))
        try:
            sizes = record_sizes(server)
            raw = [r for _, r, _ in sizes]
            wire = [w for _, _, w in sizes]
            print(f"site record over {len(sizes)} sample sites (bytes): ")
            median = statistics.median(raw)
            print(f"  raw  min {min(raw):>7,} median {median:>9,.0f} max {max(raw):>7,}")
            print(
                f"  gzip min {min(wire):>7,} median {statistics.median(wire):>9,.0f} "
                f"max {max(wire):>7,}  (limit 50,000)"
            )
            with httpx.Client(
                base_url=server.base, headers={"Authorization": f"Bearer {server.token}"}
            ) as api:
                made = api.post(
                    "/api/v1/tokens",
                    json={
                        "name": "bench-field",
                        "role": "field_engineer",
                        "rate_limit_per_minute": 0,
                    },
                )
                made.raise_for_status()
                secret = made.json()["secret"]
            rows = drive(server, secret, args.site, args.changes)
        finally:
            server.stop()
    print(f"\n{args.site}: keep it on the phone, then send {args.changes} changes (pieces of 5)")
    print(f"  {'link':<24} {'prime s':>8} {'sync s':>8} {'batch requests':>15} {'applied':>8}")
    for row in rows:
        print(
            f"  {row['link']:<24} {row['prime_s']:>8.2f} {row['sync_s']:>8.2f} "
            f"{row['requests']:>15} {row['applied']:>8}"
        )
    base, slow = rows[0], rows[1]
    print(
        f"  slow link / baseline: prime x{slow['prime_s'] / base['prime_s']:.1f}, "
        f"sync x{slow['sync_s'] / base['sync_s']:.1f}"
    )
    ok = all(r["applied"] >= args.changes for r in rows) and max(wire) < 50_000
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
