"""The board's pages and the API's problem details in another language, on the sample fleet
(assessed, with statuses, state changes and probe results): nothing on a page escapes the
catalogues but data, the language picked is kept by a cookie, dates are in the site's time
zone, numbers and money are formatted for the locale, and a right-to-left locale sets the
direction."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from babel.numbers import format_currency
from litestar.testing import TestClient
from sqlmodel import col

from fleet.access.models import ApiToken
from fleet.alerts.models import Alert
from fleet.api.app import create_app
from fleet.database import Database
from fleet.inventory.models import Country, Device, DeviceModel, Link, Site
from fleet.models import utcnow
from fleet.probes.models import ObjectStatus, ProbeResult, StateEvent
from fleet.settings import Settings
from fleet.upgrades.models import Gap, WorkOrder
from tests import pseudo_locale
from tests.conftest import auth
from tests.integration.test_upgrades import _load_sample

SITE = "NE-BCL-01"
PAGES = (
    "/",
    "/map",
    f"/sites/{SITE}",
    "/signin",
    "/sites/XX-NOPE-01",
    "/plan",
    "/plan/gaps",
    "/plan/gaps?status=resolved",
    "/plan/work-orders",
    "/plan/work-orders?view=list",
    "/plan/rollups",
    "/field",
)
#: Attributes meant for people; every other attribute is for machines.
PEOPLE_ATTRIBUTES = {"title", "alt", "aria-label", "placeholder"}


async def _live_state(url: str) -> None:
    """What the probes would have written for one site: statuses, a change and results."""
    db = Database(url)
    now = utcnow()
    try:
        async with db.session(write=True) as session:
            site = await session.scalar(sa.select(Site).where(col(Site.code) == SITE))
            assert site is not None
            assert site.id is not None
            device = await session.scalar(
                sa.select(Device).where(col(Device.site_id) == site.id).order_by(col(Device.id))
            )
            link = await session.scalar(sa.select(Link).where(col(Link.site_id) == site.id))
            assert device is not None
            assert device.id is not None
            assert link is not None
            since = now - timedelta(hours=3, minutes=5)
            session.add_all(
                [
                    ObjectStatus(
                        object_type="site",
                        object_id=site.id,
                        site_id=site.id,
                        state="degraded",
                        since=since,
                        reason="on its backup link",
                        detail={
                            "link_in_use": {
                                "role": link.role,
                                "medium": link.medium,
                                "circuit_id": link.circuit_id,
                            },
                            "devices": {"up": 1234, "down": 1},
                        },
                    ),
                    ObjectStatus(
                        object_type="device",
                        object_id=device.id,
                        site_id=site.id,
                        state="down",
                        since=since,
                        reason="no answer",
                    ),
                    StateEvent(
                        at=since,
                        object_type="device",
                        object_id=device.id,
                        object_key=device.serial,
                        site_id=site.id,
                        country_code="NE",
                        old_state="up",
                        new_state="down",
                        cause="no answer",
                    ),
                    *(
                        Alert(
                            rule_name=rule,
                            rule_kind="site_down",
                            object_type="site",
                            object_id=site.id,
                            object_key=SITE,
                            site_id=site.id,
                            site_code=SITE,
                            country_code="NE",
                            state="open",
                            summary=f"{SITE} cut off ({rule})",
                            since=since,
                            acked_at=since if by else None,
                            acked_by=by,
                        )
                        for rule, by in (("site-cut", None), ("site-down-long", "duty-officer"))
                    ),
                    ProbeResult(
                        device_id=device.id,
                        kind="snmp",
                        at=now - timedelta(minutes=2),
                        status="timeout",
                        duration_ms=1500.4,
                        reason="no answer within 1.5 s",
                    ),
                ]
            )
            await session.commit()
    finally:
        await db.dispose()


async def _data(url: str) -> set[str]:
    """Every value the pages show as data (names, codes, serials, causes, ...)."""
    db = Database(url)
    columns = [
        Site.code, Site.name, Site.timezone, Country.code, Country.name, Device.serial,
        Device.hostname, Device.firmware_version, DeviceModel.model, Link.circuit_id,
        ObjectStatus.reason, StateEvent.cause, StateEvent.object_key, ProbeResult.kind,
        ProbeResult.reason, Gap.rule_id, Gap.subject, Gap.required, Gap.actual, WorkOrder.title,
        WorkOrder.programme, WorkOrder.currency, Alert.summary, Alert.rule_name, Alert.acked_by,
        ApiToken.name,
    ]  # fmt: skip
    found: set[str] = {"fleet", "admin", "UTC", "Natural Earth"}
    try:
        async with db.session() as session:
            for column in columns:
                found.update(str(v) for v in await session.scalars(sa.select(col(column))) if v)
    finally:
        await db.dispose()
    return found


class _Visible(HTMLParser):
    """The text a person meets on a page: text nodes (not scripts) and people's attributes."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.texts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag in ("script", "style"):
            self._skip += 1
        for name, value in attrs:
            if value and name in PEOPLE_ATTRIBUTES:
                self.texts.append(value)
        if tag in ("button", "input") and values.get("type") in ("submit", "button", "reset"):
            self.texts.append(values.get("value") or "")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip and data.strip():
            self.texts.append(data)


