"""The catalogues: the template is up to date with the sources, French translates every message
(no fuzzy, same placeholders, consistent typography), and the formats follow the locale."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from fleet.api import formats
from fleet.api.locales import LOCALE_DIR, Catalogues, compile_po, parse_accept_language
from tests.conftest import ROOT

PLACEHOLDER = re.compile(r"%\((\w+)\)s")
NBSP = "\u00a0"


def _catalogue(path: Path, locale: str | None = None):  # type: ignore[no-untyped-def]
    with path.open("rb") as source:
        return read_po(source, locale=locale)


def _ids(catalog) -> set[str]:  # type: ignore[no-untyped-def]
    return {m.id if isinstance(m.id, str) else m.id[0] for m in catalog if m.id}


def test_the_template_is_up_to_date_with_the_sources() -> None:
    with (ROOT / "babel.cfg").open(encoding="utf-8") as config:
        method_map, options_map = parse_mapping_cfg(config)
    keywords = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}
    extracted = {
        message if isinstance(message, str) else message[0]
        for _, _, message, _, _ in extract_from_dir(
            ROOT / "fleet", method_map, options_map, keywords=keywords
        )
    }
    assert len(extracted) > 150
    assert _ids(_catalogue(LOCALE_DIR / "messages.pot")) == extracted, "run `make messages`"


def test_french_translates_every_message_with_the_same_placeholders() -> None:
    template = _ids(_catalogue(LOCALE_DIR / "messages.pot"))
    french = _catalogue(LOCALE_DIR / "fr" / "LC_MESSAGES" / "messages.po", "fr")
    assert _ids(french) == template
    for message in french:
        if not message.id:
            continue
        assert not message.fuzzy, message.id
        ids = [message.id] if isinstance(message.id, str) else list(message.id)
        strings = [message.string] if isinstance(message.string, str) else list(message.string)
        assert strings, message.id
        assert all(s.strip() for s in strings), message.id
        wanted = set(PLACEHOLDER.findall(ids[-1]))
        for text in strings:
            assert set(PLACEHOLDER.findall(text)) == wanted, (message.id, text)
            # One typography: a no-break space before a colon or a semicolon, a typographic
            # apostrophe, and the accents of French capitals (É, not E before a consonant).
            assert not re.search(r"[^\u00a0]:(\s|$)", text), text
            assert not re.search(r"[^\u00a0];", text), text
            assert "'" not in text, text


def test_a_catalogue_compiles_without_a_build_step() -> None:
    french = compile_po(LOCALE_DIR / "fr" / "LC_MESSAGES" / "messages.po", "fr")
    assert french.gettext("Board") == "Tableau de bord"
    assert french.ngettext("%(num)s site", "%(num)s sites", 0) == "%(num)s site"  # 0 is singular
    assert french.ngettext("%(num)s site", "%(num)s sites", 2) == "%(num)s sites"
    catalogues = Catalogues.load()
    assert list(catalogues.languages) == ["en", "fr"]
    assert catalogues.get("fr") is not None
    assert catalogues.languages["fr"].name == "Français"


def test_accept_language_is_read_with_its_q_values() -> None:
    assert parse_accept_language("en;q=0.4, fr-FR;q=0.9 , de;q=0, *;q=0.1, pt") == [
        "pt",
        "fr-FR",
        "en",
    ]
    assert parse_accept_language("x" * 2000) == []
    assert parse_accept_language("fr;q=abc, en") == ["en"]
    catalogues = Catalogues.load()
    assert catalogues.negotiate("de-DE, fr-CA;q=0.8, en;q=0.5").code == "fr"
    assert catalogues.negotiate("en-GB, fr;q=0.9").code == "en"
    assert catalogues.negotiate("fr;q=0, de").code == "en"
    assert catalogues.negotiate(None).code == "en"


def test_numbers_money_and_dates_follow_the_locale() -> None:
    catalogues = Catalogues.load()
    fr, en = catalogues.languages["fr"], catalogues.languages["en"]
    assert formats.number(fr, 1234.5) == "1\u202f234,5"
    assert formats.number(en, 1234.5) == "1,234.5"
    assert formats.money(fr, 1234.5, "EUR") == f"1\u202f234,50{NBSP}€"
    assert formats.money(en, 1234.5, "XOF") == "F\u202fCFA1,234"
    assert formats.percent(fr, 0.995) == f"99,5{NBSP}%"
    at = datetime(2026, 12, 7, 16, 30, tzinfo=UTC)
    assert formats.when(fr, at, "Africa/Niamey") == "7 déc. 2026, 17:30:00 (Africa/Niamey)"
    assert formats.when(en, at, "Africa/Ndjamena").endswith("5:30:00\u202fPM (Africa/Ndjamena)")
    assert formats.when(fr, at, None) == "7 déc. 2026, 16:30:00 (UTC)"
    assert formats.when(fr, at, "Nowhere/Else") == "7 déc. 2026, 16:30:00 (UTC)"
    assert formats.degrees(fr, -5, "lon") == "5°O"
    assert formats.territory(fr, "TD", "Chad") == "Tchad"
    assert formats.device_text(fr, {"up": 3, "down": 1}) == (
        f"en service{NBSP}: 3 · hors service{NBSP}: 1"
    )


def test_the_stylesheet_uses_logical_properties_where_direction_matters() -> None:
    css = (ROOT / "fleet" / "static" / "board.css").read_text(encoding="utf-8")
    physical = re.findall(
        r"(?:margin|padding|border)-(?:left|right)\b|(?<![-\w])(?:left|right)\s*:"
        r"|text-align\s*:\s*(?:left|right)|float\s*:\s*(?:left|right)",
        css,
    )
    assert physical == []
    assert "margin-inline-start" in css
    assert "border-inline-start" in css
