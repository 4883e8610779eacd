"""The languages of the board and of the API's problem details: gettext catalogues read from
``fleet/locale/<lang>/LC_MESSAGES/messages.po`` (and from ``FLEET_LOCALE_DIR`` when set),
compiled in memory when the app is built, so a new language is a ``.po`` file and nothing else.

A page's language is the ``fleet_lang`` cookie (set from the picker in the header) when it names
a language fleet has, else the best match of ``Accept-Language`` (q-values honoured), else
English. The API's problem details follow ``Accept-Language`` only.
"""

from __future__ import annotations

import gettext
from collections.abc import Iterable
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import Any

from babel import Locale, UnknownLocaleError, negotiate_locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LOCALE_DIR = Path(__file__).resolve().parents[1] / "locale"
DOMAIN = "messages"
DEFAULT = "en"
LANG_COOKIE = "fleet_lang"
LANG_COOKIE_DAYS = 365
#: Accept-Language is read this far and no further (a header is no place for a novel).
MAX_ACCEPT_LANGUAGE = 512
MAX_LANGUAGE_RANGES = 16
MAX_TAG = 35  # the longest language tag worth reading (RFC 5646 suggests 35)


def N_(message: str) -> str:
    """Marks ``message`` for extraction; it is translated where it is shown."""
    return message


@dataclass(frozen=True)
class Language:
    code: str
    name: str  # in the language itself: "English", "Français"
    direction: str  # "ltr" or "rtl"
    locale: Locale
    translations: gettext.NullTranslations

    def gettext(self, message: str) -> str:
        return self.translations.gettext(message)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return self.translations.ngettext(singular, plural, n)


def _language(code: str, translations: gettext.NullTranslations) -> Language:
    locale = Locale.parse(code)
    name = locale.get_display_name(locale) or code
    return Language(code, name[:1].upper() + name[1:], locale.text_direction, locale, translations)


def compile_po(path: Path, code: str) -> gettext.GNUTranslations:
    """The catalogue at ``path`` as gettext translations; fuzzy entries are left out."""
    with path.open("rb") as source:
        catalog = read_po(source, locale=code, domain=DOMAIN)
    compiled = BytesIO()
    write_mo(compiled, catalog, use_fuzzy=False)
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)


def _found(folders: Iterable[Path]) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for folder in folders:
        for po in sorted(folder.glob(f"*/LC_MESSAGES/{DOMAIN}.po")):
            found[po.parts[-3]] = po
    return found


def parse_accept_language(header: str | None) -> list[str]:
    """The language ranges of an ``Accept-Language`` header, best first (q=0 left out)."""
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate((header or "")[:MAX_ACCEPT_LANGUAGE].split(",")):
        if index >= MAX_LANGUAGE_RANGES:
            break
        tag, _, params = part.strip().partition(";")
        tag = tag.strip()
        if not 0 < len(tag) <= MAX_TAG or not all(c.isalnum() or c in "-_" for c in tag):
            continue
        quality = 1.0
        name, _, value = params.strip().partition("=")
        if name.strip().lower() == "q":
            try:
                quality = float(value)
            except ValueError:
                continue
        if 0 < quality <= 1:
            ranked.append((-quality, index, tag.replace("_", "-")))
    return [tag for _, _, tag in sorted(ranked)]


class Catalogues:
    """Every language fleet speaks, English first."""

    def __init__(self, languages: dict[str, Language]) -> None:
        self.languages = languages

    @classmethod
    def load(cls, *extra: Path) -> Catalogues:
        languages = {DEFAULT: _language(DEFAULT, gettext.NullTranslations())}
        for code, po in _found((LOCALE_DIR, *extra)).items():
            try:
                languages[code] = _language(code, compile_po(po, code))
            except (UnknownLocaleError, ValueError) as exc:
                raise ValueError(f"{po}: not a catalogue of a known locale ({exc})") from exc
        return cls(languages)

    @property
    def default(self) -> Language:
        return self.languages[DEFAULT]

    def get(self, code: str | None) -> Language | None:
        return self.languages.get(code or "")

    def negotiate(self, accept_language: str | None) -> Language:
        preferred = parse_accept_language(accept_language)
        chosen = negotiate_locale(preferred, list(self.languages), sep="-")
        return self.languages.get(chosen or DEFAULT, self.default)

    def for_page(self, cookies: dict[str, Any], accept_language: str | None) -> Language:
        """The cookie's language when fleet has it, else the header's best match."""
        return self.get(str(cookies.get(LANG_COOKIE) or "")) or self.negotiate(accept_language)