def unmarked(html: str, data: set[str]) -> list[str]:
    """The visible texts of ``html`` with Latin letters left once the marked parts and the data
    are taken out: English that did not go through a catalogue."""
    parser = _Visible()
    parser.feed(pseudo_locale.strip_marked(html))
    left = []
    for text in parser.texts:
        for value in sorted(data, key=len, reverse=True):
            text = text.replace(value, " ")
        if re.search("[A-Za-z]", text):
            left.append(text.strip())
    return left


@pytest.fixture
def languages(settings: Settings, admin_token: str, tmp_path: Path) -> Iterator[TestClient[Any]]:
    """The sample fleet, assessed and partly probed, served with the pseudo-locale added."""
    asyncio.run(_load_sample(settings.database_url))
    asyncio.run(_live_state(settings.database_url))
    folder = pseudo_locale.write_pseudo(tmp_path / "locales")
    served = settings.model_copy(update={"locale_dir": folder, "cookie_secure": False})
    with TestClient(create_app(served)) as client:
        client.headers.update(auth(admin_token))
        assert client.post("/api/v1/assessments", json={}).status_code in (200, 201)
        yield client


def test_nothing_on_a_page_escapes_the_catalogues(
    languages: TestClient[Any], settings: Settings
) -> None:
    data = asyncio.run(_data(settings.database_url))
    # The picker names each language in that language, whatever the page's language is.
    data |= {language.name for language in languages.app.state.catalogues.languages.values()}
    for path in PAGES:
        answer = languages.get(path, headers={"Accept-Language": "ar", "Accept": "text/html"})
        assert answer.status_code == (404 if "NOPE" in path else 200), path
        html = answer.text
        assert '<html lang="ar" dir="rtl">' in html, path
        assert answer.headers["content-language"] == "ar"
        assert pseudo_locale.OPEN in html
        request_id = answer.headers["x-request-id"]
        assert unmarked(html, data | {request_id}) == [], path
        strings = re.search(
            r'<script type="application/json" id="fleet-strings">(.*?)</script>', html
        )
        assert strings is not None
        shown = json.loads(strings.group(1))
        assert shown, path
        assert all(v.startswith(pseudo_locale.OPEN) for v in shown.values()), path
    # The check can fail: the same page in English leaves the English words.
    english = languages.get(f"/sites/{SITE}", headers={"Accept-Language": "en"}).text
    assert "Recent probe results" in unmarked(english, data)


def test_the_picker_sets_a_cookie_that_outranks_accept_language(
    languages: TestClient[Any],
) -> None:
    board = languages.get("/", headers={"Accept-Language": "fr-FR,fr;q=0.9,en;q=0.5"})
    assert '<html lang="fr" dir="ltr">' in board.text
    assert "Connectivité des sites" in board.text
    assert 'href="/?lang=en" lang="en" hreflang="en"' in board.text
    assert "fleet_lang" not in board.headers.get("set-cookie", "")
    english = languages.get("/?country=NE&lang=en", headers={"Accept-Language": "fr"})
    assert '<html lang="en" dir="ltr">' in english.text
    assert "fleet_lang=en" in english.headers["set-cookie"]
    assert 'href="/?country=NE&amp;lang=fr"' in english.text  # the filters stay
    kept = languages.get("/map", headers={"Accept-Language": "fr"})
    assert '<html lang="en"' in kept.text
    assert "Map of the sites" in kept.text
    languages.get("/map?lang=fr")
    site = languages.get(f"/sites/{SITE}", headers={"Accept-Language": "en"})
    assert '<html lang="fr"' in site.text
    assert "Derniers résultats des sondes" in site.text
    languages.cookies.set("fleet_lang", "xx")  # a language fleet does not have: the header
    assert '<html lang="en"' in languages.get("/", headers={"Accept-Language": "de"}).text


def test_dates_numbers_and_money_in_french(languages: TestClient[Any], settings: Settings) -> None:
    html = languages.get(f"/sites/{SITE}", headers={"Accept-Language": "fr"}).text
    assert "(Africa/Niamey)" in html  # the site's time zone, named
    local = re.search(r'data-field="local-time">([^<]+)<', html)
    assert local is not None
    shape = r"\d{1,2} \w+\.? \d{4}, \d{2}:\d{2}:\d{2} \(Africa/Niamey\)"
    assert re.fullmatch(shape, local.group(1)), local
    assert "en service\u00a0: 1\u202f234" in html  # a count, grouped the French way
    assert "1\u202f500 ms" in html
    assert "il y a 3 h 5 min" in html
    costs = asyncio.run(_costs(settings.database_url))
    assert costs
    assert any(format_currency(c, "EUR", locale="fr") in html for c in costs)
    assert any(re.search(r"\d+,\d{2}\u00a0€", html) for _ in costs)
    board = languages.get("/", headers={"Accept-Language": "fr"}).text
    assert "sites</span>" in board
    assert "Alertes ouvertes" in board
    assert "Prise en charge par duty-officer, il y a 3 h 5 min" in board
    assert "Poste frontière terrestre" in board


async def _costs(url: str) -> list[float]:
    db = Database(url)
    try:
        async with db.session() as session:
            site_id = await session.scalar(sa.select(col(Site.id)).where(col(Site.code) == SITE))
            return list(
                await session.scalars(
                    sa.select(col(WorkOrder.estimated_cost)).where(
                        col(WorkOrder.site_id) == site_id
                    )
                )
            )
    finally:
        await db.dispose()


def test_problem_details_in_the_language_asked(languages: TestClient[Any]) -> None:
    french = {"Accept-Language": "fr-CH, fr;q=0.9, en;q=0.8"}
    missing = languages.get("/api/v1/sites/XX-NOPE-01", headers=french)
    assert missing.status_code == 404
    assert missing.headers["content-language"] == "fr"
    body = missing.json()
    assert body["title"] == "Introuvable"
    assert body["type"] == "urn:fleet:problem:not-found"
    assert set(body) >= {"type", "title", "status", "detail", "instance", "request_id"}

    invalid = languages.get("/api/v1/sites", params={"limit": "many"}, headers=french)
    assert invalid.status_code == 422
    body = invalid.json()
    assert (body["title"], body["detail"]) == ("Données invalides", "valeur invalide dans limit")
    assert [e["field"] for e in body["errors"]] == ["limit"]
    assert invalid.headers["content-language"] == "fr"

    twice = {"code": "NE", "name": "Niger", "region": "Sahel"}
    clash = languages.post("/api/v1/countries", json=twice, headers=french)
    assert clash.status_code == 409
    assert clash.json()["title"] == "Conflit avec des données existantes"
    assert clash.json()["type"] == "urn:fleet:problem:conflict"

    for header in ({"Accept-Language": "de, en;q=0.1"}, {}):
        english = languages.get("/api/v1/sites/XX-NOPE-01", headers=header)
        assert english.json()["title"] == "Not found"
        assert english.headers["content-language"] == "en"
    unrouted = languages.get("/api/v1/nowhere", headers=french)
    assert (unrouted.json()["title"], unrouted.json()["detail"]) == ("Introuvable", "Introuvable")


def test_the_planner_in_french(languages: TestClient[Any]) -> None:
    french = {"Accept-Language": "fr"}
    rollups = languages.get("/plan/rollups", headers=french).text
    assert "Coût estimé des travaux ouverts par pays" in rollups
    assert re.search(r'data-number="NE">\d{1,3}(\u202f\d{3})*,\d{2}</text>', rollups)
    assert "Poste frontière terrestre" in rollups  # a site kind's bar, by its label
    orders = languages.get("/plan/work-orders?view=list", headers=french).text
    assert "<h1>Ordres de travail</h1>" in orders
    assert "triés par priorité" in orders
    assert re.search(r'data-field="priority">\d+,\d<', orders)
    field = languages.get("/field", headers=french).text
    assert '<html lang="fr" dir="ltr">' in field
    assert "Mes ordres de travail ouverts" in field
    strings = re.search(r'id="fleet-strings">(.*?)</script>', field)
    assert strings is not None
    shown = json.loads(strings.group(1))
    assert shown["pending.other"] == "%(n)s modifications à envoyer"
    assert shown["wo.in_progress"] == "en cours"
    gaps = languages.get("/plan/gaps", headers=french).text
    assert "Exporter ces écarts en CSV" in gaps
    assert "Lancer l\N{RIGHT SINGLE QUOTATION MARK}évaluation des besoins" in gaps
